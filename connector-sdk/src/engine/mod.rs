//! The traversal engine: reads a connector's parent → child listings
//! (organisations → projects → builds → jobs, users → posts, …) one
//! bounded piece per call, for every stream a request asks of one
//! [`Tree`], whatever the upstream.
//!
//! The connector says what its upstream is: the tree of listings, the
//! request of each and what an answer's items become ([`Tree`]), how a
//! listing pages ([`Paging`]), where the walk starts ([`Roots`]: given by
//! the settings, or discovered by a hook of its own), what a chain's items
//! keep for the listings under them ([`Item`]) and how requests are sent
//! ([`Upstream`]). The engine does the rest, and keeps it in the states it
//! hands the host ([`state`]).
//!
//! # The walk
//!
//! A walk starts from *roots* and keeps a *frontier*: the [`Listing`]s
//! being read, in order, each with the chain of items above it, the token
//! of its next page and its counts. A listing's page emits records for the
//! streams that want them and opens *child* listings for its items: only
//! those the asked streams need. Each parent listing is read once,
//! whatever number of streams it feeds.
//!
//! A call takes the first `concurrency` listings of the frontier (opening
//! the next roots when there are fewer), sends their requests together, and
//! handles the answers in frontier order: a listing is replaced by the
//! listings its page opened, then by itself with its next token (depth
//! first, so the frontier stays a few pages wide). Answers are applied only
//! once handled whole, so a state always points at requests still to make:
//! when some requests of a batch fail, the others are applied and the failed
//! listings stay, marked; the call ends there, and the next call asks the
//! marked ones first, alone, and returns the error when they fail again with
//! nothing else done. A state is never a request answered twice or lost.
//!
//! # Stale page tokens
//!
//! Opaque page tokens occasionally answer 404 mid-scan. A 404 on a request
//! that carries a token is first taken as a passing fault: the call ends
//! after its batch, with a state that counts the 404 on the listing (`s`)
//! and still points at the token, so the next call asks for the same page
//! again, and the host decides when to call. After [`MAX_STRIKES`] 404s in
//! a row the token is taken as stale: the listing is read again from its
//! first page (counted in `x`). A listing is read again at most
//! [`MAX_RESTARTS`] times; the next stale token skips it. Nothing is lost by
//! a restart when listings are newest first: what was inserted at the head
//! meanwhile only pushes items to later pages; what was already read is
//! read and emitted again, and the host drops those duplicates by primary
//! key. Marks are a maximum or minimum over what was read, so reading twice
//! cannot move them.
//!
//! # Items that fail
//!
//! Real accounts hold items whose own request always fails (history past
//! the upstream's retention, an item deleted after it was listed, one that
//! answers a persistent 500). None of them may stop a sync, and none may be
//! asked for forever. The split with the host:
//!
//! - A 404 on an item's own request (a listing below the root, or a single
//!   object) is final: the listing is skipped at once. On a root's own
//!   listing it skips that listing when the roots were discovered, or when
//!   the request says so ([`On404::Skip`], which a 403 then also skips), and
//!   is an error for a root the settings name.
//! - Anything else that fails (5xx, a timeout, an answer that does not parse)
//!   is the host's to retry with the same state. When its retries are spent
//!   it calls once more with `skip_failing` (its account of the failure):
//!   [`fetch`] then skips the first listing that failed (or what discovery
//!   was reading, if the connector's hook can skip it) and goes on. What is
//!   not one item's is answered with an error, and the host stops the walk.
//! - An item listed with an unusable id (null, empty, climbing) is skipped
//!   where it is listed ([`Cx::usable_id`]); nothing else in its page is
//!   lost.
//!
//! Every skip is named in the page's `skipped` list with the answer it got.
//! Incremental streams keep the skipped listings ([`Pending`], at most
//! [`MAX_PENDING`]) in their cursors: the next sync reads each once more,
//! before anything else, emitting everything under it as new, and then lets
//! it go whatever happens. A root whose own listing was skipped keeps its
//! old marks, so the next sync reads its window again.
//!
//! # Incremental sync: marks
//!
//! An incremental stream keeps a cursor ([`Cursor`]): per root the time of
//! the newest item of the root's own listing (`hwm`) and of the oldest one
//! with unfinished work under it (`lwm`), and `as_of`. The tree's handlers
//! decide what is emitted from the stream's marks ([`Cx::last`], [`Last`]:
//! e.g. what was created after `hwm`, changed after `as_of`, or lies within
//! a lookback window before `hwm`) and tell the engine what they read
//! ([`Cx::newest`], [`Cx::see`], [`Cx::unfinished`]).
//!
//! While a walk runs it keeps the latest timestamp seen (`seen`) and
//! `floor`, the earliest moment known to be no later than the reading of
//! anything found unfinished: for an answer that shows something unfinished,
//! the later of `seen` and the answer's `Date` minus [`CLOCK_MARGIN`]. Both
//! are kept per level, so each stream counts what it reads. At the end,
//! `as_of = max(previous as_of, min(seen, floor))`: a change to something
//! read unfinished happens after it was read, so it is stamped after `as_of`
//! and the next sync sees it, even when it happened while this walk ran.
//!
//! # Bounded work
//!
//! A call makes at most [`Budget::requests`] requests, at most
//! `concurrency` (and [`Budget::concurrency`]) at once, and starts no batch
//! once it holds [`Budget::records`] records.
//!
//! # Roots
//!
//! Roots are given by the connector ([`Roots::given`]), or discovered by
//! its hook ([`Roots::discover`]) one request at a time, before any root is
//! read; discovered roots live in the state until the walk ends.

mod paging;
mod roots;
pub mod state;
mod walker;

#[cfg(test)]
mod tests;

pub use paging::{Paging, TokenPages};
pub use roots::{Discover, Given, Roots};
pub use state::{
    Cursor, CursorState, Found, Id, Item, Listing, MAX_DEPTH, MAX_ID_LEN, MAX_OPEN, MAX_PENDING,
    MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, Marks, Pending, Progress, RootAcc, Run, WalkState,
    usable_id,
};

use crate::error::{ConnectorError, RetryHint};
use crate::json::{self, Record};
use crate::model::{FetchRequest, Page, StreamRecord};
use crate::time::{NANOS, Ts};
use crate::url::percent_encode;

/// Most requests one call makes, by default. Each call parses the
/// credential, the settings and the state and writes the state back, and
/// the host checkpoints every page, so calls should carry enough work to
/// make that small; against an upstream's round trips a call still ends
/// within seconds, which bounds what a crash can make the next run fetch
/// again.
pub const MAX_REQUESTS: usize = 32;
/// No batch is started once a call holds this many records, by default.
pub const RECORD_SOFT_LIMIT: usize = 450;
/// The most requests a call keeps in flight, whatever the host allows, by
/// default.
pub const MAX_CONCURRENCY: usize = 32;
/// Allowance for the upstream's clocks disagreeing, taken off a `Date`
/// header before it bounds `as_of`.
pub const CLOCK_MARGIN: Ts = 60 * NANOS;
/// How many counters a tree's handlers keep per call ([`Cx::counts`]).
pub const COUNTS: usize = 4;
/// Why a listing is skipped once it was restarted [`MAX_RESTARTS`] times.
pub const STALE_TOKEN_HINT: &str = "its page tokens kept going stale, and it was already read again \
from its first page the most times allowed";

/// How much one call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most requests one call makes.
    pub requests: usize,
    /// No batch is started once a call holds this many records.
    pub records: usize,
    /// Most requests in flight at once, whatever the host allows.
    pub concurrency: usize,
}

impl Default for Budget {
    /// [`MAX_REQUESTS`], [`RECORD_SOFT_LIMIT`], [`MAX_CONCURRENCY`].
    fn default() -> Budget {
        Budget {
            requests: MAX_REQUESTS,
            records: RECORD_SOFT_LIMIT,
            concurrency: MAX_CONCURRENCY,
        }
    }
}

/// Where a walk starts: a project, an organisation, an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Its identity: keys its marks in the cursors and the items skipped
    /// under it, and is what the state keeps of a discovered root.
    pub key: String,
    /// Its part of a request path, already escaped.
    pub path: String,
    /// How messages name it.
    pub name: String,
    /// An id discovery found with it, when it found one.
    pub id: Option<String>,
}

/// What a 404 or 403 on a listing's first page means. Below the root the
/// listing is always skipped on a 404 (see the module docs); this says how
/// a root's own listing is treated, and what a skip's message adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On404 {
    /// An error, as is (below the root: a skip).
    Fail,
    /// An error with this advice appended, for a root the settings name; a
    /// discovered root's listing is skipped (below the root: a skip).
    Hint(&'static str),
    /// A skip (a 403 too), whose message adds this explanation.
    Skip(&'static str),
}

/// One request of a listing.
pub struct Req<'t> {
    /// The path under the upstream's base, already escaped.
    pub path: String,
    /// Query parameters (the paging adds the page's token).
    pub query: Vec<(&'static str, String)>,
    /// What is read, for messages ("jobs of workflow …").
    pub what: String,
    /// How the listing pages; `None` when the answer is a single object,
    /// the listing's only item.
    pub paging: Option<&'t dyn Paging>,
    /// What a 404 or 403 means.
    pub on_404: On404,
}

/// A root's marks in one stream's cursor, when that stream read it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    /// The time of the newest item of the root's own listing seen.
    pub hwm: Ts,
    /// The time of the oldest one with something unfinished under it.
    pub lwm: Option<Ts>,
    /// The stream's last `as_of`.
    pub as_of: Ts,
    /// How far before `hwm` an incremental sync reads again
    /// ([`Walk::lookback`]).
    pub lookback: Ts,
}

impl Last {
    /// Items created before this are not read again for this stream: its
    /// lookback window starts here.
    pub fn window_start(&self) -> Ts {
        self.hwm.saturating_sub(self.lookback)
    }

    /// The oldest item the last sync found unfinished, when it is older
    /// than the window (and so treated as final from now on).
    pub fn unfinished_before_window(&self) -> Option<Ts> {
        self.lwm.filter(|l| *l < self.window_start())
    }
}

/// Where an answer comes from.
pub struct At<'a, I> {
    /// What is listed (the tree's kind).
    pub kind: u8,
    /// The listing's level (1 = the root's own listing).
    pub level: usize,
    /// The root it is under.
    pub root: &'a Root,
    /// The items above, outermost first.
    pub heads: &'a [I],
    /// Items of the listing before this answer's.
    pub offset: u64,
    /// What was read, for messages.
    pub what: &'a str,
}

/// What a tree's page handler reads and writes. Everything it writes is
/// applied only if the whole answer is handled without error.
pub struct Cx<'a, I, S: ?Sized> {
    /// The connector's settings ([`Walk::settings`]).
    pub settings: &'a S,
    /// Per slot: the stream's marks for this root from its last sync.
    lasts: &'a [Option<Last>],
    /// Per slot: the stream's index in the request, if it is asked for.
    wanted: &'a [Option<u32>],
    /// Nonzero while reading again an item the last sync skipped: emit
    /// only to these slots, and as if nothing had been read before.
    only: u16,
    records: Vec<StreamRecord>,
    children: Vec<(u8, I)>,
    /// Stop the listing after this page.
    pub stop: bool,
    /// Counters of the tree's own (approval jobs not asked for, say),
    /// summed over the call's answers and handed to [`Tree::notices`].
    pub counts: [usize; COUNTS],
    /// Items of this page skipped for want of a usable id.
    unusable: usize,
    /// Notices for the page.
    pub notices: Vec<String>,
    /// The latest timestamp seen so far, per level.
    seen: [Option<Ts>; 4],
    /// The root's marks so far.
    found: [Option<Ts>; 4],
    unfinished: [bool; 3],
}

impl<I: Item, S: ?Sized> Cx<'_, I, S> {
    /// Whether the stream in `slot` is asked for (and, while reading again
    /// a skipped item, was the one that skipped it).
    pub fn wants(&self, slot: usize) -> bool {
        self.wanted.get(slot).is_some_and(Option::is_some)
            && (self.only == 0 || self.only & (1 << slot) != 0)
    }

    /// The marks of the stream in `slot` for this root, when it read it
    /// before (none while reading again a skipped item: all of it is new).
    pub fn last(&self, slot: usize) -> Option<Last> {
        if self.only != 0 {
            return None;
        }
        self.lasts.get(slot).copied().flatten()
    }

    /// Emits `record` for the stream in `slot`, if it is asked for.
    pub fn emit(&mut self, slot: usize, record: String) {
        if self.wants(slot)
            && let Some(Some(stream)) = self.wanted.get(slot)
        {
            self.records.push(StreamRecord {
                stream: *stream,
                data: record,
            });
        }
    }

    /// Opens a listing of `kind` for `item`, under this answer's listing.
    pub fn open(&mut self, kind: u8, item: I) {
        self.children.push((kind, item));
    }

    /// Notes a timestamp seen at `level` (for `as_of`).
    pub fn see(&mut self, level: usize, ts: Option<Ts>) {
        let slot = &mut self.seen[level.clamp(1, 4) - 1];
        *slot = (*slot).max(ts);
    }

    /// The latest timestamp seen so far in this walk, this answer included.
    pub fn seen(&self) -> Option<Ts> {
        self.seen.iter().copied().max().flatten()
    }

    /// Notes the time of an item of the root's own listing (for `hwm`).
    pub fn newest(&mut self, created: Ts) {
        self.found[0] = self.found[0].max(Some(created));
    }

    /// Notes that something at `level` (1 an item of the root's own
    /// listing, 2 and 3 what is under it) of the root's item created at
    /// `root_item_at` is not finished (for `lwm` and `floor`).
    pub fn unfinished(&mut self, level: usize, root_item_at: Option<Ts>) {
        let level = level.clamp(1, 3);
        self.unfinished[level - 1] = true;
        if let Some(at) = root_item_at {
            let lwm = &mut self.found[level];
            *lwm = Some(lwm.map_or(at, |l| l.min(at)));
        }
    }

    /// The item's `name` field when it is a usable id; else the item is
    /// counted as skipped (one listed with a null id, say).
    pub fn usable_id(&mut self, fields: &json::Fields<'_>, name: &str) -> Option<String> {
        let id = json::string_field(fields, name).filter(|id| usable_id(id));
        if id.is_none() {
            self.unusable += 1;
        }
        id
    }

    /// Handles the items of a plain listing: each is emitted for `slot`
    /// with `keys` added (see [`json::with_keys`]), and, when `child` is
    /// given, opens that kind of listing for it, by the id in its field
    /// `id_field`.
    pub fn emit_and_open(
        &mut self,
        items: &[Record<'_>],
        slot: usize,
        keys: &[(&str, String)],
        child: Option<(u8, &str)>,
    ) -> Result<(), ConnectorError> {
        for item in items {
            let f = &item.fields;
            if self.wants(slot) {
                self.emit(slot, json::with_keys(&item.text, f, keys));
            }
            if let Some((kind, id_field)) = child
                && let Some(id) = self.usable_id(f, id_field)
            {
                self.open(kind, I::new(id));
            }
        }
        Ok(())
    }
}

/// The streams a tree reads together, and how: its listings (each of a
/// *kind*), the request of each, and what an answer's items become. Each
/// stream has a *slot* (its index in [`Tree::streams`]).
pub trait Tree: Sync {
    /// What the chain's items keep for the listings under them.
    type Item: Item;
    /// What the handlers read besides the answers: the connector's
    /// settings ([`Cx::settings`]).
    type Settings: ?Sized + Sync;

    /// The streams of the tree, by slot (at most 16).
    fn streams(&self) -> &'static [&'static str];
    /// Whether the stream in `slot` keeps a cursor between syncs.
    fn incremental(&self, _slot: usize) -> bool {
        false
    }
    /// The level of the listings whose records the stream in `slot` is
    /// (1: a root's own listing; at most 4): what of a walk's `seen`,
    /// `floor` and `lwm` it counts.
    fn level(&self, slot: usize) -> usize;
    /// The level of a listing of `kind` (0 for a kind the tree does not
    /// have).
    fn kind_level(&self, kind: u8) -> usize;
    /// The slots whose records a listing of `kind` leads to (its own and
    /// those under it).
    fn feeds(&self, kind: u8) -> &'static [usize];
    /// The listings a root opens when the streams `wants` says are asked.
    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8>;
    /// The request of a listing of `kind` under `root`, for the items
    /// above it (`heads`).
    fn request(&self, kind: u8, root: &Root, heads: &[Self::Item]) -> Req<'_>;
    /// Handles one answer: its items (one, for a single object).
    fn page(
        &self,
        at: &At<'_, Self::Item>,
        items: &[Record<'_>],
        cx: &mut Cx<'_, Self::Item, Self::Settings>,
    ) -> Result<(), ConnectorError>;
    /// Why the upstream lists items without a usable id, for the message
    /// that names those skipped.
    fn unusable_why(&self) -> Option<&'static str> {
        None
    }
    /// Adds the call's notices about the tree's own counters
    /// ([`Cx::counts`], summed over the call), once the call is over.
    fn notices(
        &self,
        _settings: &Self::Settings,
        _counts: &[usize; COUNTS],
        _notices: &mut Vec<String>,
    ) {
    }
}

/// One request of a batch: a path (already escaped), its query (values
/// not yet escaped), and what it reads (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The path under the upstream's base.
    pub path: &'a str,
    /// Query parameters, in order.
    pub query: &'a [(&'a str, &'a str)],
    /// What is read.
    pub what: &'a str,
}

/// A 2xx answer's body and `Date` (when the upstream says), or the typed
/// error of the answer.
pub type Answer = Result<(Vec<u8>, Option<Ts>), ConnectorError>;

/// How the engine sends requests: the connector's session with its
/// upstream (base URL, credential headers, its wording of failures).
pub trait Upstream {
    /// Sends every call of `batch` at once and returns each answer, in
    /// order.
    fn get_all(&mut self, batch: &[Call<'_>]) -> Vec<Answer>;
}

/// What a walk reads, and under which settings.
pub struct Walk<'a, T: ?Sized + Tree, R: Roots> {
    /// The tree.
    pub tree: &'a T,
    /// The connector's settings, for the tree's handlers.
    pub settings: &'a T::Settings,
    /// Where the walk starts.
    pub roots: &'a R,
    /// Per stream of the request, in its order: the stream's slot in the
    /// tree (each once, each a slot of the tree).
    pub slots: &'a [usize],
    /// The settings' fingerprint, which the states carry.
    pub fp: String,
    /// The settings the fingerprint covers, as messages name them.
    pub covers: &'a str,
    /// How far before a root's `hwm` an incremental sync reads again
    /// ([`Last::lookback`]).
    pub lookback: Ts,
    /// How much a call may do.
    pub budget: Budget,
}

/// What a step of a call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on.
    More,
    /// End the call here: a request to ask again in the next call (a page
    /// token's 404), never in this one.
    Yield,
    /// The call's budget is spent.
    Budget,
    /// The walk is over.
    Done,
}

/// One bounded step of `walk` for the streams of `request`. Checks first,
/// before any request, each stream's cursor and the request's state
/// against the tree and the settings' fingerprint.
pub fn fetch<T: ?Sized + Tree, R: Roots>(
    upstream: &mut dyn Upstream,
    walk: &Walk<'_, T, R>,
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    walker::run(upstream, walk, request)
}

/// The notice of a page token's 404 that is asked again.
pub fn strike_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} answered 404 ({n} in a row): the next call asks for that page \
         again; after {MAX_STRIKES} the listing is read again from its first page"
    )
}

/// The notice of a listing read again from its first page.
pub fn restart_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} went stale (HTTP 404 {} times in a row): reading it again from its \
         first page (restart {n} of at most {MAX_RESTARTS}); records read twice have the same primary key",
        MAX_STRIKES + 1,
    )
}

/// The error when the host asks to skip (`skip_failing`, its account
/// `why`) something that is not one item: `what` names it.
pub fn not_an_item(why: &str, what: &str) -> ConnectorError {
    ConnectorError::Unavailable(RetryHint {
        retry_after_ms: None,
        message: format!("{why} ({what} is not an item that can be skipped)"),
    })
}

/// A path segment from an id: escaped, and never one that climbs (callers
/// take ids from [`Cx::usable_id`] or from a checked state: see
/// [`usable_id`]).
pub fn seg(id: &str) -> String {
    percent_encode(id)
}

/// A timestamp field, parsed (absent, null or unparsable: `None`).
pub fn ts(fields: &json::Fields<'_>, name: &str) -> Option<Ts> {
    json::string_field(fields, name).and_then(|t| crate::time::parse_ts(&t))
}
