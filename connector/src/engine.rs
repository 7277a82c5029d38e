//! The traversal engine: every stream that fans out (projects → pipelines →
//! workflows → jobs → details/tests/artifacts; organisations → contexts →
//! environment variables; projects → insights workflows → runs) is a
//! [`Tree`] walked by [`fetch`], one bounded piece per call.
//!
//! # The walk
//!
//! A sync reads its *roots* (projects or organisations) in order. Under the
//! root being read, the state holds a stack of [`Frame`]s: one per listing
//! being read, outermost first, each with the token of the listing's next
//! page and the items of its current page still to visit (the first one is
//! the item whose own listing is the next frame). A step is one of:
//!
//! - the top frame has items: read the first page of the first item's
//!   listing, push it as a frame (or, for a single object such as job
//!   details, just handle it and drop the item);
//! - the top frame has no items but a token: read that next page in place;
//! - the top frame has neither: pop it and drop the item it belonged to
//!   (the root, when the stack empties).
//!
//! Only the first two make a request. The state is changed only after a
//! request succeeded *and* its answer was fully handled, so a state always
//! points at the next request to make: when one fails after the call already
//! made progress, the call returns what it has with that state, and the
//! next call retries the failed request first (surfacing its error if it
//! fails again). The state holds at most one page of ids per level, so it is
//! bounded by the depth of the fan-out times the page size, plus the roots.
//!
//! # Stale page tokens
//!
//! CircleCI's opaque page tokens occasionally answer 404 mid-scan. A 404 on
//! a request that carries a token (the second step) is first taken as a
//! passing fault: the call ends there, with a state that counts the 404 on
//! the frame (`s`) and still points at the token, so the next call asks for
//! the same page again, first, and the host decides when to call. After
//! [`MAX_STRIKES`] 404s in a row the token is taken as stale: the listing's
//! frame is popped, so the next step reads the listing again from its first
//! page, and the restart is counted on the item the listing belongs to (on
//! the run for a root's own listing; on the discovery for an organisation's
//! scan). A listing is restarted at most [`MAX_RESTARTS`] times; the next
//! stale token is a `not-found` error.
//!
//! Nothing is lost by a restart: the listing is read again from its start,
//! and everything under it again too, so whatever was inserted at the head
//! of a newest-first listing meanwhile is read as well; what was already
//! read is read (and emitted) again, and the host drops those duplicates by
//! primary key. Watermarks are unaffected: `hwm`, `lwm`, `seen` and `floor`
//! are a maximum or minimum over everything read, so reading something twice
//! cannot move them, and the project's marks are only written once its whole
//! listing is done.
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
//! - A 404 or 403 on an item's own request (a listing below the root, or a
//!   single object) is final: the item, and everything under it, is skipped
//!   at once. On a root's own listing it skips the root when the roots were
//!   discovered (or are organisations, whose contexts may need admin
//!   rights), and is an error for a project the settings name.
//! - Anything else that fails (5xx, a timeout, an answer that does not parse)
//!   is the host's to retry: the call returns the error with its state still
//!   pointing at the request. When the host's retries are spent it calls
//!   once more with `skip_failing` (its account of the failure): [`fetch`]
//!   then skips the item that request belongs to (the root, for a root's own
//!   listing; an organisation's scan, in project discovery) and goes on. What
//!   is not one item's (`/me/collaborations`, which every root needs) is
//!   answered with an error, and the host stops the stream.
//! - An item listed with an unusable id (null, empty, climbing) is skipped
//!   where it is listed; nothing else in its page is lost.
//!
//! Every skip is named in the page's `skipped` list with the answer it got.
//! An incremental stream keeps the skipped items ([`Pending`], at most
//! [`crate::state::MAX_PENDING`]) in its final cursor: the next sync reads
//! each of them once more, before anything else, emitting everything under
//! it as new, and then lets it go whatever happens. A root skipped by an
//! incremental stream keeps its old marks, so the next sync reads its
//! window again.
//!
//! # The lookback window
//!
//! Reruns add workflows to pipelines that finished long ago, and approvals
//! are granted days later, while the pipeline objects do not change. So an
//! incremental sync lists again the workflows of every pipeline created in
//! the `lookback_days` before the project's newest pipeline of the last sync
//! (`hwm`), and only those: the window is where its listing stops. Work
//! still unfinished before the window (an approval nobody grants, a job
//! that never ends) is treated as final and no longer pins the project: a
//! notice says so. The cost of an incremental sync is bounded by the window,
//! not by the age of the oldest unfinished item.
//!
//! # Bounded work
//!
//! A call makes at most [`MAX_REQUESTS`] requests and starts no request once
//! it holds [`RECORD_SOFT_LIMIT`] records, so it returns at most about 500.
//!
//! # Roots and project discovery
//!
//! Project-rooted trees read `project_slugs`; without it the projects are
//! discovered: the organisations are `org_slug`, else every `slug` of
//! `/me/collaborations`; each is scanned through `/pipeline?org-slug=…`
//! (newest first) until `start_date`, else for [`DISCOVERY_PAGES`] pages,
//! and the distinct `project_slug`s seen, in order of first appearance, are
//! the projects (projects of the cursor with unfinished pipelines are added
//! after them). Organisation-rooted trees read `org_slug`, else every
//! collaboration. Discovered roots live in the state until the sync ends.
//!
//! # Incremental sync
//!
//! Incremental trees (see `streams::tree`) keep, while a sync runs, the
//! latest timestamp seen (`seen`), the current project's newest pipeline
//! (`hwm`) and oldest unfinished one (`lwm`), and `floor`: the earliest
//! moment known to be no later than the reading of any record found
//! unfinished. For an answer that shows something unfinished, that moment
//! is the later of `seen` (which includes the answer: nothing in it is
//! stamped after it was sent) and the answer's `Date` header minus
//! [`CLOCK_MARGIN`]. At the end, `as_of = max(previous as_of, min(seen,
//! floor))`: a change to something read unfinished happens after it was
//! read, so it is stamped after `as_of` and the next sync sees it, even when
//! it happened while this sync was still running.

use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::Page;
use crate::settings::Settings;
use crate::slug::ProjectSlug;
use crate::state::{
    Cursor, Discovery, Frame, Item, MAX_PENDING, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, Marks,
    Pending, Run, State, usable_id,
};
use crate::time::{NANOS, Ts};
use crate::url::percent_encode;

/// Most requests one call makes. Each call parses the credential, the
/// settings and the state and writes the state back, and the host
/// checkpoints every page (an fsync with `--state`), so calls should carry
/// enough work to make that small: with 32, the per-call part of a sync's
/// CPU time fell by about 30 % against 8 (BENCHMARKS.md). Against CircleCI's
/// round trips a call still ends within seconds, which bounds what a crash
/// can make the next run fetch again.
pub const MAX_REQUESTS: usize = 32;
/// No request is started once a call holds this many records; with pages of
/// about 20 items a call returns at most about 500.
pub const RECORD_SOFT_LIMIT: usize = 450;
/// Pages of an organisation's pipelines that discovery scans when no
/// `start_date` is set (20 a page: its newest 1,000 pipelines).
pub const DISCOVERY_PAGES: u64 = 50;
/// Allowance for the upstream's clocks disagreeing, taken off a `Date`
/// header before it bounds `as_of`.
pub const CLOCK_MARGIN: Ts = 60 * NANOS;
/// Most discovered projects listed by name in a notice.
const NOTICE_NAMES: usize = 20;

/// Appended to not-found errors for a project's first listing.
pub const PROJECT_404_HINT: &str = "; check the slug, and that the API key is a personal API token \
(project tokens get 404 from API v2)";
/// Why a listing is skipped once it was restarted [`MAX_RESTARTS`] times.
const STALE_TOKEN_HINT: &str = "its page tokens kept going stale, and it was already read again from its \
first page the most times allowed";

/// A project or an organisation the walk starts from.
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
    fn project(slug: &ProjectSlug) -> Root {
        Root {
            key: slug.canonical(),
            path: slug.path(),
            name: slug.to_string(),
            owner_id: None,
        }
    }

    fn org(org: &str, id: Option<&String>) -> Root {
        Root {
            key: org.to_string(),
            path: percent_encode(org),
            name: org.to_string(),
            owner_id: id.cloned(),
        }
    }
}

/// What a 404 or 403 on a listing's first page means. Below the root the
/// item is always skipped (see the module docs); this says how a root's
/// own listing is treated, and what a skip's message adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On404 {
    /// An error, as is (below the root: a skip).
    Fail,
    /// An error with this advice appended, for a root the settings name; a
    /// discovered root is skipped (below the root: a skip).
    Hint(&'static str),
    /// A skip, whose message adds this explanation.
    Skip(&'static str),
}

/// One request of a tree.
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

/// A project's marks from the last sync, when it was synced before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    pub hwm: Ts,
    pub lwm: Option<Ts>,
    /// The last sync's `as_of`.
    pub as_of: Ts,
    /// How far before `hwm` an incremental sync reads again
    /// (`lookback_days`).
    pub lookback: Ts,
}

impl Last {
    /// Pipelines created before this are not read again: the lookback
    /// window starts here (see the module docs).
    pub fn window_start(&self) -> Ts {
        self.hwm.saturating_sub(self.lookback)
    }

    /// The oldest pipeline the last sync found unfinished, when it is older
    /// than the window (and so treated as final from now on).
    pub fn unfinished_before_window(&self) -> Option<Ts> {
        self.lwm.filter(|l| *l < self.window_start())
    }
}

/// What a tree's page handler reads and writes. Everything it writes is
/// applied only if the whole answer is handled without error.
pub struct Cx<'a> {
    pub settings: &'a Settings,
    /// The root's marks from the last sync (incremental trees; `None` on a
    /// first sync and for a project the last sync did not read).
    pub last: Option<Last>,
    /// Records to emit.
    pub records: Vec<String>,
    /// Items to visit (the current page's, in order).
    pub children: Vec<Item>,
    /// Stop the listing after this page.
    pub stop: bool,
    /// Approval jobs not asked for details, tests or artifacts.
    pub approvals: usize,
    /// Jobs whose artifacts were not asked for: older than CircleCI keeps
    /// artifacts.
    pub expired_artifacts: usize,
    /// Items of this page skipped for want of a usable id.
    pub unusable: usize,
    pub notices: Vec<String>,
    seen: Option<Ts>,
    hwm: Option<Ts>,
    lwm: Option<Ts>,
    unfinished: bool,
}

impl Cx<'_> {
    /// Notes a timestamp seen (for `as_of`).
    pub fn see(&mut self, ts: Option<Ts>) {
        self.seen = self.seen.max(ts);
    }

    /// The latest timestamp seen so far in this sync, this answer included.
    pub fn seen(&self) -> Option<Ts> {
        self.seen
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

    /// Notes a pipeline of the current project (for `hwm`).
    pub fn pipeline(&mut self, created: Ts) {
        self.hwm = self.hwm.max(Some(created));
    }

    /// Notes that something of the pipeline created at `pipeline_at` is not
    /// finished (for `lwm` and `floor`).
    pub fn unfinished(&mut self, pipeline_at: Option<Ts>) {
        self.unfinished = true;
        if let Some(at) = pipeline_at {
            self.lwm = Some(self.lwm.map_or(at, |l| l.min(at)));
        }
    }

    /// Handles an answer of a plain listing: at the tree's last level
    /// (`leaf`) each item is emitted with `keys` added (see
    /// [`json::with_keys`]); above it, each is visited next, as the id in
    /// its field `id_field`.
    pub fn emit_or_visit(
        &mut self,
        at: &At<'_>,
        items: &[String],
        leaf: bool,
        keys: &[(&str, String)],
        id_field: &str,
    ) -> Result<(), ConnectorError> {
        for item in items {
            let f = json::fields(item, at.what)?;
            if leaf {
                self.records.push(json::with_keys(item, &f, keys));
            } else if let Some(id) = self.usable_id(&f, id_field) {
                self.children.push(Item {
                    id,
                    ..Item::default()
                });
            }
        }
        Ok(())
    }
}

/// Where an answer comes from.
pub struct At<'a> {
    /// The listing's level (1 = the root's own listing).
    pub level: usize,
    pub root: &'a Root,
    /// The items being visited at the levels above.
    pub heads: &'a [Item],
    /// Items of the listing before this answer's.
    pub offset: u64,
    /// What was read, for messages.
    pub what: &'a str,
}

/// A stream that walks roots and listings.
pub trait Tree {
    /// Whether the roots are projects (else organisations).
    fn projects(&self) -> bool;
    /// Number of listing levels under a root (1 = the root's own listing).
    fn depth(&self) -> usize;
    /// Whether the stream keeps a cursor between syncs.
    fn incremental(&self) -> bool {
        false
    }
    /// The request for the listing at `level` (1-based) under `root`, for
    /// the items being visited at the levels above (`heads`).
    fn request(&self, level: usize, root: &Root, heads: &[Item]) -> Req;
    /// Handles one answer: its items (one, for an object).
    fn page(&self, at: &At<'_>, items: &[String], cx: &mut Cx<'_>) -> Result<(), ConnectorError>;
}

/// One bounded step of `tree`'s stream `stream`. With `skip_failing` (the
/// host's account of a request that failed until its retries were spent),
/// the item that request belongs to is skipped first (see the module docs).
pub fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
    stream: &str,
    tree: &dyn Tree,
    skip_failing: Option<&str>,
) -> Result<Page, ConnectorError> {
    let invalid = |m: String| ConnectorError::InvalidState(m);
    let (run, cursor) = match state {
        None => (Run::default(), None),
        Some(State {
            run: Some(run),
            cursor,
            ..
        }) => (run, cursor),
        Some(State {
            run: None,
            cursor: Some(c),
            ..
        }) if tree.incremental() => (Run::default(), Some(c)),
        Some(_) => {
            return Err(invalid(format!(
                "the {stream} stream keeps nothing between syncs; pass no state to start a sync"
            )));
        }
    };
    if cursor.is_some() && !tree.incremental() {
        return Err(invalid(format!(
            "the {stream} stream has no cursor; pass no state to start over"
        )));
    }
    // Roots are found (and `disc` is under way) only when the settings do
    // not name them, and before any is read. A state that says otherwise
    // would be written back as one that no longer reads (`disc` beside
    // frames), so it is refused here.
    let named = if tree.projects() {
        !settings.project_slugs.is_empty()
    } else {
        settings.org_slug.is_some()
    };
    let unfound = !named && run.roots.is_none() && (run.i != 0 || !run.f.is_empty());
    if unfound || (run.disc.is_some() && (named || !tree.projects())) {
        return Err(invalid(format!(
            "the state's progress does not fit the {stream} stream and its settings; \
             pass no state to start over"
        )));
    }
    let depth = tree.depth();
    if run.f.len() > depth || run.f.get(depth - 1).is_some_and(|f| !f.ids.is_empty()) {
        return Err(invalid(format!(
            "the state's stack of listings does not fit the {stream} stream; pass no state to start over"
        )));
    }
    let pending = cursor.as_ref().map_or(&[][..], |c| &c.retry[..]);
    let deep = |p: &Pending| p.heads.len() >= depth;
    if run.q > pending.len()
        || pending.iter().chain(&run.skipped).any(deep)
        || (run.oid.is_some() && tree.projects())
    {
        return Err(invalid(format!(
            "the state's skipped items do not fit the {stream} stream; pass no state to start over"
        )));
    }
    let mut w = Walker {
        api,
        settings,
        tree,
        run,
        cursor,
        roots: None,
        records: Vec::new(),
        notices: Vec::new(),
        skipped: Vec::new(),
        approvals: 0,
        expired_artifacts: 0,
        sent: 0,
        ok: 0,
    };
    if let Some(why) = skip_failing {
        w.give_up(why)?;
    }
    let finished = loop {
        match w.step() {
            Ok(Step::More) => {}
            Ok(Step::Budget | Step::Yield) => break false,
            Ok(Step::Done) => break true,
            Err(e) if w.ok == 0 => return Err(e),
            Err(e) => {
                w.notices.push(format!(
                    "stopped after {} request(s) because the next one failed ({}: {}); \
                     the next call retries it",
                    w.ok,
                    e.kind(),
                    e.message()
                ));
                break false;
            }
        }
    };
    if w.approvals > 0 {
        w.notices.push(format!(
            "skipped {} approval job(s): CircleCI has no details, tests or artifacts for approval jobs \
             (it answers 404)",
            w.approvals
        ));
    }
    if w.expired_artifacts > 0 {
        w.notices.push(format!(
            "did not ask for the artifacts of {} job(s) that stopped more than {} days before the newest \
             data seen: CircleCI deletes artifacts after at most 30 days (artifact_retention_days: 0 asks \
             anyway)",
            w.expired_artifacts, settings.artifact_retention_days
        ));
    }
    let fp = settings.fingerprint();
    let state = if !finished {
        let mut s = State::new(stream, fp);
        s.run = Some(w.run);
        s.cursor = w.cursor;
        Some(s.encode())
    } else if tree.incremental() {
        let mut cursor = w.cursor.unwrap_or_default();
        if let Some(seen) = w.run.seen {
            let bound = w.run.floor.map_or(seen, |f| f.min(seen));
            cursor.as_of = Some(cursor.as_of.map_or(bound, |old| old.max(bound)));
        }
        // The last sync's skipped items were tried again; this sync's wait
        // for the next one.
        cursor.retry = w.run.skipped;
        let mut s = State::new(stream, fp);
        s.cursor = Some(cursor);
        Some(s.encode())
    } else {
        None
    };
    Ok(Page {
        records: w.records,
        state,
        has_more: !finished,
        notices: w.notices,
        skipped: w.skipped,
    })
}

/// What the walk does next.
enum Next {
    /// The sync is over.
    Done,
    /// A step of finding the roots.
    Discover,
    /// Read the listing at `level`: its first page, or the page `token`.
    Read(usize, Option<String>),
}

enum Step {
    /// Go on.
    More,
    /// End the call here: the next request is one to ask again in the
    /// next call (a page token's 404), never in this one.
    Yield,
    /// The call's budget is spent.
    Budget,
    /// The sync is over.
    Done,
}

struct Walker<'a, 'b> {
    api: &'a mut Api<'b>,
    settings: &'a Settings,
    tree: &'a dyn Tree,
    run: Run,
    cursor: Option<Cursor>,
    roots: Option<Vec<Root>>,
    records: Vec<String>,
    notices: Vec<String>,
    /// The page's `skipped` list: each item skipped, and why.
    skipped: Vec<String>,
    approvals: usize,
    expired_artifacts: usize,
    /// Requests sent by this call.
    sent: usize,
    /// Requests that succeeded (or were skipped as gone): progress.
    ok: usize,
}

impl Walker<'_, '_> {
    fn budget_spent(&self) -> bool {
        self.sent >= MAX_REQUESTS || self.records.len() >= RECORD_SOFT_LIMIT
    }

    /// `GET` with the `Date` of the answer, counting the request.
    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<(Vec<u8>, Option<Ts>), ConnectorError> {
        self.sent += 1;
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.api.get_dated(path, &query, what)
    }

    fn step(&mut self) -> Result<Step, ConnectorError> {
        match self.next()? {
            Next::Done => Ok(Step::Done),
            Next::Discover => self.discover(),
            Next::Read(level, token) => self.read(level, token),
        }
    }

    /// Moves the walk on until its next request (popping finished
    /// listings, starting the next item to read again), and says what that
    /// request is. Makes no request.
    fn next(&mut self) -> Result<Next, ConnectorError> {
        if self.roots.is_none() {
            match self.resolve_roots()? {
                Some(roots) => self.roots = Some(roots),
                None => return Ok(Next::Discover),
            }
        }
        loop {
            let d = self.run.f.len();
            if d == 0 {
                if self.retrying() {
                    if self.run.qs {
                        // The item read again is done (or was let go).
                        self.run.q += 1;
                        self.run.qs = false;
                        continue;
                    }
                    // Its chain, each level visiting just that item: the
                    // next step reads its own listing.
                    let pending =
                        &self.cursor.as_ref().expect("retrying needs a cursor").retry[self.run.q];
                    self.run.f = pending
                        .heads
                        .iter()
                        .map(|item| Frame {
                            ids: vec![item.clone()],
                            ..Frame::default()
                        })
                        .collect();
                    self.run.qs = true;
                    continue;
                }
                let count = self.roots.as_ref().map_or(0, Vec::len);
                if self.run.i >= count {
                    return Ok(Next::Done);
                }
                return Ok(Next::Read(1, None));
            }
            if !self.retrying() && self.run.i >= self.roots.as_ref().map_or(0, Vec::len) {
                return Err(ConnectorError::InvalidState(
                    "the state points past the last project or organisation; pass no state to start over"
                        .into(),
                ));
            }
            let top = &self.run.f[d - 1];
            if !top.ids.is_empty() {
                if self.was_read_again(d) {
                    // Read again (whole) before the walk, in this sync.
                    self.item_done(d);
                    continue;
                }
                return Ok(Next::Read(d + 1, None));
            }
            if let Some(t) = top.t.clone() {
                return Ok(Next::Read(d, Some(t)));
            }
            self.run.f.pop();
            self.item_done(d - 1);
        }
    }

    /// Whether the item being visited at `level` is one of the last sync's
    /// skipped items, which this sync already read again: once is enough.
    fn was_read_again(&self, level: usize) -> bool {
        let Some(cursor) = &self.cursor else {
            return false;
        };
        if self.retrying() || cursor.retry.is_empty() {
            return false;
        }
        let Some(root) = self.roots.as_ref().and_then(|r| r.get(self.run.i)) else {
            return false;
        };
        let chain = &self.run.f[..level];
        cursor.retry[..self.run.q.min(cursor.retry.len())]
            .iter()
            .any(|p| {
                p.root == root.key
                    && p.heads.len() == level
                    && p.heads
                        .iter()
                        .zip(chain)
                        .all(|(h, f)| f.ids.first().is_some_and(|i| i.id == h.id))
            })
    }

    /// Whether the walk is reading again the items the last sync skipped.
    fn retrying(&self) -> bool {
        self.run.q < self.cursor.as_ref().map_or(0, |c| c.retry.len())
    }

    /// The root being read: the current one, or the one of the item being
    /// read again.
    fn root(&self) -> Result<Root, ConnectorError> {
        if self.retrying() {
            let key =
                &self.cursor.as_ref().expect("retrying needs a cursor").retry[self.run.q].root;
            return ProjectSlug::parse(key)
                .ok()
                .filter(|slug| slug.canonical() == *key)
                .map(|slug| Root::project(&slug))
                .ok_or_else(|| {
                    ConnectorError::InvalidState(
                        "the state keeps a skipped item of something that is not a project; pass no \
                         state to start over"
                            .into(),
                    )
                });
        }
        Ok(self.roots.as_ref().expect("roots are resolved")[self.run.i].clone())
    }

    /// Skips the item the next request belongs to: the host retried that
    /// request until its policy gave up (`why`). An error when the request
    /// is not one item's (see the module docs).
    fn give_up(&mut self, why: &str) -> Result<(), ConnectorError> {
        let not_an_item = |what: &str| {
            ConnectorError::Unavailable(crate::error::RetryHint {
                retry_after_ms: None,
                message: format!("{why} ({what} is not an item that can be skipped)"),
            })
        };
        match self.next()? {
            Next::Done => Err(not_an_item("the end of the sync")),
            Next::Discover => {
                let mut disc = self.run.disc.take().unwrap_or_else(|| Discovery {
                    orgs: self.settings.org_slug.clone().map(|o| vec![o]),
                    ..Discovery::default()
                });
                let org = match &disc.orgs {
                    Some(orgs) if self.tree.projects() => orgs.get(disc.o).cloned(),
                    _ => None,
                };
                let Some(org) = org else {
                    self.run.disc = self.tree.projects().then_some(disc);
                    return Err(not_an_item("/me/collaborations"));
                };
                self.skipped.push(format!(
                    "project discovery in organisation {org}: {why}; its projects are not read in this sync"
                ));
                disc.o += 1;
                disc.t = None;
                disc.n = 0;
                disc.r = 0;
                disc.s = 0;
                self.run.disc = Some(disc);
                self.ok += 1;
                Ok(())
            }
            Next::Read(level, _) => {
                self.skip(level, why, None);
                Ok(())
            }
        }
    }

    /// The items being visited at the levels above `level`.
    fn heads(&self, level: usize) -> Vec<Item> {
        self.run.f[..level - 1]
            .iter()
            .map(|f| f.ids[0].clone())
            .collect()
    }

    /// Skips what the listing at `level` belongs to: the root, or the item
    /// above it (with everything under it), and names it in the page's
    /// `skipped` list: the listing's request answered `why` (which names
    /// what was read), which `hint` explains.
    fn skip(&mut self, level: usize, why: &str, hint: Option<&str>) {
        self.ok += 1;
        let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
        if level == 1 {
            // The root's own listing: the root is skipped. An incremental
            // stream keeps its marks as the last sync left them, so the next
            // sync reads its window again. (Never while reading again: those
            // items are below a root.)
            let name = self.roots.as_ref().map_or(String::new(), |r| {
                r.get(self.run.i).map_or(String::new(), |r| r.name.clone())
            });
            self.run.f.clear();
            self.run.hwm = None;
            self.run.lwm = None;
            self.run.r = 0;
            self.run.i += 1;
            self.skipped
                .push(format!("{why}{hint}; {name} is skipped in this sync"));
            return;
        }
        let kept = if self.retrying() {
            "read again after the last sync skipped it; let go now"
        } else if !self.tree.incremental() {
            "the next sync reads it again"
        } else if self.run.skipped.len() < MAX_PENDING {
            let root = self.root().map(|r| r.key).unwrap_or_default();
            self.run.skipped.push(Pending {
                root,
                heads: self.heads(level),
            });
            "the next sync tries it once more"
        } else {
            "not kept for another try: this sync keeps the most skipped items it may"
        };
        self.skipped.push(format!("{why}{hint}; {kept}"));
        self.run.f.truncate(level - 1);
        self.item_done(level - 1);
    }

    /// The item being visited at `level` (the root at 0) is done.
    fn item_done(&mut self, level: usize) {
        if level > 0 {
            self.run.f[level - 1].ids.remove(0);
            return;
        }
        if self.retrying() {
            // An item read again is no news about its project's marks.
            self.run.hwm = None;
            self.run.lwm = None;
            return;
        }
        if self.tree.incremental() {
            let key = self.roots.as_ref().expect("roots are resolved")[self.run.i]
                .key
                .clone();
            let cursor = self.cursor.get_or_insert_with(Cursor::default);
            let old = cursor.projects.get(&key).and_then(|m| m.hwm);
            let marks = Marks {
                hwm: self.run.hwm.take().max(old),
                lwm: self.run.lwm.take(),
            };
            cursor.projects.insert(key, marks);
        }
        self.run.r = 0;
        self.run.i += 1;
    }

    /// A page token of the listing at `level` (the top frame's) answered
    /// 404 with `e`. Counts it on the frame and ends the call, so that the
    /// next call asks again; after [`MAX_STRIKES`] in a row, drops the frame,
    /// so the next step reads the listing's first page again, and counts the
    /// restart; once the listing was restarted [`MAX_RESTARTS`] times, skips
    /// what it belongs to (see the module docs).
    fn stale_token(
        &mut self,
        level: usize,
        e: ConnectorError,
        what: &str,
    ) -> Result<Step, ConnectorError> {
        let frame = &mut self.run.f[level - 1];
        if frame.s < MAX_STRIKES {
            frame.s += 1;
            // The state moved on (it counts the 404), so this is progress.
            self.ok += 1;
            self.notices.push(strike_notice(what, frame.s));
            return Ok(Step::Yield);
        }
        let count = match level {
            1 => &mut self.run.r,
            _ => &mut self.run.f[level - 2].ids[0].r,
        };
        if *count >= MAX_RESTARTS {
            self.skip(level, e.message(), Some(STALE_TOKEN_HINT));
            return Ok(Step::More);
        }
        *count += 1;
        let n = *count;
        self.run.f.truncate(level - 1);
        self.ok += 1;
        self.notices.push(restart_notice(what, n));
        Ok(Step::More)
    }

    /// Reads the listing at `level`: its first page (`token` none) or the
    /// page `token` of the top frame's listing.
    fn read(&mut self, level: usize, token: Option<String>) -> Result<Step, ConnectorError> {
        if self.budget_spent() {
            return Ok(Step::Budget);
        }
        let root = self.root()?;
        let heads = self.heads(level);
        let req = self.tree.request(level, &root, &heads);
        if req.object && token.is_some() {
            return Err(ConnectorError::InvalidState(
                "the state holds a page token for a single object; pass no state to start over"
                    .into(),
            ));
        }
        let mut query = req.query.clone();
        if let Some(t) = &token {
            query.push(("page-token", t.clone()));
        }
        let (body, date) = match self.get(&req.path, &query, &req.what) {
            Ok(answer) => answer,
            Err(e @ ConnectorError::NotFound(_)) if token.is_some() => {
                return self.stale_token(level, e, &req.what);
            }
            // A 403 skips only what may need other rights (an
            // organisation's contexts); elsewhere it is the credential's.
            Err(e @ ConnectorError::Forbidden(_))
                if !(level == 1 && matches!(req.on_404, On404::Skip(_))) =>
            {
                return Err(e);
            }
            Err(e @ (ConnectorError::NotFound(_) | ConnectorError::Forbidden(_))) => {
                // Named roots are the settings' word: a wrong one is an error.
                let named = self.tree.projects() && !self.settings.project_slugs.is_empty();
                let why = e.message().to_string();
                return match (&req.on_404, level) {
                    (On404::Fail, 1) => Err(e),
                    (On404::Hint(hint), 1) if named => Err(e.with_hint(hint)),
                    (On404::Skip(hint), _) => {
                        self.skip(level, &why, Some(hint));
                        Ok(Step::More)
                    }
                    _ => {
                        self.skip(level, &why, None);
                        Ok(Step::More)
                    }
                };
            }
            Err(e) => return Err(e),
        };
        let (items, next) = if req.object {
            (vec![json::record(&body, &req.what)?], None)
        } else {
            let page = json::list_page(&body, &req.what)?;
            if page.next_page_token.is_some() && page.next_page_token == token {
                return Err(ConnectorError::BadResponse(format!(
                    "CircleCI sent the same next_page_token again for {}; stopping rather than looping",
                    req.what
                )));
            }
            if page
                .next_page_token
                .as_ref()
                .is_some_and(|t| t.len() > MAX_TOKEN_LEN)
            {
                return Err(ConnectorError::BadResponse(format!(
                    "the next_page_token for {} is longer than {MAX_TOKEN_LEN} bytes",
                    req.what
                )));
            }
            (page.items, page.next_page_token)
        };
        let offset = match token {
            Some(_) => self.run.f[level - 1].n,
            None => 0,
        };
        // What is read again is emitted whole: the last sync never did.
        let last = if self.retrying() {
            None
        } else {
            self.last(&root)
        };
        let mut cx = Cx {
            settings: self.settings,
            last,
            records: Vec::new(),
            children: Vec::new(),
            stop: false,
            approvals: 0,
            expired_artifacts: 0,
            unusable: 0,
            notices: Vec::new(),
            seen: self.run.seen,
            hwm: self.run.hwm,
            lwm: self.run.lwm,
            unfinished: false,
        };
        let at = At {
            level,
            root: &root,
            heads: &heads,
            offset,
            what: &req.what,
        };
        self.tree.page(&at, &items, &mut cx)?;
        if cx.children.iter().any(|it| !usable_id(&it.id)) {
            return Err(ConnectorError::BadResponse(format!(
                "an item in the answer for {} has an empty or overlong id",
                req.what
            )));
        }

        // The answer is handled: apply it.
        self.ok += 1;
        self.records.append(&mut cx.records);
        self.notices.append(&mut cx.notices);
        self.approvals += cx.approvals;
        self.expired_artifacts += cx.expired_artifacts;
        if cx.unusable > 0 {
            self.skipped.push(format!(
                "{} item(s) listed in {} without a usable id (CircleCI lists workflows past its \
                 retention with a null id): nothing of them or under them can be read",
                cx.unusable, req.what
            ));
        }
        self.run.seen = cx.seen;
        self.run.hwm = cx.hwm;
        self.run.lwm = cx.lwm;
        if cx.unfinished {
            // Saturating: a `Date` in 1677 would otherwise wrap to 2262.
            let read_at = cx
                .seen
                .max(date.map(|d| d.saturating_sub(CLOCK_MARGIN)))
                .unwrap_or(0);
            self.run.floor = Some(self.run.floor.map_or(read_at, |f| f.min(read_at)));
        }
        let next = if cx.stop { None } else { next };
        let children = if level < self.tree.depth() {
            cx.children
        } else {
            Vec::new()
        };
        let count = items.len() as u64;
        if req.object {
            self.item_done(level - 1);
        } else if token.is_some() {
            let frame = &mut self.run.f[level - 1];
            frame.t = next;
            frame.ids = children;
            frame.s = 0;
            // Saturating: `n` may come from a forged state.
            frame.n = frame.n.saturating_add(count);
        } else {
            self.run.f.push(Frame {
                t: next,
                ids: children,
                n: count,
                s: 0,
            });
        }
        Ok(Step::More)
    }

    /// The root's marks from the last sync, if it has them.
    fn last(&self, root: &Root) -> Option<Last> {
        if !self.tree.incremental() {
            return None;
        }
        let cursor = self.cursor.as_ref()?;
        let marks = cursor.projects.get(&root.key)?;
        Some(Last {
            hwm: marks.hwm?,
            lwm: marks.lwm,
            as_of: cursor.as_of?,
            lookback: self.settings.lookback(),
        })
    }

    /// The roots, when known without (more) requests.
    fn resolve_roots(&self) -> Result<Option<Vec<Root>>, ConnectorError> {
        let s = self.settings;
        if self.tree.projects() {
            if !s.project_slugs.is_empty() {
                return Ok(Some(s.project_slugs.iter().map(Root::project).collect()));
            }
            let Some(stored) = &self.run.roots else {
                return Ok(None);
            };
            let roots = stored
                .iter()
                .map(|text| {
                    ProjectSlug::parse(text).map(|s| Root::project(&s)).map_err(|_| {
                        ConnectorError::InvalidState(
                            "the state lists a project that is not a project slug; pass no state to start over"
                                .into(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(roots))
        } else if let Some(org) = &s.org_slug {
            Ok(Some(vec![Root::org(org, None)]))
        } else {
            let ids = self.run.oid.as_ref();
            Ok(self.run.roots.as_ref().map(|orgs| {
                orgs.iter()
                    .enumerate()
                    .map(|(k, o)| Root::org(o, ids.and_then(|ids| ids.get(k))))
                    .collect()
            }))
        }
    }

    /// One step of finding the roots: reading `/me/collaborations`, or one
    /// page of an organisation's pipelines, or concluding.
    fn discover(&mut self) -> Result<Step, ConnectorError> {
        if !self.tree.projects() {
            // Organisation roots: the collaborations.
            if self.budget_spent() {
                return Ok(Step::Budget);
            }
            let orgs = self.collaborations()?;
            self.ok += 1;
            if orgs.is_empty() {
                self.notices.push(
                    "no organisation to read: org_slug is not set and /me/collaborations is empty"
                        .into(),
                );
            }
            // Contexts are listed by owner id where every organisation has
            // one (owner-slug does not work for personal accounts).
            let ids: Option<Vec<String>> = orgs.iter().map(|(_, id)| id.clone()).collect();
            self.run.oid = ids.filter(|ids| !ids.is_empty());
            self.run.roots = Some(orgs.into_iter().map(|(slug, _)| slug).collect());
            return Ok(Step::More);
        }
        let mut disc = self.run.disc.take().unwrap_or_else(|| Discovery {
            orgs: self.settings.org_slug.clone().map(|o| vec![o]),
            ..Discovery::default()
        });
        let result = self.discover_step(&mut disc);
        if result.is_err() || self.run.roots.is_none() {
            self.run.disc = Some(disc);
        }
        result
    }

    fn discover_step(&mut self, disc: &mut Discovery) -> Result<Step, ConnectorError> {
        let Some(orgs) = disc.orgs.clone() else {
            if self.budget_spent() {
                return Ok(Step::Budget);
            }
            let orgs = self.collaborations()?;
            self.ok += 1;
            disc.orgs = Some(orgs.into_iter().map(|(slug, _)| slug).collect());
            return Ok(Step::More);
        };
        if let Some(org) = orgs.get(disc.o) {
            if self.budget_spent() {
                return Ok(Step::Budget);
            }
            let what = format!("pipelines of organisation {org} (project discovery)");
            let mut query = vec![("org-slug", org.clone())];
            if let Some(t) = &disc.t {
                query.push(("page-token", t.clone()));
            }
            let (body, _) = match self.get("/pipeline", &query, &what) {
                Ok(answer) => answer,
                // A token's 404: asked again, then (stale) the organisation
                // is scanned again from its newest pipeline, keeping the
                // projects found so far. As for listings (see the module docs).
                Err(e @ ConnectorError::NotFound(_)) if disc.t.is_some() => {
                    if disc.s < MAX_STRIKES {
                        disc.s += 1;
                        self.ok += 1;
                        self.notices.push(strike_notice(&what, disc.s));
                        return Ok(Step::Yield);
                    }
                    if disc.r >= MAX_RESTARTS {
                        self.skipped.push(format!(
                            "{what}: {}: {} ({STALE_TOKEN_HINT}); its projects are not read in this sync",
                            e.kind(),
                            e.message()
                        ));
                        disc.o += 1;
                        disc.t = None;
                        disc.n = 0;
                        disc.r = 0;
                        disc.s = 0;
                        self.ok += 1;
                        return Ok(Step::More);
                    }
                    disc.r += 1;
                    disc.s = 0;
                    disc.t = None;
                    disc.n = 0;
                    self.ok += 1;
                    self.notices.push(restart_notice(&what, disc.r));
                    return Ok(Step::More);
                }
                Err(e) => return Err(e),
            };
            let page = json::list_page(&body, &what)?;
            let mut found = disc.found.clone();
            let mut notices = Vec::new();
            let mut stop = false;
            for item in &page.items {
                let f = json::fields(item, &what)?;
                let created =
                    json::string_field(&f, "created_at").and_then(|t| crate::time::parse_ts(&t));
                if let (Some(start), Some(created)) = (self.settings.start_ts(), created)
                    && created < start
                {
                    stop = true;
                    break;
                }
                let Some(text) = json::string_field(&f, "project_slug") else {
                    continue;
                };
                match ProjectSlug::parse(&text) {
                    Ok(slug) if usable_id(&slug.canonical()) => {
                        let key = slug.canonical();
                        if !found.contains(&key) {
                            found.push(key);
                        }
                    }
                    _ => {
                        let n = format!(
                            "project discovery skipped `{}`: not a project slug this connector reads",
                            crate::error::quote(&text, 100)
                        );
                        if !notices.contains(&n) && !self.notices.contains(&n) {
                            notices.push(n);
                        }
                    }
                }
            }
            self.ok += 1;
            self.notices.append(&mut notices);
            disc.found = found;
            disc.s = 0;
            disc.n = disc.n.saturating_add(1);
            let more_pages = self.settings.start_date.is_some() || disc.n < DISCOVERY_PAGES;
            match page.next_page_token {
                Some(next) if !stop && more_pages && Some(&next) != disc.t.as_ref() => {
                    if next.len() > MAX_TOKEN_LEN {
                        return Err(ConnectorError::BadResponse(format!(
                            "the next_page_token for {what} is longer than {MAX_TOKEN_LEN} bytes"
                        )));
                    }
                    disc.t = Some(next);
                }
                _ => {
                    disc.o += 1;
                    disc.t = None;
                    disc.n = 0;
                    disc.r = 0;
                }
            }
            return Ok(Step::More);
        }
        // Every organisation scanned: the projects are known.
        let mut roots = std::mem::take(&mut disc.found);
        let found = roots.len();
        if let Some(cursor) = &self.cursor {
            for (key, marks) in &cursor.projects {
                // Only keys this connector writes: canonical project slugs.
                let slug = ProjectSlug::parse(key).is_ok_and(|s| s.canonical() == *key);
                if marks.lwm.is_some() && slug && usable_id(key) && !roots.contains(key) {
                    roots.push(key.clone());
                }
            }
        }
        let mut names = roots
            .iter()
            .take(NOTICE_NAMES)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if roots.len() > NOTICE_NAMES {
            names.push_str(&format!(" and {} more", roots.len() - NOTICE_NAMES));
        }
        let scanned = orgs.join(", ");
        let window = match self.settings.start_date {
            Some(_) => "the pipelines created since start_date".to_string(),
            None => format!("the newest {} pipelines", DISCOVERY_PAGES * 20),
        };
        self.notices.push(if roots.is_empty() {
            format!(
                "project discovery found no project in {window} of {}: name the projects in project_slugs",
                if scanned.is_empty() { "any organisation (/me/collaborations is empty)" } else { &scanned }
            )
        } else {
            let extra = roots.len() - found;
            let kept = if extra > 0 {
                format!(", plus {extra} with pipelines unfinished at the last sync")
            } else {
                String::new()
            };
            format!("project discovery found {found} project(s) in {window} of {scanned}{kept}: {names}")
        });
        self.run.roots = Some(roots);
        Ok(Step::More)
    }

    /// The organisations of `/me/collaborations`, in order, once each: their
    /// slug and, when usable, their id.
    fn collaborations(&mut self) -> Result<Vec<(String, Option<String>)>, ConnectorError> {
        let what = "your organisations (/me/collaborations)";
        let (body, _) = self.get("/me/collaborations", &[], what)?;
        let mut orgs: Vec<(String, Option<String>)> = Vec::new();
        for item in json::array(&body, what)? {
            let f = json::fields(&item, what)?;
            if let Some(slug) = json::string_field(&f, "slug")
                && usable_id(&slug)
                && !orgs.iter().any(|(s, _)| *s == slug)
            {
                let id = json::string_field(&f, "id").filter(|id| usable_id(id));
                orgs.push((slug, id));
            }
        }
        Ok(orgs)
    }
}

/// The notice of a page token's 404 that is asked again.
fn strike_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} answered 404 ({n} in a row): the next call asks for that page \
         again; after {MAX_STRIKES} the listing is read again from its first page"
    )
}

/// The notice of a listing read again from its first page.
fn restart_notice(what: &str, n: u8) -> String {
    format!(
        "the page token for {what} went stale (HTTP 404 {} times in a row): reading it again from its \
         first page (restart {n} of at most {MAX_RESTARTS}); records read twice have the same primary key",
        MAX_STRIKES + 1
    )
}

/// A path segment from an id: escaped, and never one that climbs (callers
/// take ids from [`id`] or from a checked state: see [`usable_id`]).
pub fn seg(id: &str) -> String {
    percent_encode(id)
}

/// A field usable as an id in a later request: a string that is a
/// [`usable_id`].
pub fn id(fields: &json::Fields<'_>, name: &str, what: &str) -> Result<String, ConnectorError> {
    match json::string_field(fields, name) {
        Some(id) if usable_id(&id) => Ok(id),
        _ => Err(ConnectorError::BadResponse(format!(
            "an item in the answer for {what} has no usable `{name}`"
        ))),
    }
}

/// A timestamp field, parsed (absent, null or unparsable: `None`).
pub fn ts(fields: &json::Fields<'_>, name: &str) -> Option<Ts> {
    json::string_field(fields, name).and_then(|t| crate::time::parse_ts(&t))
}
