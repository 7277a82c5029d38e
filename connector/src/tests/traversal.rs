//! Traversal, discovery, bounded work, failures and incremental sync,
//! against the stateful [`FakeCi`].

use super::fake::{BASE, FakeCi, t};
use super::{KEY, call};
use crate::time::Ts;
use serde_json::Value;
use std::collections::BTreeSet;

const APPROVAL_WHY: &str = "approval job(s): CircleCI has no details, tests or artifacts for approval jobs (it answers 404)";

/// What a whole sync (calls until `has_more` is false) returned.
#[derive(Debug, Default)]
pub(super) struct Sync {
    pub(super) records: Vec<String>,
    pub(super) notices: Vec<String>,
    pub(super) skipped: Vec<String>,
    pub(super) calls: usize,
    pub(super) requests: usize,
    pub(super) max_state: usize,
    pub(super) max_state_text: String,
    pub(super) state: Option<String>,
}

impl Sync {
    /// Approval jobs skipped, summed over the calls' notices.
    fn approvals(&self) -> usize {
        self.notices
            .iter()
            .filter_map(|n| {
                let rest = n.strip_prefix("skipped ")?;
                let (count, why) = rest.split_once(' ')?;
                (why == APPROVAL_WHY).then(|| count.parse::<usize>().unwrap())
            })
            .sum()
    }

    pub(super) fn values(&self) -> Vec<Value> {
        self.records
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }

    /// A field of every record, as text.
    pub(super) fn field(&self, name: &str) -> Vec<String> {
        self.values()
            .iter()
            .map(|v| match &v[name] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// Runs one sync of `stream` from its `cursor`, checking the per-call
/// bounds; `state` of the result is the stream's new cursor.
pub(super) fn sync(
    fake: &mut FakeCi,
    stream: &str,
    settings: &str,
    cursor: Option<String>,
) -> Sync {
    sync_with(fake, stream, settings, cursor, 1)
}

/// [`sync`] with `concurrency` requests in flight.
pub(super) fn sync_with(
    fake: &mut FakeCi,
    stream: &str,
    settings: &str,
    cursor: Option<String>,
    concurrency: u32,
) -> Sync {
    let mut walk = walk(fake, &[stream], settings, vec![cursor], None, concurrency);
    let mut out = std::mem::take(&mut walk.streams[0]);
    out.calls = walk.calls;
    out.requests = walk.requests;
    out.max_state = walk.max_state;
    out.max_state_text = walk.max_state_text;
    out.notices = walk.notices;
    out.skipped = walk.skipped;
    out
}

/// Goes on with a sync of `stream` (started without a cursor) from its
/// walk `state`, to its end.
pub(super) fn resume(
    fake: &mut FakeCi,
    stream: &str,
    settings: &str,
    state: Option<String>,
) -> Sync {
    let mut walk = walk(fake, &[stream], settings, vec![None], state, 1);
    let mut out = std::mem::take(&mut walk.streams[0]);
    out.calls = walk.calls;
    out.requests = walk.requests;
    out.notices = walk.notices;
    out.skipped = walk.skipped;
    out
}

/// What a whole walk of several streams returned.
#[derive(Debug, Default)]
pub(super) struct WalkSync {
    /// Per stream of the request: its records and its new cursor (`state`).
    pub(super) streams: Vec<Sync>,
    pub(super) notices: Vec<String>,
    pub(super) skipped: Vec<String>,
    pub(super) calls: usize,
    pub(super) requests: usize,
    pub(super) max_state: usize,
    pub(super) max_state_text: String,
}

/// Runs one sync of `streams` together, from their `cursors` (and, to go
/// on with a sync, from its walk `state`), checking the per-call bounds.
pub(super) fn walk(
    fake: &mut FakeCi,
    streams: &[&str],
    settings: &str,
    cursors: Vec<Option<String>>,
    state: Option<String>,
    concurrency: u32,
) -> WalkSync {
    let mut out = WalkSync {
        streams: streams.iter().map(|_| Sync::default()).collect(),
        ..WalkSync::default()
    };
    let mut request = crate::FetchRequest::new(streams, settings);
    request.cursors = cursors;
    request.state = state;
    request.concurrency = concurrency;
    let start = fake.log.len();
    loop {
        let before = fake.log.len();
        let page = crate::fetch(&mut *fake, &super::cred(None), &request)
            .unwrap_or_else(|e| panic!("{streams:?} call {}: {e}", out.calls + 1));
        out.calls += 1;
        assert!(
            fake.log.len() - before <= crate::walk::MAX_REQUESTS,
            "at most MAX_REQUESTS requests a call"
        );
        assert!(
            page.records.len() <= 500 + 20 * concurrency as usize,
            "a bounded page"
        );
        assert!(
            page.has_more || page.records.len() + (fake.log.len() - before) > 0 || out.calls == 1,
            "a call without progress"
        );
        for r in page.records {
            out.streams[r.stream as usize].records.push(r.data);
        }
        out.notices.extend(page.notices);
        out.skipped.extend(page.skipped);
        if let Some(s) = &page.state
            && s.len() > out.max_state
        {
            out.max_state = s.len();
            out.max_state_text = s.clone();
        }
        if !page.has_more {
            assert!(page.state.is_none());
            assert_eq!(page.cursors.len(), streams.len());
            for (sync, cursor) in out.streams.iter_mut().zip(page.cursors) {
                sync.state = cursor;
            }
            break;
        }
        assert!(page.cursors.is_empty());
        request.state = page.state;
        assert!(out.calls < 100_000, "runaway sync");
    }
    out.requests = fake.log.len() - start;
    out
}

pub(super) fn slugs(list: &[&str]) -> String {
    format!(
        r#"{{"project_slugs":[{}]}}"#,
        list.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// A fake with one project, gh/acme/api, of `pipelines` typical finished
/// pipelines ten minutes apart, each build job with `tests` tests (see
/// [`FakeCi::push_finished`]).
pub(super) fn api_project(pipelines: i64, tests: usize) -> (FakeCi, usize) {
    let mut fake = FakeCi::new();
    let a = fake.add_project("gh/acme/api");
    for i in 0..pipelines {
        fake.push_finished(a, t(i * 10), tests);
    }
    (fake, a)
}

fn unique(values: Vec<String>) -> usize {
    values.into_iter().collect::<BTreeSet<_>>().len()
}

// ---------------------------------------------------------------------------
// Full traversal, bounded work, bounded state
// ---------------------------------------------------------------------------

/// Two projects of 1,500 pipelines each (150 pages of pipelines), each
/// pipeline with a workflow of two build jobs and an approval, each build
/// job with 25 tests (two pages): every record once, bounded calls, and a
/// state that stays small however far the sync is.
#[test]
fn full_traversal_of_a_large_upstream_keeps_the_state_small() {
    let mut fake = FakeCi::new();
    let a = fake.add_project("gh/acme/api");
    let b = fake.add_project(
        "circleci/8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e/5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
    );
    for i in 0..1500 {
        fake.push_finished(a, t(i * 10), 25);
        fake.push_finished(b, t(i * 10 + 5), 25);
    }
    let settings = slugs(&[
        "github/acme/api",
        "circleci%2F8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e%2F5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
    ]);

    let s = sync(&mut fake, "tests", &settings, None);
    assert_eq!(s.records.len(), 3000 * 2 * 25);
    let keys: Vec<String> = s
        .values()
        .iter()
        .map(|v| {
            format!(
                "{} {} {}",
                v["project_slug"], v["job_number"], v["test_index"]
            )
        })
        .collect();
    assert_eq!(unique(keys), s.records.len(), "no record twice");
    // 150 pipeline pages + 3000 workflow lists + 3000 job lists + 6000 jobs × 2 test pages.
    assert_eq!(s.requests, 150 + 3000 + 3000 + 12_000);
    assert!(s.calls >= s.requests / crate::walk::MAX_REQUESTS);
    assert_eq!(s.approvals(), 3000);
    // The final state is the cursor: one entry per project.
    let last = s.state.clone().unwrap();
    assert!(last.len() < 400, "{last}");
    println!(
        "tests over 3,000 pipelines: {} calls, {} requests, largest state {} bytes: {}",
        s.calls, s.requests, s.max_state, s.max_state_text
    );
    assert!(s.max_state < 3_000, "largest state {} bytes", s.max_state);

    let s = sync(&mut fake, "job_details", &settings, None);
    assert_eq!(s.records.len(), 6000);
    assert_eq!(unique(s.field("job_id")), 6000);
    println!(
        "job_details over 3,000 pipelines: {} calls, largest state {} bytes",
        s.calls, s.max_state
    );
    assert!(s.max_state < 3_000, "largest state {} bytes", s.max_state);

    let s = sync(&mut fake, "pipelines", &settings, None);
    assert_eq!(s.records.len(), 3000);
    // A call starts no request once it holds 450 records: 23 pages of 20.
    assert_eq!(s.calls, 7, "23 pages a call");
    assert!(s.max_state < 1_000, "{}", s.max_state_text);
}

/// Every stream reads every page of every listing, adds its keys at the end
/// of the object (only when absent), and keeps the API's text.
#[test]
fn every_stream_reads_every_page_and_adds_its_keys() {
    let (mut fake, a) = api_project(45, 1);
    // A workflow with 45 jobs (three pages), one of them with 45 tests and
    // 21 artifacts.
    let mut jobs = Vec::new();
    for k in 0..45 {
        let mut j = fake.job("success", Some(t(1000 + k)), Some(t(1001 + k)));
        if k == 7 {
            j.tests = 45;
            j.artifacts = 21;
        }
        jobs.push(j);
    }
    let wide = fake.workflow("success", t(1000), Some(t(1050)), jobs);
    let big = fake.push_pipeline(a, "created", t(1000), vec![wide]);
    let settings = slugs(&["gh/acme/api"]);

    let s = sync(&mut fake, "pipelines", &settings, None);
    assert_eq!(s.records.len(), 46);
    // Exactly as served: big numbers, nulls and key order survive.
    assert!(s.records[0].starts_with(&format!(
        r#"{{"id":"{big}","errors":[],"project_slug":"gh/acme/api","updated_at":"#
    )));
    assert!(s.records[0].contains(r#""git":{"big":123456789012345678901234567890}"#));

    let s = sync(&mut fake, "workflows", &settings, None);
    assert_eq!(s.records.len(), 46);

    let s = sync(&mut fake, "jobs", &settings, None);
    assert_eq!(s.records.len(), 45 + 45 * 3);
    assert_eq!(unique(s.field("id")), s.records.len());
    let first = &s.records[0];
    assert!(
        first.ends_with(&format!(
            r#""type":"build","stopped_at":"2026-05-01T16:41:00Z","workflow_id":"{}","pipeline_id":"{big}"}}"#,
            s.values()[0]["workflow_id"].as_str().unwrap()
        )),
        "keys appended, project_slug not added twice: {first}"
    );
    assert_eq!(first.matches("project_slug").count(), 1);

    let s = sync(&mut fake, "job_details", &settings, None);
    assert_eq!(s.records.len(), 45 + 45 * 2);
    let v = &s.values()[0];
    assert_eq!(v["project_slug"], "gh/acme/api");
    assert!(v["job_id"].is_string() && v["workflow_id"].is_string());
    assert_eq!(v["pipeline_id"], big.as_str());
    assert!(s.records[0].ends_with(&format!(r#""organization":{{"name":"acme"}},"project_slug":"gh/acme/api","job_id":{},"workflow_id":{},"pipeline_id":"{big}"}}"#, v["job_id"], v["workflow_id"])));
    assert_eq!(s.approvals(), 45);
    assert!(
        s.notices
            .iter()
            .all(|n| n.starts_with("skipped ") && n.ends_with(APPROVAL_WHY)),
        "{:?}",
        s.notices
    );

    let s = sync(&mut fake, "tests", &settings, None);
    assert_eq!(s.records.len(), 45 + 45 * 2);
    let of_big: Vec<Value> = s
        .values()
        .into_iter()
        .filter(|v| v["job_number"] == 91 + 7)
        .collect();
    let idx: Vec<u64> = of_big
        .iter()
        .map(|v| v["test_index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        idx,
        (0..45).collect::<Vec<_>>(),
        "test_index counts across pages"
    );
    assert_eq!(of_big[44]["name"], "test_44");

    let s = sync(&mut fake, "artifacts", &settings, None);
    assert_eq!(s.records.len(), 21 + 45 * 2);
    let v = &s.values()[0];
    assert_eq!(
        (v["project_slug"].as_str(), v["job_number"].as_u64()),
        (Some("gh/acme/api"), Some(98))
    );
    assert!(s.records[0].ends_with(&format!(
        r#","project_slug":"gh/acme/api","job_number":98,"job_id":{}}}"#,
        v["job_id"]
    )));
}

#[test]
fn contexts_and_their_variables() {
    let mut fake = FakeCi::new();
    fake.add_project("gh/acme/api");
    fake.add_project("circleci/0b1d/5b7a");
    for i in 0..25 {
        fake.contexts.push(super::fake::Context {
            id: format!("ctx-{i:02}"),
            org: "gh/acme".into(),
            vars: (0..3).map(|k| format!("VAR_{k}")).collect(),
        });
    }
    fake.contexts.push(super::fake::Context {
        id: "ctx-c".into(),
        org: "circleci/0b1d".into(),
        vars: vec!["TOKEN".into()],
    });

    // No org_slug: every organisation of /me/collaborations, by its id
    // (owner-slug does not work for personal accounts).
    let s = sync(&mut fake, "contexts", "{}", None);
    assert_eq!(s.records.len(), 26);
    assert_eq!(fake.log[0], format!("{BASE}/me/collaborations"));
    assert_eq!(
        fake.log[1],
        format!("{BASE}/context?owner-id=org-0&owner-type=organization")
    );
    assert!(s.records[0].ends_with(r#","owner_slug":"gh/acme"}"#));
    assert_eq!(s.values()[25]["owner_slug"], "circleci/0b1d");
    assert!(s.skipped.is_empty());

    // An organisation whose contexts need admin rights is skipped, named;
    // the others are read.
    fake.forbidden_orgs.push("gh/acme".into());
    let s = sync(&mut fake, "contexts", "{}", None);
    assert_eq!(s.records.len(), 1);
    assert_eq!(s.values()[0]["owner_slug"], "circleci/0b1d");
    assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    assert!(
        s.skipped[0].contains("contexts of organisation gh/acme")
            && s.skipped[0].contains("HTTP 403")
            && s.skipped[0].contains("org-admin rights")
            && s.skipped[0].ends_with("; skipped in this sync"),
        "{:?}",
        s.skipped
    );
    fake.forbidden_orgs.clear();

    let s = sync(
        &mut fake,
        "context_environment_variables",
        r#"{"org_slug":"gh/acme"}"#,
        None,
    );
    assert_eq!(s.records.len(), 75);
    // context_id is in the API object: not added again.
    assert!(
        s.records
            .iter()
            .all(|r| r.matches("context_id").count() == 1)
    );
    assert!(
        !fake
            .log
            .iter()
            .rev()
            .take(27)
            .any(|u| u.contains("collaborations"))
    );
}

#[test]
fn insights_workflows_and_runs() {
    let mut fake = FakeCi::new();
    let a = fake.add_project("bb/acme/site");
    for i in 0..25 {
        fake.push_finished(a, t(i), 0);
    }
    let mut wf = fake.workflow("success", t(100), Some(t(101)), vec![]);
    wf.name = "nightly deploy+prod".into();
    fake.push_pipeline(a, "created", t(100), vec![wf]);
    let settings = slugs(&["bitbucket/acme/site"]);

    let s = sync(&mut fake, "insights_workflows", &settings, None);
    assert_eq!(s.field("name"), ["nightly deploy+prod", "build-and-test"]);
    assert!(
        s.records
            .iter()
            .all(|r| r.ends_with(r#","project_slug":"bb/acme/site"}"#))
    );
    assert_eq!(
        fake.log[0],
        format!("{BASE}/insights/bitbucket/acme/site/workflows?all-branches=true")
    );

    let s = sync(&mut fake, "insights_workflow_runs", &settings, None);
    assert_eq!(s.records.len(), 26);
    assert!(fake.log.iter().any(|u| u
        == &format!("{BASE}/insights/bitbucket/acme/site/workflows/nightly%20deploy%2Bprod?all-branches=true")));
    let v = &s.values()[0];
    assert_eq!(
        (v["project_slug"].as_str(), v["workflow_name"].as_str()),
        (Some("bb/acme/site"), Some("nightly deploy+prod"))
    );
    assert_eq!(unique(s.field("id")), 26);
}

#[test]
fn collaborations_stream() {
    let mut fake = FakeCi::new();
    fake.add_project("gh/acme/api");
    fake.add_project("bb/team/site");
    let page = call(&mut fake, "collaborations", "{}", None).unwrap();
    assert_eq!(
        page.records,
        [
            r#"{"id":"org-0","vcs-type":"github","name":"acme","avatar_url":null,"slug":"gh/acme"}"#,
            r#"{"id":"org-1","vcs-type":"github","name":"team","avatar_url":null,"slug":"bb/team"}"#,
        ]
    );
    assert!(!page.has_more && page.state.is_none());
}

// ---------------------------------------------------------------------------
// Quirks
// ---------------------------------------------------------------------------

#[test]
fn approval_jobs_deleted_workflows_and_gone_details_are_skipped() {
    let (mut fake, a) = api_project(4, 1);
    // The second-newest pipeline's workflow was deleted after it was listed;
    // in the newest, the second build job's details are gone.
    let deleted = fake.projects[a].pipelines[1].workflows[0].id.clone();
    fake.projects[a].pipelines[1].workflows[0].deleted = true;
    fake.projects[a].pipelines[0].workflows[0].jobs[2].details_gone = true;
    let gone = fake.projects[a].pipelines[0].workflows[0].jobs[2]
        .number
        .unwrap();
    let settings = slugs(&["gh/acme/api"]);

    let s = sync(&mut fake, "job_details", &settings, None);
    assert_eq!(s.records.len(), 3 * 2 - 1);
    assert_eq!(
        s.skipped,
        [
            format!(
                "details of job {gone} of project gh/acme/api was not found (HTTP 404): Not Found \
                 (CircleCI keeps a job's data for a limited time); the next sync tries it once more"
            ),
            format!(
                "jobs of workflow {deleted} of project gh/acme/api was not found (HTTP 404): Not Found \
                 (the workflow was deleted after it was listed); the next sync tries it once more"
            ),
        ]
    );
    assert_eq!(s.approvals(), 3);
    assert_eq!(s.notices.len(), s.calls, "one approval notice a call");
    // Approval jobs are never asked for anything.
    assert!(
        !fake
            .log
            .iter()
            .any(|u| u.ends_with("/job/0") || u.contains("approval"))
    );

    // The jobs stream lists approval jobs like any other.
    let s = sync(&mut fake, "jobs", &settings, None);
    assert_eq!(s.records.len(), 9);
    assert_eq!(
        s.values()
            .iter()
            .filter(|v| v["type"] == "approval")
            .count(),
        3
    );

    // Other errors propagate (from the retry, once the call made progress).
    fake.fail("/pipeline/", 403, 2);
    let first = call(&mut fake, "jobs", &settings, None).unwrap();
    assert!(first.records.is_empty() && first.has_more);
    let e = call(&mut fake, "jobs", &settings, first.state.as_deref()).unwrap_err();
    assert_eq!(e.kind(), "forbidden");
}

#[test]
fn a_failure_after_progress_returns_what_was_read_and_is_retried_first() {
    let (mut fake, a) = api_project(30, 0);
    let settings = slugs(&["gh/acme/api"]);
    let baseline = sync(&mut fake, "jobs", &settings, None);

    // The jobs of the third pipeline fail once: the first call returns the
    // first two pipelines' jobs; the next call retries that request first.
    let third = fake.projects[a].pipelines[2].workflows[0].id.clone();
    fake.fail(&format!("/workflow/{third}/job"), 500, 1);
    fake.log.clear();
    let first = call(&mut fake, "jobs", &settings, None).unwrap();
    assert_eq!(first.records.len(), 6);
    assert!(first.has_more);
    assert_eq!(
        first.notices,
        [format!(
            "stopped after 6 request(s) because a request failed (unavailable: CircleCI answered HTTP \
             500 while reading jobs of workflow {third} of project gh/acme/api: Internal server error.); \
             the next call asks it first"
        )]
    );
    let failed = fake.log.last().unwrap().clone();
    fake.log.clear();
    let rest = resume(&mut fake, "jobs", &settings, first.state.clone());
    assert_eq!(fake.log[0], failed, "the failed request comes first");
    let mut all = first.records.clone();
    all.extend(rest.records);
    assert_eq!(all, baseline.records, "nothing repeated, nothing skipped");

    // Failing again: the retry surfaces the error.
    fake.fail(&format!("/workflow/{third}/job"), 500, 2);
    let first = call(&mut fake, "jobs", &settings, None).unwrap();
    let e = call(&mut fake, "jobs", &settings, first.state.as_deref()).unwrap_err();
    assert_eq!(e.kind(), "unavailable");
    assert!(!e.message().contains(KEY));

    // A failure with no progress is the call's error.
    fake.fail("/project/gh/acme/api/pipeline", 429, 1);
    let e = call(&mut fake, "jobs", &settings, None).unwrap_err();
    assert_eq!(e.kind(), "rate-limited");
}

#[test]
fn states_must_fit_the_stream_and_the_settings() {
    let (mut fake, _) = api_project(30, 0);
    let settings = slugs(&["gh/acme/api"]);
    let mid = call(&mut fake, "jobs", &settings, None)
        .unwrap()
        .state
        .unwrap();
    let done = sync(&mut fake, "jobs", &settings, None).state.unwrap();
    for (stream, settings, state, why) in [
        (
            "workflows",
            settings.as_str(),
            mid.as_str(),
            "belongs to a walk of jobs",
        ),
        (
            "jobs",
            r#"{"project_slugs":["gh/acme/web"]}"#,
            mid.as_str(),
            "settings",
        ),
        ("jobs", "{}", done.as_str(), "settings"),
        (
            "jobs",
            r#"{"project_slugs":["gh/acme/api"],"start_date":"2026-01-01T00:00:00Z"}"#,
            done.as_str(),
            "settings",
        ),
    ] {
        let e = call(&mut fake, stream, settings, Some(state)).unwrap_err();
        assert_eq!(e.kind(), "invalid-state", "{e}");
        assert!(e.message().contains(why), "{e}");
    }
    // A forged listing deeper than its kind, or of a kind the tree does
    // not have.
    for open in [
        serde_json::json!([{"r":0,"k":3,"h":[0,1,2]}]),
        serde_json::json!([{"r":0,"k":42}]),
    ] {
        let mut run: Value = serde_json::from_str(&mid).unwrap();
        run["run"]["items"] = serde_json::json!([{"id":"a"},{"id":"b"},{"id":"c"}]);
        run["run"]["open"] = open;
        let e = call(&mut fake, "jobs", &settings, Some(&run.to_string())).unwrap_err();
        assert!(e.message().contains("does not fit these streams"), "{e}");
    }
    // Forged positions are refused, never a trap.
    for run in [
        r#"{"next":1,"open":[{"r":3,"k":1,"t":"x"}]}"#,
        r#"{"next":5}"#,
    ] {
        let mut forged: Value = serde_json::from_str(&mid).unwrap();
        forged["run"] = serde_json::from_str(run).unwrap();
        let forged = forged.to_string();
        match call(&mut fake, "jobs", &settings, Some(&forged)) {
            Err(e) => assert_eq!(e.kind(), "invalid-state", "{run}: {e}"),
            // Past the end with nothing open: the sync is over.
            Ok(page) => assert!(!page.has_more && page.records.is_empty(), "{run}"),
        }
    }
    let mut forged: Value = serde_json::from_str(&mid.replace("\"jobs\"", "\"projects\"")).unwrap();
    forged["run"] = serde_json::json!({"open": [{"r": 0, "k": 0, "t": "x"}]});
    let forged = forged.to_string();
    let e = call(&mut fake, "projects", &settings, Some(&forged)).unwrap_err();
    assert!(e.message().contains("single object"), "{e}");
    // A full-refresh stream keeps nothing between syncs.
    let done = done.replace("\"jobs\"", "\"projects\"");
    let e = call(&mut fake, "projects", &settings, Some(&done)).unwrap_err();
    assert!(e.message().contains("keeps no cursor"), "{e}");
}

// ---------------------------------------------------------------------------
// Project discovery
// ---------------------------------------------------------------------------

pub(super) fn discovery_fake() -> FakeCi {
    let mut fake = FakeCi::new();
    let api = fake.add_project("gh/acme/api");
    let web = fake.add_project("gh/acme/web:v2");
    let std = fake.add_project("circleci/8e3c1f3a/5b7a0c2d");
    let site = fake.add_project("bb/team/site");
    for i in 0..30 {
        fake.push_finished(api, t(i * 10), 0);
    }
    fake.push_finished(web, t(5), 0);
    fake.push_finished(std, t(7), 0);
    fake.push_finished(site, t(9), 0);
    fake
}

#[test]
fn projects_are_discovered_from_collaborations() {
    let mut fake = discovery_fake();
    let s = sync(&mut fake, "projects", "{}", None);
    assert_eq!(
        s.field("slug"),
        [
            "gh/acme/api",
            "gh/acme/web:v2",
            "circleci/8e3c1f3a/5b7a0c2d",
            "bb/team/site"
        ]
    );
    assert_eq!(
        fake.log[..6],
        [
            format!("{BASE}/me/collaborations"),
            format!("{BASE}/pipeline?org-slug=gh%2Facme"),
            format!("{BASE}/pipeline?org-slug=gh%2Facme&page-token=opaque%3A20"),
            format!("{BASE}/pipeline?org-slug=circleci%2F8e3c1f3a"),
            format!("{BASE}/pipeline?org-slug=bb%2Fteam"),
            format!("{BASE}/project/gh/acme/api"),
        ]
    );
    assert!(
        fake.log
            .contains(&format!("{BASE}/project/gh/acme/web%3Av2"))
    );
    assert_eq!(
        s.notices,
        [
            "project discovery found 4 project(s) in the newest 1000 pipelines of gh/acme, \
             circleci/8e3c1f3a, bb/team: gh/acme/api, gh/acme/web:v2, circleci/8e3c1f3a/5b7a0c2d, bb/team/site"
        ]
    );

    // org_slug narrows discovery to one organisation, without /me/collaborations.
    fake.log.clear();
    let s = sync(&mut fake, "pipelines", r#"{"org_slug":"bb/team"}"#, None);
    assert_eq!(s.records.len(), 1);
    assert_eq!(
        fake.log,
        [
            format!("{BASE}/pipeline?org-slug=bb%2Fteam"),
            format!("{BASE}/project/bb/team/site/pipeline")
        ]
    );
    // The cursor is keyed by the discovered project's canonical slug.
    assert!(
        s.state
            .unwrap()
            .contains(r#""projects":{"bb/team/site":{"hwm":"#)
    );

    // Nothing to discover.
    let mut empty = FakeCi::new();
    let s = sync(&mut empty, "jobs", "{}", None);
    assert!(s.records.is_empty());
    assert_eq!(
        s.notices,
        [
            "project discovery found no project in the newest 1000 pipelines of any organisation \
          (/me/collaborations is empty): name the projects in project_slugs"
        ]
    );
}

#[test]
fn discovery_scans_50_pages_or_back_to_start_date() {
    let mut fake = FakeCi::new();
    let old = fake.add_project("gh/acme/old");
    let busy = fake.add_project("gh/acme/busy");
    for i in 0..5 {
        fake.push_finished(old, t(i), 0);
    }
    for i in 0..1100 {
        fake.push_finished(busy, t(100 + i), 0);
    }
    // The newest 1,000 pipelines are all the busy project's.
    let s = sync(&mut fake, "projects", "{}", None);
    assert_eq!(s.field("slug"), ["gh/acme/busy"]);
    assert_eq!(fake.count("/pipeline?org-slug"), 50);
    // Discovery spans calls: its progress is in the state, and stays small.
    assert!(s.calls >= 50_usize.div_ceil(crate::walk::MAX_REQUESTS));
    assert!(s.calls >= 2);
    assert!(s.max_state < 400, "{}", s.max_state_text);

    // With start_date the scan goes back to it, however far.
    fake.log.clear();
    let s = sync(
        &mut fake,
        "projects",
        r#"{"start_date":"2026-05-01T00:02:00Z"}"#,
        None,
    );
    assert_eq!(s.field("slug"), ["gh/acme/busy", "gh/acme/old"]);
    assert_eq!(fake.count("/pipeline?org-slug"), 56);
}

// ---------------------------------------------------------------------------
// Incremental sync
// ---------------------------------------------------------------------------

/// A project with 25 finished pipelines, one unfinished (a running workflow
/// with a finished job, a running job, an approval on hold and a blocked
/// job), then 3 more finished pipelines. Returns the fake and the ids of the
/// unfinished workflow's jobs.
pub(super) fn incremental_fake() -> (FakeCi, usize, Vec<String>) {
    let (mut fake, a) = api_project(25, 2);
    let mut done = fake.job("success", Some(t(251)), Some(t(252)));
    done.tests = 2;
    let mut running = fake.job("running", Some(t(253)), None);
    running.tests = 2;
    let hold = fake.approval("on_hold");
    let mut blocked = fake.job("blocked", None, None);
    blocked.tests = 2;
    let ids = vec![
        done.id.clone(),
        running.id.clone(),
        hold.id.clone(),
        blocked.id.clone(),
    ];
    let wf = fake.workflow("on_hold", t(250), None, vec![done, running, hold, blocked]);
    fake.push_pipeline(a, "created", t(250), vec![wf]);
    for i in 26..29 {
        fake.push_finished(a, t(i * 10), 2);
    }
    (fake, a, ids)
}

/// What happens upstream between the two syncs: the unfinished workflow
/// ends (its running job stops, the approval is approved, the blocked job
/// runs), and a new pipeline is created.
pub(super) fn change(fake: &mut FakeCi, a: usize) -> String {
    let wf = &mut fake.projects[a].pipelines[3].workflows[0];
    wf.status = "success".into();
    wf.stopped = Some(t(390));
    wf.jobs[1].status = "success".into();
    wf.jobs[1].stopped = Some(t(385));
    wf.jobs[2].status = "success".into();
    wf.jobs[3].status = "success".into();
    wf.jobs[3].started = Some(t(386));
    wf.jobs[3].stopped = Some(t(389));
    fake.push_finished(a, t(395), 2)
}

pub(super) fn cursor_of(state: &str) -> Value {
    serde_json::from_str::<Value>(state).unwrap()["cursor"].clone()
}

#[test]
fn incremental_jobs_emit_exactly_what_is_new_or_changed() {
    for date in [Some(t(100_000)), None] {
        let (mut fake, a, ids) = incremental_fake();
        fake.date = date;
        let settings = slugs(&["gh/acme/api"]);
        let first = sync(&mut fake, "jobs", &settings, None);
        assert_eq!(first.records.len(), 28 * 3 + 4);
        let state = first.state.unwrap();
        assert!(!state.contains("\"run\""));
        assert_eq!(
            cursor_of(&state),
            serde_json::json!({
                "as_of": "2026-05-01T04:44:00Z",
                "projects": {"gh/acme/api": {"hwm": "2026-05-01T04:40:00Z", "lwm": "2026-05-01T04:10:00Z"}}
            }),
            "{date:?}"
        );

        let new_pipeline = change(&mut fake, a);
        fake.log.clear();
        let second = sync(&mut fake, "jobs", &settings, Some(state));
        let new_wf = fake.projects[a].pipelines[0].workflows[0].id.clone();
        let mut got = second.field("id");
        got.sort();
        let mut want: Vec<String> = fake.projects[a].pipelines[0].workflows[0]
            .jobs
            .iter()
            .map(|j| j.id.clone())
            .chain(ids[1..].iter().cloned())
            .collect();
        want.sort();
        assert_eq!(got, want, "the new pipeline's jobs and the changed ones");
        assert!(
            second
                .values()
                .iter()
                .any(|v| v["workflow_id"] == new_wf.as_str()
                    && v["pipeline_id"] == new_pipeline.as_str())
        );
        // The lookback window (14 days before the newest pipeline) holds
        // all 30 pipelines: two pages of them, the workflows of each, and
        // the jobs of the two workflows that are new or changed.
        assert_eq!(second.requests, 2 + 30 + 2, "{:#?}", fake.log);
        assert_eq!(second.calls, 2);
        let state = second.state.unwrap();
        assert_eq!(
            cursor_of(&state),
            serde_json::json!({
                "as_of": "2026-05-01T06:39:00Z",
                "projects": {"gh/acme/api": {"hwm": "2026-05-01T06:35:00Z"}}
            })
        );

        // Nothing changed: nothing emitted; the window's pipelines and
        // their workflows are listed again, no job.
        fake.log.clear();
        let third = sync(&mut fake, "jobs", &settings, Some(state));
        assert!(third.records.is_empty());
        assert_eq!(fake.log.len(), 2 + 30);
        assert_eq!(
            fake.log[1],
            format!("{BASE}/pipeline/{new_pipeline}/workflow")
        );
        assert!(
            fake.log.iter().all(|u| !u.contains("/job")),
            "{:#?}",
            fake.log
        );
    }
}

#[test]
fn incremental_leaves_follow_the_jobs() {
    let settings = slugs(&["gh/acme/api"]);
    for (stream, first_count, second_count, approvals) in [
        // Details of every non-approval job; then of the emitted ones.
        ("job_details", 28 * 2 + 3, 2 + 2, 2),
        // Tests (2 per job) of every non-approval job; then of the emitted
        // finished ones (the new pipeline's two, the running and the blocked
        // job that ended).
        ("tests", (28 * 2 + 3) * 2, (2 + 2) * 2, 2),
    ] {
        let (mut fake, a, _) = incremental_fake();
        let first = sync(&mut fake, stream, &settings, None);
        assert_eq!(first.records.len(), first_count, "{stream}");
        change(&mut fake, a);
        let second = sync(&mut fake, stream, &settings, first.state);
        assert_eq!(second.records.len(), second_count, "{stream}");
        assert_eq!(
            second.approvals(),
            approvals,
            "{stream}: {:?}",
            second.notices
        );
    }

    // Tests and artifacts of a job still running are read once it ends.
    let (mut fake, a, ids) = incremental_fake();
    let first = sync(&mut fake, "artifacts", &settings, None);
    let wf = &mut fake.projects[a].pipelines[3].workflows[0];
    wf.jobs[3].status = "running".into();
    wf.jobs[3].started = Some(t(300));
    fake.projects[a].pipelines[3].workflows[0].jobs[3].artifacts = 1;
    let second = sync(&mut fake, "artifacts", &settings, first.state);
    assert!(second.records.is_empty(), "{:?}", second.records);
    let wf = &mut fake.projects[a].pipelines[3].workflows[0];
    wf.jobs[3].status = "success".into();
    wf.jobs[3].stopped = Some(t(310));
    let third = sync(&mut fake, "artifacts", &settings, second.state);
    assert_eq!(third.field("job_id"), [ids[3].clone()]);
}

#[test]
fn incremental_workflows_and_pipelines() {
    let settings = slugs(&["gh/acme/api"]);
    let (mut fake, a, _) = incremental_fake();
    let first = sync(&mut fake, "workflows", &settings, None);
    assert_eq!(first.records.len(), 29);
    let changed = fake.projects[a].pipelines[3].workflows[0].id.clone();
    change(&mut fake, a);
    let new = fake.projects[a].pipelines[0].workflows[0].id.clone();
    let second = sync(&mut fake, "workflows", &settings, first.state);
    assert_eq!(second.field("id"), [new, changed]);

    // Pipelines: the window ends at the oldest pipeline whose own state was
    // unfinished; a pipeline is emitted when new or updated since.
    let (mut fake, a, _) = incremental_fake();
    fake.projects[a].pipelines[1].state = "setup".into();
    let first = sync(&mut fake, "pipelines", &settings, None);
    assert_eq!(first.records.len(), 29);
    assert_eq!(
        cursor_of(first.state.as_ref().unwrap())["projects"]["gh/acme/api"]["lwm"],
        "2026-05-01T04:30:00Z"
    );
    let p = &mut fake.projects[a].pipelines[1];
    p.state = "created".into();
    p.updated = t(400);
    let set_up = p.id.clone();
    let new = change(&mut fake, a);
    fake.log.clear();
    let second = sync(&mut fake, "pipelines", &settings, first.state);
    assert_eq!(second.field("id"), [new, set_up]);
    // The window holds all 30 pipelines: two pages.
    assert_eq!(fake.log.len(), 2);
}

#[test]
fn start_date_bounds_every_sync() {
    let (mut fake, a, _) = incremental_fake();
    let settings = r#"{"project_slugs":["gh/acme/api"],"start_date":"2026-05-01T04:00:00Z"}"#;
    let first = sync(&mut fake, "workflows", settings, None);
    // Pipelines created at 04:00 (t(240)) and later.
    assert_eq!(first.records.len(), 5);
    change(&mut fake, a);
    let second = sync(&mut fake, "workflows", settings, first.state);
    assert_eq!(second.records.len(), 2);
}

/// The rule that makes incremental sync sound while the upstream changes
/// under a long sync: a workflow read while running, that ends while the
/// sync goes on to read newer data elsewhere, is emitted by the next sync.
/// (Taking `as_of` as simply the latest timestamp seen would lose it.)
#[test]
fn a_change_during_a_sync_is_not_lost() {
    for date in [true, false] {
        let mut fake = FakeCi::new();
        let a = fake.add_project("gh/acme/api");
        let b = fake.add_project("gh/acme/web");
        for i in 0..10 {
            fake.push_finished(a, t(i), 0);
        }
        let running = fake.job("running", Some(t(21)), None);
        let wf = fake.workflow("running", t(20), None, vec![running]);
        fake.push_pipeline(a, "created", t(20), vec![wf]);
        for i in 0..60 {
            fake.push_finished(b, t(i), 0);
        }
        fake.date = date.then(|| t(30));
        let settings = slugs(&["gh/acme/api", "gh/acme/web"]);

        // The first call reads project a (the running workflow) and part of b.
        let first = call(&mut fake, "workflows", &settings, None).unwrap();
        assert!(first.has_more);
        // Meanwhile the workflow ends, and project b gets a newer pipeline.
        let wf = &mut fake.projects[a].pipelines[0].workflows[0];
        wf.status = "success".into();
        wf.stopped = Some(t(40));
        let ended = wf.id.clone();
        fake.date = date.then(|| t(50));
        fake.push_finished(b, t(45), 0);
        let rest = resume(&mut fake, "workflows", &settings, first.state);
        let state = rest.state.unwrap();
        let as_of: Ts =
            crate::time::parse_ts(cursor_of(&state)["as_of"].as_str().unwrap()).unwrap();
        assert!(as_of < t(40), "as_of {}", crate::time::format_ts(as_of));

        let next = sync(&mut fake, "workflows", &settings, Some(state));
        assert!(next.field("id").contains(&ended), "date header: {date}");
    }
}
