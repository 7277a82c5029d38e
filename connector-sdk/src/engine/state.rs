//! The states a walk hands the host: the walk's state while a sync has
//! more ([`WalkState`]), and each incremental stream's cursor between
//! syncs ([`CursorState`]).
//!
//! Both are the versioned state envelope of [`crate::state`]: compact JSON,
//! versioned, tagged with the settings' fingerprint (a state is never
//! applied under other settings) and written and read with serde (unknown
//! fields refused, absent ones defaulted):
//!
//! ```text
//! walk:   {"v":2,"streams":["jobs","tests"],"fp":"3f9c0d1e2a4b5c6d","run":{…}}
//! cursor: {"v":1,"stream":"jobs","fp":"3f9c0d1e2a4b5c6d","cursor":{…}}
//! ```
//!
//! - [`Run`] is where an unfinished walk stands: the roots when they were
//!   discovered (and the discovery's progress before), the next root to
//!   open, and the frontier of [`Listing`]s being read (each with its chain
//!   of parent items, the token of its next page, its counts), plus what
//!   the roots read so far found for the cursors. Its size is bounded by the
//!   number of listings a walk keeps open at once (a few pages' worth per
//!   level, see [`crate::engine`]) and the number of roots; never by the
//!   amount of data.
//! - [`Cursor`] is what the next sync of an incremental stream starts from:
//!   per root, `hwm` and `lwm`; plus `as_of`; plus the items the last sync
//!   skipped ([`Pending`], at most [`MAX_PENDING`]), for the next one to read
//!   once more.
//! - Stale-token counters (see [`crate::engine`]): `s` in a listing, how
//!   often in a row its page token answered 404, at most [`MAX_STRIKES`];
//!   `x`, how often it was read again from its first page, at most
//!   [`MAX_RESTARTS`].
//!
//! The items of a listing's chain are the connector's own type
//! ([`Item`]): the engine reads their id and carries the rest. So is the
//! progress of a discovery of roots ([`Progress`]), which the engine keeps
//! in the state without reading it.
//!
//! Anything the engine did not write (bad JSON, another version, other
//! streams, other settings, unknown fields, timestamps that do not parse,
//! counts out of bounds) is `invalid-state` rather than a silent restart.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ConnectorError, quote};
use crate::state::{START_OVER, Stamp, claimed_version, invalid, parse, settings_changed};

/// The walk state's format version.
pub const WALK_VERSION: u64 = 2;
/// The cursor's format version.
pub const CURSOR_VERSION: u64 = 1;
/// Longest page token kept: keeps the state bounded even if the upstream
/// misbehaves.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Longest id kept (ids are UUIDs, numbers or short names): keeps the
/// state bounded.
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
/// Deepest chain of parent items a listing has: a tree has at most four
/// levels.
pub const MAX_DEPTH: usize = 3;

/// Whether `id` (an id, a name or a slug) may be kept in a state and put in
/// a request path: 1 to [`MAX_ID_LEN`] bytes, and no `/`-separated part
/// empty, `.` or `..`. Escaping alone does not make such a part safe: some
/// upstreams decode an escaped `/` into a separator, so `x/..` would still
/// climb out of the path it is put in.
pub fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// An item of a listing's chain as the state keeps it: its id, which the
/// engine reads (to check it, and to tell listings apart), and whatever
/// else the connector's page handlers need back when they read the
/// listings under it (a job's number, a pipeline's creation time), which
/// the engine carries without reading. Written as the connector's serde
/// makes it, as a JSON object that holds the id.
pub trait Item:
    Clone + Default + Eq + Hash + Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// An item that is only its id.
    fn new(id: String) -> Self;
    /// Its id: a [`usable_id`] in any state the engine accepts.
    fn id(&self) -> &str;
}

/// An item that is its id alone (`{"id":"…"}`), for a connector whose
/// handlers need nothing else back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Id {
    /// The item's id.
    pub id: String,
}

impl Item for Id {
    fn new(id: String) -> Id {
        Id { id }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// The progress of a discovery of a walk's roots, kept in the walk state
/// (`disc`) from one call to the next until the roots are known. The
/// engine writes and reads it back without looking into it. `()` for a
/// connector whose roots are always given.
pub trait Progress: Clone + Default + Eq + Debug + Serialize + DeserializeOwned {
    /// Whether it is within the bounds the connector writes (a forged
    /// state is refused before any request).
    fn check(&self) -> bool;
}

impl Progress for () {
    fn check(&self) -> bool {
        true
    }
}

/// The state of an unfinished walk: `{"v":2,"streams":[…],"fp":…,"run":{…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(
    serialize = "I: Item, D: Progress",
    deserialize = "I: Item, D: Progress"
))]
pub struct WalkState<I, D> {
    /// [`WALK_VERSION`].
    pub v: u64,
    /// The streams of the walk, as the request named them.
    pub streams: Vec<String>,
    /// The settings' fingerprint when it was written.
    pub fp: String,
    /// Where the walk stands.
    pub run: Run<I, D>,
}

/// Where an unfinished walk stands. Written as [`RunWire`]: the items of
/// the listings' chains once each, in a table the listings index (a page's
/// twenty listings of children share their parents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RunWire<I, D>", try_from = "RunWire<I, D>")]
#[serde(bound(
    serialize = "I: Item, D: Progress",
    deserialize = "I: Item, D: Progress"
))]
pub struct Run<I, D> {
    /// The discovery of the roots, while it is under way.
    pub disc: Option<D>,
    /// The roots of this walk (their keys) when they do not come from the
    /// settings. Absent while they are still being found, and when the
    /// settings name them.
    pub roots: Option<Vec<String>>,
    /// The discovered roots' ids, in the order of `roots`, when discovery
    /// found one for each.
    pub oid: Option<Vec<String>>,
    /// Roots of items read again (`w` listings) that are not among the
    /// walk's roots; they count after them.
    pub extra: Vec<String>,
    /// Whether the last sync's skipped items were put on the frontier.
    pub seeded: bool,
    /// The next root to open.
    pub next: usize,
    /// The listings being read, in the order they are read.
    pub open: Vec<Listing<I>>,
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
    pub skipped: Vec<Pending<I>>,
}

/// One listing being read: a root's own, or an item's. (Written with its
/// chain as indexes into [`RunWire`]'s items.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing<I> {
    /// The root: an index into the walk's roots, then `Run::extra`.
    pub r: u32,
    /// What is listed (the tree's kind).
    pub k: u8,
    /// The chain of items above, outermost first (empty for a root's own).
    pub h: Vec<I>,
    /// Token of the next page; absent before the first.
    pub t: Option<String>,
    /// Items of the listing read so far.
    pub n: u64,
    /// 404s in a row of `t`.
    pub s: u8,
    /// Times read again from its first page.
    pub x: u8,
    /// Its last request failed: the next call asks it first.
    pub f: bool,
    /// An item the last sync skipped, read again whole: everything under it
    /// is new, for the streams of `m`.
    pub w: bool,
    /// The streams `w` is for: bits by the tree's slots.
    pub m: u16,
}

/// [`Run`] as written: its fields, with each listing's chain as indexes
/// into `items`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(
    serialize = "I: Item, D: Progress",
    deserialize = "I: Item, D: Progress"
))]
pub struct RunWire<I, D> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disc: Option<D>,
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
    items: Vec<I>,
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
    skipped: Vec<Pending<I>>,
}

/// A [`Listing`] as written: `h` indexes [`RunWire`]'s items.
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

impl<I: Item, D> From<Run<I, D>> for RunWire<I, D> {
    fn from(run: Run<I, D>) -> RunWire<I, D> {
        let mut items: Vec<I> = Vec::new();
        let mut index: std::collections::HashMap<I, u32> = std::collections::HashMap::new();
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

impl<I: Item, D> TryFrom<RunWire<I, D>> for Run<I, D> {
    type Error = String;

    fn try_from(wire: RunWire<I, D>) -> Result<Run<I, D>, String> {
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
                        .collect::<Result<Vec<I>, _>>()?;
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
            .collect::<Result<Vec<Listing<I>>, String>>()?;
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
    /// The newest item of the root's own listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<Stamp>,
    /// The oldest item of the root's own listing with something unfinished
    /// under it, per level of what was unfinished (1 to 3).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lwm: [Option<Stamp>; 3],
}

/// A stream's cursor: `{"v":1,"stream":…,"fp":…,"cursor":{…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(serialize = "I: Item", deserialize = "I: Item"))]
pub struct CursorState<I> {
    /// [`CURSOR_VERSION`].
    pub v: u64,
    /// The stream's name.
    pub stream: String,
    /// The settings' fingerprint when it was written.
    pub fp: String,
    /// Where the stream's next sync starts.
    pub cursor: Cursor<I>,
}

/// Where the next sync of an incremental stream starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(serialize = "I: Item", deserialize = "I: Item"))]
pub struct Cursor<I> {
    /// Changes stamped after this are new to the next sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Stamp>,
    /// Per root, by key. (Written `projects`, the name the first connector
    /// on this engine gave it, so that its cursors still load.)
    #[serde(
        rename = "projects",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub roots: BTreeMap<String, Marks>,
    /// Items the last sync skipped, for this one to try once more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Pending<I>>,
}

/// One root's watermarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marks {
    /// The time of the newest item of the root's own listing seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<Stamp>,
    /// The time of the oldest item of the root's own listing still
    /// unfinished at the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lwm: Option<Stamp>,
}

/// An item a sync skipped: the root it lives under, what of it was listed,
/// and the chain of items down to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(serialize = "I: Item", deserialize = "I: Item"))]
pub struct Pending<I> {
    /// The root's key.
    pub root: String,
    /// The kind of listing that failed (the tree's).
    pub k: u8,
    /// Outermost first; at least one.
    pub h: Vec<I>,
}

impl<I: Item> Pending<I> {
    fn check(&self) -> bool {
        usable_id(&self.root)
            && (1..=MAX_DEPTH).contains(&self.h.len())
            && self.h.iter().all(|i| usable_id(i.id()))
    }

    /// Whether `other` is the same listing.
    pub fn same_listing(&self, other: &Pending<I>) -> bool {
        self.root == other.root
            && self.k == other.k
            && self.h.len() == other.h.len()
            && self.h.iter().zip(&other.h).all(|(x, y)| x.id() == y.id())
    }
}

impl<I: Item, D: Progress> WalkState<I, D> {
    /// A new walk of `streams` under settings fingerprinted `fp`.
    pub fn new(streams: &[String], fp: String, run: Run<I, D>) -> Self {
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
    /// fingerprinted `fp`; `covers` names the settings the fingerprint
    /// covers, for the message when they changed.
    pub fn decode(
        text: &str,
        streams: &[String],
        fp: &str,
        covers: &str,
    ) -> Result<Self, ConnectorError> {
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
        let state: Self = parse(text, "state", &like)?;
        if state.streams != streams {
            return Err(invalid(format!(
                "the state belongs to a walk of {}, not of {}: pass the state saved for these streams",
                quote(&state.streams.join(","), 200),
                quote(&streams.join(","), 200)
            )));
        }
        if state.fp != fp {
            return Err(settings_changed(covers, "this state"));
        }
        state.run.check()?;
        Ok(state)
    }
}

impl<I: Item> CursorState<I> {
    /// A cursor of `stream` under settings fingerprinted `fp`.
    pub fn new(stream: &str, fp: String, cursor: Cursor<I>) -> Self {
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

    /// Decodes the cursor of `stream` under settings fingerprinted `fp`;
    /// `covers` names the settings the fingerprint covers.
    pub fn decode(
        text: &str,
        stream: &str,
        fp: &str,
        covers: &str,
    ) -> Result<Cursor<I>, ConnectorError> {
        match claimed_version(text) {
            Some(CURSOR_VERSION) | None => {}
            Some(v) => {
                return Err(invalid(format!(
                    "the cursor of {stream} is of version {v}, not {CURSOR_VERSION}; {START_OVER}"
                )));
            }
        }
        let like = format!(r#"{{"v":{CURSOR_VERSION},"stream":"{stream}","fp":…,"cursor":{{…}}}}"#);
        let state: Self = parse(text, "cursor", &like)?;
        if state.stream != stream {
            return Err(invalid(format!(
                "the cursor belongs to the stream `{}`, not `{stream}`; pass the cursor saved for this stream",
                quote(&state.stream, 64)
            )));
        }
        if state.fp != fp {
            return Err(settings_changed(covers, &format!("the cursor of {stream}")));
        }
        let cursor = state.cursor;
        if cursor.retry.len() > MAX_PENDING || !cursor.retry.iter().all(Pending::check) {
            return Err(invalid(format!(
                "the cursor of {stream} keeps skipped items out of bounds; {START_OVER}"
            )));
        }
        if cursor.roots.keys().any(|k| !usable_id(k)) {
            return Err(invalid(format!(
                "the cursor of {stream} names a root that is not one; {START_OVER}"
            )));
        }
        Ok(cursor)
    }
}

impl<I: Item, D: Progress> Run<I, D> {
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
                || !l.h.iter().all(|i| usable_id(i.id()))
            {
                return Err(bad("listing"));
            }
        }
        if let Some(d) = &self.disc
            && (!d.check() || self.roots.is_some() || !self.open.is_empty() || self.next != 0)
        {
            return Err(bad("discovery of roots"));
        }
        let roots = self.roots.as_ref().map_or(0, Vec::len);
        if let Some(roots) = &self.roots
            && (roots.iter().any(|s| !usable_id(s)) || self.next > roots.len())
        {
            return Err(bad("list of roots"));
        }
        if let Some(oid) = &self.oid
            && (oid.iter().any(|s| !usable_id(s)) || oid.len() != roots)
        {
            return Err(bad("list of root ids"));
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
