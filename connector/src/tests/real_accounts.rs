//! What real CircleCI accounts hold, against the stateful [`FakeCi`]:
//! pipelines past retention (their workflows answer 404, or list with a
//! null id), items whose request fails every time, reruns added to old
//! pipelines, approvals nobody grants, artifacts CircleCI already deleted.
//! None of them may stop a sync, be asked for forever, or make an
//! incremental sync cost more than its lookback window.

use super::fake::{BASE, FakeCi, t};
use super::traversal::{Sync, cursor_of, resume, sync};
use super::{call, cred, req};
use crate::fetch;
use crate::time::{DAY, NANOS, Ts};
use serde_json::Value;

/// A project of `n` finished pipelines a day apart, the newest created on
/// day `n` (every one with a workflow of two build jobs and an approval).
fn daily(n: i64) -> (FakeCi, usize) {
    let mut fake = FakeCi::new();
    let a = fake.add_project("gh/acme/api");
    for d in 1..=n {
        fake.push_finished(a, day(d), 1);
    }
    (fake, a)
}

/// Noon of day `d` of May 2026 (plus days beyond it).
fn day(d: i64) -> Ts {
    t(12 * 60) + (d - 1) * DAY
}

fn settings(extra: &str) -> String {
    format!(r#"{{"project_slugs":["gh/acme/api"]{extra}}}"#)
}

fn retry_list(state: &str) -> Vec<Value> {
    cursor_of(state)["retry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn items_past_retention_are_skipped_named_and_tried_once_more() {
    let (mut fake, a) = daily(10);
    // The two oldest pipelines are past retention: one's workflows answer
    // 404, the other's are listed with a null id.
    let gone = fake.projects[a].pipelines[9].id.clone();
    fake.fail(&format!("/pipeline/{gone}/workflow"), 404, usize::MAX);
    fake.projects[a].pipelines[8].workflows[0].null_id = true;
    let nulled = fake.projects[a].pipelines[8].id.clone();
    // Past retention is older than any lookback window: incremental syncs
    // never list them again by themselves (within the window, every sync
    // lists every pipeline's workflows anyway).
    let settings = settings(r#","lookback_days":3"#);

    let first = sync(&mut fake, "jobs", &settings, None);
    // Eight pipelines' jobs (three each: two builds and the approval).
    assert_eq!(first.records.len(), 8 * 3);
    assert_eq!(first.skipped.len(), 2, "{:?}", first.skipped);
    assert!(
        first.skipped[0].starts_with(&format!(
            "1 item(s) listed in workflows of pipeline {nulled} of project gh/acme/api without a usable id"
        )),
        "{:?}",
        first.skipped
    );
    assert!(
        first.skipped[1].starts_with(&format!(
            "workflows of pipeline {gone} of project gh/acme/api was not found (HTTP 404)"
        )) && first.skipped[1].ends_with(
            "(the pipeline is older than CircleCI keeps workflows, or was deleted); the next sync \
             tries it once more"
        ),
        "{:?}",
        first.skipped
    );
    // The 404 is kept for the next sync (a null id is nothing to ask for).
    let state = first.state.unwrap();
    let retry = retry_list(&state);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0]["root"], "gh/acme/api");
    assert_eq!(retry[0]["k"], 2, "the workflows listing");
    assert_eq!(retry[0]["h"][0]["id"], gone.as_str());

    // The next sync asks for it once more, first, then lets it go.
    fake.log.clear();
    let second = sync(&mut fake, "jobs", &settings, Some(state));
    assert_eq!(fake.log[0], format!("{BASE}/pipeline/{gone}/workflow"));
    assert!(second.records.is_empty());
    assert_eq!(second.skipped.len(), 1, "{:?}", second.skipped);
    assert!(second.skipped[0].ends_with("read again after the last sync skipped it; let go now"));
    let state = second.state.unwrap();
    assert!(retry_list(&state).is_empty());
    fake.log.clear();
    let third = sync(&mut fake, "jobs", &settings, Some(state));
    assert_eq!(fake.count(&format!("/pipeline/{gone}/workflow")), 0);
    assert!(third.records.is_empty());
}

#[test]
fn an_item_back_at_the_next_sync_is_emitted_whole() {
    let (mut fake, a) = daily(10);
    let flaky = fake.projects[a].pipelines[5].id.clone();
    let settings = settings("");
    // Its workflows answer 404 once: the first sync skips it.
    fake.fail(&format!("/pipeline/{flaky}/workflow"), 404, 1);
    let first = sync(&mut fake, "jobs", &settings, None);
    assert_eq!(first.records.len(), 9 * 3);
    assert_eq!(retry_list(first.state.as_ref().unwrap()).len(), 1);
    // The second reads it again and emits everything under it, although
    // nothing of it is new since the first sync.
    let second = sync(&mut fake, "jobs", &settings, first.state);
    assert_eq!(second.records.len(), 3);
    let ids: Vec<String> = fake.projects[a].pipelines[5].workflows[0]
        .jobs
        .iter()
        .map(|j| j.id.clone())
        .collect();
    assert_eq!(second.field("id"), ids);
    assert!(second.skipped.is_empty());
    assert!(retry_list(second.state.as_ref().unwrap()).is_empty());
}

#[test]
fn a_request_that_keeps_failing_is_skipped_when_the_host_gives_up() {
    let (mut fake, a) = daily(10);
    let broken = fake.projects[a].pipelines[3].id.clone();
    fake.fail(&format!("/pipeline/{broken}/workflow"), 500, usize::MAX);
    let settings = settings("");
    // The call returns what it read before, pointing at the failing request;
    // asked again, it fails (the host retries that as long as its policy
    // says).
    let first = fetch(&mut fake, &cred(None), &req("jobs", &settings, None)).unwrap();
    assert!(first.has_more);
    let again = fetch(
        &mut fake,
        &cred(None),
        &req("jobs", &settings, first.state.as_deref()),
    )
    .unwrap_err();
    assert_eq!(again.kind(), "unavailable");
    // The host's retries are spent: it asks the guest to skip.
    let why = format!(
        "unavailable: {} (gave up after 8 attempts)",
        again.message()
    );
    let mut request = req("jobs", &settings, first.state.as_deref());
    request.skip_failing = Some(why.clone());
    let skipped = fetch(&mut fake, &cred(None), &request).unwrap();
    assert_eq!(
        skipped.skipped,
        [format!("{why}; the next sync tries it once more")]
    );
    let (mut records, mut state) = (first.records.len() + skipped.records.len(), skipped.state);
    if skipped.has_more {
        let rest = resume(&mut fake, "jobs", &settings, state);
        records += rest.records.len();
        state = rest.state;
    } else {
        state = skipped.cursors[0].clone();
    }
    assert_eq!(records, 9 * 3, "everything but the broken pipeline's jobs");
    assert_eq!(retry_list(state.as_ref().unwrap()).len(), 1);

    // What is not one item's (the organisations discovery needs) is
    // answered with an error.
    let mut request = req("projects", "{}", None);
    request.skip_failing = Some("unavailable: down".into());
    let e = fetch(&mut fake, &cred(None), &request).unwrap_err();
    assert!(
        e.message().contains("/me/collaborations is not an item"),
        "{e}"
    );
    // So is a stream that is one request.
    let mut request = req("me", "{}", None);
    request.skip_failing = Some("unavailable: down".into());
    assert!(fetch(&mut fake, &cred(None), &request).is_err());
}

/// The days of the pipelines whose workflows were listed since the log was
/// cleared, sorted.
fn listed_days(fake: &FakeCi, a: usize) -> Vec<i64> {
    let mut days: Vec<i64> = fake.projects[a]
        .pipelines
        .iter()
        .filter(|p| fake.count(&format!("/pipeline/{}/workflow", p.id)) > 0)
        .map(|p| (p.created - day(1)) / DAY + 1)
        .collect();
    days.sort();
    days
}

#[test]
fn the_lookback_window_bounds_an_incremental_sync_whatever_is_left_on_hold() {
    // Sixty days of pipelines; on day 20 an approval nobody grants.
    let (mut fake, a) = daily(60);
    let held = 60 - 20;
    {
        let wf = &mut fake.projects[a].pipelines[held].workflows[0];
        wf.status = "on_hold".into();
        wf.stopped = None;
        wf.jobs[1].status = "on_hold".into();
        wf.jobs[2].status = "blocked".into();
        wf.jobs[2].started = None;
        wf.jobs[2].stopped = None;
    }
    for (lookback, want_days) in [(7, 53..=60), (14, 46..=60)] {
        let settings = settings(&format!(r#","lookback_days":{lookback}"#));
        let mut fake = clone_fake(&fake);
        let first = sync(&mut fake, "jobs", &settings, None);
        let lwm = &cursor_of(first.state.as_ref().unwrap())["projects"]["gh/acme/api"]["lwm"];
        assert_eq!(
            lwm, "2026-05-20T12:00:00Z",
            "the hold is the oldest unfinished"
        );
        fake.log.clear();
        let second = sync(&mut fake, "jobs", &settings, first.state);
        // Only the window's pipelines (from hwm - lookback) are listed again,
        // not everything back to the hold.
        assert_eq!(
            listed_days(&fake, a),
            want_days.clone().collect::<Vec<_>>(),
            "lookback {lookback}"
        );
        let pages = (want_days.clone().count() + 1).div_ceil(20);
        assert_eq!(
            second.requests,
            pages + want_days.count(),
            "pipeline pages and one workflow listing a pipeline: {:#?}",
            fake.log
        );
        assert!(second.records.is_empty());
        assert!(
            second.notices.iter().any(|n| n.contains(
                "work unfinished at the last sync, from pipelines created since \
                                      2026-05-20T12:00:00Z, is older than the lookback window"
            )),
            "{:?}",
            second.notices
        );
        // And the hold no longer pins the project.
        let marks = &cursor_of(second.state.as_ref().unwrap())["projects"]["gh/acme/api"];
        assert!(marks.get("lwm").is_none(), "{marks}");
    }
}

/// An independent copy of a fake.
fn clone_fake(fake: &FakeCi) -> FakeCi {
    let mut copy = FakeCi::new();
    copy.orgs = fake.orgs.clone();
    copy.projects = fake.projects.clone();
    copy.contexts = fake.contexts.clone();
    copy.date = fake.date;
    copy
}

#[test]
fn a_rerun_of_an_old_pipeline_arrives_with_the_next_incremental_sync() {
    let (mut fake, a) = daily(20);
    let settings = settings("");
    let first: Vec<Sync> = ["workflows", "jobs", "job_details", "tests", "artifacts"]
        .iter()
        .map(|s| sync(&mut fake, s, &settings, None))
        .collect();
    // Five days later nothing new was created, but a workflow of the day-17
    // pipeline (four days before the newest) was rerun: a new workflow on
    // an old pipeline, whose `updated_at` does not change.
    let old = 20 - 17;
    let created = day(21);
    let mut a1 = fake.job(
        "success",
        Some(created + 60 * NANOS),
        Some(created + 120 * NANOS),
    );
    a1.tests = 2;
    a1.artifacts = 1;
    let rerun = fake.workflow("success", created, Some(created + 120 * NANOS), vec![a1]);
    let (rerun_id, job_id) = (rerun.id.clone(), rerun.jobs[0].id.clone());
    fake.projects[a].pipelines[old].workflows.insert(0, rerun);
    for (k, stream) in ["workflows", "jobs", "job_details", "tests", "artifacts"]
        .iter()
        .enumerate()
    {
        let second = sync(&mut fake, stream, &settings, first[k].state.clone());
        // The new workflow, its job, and the job's details, tests and
        // artifacts: exactly those.
        let (got, want) = match *stream {
            "workflows" => (second.field("id"), vec![rerun_id.clone()]),
            "jobs" => (second.field("id"), vec![job_id.clone()]),
            "tests" => (second.field("job_id"), vec![job_id.clone(); 2]),
            _ => (second.field("job_id"), vec![job_id.clone()]),
        };
        assert_eq!(got, want, "{stream}: {:?}", second.records);
    }
}

#[test]
fn artifacts_of_jobs_older_than_circleci_keeps_them_are_not_asked_for() {
    let (mut fake, a) = daily(60);
    let s = sync(&mut fake, "artifacts", &settings(""), None);
    // The newest data seen when job lists are read is the day-60 pipeline's
    // last job's stop (read first: listings are newest first); jobs that
    // stopped 30 days before that are not asked for.
    let builds: Vec<Ts> = fake.projects[a]
        .pipelines
        .iter()
        .flat_map(|p| p.workflows[0].jobs.iter())
        .filter(|j| !j.approval)
        .map(|j| j.stopped.unwrap())
        .collect();
    let newest = *builds.iter().max().unwrap();
    let kept = builds.iter().filter(|s| **s >= newest - 30 * DAY).count();
    assert!((58..=62).contains(&kept), "about 30 days of jobs: {kept}");
    assert_eq!(s.records.len(), kept, "one artifact a job");
    let said: usize = s
        .notices
        .iter()
        .filter_map(|n| {
            let rest = n.strip_prefix("did not ask for the artifacts of ")?;
            let (count, why) = rest.split_once(' ')?;
            why.starts_with("job(s) that stopped more than 30 days")
                .then(|| count.parse::<usize>().unwrap())
        })
        .sum();
    assert_eq!(said, builds.len() - kept, "{:?}", s.notices);
    let oldest = fake.projects[a].pipelines[59].workflows[0].jobs[0]
        .number
        .unwrap();
    assert_eq!(fake.count(&format!("/{oldest}/artifacts")), 0);
    // artifact_retention_days 0 asks for every job's.
    let s = sync(
        &mut fake,
        "artifacts",
        &settings(r#","artifact_retention_days":0"#),
        None,
    );
    assert_eq!(s.records.len(), 60 * 2);
    assert!(fake.count(&format!("/{oldest}/artifacts")) > 0);
}

#[test]
fn states_with_skipped_items_are_checked() {
    let (mut fake, _) = daily(3);
    let settings = settings("");
    let state = sync(&mut fake, "jobs", &settings, None).state.unwrap();
    let mut v: Value = serde_json::from_str(&state).unwrap();
    // A kept item deeper than its listing, of another stream, or climbing,
    // is refused.
    for (retry, why) in [
        (
            serde_json::json!([{"root":"gh/acme/api","k":3,"h":[{"id":"a"},{"id":"b"},{"id":"c"}]}]),
            "not one of its listings",
        ),
        (
            serde_json::json!([{"root":"gh/acme/api","k":6,"h":[{"id":"a"},{"id":"b"},{"id":"c"}]}]),
            "not one of its listings",
        ),
        (
            serde_json::json!([{"root":"gh/acme/api","k":2,"h":[{"id":".."}]}]),
            "out of bounds",
        ),
    ] {
        v["cursor"]["retry"] = retry;
        let e = call(&mut fake, "jobs", &settings, Some(&v.to_string())).unwrap_err();
        assert_eq!(e.kind(), "invalid-state", "{e}");
        assert!(e.message().contains(why), "{e}");
    }
    v["cursor"]["retry"] = serde_json::json!([{"root":"gh/acme/api","k":2,"h":[{"id":"p"}]}]);
    call(&mut fake, "jobs", &settings, Some(&v.to_string())).unwrap();
}
