//! Tests of the anomalies of real accounts: stretched history and retention ([`super::retention`]),
//! pipelines whose workflow listing fails ([`super::failing`]), reruns ([`super::reruns`]), abandoned
//! holds ([`super::holds`]) and forbidden contexts ([`super::contexts`]): each is served as specified
//! over HTTP, the right answers ([`super::expected`]) agree with what a connector that skips the
//! unreachable parts reads, and everything is deterministic and off by default.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{Count, SimConfig, TenantConfig};
use super::dataset::Dataset;
use super::expected::{INCREMENTAL_STREAMS, STREAMS};
use super::holds::HOLD_MARGIN;
use super::observe::{TERMINAL_JOB_STATUSES, TERMINAL_WORKFLOW_STATUSES};
use super::tests::{assert_error, escape_query, get, walk};
use super::time::{ANCHOR, DAY, QUIET, parse_rfc3339, rfc3339_millis};
use super::unreachable::{EXPIRED_404, EXPIRED_NULL_IDS, FAILING_500};
use super::{DEFAULT_TOKEN, Simulator};

/// Every anomaly on: history over 120 days, retention 90 days (so both kinds of expired pipelines),
/// 2 failing pipelines, 1 abandoned hold per project, the Bitbucket organisation's contexts forbidden,
/// and the personal account's `owner-slug` refused.
fn anomalous(token: &str, projects: usize, pipelines: usize) -> TenantConfig {
    let mut tenant = TenantConfig::new(token, projects, pipelines);
    tenant.tests_per_job = Count::new(1, 6);
    tenant.artifacts_per_job = Count::new(1, 3);
    tenant.history_days = Some(120);
    tenant.retention_days = Some(90);
    tenant.failing_pipelines = 2;
    tenant.abandoned_holds = 1;
    tenant.forbidden_context_orgs = vec![1];
    tenant.personal_owner_slug_not_found = true;
    tenant
}

/// The same tenant without any anomaly: the same pipelines, workflows and jobs, all readable.
fn plain(config: &TenantConfig) -> TenantConfig {
    TenantConfig {
        retention_days: None,
        failing_pipelines: 0,
        forbidden_context_orgs: Vec::new(),
        personal_owner_slug_not_found: false,
        ..config.clone()
    }
}

fn single(tenant: TenantConfig) -> SimConfig {
    SimConfig {
        seed: 42,
        tenants: vec![tenant],
        ..SimConfig::default()
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn ids(records: &[Value], key: &str) -> BTreeSet<String> {
    records.iter().map(|r| str_of(r, key).to_owned()).collect()
}

/// Removes the keys the connector adds, giving back the API object.
fn api_object(mut record: Value, added: &[&str]) -> Value {
    if let Some(o) = record.as_object_mut() {
        for key in added {
            o.remove(*key);
        }
    }
    record
}

/// A POST with a body, on its own connection: `(status, JSON body)`.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// What a connector that skips the unreachable parts reads: every pipeline listing, every
/// pipeline's workflow listing (skipping a 404, a 500 or workflows with null ids, and saying why),
/// every listed workflow's jobs, and every organisation's contexts by `owner-id` (skipping a 403).
#[derive(Debug, Default)]
struct Synced {
    pipelines: Vec<Value>,
    workflows: Vec<Value>,
    jobs: Vec<Value>,
    skipped: Vec<(String, &'static str)>,
    contexts: Vec<Value>,
    forbidden: Vec<String>,
}

async fn sync(addr: SocketAddr, d: &Dataset) -> Synced {
    let mut out = Synced::default();
    for project in &d.projects {
        let (pipelines, _) =
            walk(addr, &format!("/api/v2/project/{}/pipeline", project.slug)).await;
        for pipeline in &pipelines {
            let pid = str_of(pipeline, "id");
            let target = format!("/api/v2/pipeline/{pid}/workflow");
            let first = get(addr, &target).await;
            match first.status {
                404 => {
                    assert_error(&first, 404, "Not Found");
                    out.skipped.push((pid.to_owned(), EXPIRED_404));
                    continue;
                }
                500 => {
                    assert_error(&first, 500, "Internal server error.");
                    out.skipped.push((pid.to_owned(), FAILING_500));
                    continue;
                }
                status => assert_eq!(status, 200, "{target}: {}", first.text()),
            }
            let (workflows, _) = walk(addr, &target).await;
            if workflows.iter().any(|w| w["id"].is_null()) {
                assert!(workflows.iter().all(|w| w["id"].is_null()), "{target}");
                out.skipped.push((pid.to_owned(), EXPIRED_NULL_IDS));
                continue;
            }
            for workflow in workflows {
                let wid = str_of(&workflow, "id");
                let (jobs, _) = walk(addr, &format!("/api/v2/workflow/{wid}/job")).await;
                for mut job in jobs {
                    let o = job.as_object_mut().unwrap();
                    o.insert("workflow_id".into(), json!(wid));
                    o.insert("pipeline_id".into(), json!(pid));
                    out.jobs.push(job);
                }
                out.workflows.push(workflow);
            }
        }
        out.pipelines.extend(pipelines);
    }
    let collaborations = get(addr, "/api/v2/me/collaborations").await.json();
    for org in collaborations.as_array().unwrap() {
        let target = format!("/api/v2/context?owner-id={}", str_of(org, "id"));
        let first = get(addr, &target).await;
        if first.status == 403 {
            assert_error(&first, 403, "Permission denied");
            out.forbidden.push(str_of(org, "slug").to_owned());
            continue;
        }
        let (contexts, _) = walk(addr, &target).await;
        for mut context in contexts {
            let o = context.as_object_mut().unwrap();
            o.insert("owner_slug".into(), json!(str_of(org, "slug")));
            out.contexts.push(context);
        }
    }
    out
}

/// The cheap keys agree with the records, for every stream.
fn assert_keys_agree(d: &Dataset) {
    for stream in STREAMS {
        let keys: Vec<String> = d
            .expected(stream)
            .iter()
            .map(|r| Dataset::primary_key(stream, r))
            .collect();
        assert_eq!(d.expected_keys(stream), keys, "{stream}");
    }
}

#[test]
fn history_stretches_without_moving_the_live_window_or_job_numbers() {
    let base = TenantConfig::new("t", 6, 45);
    let stretched = TenantConfig {
        history_days: Some(200),
        ..base.clone()
    };
    let a = Dataset::generate(42, 0, &base);
    let b = Dataset::generate(42, 0, &stretched);
    for p in 0..a.projects.len() {
        let (old, new) = (a.cores(p), b.cores(p));
        assert_eq!(old.len(), new.len());
        let Some(oldest) = new.first() else { continue };
        if new.len() > 5 {
            let age = ANCHOR - oldest.created;
            assert!(
                (age - 200 * DAY).abs() < DAY,
                "project {p}: the oldest is {} days old",
                age / DAY
            );
            assert!(
                ANCHOR - old[0].created < 20 * DAY,
                "default history is short"
            );
        }
        assert!(new.windows(2).all(|w| w[0].created < w[1].created));
        for (o, n) in old.iter().zip(new) {
            assert_eq!(
                (o.first_slot, o.workflows, o.flags, o.branch),
                (n.first_slot, n.workflows, n.flags, n.branch),
                "only creation times move"
            );
        }
        // The live window (3, 1 or no pipelines, by project) and the newest historic pipeline keep
        // their times.
        let live = [3, 1, 0][p % 3];
        let keep = (live + 1).min(old.len());
        assert_eq!(
            old[old.len() - keep..]
                .iter()
                .map(|c| c.created)
                .collect::<Vec<_>>(),
            new[new.len() - keep..]
                .iter()
                .map(|c| c.created)
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(
        a.expected_keys("job_details"),
        b.expected_keys("job_details")
    );
    // Still history: every historic workflow is finished at epoch 0.
    for w in b.expected("workflows") {
        let created = parse_rfc3339(str_of(&w, "created_at")).unwrap();
        if created < ANCHOR - 2 * DAY {
            assert!(TERMINAL_WORKFLOW_STATUSES.contains(&str_of(&w, "status")));
        }
    }
    assert_keys_agree(&b);
}

#[tokio::test]
async fn expired_pipelines_answer_404_or_null_ids_and_are_skipped() {
    let mut tenant = anomalous(DEFAULT_TOKEN, 5, 30);
    tenant.failing_pipelines = 0;
    tenant.abandoned_holds = 0;
    let sim = Simulator::start(single(tenant.clone())).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let whole = Dataset::generate(42, 0, &plain(&tenant));
    let unreachable = d.unreachable_pipelines();
    let kinds: BTreeMap<&str, usize> = unreachable.iter().fold(BTreeMap::new(), |mut m, u| {
        *m.entry(u.1).or_default() += 1;
        m
    });
    assert!(
        kinds[EXPIRED_404] >= 4 && kinds[EXPIRED_NULL_IDS] >= 4,
        "{kinds:?}"
    );
    assert!(!kinds.contains_key(FAILING_500));
    // Expired means created more than 90 days before now; the two kinds alternate by ordinal.
    let pipelines = d.expected("pipelines");
    assert_eq!(
        pipelines,
        whole.expected("pipelines"),
        "still listed, unchanged"
    );
    let by_id: BTreeMap<&str, &Value> = pipelines.iter().map(|p| (str_of(p, "id"), p)).collect();
    let limit = rfc3339_millis(ANCHOR - 90 * DAY);
    for (id, _) in &unreachable {
        assert!(str_of(by_id[id.as_str()], "created_at") < limit.as_str());
    }
    let expired_count = pipelines
        .iter()
        .filter(|p| str_of(p, "created_at") < limit.as_str())
        .count();
    assert!(expired_count >= unreachable.len());

    let synced = sync(addr, &d).await;
    assert_eq!(synced.pipelines, pipelines);
    assert_eq!(synced.skipped, unreachable, "exactly these are skipped");
    assert_eq!(synced.workflows, d.expected("workflows"));
    assert_eq!(synced.jobs, d.expected("jobs"));

    let whole_workflows = whole.expected("workflows");
    let whole_jobs = whole.expected("jobs");
    let details = whole.expected("job_details");
    for (id, why) in &unreachable {
        // The pipeline itself is readable.
        let pipeline = get(addr, &format!("/api/v2/pipeline/{id}")).await;
        assert_eq!(pipeline.json(), *by_id[id.as_str()]);
        let target = format!("/api/v2/pipeline/{id}/workflow");
        let listed = get(addr, &target).await;
        let own: Vec<&Value> = whole_workflows
            .iter()
            .filter(|w| w["pipeline_id"] == json!(id))
            .collect();
        if *why == EXPIRED_404 {
            assert_error(&listed, 404, "Not Found");
            // Every page: a page token does not help.
            let paged = get(addr, &format!("{target}?page-token=abc")).await;
            assert_error(&paged, 404, "Not Found");
        } else {
            assert_eq!(listed.status, 200);
            let page = listed.json();
            let items = page["items"].as_array().unwrap();
            assert!(!items.is_empty());
            assert_eq!(items.len(), own.len());
            for (item, w) in items.iter().zip(&own) {
                let mut w = (*w).clone();
                w["id"] = Value::Null;
                assert_eq!(*item, w, "the rest of each workflow as usual");
            }
        }
        // What lies below is gone.
        for w in own {
            let wid = str_of(w, "id");
            assert_error(
                &get(addr, &format!("/api/v2/workflow/{wid}")).await,
                404,
                "Not Found",
            );
            assert_error(
                &get(addr, &format!("/api/v2/workflow/{wid}/job")).await,
                404,
                "Not Found",
            );
        }
        for detail in details.iter().filter(|j| j["pipeline_id"] == json!(id)) {
            let target = format!(
                "/api/v2/project/{}/job/{}",
                str_of(detail, "project_slug"),
                detail["number"]
            );
            assert_error(&get(addr, &target).await, 404, "Not Found");
        }
    }
    // Nothing expected lies below an unreachable pipeline; everything expected is readable.
    let gone: BTreeSet<String> = unreachable.iter().map(|u| u.0.clone()).collect();
    assert!(
        whole_jobs
            .iter()
            .any(|j| gone.contains(str_of(j, "pipeline_id")))
    );
    for stream in ["jobs", "job_details"] {
        assert!(
            d.expected(stream)
                .iter()
                .all(|r| !gone.contains(str_of(r, "pipeline_id"))),
            "{stream}"
        );
    }
    for w in d.expected("workflows") {
        let response = get(addr, &format!("/api/v2/workflow/{}", str_of(&w, "id"))).await;
        assert_eq!(response.json(), w);
    }
    assert_keys_agree(&d);

    // Later epochs keep them expired (and more expire as time passes).
    let later = d.advanced();
    let still: BTreeSet<String> = later
        .unreachable_pipelines()
        .into_iter()
        .map(|u| u.0)
        .collect();
    assert!(still.is_superset(&gone));
    sim.shutdown().await;
}

#[tokio::test]
async fn failing_pipelines_answer_500_on_every_page_forever() {
    let mut tenant = anomalous(DEFAULT_TOKEN, 4, 20);
    tenant.retention_days = None;
    tenant.failing_pipelines = 0;
    let sim = Simulator::start(single(tenant.clone())).await.unwrap();
    let addr = sim.addr();
    let before = sim.dataset(DEFAULT_TOKEN).unwrap();
    let victims = before.some_pipeline_ids(3);
    assert_eq!(victims.len(), 3);
    assert_eq!(
        victims,
        Dataset::generate(42, 0, &tenant).some_pipeline_ids(3),
        "victims are picked deterministically"
    );
    let pipelines = before.expected("pipelines");
    let projects: BTreeSet<&str> = pipelines
        .iter()
        .filter(|p| victims.contains(&str_of(p, "id").to_owned()))
        .map(|p| str_of(p, "project_slug"))
        .collect();
    assert!(projects.len() > 1, "victims spread over projects");
    assert!(!sim.fail_pipeline("not-a-uuid"));
    let a_workflow = before.expected_keys("workflows").remove(0);
    assert!(
        !sim.fail_pipeline(&a_workflow),
        "a workflow id is no pipeline"
    );
    for v in &victims {
        assert!(sim.fail_pipeline(v));
    }
    assert!(
        sim.fail_pipeline(&victims[0]),
        "failing again changes nothing"
    );
    let after = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert!(before.failing_pipeline_ids().is_empty() && !before.is_pipeline_failing(&victims[0]));
    assert_eq!(
        after
            .failing_pipeline_ids()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        victims.iter().cloned().collect()
    );
    let unreachable: Vec<(String, &str)> = after.unreachable_pipelines();
    assert_eq!(unreachable.len(), 3);
    assert!(unreachable.iter().all(|(id, why)| {
        victims.contains(id) && *why == FAILING_500 && after.is_pipeline_failing(id)
    }));
    for v in &victims {
        for target in [
            format!("/api/v2/pipeline/{v}/workflow"),
            format!("/api/v2/pipeline/{v}/workflow"),
            format!("/api/v2/pipeline/{v}/workflow?page-token=whatever"),
        ] {
            assert_error(&get(addr, &target).await, 500, "Internal server error.");
        }
        assert_eq!(
            get(addr, &format!("/api/v2/pipeline/{v}")).await.status,
            200
        );
    }
    let synced = sync(addr, &after).await;
    assert_eq!(synced.skipped, unreachable);
    assert_eq!(synced.workflows, after.expected("workflows"));
    assert_eq!(synced.jobs, after.expected("jobs"));
    let lost = ids(&before.expected("workflows"), "id")
        .difference(&ids(&after.expected("workflows"), "id"))
        .count();
    assert!(lost >= 3, "the victims' workflows are left out");
    for stream in ["jobs", "job_details"] {
        assert!(
            after
                .expected(stream)
                .iter()
                .all(|r| !victims.contains(&str_of(r, "pipeline_id").to_owned()))
        );
    }
    assert_keys_agree(&after);
    // Victims are never already unreachable.
    assert!(
        after
            .some_pipeline_ids(usize::MAX)
            .iter()
            .all(|id| !victims.contains(id))
    );

    // Forever: later epochs keep failing.
    sim.advance();
    sim.advance();
    for v in &victims {
        let target = format!("/api/v2/pipeline/{v}/workflow");
        assert_error(&get(addr, &target).await, 500, "Internal server error.");
    }
    assert_eq!(
        sim.dataset(DEFAULT_TOKEN)
            .unwrap()
            .unreachable_pipelines()
            .len(),
        3
    );
    sim.shutdown().await;

    // The config's count picks the same victims at epoch 0.
    let configured = Dataset::generate(
        42,
        0,
        &TenantConfig {
            failing_pipelines: 3,
            ..tenant
        },
    );
    assert_eq!(configured.failing_pipeline_ids().len(), 3);
    assert_eq!(
        configured
            .unreachable_pipelines()
            .into_iter()
            .map(|u| u.0)
            .collect::<BTreeSet<_>>(),
        victims.into_iter().collect()
    );
}

#[test]
fn reruns_add_finished_workflows_with_new_job_numbers() {
    let mut tenant = anomalous("t", 5, 24);
    tenant.retention_days = None;
    tenant.failing_pipelines = 0;
    tenant.abandoned_holds = 1;
    let d0 = Dataset::generate(42, 0, &tenant);
    let picked = d0.some_finished_workflow_ids(4);
    assert_eq!(picked.len(), 4);
    assert_eq!(
        picked,
        Dataset::generate(42, 0, &tenant).some_finished_workflow_ids(4)
    );
    // Rerun the same workflow twice, too.
    let asked = [picked.clone(), vec![picked[0].clone()]].concat();
    let d1 = d0.advanced_with_reruns(&asked).expect("all can be rerun");
    let plain1 = d0.advanced();
    let reruns = d1.reruns();
    assert_eq!(reruns.len(), 5);
    assert!(d0.reruns().is_empty() && plain1.reruns().is_empty());
    assert_eq!(
        reruns.iter().map(|r| r.of.clone()).collect::<BTreeSet<_>>(),
        picked.iter().cloned().collect()
    );
    assert!(reruns.iter().all(|r| r.epoch == 1));
    let new_ids: BTreeSet<String> = reruns.iter().map(|r| r.id.clone()).collect();
    assert_eq!(new_ids.len(), 5, "distinct new workflows");

    // Pipelines do not change; everything else of the advance is as without reruns.
    assert_eq!(d1.expected("pipelines"), plain1.expected("pipelines"));
    let old_workflows: BTreeMap<String, Value> = d0
        .expected("workflows")
        .into_iter()
        .map(|w| (str_of(&w, "id").to_owned(), w))
        .collect();
    let workflows = d1.expected("workflows");
    let now = d1.now();
    let quiet = rfc3339_millis(d1.t() - QUIET);
    for r in &reruns {
        let w = workflows
            .iter()
            .find(|w| w["id"] == json!(r.id))
            .expect("listed");
        let old = &old_workflows[&r.of];
        for key in ["name", "pipeline_id", "pipeline_number", "project_slug"] {
            assert_eq!(w[key], old[key], "{key}");
        }
        assert_eq!(str_of(w, "pipeline_id"), r.pipeline_id);
        let created = str_of(w, "created_at");
        assert!(
            created > d0.now().as_str() && created <= quiet.as_str(),
            "{created}"
        );
        assert!(TERMINAL_WORKFLOW_STATUSES.contains(&str_of(w, "status")));
        assert!(
            str_of(w, "stopped_at") <= quiet.as_str() && str_of(w, "stopped_at") < now.as_str()
        );
        // Listed first in its pipeline (newest first).
        let listed: Vec<&Value> = workflows
            .iter()
            .filter(|x| x["pipeline_id"] == w["pipeline_id"])
            .collect();
        assert!(new_ids.contains(str_of(listed[0], "id")));
    }
    let changed =
        |before: &Dataset, after: &Dataset, stream| Dataset::changed_keys(before, after, stream);
    let jobs = d1.expected("jobs");
    let rerun_jobs: BTreeSet<String> = jobs
        .iter()
        .filter(|j| new_ids.contains(str_of(j, "workflow_id")))
        .map(|j| str_of(j, "id").to_owned())
        .collect();
    let rerun_details: BTreeSet<String> = d1
        .expected("job_details")
        .iter()
        .filter(|j| new_ids.contains(str_of(j, "workflow_id")))
        .map(|j| Dataset::primary_key("job_details", j))
        .collect();
    assert!(!rerun_jobs.is_empty() && !rerun_details.is_empty());
    let rerun_children = |stream: &str| -> BTreeSet<String> {
        d1.expected(stream)
            .iter()
            .filter(|r| rerun_jobs.contains(str_of(r, "job_id")))
            .map(|r| Dataset::primary_key(stream, r))
            .collect()
    };
    let mut extra = BTreeMap::new();
    extra.insert("pipelines", BTreeSet::new());
    extra.insert("workflows", new_ids.clone());
    extra.insert("jobs", rerun_jobs.clone());
    extra.insert("job_details", rerun_details.clone());
    extra.insert("tests", rerun_children("tests"));
    extra.insert("artifacts", rerun_children("artifacts"));
    assert!(!extra["tests"].is_empty() && !extra["artifacts"].is_empty());
    for stream in INCREMENTAL_STREAMS {
        let with = changed(&d0, &d1, stream);
        let without = changed(&d0, &plain1, stream);
        let want: BTreeSet<String> = without.union(&extra[stream]).cloned().collect();
        assert_eq!(
            with, want,
            "{stream}: exactly the reruns' records are added"
        );
        assert!(without.is_disjoint(&extra[stream]), "{stream}");
    }
    // New job numbers: no number of the project is reused, now or after later pipelines arrive.
    let d2 = d1.advanced();
    let d3 = d2.advanced();
    for d in [&d1, &d2, &d3] {
        let keys = d.expected_keys("job_details");
        let distinct: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "job numbers are unique");
        assert_keys_agree(d);
    }
    let old_numbers: BTreeSet<String> = plain1.expected_keys("job_details").into_iter().collect();
    assert!(rerun_details.is_disjoint(&old_numbers));
    // A rerun never changes again.
    for stream in INCREMENTAL_STREAMS {
        let later = changed(&d1, &d2, stream);
        assert!(later.is_disjoint(&extra[stream]), "{stream}");
    }
    for r in &reruns {
        assert!(d3.expected_keys("workflows").contains(&r.id));
    }

    // The same jobs run again, under new ids.
    let old_jobs = d0.expected("jobs");
    for r in &reruns {
        let names = |jobs: &[Value], wid: &str| -> Vec<(String, String)> {
            jobs.iter()
                .filter(|j| j["workflow_id"] == json!(wid))
                .map(|j| (str_of(j, "name").to_owned(), str_of(j, "type").to_owned()))
                .collect()
        };
        assert_eq!(names(&jobs, &r.id), names(&old_jobs, &r.of));
        for j in jobs.iter().filter(|j| j["workflow_id"] == json!(r.id)) {
            assert!(TERMINAL_JOB_STATUSES.contains(&str_of(j, "status")));
        }
    }

    // A rerun can be rerun again; running, on-hold, foreign or garbage ids cannot.
    let again = d1.advanced_with_reruns(&[reruns[0].id.clone()]).unwrap();
    let second = again.reruns();
    assert_eq!(second.len(), 6);
    assert_eq!(second[5].of, reruns[0].id);
    assert_eq!(second[5].pipeline_id, reruns[0].pipeline_id);
    let hold = d0.abandoned_hold_workflow_ids();
    assert!(!hold.is_empty());
    let running: Vec<String> = d0
        .expected("workflows")
        .iter()
        .filter(|w| !TERMINAL_WORKFLOW_STATUSES.contains(&str_of(w, "status")))
        .map(|w| str_of(w, "id").to_owned())
        .collect();
    assert!(!running.is_empty());
    let mut refused: Vec<String> = hold.iter().chain(&running).cloned().collect();
    refused.push(d0.all_pipeline_ids().remove(0));
    refused.push("garbage".to_owned());
    for id in &refused {
        assert!(!d0.can_rerun(id), "{id}");
        assert!(d0.advanced_with_reruns(&[id]).is_none(), "{id}");
    }
    let other = Dataset::generate(42, 1, &tenant);
    assert!(!other.can_rerun(&picked[0]));

    // Deterministic.
    let d1_again = Dataset::generate(42, 0, &tenant)
        .advanced_with_reruns(&asked)
        .unwrap();
    for stream in STREAMS {
        assert_eq!(d1_again.expected(stream), d1.expected(stream), "{stream}");
    }
}

#[tokio::test]
async fn reruns_over_http() {
    let mut tenant = anomalous(DEFAULT_TOKEN, 3, 12);
    tenant.retention_days = None;
    tenant.failing_pipelines = 0;
    let sim = Simulator::start(single(tenant)).await.unwrap();
    let addr = sim.addr();
    let d0 = sim.dataset(DEFAULT_TOKEN).unwrap();
    let picked = d0.some_finished_workflow_ids(3);
    // Today's empty-body advance answers as before.
    let (status, body) = post(addr, "/_sim/advance", "").await;
    assert_eq!((status, body), (200, json!({"epoch": 1})));
    let d1 = sim.dataset(DEFAULT_TOKEN).unwrap();
    let (status, body) = post(addr, "/_sim/advance", "{}").await;
    assert_eq!((status, body), (200, json!({"epoch": 2})));
    let d2 = sim.dataset(DEFAULT_TOKEN).unwrap();
    // A bad id or body changes nothing.
    let bad = json!({"reruns": [picked[0], "not-a-workflow"]}).to_string();
    let (status, body) = post(addr, "/_sim/advance", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(str_of(&body, "message").contains("not-a-workflow"));
    let (status, _) = post(addr, "/_sim/advance", r#"{"rerun": []}"#).await;
    assert_eq!(status, 400);
    assert_eq!(sim.epoch(), 2);
    assert!(!sim.rerun_at_next_advance("not-a-workflow"));

    // One rerun asked through the Rust control, two through the body.
    assert!(sim.rerun_at_next_advance(&picked[2]));
    let body = json!({"reruns": [picked[0], picked[1]]}).to_string();
    let (status, answer) = post(addr, "/_sim/advance", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["epoch"], 3);
    let d3 = sim.dataset(DEFAULT_TOKEN).unwrap();
    let reruns = d3.reruns();
    assert_eq!(reruns.len(), 3);
    let reported: Vec<Value> = reruns
        .iter()
        .map(|r| json!({"id": r.id, "of": r.of, "pipeline_id": r.pipeline_id}))
        .collect();
    assert_eq!(answer["reruns"], json!(reported));
    assert_eq!(
        reruns.iter().map(|r| &r.of).collect::<BTreeSet<_>>(),
        picked.iter().collect()
    );
    for r in &reruns {
        // Listed first by its pipeline; the pipeline itself is unchanged.
        let page = get(
            addr,
            &format!("/api/v2/pipeline/{}/workflow", r.pipeline_id),
        )
        .await
        .json();
        assert_eq!(page["items"][0]["id"], json!(r.id));
        let pipeline = get(addr, &format!("/api/v2/pipeline/{}", r.pipeline_id))
            .await
            .json();
        let before = d2
            .expected("pipelines")
            .into_iter()
            .find(|p| p["id"] == json!(r.pipeline_id))
            .unwrap();
        assert_eq!(pipeline, before);
        let workflow = get(addr, &format!("/api/v2/workflow/{}", r.id))
            .await
            .json();
        let (jobs, _) = walk(addr, &format!("/api/v2/workflow/{}/job", r.id)).await;
        assert!(!jobs.is_empty());
        for job in jobs.iter().filter(|j| j["type"] == "build") {
            let number = &job["job_number"];
            let slug = str_of(job, "project_slug");
            let details = get(addr, &format!("/api/v2/project/{slug}/job/{number}"))
                .await
                .json();
            assert_eq!(details["latest_workflow"]["id"], json!(r.id));
            assert_eq!(details["latest_workflow"]["name"], workflow["name"]);
            assert_eq!(details["pipeline"]["id"], json!(r.pipeline_id));
            let escaped = escape_query(slug);
            let (tests, _) = walk(addr, &format!("/api/v2/project/{escaped}/{number}/tests")).await;
            let want: Vec<Value> = d3
                .expected("tests")
                .into_iter()
                .filter(|t| t["job_id"] == job["id"])
                .map(|t| api_object(t, &["project_slug", "job_number", "job_id", "test_index"]))
                .collect();
            assert_eq!(tests, want);
        }
    }
    let synced = sync(addr, &d3).await;
    assert_eq!(synced.workflows, d3.expected("workflows"));
    assert_eq!(synced.jobs, d3.expected("jobs"));
    for stream in INCREMENTAL_STREAMS {
        let with = Dataset::changed_keys(&d2, &d3, stream);
        let new_workflows: BTreeSet<String> = reruns.iter().map(|r| r.id.clone()).collect();
        if stream == "workflows" {
            assert!(with.is_superset(&new_workflows));
        }
    }
    // Nothing rerun at the next plain advance.
    sim.advance();
    assert_eq!(sim.dataset(DEFAULT_TOKEN).unwrap().reruns(), reruns);
    assert!(d1.reruns().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn abandoned_holds_stay_on_hold_forever() {
    let mut tenant = anomalous(DEFAULT_TOKEN, 6, 30);
    tenant.abandoned_holds = 2;
    tenant.failing_pipelines = 0;
    let sim = Simulator::start(single(tenant.clone())).await.unwrap();
    let addr = sim.addr();
    let d0 = sim.dataset(DEFAULT_TOKEN).unwrap();
    let holds = d0.abandoned_hold_pipeline_ids();
    let hold_workflows = d0.abandoned_hold_workflow_ids();
    assert_eq!(holds.len(), hold_workflows.len());
    let pipelines: BTreeMap<String, Value> = d0
        .expected("pipelines")
        .into_iter()
        .map(|p| (str_of(&p, "id").to_owned(), p))
        .collect();
    // Two per project with history (projects 4 and 5 hold one pipeline and none), spread in age.
    let per_project = holds.iter().fold(BTreeMap::new(), |mut m, id| {
        *m.entry(str_of(&pipelines[id], "project_slug").to_owned())
            .or_insert(0) += 1;
        m
    });
    assert_eq!(
        per_project.values().copied().collect::<Vec<_>>(),
        [2, 2, 2, 2]
    );
    let twenty_days = rfc3339_millis(ANCHOR - 20 * DAY);
    let kept = rfc3339_millis(ANCHOR - 90 * DAY + HOLD_MARGIN);
    let mut old = 0;
    for id in &holds {
        let created = str_of(&pipelines[id], "created_at");
        assert!(created >= kept.as_str(), "within retention");
        old += usize::from(created < twenty_days.as_str());
    }
    assert!(old >= 4, "one per project is weeks old");
    assert!(
        d0.unreachable_pipelines()
            .iter()
            .all(|(id, _)| !holds.contains(id))
    );
    assert!(
        d0.some_pipeline_ids(usize::MAX)
            .iter()
            .all(|id| !holds.contains(id))
    );

    let check = |d: &Dataset| {
        let workflows = d.expected("workflows");
        let jobs = d.expected("jobs");
        let details = d.expected("job_details");
        for wid in &hold_workflows {
            let w = workflows.iter().find(|w| w["id"] == json!(wid)).unwrap();
            assert_eq!(w["status"], "on_hold");
            assert_eq!(w["stopped_at"], Value::Null);
            let own: Vec<&Value> = jobs
                .iter()
                .filter(|j| j["workflow_id"] == json!(wid))
                .collect();
            assert!(own.len() >= 2);
            let approval = own[0];
            assert_eq!(approval["type"], "approval");
            assert_eq!(approval["status"], "on_hold");
            assert!(approval.get("job_number").is_none());
            assert!(approval["started_at"].is_string());
            assert_eq!(approval["stopped_at"], Value::Null);
            assert!(approval.get("approved_by").is_none());
            for job in &own[1..] {
                assert_eq!(job["status"], "blocked", "{job}");
                assert_eq!(job["started_at"], Value::Null);
                assert_eq!(job["stopped_at"], Value::Null);
                assert!(!job["dependencies"].as_array().unwrap().is_empty());
                let detail = details.iter().find(|x| x["job_id"] == job["id"]).unwrap();
                assert_eq!(detail["status"], "blocked");
                assert_eq!(detail["queued_at"], Value::Null);
            }
            let job_ids: BTreeSet<String> =
                own.iter().map(|j| str_of(j, "id").to_owned()).collect();
            for stream in ["tests", "artifacts"] {
                assert!(
                    d.expected(stream)
                        .iter()
                        .all(|r| !job_ids.contains(str_of(r, "job_id")))
                );
            }
        }
    };
    check(&d0);
    // Served as expected.
    for (pid, wid) in holds.iter().zip(&hold_workflows) {
        let (listed, _) = walk(addr, &format!("/api/v2/pipeline/{pid}/workflow")).await;
        let w = listed.iter().find(|w| w["id"] == json!(wid)).unwrap();
        assert_eq!(w["status"], "on_hold");
        let (jobs, _) = walk(addr, &format!("/api/v2/workflow/{wid}/job")).await;
        assert_eq!(jobs[0]["status"], "on_hold");
        assert!(jobs[1..].iter().all(|j| j["status"] == "blocked"));
    }
    // Forever: the same at every epoch, and never changed.
    let mut before = (*d0).clone();
    for _ in 0..3 {
        sim.advance();
        let after = sim.dataset(DEFAULT_TOKEN).unwrap();
        check(&after);
        let hold_set: BTreeSet<String> = hold_workflows.iter().cloned().collect();
        assert!(Dataset::changed_keys(&before, &after, "workflows").is_disjoint(&hold_set));
        before = (*after).clone();
    }
    let (listed, _) = walk(addr, &format!("/api/v2/workflow/{}/job", hold_workflows[0])).await;
    assert_eq!(listed[0]["status"], "on_hold");
    sim.shutdown().await;

    // Off by default, and job numbers only shift when on.
    let none = Dataset::generate(42, 0, &TenantConfig::new(DEFAULT_TOKEN, 6, 30));
    assert!(none.abandoned_hold_pipeline_ids().is_empty());
}

#[tokio::test]
async fn forbidden_contexts_answer_403_and_personal_slugs_404() {
    let tenant = anomalous(DEFAULT_TOKEN, 3, 5);
    let sim = Simulator::start(single(tenant.clone())).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let whole = Dataset::generate(42, 0, &plain(&tenant));
    let orgs = d.collaborations();
    let orgs = orgs.as_array().unwrap();
    let bitbucket = str_of(&orgs[1], "slug");
    assert!(bitbucket.starts_with("bb/"));
    assert_eq!(d.forbidden_context_orgs(), [bitbucket]);
    assert!(whole.forbidden_context_orgs().is_empty());
    for target in [
        format!(
            "/api/v2/context?owner-slug={}&owner-type=organization",
            escape_query(bitbucket)
        ),
        format!("/api/v2/context?owner-id={}", str_of(&orgs[1], "id")),
    ] {
        assert_error(&get(addr, &target).await, 403, "Permission denied");
    }
    // Its contexts' variables too (a connector cannot learn their ids, but they are not readable).
    let forbidden_contexts: Vec<Value> = whole
        .expected("contexts")
        .into_iter()
        .filter(|c| c["owner_slug"] == json!(bitbucket))
        .collect();
    assert!(!forbidden_contexts.is_empty());
    for c in &forbidden_contexts {
        let target = format!("/api/v2/context/{}/environment-variable", str_of(c, "id"));
        assert_error(&get(addr, &target).await, 403, "Permission denied");
    }
    // The personal account: not by owner-slug, but by owner-id.
    let personal = &orgs[3];
    let by_slug = format!(
        "/api/v2/context?owner-slug={}&owner-type=organization",
        escape_query(str_of(personal, "slug"))
    );
    assert_error(&get(addr, &by_slug).await, 404, "Not Found");
    let by_id = format!("/api/v2/context?owner-id={}", str_of(personal, "id"));
    assert_eq!(get(addr, &by_id).await.status, 200);
    // The others answer by both.
    for org in [&orgs[0], &orgs[2]] {
        let slug = format!(
            "/api/v2/context?owner-slug={}",
            escape_query(str_of(org, "slug"))
        );
        let id = format!("/api/v2/context?owner-id={}", str_of(org, "id"));
        assert_eq!(walk(addr, &slug).await.0, walk(addr, &id).await.0);
    }

    let synced = sync(addr, &d).await;
    assert_eq!(synced.forbidden, d.forbidden_context_orgs());
    assert_eq!(synced.contexts, d.expected("contexts"));
    let expected = d.expected("contexts");
    assert_eq!(
        expected,
        whole
            .expected("contexts")
            .into_iter()
            .filter(|c| c["owner_slug"] != json!(bitbucket))
            .collect::<Vec<_>>()
    );
    let readable = ids(&expected, "id");
    let variables = d.expected("context_environment_variables");
    assert!(
        variables
            .iter()
            .all(|v| readable.contains(str_of(v, "context_id")))
    );
    for c in &expected {
        let (items, _) = walk(
            addr,
            &format!("/api/v2/context/{}/environment-variable", str_of(c, "id")),
        )
        .await;
        let want: Vec<Value> = variables
            .iter()
            .filter(|v| v["context_id"] == c["id"])
            .cloned()
            .collect();
        assert_eq!(items, want);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn everything_at_once_is_consistent_and_deterministic() {
    let tenant = anomalous(DEFAULT_TOKEN, 6, 45);
    let config = SimConfig {
        seed: 42,
        tenants: vec![tenant.clone(), anomalous("CCIPAT_sim_other_tenant", 2, 10)],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config.clone()).await.unwrap();
    let twin = Simulator::start(config).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let unreachable = d.unreachable_pipelines();
    for why in [EXPIRED_404, EXPIRED_NULL_IDS, FAILING_500] {
        assert!(unreachable.iter().any(|u| u.1 == why), "{why}");
    }
    assert_eq!(unreachable.iter().filter(|u| u.1 == FAILING_500).count(), 2);
    let synced = sync(addr, &d).await;
    assert_eq!(synced.pipelines, d.expected("pipelines"));
    assert_eq!(synced.skipped, unreachable);
    assert_eq!(synced.workflows, d.expected("workflows"));
    assert_eq!(synced.jobs, d.expected("jobs"));
    assert_eq!(synced.contexts, d.expected("contexts"));
    assert_eq!(synced.forbidden, d.forbidden_context_orgs());
    assert_keys_agree(&d);

    // Same config, same answers.
    let report = |addr: SocketAddr| async move { get(addr, "/_sim/anomalies").await.json() };
    let first = report(addr).await;
    assert_eq!(first, report(twin.addr()).await);
    let tenant_report = &first["tenants"][0];
    assert_eq!(tenant_report["token"], DEFAULT_TOKEN);
    let reported: Vec<(String, String)> = tenant_report["unreachable_pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (str_of(u, "id").to_owned(), str_of(u, "why").to_owned()))
        .collect();
    let want: Vec<(String, String)> = unreachable
        .iter()
        .map(|(id, why)| (id.clone(), (*why).to_owned()))
        .collect();
    assert_eq!(reported, want);
    assert_eq!(
        tenant_report["abandoned_hold_pipelines"],
        json!(d.abandoned_hold_pipeline_ids())
    );
    assert_eq!(
        tenant_report["forbidden_context_orgs"],
        json!([str_of(&d.collaborations()[1], "slug")])
    );
    for target in [
        format!("/api/v2/pipeline/{}/workflow", unreachable[0].0),
        format!(
            "/api/v2/pipeline/{}/workflow",
            unreachable[unreachable.len() - 1].0
        ),
        format!("/api/v2/project/{}/pipeline", d.projects[0].slug),
    ] {
        assert_eq!(
            get(addr, &target).await,
            get(twin.addr(), &target).await,
            "{target}"
        );
    }
    // A rerun in both, then identical epochs.
    let victim = d.some_finished_workflow_ids(1).remove(0);
    assert!(sim.rerun_at_next_advance(&victim) && twin.rerun_at_next_advance(&victim));
    sim.advance();
    twin.advance();
    let (a, b) = (
        sim.dataset(DEFAULT_TOKEN).unwrap(),
        twin.dataset(DEFAULT_TOKEN).unwrap(),
    );
    for stream in STREAMS {
        assert_eq!(a.expected(stream), b.expected(stream), "{stream}");
    }
    assert_eq!(report(addr).await, report(twin.addr()).await);
    let synced = sync(addr, &a).await;
    assert_eq!(synced.workflows, a.expected("workflows"));
    assert_eq!(synced.jobs, a.expected("jobs"));
    assert!(Dataset::changed_keys(&d, &a, "workflows").contains(&a.reruns()[0].id));
    sim.shutdown().await;
    twin.shutdown().await;
}

#[test]
fn anomalies_are_off_by_default() {
    let d = Dataset::generate(42, 0, &TenantConfig::default());
    assert!(d.unreachable_pipelines().is_empty());
    assert!(d.abandoned_hold_pipeline_ids().is_empty());
    assert!(d.forbidden_context_orgs().is_empty());
    assert!(d.failing_pipeline_ids().is_empty());
    assert!(d.reruns().is_empty());
    let next = d.advanced();
    assert!(next.reruns().is_empty() && next.unreachable_pipelines().is_empty());
    assert_eq!(
        d.advanced_with_reruns::<String>(&[])
            .unwrap()
            .expected("jobs"),
        next.expected("jobs")
    );
}
