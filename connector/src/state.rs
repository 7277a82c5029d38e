//! The states this connector hands the host, owned by it: the walk's state
//! while a sync has more, and each stream's cursor between syncs.
//!
//! Both are the SDK's versioned state envelope ([`connector_sdk::state`]):
//! compact JSON, versioned, tagged with the settings' fingerprint (a state
//! is never applied under other settings) and written and read with serde
//! (unknown fields refused, absent ones defaulted):
//!
//! ```text
//! walk:   {"v":2,"streams":["jobs","tests"],"fp":"3f9c0d1e2a4b5c6d","run":{…}}
//! cursor: {"v":1,"stream":"jobs","fp":"3f9c0d1e2a4b5c6d","cursor":{…}}
//! ```
//!
//! - [`Run`] is where an unfinished walk stands: the roots (projects or
//!   organisations) when they were discovered, the next root to open, and
//!   the frontier of [`Listing`]s being read (each with its chain of parent
//!   items, the token of its next page, its counts), plus what the roots
//!   read so far found for the cursors. Its size is bounded by the number
//!   of listings a walk keeps open at once (a few pages' worth per level,
//!   see [`crate::engine`]) and the number of projects; never by the amount
//!   of data.
//! - [`Cursor`] is what the next sync of an incremental stream starts from:
//!   per project, `hwm` and `lwm`; plus `as_of`; plus the items the last sync
//!   skipped ([`Pending`], at most [`MAX_PENDING`]), for the next one to read
//!   once more. A cursor's format is the final state of version 1 of this
//!   connector, so those still load.
//! - Stale-token counters (see [`crate::engine`]): `s` in a listing (and in
//!   `disc`), how often in a row its page token answered 404, at most
//!   [`MAX_STRIKES`]; `x` in a listing (`r` in `disc`), how often it was
//!   read again from its first page, at most [`MAX_RESTARTS`].
//!
//! Anything this code did not write (bad JSON, another version, other
//! streams, other settings, unknown fields, timestamps that do not parse,
//! counts out of bounds) is `invalid-state` rather than a silent restart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ConnectorError, quote};
pub use connector_sdk::state::Stamp;
use connector_sdk::state::{START_OVER, claimed_version, invalid, parse, settings_changed};

/// The walk state's format version.
pub const WALK_VERSION: u64 = 2;
/// The cursor's format version.
pub const CURSOR_VERSION: u64 = 1;
/// Longest page token kept; CircleCI's are well under 1 KiB. Keeps the
/// state bounded even if the upstream misbehaves.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Longest id kept (CircleCI's are 36-character UUIDs; insights workflow
/// names are short). Keeps the state bounded.
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
/// Most skipped items a sync keeps for the next one to try again; beyond
/// this they are named in the page's `skipped` list and let go at once.
pub const MAX_PENDING: usize = 100;
/// Most listings a walk keeps open at once: far above what it opens (see
/// [`crate::engine`]); a bound on what a forged state can ask of a call.
pub const MAX_OPEN: usize = 4096;
/// Deepest chain of parent items a listing has (the CI tree's depth).
pub const MAX_DEPTH: usize = 3;

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

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// The state of an unfinished walk: `{"v":2,"streams":[…],"fp":…,"run":{…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkState {
    pub v: u64,
    /// The streams of the walk, as the request named them.
    pub streams: Vec<String>,
    /// [`crate::settings::Settings::fingerprint`] when it was written.
    pub fp: String,
    pub run: Run,
}

/// Where an unfinished walk stands. Written as [`RunWire`]: the items of
/// the listings' chains once each, in a table the listings index (a page's
/// twenty job listings share their pipeline and workflow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RunWire", try_from = "RunWire")]
pub struct Run {
    /// Project discovery, while it is under way.
    pub disc: Option<Discovery>,
    /// The roots of this walk (canonical project slugs, or organisation
    /// slugs) when they do not come from the settings. Absent while they
    /// are still being found, and when the settings name them.
    pub roots: Option<Vec<String>>,
    /// Discovered organisations' ids, in the order of `roots`.
    pub oid: Option<Vec<String>>,
    /// Roots of items read again (`w` listings) that are not among the
    /// walk's roots; they count after them.
    pub extra: Vec<String>,
    /// Whether the last sync's skipped items were put on the frontier.
    pub seeded: bool,
    /// The next root to open.
    pub next: usize,
    /// The listings being read, in the order they are read.
    pub open: Vec<Listing>,
    /// Roots opened and not finished: what they found so far.
    pub acc: Vec<RootAcc>,
    /// Roots finished, by key: what they found, for the new cursors.
    pub done: BTreeMap<String, Found>,
    /// The latest timestamp seen so far, per level (1 to 4).
    pub seen: [Option<Stamp>; 4],
    /// The earliest moment at which something read was still running, per
    /// level of what was unfinished (1 to 3).
    pub floor: [Option<Stamp>; 3],
    /// Items this walk skipped, kept for the next sync to try once more.
    pub skipped: Vec<Pending>,
}

/// One listing being read: a root's own, or an item's. (Written with its
/// chain as indexes into [`RunWire::items`].)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The root: an index into the walk's roots, then `Run::extra`.
    pub r: u32,
    /// What is listed (the tree's kind).
    pub k: u8,
    /// The chain of items above, outermost first (empty for a root's own).
    pub h: Vec<Item>,
    /// Token of the next page; absent before the first.
    pub t: Option<String>,
    /// Items of the listing read so far (test_index counts from it).
    pub n: u64,
    /// 404s in a row of `t`.
    pub s: u8,
    /// Times read again from its first page.
    pub x: u8,
    /// Its last request failed: the next call asks it first.
    pub f: bool,
    /// An item the last sync skipped, read again whole: everything under it
    /// is new, for the streams of `m` (bits by the tree's slots).
    pub w: bool,
    pub m: u16,
}

/// [`Run`] as written: its fields, with each listing's chain as indexes
/// into `items`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disc: Option<Discovery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roots: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oid: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extra: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    seeded: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    next: usize,
    /// Every item of the listings' chains, once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    items: Vec<Item>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    open: Vec<ListingWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acc: Vec<RootAcc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    done: BTreeMap<String, Found>,
    #[serde(default, skip_serializing_if = "is_zero")]
    seen: [Option<Stamp>; 4],
    #[serde(default, skip_serializing_if = "is_zero")]
    floor: [Option<Stamp>; 3],
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Pending>,
}

/// A [`Listing`] as written: `h` indexes [`RunWire::items`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListingWire {
    r: u32,
    k: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    h: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    n: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    s: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    x: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    f: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    w: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    m: u16,
}

impl From<Run> for RunWire {
    fn from(run: Run) -> RunWire {
        let mut items: Vec<Item> = Vec::new();
        let mut index: std::collections::HashMap<Item, u32> = std::collections::HashMap::new();
        let open = run
            .open
            .into_iter()
            .map(|l| ListingWire {
                h: l.h
                    .into_iter()
                    .map(|item| {
                        *index.entry(item.clone()).or_insert_with(|| {
                            items.push(item);
                            (items.len() - 1) as u32
                        })
                    })
                    .collect(),
                r: l.r,
                k: l.k,
                t: l.t,
                n: l.n,
                s: l.s,
                x: l.x,
                f: l.f,
                w: l.w,
                m: l.m,
            })
            .collect();
        RunWire {
            disc: run.disc,
            roots: run.roots,
            oid: run.oid,
            extra: run.extra,
            seeded: run.seeded,
            next: run.next,
            items,
            open,
            acc: run.acc,
            done: run.done,
            seen: run.seen,
            floor: run.floor,
            skipped: run.skipped,
        }
    }
}

impl TryFrom<RunWire> for Run {
    type Error = String;

    fn try_from(wire: RunWire) -> Result<Run, String> {
        if wire.items.len() > MAX_OPEN * MAX_DEPTH || wire.open.len() > MAX_OPEN {
            return Err("too many listings".into());
        }
        let items = &wire.items;
        let open = wire
            .open
            .into_iter()
            .map(|l| {
                let h =
                    l.h.iter()
                        .map(|&i| {
                            items
                                .get(i as usize)
                                .cloned()
                                .ok_or("an item index out of range")
                        })
                        .collect::<Result<Vec<Item>, _>>()?;
                Ok(Listing {
                    r: l.r,
                    k: l.k,
                    h,
                    t: l.t,
                    n: l.n,
                    s: l.s,
                    x: l.x,
                    f: l.f,
                    w: l.w,
                    m: l.m,
                })
            })
            .collect::<Result<Vec<Listing>, String>>()?;
        Ok(Run {
            disc: wire.disc,
            roots: wire.roots,
            oid: wire.oid,
            extra: wire.extra,
            seeded: wire.seeded,
            next: wire.next,
            open,
            acc: wire.acc,
            done: wire.done,
            seen: wire.seen,
            floor: wire.floor,
            skipped: wire.skipped,
        })
    }
}

/// An item whose listing is read, with what its children need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Pipeline, workflow, job or context id; insights workflow name.
    pub id: String,
    /// A pipeline's `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Stamp>,
    /// A workflow's `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<Stamp>,
    /// A workflow's `stopped_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<Stamp>,
    /// A job's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

/// What the listings of a root found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootAcc {
    /// The root (as in [`Listing::r`]).
    pub r: u32,
    /// What its listings found so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub f: Found,
    /// One of its own listings was skipped: its cursor marks stay as they
    /// were, so the next sync reads its window again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: bool,
}

/// A root's marks, as a walk finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Found {
    /// The newest pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<Stamp>,
    /// The oldest pipeline with something unfinished, per level of what
    /// was unfinished (the pipeline itself, a workflow, a job).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lwm: [Option<Stamp>; 3],
}

/// Project discovery under way: which organisation is being scanned, where,
/// and the projects found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// The organisations to scan; absent until `/me/collaborations` is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Vec<String>>,
    /// Index of the organisation being scanned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub o: usize,
    /// Token of its next page of pipelines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
    /// Pages of its pipelines read so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: u64,
    /// Canonical slugs of the projects found, in order of first appearance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
    /// Restarts of the current organisation's scan.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub r: u8,
    /// 404s in a row of `t`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub s: u8,
}

/// A stream's cursor: `{"v":1,"stream":…,"fp":…,"cursor":{…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorState {
    pub v: u64,
    pub stream: String,
    pub fp: String,
    pub cursor: Cursor,
}

/// Where the next sync of an incremental stream starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Changes stamped after this are new to the next sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Stamp>,
    /// Per project, by canonical slug.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, Marks>,
    /// Items the last sync skipped, for this one to try once more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Pending>,
}

/// One project's watermarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marks {
    /// `created_at` of the newest pipeline seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<Stamp>,
    /// `created_at` of the oldest pipeline still unfinished at the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lwm: Option<Stamp>,
}

/// An item a sync skipped: the root it lives under, what of it was listed,
/// and the chain of items down to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The root's key (a canonical project slug).
    pub root: String,
    /// The kind of listing that failed (the tree's).
    pub k: u8,
    /// Outermost first; at least one.
    pub h: Vec<Item>,
}

impl Pending {
    fn check(&self) -> bool {
        usable_id(&self.root)
            && (1..=MAX_DEPTH).contains(&self.h.len())
            && self.h.iter().all(Item::check)
    }
}

impl Item {
    fn check(&self) -> bool {
        usable_id(&self.id)
    }
}

/// The settings a state's fingerprint covers, as messages name them.
const FINGERPRINTED: &str = "project_slugs, org_slug or start_date";

impl WalkState {
    /// A new walk of `streams` under settings fingerprinted `fp`.
    pub fn new(streams: &[String], fp: String, run: Run) -> WalkState {
        WalkState {
            v: WALK_VERSION,
            streams: streams.to_vec(),
            fp,
            run,
        }
    }

    /// Compact JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a walk state always serialises")
    }

    /// Decodes the state of a walk of `streams` under settings
    /// fingerprinted `fp`.
    pub fn decode(text: &str, streams: &[String], fp: &str) -> Result<WalkState, ConnectorError> {
        if let Some(v) = claimed_version(text)
            && v != WALK_VERSION
        {
            return Err(invalid(format!(
                "the state is of version {v}, not the walk state of version {WALK_VERSION} this \
                 connector reads as `state` (a final state of version 1 is a stream's cursor: pass \
                 it in `cursors`); {START_OVER}"
            )));
        }
        let like = format!(r#"{{"v":{WALK_VERSION},"streams":[…],"fp":…,"run":{{…}}}}"#);
        let state: WalkState = parse(text, "state", &like)?;
        if state.streams != streams {
            return Err(invalid(format!(
                "the state belongs to a walk of {}, not of {}: pass the state saved for these streams",
                quote(&state.streams.join(","), 200),
                quote(&streams.join(","), 200)
            )));
        }
        if state.fp != fp {
            return Err(settings_changed(FINGERPRINTED, "this state"));
        }
        state.run.check()?;
        Ok(state)
    }
}

impl CursorState {
    /// A cursor of `stream` under settings fingerprinted `fp`.
    pub fn new(stream: &str, fp: String, cursor: Cursor) -> CursorState {
        CursorState {
            v: CURSOR_VERSION,
            stream: stream.to_string(),
            fp,
            cursor,
        }
    }

    /// Compact JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a cursor always serialises")
    }

    /// Decodes the cursor of `stream` under settings fingerprinted `fp`.
    pub fn decode(text: &str, stream: &str, fp: &str) -> Result<Cursor, ConnectorError> {
        match claimed_version(text) {
            Some(CURSOR_VERSION) | None => {}
            Some(v) => {
                return Err(invalid(format!(
                    "the cursor of {stream} is of version {v}, not {CURSOR_VERSION}; {START_OVER}"
                )));
            }
        }
        let like = format!(r#"{{"v":{CURSOR_VERSION},"stream":"{stream}","fp":…,"cursor":{{…}}}}"#);
        let state: CursorState = parse(text, "cursor", &like)?;
        if state.stream != stream {
            return Err(invalid(format!(
                "the cursor belongs to the stream `{}`, not `{stream}`; pass the cursor saved for this stream",
                quote(&state.stream, 64)
            )));
        }
        if state.fp != fp {
            return Err(settings_changed(
                FINGERPRINTED,
                &format!("the cursor of {stream}"),
            ));
        }
        let cursor = state.cursor;
        if cursor.retry.len() > MAX_PENDING || !cursor.retry.iter().all(Pending::check) {
            return Err(invalid(format!(
                "the cursor of {stream} keeps skipped items out of bounds; {START_OVER}"
            )));
        }
        if cursor.projects.keys().any(|k| !usable_id(k)) {
            return Err(invalid(format!(
                "the cursor of {stream} names a project that is not one; {START_OVER}"
            )));
        }
        Ok(cursor)
    }
}

impl Run {
    /// Bounds every field so that a forged state cannot make a call do
    /// unbounded work or keep unbounded data.
    fn check(&self) -> Result<(), ConnectorError> {
        let bad =
            |what: &str| invalid(format!("the state's {what} is out of bounds; {START_OVER}"));
        let token_ok = |t: &Option<String>| {
            t.as_ref()
                .is_none_or(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        };
        if self.open.len() > MAX_OPEN {
            return Err(bad("list of listings"));
        }
        for l in &self.open {
            if !token_ok(&l.t)
                || l.s > MAX_STRIKES
                || (l.s > 0 && l.t.is_none())
                || l.x > MAX_RESTARTS
                || l.h.len() > MAX_DEPTH
                || !l.h.iter().all(Item::check)
            {
                return Err(bad("listing"));
            }
        }
        if let Some(d) = &self.disc {
            let strikes_ok = d.s <= MAX_STRIKES && (d.s == 0 || d.t.is_some());
            if !token_ok(&d.t)
                || d.found.iter().any(|s| !usable_id(s))
                || d.r > MAX_RESTARTS
                || !strikes_ok
                || self.roots.is_some()
                || !self.open.is_empty()
                || self.next != 0
            {
                return Err(bad("project discovery"));
            }
        }
        let roots = self.roots.as_ref().map_or(0, Vec::len);
        if let Some(roots) = &self.roots
            && (roots.iter().any(|s| !usable_id(s)) || self.next > roots.len())
        {
            return Err(bad("list of projects or organisations"));
        }
        if let Some(oid) = &self.oid
            && (oid.iter().any(|s| !usable_id(s)) || oid.len() != roots)
        {
            return Err(bad("list of organisation ids"));
        }
        if self.extra.len() > MAX_PENDING || self.extra.iter().any(|s| !usable_id(s)) {
            return Err(bad("list of roots read again"));
        }
        if self.skipped.len() > MAX_PENDING || !self.skipped.iter().all(Pending::check) {
            return Err(bad("list of skipped items"));
        }
        if self.acc.len() > MAX_OPEN || self.done.keys().any(|k| !usable_id(k)) {
            return Err(bad("list of roots read"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    const FP: &str = "0123456789abcdef";

    fn err(r: Result<impl std::fmt::Debug, ConnectorError>) -> String {
        match r {
            Err(ConnectorError::InvalidState(m)) => m,
            other => panic!("expected invalid-state, got {other:?}"),
        }
    }

    fn streams(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn walk_states_round_trip_compactly() {
        let ts = Stamp(parse_ts("2026-05-01T12:00:00.120Z").unwrap());
        let run = Run {
            next: 1,
            open: vec![Listing {
                r: 0,
                k: 3,
                h: vec![
                    Item {
                        id: "p1".into(),
                        at: Some(ts),
                        ..Item::default()
                    },
                    Item {
                        id: "w1".into(),
                        c: Some(ts),
                        ..Item::default()
                    },
                ],
                t: Some("tok\"en/+=".into()),
                n: 20,
                s: 1,
                ..Listing::default()
            }],
            seen: [Some(ts), None, None, None],
            ..Run::default()
        };
        let s = WalkState::new(&streams(&["jobs", "tests"]), FP.into(), run);
        let text = s.encode();
        assert_eq!(
            text,
            r#"{"v":2,"streams":["jobs","tests"],"fp":"0123456789abcdef","run":{"next":1,"items":[{"id":"p1","at":"2026-05-01T12:00:00.120Z"},{"id":"w1","c":"2026-05-01T12:00:00.120Z"}],"open":[{"r":0,"k":3,"h":[0,1],"t":"tok\"en/+=","n":20,"s":1}],"seen":["2026-05-01T12:00:00.120Z",null,null,null]}}"#
        );
        assert_eq!(
            WalkState::decode(&text, &streams(&["jobs", "tests"]), FP).unwrap(),
            s
        );
        // Another set of streams, other settings: refused.
        assert!(err(WalkState::decode(&text, &streams(&["jobs"]), FP)).contains("a walk of"));
        assert!(
            err(WalkState::decode(&text, &streams(&["jobs", "tests"]), "x")).contains("settings")
        );
    }

    #[test]
    fn cursors_of_version_1_still_load() {
        // The final state version 1 of this connector wrote.
        let v1 = r#"{"v":1,"stream":"jobs","fp":"0123456789abcdef","cursor":{"as_of":"2026-05-01T12:00:00.120Z","projects":{"gh/a/b":{"hwm":"2026-05-01T12:00:00Z"}}}}"#;
        let cursor = CursorState::decode(v1, "jobs", FP).unwrap();
        assert_eq!(cursor.projects.len(), 1);
        assert_eq!(
            cursor.as_of,
            Some(Stamp(parse_ts("2026-05-01T12:00:00.120Z").unwrap()))
        );
        let again = CursorState::new("jobs", FP.into(), cursor.clone()).encode();
        assert_eq!(CursorState::decode(&again, "jobs", FP).unwrap(), cursor);
        assert!(err(CursorState::decode(v1, "tests", FP)).contains("belongs to the stream `jobs`"));
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
        let walk =
            |run: &str| format!(r#"{{"v":2,"streams":["pipelines"],"fp":"{FP}","run":{run}}}"#);
        let s = streams(&["pipelines"]);
        for text in [
            "".to_string(),
            "garbage".into(),
            "[]".into(),
            "null".into(),
            r#"{"streams":["pipelines"]}"#.into(),
            walk(r#"{"x":1}"#),
            walk(r#"{"open":[{"r":0,"k":1,"q":1}]}"#),
            walk(r#"{"seen":["yesterday",null,null,null]}"#),
        ] {
            assert!(
                err(WalkState::decode(&text, &s, FP)).contains("not one this connector wrote"),
                "{text}"
            );
        }
        assert!(
            err(WalkState::decode(r#"{"v":1,"stream":"pipelines"}"#, &s, FP)).contains("version 1")
        );
        for run in [
            r#"{"open":[{"r":0,"k":1,"t":""}]}"#,
            r#"{"items":[{"id":""}],"open":[{"r":0,"k":1,"h":[0]}]}"#,
            r#"{"open":[{"r":0,"k":1,"s":4,"t":"x"}]}"#,
            r#"{"open":[{"r":0,"k":1,"s":1}]}"#,
            r#"{"open":[{"r":0,"k":1,"x":4}]}"#,
            r#"{"items":[{"id":".."}],"open":[{"r":0,"k":1,"h":[0]}]}"#,
            r#"{"items":[{"id":"a"}],"open":[{"r":0,"k":1,"h":[0,0,0,0]}]}"#,
            r#"{"roots":["a"],"next":2}"#,
            r#"{"roots":["gh//a"]}"#,
            r#"{"disc":{},"roots":[]}"#,
            r#"{"disc":{"t":"x","s":4}}"#,
            r#"{"disc":{"s":1}}"#,
            r#"{"disc":{"r":4}}"#,
            r#"{"roots":["a"],"oid":["1","2"]}"#,
        ] {
            assert!(
                err(WalkState::decode(&walk(run), &s, FP)).contains("out of bounds"),
                "{run}"
            );
        }
    }
}
