//! The walker against a tiny fake upstream: roots → parents → children,
//! each listing paged by an opaque token. What any tree gets from the
//! engine: every record once, each listing read once, bounded calls that
//! resume from their state, failures that leave a state pointing at what
//! is still to ask, stale page tokens, skipped items kept for the next
//! sync, discovery by a hook, and the marks of incremental streams.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;
use crate::state::Stamp;
use crate::time::{format_ts, parse_ts};

/// The parents listing of each root and the children listing of each
/// parent are the tree's two kinds; each stream's slot is the kind its
/// records come from.
const PARENTS: usize = 0;
const CHILDREN: usize = 1;
const PAGE: usize = 3;
const PAGES: TokenPages = TokenPages {
    key: "page",
    items: "items",
    next: "next",
    upstream: "the fake",
};
const FP: &str = "00000000000000fa";
const COVERS: &str = "the fake's settings";

/// An item of the chain: its id and, for a parent, its time (the extra
/// the children's handler reads back, for their records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<Stamp>,
}

impl Item for Head {
    fn new(id: String) -> Head {
        Head { id, at: None }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// The tree's settings: whether its streams keep cursors.
struct Settings {
    incremental: bool,
}

struct Family;

impl Tree for Family {
    type Item = Head;
    type Settings = Settings;

    fn streams(&self) -> &'static [&'static str] {
        &["parents", "children"]
    }

    fn incremental(&self, _slot: usize) -> bool {
        true
    }

    fn level(&self, slot: usize) -> usize {
        slot + 1
    }

    fn kind_level(&self, kind: u8) -> usize {
        match usize::from(kind) {
            PARENTS => 1,
            CHILDREN => 2,
            _ => 0,
        }
    }

    fn feeds(&self, kind: u8) -> &'static [usize] {
        match usize::from(kind) {
            PARENTS => &[PARENTS, CHILDREN],
            CHILDREN => &[CHILDREN],
            _ => &[],
        }
    }

    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8> {
        if wants(PARENTS) || wants(CHILDREN) {
            vec![PARENTS as u8]
        } else {
            Vec::new()
        }
    }

    fn request(&self, kind: u8, root: &Root, heads: &[Head]) -> Req<'_> {
        let (path, what) = match usize::from(kind) {
            PARENTS => (
                format!("/r/{}/parents", root.path),
                format!("parents of {}", root.name),
            ),
            _ => {
                let p = heads.first().map_or("", |h| h.id.as_str());
                (
                    format!("/p/{}/children", seg(p)),
                    format!("children of {p}"),
                )
            }
        };
        Req {
            path,
            query: vec![("size", PAGE.to_string())],
            what,
            paging: Some(&PAGES),
            on_404: match usize::from(kind) {
                PARENTS => On404::Hint("check the root"),
                _ => On404::Skip("the parent is gone"),
            },
        }
    }

    fn page(
        &self,
        at: &At<'_, Head>,
        items: &[Record<'_>],
        cx: &mut Cx<'_, Head, Settings>,
    ) -> Result<(), ConnectorError> {
        if usize::from(at.kind) == CHILDREN {
            let parent = &at.heads[0];
            for item in items {
                cx.see(2, parent.at.map(|s| s.0));
                let keys = [("parent", json::string(&parent.id))];
                cx.emit(CHILDREN, json::with_keys(&item.text, &item.fields, &keys));
            }
            cx.counts[0] += items.len();
            return Ok(());
        }
        for item in items {
            let created = ts(&item.fields, "at").ok_or_else(|| {
                ConnectorError::BadResponse(format!("a parent in {} has no time", at.what))
            })?;
            cx.see(1, Some(created));
            cx.newest(created);
            if json::string_field(&item.fields, "open").is_some() {
                cx.unfinished(1, Some(created));
            }
            let Some(id) = cx.usable_id(&item.fields, "id") else {
                continue;
            };
            if cx.last(PARENTS).is_none_or(|l| created > l.hwm) {
                cx.emit(PARENTS, item.text.clone());
            }
            if cx.wants(CHILDREN)
                && cx
                    .last(CHILDREN)
                    .is_none_or(|l| created >= l.window_start())
            {
                let head = Head {
                    id,
                    at: Some(Stamp(created)),
                };
                cx.open(CHILDREN as u8, head);
            }
        }
        Ok(())
    }

    fn unusable_why(&self) -> Option<&'static str> {
        Some("the fake lists some with a null id")
    }

    fn notices(&self, settings: &Settings, counts: &[usize; COUNTS], notices: &mut Vec<String>) {
        if settings.incremental && counts[0] > 0 {
            notices.push(format!("{} children read", counts[0]));
        }
    }
}

/// Minutes after 2026-05-01T00:00:00Z.
fn t(minutes: i64) -> Ts {
    parse_ts("2026-05-01T00:00:00Z").unwrap() + minutes * 60 * NANOS
}

/// A failure to answer instead of the real thing.
struct Failure {
    /// Fails requests whose URL contains this.
    part: String,
    /// `404`, `403` or anything else for a 503.
    status: u16,
    times: usize,
}

/// The fake upstream: per root, its parents (newest first) with their
/// children; every request logged; chosen requests fail.
#[derive(Default)]
struct Fake {
    /// Per root key: (id, created, open, children).
    roots: BTreeMap<String, Vec<(String, Ts, bool, usize)>>,
    failures: Vec<Failure>,
    log: Vec<String>,
    batches: Vec<usize>,
}

impl Fake {
    /// Roots `a` and `b`, with `n` and 2 parents, parent `i` of `a`
    /// created at minute `i` with `i % 5` children.
    fn new(n: usize) -> Fake {
        let mut fake = Fake::default();
        let a = (0..n)
            .rev()
            .map(|i| (format!("a{i}"), t(i as i64), false, i % 5))
            .collect();
        fake.roots.insert("a".into(), a);
        let b = vec![
            ("b1".to_string(), t(100), false, 1),
            ("b0".to_string(), t(50), false, 2),
        ];
        fake.roots.insert("b".into(), b);
        fake
    }

    fn fail(&mut self, part: &str, status: u16, times: usize) {
        self.failures.push(Failure {
            part: part.into(),
            status,
            times,
        });
    }

    fn answer(&mut self, call: &Call<'_>) -> Answer {
        let mut url = call.path.to_string();
        for (i, (k, v)) in call.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{k}={v}"));
        }
        self.log.push(url.clone());
        if let Some(f) = self
            .failures
            .iter_mut()
            .find(|f| f.times > 0 && url.contains(&f.part))
        {
            f.times -= 1;
            let message = format!("{} failed ({})", call.what, f.status);
            return Err(match f.status {
                404 => ConnectorError::NotFound(message),
                403 => ConnectorError::Forbidden(message),
                _ => ConnectorError::Unavailable(RetryHint {
                    retry_after_ms: None,
                    message,
                }),
            });
        }
        let items: Vec<String> = match call.path.split('/').collect::<Vec<_>>()[..] {
            ["", "r", root, "parents"] => {
                let Some(parents) = self.roots.get(root) else {
                    return Err(ConnectorError::NotFound(format!("no root {root}")));
                };
                parents
                    .iter()
                    .map(|(id, at, open, _)| {
                        let id = if id.is_empty() {
                            "null".to_string()
                        } else {
                            json::string(id)
                        };
                        let open = if *open { r#","open":"yes""# } else { "" };
                        format!(r#"{{"id":{id},"at":"{}"{open}}}"#, format_ts(*at))
                    })
                    .collect()
            }
            ["", "p", parent, "children"] => {
                let Some((_, _, _, n)) = self.roots.values().flatten().find(|p| p.0 == parent)
                else {
                    return Err(ConnectorError::NotFound(format!("no parent {parent}")));
                };
                (0..*n)
                    .map(|c| format!(r#"{{"id":"{parent}-c{c}"}}"#))
                    .collect()
            }
            _ => return Err(ConnectorError::NotFound(format!("no {}", call.path))),
        };
        let start = match call.query.iter().find(|(k, _)| *k == "page") {
            None => 0,
            Some((_, token)) => match token.strip_prefix("o:").and_then(|n| n.parse().ok()) {
                Some(n) if n <= items.len() => n,
                _ => return Err(ConnectorError::NotFound("no such page".into())),
            },
        };
        let end = (start + PAGE).min(items.len());
        let next = if end < items.len() {
            format!(r#""o:{end}""#)
        } else {
            "null".into()
        };
        let body = format!(
            r#"{{"items":[{}],"next":{next}}}"#,
            items[start..end].join(",")
        );
        Ok((body.into_bytes(), Some(t(1000))))
    }
}

impl Upstream for Fake {
    fn get_all(&mut self, batch: &[Call<'_>]) -> Vec<Answer> {
        self.batches.push(batch.len());
        batch.iter().map(|call| self.answer(call)).collect()
    }
}

fn root(key: &str) -> Root {
    Root {
        key: key.into(),
        path: key.into(),
        name: format!("root {key}"),
        id: None,
    }
}

/// Walks of the fake's roots `a` and `b`.
fn walk<'a, R: Roots>(
    roots: &'a R,
    slots: &'a [usize],
    settings: &'a Settings,
) -> Walk<'a, Family, R> {
    Walk {
        tree: &Family,
        settings,
        roots,
        slots,
        fp: FP.into(),
        covers: COVERS,
        lookback: 30 * 60 * NANOS,
        budget: Budget {
            requests: 4,
            records: 100,
            concurrency: 2,
        },
    }
}

const ALL: &[usize] = &[PARENTS, CHILDREN];
const NAMES: &[&str] = &["parents", "children"];

/// What a whole sync returned.
#[derive(Debug, Default)]
struct Sync {
    /// Per stream: its records.
    records: Vec<Vec<String>>,
    notices: Vec<String>,
    skipped: Vec<String>,
    calls: usize,
    cursors: Vec<Option<String>>,
}

/// Calls `fetch` until the sync ends, from `cursors`, checking that no
/// call exceeds the budget.
fn sync<R: Roots>(
    fake: &mut Fake,
    walk: &Walk<'_, Family, R>,
    cursors: Vec<Option<String>>,
) -> Sync {
    let names: Vec<&str> = walk.slots.iter().map(|&s| NAMES[s]).collect();
    let mut request = FetchRequest::new(&names, "");
    request.cursors = cursors;
    request.concurrency = 8;
    let mut out = Sync {
        records: vec![Vec::new(); names.len()],
        ..Sync::default()
    };
    loop {
        let before = fake.log.len();
        let page = fetch(fake, walk, &request).unwrap();
        out.calls += 1;
        assert!(fake.log.len() - before <= walk.budget.requests);
        for r in page.records {
            out.records[r.stream as usize].push(r.data);
        }
        out.notices.extend(page.notices);
        out.skipped.extend(page.skipped);
        if !page.has_more {
            assert_eq!(page.state, None);
            out.cursors = page.cursors;
            return out;
        }
        assert!(page.cursors.is_empty());
        request.state = page.state;
        assert!(out.calls < 1000, "runaway sync");
    }
}

fn ids(records: &[String], field: &str) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r).unwrap();
            v[field].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

#[test]
fn walks_every_listing_once_depth_first_in_bounded_calls() {
    let mut fake = Fake::new(7);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a"), root("b")]);
    let s = sync(&mut fake, &walk(&roots, ALL, &settings), Vec::new());
    // Every parent once, newest first; the second root is opened as soon
    // as the frontier has room for it (two requests in flight).
    assert_eq!(
        ids(&s.records[0], "id"),
        ["a6", "a5", "a4", "b1", "b0", "a3", "a2", "a1", "a0"]
    );
    // Every child once, each parent's together and in order.
    let mut children = ids(&s.records[1], "id");
    assert_eq!(children.len(), 14);
    let a4: Vec<&String> = children.iter().filter(|c| c.starts_with("a4-")).collect();
    assert_eq!(a4, ["a4-c0", "a4-c1", "a4-c2", "a4-c3"]);
    children.sort();
    children.dedup();
    assert_eq!(children.len(), 14);
    assert_eq!(ids(&s.records[1], "parent")[0], "a6");
    // 3 pages of a's parents, 1 of b's, one listing of children per
    // parent (a4's has a second page).
    assert_eq!(fake.log.len(), 3 + 1 + 9 + 1);
    // Four requests a call, two at a time.
    assert_eq!(s.calls, 14_usize.div_ceil(4));
    assert!(fake.batches.iter().all(|&n| n <= 2));
    assert!(s.skipped.is_empty() && s.notices.is_empty(), "{s:?}");
    assert_eq!(s.cursors.len(), 2);
    // The paging's query key follows the request's own query.
    assert_eq!(fake.log[0], "/r/a/parents?size=3");
    assert!(
        fake.log
            .contains(&"/r/a/parents?size=3&page=o:3".to_string())
    );
}

#[test]
fn a_stream_alone_reads_only_what_it_needs() {
    let mut fake = Fake::new(7);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a"), root("b")]);
    let s = sync(&mut fake, &walk(&roots, &[PARENTS], &settings), Vec::new());
    assert_eq!(s.records[0].len(), 9);
    assert_eq!(fake.log.len(), 4, "no children listed: {:?}", fake.log);
}

#[test]
fn a_failed_request_leaves_its_listing_to_be_asked_first() {
    let mut fake = Fake::new(4);
    fake.fail("/p/a2/children", 503, 1);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a")]);
    let w = walk(&roots, ALL, &settings);
    let mut request = FetchRequest::new(&["parents", "children"], "");
    request.concurrency = 2;
    // The batch a3, a2: a3 is applied, a2 stays, marked.
    let first = fetch(&mut fake, &w, &request).unwrap();
    assert!(first.has_more);
    assert!(
        first.notices.iter().any(|n| n.starts_with("stopped after")),
        "{first:?}"
    );
    let state = first.state.clone().unwrap();
    assert!(state.contains(r#""f":true"#), "{state}");
    // Asked first, alone: failing again with nothing else done is the error.
    fake.fail("/p/a2/children", 503, 1);
    request.state = Some(state.clone());
    let before = fake.log.len();
    let e = fetch(&mut fake, &w, &request).unwrap_err();
    assert_eq!(e.kind(), "unavailable");
    assert_eq!(fake.log[before..], ["/p/a2/children?size=3"]);
    // The host gives up on it: skipped, named, and the walk goes on.
    request.skip_failing = Some("503 seven times".into());
    let page = fetch(&mut fake, &w, &request).unwrap();
    assert_eq!(page.skipped.len(), 1);
    assert!(
        page.skipped[0].starts_with("503 seven times; the next sync tries it once more"),
        "{:?}",
        page.skipped
    );
    // Nothing to skip past the end.
    request.skip_failing = Some("why".into());
    request.state = None;
    let mut done = Fake::new(0);
    done.roots.clear();
    let none = Given(Vec::new());
    let e = fetch(&mut done, &walk(&none, ALL, &settings), &request).unwrap_err();
    assert!(
        e.message().contains("the end of the walk is not an item"),
        "{e}"
    );
}

#[test]
fn stale_tokens_are_asked_again_then_restarted_then_skipped() {
    let mut fake = Fake::new(7);
    // The second page of a's parents answers 404 every time.
    fake.fail("/r/a/parents?size=3&page=o:3", 404, usize::MAX);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a")]);
    let s = sync(&mut fake, &walk(&roots, &[PARENTS], &settings), Vec::new());
    let strikes = s
        .notices
        .iter()
        .filter(|n| n.contains("answered 404"))
        .count();
    let restarts = s
        .notices
        .iter()
        .filter(|n| n.contains("went stale"))
        .count();
    // Each reading: MAX_STRIKES asked again, then a restart; the last
    // reading's stale token skips the listing.
    assert_eq!(strikes, (MAX_RESTARTS as usize + 1) * MAX_STRIKES as usize);
    assert_eq!(restarts, MAX_RESTARTS as usize);
    assert_eq!(s.skipped.len(), 1);
    assert!(s.skipped[0].contains(STALE_TOKEN_HINT), "{:?}", s.skipped);
    // The first page is read once per reading; duplicates are the host's.
    assert_eq!(s.records[0].len(), PAGE * (MAX_RESTARTS as usize + 1));
}

#[test]
fn unusable_ids_and_gone_items_are_skipped_where_they_are() {
    let mut fake = Fake::new(3);
    fake.roots.get_mut("a").unwrap()[1].0 = String::new();
    fake.fail("/p/a0/children", 404, 1);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a")]);
    let s = sync(&mut fake, &walk(&roots, ALL, &settings), Vec::new());
    assert_eq!(ids(&s.records[0], "id"), ["a2", "a0"]);
    assert_eq!(
        s.skipped,
        [
            "1 item(s) listed in parents of root a without a usable id (the fake lists some with \
             a null id): nothing of them or under them can be read",
            "children of a0 failed (404) (the parent is gone); the next sync tries it once more"
        ]
    );
}

#[test]
fn a_given_root_that_is_not_found_is_an_error_with_the_hint() {
    let mut fake = Fake::new(3);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("zz")]);
    let request = FetchRequest::new(&["parents"], "");
    let e = fetch(&mut fake, &walk(&roots, &[PARENTS], &settings), &request).unwrap_err();
    assert_eq!(e.kind(), "not-found");
    assert!(e.message().ends_with("check the root"), "{e}");
}

/// Discovery by a hook: one request per step, the roots found at its end.
struct Discovered;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    /// Roots found so far.
    found: Vec<String>,
}

impl Progress for Scan {
    fn check(&self) -> bool {
        self.found.iter().all(|k| usable_id(k))
    }
}

impl Roots for Discovered {
    type Progress = Scan;

    fn given(&self) -> Option<Vec<Root>> {
        None
    }

    fn found(&self, keys: &[String], _: Option<&[String]>) -> Result<Vec<Root>, ConnectorError> {
        Ok(keys.iter().map(|k| root(k)).collect())
    }

    fn root(&self, key: &str) -> Result<Root, ConnectorError> {
        Ok(root(key))
    }

    fn fits(&self, _progress: bool, ids: bool) -> bool {
        !ids
    }

    fn discover(&self, d: &mut Discover<'_, Scan>) -> Result<Step, ConnectorError> {
        let mut scan = d.progress.take().unwrap_or_default();
        let next = ["a", "b"]
            .into_iter()
            .find(|k| !scan.found.iter().any(|f| f == k));
        match next {
            Some(key) => {
                let body = d.get(&format!("/r/{key}/parents"), &[], "a probe")?;
                d.answered();
                if !body.is_empty() {
                    scan.found.push(key.to_string());
                }
                *d.progress = Some(scan);
                // One step a call, so that the progress is in the state.
                Ok(Step::Yield)
            }
            None => {
                let mut keys = scan.found;
                keys.extend(
                    d.unfinished()
                        .iter()
                        .filter(|k| !keys.contains(k))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                d.notices.push(format!("found {}", keys.join(", ")));
                d.found(keys, None);
                Ok(Step::More)
            }
        }
    }

    fn give_up(&self, d: &mut Discover<'_, Scan>, why: &str) -> Result<(), ConnectorError> {
        d.skipped.push(format!("discovery: {why}"));
        d.found(Vec::new(), None);
        d.answered();
        Ok(())
    }
}

#[test]
fn roots_are_discovered_by_the_hook_across_calls() {
    let mut fake = Fake::new(2);
    let settings = Settings { incremental: false };
    let w = walk(&Discovered, &[PARENTS], &settings);
    let mut request = FetchRequest::new(&["parents"], "");
    let first = fetch(&mut fake, &w, &request).unwrap();
    let state = first.state.unwrap();
    assert!(state.contains(r#""disc":{"found":["a"]}"#), "{state}");
    request.state = Some(state);
    let second = fetch(&mut fake, &w, &request).unwrap();
    assert!(
        second
            .state
            .unwrap()
            .contains(r#""disc":{"found":["a","b"]}"#)
    );
    let s = sync(&mut fake, &w, Vec::new());
    assert_eq!(s.notices, ["found a, b"]);
    assert_eq!(ids(&s.records[0], "id"), ["a1", "a0", "b1", "b0"]);
    // A state of discovered roots does not fit given roots.
    let given = Given(vec![root("a")]);
    request.state = Some(
        WalkState::<Head, ()>::new(
            &["parents".to_string()],
            FP.into(),
            Run {
                roots: Some(vec!["a".into()]),
                ..Run::default()
            },
        )
        .encode(),
    );
    let e = fetch(&mut fake, &walk(&given, &[PARENTS], &settings), &request).unwrap_err();
    assert!(e.message().contains("does not fit"), "{e}");
    // Giving up on discovery is the hook's.
    request.state = None;
    request.skip_failing = Some("no answer".into());
    let page = fetch(&mut fake, &w, &request).unwrap();
    assert_eq!(page.skipped, ["discovery: no answer"]);
}

#[test]
fn incremental_marks_skipped_items_and_reading_them_again() {
    let mut fake = Fake::new(5);
    // a3 is unfinished; a1's children are gone for the first sync.
    fake.roots.get_mut("a").unwrap()[1].2 = true;
    fake.fail("/p/a1/children", 404, 1);
    let settings = Settings { incremental: true };
    let roots = Given(vec![root("a")]);
    let w = walk(&roots, ALL, &settings);
    let first = sync(&mut fake, &w, Vec::new());
    assert_eq!(first.records[0].len(), 5);
    // The tree's counter, summed over each call.
    let counted: usize = first
        .notices
        .iter()
        .map(|n| {
            n.strip_suffix(" children read")
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, first.records[1].len());
    let cursor = first.cursors[1].clone().unwrap();
    let value: serde_json::Value = serde_json::from_str(&cursor).unwrap();
    let marks = &value["cursor"]["projects"]["a"];
    assert_eq!(marks["hwm"], format_ts(t(4)));
    assert_eq!(marks["lwm"], format_ts(t(3)));
    assert_eq!(value["cursor"]["retry"][0]["h"][0]["id"], "a1");
    // The newest time seen: the unfinished parent was read after it (the
    // answers' `Date`, less the clock margin, is later still).
    assert_eq!(value["cursor"]["as_of"], format_ts(t(4)));

    // The next sync: a new parent; a1's children are read again first, as
    // new, then the window after hwm - lookback (30 minutes: all of a).
    fake.roots
        .get_mut("a")
        .unwrap()
        .insert(0, ("a9".into(), t(9), false, 1));
    fake.log.clear();
    let second = sync(&mut fake, &w, first.cursors.clone());
    assert_eq!(fake.log[0], "/p/a1/children?size=3");
    assert_eq!(ids(&second.records[0], "id"), ["a9"]);
    assert_eq!(
        ids(&second.records[1], "id")[..2],
        ["a1-c0".to_string(), "a9-c0".to_string()]
    );
    // a1 was read again already: its listing is not read twice.
    assert_eq!(fake.log.iter().filter(|u| u.contains("/p/a1/")).count(), 1);
    let value: serde_json::Value =
        serde_json::from_str(second.cursors[1].as_ref().unwrap()).unwrap();
    assert_eq!(value["cursor"]["projects"]["a"]["hwm"], format_ts(t(9)));
    assert!(value["cursor"].get("retry").is_none());
}

#[test]
fn states_are_checked_before_any_request() {
    let mut fake = Fake::new(5);
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a")]);
    let w = walk(&roots, ALL, &settings);
    let mut request = FetchRequest::new(&["parents", "children"], "");
    let page = fetch(&mut fake, &w, &request).unwrap();
    let state = page.state.unwrap();
    fake.log.clear();
    for (forged, why) in [
        (
            state.replace(FP, "0000000000000000"),
            "changed since this state",
        ),
        (state.replace(r#""v":2"#, r#""v":3"#), "version 3"),
        (
            state.replace(r#""r":0"#, r#""r":0,"q":1"#),
            "not one this connector wrote",
        ),
        (state.replace(r#""n":3"#, r#""n":3,"s":9"#), "out of bounds"),
    ] {
        request.state = Some(forged.clone());
        let e = fetch(&mut fake, &w, &request).unwrap_err();
        assert_eq!(e.kind(), "invalid-state", "{forged}");
        assert!(e.message().contains(why), "{forged}: {e}");
    }
    // A cursor for a stream that keeps none, a walk of other streams.
    request.state = Some(state.clone());
    request.cursors = vec![None, Some("{}".into())];
    let no_cursors = Walk {
        tree: &NotIncremental,
        settings: &settings,
        roots: &roots,
        slots: ALL,
        fp: FP.into(),
        covers: COVERS,
        lookback: 0,
        budget: Budget::default(),
    };
    let e = fetch(&mut fake, &no_cursors, &request).unwrap_err();
    assert!(e.message().contains("keeps no cursor"), "{e}");
    request.cursors.clear();
    let e = fetch(&mut fake, &walk(&roots, &[PARENTS], &settings), &{
        let mut r = FetchRequest::new(&["parents"], "");
        r.state = Some(state);
        r
    })
    .unwrap_err();
    assert!(
        e.message()
            .contains("belongs to a walk of parents,children"),
        "{e}"
    );
    assert!(fake.log.is_empty());
}

/// The family tree with streams that keep no cursor.
struct NotIncremental;

impl Tree for NotIncremental {
    type Item = Head;
    type Settings = Settings;

    fn streams(&self) -> &'static [&'static str] {
        Family.streams()
    }
    fn level(&self, slot: usize) -> usize {
        Family.level(slot)
    }
    fn kind_level(&self, kind: u8) -> usize {
        Family.kind_level(kind)
    }
    fn feeds(&self, kind: u8) -> &'static [usize] {
        Family.feeds(kind)
    }
    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8> {
        Family.root_kinds(wants)
    }
    fn request(&self, kind: u8, root: &Root, heads: &[Head]) -> Req<'_> {
        Family.request(kind, root, heads)
    }
    fn page(
        &self,
        at: &At<'_, Head>,
        items: &[Record<'_>],
        cx: &mut Cx<'_, Head, Settings>,
    ) -> Result<(), ConnectorError> {
        Family.page(at, items, cx)
    }
}

#[test]
fn a_token_that_loops_ends_the_listing_with_an_error() {
    /// Answers every page with the token it was asked with.
    struct Loop;
    impl Upstream for Loop {
        fn get_all(&mut self, batch: &[Call<'_>]) -> Vec<Answer> {
            batch
                .iter()
                .map(|c| {
                    let token = c
                        .query
                        .iter()
                        .find(|(k, _)| *k == "page")
                        .map_or("o:1", |(_, v)| v);
                    let body = format!(r#"{{"items":[],"next":"{token}"}}"#);
                    Ok((body.into_bytes(), None))
                })
                .collect()
        }
    }
    let settings = Settings { incremental: false };
    let roots = Given(vec![root("a")]);
    let request = FetchRequest::new(&["parents"], "");
    let w = walk(&roots, &[PARENTS], &settings);
    let page = fetch(&mut Loop, &w, &request).unwrap();
    let mut request = request;
    request.state = page.state;
    let e = fetch(&mut Loop, &w, &request).unwrap_err();
    assert_eq!(
        e.message(),
        "the fake sent the same next again for parents of root a; stopping rather than looping"
    );
}

#[test]
fn states_round_trip_and_keep_the_items_extras() {
    let run: Run<Head, ()> = Run {
        next: 1,
        open: vec![Listing {
            r: 0,
            k: CHILDREN as u8,
            h: vec![Head {
                id: "p1".into(),
                at: Some(Stamp(t(1))),
            }],
            t: Some("o:3".into()),
            n: 3,
            ..Listing::default()
        }],
        ..Run::default()
    };
    let names = vec!["children".to_string()];
    let text = WalkState::new(&names, FP.into(), run).encode();
    assert_eq!(
        text,
        r#"{"v":2,"streams":["children"],"fp":"00000000000000fa","run":{"next":1,"items":[{"id":"p1","at":"2026-05-01T00:01:00Z"}],"open":[{"r":0,"k":1,"h":[0],"t":"o:3","n":3}]}}"#
    );
    let back = WalkState::<Head, ()>::decode(&text, &names, FP, COVERS).unwrap();
    assert_eq!(back.encode(), text);
    // An item's unknown field is refused, as the connector's serde says.
    let e = WalkState::<Head, ()>::decode(
        &text.replace(r#""id":"p1""#, r#""id":"p1","q":1"#),
        &names,
        FP,
        COVERS,
    )
    .unwrap_err();
    assert!(e.message().contains("not one this connector wrote"), "{e}");
    // Plain ids need nothing of the connector's.
    let plain: Run<Id, ()> = Run {
        open: vec![Listing {
            k: 1,
            h: vec![Id::new("7".into())],
            ..Listing::default()
        }],
        ..Run::default()
    };
    let text = WalkState::new(&names, FP.into(), plain).encode();
    assert!(text.contains(r#""items":[{"id":"7"}]"#), "{text}");
}

#[test]
fn usable_ids_never_climb() {
    for id in ["p-1", "gh/acme/api", "a.b", "..a", "%2F", "é"] {
        assert!(usable_id(id), "{id}");
    }
    let long = "x".repeat(MAX_ID_LEN + 1);
    for id in [
        "", ".", "..", "/", "a/", "/a", "a//b", "x/..", "../x", "a/./b", &long,
    ] {
        assert!(!usable_id(id), "{id}");
    }
}
