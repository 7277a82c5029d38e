//! The checkpoint (state) format, owned by this connector.
//!
//! A state is a compact JSON object, versioned, tagged with its stream and
//! with the fingerprint of the settings it was written under:
//!
//! ```text
//! {"v":1,"stream":"jobs","fp":"3f9c0d1e2a4b5c6d","run":{…},"cursor":{…}}
//! ```
//!
//! - `run` ([`Run`]) is where an unfinished sync stands: the roots (projects
//!   or organisations) when they were discovered, the index of the root being
//!   read, and a stack of [`Frame`]s, one per listing being read (pipelines
//!   page → workflows page → jobs page → …), each with the token of the next
//!   page and the ids of the current page's items still to visit. Its size
//!   is bounded by the depth of the fan-out times the page size, plus the
//!   number of projects; never by the amount of data.
//! - `cursor` ([`Cursor`]) is what the next sync of an incremental stream
//!   starts from: per project, `hwm` and `lwm`; plus `as_of`. Its size is
//!   bounded by the number of projects.
//!
//! - Skipped items (see [`crate::engine`]): `run.skipped` collects the items
//!   a sync skipped because their own request kept failing (404, 5xx after
//!   the host's retries, an unreadable answer), each as its root and the
//!   chain of items down to it; the finished sync's cursor keeps them as
//!   `retry`, at most [`MAX_PENDING`], and the next sync reads each of them
//!   once more (`run.q` counts those done, `run.qs` says the one at `q` has
//!   begun) before anything else, then lets them go.
//! - Organisation ids (`run.oid`), beside discovered organisation roots: the
//!   contexts of an organisation are listed by its id, which works for
//!   personal accounts too.
//! - Stale-token counters (see [`crate::engine`]): `s` in a frame (and in
//!   `disc`), how often in a row its page token answered 404, at most
//!   [`MAX_STRIKES`]; `r` in `run`, in an item (and in `disc`), how often the
//!   listing under it was read again from its first page, at most
//!   [`MAX_RESTARTS`].
//!
//! A state with `run` means "this sync has more to read"; a state with only
//! `cursor` is the end of an incremental sync. Anything this code did not
//! write (bad JSON, another version, another stream, other settings, unknown
//! fields, timestamps that do not parse) is rejected as `invalid-state`
//! rather than silently restarting.

use crate::error::{ConnectorError, quote};
use crate::time::{Ts, format_ts, parse_ts};
use serde_json::Value;
use std::collections::BTreeMap;

/// The format version written and accepted.
pub const VERSION: u64 = 1;
/// Longest page token kept; CircleCI's are well under 1 KiB. Keeps the
/// state bounded even if the upstream misbehaves.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Longest id kept in a frame (CircleCI's are 36-character UUIDs; insights
/// workflow names are short). Keeps the state bounded.
pub const MAX_ID_LEN: usize = 512;
/// Most times one listing is read again from its first page after a page
/// token of it went stale (404). Each restart may re-read the whole listing
/// so far; the bound stops an upstream whose tokens always expire before
/// the listing ends from looping forever.
pub const MAX_RESTARTS: u8 = 3;
/// Most times in a row a page token that answered 404 is asked for again
/// (one call each) before its listing is restarted: a 404 that goes away
/// costs one request, not a re-read of the listing.
pub const MAX_STRIKES: u8 = 3;
/// Most items to visit kept per frame (CircleCI pages hold about 20).
const MAX_FRAME_IDS: usize = 1000;
/// Most skipped items a sync keeps for the next one to try again; beyond
/// this they are named in the page's `skipped` list and let go at once.
pub const MAX_PENDING: usize = 100;
/// Deepest chain of items a skipped item is kept with (the CI tree's depth).
const MAX_PENDING_DEPTH: usize = 4;

/// Whether `id` (an id, a name or a slug) may be kept in a state and put in
/// a request path: 1 to [`MAX_ID_LEN`] bytes, and no `/`-separated part
/// empty, `.` or `..`. Escaping alone does not make such a part safe:
/// CircleCI decodes an escaped `/` into a separator, so `x/..` would still
/// climb out of the path it is put in.
pub fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// A decoded state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub v: u64,
    pub stream: String,
    /// [`crate::settings::Settings::fingerprint`] when the state was written.
    pub fp: String,
    pub run: Option<Run>,
    pub cursor: Option<Cursor>,
}

/// Where an unfinished sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// Project discovery, while it is under way.
    pub disc: Option<Discovery>,
    /// The roots of this sync (canonical project slugs, or organisation
    /// slugs) when they do not come from the settings. Absent while they are
    /// still being found, and when the settings name them.
    pub roots: Option<Vec<String>>,
    /// Index of the root being read.
    pub i: usize,
    /// The stack of listings being read, outermost first.
    pub f: Vec<Frame>,
    /// Incremental streams: the latest timestamp seen so far in this sync.
    pub seen: Option<Ts>,
    /// Incremental streams: the earliest moment at which something read in
    /// this sync was still running (see [`crate::engine`]).
    pub floor: Option<Ts>,
    /// Incremental streams: the current project's newest pipeline so far.
    pub hwm: Option<Ts>,
    /// Incremental streams: the current project's oldest pipeline found
    /// unfinished so far.
    pub lwm: Option<Ts>,
    /// Restarts of the current root's own listing (level 1).
    pub r: u8,
    /// Ids of the discovered organisation roots, in the order of `roots`.
    pub oid: Option<Vec<String>>,
    /// Items this sync skipped, kept for the next sync to try once more.
    pub skipped: Vec<Pending>,
    /// How many of the cursor's `retry` items this sync has read again.
    pub q: usize,
    /// Whether the retry item at `q` has begun (its chain is on the stack).
    pub qs: bool,
}

/// An item a sync skipped: the root it lives under and the chain of items
/// from the root's listing down to it (the last is the one whose own
/// listing failed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The root's key (a canonical project slug).
    pub root: String,
    /// Outermost first; at least one.
    pub heads: Vec<Item>,
}

impl Pending {
    fn encode(&self) -> String {
        let mut w = Obj::new();
        w.str("root", &self.root);
        w.list("heads", &self.heads, Item::encode);
        w.end()
    }

    fn from_json(v: &Value) -> Field<Pending> {
        let m = fields(v, "pending", &["root", "heads"])?;
        Ok(Pending {
            root: get_str(m, "root")?.ok_or("root")?,
            heads: get_list(m, "heads", Item::from_json)?,
        })
    }

    fn check(&self) -> bool {
        usable_id(&self.root)
            && (1..=MAX_PENDING_DEPTH).contains(&self.heads.len())
            && self.heads.iter().all(|it| usable_id(&it.id) && it.e <= 2)
    }
}

/// Project discovery under way: which organisation is being scanned, where,
/// and the projects found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The organisations to scan; absent until `/me/collaborations` is read.
    pub orgs: Option<Vec<String>>,
    /// Index of the organisation being scanned.
    pub o: usize,
    /// Token of its next page of pipelines.
    pub t: Option<String>,
    /// Pages of its pipelines read so far.
    pub n: u64,
    /// Canonical slugs of the projects found, in order of first appearance.
    pub found: Vec<String>,
    /// Restarts of the current organisation's scan.
    pub r: u8,
    /// 404s in a row of `t`.
    pub s: u8,
}

/// One listing being read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// Token of the listing's next page; absent after its last page (or
    /// once incremental sync decided to stop it).
    pub t: Option<String>,
    /// The current page's items still to visit; the first is the one whose
    /// children are being read.
    pub ids: Vec<Item>,
    /// Items of the listing read so far (test_index counts from it).
    pub n: u64,
    /// 404s in a row of `t`.
    pub s: u8,
}

/// An item to visit: its id plus what its children need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// Pipeline, workflow, job or context id; insights workflow name.
    pub id: String,
    /// A pipeline's `created_at` (its project's `lwm` may become it).
    pub at: Option<Ts>,
    /// A job's number.
    pub n: Option<u64>,
    /// A workflow's news: 0 unchanged since the last sync, 1 changed, 2 new.
    pub e: u8,
    /// Restarts of this item's own listing (the next level down).
    pub r: u8,
}

/// Where the next sync of an incremental stream starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Changes stamped after this are new to the next sync.
    pub as_of: Option<Ts>,
    /// Per project, by canonical slug.
    pub projects: BTreeMap<String, Marks>,
    /// Items the last sync skipped, for this one to try once more.
    pub retry: Vec<Pending>,
}

/// One project's watermarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// `created_at` of the newest pipeline seen.
    pub hwm: Option<Ts>,
    /// `created_at` of the oldest pipeline still unfinished at the last sync.
    pub lwm: Option<Ts>,
}

impl Frame {
    fn encode(&self) -> String {
        let mut w = Obj::new();
        w.opt_str("t", &self.t);
        w.list("ids", &self.ids, Item::encode);
        w.nonzero("n", self.n);
        w.nonzero("s", self.s.into());
        w.end()
    }

    fn from_json(v: &Value) -> Field<Frame> {
        let m = fields(v, "run.f", &["t", "ids", "n", "s"])?;
        Ok(Frame {
            t: get_str(m, "t")?,
            ids: get_list(m, "ids", Item::from_json)?,
            n: get_u64(m, "n")?.unwrap_or(0),
            s: get_small(m, "s")?,
        })
    }
}

impl Item {
    fn encode(&self) -> String {
        let mut w = Obj::new();
        w.str("id", &self.id);
        w.opt_ts("at", self.at);
        if let Some(n) = self.n {
            w.num("n", n);
        }
        w.nonzero("e", self.e.into());
        w.nonzero("r", self.r.into());
        w.end()
    }

    fn from_json(v: &Value) -> Field<Item> {
        let m = fields(v, "run.f.ids", &["id", "at", "n", "e", "r"])?;
        Ok(Item {
            id: get_str(m, "id")?.ok_or("id")?,
            at: get_ts(m, "at")?,
            n: get_u64(m, "n")?,
            e: get_small(m, "e")?,
            r: get_small(m, "r")?,
        })
    }
}

impl Cursor {
    fn encode(&self) -> String {
        let mut w = Obj::new();
        w.opt_ts("as_of", self.as_of);
        if !self.projects.is_empty() {
            let mut p = Obj::new();
            for (slug, marks) in &self.projects {
                let mut m = Obj::new();
                m.opt_ts("hwm", marks.hwm);
                m.opt_ts("lwm", marks.lwm);
                p.raw(slug, m.end());
            }
            w.raw("projects", p.end());
        }
        w.list("retry", &self.retry, Pending::encode);
        w.end()
    }

    fn from_json(v: &Value) -> Field<Cursor> {
        let m = fields(v, "cursor", &["as_of", "projects", "retry"])?;
        let mut projects = BTreeMap::new();
        if let Some(p) = m.get("projects") {
            let Value::Object(p) = p else {
                return Err("cursor.projects".into());
            };
            for (slug, marks) in p {
                let mm = fields(marks, "cursor.projects", &["hwm", "lwm"])?;
                projects.insert(
                    slug.clone(),
                    Marks {
                        hwm: get_ts(mm, "hwm")?,
                        lwm: get_ts(mm, "lwm")?,
                    },
                );
            }
        }
        let retry = get_list(m, "retry", Pending::from_json)?;
        if retry.len() > MAX_PENDING || !retry.iter().all(Pending::check) {
            return Err("cursor.retry".into());
        }
        Ok(Cursor {
            as_of: get_ts(m, "as_of")?,
            projects,
            retry,
        })
    }
}

fn invalid(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidState(msg.into())
}

const START_OVER: &str = "pass no state to read the stream from the start";

impl State {
    /// A new state of `stream` under settings fingerprinted `fp`.
    pub fn new(stream: &str, fp: String) -> State {
        State {
            v: VERSION,
            stream: stream.to_string(),
            fp,
            run: None,
            cursor: None,
        }
    }

    /// Compact JSON with a stable key order; absent, empty and zero fields
    /// are left out.
    pub fn encode(&self) -> String {
        let mut w = Obj::new();
        w.num("v", self.v);
        w.str("stream", &self.stream);
        w.str("fp", &self.fp);
        if let Some(run) = &self.run {
            w.raw("run", run.encode());
        }
        if let Some(cursor) = &self.cursor {
            w.raw("cursor", cursor.encode());
        }
        w.end()
    }

    /// Decodes a state given for `stream` under settings fingerprinted `fp`.
    pub fn decode(text: &str, stream: &str, fp: &str) -> Result<State, ConnectorError> {
        let not_ours = |why: String| {
            invalid(format!(
                "the state is not one this connector wrote (expected a JSON object like \
                 {{\"v\":{VERSION},\"stream\":\"{stream}\",…}}{why}); {START_OVER}"
            ))
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return Err(not_ours(String::new()));
        };
        match map.get("v") {
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(Value::Number(n)) => {
                // Not `{n}`: formatting a JSON number pulls float printing into the component.
                let n = n
                    .as_u64()
                    .map_or_else(|| "other than 1".to_string(), |n| n.to_string());
                return Err(invalid(format!(
                    "state version {n} is not supported (this connector reads version {VERSION}); {START_OVER}"
                )));
            }
            _ => return Err(not_ours(String::new())),
        }
        let Some(Value::String(owner)) = map.get("stream") else {
            return Err(not_ours(String::new()));
        };
        if owner != stream {
            return Err(invalid(format!(
                "the state belongs to the stream `{}`, not `{stream}`; pass the state saved for this stream",
                quote(owner, 64)
            )));
        }
        let state = State::from_json(&map)
            .map_err(|field| not_ours(format!("; its field `{field}` is not one it writes")))?;
        if state.fp != fp {
            return Err(invalid(format!(
                "the settings (project_slugs, org_slug or start_date) changed since this state was saved; \
                 {START_OVER} under the new settings"
            )));
        }
        if state.run.is_none() && state.cursor.is_none() {
            return Err(not_ours(": it has neither `run` nor `cursor`".into()));
        }
        if let Some(run) = &state.run {
            run.check()?;
        }
        Ok(state)
    }
}

/// Writes a JSON object, field by field.
struct Obj(String);

impl Obj {
    fn new() -> Obj {
        Obj(String::from("{"))
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&crate::json::string(k));
        self.0.push(':');
    }
    fn raw(&mut self, k: &str, v: String) {
        self.key(k);
        self.0.push_str(&v);
    }
    fn str(&mut self, k: &str, v: &str) {
        self.raw(k, crate::json::string(v));
    }
    fn num(&mut self, k: &str, v: u64) {
        self.raw(k, v.to_string());
    }
    fn opt_str(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }
    fn opt_ts(&mut self, k: &str, v: Option<Ts>) {
        if let Some(v) = v {
            self.str(k, &format_ts(v));
        }
    }
    fn nonzero(&mut self, k: &str, v: u64) {
        if v != 0 {
            self.num(k, v);
        }
    }
    fn list<T>(&mut self, k: &str, items: &[T], f: impl Fn(&T) -> String) {
        if !items.is_empty() {
            let items: Vec<String> = items.iter().map(f).collect();
            self.raw(k, format!("[{}]", items.join(",")));
        }
    }
    fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Reads a JSON object written by [`Obj`]; every error is the name of the
/// field that is not as written.
type Map = serde_json::Map<String, Value>;
type Field<T> = Result<T, String>;

fn fields<'a>(v: &'a Value, name: &str, known: &[&str]) -> Field<&'a Map> {
    let Value::Object(map) = v else {
        return Err(name.to_string());
    };
    only(map, name, known)?;
    Ok(map)
}

/// Every key of `map` is one of `known`.
fn only(map: &Map, name: &str, known: &[&str]) -> Field<()> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{name}.{}", quote(k, 64))),
        None => Ok(()),
    }
}

fn get_str(map: &Map, k: &str) -> Field<Option<String>> {
    match map.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(k.to_string()),
    }
}

fn get_ts(map: &Map, k: &str) -> Field<Option<Ts>> {
    get_str(map, k)?
        .map(|s| parse_ts(&s).ok_or_else(|| k.to_string()))
        .transpose()
}

fn get_u64(map: &Map, k: &str) -> Field<Option<u64>> {
    match map.get(k) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| k.to_string()),
    }
}

/// A small count (absent: 0); out-of-range values are not ours.
fn get_small<T: TryFrom<u64> + Default>(map: &Map, k: &str) -> Field<T> {
    match get_u64(map, k)? {
        None => Ok(T::default()),
        Some(n) => T::try_from(n).map_err(|_| k.to_string()),
    }
}

fn get_list<T>(map: &Map, k: &str, f: impl Fn(&Value) -> Field<T>) -> Field<Vec<T>> {
    match map.get(k) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(f).collect(),
        Some(_) => Err(k.to_string()),
    }
}

/// A JSON list of strings (empty lists included).
fn string_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| crate::json::string(s)).collect();
    format!("[{}]", items.join(","))
}

fn strings(v: &Value) -> Field<String> {
    v.as_str().map(str::to_string).ok_or_else(String::new)
}

impl State {
    fn from_json(map: &Map) -> Field<State> {
        only(map, "state", &["v", "stream", "fp", "run", "cursor"])?;
        Ok(State {
            v: VERSION,
            stream: get_str(map, "stream")?.unwrap_or_default(),
            fp: get_str(map, "fp")?.ok_or("fp")?,
            run: map.get("run").map(Run::from_json).transpose()?,
            cursor: map.get("cursor").map(Cursor::from_json).transpose()?,
        })
    }
}

impl Run {
    fn encode(&self) -> String {
        let mut w = Obj::new();
        if let Some(d) = &self.disc {
            let mut o = Obj::new();
            if let Some(orgs) = &d.orgs {
                o.raw("orgs", string_list(orgs));
            }
            o.nonzero("o", d.o as u64);
            o.opt_str("t", &d.t);
            o.nonzero("n", d.n);
            o.list("found", &d.found, |s| crate::json::string(s));
            o.nonzero("r", d.r.into());
            o.nonzero("s", d.s.into());
            w.raw("disc", o.end());
        }
        if let Some(roots) = &self.roots {
            w.raw("roots", string_list(roots));
        }
        w.nonzero("i", self.i as u64);
        w.list("f", &self.f, Frame::encode);
        w.opt_ts("seen", self.seen);
        w.opt_ts("floor", self.floor);
        w.opt_ts("hwm", self.hwm);
        w.opt_ts("lwm", self.lwm);
        w.nonzero("r", self.r.into());
        if let Some(oid) = &self.oid {
            w.raw("oid", string_list(oid));
        }
        w.list("skipped", &self.skipped, Pending::encode);
        w.nonzero("q", self.q as u64);
        w.nonzero("qs", self.qs.into());
        w.end()
    }

    fn from_json(v: &Value) -> Field<Run> {
        let map = fields(
            v,
            "run",
            &[
                "disc", "roots", "i", "f", "seen", "floor", "hwm", "lwm", "r", "oid", "skipped",
                "q", "qs",
            ],
        )?;
        let disc = match map.get("disc") {
            None => None,
            Some(d) => {
                let m = fields(d, "run.disc", &["orgs", "o", "t", "n", "found", "r", "s"])?;
                Some(Discovery {
                    orgs: m
                        .get("orgs")
                        .map(|_| get_list(m, "orgs", strings))
                        .transpose()?,
                    o: get_small(m, "o")?,
                    t: get_str(m, "t")?,
                    n: get_u64(m, "n")?.unwrap_or(0),
                    found: get_list(m, "found", strings)?,
                    r: get_small(m, "r")?,
                    s: get_small(m, "s")?,
                })
            }
        };
        Ok(Run {
            disc,
            roots: map
                .get("roots")
                .map(|_| get_list(map, "roots", strings))
                .transpose()?,
            // Not `as usize`: on wasm32 that would wrap a forged 2^32 to 0.
            i: get_small(map, "i")?,
            f: get_list(map, "f", Frame::from_json)?,
            seen: get_ts(map, "seen")?,
            floor: get_ts(map, "floor")?,
            hwm: get_ts(map, "hwm")?,
            lwm: get_ts(map, "lwm")?,
            r: get_small(map, "r")?,
            oid: map
                .get("oid")
                .map(|_| get_list(map, "oid", strings))
                .transpose()?,
            skipped: get_list(map, "skipped", Pending::from_json)?,
            q: get_small(map, "q")?,
            qs: match get_small::<u8>(map, "qs")? {
                0 => false,
                1 => true,
                _ => return Err("qs".into()),
            },
        })
    }

    /// Bounds every field so that a forged state cannot make a call do
    /// unbounded work or keep unbounded data.
    fn check(&self) -> Result<(), ConnectorError> {
        let bad =
            |what: &str| invalid(format!("the state's {what} is out of bounds; {START_OVER}"));
        let token_ok = |t: &Option<String>| {
            t.as_ref()
                .is_none_or(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        };
        let id_ok = |id: &String| usable_id(id);
        for frame in &self.f {
            if !token_ok(&frame.t) || frame.s > MAX_STRIKES || (frame.s > 0 && frame.t.is_none()) {
                return Err(bad("page token"));
            }
            let item_ok = |it: &Item| id_ok(&it.id) && it.e <= 2 && it.r <= MAX_RESTARTS;
            if frame.ids.len() > MAX_FRAME_IDS || !frame.ids.iter().all(item_ok) {
                return Err(bad("list of items to visit"));
            }
        }
        if self.r > MAX_RESTARTS {
            return Err(bad("restart count"));
        }
        // Every frame under the top one is visiting its first item.
        if self.f.iter().rev().skip(1).any(|f| f.ids.is_empty()) {
            return Err(bad("stack of listings"));
        }
        if let Some(d) = &self.disc {
            let strikes_ok = d.s <= MAX_STRIKES && (d.s == 0 || d.t.is_some());
            if !token_ok(&d.t)
                || d.found.iter().any(|s| !id_ok(s))
                || d.r > MAX_RESTARTS
                || !strikes_ok
            {
                return Err(bad("project discovery"));
            }
            if self.roots.is_some() || !self.f.is_empty() || self.i != 0 {
                return Err(bad("project discovery"));
            }
        }
        if let Some(roots) = &self.roots
            && (roots.iter().any(|s| !id_ok(s)) || self.i > roots.len())
        {
            return Err(bad("list of projects or organisations"));
        }
        if let Some(oid) = &self.oid
            && (oid.iter().any(|s| !id_ok(s))
                || self.roots.as_ref().is_none_or(|r| r.len() != oid.len()))
        {
            return Err(bad("list of organisation ids"));
        }
        if self.skipped.len() > MAX_PENDING || !self.skipped.iter().all(Pending::check) {
            return Err(bad("list of skipped items"));
        }
        if self.q > MAX_PENDING {
            return Err(bad("count of items read again"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0123456789abcdef";

    fn err(text: &str, stream: &str) -> String {
        match State::decode(text, stream, FP) {
            Err(ConnectorError::InvalidState(m)) => m,
            other => panic!("expected invalid-state for {text}, got {other:?}"),
        }
    }

    #[test]
    fn round_trips() {
        let ts = parse_ts("2026-05-01T12:00:00.120Z").unwrap();
        let mut s = State::new("jobs", FP.into());
        s.run = Some(Run {
            i: 1,
            f: vec![
                Frame {
                    t: Some("tok\"en/+=".into()),
                    ids: vec![Item {
                        id: "p1".into(),
                        at: Some(ts),
                        ..Item::default()
                    }],
                    n: 20,
                    s: 1,
                },
                Frame {
                    t: None,
                    ids: vec![Item {
                        id: "w1".into(),
                        e: 2,
                        ..Item::default()
                    }],
                    n: 0,
                    s: 0,
                },
                Frame {
                    t: None,
                    ids: vec![Item {
                        id: "j1".into(),
                        n: Some(42),
                        ..Item::default()
                    }],
                    n: 0,
                    s: 0,
                },
            ],
            seen: Some(ts),
            ..Run::default()
        });
        s.cursor = Some(Cursor {
            as_of: Some(ts),
            projects: [(
                "gh/a/b".to_string(),
                Marks {
                    hwm: Some(ts),
                    lwm: None,
                },
            )]
            .into(),
            retry: Vec::new(),
        });
        let text = s.encode();
        assert_eq!(
            text,
            r#"{"v":1,"stream":"jobs","fp":"0123456789abcdef","run":{"i":1,"f":[{"t":"tok\"en/+=","ids":[{"id":"p1","at":"2026-05-01T12:00:00.120Z"}],"n":20,"s":1},{"ids":[{"id":"w1","e":2}]},{"ids":[{"id":"j1","n":42}]}],"seen":"2026-05-01T12:00:00.120Z"},"cursor":{"as_of":"2026-05-01T12:00:00.120Z","projects":{"gh/a/b":{"hwm":"2026-05-01T12:00:00.120Z"}}}}"#
        );
        assert_eq!(State::decode(&text, "jobs", FP).unwrap(), s);
    }

    #[test]
    fn usable_ids_never_climb() {
        for id in [
            "p-1",
            "gh/acme/api",
            "circleci/8e3c/5b7a",
            "a.b",
            "..a",
            "%2F",
            "é",
        ] {
            assert!(usable_id(id), "{id}");
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        for id in [
            "", ".", "..", "/", "a/", "/a", "a//b", "x/..", "../x", "a/./b", &long,
        ] {
            assert!(!usable_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_foreign_states() {
        for text in [
            "",
            "garbage",
            "[]",
            "null",
            r#"{"stream":"pipelines"}"#,
            r#"{"v":"1","stream":"pipelines"}"#,
            r#"{"v":1}"#,
            r#"{"v":1,"stream":"pipelines","fp":"0123456789abcdef"}"#,
            r#"{"v":1,"stream":"pipelines","fp":"0123456789abcdef","run":{},"x":1}"#,
            r#"{"v":1,"stream":"pipelines","fp":"0123456789abcdef","run":{"f":[{"q":1}]}}"#,
            r#"{"v":1,"stream":"pipelines","slug_index":0,"slugs_fp":"0123456789abcdef"}"#,
            r#"{"v":1,"stream":"pipelines","fp":"0123456789abcdef","cursor":{"as_of":"yesterday"}}"#,
        ] {
            assert!(
                err(text, "pipelines").starts_with("the state is not one this connector wrote"),
                "{text}: {}",
                err(text, "pipelines")
            );
        }
        assert!(
            err(r#"{"v":2,"stream":"pipelines"}"#, "pipelines")
                .starts_with("state version 2 is not supported")
        );
        assert_eq!(
            err(
                r#"{"v":1,"stream":"projects","fp":"x","run":{}}"#,
                "pipelines"
            ),
            "the state belongs to the stream `projects`, not `pipelines`; pass the state saved for this stream"
        );
        assert!(
            err(
                r#"{"v":1,"stream":"pipelines","fp":"fedcba9876543210","run":{}}"#,
                "pipelines"
            )
            .starts_with("the settings (project_slugs, org_slug or start_date) changed")
        );
        for run in [
            r#"{"f":[{"t":""}]}"#,
            r#"{"f":[{"ids":[{"id":""}]}]}"#,
            r#"{"f":[{"ids":[{"id":"a","e":3}]}]}"#,
            r#"{"f":[{"t":"x"},{"t":"y"}]}"#,
            r#"{"roots":["a"],"i":2}"#,
            r#"{"disc":{},"roots":[]}"#,
            r#"{"f":[{"t":"x","s":4}]}"#,
            r#"{"f":[{"s":1}]}"#,
            r#"{"r":4}"#,
            r#"{"f":[{"ids":[{"id":"a","r":4}]},{}]}"#,
            r#"{"f":[{"ids":[{"id":".."}]}]}"#,
            r#"{"f":[{"ids":[{"id":"x/.."}]}]}"#,
            r#"{"f":[{"ids":[{"id":"/"}]}]}"#,
            r#"{"roots":["gh//a"]}"#,
            r#"{"disc":{"t":"x","s":4}}"#,
            r#"{"disc":{"s":1}}"#,
            r#"{"disc":{"r":4}}"#,
        ] {
            let text = format!(r#"{{"v":1,"stream":"pipelines","fp":"{FP}","run":{run}}}"#);
            assert!(err(&text, "pipelines").contains("out of bounds"), "{run}");
        }
    }
}
