//! The walk itself: one call's batches over the frontier (see the module
//! docs of [`crate::engine`]).

use std::collections::BTreeMap;

use super::{
    At, CLOCK_MARGIN, Cx, MAX_CONCURRENCY, MAX_REQUESTS, On404, RECORD_SOFT_LIMIT, Root,
    STALE_TOKEN_HINT, Tree, Walk, found_from, found_of, restart_notice, strike_notice,
};
use crate::api::{Api, Call};
use crate::error::ConnectorError;
use crate::json;
use crate::model::{Page, StreamRecord};
use crate::settings::Settings;
use crate::slug::ProjectSlug;
use crate::state::{
    Cursor, Item, Listing, MAX_PENDING, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, Pending, RootAcc,
    Run, Stamp, WalkState, usable_id,
};
use crate::time::Ts;

/// What a step of a call did.
pub(super) enum Step {
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

pub(super) struct Walker<'a, 'b> {
    pub(super) api: &'a mut Api<'b>,
    pub(super) settings: &'a Settings,
    pub(super) tree: &'a dyn Tree,
    /// Per slot: the stream's index in the request.
    pub(super) wanted: Vec<Option<u32>>,
    /// Per slot: the stream's cursor from its last finished sync.
    pub(super) cursors: Vec<Option<Cursor>>,
    pub(super) run: Run,
    /// The walk's roots, once known (without `Run::extra`).
    pub(super) roots: Option<Vec<Root>>,
    concurrency: usize,
    records: Vec<StreamRecord>,
    pub(super) notices: Vec<String>,
    /// The page's `skipped` list: each item skipped, and why.
    pub(super) skipped: Vec<String>,
    approvals: usize,
    expired_artifacts: usize,
    /// Requests sent by this call.
    pub(super) sent: usize,
    /// Requests that succeeded (or were skipped as gone): progress.
    pub(super) ok: usize,
}

/// One bounded step of a walk (see [`super::fetch`]).
pub(super) fn run(
    api: &mut Api<'_>,
    settings: &Settings,
    walk: Walk<'_>,
) -> Result<Page, ConnectorError> {
    let Walk {
        tree,
        streams,
        wanted,
        cursors,
        state,
        concurrency,
        skip_failing,
    } = walk;
    let run = state.map(|s| s.run).unwrap_or_default();
    let named = if tree.projects() {
        !settings.project_slugs.is_empty()
    } else {
        settings.org_slug.is_some()
    };
    // Roots are found (and `disc` is under way) only when the settings do
    // not name them, and before any is read. A state that says otherwise
    // would be written back as one that no longer reads.
    let unfound = !named && run.roots.is_none() && (run.next != 0 || !run.open.is_empty());
    if unfound
        || (named && (run.roots.is_some() || run.oid.is_some()))
        || (run.disc.is_some() && (named || !tree.projects()))
        || (run.oid.is_some() && tree.projects())
        || run
            .open
            .iter()
            .any(|l| tree.kind_level(l.k) != l.h.len() + 1)
    {
        return Err(ConnectorError::InvalidState(
            "the state's progress does not fit these streams and settings; pass no state to start over"
                .into(),
        ));
    }
    let mut w = Walker {
        api,
        settings,
        tree,
        wanted,
        cursors,
        run,
        roots: None,
        concurrency: concurrency.clamp(1, MAX_CONCURRENCY),
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
                    "stopped after {} request(s) because a request failed ({}: {}); the next call \
                     asks it first",
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
    let (state, cursors) = if finished {
        (None, w.final_cursors(streams, &fp))
    } else {
        let run = std::mem::take(&mut w.run);
        (Some(WalkState::new(streams, fp, run).encode()), Vec::new())
    };
    Ok(Page {
        records: w.records,
        state,
        has_more: !finished,
        cursors,
        notices: w.notices,
        skipped: w.skipped,
    })
}

/// What replaces a listing of a batch once its answer is handled.
enum Outcome {
    /// These listings (its children, then itself with its next token).
    Replaced(Vec<Listing>),
    /// Itself, marked failed, with the error.
    Failed(ConnectorError),
}

impl Walker<'_, '_> {
    fn budget_spent(&self) -> bool {
        self.sent >= MAX_REQUESTS || self.records.len() >= RECORD_SOFT_LIMIT
    }

    fn step(&mut self) -> Result<Step, ConnectorError> {
        if self.roots.is_none() {
            match self.resolve_roots()? {
                Some(roots) => self.roots = Some(roots),
                None => return self.discover(),
            }
        }
        if !self.run.seeded {
            self.seed();
            self.run.seeded = true;
        }
        let count = self.roots.as_ref().map_or(0, Vec::len);
        if self.run.open.is_empty() && self.run.next >= count {
            return Ok(Step::Done);
        }
        if self.budget_spent() {
            return Ok(Step::Budget);
        }
        let batch = self.batch();
        if batch.is_empty() {
            return Ok(Step::Done);
        }
        self.read(&batch)
    }

    /// The listings to read now (indexes into the frontier): those that
    /// failed last, alone; else the first `concurrency` (opening roots
    /// while there are fewer), within the call's budget.
    fn batch(&mut self) -> Vec<usize> {
        let room = MAX_REQUESTS.saturating_sub(self.sent).min(self.concurrency);
        let failed: Vec<usize> = (0..self.run.open.len())
            .filter(|&i| self.run.open[i].f)
            .take(room)
            .collect();
        if !failed.is_empty() {
            return failed;
        }
        let count = self.roots.as_ref().map_or(0, Vec::len);
        // Items read again come first, alone: their roots' marks must not
        // mix with a new reading of the same roots.
        while self.run.open.len() < room
            && self.run.next < count
            && !self.run.open.iter().any(|l| l.w)
        {
            self.open_root(self.run.next);
            self.run.next += 1;
        }
        (0..self.run.open.len().min(room)).collect()
    }

    /// Opens root `r`'s own listings.
    fn open_root(&mut self, r: usize) {
        let wanted = &self.wanted;
        let kinds = self
            .tree
            .root_kinds(&|slot| wanted.get(slot).is_some_and(Option::is_some));
        let r = r as u32;
        self.run.acc.push(RootAcc {
            r,
            ..RootAcc::default()
        });
        for k in kinds {
            self.run.open.push(Listing {
                r,
                k,
                ..Listing::default()
            });
        }
    }

    /// The root of listings with `r`: a walk root, or one of `Run::extra`.
    fn root(&self, r: u32) -> Result<Root, ConnectorError> {
        let roots = self.roots.as_deref().unwrap_or_default();
        let r = r as usize;
        if let Some(root) = roots.get(r) {
            return Ok(root.clone());
        }
        let key = self.run.extra.get(r - roots.len()).ok_or_else(|| {
            ConnectorError::InvalidState(
                "the state names a project or organisation it does not list; pass no state to start over"
                    .into(),
            )
        })?;
        ProjectSlug::parse(key)
            .ok()
            .filter(|slug| slug.canonical() == *key)
            .map(|slug| Root::project(&slug))
            .ok_or_else(|| {
                ConnectorError::InvalidState(
                    "the state keeps a skipped item of something that is not a project; pass no state to \
                     start over"
                        .into(),
                )
            })
    }

    /// Reads the listings of `batch` together and applies their answers.
    fn read(&mut self, batch: &[usize]) -> Result<Step, ConnectorError> {
        let mut roots = Vec::with_capacity(batch.len());
        let mut reqs = Vec::with_capacity(batch.len());
        let mut queries: Vec<Vec<(&'static str, String)>> = Vec::with_capacity(batch.len());
        for &i in batch {
            let l = &self.run.open[i];
            let root = self.root(l.r)?;
            let req = self.tree.request(l.k, &root, &l.h);
            if req.object && l.t.is_some() {
                return Err(ConnectorError::InvalidState(
                    "the state holds a page token for a single object; pass no state to start over"
                        .into(),
                ));
            }
            let mut query = req.query.clone();
            if let Some(t) = &l.t {
                query.push(("page-token", t.clone()));
            }
            queries.push(query);
            roots.push(root);
            reqs.push(req);
        }
        let pairs: Vec<Vec<(&str, &str)>> = queries
            .iter()
            .map(|q| q.iter().map(|(k, v)| (*k, v.as_str())).collect())
            .collect();
        let calls: Vec<Call<'_>> = reqs
            .iter()
            .zip(&pairs)
            .map(|(req, query)| Call {
                path: &req.path,
                query,
                what: &req.what,
            })
            .collect();
        self.sent += calls.len();
        let answers = self.api.get_all(&calls);

        let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
        let mut yielded = false;
        for (k, answer) in answers.into_iter().enumerate() {
            let i = batch[k];
            let l = self.run.open[i].clone();
            let (req, root) = (&reqs[k], &roots[k]);
            let outcome = match answer {
                Ok((body, date)) => match self.handle(&l, req, root, &body, date) {
                    Ok(listings) => {
                        self.ok += 1;
                        Outcome::Replaced(listings)
                    }
                    Err(e) => Outcome::Failed(e),
                },
                Err(e @ ConnectorError::NotFound(_)) if l.t.is_some() => {
                    let (listings, yields) = self.stale_token(&l, e, &req.what);
                    yielded |= yields;
                    self.ok += 1;
                    Outcome::Replaced(listings)
                }
                // A 403 skips only what may need other rights (an
                // organisation's contexts); elsewhere it is the credential's.
                Err(e @ ConnectorError::Forbidden(_))
                    if !(self.tree.kind_level(l.k) == 1
                        && matches!(req.on_404, On404::Skip(_))) =>
                {
                    Outcome::Failed(e)
                }
                Err(e @ (ConnectorError::NotFound(_) | ConnectorError::Forbidden(_))) => {
                    // Named roots are the settings' word: a wrong one is an error.
                    let named = self.tree.projects() && !self.settings.project_slugs.is_empty();
                    let root_listing = self.tree.kind_level(l.k) == 1;
                    match (&req.on_404, root_listing) {
                        (On404::Fail, true) => Outcome::Failed(e),
                        (On404::Hint(hint), true) if named => Outcome::Failed(e.with_hint(hint)),
                        (on_404, _) => {
                            let hint = match on_404 {
                                On404::Skip(hint) => Some(*hint),
                                _ => None,
                            };
                            self.skip(&l, e.message(), hint);
                            self.ok += 1;
                            Outcome::Replaced(Vec::new())
                        }
                    }
                }
                Err(e) => Outcome::Failed(e),
            };
            outcomes.insert(i, outcome);
        }

        // The new frontier: each read listing replaced in place.
        let mut first_error = None;
        let old = std::mem::take(&mut self.run.open);
        let mut open = Vec::with_capacity(old.len() + 32);
        for (i, mut listing) in old.into_iter().enumerate() {
            match outcomes.remove(&i) {
                None => open.push(listing),
                Some(Outcome::Replaced(listings)) => open.extend(listings),
                Some(Outcome::Failed(e)) => {
                    listing.f = true;
                    open.push(listing);
                    first_error.get_or_insert(e);
                }
            }
        }
        self.run.open = open;
        self.finish_roots();
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(if yielded { Step::Yield } else { Step::More })
    }

    /// Handles one answer of listing `l`: the listings that replace it, or
    /// the error that leaves it to be asked again.
    fn handle(
        &mut self,
        l: &Listing,
        req: &super::Req,
        root: &Root,
        body: &[u8],
        date: Option<Ts>,
    ) -> Result<Vec<Listing>, ConnectorError> {
        let (items, next) = if req.object {
            (vec![json::record(body, &req.what)?], None)
        } else {
            let page = json::list_page(body, &req.what)?;
            if page.next_page_token.is_some() && page.next_page_token == l.t {
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
        let lasts = self.lasts(root);
        let found = match l.w {
            true => [None; 4],
            false => self
                .run
                .acc
                .iter()
                .find(|a| a.r == l.r)
                .map_or([None; 4], |a| found_from(&a.f)),
        };
        let mut cx = Cx {
            settings: self.settings,
            lasts: &lasts,
            wanted: &self.wanted,
            only: if l.w { l.m.max(1) } else { 0 },
            records: Vec::new(),
            children: Vec::new(),
            stop: false,
            approvals: 0,
            expired_artifacts: 0,
            unusable: 0,
            notices: Vec::new(),
            seen: self.run.seen.map(|s| s.map(|s| s.0)),
            found,
            unfinished: [false; 3],
        };
        let at = At {
            kind: l.k,
            level: self.tree.kind_level(l.k),
            root,
            heads: &l.h,
            offset: l.n,
            what: &req.what,
        };
        self.tree.page(&at, &items, &mut cx)?;
        if cx.children.iter().any(|(_, it)| !usable_id(&it.id)) {
            return Err(ConnectorError::BadResponse(format!(
                "an item in the answer for {} has an empty or overlong id",
                req.what
            )));
        }

        // The answer is handled: apply it.
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
        if !l.w
            && let Some(acc) = self.run.acc.iter_mut().find(|a| a.r == l.r)
        {
            acc.f = found_of(&cx.found);
        }
        let read_at = cx
            .seen()
            // Saturating: a `Date` in 1677 would otherwise wrap to 2262.
            .max(date.map(|d| d.saturating_sub(CLOCK_MARGIN)))
            .unwrap_or(0);
        for (level, unfinished) in cx.unfinished.iter().enumerate() {
            if *unfinished {
                let floor = &mut self.run.floor[level];
                *floor = Some(Stamp(floor.map_or(read_at, |f| f.0.min(read_at))));
            }
        }
        self.run.seen = cx.seen.map(|s| s.map(Stamp));
        let count = items.len() as u64;
        let children = std::mem::take(&mut cx.children);
        let mut listings: Vec<Listing> = children
            .into_iter()
            .filter(|(k, item)| l.w || !self.read_again(root, l, *k, item))
            .map(|(k, item)| {
                let mut h = l.h.clone();
                h.push(item);
                Listing {
                    r: l.r,
                    k,
                    h,
                    w: l.w,
                    m: l.m,
                    ..Listing::default()
                }
            })
            .collect();
        if let (false, false, Some(next)) = (req.object, cx.stop, next) {
            listings.push(Listing {
                t: Some(next),
                // Saturating: `n` may come from a forged state.
                n: l.n.saturating_add(count),
                s: 0,
                f: false,
                ..l.clone()
            });
        }
        Ok(listings)
    }

    /// A page token of `l` answered 404 with `e`: counted on the listing,
    /// which is asked again at the next call; after [`MAX_STRIKES`] in a
    /// row, read again from its first page; once that happened
    /// [`MAX_RESTARTS`] times, skipped. Returns what replaces it, and
    /// whether the call ends here.
    fn stale_token(&mut self, l: &Listing, e: ConnectorError, what: &str) -> (Vec<Listing>, bool) {
        if l.s < MAX_STRIKES {
            let s = l.s + 1;
            self.notices.push(strike_notice(what, s));
            return (
                vec![Listing {
                    s,
                    f: false,
                    ..l.clone()
                }],
                true,
            );
        }
        if l.x >= MAX_RESTARTS {
            self.skip(l, e.message(), Some(STALE_TOKEN_HINT));
            return (Vec::new(), false);
        }
        let x = l.x + 1;
        self.notices.push(restart_notice(what, x));
        (
            vec![Listing {
                t: None,
                n: 0,
                s: 0,
                x,
                f: false,
                ..l.clone()
            }],
            false,
        )
    }

    /// Skips listing `l` (its request answered `why`, which names what was
    /// read, and `hint` explains), naming it in the page's `skipped` list.
    /// The caller drops it from the frontier.
    fn skip(&mut self, l: &Listing, why: &str, hint: Option<&str>) {
        let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
        if self.tree.kind_level(l.k) == 1 {
            // A root's own listing: its marks stay as the last sync left
            // them, so the next sync reads its window again.
            if let Some(acc) = self.run.acc.iter_mut().find(|a| a.r == l.r) {
                acc.skip = true;
            }
            self.skipped
                .push(format!("{why}{hint}; skipped in this sync"));
            return;
        }
        let incremental =
            self.tree.feeds(l.k).iter().any(|&s| {
                self.tree.incremental(s) && self.wanted.get(s).is_some_and(Option::is_some)
            });
        let kept = if l.w {
            "read again after the last sync skipped it; let go now"
        } else if !incremental {
            "the next sync reads it again"
        } else if self.run.skipped.len() < MAX_PENDING {
            let root = self.root(l.r).map(|r| r.key).unwrap_or_default();
            self.run.skipped.push(Pending {
                root,
                k: l.k,
                h: l.h.clone(),
            });
            "the next sync tries it once more"
        } else {
            "not kept for another try: this sync keeps the most skipped items it may"
        };
        self.skipped.push(format!("{why}{hint}; {kept}"));
    }

    /// Roots whose listings are all done: what they found goes to the new
    /// cursors (unless one of their own listings was skipped).
    fn finish_roots(&mut self) {
        let open = &self.run.open;
        let (finished, going): (Vec<RootAcc>, Vec<RootAcc>) = std::mem::take(&mut self.run.acc)
            .into_iter()
            .partition(|a| !open.iter().any(|l| l.r == a.r && !l.w));
        self.run.acc = going;
        for acc in finished {
            if acc.skip || !self.any_incremental() {
                continue;
            }
            if let Ok(root) = self.root(acc.r) {
                self.run.done.insert(root.key, acc.f);
            }
        }
    }

    /// Whether any stream asked keeps a cursor.
    pub(super) fn any_incremental(&self) -> bool {
        (0..self.wanted.len()).any(|s| self.wanted[s].is_some() && self.tree.incremental(s))
    }

    /// Skips what the next request belongs to: the host retried it until
    /// its policy gave up (`why`). An error when it is not one item's (see
    /// the module docs).
    fn give_up(&mut self, why: &str) -> Result<(), ConnectorError> {
        let not_an_item = |what: &str| {
            ConnectorError::Unavailable(crate::error::RetryHint {
                retry_after_ms: None,
                message: format!("{why} ({what} is not an item that can be skipped)"),
            })
        };
        if self.roots.is_none() {
            match self.resolve_roots()? {
                Some(roots) => self.roots = Some(roots),
                None => return self.give_up_discovery(why, not_an_item),
            }
        }
        if !self.run.seeded {
            self.seed();
            self.run.seeded = true;
        }
        let batch = self.batch();
        let Some(&i) = batch
            .iter()
            .find(|&&i| self.run.open[i].f)
            .or(batch.first())
        else {
            return Err(not_an_item("the end of the walk"));
        };
        let l = self.run.open.remove(i);
        self.skip(&l, why, None);
        self.ok += 1;
        self.finish_roots();
        Ok(())
    }
}

impl Walker<'_, '_> {
    /// The marks of each stream's cursor for `root` (see [`super::Last`]).
    fn lasts(&self, root: &Root) -> Vec<Option<super::Last>> {
        (0..self.wanted.len())
            .map(|s| {
                if self.wanted[s].is_none() || !self.tree.incremental(s) {
                    return None;
                }
                let cursor = self.cursors.get(s)?.as_ref()?;
                let marks = cursor.projects.get(&root.key)?;
                Some(super::Last {
                    hwm: marks.hwm?.0,
                    lwm: marks.lwm.map(|s| s.0),
                    as_of: cursor.as_of?.0,
                    lookback: self.settings.lookback(),
                })
            })
            .collect()
    }

    /// Whether the listing of `kind` for `item` under `l` is one the last
    /// sync skipped for every asked stream it feeds: this sync read it
    /// again already (before any root), and once is enough.
    fn read_again(&self, root: &Root, l: &Listing, kind: u8, item: &Item) -> bool {
        let mut feeds = self
            .tree
            .feeds(kind)
            .iter()
            .filter(|&&s| self.wanted.get(s).is_some_and(Option::is_some))
            .peekable();
        feeds.peek().is_some()
            && feeds.all(|&s| {
                let Some(Some(cursor)) = self.cursors.get(s) else {
                    return false;
                };
                cursor.retry.iter().any(|p| {
                    p.root == root.key
                        && p.k == kind
                        && p.h.len() == l.h.len() + 1
                        && p.h
                            .iter()
                            .zip(l.h.iter().chain([item]))
                            .all(|(a, b)| a.id == b.id)
                })
            })
    }

    /// Puts the items the last sync skipped (each stream's cursor's
    /// `retry`) on the frontier, once each, to be read again whole.
    fn seed(&mut self) {
        let mut pending: Vec<(Pending, u16)> = Vec::new();
        for s in 0..self.wanted.len() {
            if self.wanted[s].is_none() || !self.tree.incremental(s) {
                continue;
            }
            let Some(Some(cursor)) = self.cursors.get(s) else {
                continue;
            };
            for p in &cursor.retry {
                match pending.iter_mut().find(|(q, _)| super::same_listing(q, p)) {
                    Some((_, mask)) => *mask |= 1 << s,
                    None => pending.push((p.clone(), 1 << s)),
                }
            }
        }
        let count = self.roots.as_ref().map_or(0, Vec::len);
        for (p, m) in pending {
            if self.tree.kind_level(p.k) != p.h.len() + 1 {
                continue; // not a listing of this tree
            }
            let r = match self
                .roots
                .as_ref()
                .and_then(|roots| roots.iter().position(|root| root.key == p.root))
            {
                Some(r) => r,
                None => match self.run.extra.iter().position(|k| *k == p.root) {
                    Some(e) => count + e,
                    None => {
                        self.run.extra.push(p.root.clone());
                        count + self.run.extra.len() - 1
                    }
                },
            };
            self.run.open.push(Listing {
                r: r as u32,
                k: p.k,
                h: p.h,
                w: true,
                m,
                ..Listing::default()
            });
        }
    }

    /// Each asked stream's new cursor, in the request's order, once the
    /// walk is over.
    fn final_cursors(&mut self, streams: &[String], fp: &str) -> Vec<Option<String>> {
        let mut out = vec![None; streams.len()];
        for s in 0..self.wanted.len() {
            let Some(index) = self.wanted[s] else {
                continue;
            };
            if !self.tree.incremental(s) {
                continue;
            }
            let level = self.tree.level(s).clamp(1, 4);
            let mut cursor = self.cursors.get(s).cloned().flatten().unwrap_or_default();
            for (key, found) in &self.run.done {
                let marks = cursor.projects.entry(key.clone()).or_default();
                marks.hwm = marks.hwm.max(found.hwm);
                marks.lwm = found.lwm[..level.min(3)].iter().copied().flatten().min();
            }
            let seen = self.run.seen[..level].iter().copied().flatten().max();
            let floor = self.run.floor[..level.min(3)]
                .iter()
                .copied()
                .flatten()
                .min();
            if let Some(seen) = seen {
                let bound = floor.map_or(seen, |f| f.min(seen));
                cursor.as_of = Some(cursor.as_of.map_or(bound, |old| old.max(bound)));
            }
            // The last sync's skipped items were read again; this walk's
            // wait for the next one.
            cursor.retry = self
                .run
                .skipped
                .iter()
                .filter(|p| self.tree.feeds(p.k).contains(&s))
                .cloned()
                .collect();
            let name = &streams[index as usize];
            out[index as usize] =
                Some(crate::state::CursorState::new(name, fp.to_string(), cursor).encode());
        }
        out
    }
}
