//! The traversal engine: every stream that fans out (projects → pipelines →
//! workflows → jobs → details, tests, artifacts; projects → insights
//! workflows → runs; organisations → contexts → environment variables)
//! belongs to a [`Tree`], and one *walk* of a tree reads the streams a
//! request asks for, together, one bounded piece per call ([`fetch`]).
//!
//! # The walk
//!
//! A walk starts from *roots* (projects or organisations) and keeps a
//! *frontier*: the [`Listing`]s being read, in order, each with the chain of
//! items above it, the token of its next page and its counts. A listing's
//! page emits records for the streams that want them and opens *child*
//! listings for its items: a pipeline's workflows, a job's details, tests and
//! artifacts — only those the asked streams need. Each parent listing is read
//! once, whatever number of streams it feeds.
//!
//! A call takes the first `concurrency` listings of the frontier (opening the
//! next roots when there are fewer), sends their requests together, and
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
//! CircleCI's opaque page tokens occasionally answer 404 mid-scan. A 404 on a
//! request that carries a token is first taken as a passing fault: the call
//! ends after its batch, with a state that counts the 404 on the listing
//! (`s`) and still points at the token, so the next call asks for the same
//! page again, and the host decides when to call. After [`MAX_STRIKES`] 404s
//! in a row the token is taken as stale: the listing is read again from its
//! first page (counted in `x`). A listing is read again at most
//! [`MAX_RESTARTS`] times; the next stale token skips it. Nothing is lost by
//! a restart: listings are newest first, so what was inserted at the head
//! meanwhile only pushes items to later pages; what was already read is read
//! and emitted again, and the host drops those duplicates by primary key.
//! Marks are a maximum or minimum over what was read, so reading twice
//! cannot move them.
//!
//! # Items that fail
//!
//! Real accounts hold items whose own request always fails: pipelines past
//! CircleCI's retention (their workflows answer 404, or list with a null
//! id), pipelines that answer a persistent 500 on CircleCI Server, workflows
//! deleted after they were listed, jobs whose details are gone. None of them
//! may stop a sync, and none may be asked for forever. The split with the
//! host:
//!
//! - A 404 on an item's own request (a listing below the root, or a single
//!   object) is final: the listing is skipped at once. On a root's own
//!   listing it skips that listing when the roots were discovered (or are
//!   organisations, whose contexts may also answer 403: they may need admin
//!   rights), and is an error for a project the settings name.
//! - Anything else that fails (5xx, a timeout, an answer that does not parse)
//!   is the host's to retry with the same state. When its retries are spent
//!   it calls once more with `skip_failing` (its account of the failure):
//!   [`fetch`] then skips the first listing that failed (or an
//!   organisation's scan, in project discovery) and goes on. What is not one
//!   item's (`/me/collaborations`, which every root needs) is answered with
//!   an error, and the host stops the walk.
//! - An item listed with an unusable id (null, empty, climbing) is skipped
//!   where it is listed; nothing else in its page is lost.
//!
//! Every skip is named in the page's `skipped` list with the answer it got.
//! Incremental streams keep the skipped listings ([`Pending`], at most
//! [`crate::state::MAX_PENDING`]) in their cursors: the next sync reads each
//! once more, before anything else, emitting everything under it as new,
//! and then lets it go whatever happens. A root whose own listing was
//! skipped keeps its old marks, so the next sync reads its window again.
//!
//! # Incremental sync and the lookback window
//!
//! Each incremental stream has its own cursor ([`Cursor`]): per project the
//! newest pipeline seen (`hwm`) and the oldest one with unfinished work
//! (`lwm`), and `as_of`. A walk reads a project back to the earliest window
//! of its streams: `hwm - lookback_days` for a stream that read it before,
//! everything (to `start_date`) for one that did not. Within it, what a
//! stream emits is decided by its own cursor (see `streams::tree`). Reruns
//! add workflows to pipelines that finished long ago and approvals are
//! granted days later, while the pipeline objects do not change: listing the
//! window's workflows again is how they arrive. Work still unfinished before
//! the window (an approval nobody grants) is treated as final and no longer
//! pins the project: a notice says so. An incremental sync costs its window,
//! not the age of the oldest unfinished item.
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
//! A call makes at most [`MAX_REQUESTS`] requests, at most `concurrency` at
//! once, and starts no batch once it holds [`RECORD_SOFT_LIMIT`] records.
//!
//! # Roots and project discovery
//!
//! Project roots are `project_slugs`; without it the projects are
//! discovered ([`discover`]): the organisations are `org_slug`, else every
//! `slug` of `/me/collaborations`; each is scanned through
//! `/pipeline?org-slug=…` (newest first) until `start_date`, else for
//! [`DISCOVERY_PAGES`] pages, and the distinct `project_slug`s seen, in order
//! of first appearance, are the projects (projects of the cursors with
//! unfinished pipelines are added after them). Organisation roots are
//! `org_slug`, else every collaboration (with its id). Discovered roots live
//! in the state until the walk ends.

mod discover;
mod walker;

use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::{Page, StreamRecord};
use crate::settings::Settings;
use crate::slug::ProjectSlug;
use crate::state::{Cursor, Found, Item, Pending, WalkState, usable_id};
use crate::time::{NANOS, Ts};
use crate::url::percent_encode;

pub use crate::state::Listing;

/// Most requests one call makes. Each call parses the credential, the
/// settings and the state and writes the state back, and the host
/// checkpoints every page (an fsync with `--state`), so calls should carry
/// enough work to make that small; against CircleCI's round trips a call
/// still ends within seconds, which bounds what a crash can make the next
/// run fetch again.
pub const MAX_REQUESTS: usize = 32;
/// No batch is started once a call holds this many records.
pub const RECORD_SOFT_LIMIT: usize = 450;
/// The most requests a call keeps in flight, whatever the host allows.
pub const MAX_CONCURRENCY: usize = 32;
/// Pages of an organisation's pipelines that discovery scans when no
/// `start_date` is set (20 a page: its newest 1,000 pipelines).
pub const DISCOVERY_PAGES: u64 = 50;
/// Allowance for the upstream's clocks disagreeing, taken off a `Date`
/// header before it bounds `as_of`.
pub const CLOCK_MARGIN: Ts = 60 * NANOS;

/// Appended to not-found errors for a project the settings name.
pub const PROJECT_404_HINT: &str = "; check the slug, and that the API key is a personal API token \
(project tokens get 404 from API v2)";
/// Why a listing is skipped once it was restarted [`crate::state::MAX_RESTARTS`] times.
const STALE_TOKEN_HINT: &str = "its page tokens kept going stale, and it was already read again from its \
first page the most times allowed";

/// A project or an organisation a walk starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Canonical project slug (`gh/acme/api`), or the organisation slug.
    /// Keys the cursor; the `project_slug` / `owner_slug` added to records.
    pub key: String,
    /// The project slug's escaped URL path, as written in the settings.
    pub path: String,
    /// How messages name it.
    pub name: String,
    /// An organisation's id, when it is known (discovered from
    /// `/me/collaborations`).
    pub owner_id: Option<String>,
}

impl Root {
    pub(crate) fn project(slug: &ProjectSlug) -> Root {
        Root {
            key: slug.canonical(),
            path: slug.path(),
            name: slug.to_string(),
            owner_id: None,
        }
    }

    pub(crate) fn org(org: &str, id: Option<&String>) -> Root {
        Root {
            key: org.to_string(),
            path: percent_encode(org),
            name: org.to_string(),
            owner_id: id.cloned(),
        }
    }
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
#[derive(Debug, Clone)]
pub struct Req {
    /// Under `/api/v2`, already escaped.
    pub path: String,
    /// Query parameters (the engine adds `page-token`).
    pub query: Vec<(&'static str, String)>,
    /// What is read, for messages ("jobs of workflow …").
    pub what: String,
    /// A single object rather than a paged list.
    pub object: bool,
    pub on_404: On404,
}

impl Req {
    pub fn list(path: String, what: String) -> Req {
        Req {
            path,
            query: Vec::new(),
            what,
            object: false,
            on_404: On404::Fail,
        }
    }
}

/// A project's marks in one stream's cursor, when that stream read it
/// before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    pub hwm: Ts,
    pub lwm: Option<Ts>,
    /// The stream's last `as_of`.
    pub as_of: Ts,
    /// How far before `hwm` an incremental sync reads again
    /// (`lookback_days`).
    pub lookback: Ts,
}

impl Last {
    /// Pipelines created before this are not read again for this stream:
    /// its lookback window starts here (see the module docs).
    pub fn window_start(&self) -> Ts {
        self.hwm.saturating_sub(self.lookback)
    }

    /// The oldest pipeline the last sync found unfinished, when it is older
    /// than the window (and so treated as final from now on).
    pub fn unfinished_before_window(&self) -> Option<Ts> {
        self.lwm.filter(|l| *l < self.window_start())
    }
}

/// Where an answer comes from.
pub struct At<'a> {
    /// What is listed (the tree's kind).
    pub kind: u8,
    /// The listing's level (1 = the root's own listing).
    pub level: usize,
    pub root: &'a Root,
    /// The items above, outermost first.
    pub heads: &'a [Item],
    /// Items of the listing before this answer's.
    pub offset: u64,
    /// What was read, for messages.
    pub what: &'a str,
}

/// What a tree's page handler reads and writes. Everything it writes is
/// applied only if the whole answer is handled without error.
pub struct Cx<'a> {
    pub settings: &'a Settings,
    /// Per slot: the stream's marks for this root from its last sync.
    lasts: &'a [Option<Last>],
    /// Per slot: the stream's index in the request, if it is asked for.
    wanted: &'a [Option<u32>],
    /// Nonzero while reading again an item the last sync skipped: emit
    /// only to these slots, and as if nothing had been read before.
    only: u16,
    records: Vec<StreamRecord>,
    children: Vec<(u8, Item)>,
    /// Stop the listing after this page.
    pub stop: bool,
    /// Approval jobs not asked for details, tests or artifacts.
    pub approvals: usize,
    /// Jobs whose artifacts were not asked for: older than CircleCI keeps
    /// artifacts.
    pub expired_artifacts: usize,
    /// Items of this page skipped for want of a usable id.
    unusable: usize,
    pub notices: Vec<String>,
    /// The latest timestamp seen so far, per level.
    seen: [Option<Ts>; 4],
    /// The root's marks so far.
    found: [Option<Ts>; 4],
    unfinished: [bool; 3],
}

impl Cx<'_> {
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
    pub fn open(&mut self, kind: u8, item: Item) {
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

    /// Notes a pipeline of the current root (for `hwm`).
    pub fn pipeline(&mut self, created: Ts) {
        self.found[0] = self.found[0].max(Some(created));
    }

    /// Notes that something at `level` (1 the pipeline itself, 2 a
    /// workflow, 3 a job) of the pipeline created at `pipeline_at` is not
    /// finished (for `lwm` and `floor`).
    pub fn unfinished(&mut self, level: usize, pipeline_at: Option<Ts>) {
        let level = level.clamp(1, 3);
        self.unfinished[level - 1] = true;
        if let Some(at) = pipeline_at {
            let lwm = &mut self.found[level];
            *lwm = Some(lwm.map_or(at, |l| l.min(at)));
        }
    }

    /// The item's `name` field when it is a usable id; else the item is
    /// counted as skipped (an expired workflow listed with a null id, say).
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
        at: &At<'_>,
        items: &[json::Record<'_>],
        slot: usize,
        keys: &[(&str, String)],
        child: Option<(u8, &str)>,
    ) -> Result<(), ConnectorError> {
        let _ = at;
        for item in items {
            let f = &item.fields;
            if self.wants(slot) {
                self.emit(slot, json::with_keys(&item.text, f, keys));
            }
            if let Some((kind, id_field)) = child
                && let Some(id) = self.usable_id(f, id_field)
            {
                self.open(
                    kind,
                    Item {
                        id,
                        ..Item::default()
                    },
                );
            }
        }
        Ok(())
    }
}

/// The streams a tree reads together, and how.
pub trait Tree: Sync {
    /// Whether the roots are projects (else organisations).
    fn projects(&self) -> bool;
    /// The streams of the tree, by slot (at most 16).
    fn streams(&self) -> &'static [&'static str];
    /// Whether the stream in `slot` keeps a cursor between syncs.
    fn incremental(&self, _slot: usize) -> bool {
        false
    }
    /// The level of the listings whose records the stream in `slot` is
    /// (1: a root's own listing): what of a walk's `seen`, `floor` and
    /// `lwm` it counts.
    fn level(&self, slot: usize) -> usize;
    /// The level of a listing of `kind`.
    fn kind_level(&self, kind: u8) -> usize;
    /// The slots whose records a listing of `kind` leads to (its own and
    /// those under it).
    fn feeds(&self, kind: u8) -> &'static [usize];
    /// The listings a root opens when the streams `wants` says are asked.
    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8>;
    /// The request of a listing of `kind` under `root`, for the items
    /// above it (`heads`).
    fn request(&self, kind: u8, root: &Root, heads: &[Item]) -> Req;
    /// Handles one answer: its items (one, for an object).
    fn page(
        &self,
        at: &At<'_>,
        items: &[json::Record<'_>],
        cx: &mut Cx<'_>,
    ) -> Result<(), ConnectorError>;
}

/// One call's request, resolved against a tree.
pub struct Walk<'a> {
    pub tree: &'a dyn Tree,
    /// The request's streams, as named.
    pub streams: &'a [String],
    /// Per slot of the tree: the stream's index in the request.
    pub wanted: Vec<Option<u32>>,
    /// Per slot: the stream's cursor from its last finished sync.
    pub cursors: Vec<Option<Cursor>>,
    pub state: Option<WalkState>,
    pub concurrency: usize,
    pub skip_failing: Option<&'a str>,
}

/// One bounded step of a walk of `walk.tree` for `walk.streams`.
pub fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    walk: Walk<'_>,
) -> Result<Page, ConnectorError> {
    walker::run(api, settings, walk)
}

/// The notice of a page token's 404 that is asked again.
fn strike_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} answered 404 ({n} in a row): the next call asks for that page \
         again; after {} the listing is read again from its first page",
        crate::state::MAX_STRIKES
    )
}

/// The notice of a listing read again from its first page.
fn restart_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} went stale (HTTP 404 {} times in a row): reading it again from its \
         first page (restart {n} of at most {}); records read twice have the same primary key",
        crate::state::MAX_STRIKES + 1,
        crate::state::MAX_RESTARTS
    )
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

/// A root's found marks as the state keeps them, and back.
fn found_of(found: &[Option<Ts>; 4]) -> Found {
    use crate::state::Stamp;
    Found {
        hwm: found[0].map(Stamp),
        lwm: [
            found[1].map(Stamp),
            found[2].map(Stamp),
            found[3].map(Stamp),
        ],
    }
}

fn found_from(found: &Found) -> [Option<Ts>; 4] {
    [
        found.hwm.map(|s| s.0),
        found.lwm[0].map(|s| s.0),
        found.lwm[1].map(|s| s.0),
        found.lwm[2].map(|s| s.0),
    ]
}

/// Whether two pending items are the same listing.
fn same_listing(a: &Pending, b: &Pending) -> bool {
    a.root == b.root
        && a.k == b.k
        && a.h.len() == b.h.len()
        && a.h.iter().zip(&b.h).all(|(x, y)| x.id == y.id)
}
