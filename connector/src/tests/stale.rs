//! Stale page tokens: a 404 on a request that carries a page token is asked
//! again (in the next call) up to `MAX_STRIKES` times in a row, then the
//! listing is restarted from its first page (at most `MAX_RESTARTS` times),
//! at every level of a tree and in project discovery, losing nothing and
//! leaving the incremental cursor as it would have been.

use super::fake::{BASE, t};
use super::traversal::{
    api_project, change, cursor_of, discovery_fake, incremental_fake, resume, slugs, sync,
};
use super::{Fake, call, page_body};
use crate::state::{MAX_RESTARTS, MAX_STRIKES};
use std::collections::BTreeSet;

fn set(records: &[String]) -> BTreeSet<String> {
    records.iter().cloned().collect()
}

fn restarts(notices: &[String]) -> usize {
    notices
        .iter()
        .filter(|n| n.contains("reading it again from its first page (restart"))
        .count()
}

fn strikes(notices: &[String]) -> usize {
    notices
        .iter()
        .filter(|n| n.contains("the next call asks for that page again"))
        .count()
}

/// 404s in a row that make a token stale.
const STALE: usize = MAX_STRIKES as usize + 1;

/// A token's 404 that goes away when asked again costs one request per
/// 404, and repeats nothing.
#[test]
fn a_passing_404_is_asked_again_without_a_restart() {
    let (mut fake, _) = api_project(50, 0);
    let settings = slugs(&["gh/acme/api"]);
    let baseline = sync(&mut fake, "jobs", &settings, None);
    fake.fail(
        "/project/gh/acme/api/pipeline?page-token=",
        404,
        MAX_STRIKES.into(),
    );
    let s = sync(&mut fake, "jobs", &settings, None);
    assert_eq!(
        s.records, baseline.records,
        "nothing repeated, nothing skipped"
    );
    assert_eq!(s.requests, baseline.requests + MAX_STRIKES as usize);
    assert_eq!(strikes(&s.notices), MAX_STRIKES as usize);
    assert_eq!(restarts(&s.notices), 0);
    assert_eq!(s.state, baseline.state);
}

/// Pipelines inserted at the head of a newest-first listing during a scan,
/// then the scan's token goes stale: the listing is read again from the
/// top, so the new pipelines are read too, and everything read before is
/// read again (duplicates, never a gap).
#[test]
fn a_stale_token_restarts_the_listing_and_loses_nothing() {
    let (mut fake, a) = api_project(50, 0);
    let settings = slugs(&["gh/acme/api"]);
    let first = call(&mut fake, "jobs", &settings, None).unwrap();
    assert!(first.has_more);
    let mut inserted = Vec::new();
    for i in 0..3 {
        inserted.push(fake.push_finished(a, t(1000 + i), 0));
    }
    fake.fail("/project/gh/acme/api/pipeline?page-token=", 404, STALE);
    let rest = resume(&mut fake, "jobs", &settings, first.state);
    let mut records = first.records.clone();
    records.extend(rest.records.iter().cloned());

    let all_jobs: BTreeSet<String> = fake.projects[a]
        .pipelines
        .iter()
        .flat_map(|p| p.workflows[0].jobs.iter().map(|j| j.id.clone()))
        .collect();
    let got: BTreeSet<String> = records
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(got, all_jobs, "every job, the inserted pipelines' included");
    // Page 1 was read (with its jobs) before the restart and again after it.
    assert!(records.len() > all_jobs.len());
    assert_eq!(restarts(&rest.notices), 1, "{:?}", rest.notices);
    // The cursor's high-water mark is the newest pipeline, read after the restart.
    assert_eq!(
        cursor_of(rest.state.as_ref().unwrap())["projects"]["gh/acme/api"],
        serde_json::json!({"hwm": "2026-05-01T16:42:00Z"})
    );
}

/// A restart deep in the tree (the second page of a job's tests) reads the
/// job's tests again from the first: the same records (same `test_index`).
#[test]
fn a_stale_token_deep_in_the_tree_restarts_only_that_listing() {
    let (mut fake, _) = api_project(3, 25);
    let settings = slugs(&["gh/acme/api"]);
    let baseline = sync(&mut fake, "tests", &settings, None);
    assert_eq!(baseline.records.len(), 3 * 2 * 25);
    fake.fail("/tests?page-token=", 404, STALE);
    fake.log.clear();
    let s = sync(&mut fake, "tests", &settings, None);
    assert_eq!(set(&s.records), set(&baseline.records));
    assert_eq!(s.records.len(), baseline.records.len() + 20);
    assert_eq!(restarts(&s.notices), 1);
    // Only that job's tests were read again: the 404s and one first page more.
    assert_eq!(s.requests, baseline.requests + STALE + 1);
}

/// After `MAX_RESTARTS` restarts of one listing, the next stale token skips
/// what the listing belongs to (here the project itself), named with why:
/// the sync ends, it does not loop.
#[test]
fn restarts_are_bounded() {
    let (mut fake, _) = api_project(50, 0);
    let settings = slugs(&["gh/acme/api"]);
    fake.fail("/pipeline?page-token=", 404, usize::MAX);
    let mut state = None;
    let (mut notices, mut skipped, mut records) = (Vec::new(), Vec::new(), 0);
    let mut max_state = String::new();
    loop {
        let page = call(&mut fake, "pipelines", &settings, state.as_deref()).unwrap();
        notices.extend(page.notices);
        skipped.extend(page.skipped);
        records += page.records.len();
        state = page.state;
        if let Some(s) = &state
            && s.contains(r#""s":3"#)
        {
            max_state = s.clone();
        }
        if !page.has_more {
            break;
        }
    }
    assert_eq!(restarts(&notices), MAX_RESTARTS as usize);
    assert_eq!(
        strikes(&notices),
        (MAX_RESTARTS as usize + 1) * MAX_STRIKES as usize
    );
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with("pipelines of project gh/acme/api was not found (HTTP 404)")
            && skipped[0].contains("already read again from its first page the most times allowed")
            && skipped[0].ends_with("; skipped in this sync"),
        "{skipped:?}"
    );
    // The first page, read four times.
    assert_eq!(records, 20 * (MAX_RESTARTS as usize + 1));
    // The counts lived in the state.
    assert!(max_state.contains(r#""x":3"#), "{max_state}");
    fake.failures.clear();
    let s = sync(&mut fake, "pipelines", &settings, None);
    assert_eq!(s.records.len(), 50);
}

/// Each listing has its own count: restarts of one job's tests do not use
/// up another's.
#[test]
fn each_listing_counts_its_own_restarts() {
    let (mut fake, a) = api_project(4, 25);
    let settings = slugs(&["gh/acme/api"]);
    let baseline = sync(&mut fake, "tests", &settings, None);
    // Every job's second page of tests goes stale three times.
    let numbers: Vec<u64> = fake.projects[a]
        .pipelines
        .iter()
        .flat_map(|p| p.workflows[0].jobs.iter().filter_map(|j| j.number))
        .collect();
    for n in &numbers {
        fake.fail(
            &format!("/{n}/tests?page-token="),
            404,
            STALE * MAX_RESTARTS as usize,
        );
    }
    let s = sync(&mut fake, "tests", &settings, None);
    assert_eq!(set(&s.records), set(&baseline.records));
    assert_eq!(numbers.len(), 8);
    assert_eq!(restarts(&s.notices), 3 * 8);
}

/// A listing whose first page answers 404 after a restart is handled as any
/// first page: a deleted workflow is skipped.
#[test]
fn a_restart_that_finds_the_item_gone_skips_it() {
    let base = "https://circleci.com/api/v2";
    let wf = r#"{"items":[{"id":"w1","status":"success","created_at":"2024-01-31T00:00:00Z","stopped_at":"2024-01-31T00:01:00Z"}],"next_page_token":null}"#;
    let jobs = r#"{"items":[{"id":"j1","job_number":1,"status":"success","type":"build"}],"next_page_token":"t"}"#;
    let gone = r#"{"message":"Not Found"}"#;
    let mut fake = Fake::new()
        .on(
            &format!("{base}/project/gh/acme/api/pipeline"),
            200,
            &page_body(&["p1"], None),
        )
        .on(&format!("{base}/pipeline/p1/workflow"), 200, wf)
        .on(&format!("{base}/workflow/w1/job"), 200, jobs);
    for _ in 0..STALE {
        fake = fake.on(&format!("{base}/workflow/w1/job?page-token=t"), 404, gone);
    }
    fake = fake.on(&format!("{base}/workflow/w1/job"), 404, gone);
    let settings = slugs(&["gh/acme/api"]);
    let (mut records, mut notices, mut skipped, mut state) =
        (Vec::new(), Vec::new(), Vec::new(), None);
    loop {
        let page = call(&mut fake, "jobs", &settings, state.as_deref()).unwrap();
        records.extend(page.records);
        notices.extend(page.notices);
        skipped.extend(page.skipped);
        state = page.state;
        if !page.has_more {
            break;
        }
    }
    assert!(fake.script.is_empty());
    assert_eq!(records.len(), 1);
    assert_eq!(
        (strikes(&notices), restarts(&notices)),
        (MAX_STRIKES as usize, 1)
    );
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].starts_with("jobs of workflow w1 of project gh/acme/api was not found"),
        "{skipped:?}"
    );
}

/// Project discovery asks again, then scans the organisation again from
/// its newest pipeline, and finds the same projects, in the same order.
#[test]
fn discovery_restarts_its_scan() {
    let mut fake = discovery_fake();
    let baseline = sync(&mut fake, "projects", "{}", None);
    fake.fail("/pipeline?org-slug=gh%2Facme&page-token=", 404, STALE);
    fake.log.clear();
    let s = sync(&mut fake, "projects", "{}", None);
    assert_eq!(s.field("slug"), baseline.field("slug"));
    assert_eq!(
        (strikes(&s.notices), restarts(&s.notices)),
        (MAX_STRIKES as usize, 1)
    );
    let first = format!("{BASE}/pipeline?org-slug=gh%2Facme");
    let second = format!("{BASE}/pipeline?org-slug=gh%2Facme&page-token=opaque%3A20");
    let mut want = vec![first.clone()];
    want.extend(std::iter::repeat_n(second.clone(), STALE));
    want.extend([first, second]);
    assert_eq!(fake.log[1..STALE + 4], want[..]);
    // Bounded there too: after the last restart the organisation's scan
    // is skipped (the projects of its first page stay found), named.
    fake.fail("/pipeline?org-slug=gh%2Facme&page-token=", 404, usize::MAX);
    let s = sync(&mut fake, "projects", "{}", None);
    assert_eq!(restarts(&s.notices), MAX_RESTARTS as usize);
    assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    assert!(
        s.skipped[0]
            .starts_with("pipelines of organisation gh/acme (project discovery): not-found")
            && s.skipped[0].ends_with("its projects are not read in this sync"),
        "{:?}",
        s.skipped
    );
    assert!(!s.records.is_empty(), "the first page's projects are read");
}

/// An incremental sync whose window spans pages, with a stale token in it:
/// the same records (and duplicates) and exactly the cursor a sync without
/// the stale token ends with.
#[test]
fn a_restart_leaves_the_incremental_cursor_as_it_would_be() {
    let settings = slugs(&["gh/acme/api"]);
    let run = |stale: bool| {
        let (mut fake, a, _) = incremental_fake();
        fake.date = Some(t(100_000));
        let first = sync(&mut fake, "jobs", &settings, None);
        change(&mut fake, a);
        for i in 0..30 {
            fake.push_finished(a, t(400 + i * 10), 2);
        }
        if stale {
            fake.fail("/pipeline?page-token=", 404, STALE);
        }
        let second = sync(&mut fake, "jobs", &settings, first.state);
        (second.records, second.state.unwrap(), second.notices)
    };
    let (clean, clean_state, _) = run(false);
    let (stale, stale_state, notices) = run(true);
    assert_eq!(
        (strikes(&notices), restarts(&notices)),
        (MAX_STRIKES as usize, 1)
    );
    assert_eq!(set(&stale), set(&clean));
    assert!(stale.len() > clean.len());
    assert_eq!(cursor_of(&stale_state), cursor_of(&clean_state));
    assert!(!stale_state.contains("\"run\""));
}

/// A restart count out of bounds is refused, as anything the connector
/// does not write.
#[test]
fn restart_counts_are_checked() {
    let (mut fake, _) = api_project(30, 0);
    let settings = slugs(&["gh/acme/api"]);
    let mid = call(&mut fake, "jobs", &settings, None)
        .unwrap()
        .state
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&mid).unwrap();
    v["run"]["open"][0]["x"] = serde_json::json!(MAX_RESTARTS + 1);
    let e = call(&mut fake, "jobs", &settings, Some(&v.to_string())).unwrap_err();
    assert!(e.message().contains("listing is out of bounds"), "{e}");
    v["run"]["open"][0]["x"] = serde_json::json!(300);
    let e = call(&mut fake, "jobs", &settings, Some(&v.to_string())).unwrap_err();
    assert!(e.message().contains("not one this connector wrote"), "{e}");
}
