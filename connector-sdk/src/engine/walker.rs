//! The walk itself: one call's batches over the frontier (see the module
//! docs of [`crate::engine`]).

use std::collections::BTreeMap;

use super::roots::Discover;
use super::state::{
    Cursor, CursorState, Found, Item, Listing, MAX_PENDING, MAX_RESTARTS, MAX_STRIKES,
    MAX_TOKEN_LEN, Pending, RootAcc, Run, WalkState, usable_id,
};
use super::{
    At, Budget, CLOCK_MARGIN, COUNTS, Call, Cx, Last, On404, Req, Root, Roots, STALE_TOKEN_HINT,
    Step, Tree, Upstream, Walk, not_an_item, restart_notice, strike_notice,
};
use crate::error::ConnectorError;
use crate::json;
use crate::model::{FetchRequest, Page, StreamRecord};
use crate::state::Stamp;
use crate::time::Ts;

struct Walker<'a, T: ?Sized + Tree, R: Roots> {
    upstream: &'a mut dyn Upstream,
    walk: &'a Walk<'a, T, R>,
    tree: &'a T,
    /// Per slot: the stream's index in the request.
    wanted: Vec<Option<u32>>,
    /// Per slot: the stream's cursor from its last finished sync.
    cursors: Vec<Option<Cursor<T::Item>>>,
    run: Run<T::Item, R::Progress>,
    /// The roots the settings name, if they do.
    given: Option<Vec<Root>>,
    /// The walk's roots, once known (without `Run::extra`).
    roots: Option<Vec<Root>>,
    /// What [`Discover::unfinished`] lists, once asked.
    unfinished: Option<Vec<String>>,
    budget: Budget,
    concurrency: usize,
    records: Vec<StreamRecord>,
    notices: Vec<String>,
    /// The page's `skipped` list: each item skipped, and why.
    skipped: Vec<String>,
    /// The tree's counters, summed over the call.
    counts: [usize; COUNTS],
    /// Requests sent by this call.
    sent: usize,
    /// Requests that succeeded (or were skipped as gone): progress.
    ok: usize,
}

/// One bounded step of a walk (see [`super::fetch`]).
pub(super) fn run<T: ?Sized + Tree, R: Roots>(
    upstream: &mut dyn Upstream,
    walk: &Walk<'_, T, R>,
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let tree = walk.tree;
    let slots = tree.streams().len();
    let mut wanted = vec![None; slots];
    let mut cursors: Vec<Option<Cursor<T::Item>>> = vec![None; slots];
    for (i, (&slot, name)) in walk.slots.iter().zip(&request.streams).enumerate() {
        let Some(want) = wanted.get_mut(slot) else {
            return Err(ConnectorError::InvalidSettings(format!(
                "the stream {name} is not one of this walk's"
            )));
        };
        *want = Some(i as u32);
        let Some(text) = request.cursors.get(i).and_then(Option::as_deref) else {
            continue;
        };
        if !tree.incremental(slot) {
            return Err(ConnectorError::InvalidState(format!(
                "the {name} stream keeps no cursor between syncs; pass none for it"
            )));
        }
        let cursor = CursorState::decode(text, name, &walk.fp, walk.covers)?;
        // What it keeps to read again must be its own listings.
        let own = |p: &Pending<T::Item>| {
            tree.kind_level(p.k) == p.h.len() + 1 && tree.feeds(p.k).contains(&slot)
        };
        if !cursor.retry.iter().all(own) {
            return Err(ConnectorError::InvalidState(format!(
                "the cursor of {name} keeps a skipped item that is not one of its listings; pass \
                 no cursor to read the stream from the start"
            )));
        }
        cursors[slot] = Some(cursor);
    }
    let state = request
        .state
        .as_deref()
        .map(|s| WalkState::decode(s, &request.streams, &walk.fp, walk.covers))
        .transpose()?;
    let run = state.map(|s| s.run).unwrap_or_default();
    let given = walk.roots.given();
    let named = given.is_some();
    // Roots are found (and discovery is under way) only when the settings
    // do not name them, and before any is read. A state that says otherwise
    // would be written back as one that no longer reads.
    let unfound = !named && run.roots.is_none() && (run.next != 0 || !run.open.is_empty());
    if unfound
        || (named && (run.roots.is_some() || run.oid.is_some() || run.disc.is_some()))
        || !walk.roots.fits(run.disc.is_some(), run.oid.is_some())
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
        upstream,
        walk,
        tree,
        wanted,
        cursors,
        run,
        given,
        roots: None,
        unfinished: None,
        budget: walk.budget,
        concurrency: (request.concurrency as usize).clamp(1, walk.budget.concurrency.max(1)),
        records: Vec::new(),
        notices: Vec::new(),
        skipped: Vec::new(),
        counts: [0; COUNTS],
        sent: 0,
        ok: 0,
    };
    if let Some(why) = &request.skip_failing {
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
    tree.notices(walk.settings, &w.counts, &mut w.notices);
    let (state, cursors) = if finished {
        (None, w.final_cursors(&request.streams))
    } else {
        let run = std::mem::take(&mut w.run);
        let state = WalkState::new(&request.streams, walk.fp.clone(), run);
        (Some(state.encode()), Vec::new())
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
enum Outcome<I> {
    /// These listings (its children, then itself with its next token).
    Replaced(Vec<Listing<I>>),
    /// Itself, marked failed, with the error.
    Failed(ConnectorError),
}

impl<T: ?Sized + Tree, R: Roots> Walker<'_, T, R> {
    fn budget_spent(&self) -> bool {
        self.sent >= self.budget.requests || self.records.len() >= self.budget.records
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

    /// The roots, when known without (more) requests: the given ones, or
    /// those discovery found in an earlier call.
    fn resolve_roots(&self) -> Result<Option<Vec<Root>>, ConnectorError> {
        if let Some(given) = &self.given {
            return Ok(Some(given.clone()));
        }
        match &self.run.roots {
            Some(keys) => self
                .walk
                .roots
                .found(keys, self.run.oid.as_deref())
                .map(Some),
            None => Ok(None),
        }
    }

    /// The context of a discovery step.
    fn discovering(&mut self) -> Discover<'_, R::Progress> {
        if self.unfinished.is_none() {
            let mut keys = Vec::new();
            for s in 0..self.wanted.len() {
                if self.wanted[s].is_none() || !self.tree.incremental(s) {
                    continue;
                }
                let Some(Some(cursor)) = self.cursors.get(s) else {
                    continue;
                };
                for (key, marks) in &cursor.roots {
                    if marks.lwm.is_some() {
                        keys.push(key.clone());
                    }
                }
            }
            self.unfinished = Some(keys);
        }
        Discover {
            upstream: &mut *self.upstream,
            progress: &mut self.run.disc,
            notices: &mut self.notices,
            skipped: &mut self.skipped,
            roots: &mut self.run.roots,
            ids: &mut self.run.oid,
            sent: &mut self.sent,
            ok: &mut self.ok,
            unfinished: self.unfinished.as_deref().unwrap_or_default(),
        }
    }

    /// One step of finding the roots, by the connector's hook.
    fn discover(&mut self) -> Result<Step, ConnectorError> {
        if self.sent >= self.budget.requests {
            return Ok(Step::Budget);
        }
        let roots = self.walk.roots;
        let step = roots.discover(&mut self.discovering())?;
        if self.run.roots.is_some() {
            self.run.disc = None;
        }
        Ok(step)
    }

    /// The listings to read now (indexes into the frontier): those that
    /// failed last, alone; else the first `concurrency` (opening roots
    /// while there are fewer), within the call's budget.
    fn batch(&mut self) -> Vec<usize> {
        let room = self
            .budget
            .requests
            .saturating_sub(self.sent)
            .min(self.concurrency);
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
                "the state names a root it does not list; pass no state to start over".into(),
            )
        })?;
        self.walk.roots.root(key)
    }

    /// Reads the listings of `batch` together and applies their answers.
    fn read(&mut self, batch: &[usize]) -> Result<Step, ConnectorError> {
        let tree = self.tree;
        let mut roots = Vec::with_capacity(batch.len());
        let mut reqs: Vec<Req<'_>> = Vec::with_capacity(batch.len());
        let mut queries: Vec<Vec<(&'static str, String)>> = Vec::with_capacity(batch.len());
        for &i in batch {
            let l = &self.run.open[i];
            let root = self.root(l.r)?;
            let mut req = tree.request(l.k, &root, &l.h);
            let mut query = std::mem::take(&mut req.query);
            match req.paging {
                Some(paging) => paging.ask(l.t.as_deref(), &mut query)?,
                None if l.t.is_some() => {
                    return Err(ConnectorError::InvalidState(
                        "the state holds a page token for a single object; pass no state to start over"
                            .into(),
                    ));
                }
                None => {}
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
        let answers = self.upstream.get_all(&calls);
        if answers.len() != calls.len() {
            return Err(ConnectorError::BadResponse(format!(
                "{} answer(s) for {} request(s)",
                answers.len(),
                calls.len()
            )));
        }

        let mut outcomes: BTreeMap<usize, Outcome<T::Item>> = BTreeMap::new();
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
                // A 403 skips only what may need other rights (the request
                // says so); elsewhere it is the credential's.
                Err(e @ ConnectorError::Forbidden(_))
                    if !(self.tree.kind_level(l.k) == 1
                        && matches!(req.on_404, On404::Skip(_))) =>
                {
                    Outcome::Failed(e)
                }
                Err(e @ (ConnectorError::NotFound(_) | ConnectorError::Forbidden(_))) => {
                    // Named roots are the settings' word: a wrong one is an error.
                    let named = self.given.is_some();
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
        l: &Listing<T::Item>,
        req: &Req<'_>,
        root: &Root,
        body: &[u8],
        date: Option<Ts>,
    ) -> Result<Vec<Listing<T::Item>>, ConnectorError> {
        let (items, next) = match req.paging {
            None => (vec![json::record(body, &req.what)?], None),
            Some(paging) => {
                let page = paging.read(body, l.t.as_deref(), &req.what)?;
                // Whatever the paging checked: a token that loops, or that
                // would not fit the state, ends here.
                if page.next.is_some() && page.next == l.t {
                    return Err(ConnectorError::BadResponse(format!(
                        "the answer for {} names the page it is as the next one; stopping rather \
                         than looping",
                        req.what
                    )));
                }
                if page.next.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_LEN) {
                    return Err(ConnectorError::BadResponse(format!(
                        "the next page's token for {} is longer than {MAX_TOKEN_LEN} bytes",
                        req.what
                    )));
                }
                (page.items, page.next)
            }
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
            settings: self.walk.settings,
            lasts: &lasts,
            wanted: &self.wanted,
            only: if l.w { l.m.max(1) } else { 0 },
            records: Vec::new(),
            children: Vec::new(),
            stop: false,
            counts: [0; COUNTS],
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
        if cx.children.iter().any(|(_, it)| !usable_id(it.id())) {
            return Err(ConnectorError::BadResponse(format!(
                "an item in the answer for {} has an empty or overlong id",
                req.what
            )));
        }

        // The answer is handled: apply it.
        self.records.append(&mut cx.records);
        self.notices.append(&mut cx.notices);
        for (sum, n) in self.counts.iter_mut().zip(cx.counts) {
            *sum += n;
        }
        if cx.unusable > 0 {
            let why = match self.tree.unusable_why() {
                Some(why) => format!(" ({why})"),
                None => String::new(),
            };
            self.skipped.push(format!(
                "{} item(s) listed in {} without a usable id{why}: nothing of them or under them \
                 can be read",
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
        let mut listings: Vec<Listing<T::Item>> = children
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
        if let (Some(_), false, Some(next)) = (req.paging, cx.stop, next) {
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
    fn stale_token(
        &mut self,
        l: &Listing<T::Item>,
        e: ConnectorError,
        what: &str,
    ) -> (Vec<Listing<T::Item>>, bool) {
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
    fn skip(&mut self, l: &Listing<T::Item>, why: &str, hint: Option<&str>) {
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
    fn any_incremental(&self) -> bool {
        (0..self.wanted.len()).any(|s| self.wanted[s].is_some() && self.tree.incremental(s))
    }

    /// Skips what the next request belongs to: the host retried it until
    /// its policy gave up (`why`). An error when it is not one item's (see
    /// the module docs).
    fn give_up(&mut self, why: &str) -> Result<(), ConnectorError> {
        if self.roots.is_none() {
            match self.resolve_roots()? {
                Some(roots) => self.roots = Some(roots),
                None => {
                    let roots = self.walk.roots;
                    return roots.give_up(&mut self.discovering(), why);
                }
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
            return Err(not_an_item(why, "the end of the walk"));
        };
        let l = self.run.open.remove(i);
        self.skip(&l, why, None);
        self.ok += 1;
        self.finish_roots();
        Ok(())
    }

    /// The marks of each stream's cursor for `root` (see [`Last`]).
    fn lasts(&self, root: &Root) -> Vec<Option<Last>> {
        (0..self.wanted.len())
            .map(|s| {
                if self.wanted[s].is_none() || !self.tree.incremental(s) {
                    return None;
                }
                let cursor = self.cursors.get(s)?.as_ref()?;
                let marks = cursor.roots.get(&root.key)?;
                Some(Last {
                    hwm: marks.hwm?.0,
                    lwm: marks.lwm.map(|s| s.0),
                    as_of: cursor.as_of?.0,
                    lookback: self.walk.lookback,
                })
            })
            .collect()
    }

    /// Whether the listing of `kind` for `item` under `l` is one the last
    /// sync skipped for every asked stream it feeds: this sync read it
    /// again already (before any root), and once is enough.
    fn read_again(&self, root: &Root, l: &Listing<T::Item>, kind: u8, item: &T::Item) -> bool {
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
                            .all(|(a, b)| a.id() == b.id())
                })
            })
    }

    /// Puts the items the last sync skipped (each stream's cursor's
    /// `retry`) on the frontier, once each, to be read again whole.
    fn seed(&mut self) {
        let mut pending: Vec<(Pending<T::Item>, u16)> = Vec::new();
        for s in 0..self.wanted.len() {
            if self.wanted[s].is_none() || !self.tree.incremental(s) {
                continue;
            }
            let Some(Some(cursor)) = self.cursors.get(s) else {
                continue;
            };
            for p in &cursor.retry {
                match pending.iter_mut().find(|(q, _)| q.same_listing(p)) {
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
    fn final_cursors(&mut self, streams: &[String]) -> Vec<Option<String>> {
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
                let marks = cursor.roots.entry(key.clone()).or_default();
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
                Some(CursorState::new(name, self.walk.fp.clone(), cursor).encode());
        }
        out
    }
}

/// A root's found marks as the state keeps them, and back.
fn found_of(found: &[Option<Ts>; 4]) -> Found {
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
