//! Several streams in one walk, and requests in flight together: each
//! stream gets exactly what it gets alone, every listing is read once, and
//! the cursors are each stream's own.

use super::fake::{FakeCi, t};
use super::traversal::{Sync, api_project, change, incremental_fake, slugs, sync, sync_with, walk};
use crate::streams::project_tree::TREE;
use crate::walk::Tree;
use std::collections::BTreeSet;

/// The streams of the project tree that read the CI tree.
const CI: &[&str] = &[
    "pipelines",
    "workflows",
    "jobs",
    "job_details",
    "artifacts",
    "tests",
];

/// A project with finished pipelines (tests and artifacts on some jobs),
/// the incremental fake's unfinished one, and a second project.
fn two_projects() -> (FakeCi, usize) {
    let (mut fake, a, _) = incremental_fake();
    let b = fake.add_project("gh/acme/web");
    for i in 0..23 {
        fake.push_finished(b, t(i * 7), if i % 5 == 0 { 21 } else { 1 });
    }
    // Older than what changes upstream between the syncs (see `change`):
    // a walk's `as_of` is bounded by the newest data it saw.
    let mut j = fake.job("success", Some(t(200)), Some(t(201)));
    j.artifacts = 3;
    let wf = fake.workflow("success", t(200), Some(t(202)), vec![j]);
    fake.push_pipeline(b, "created", t(200), vec![wf]);
    (fake, a)
}

fn alone(
    fake: &mut FakeCi,
    streams: &[&str],
    settings: &str,
    cursors: &[Option<String>],
) -> Vec<Sync> {
    streams
        .iter()
        .zip(cursors)
        .map(|(s, c)| sync(fake, s, settings, c.clone()))
        .collect()
}

/// Every stream of the project tree in one walk: each stream's records
/// and cursor are those of its own sync, and the walk reads each listing
/// once, where the streams alone re-read their parents.
#[test]
fn one_walk_reads_each_listing_once_for_every_stream() {
    let (mut fake, _) = two_projects();
    let settings = slugs(&["gh/acme/api", "gh/acme/web"]);
    let all = TREE.streams();
    let none: Vec<Option<String>> = all.iter().map(|_| None).collect();
    let separate = alone(&mut fake, all, &settings, &none);
    let separate_requests: usize = separate.iter().map(|s| s.requests).sum();
    fake.log.clear();
    let together = walk(&mut fake, all, &settings, none.clone(), None, 1);
    for (k, name) in all.iter().enumerate() {
        assert_eq!(
            together.streams[k].records, separate[k].records,
            "{name}: the same records, in the same order"
        );
        assert_eq!(
            together.streams[k].state, separate[k].state,
            "{name}: the same cursor"
        );
    }
    let urls: BTreeSet<&String> = fake.log.iter().collect();
    assert_eq!(urls.len(), fake.log.len(), "no request made twice");
    let all_urls: BTreeSet<String> = separate_requests_urls(&mut two_projects().0, all, &settings);
    assert_eq!(urls.len(), all_urls.len(), "every listing any stream reads");
    assert!(
        together.requests < separate_requests * 2 / 3,
        "{} vs {separate_requests}",
        together.requests
    );
    assert!(together.skipped.is_empty(), "{:?}", together.skipped);
}

/// The distinct URLs the streams read when synced one by one.
fn separate_requests_urls(fake: &mut FakeCi, streams: &[&str], settings: &str) -> BTreeSet<String> {
    for s in streams {
        sync(fake, s, settings, None);
    }
    fake.log.iter().cloned().collect()
}

/// Incremental syncs of several streams in one walk, each from its own
/// cursor, emit exactly what each stream's own incremental sync emits; a
/// stream without a cursor in the same walk reads everything.
#[test]
fn incremental_walks_keep_each_streams_cursor() {
    let (mut fake, a) = two_projects();
    let settings = slugs(&["gh/acme/api", "gh/acme/web"]);
    let none: Vec<Option<String>> = CI.iter().map(|_| None).collect();
    let first = walk(&mut fake, CI, &settings, none, None, 4);
    let cursors: Vec<Option<String>> = first.streams.iter().map(|s| s.state.clone()).collect();
    assert!(cursors.iter().all(Option::is_some));
    change(&mut fake, a);

    // Each stream alone, from its cursor, on a copy of the same upstream.
    let mut copy = fake.clone();
    let separate = alone(&mut copy, CI, &settings, &cursors);
    fake.log.clear();
    let second = walk(&mut fake, CI, &settings, cursors.clone(), None, 4);
    for (k, name) in CI.iter().enumerate() {
        let got: BTreeSet<&String> = second.streams[k].records.iter().collect();
        let want: BTreeSet<&String> = separate[k].records.iter().collect();
        assert_eq!(got, want, "{name}");
        assert!(!want.is_empty(), "{name}: something is new");
        assert_eq!(
            second.streams[k].state, separate[k].state,
            "{name}: the same cursor"
        );
    }

    // Jobs read from its cursor while tests starts over: tests reads every
    // job's tests again, jobs still emits only what changed.
    let mut cursors: Vec<Option<String>> = second.streams.iter().map(|s| s.state.clone()).collect();
    cursors[5] = None;
    let third = walk(&mut fake, CI, &settings, cursors, None, 4);
    assert!(
        third.streams[2].records.is_empty(),
        "nothing changed for jobs"
    );
    let full_tests = sync(&mut fake.clone(), "tests", &settings, None);
    assert_eq!(third.streams[5].records.len(), full_tests.records.len());
}

/// Requests in flight together: never more than asked, as many as asked
/// when the walk has them, and the same records as one at a time.
#[test]
fn requests_go_out_together_up_to_the_concurrency() {
    let (mut fake, _) = api_project(60, 2);
    let settings = slugs(&["gh/acme/api"]);
    let serial = sync(&mut fake, "tests", &settings, None);
    assert!(fake.batches.iter().all(|&b| b == 1));
    for c in [2u32, 4, 8] {
        fake.batches.clear();
        fake.log.clear();
        let s = sync_with(&mut fake, "tests", &settings, None, c);
        assert_eq!(
            s.records, serial.records,
            "C={c}: the same records in the same order"
        );
        assert_eq!(s.requests, serial.requests, "C={c}: the same requests");
        assert!(fake.batches.iter().all(|&b| b <= c as usize), "C={c}");
        let full = fake.batches.iter().filter(|&&b| b == c as usize).count();
        assert!(
            full * 2 > fake.batches.len(),
            "C={c}: most batches are full: {:?}",
            fake.batches
        );
    }
}

/// A request of a batch that fails leaves its listing marked in the state
/// while the others are applied: the next call asks it first, alone, and
/// nothing is read twice or lost.
#[test]
fn a_failure_inside_a_batch_keeps_the_others() {
    let (mut fake, a) = api_project(30, 0);
    let settings = slugs(&["gh/acme/api"]);
    let baseline = sync(&mut fake, "jobs", &settings, None);
    let third = fake.projects[a].pipelines[2].workflows[0].id.clone();
    fake.fail(&format!("/workflow/{third}/job"), 500, 1);
    fake.log.clear();
    fake.batches.clear();
    let mut request = crate::FetchRequest::new(&["jobs"], &settings);
    request.concurrency = 4;
    let first = crate::fetch(&mut fake, &super::cred(None), &request).unwrap();
    assert!(first.has_more);
    let state = first.state.clone().unwrap();
    assert!(state.contains(r#""f":true"#), "{state}");
    assert!(
        first.notices[0].contains("the next call asks it first"),
        "{:?}",
        first.notices
    );
    let failed = format!("{}/workflow/{third}/job", super::fake::BASE);
    let (sent, batches) = (fake.log.len(), fake.batches.len());
    request.state = Some(state);
    let second = crate::fetch(&mut fake, &super::cred(None), &request).unwrap();
    assert_eq!(fake.log[sent], failed, "asked first");
    assert_eq!(fake.batches[batches], 1, "alone");
    assert_eq!(
        fake.batches[batches + 1],
        4,
        "then the walk goes on at full width"
    );
    let mut records: Vec<String> = first.records.into_iter().map(|r| r.data).collect();
    records.extend(second.records.into_iter().map(|r| r.data));
    request.state = second.state;
    while let Some(state) = request.state.clone() {
        let _ = state;
        let page = crate::fetch(&mut fake, &super::cred(None), &request).unwrap();
        records.extend(page.records.into_iter().map(|r| r.data));
        request.state = page.state;
    }
    let got: BTreeSet<&String> = records.iter().collect();
    assert_eq!(got.len(), records.len(), "nothing twice");
    let want: BTreeSet<&String> = baseline.records.iter().collect();
    assert_eq!(got, want, "nothing lost");
    let urls: BTreeSet<&String> = fake.log.iter().collect();
    assert_eq!(
        fake.log.len(),
        urls.len() + 1,
        "one request made twice: the failed one"
    );
}

/// Streams of different roots, unknown streams, a stream twice, cursors
/// that do not match the streams: refused before any request.
#[test]
fn requests_that_cannot_be_one_walk_are_refused() {
    let mut fake = FakeCi::new();
    let settings = slugs(&["gh/acme/api"]);
    for (streams, why) in [
        (&["jobs", "contexts"][..], "cannot be read in one walk"),
        (&["me", "collaborations"][..], "cannot be read in one walk"),
        (&["jobs", "me"][..], "cannot be read in one walk"),
        (&["jobs", "jobs"][..], "named twice"),
        (&["jobs", "nope"][..], "unknown stream `nope`"),
        (&[][..], "names no stream"),
    ] {
        let request = crate::FetchRequest::new(streams, &settings);
        let e = crate::fetch(&mut fake, &super::cred(None), &request).unwrap_err();
        assert_eq!(e.kind(), "invalid-settings", "{streams:?}: {e}");
        assert!(e.message().contains(why), "{streams:?}: {e}");
    }
    let mut request = crate::FetchRequest::new(&["jobs", "tests"], &settings);
    request.cursors = vec![None];
    let e = crate::fetch(&mut fake, &super::cred(None), &request).unwrap_err();
    assert!(e.message().contains("1 cursor(s) for 2 stream(s)"), "{e}");
    // A cursor of another stream.
    let jobs = sync(&mut api_project(2, 0).0, "jobs", &settings, None).state;
    request.cursors = vec![None, jobs];
    let e = crate::fetch(&mut fake, &super::cred(None), &request).unwrap_err();
    assert!(e.message().contains("belongs to the stream `jobs`"), "{e}");
    assert!(fake.log.is_empty());
}
