//! End-to-end tests of the deep endpoints (collaborations, org pipelines, workflows, jobs, job details,
//! tests, artifacts, contexts, insights) over real sockets: shapes, paging exactly once, 404s.

use std::collections::BTreeSet;

use serde_json::Value;

use super::config::{Count, SimConfig, TenantConfig};
use super::tests::{assert_error, escape_query, exchange, get, walk};
use super::{DEFAULT_TOKEN, PAGE_SIZE, Simulator};

/// A tenant with enough depth that job tests, contexts and variables span several pages.
fn deep_config() -> SimConfig {
    let mut tenant = TenantConfig::new(DEFAULT_TOKEN, 6, 30);
    tenant.tests_per_job = Count::new(15, 45);
    tenant.contexts_per_org = Count::new(21, 25);
    tenant.env_vars_per_context = Count::new(0, 24);
    SimConfig {
        seed: 42,
        tenants: vec![tenant],
        ..SimConfig::default()
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
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

#[tokio::test]
async fn collaborations_are_the_tenant_orgs() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let response = get(sim.addr(), "/api/v2/me/collaborations").await;
    assert_eq!(response.status, 200);
    let orgs = response.json();
    let list = orgs.as_array().expect("a bare array, not a page");
    assert_eq!(orgs, sim.dataset(DEFAULT_TOKEN).unwrap().collaborations());
    let slugs: Vec<&str> = list.iter().map(|o| str_of(o, "slug")).collect();
    assert!(
        slugs[0].starts_with("gh/")
            && slugs[1].starts_with("bb/")
            && slugs[2].starts_with("circleci/")
    );
    for org in list {
        assert_eq!(keys(org), ["avatar_url", "id", "name", "slug", "vcs-type"]);
        assert!(["github", "bitbucket", "circleci"].contains(&str_of(org, "vcs-type")));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn org_pipelines_merge_the_org_projects_newest_first() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 8, 30))
        .await
        .unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let login = d.user["login"].as_str().unwrap().to_owned();
    let all = d.expected("pipelines");
    let collaborations = d.collaborations();
    let mut seen = 0;
    for org in collaborations.as_array().unwrap() {
        let slug = str_of(org, "slug");
        let org_projects: Vec<&str> = d
            .projects
            .iter()
            .filter(|p| p.json["organization_slug"] == slug)
            .map(|p| p.slug.as_str())
            .collect();
        let mut want: Vec<Value> = all
            .iter()
            .filter(|p| org_projects.contains(&str_of(p, "project_slug")))
            .cloned()
            .collect();
        want.sort_by(|a, b| str_of(b, "created_at").cmp(str_of(a, "created_at")));
        let mut forms = vec![slug.to_owned()];
        if let Some(name) = slug.strip_prefix("gh/") {
            forms.push(format!("github/{name}"));
        }
        if let Some(name) = slug.strip_prefix("bb/") {
            forms.push(format!("bitbucket/{name}"));
        }
        for form in forms {
            let (items, requests) = walk(
                addr,
                &format!("/api/v2/pipeline?org-slug={}", escape_query(&form)),
            )
            .await;
            assert_eq!(items, want, "{form}");
            assert_eq!(requests, want.len().div_ceil(PAGE_SIZE).max(1));
        }
        let (mine, _) = walk(
            addr,
            &format!("/api/v2/pipeline?org-slug={}&mine=true", escape_query(slug)),
        )
        .await;
        let want_mine: Vec<Value> = want
            .iter()
            .filter(|p| p["trigger"]["actor"]["login"] == login.as_str())
            .cloned()
            .collect();
        assert_eq!(mine, want_mine, "{slug} mine");
        seen += want.len();
    }
    assert_eq!(seen, all.len(), "every pipeline belongs to exactly one org");
    // No org-slug: every followed project; an org the user is not in: nothing.
    assert_eq!(walk(addr, "/api/v2/pipeline").await.0.len(), all.len());
    assert!(
        walk(addr, "/api/v2/pipeline?org-slug=gh/someone-else")
            .await
            .0
            .is_empty()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn org_walks_survive_an_advance() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 4, 30))
        .await
        .unwrap();
    let addr = sim.addr();
    let before = sim.dataset(DEFAULT_TOKEN).unwrap();
    let org = before.collaborations()[0]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let target = format!("/api/v2/pipeline?org-slug={}", escape_query(&org));
    let first = get(addr, &target).await.json();
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    assert_eq!(sim.advance(), 1);
    assert_eq!(sim.epoch(), 1);
    let (rest, _) = walk(addr, &format!("{target}&page-token={token}")).await;
    let mut ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(&rest)
        .map(|p| str_of(p, "id"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n,
        "no pipeline twice although newer ones arrived mid-walk"
    );
    let (now, _) = walk(addr, &target).await;
    assert!(now.len() >= n, "a fresh walk sees the new pipelines too");
    sim.shutdown().await;
}

#[tokio::test]
async fn pipelines_workflows_and_jobs_by_id() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let workflows = d.expected("workflows");
    let jobs = d.expected("jobs");
    let mut checked_jobs = 0;
    for pipeline in d.expected("pipelines").iter().take(60) {
        let id = str_of(pipeline, "id");
        let response = get(addr, &format!("/api/v2/pipeline/{id}")).await;
        assert_eq!(response.status, 200);
        assert_eq!(&response.json(), pipeline);

        let (items, _) = walk(addr, &format!("/api/v2/pipeline/{id}/workflow")).await;
        let want: Vec<Value> = workflows
            .iter()
            .filter(|w| w["pipeline_id"] == id)
            .cloned()
            .collect();
        assert_eq!(items, want, "workflows of {id}");
        for pair in items.windows(2) {
            assert!(
                str_of(&pair[0], "created_at") > str_of(&pair[1], "created_at"),
                "newest first"
            );
        }
        for w in &items {
            let wid = str_of(w, "id");
            assert_eq!(
                &get(addr, &format!("/api/v2/workflow/{wid}")).await.json(),
                w
            );
            for key in [
                "id",
                "name",
                "status",
                "created_at",
                "stopped_at",
                "pipeline_id",
                "pipeline_number",
                "project_slug",
                "started_by",
            ] {
                assert!(w.get(key).is_some(), "{key} in {w}");
            }
            let (items, _) = walk(addr, &format!("/api/v2/workflow/{wid}/job")).await;
            let want: Vec<Value> = jobs
                .iter()
                .filter(|j| j["workflow_id"] == wid)
                .map(|j| api_object(j.clone(), &["workflow_id", "pipeline_id"]))
                .collect();
            assert_eq!(items, want);
            for job in &items {
                for key in [
                    "id",
                    "name",
                    "started_at",
                    "dependencies",
                    "project_slug",
                    "status",
                    "type",
                    "stopped_at",
                ] {
                    assert!(job.get(key).is_some(), "{key} in {job}");
                }
                assert_eq!(
                    job["type"] == "approval",
                    job.get("job_number").is_none(),
                    "{job}"
                );
                checked_jobs += 1;
            }
        }
    }
    assert!(checked_jobs > 100);
    for unknown in [
        "/api/v2/pipeline/00000000-0000-4000-8000-000000000000",
        "/api/v2/pipeline/not-a-uuid/workflow",
        "/api/v2/workflow/5034460f-c7c4-4c43-9457-de07e2029e7b",
        "/api/v2/workflow/5034460f-c7c4-4c43-9457-de07e2029e7b/job",
    ] {
        assert_error(&get(addr, unknown).await, 404, "Not Found");
    }
    // A pipeline id is not a workflow id.
    let pid = str_of(&d.expected("pipelines")[0], "id").to_owned();
    assert_error(
        &get(addr, &format!("/api/v2/workflow/{pid}")).await,
        404,
        "Not Found",
    );
    assert_error(
        &get(addr, "/api/v2/workflow//job").await,
        500,
        "Internal server error.",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn foreign_tenant_ids_are_not_found() {
    let config = SimConfig {
        seed: 42,
        tenants: vec![
            TenantConfig::new("CCIPAT_a", 2, 5),
            TenantConfig::new("CCIPAT_b", 2, 5),
        ],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let b = sim.dataset("CCIPAT_b").unwrap();
    let pipeline = str_of(&b.expected("pipelines")[0], "id").to_owned();
    let workflow = str_of(&b.expected("workflows")[0], "id").to_owned();
    let context = str_of(&b.expected("contexts")[0], "id").to_owned();
    for (target, message) in [
        (format!("/api/v2/pipeline/{pipeline}"), "Not Found"),
        (format!("/api/v2/workflow/{workflow}/job"), "Not Found"),
        (
            format!("/api/v2/context/{context}/environment-variable"),
            "Context not found.",
        ),
    ] {
        let response = exchange(
            sim.addr(),
            &[("GET", &target, &[("Circle-Token", "CCIPAT_a")])],
        )
        .await;
        assert_error(&response[0], 404, message);
        let response = exchange(
            sim.addr(),
            &[("GET", &target, &[("Circle-Token", "CCIPAT_b")])],
        )
        .await;
        assert_eq!(response[0].status, 200, "{target}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn job_details_tests_and_artifacts() {
    let sim = Simulator::start(deep_config()).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let details = d.expected("job_details");
    let tests = d.expected("tests");
    let artifacts = d.expected("artifacts");
    let mut multi_page_tests = 0;
    for record in details.iter().step_by(7) {
        let slug = str_of(record, "project_slug");
        let number = record["number"].as_u64().unwrap();
        let response = get(addr, &format!("/api/v2/project/{slug}/job/{number}")).await;
        assert_eq!(response.status, 200);
        let served = response.json();
        assert_eq!(
            served,
            api_object(
                record.clone(),
                &["project_slug", "job_id", "workflow_id", "pipeline_id"]
            )
        );
        assert_eq!(
            keys(&served),
            [
                "contexts",
                "created_at",
                "duration",
                "executor",
                "latest_workflow",
                "messages",
                "name",
                "number",
                "organization",
                "parallel_runs",
                "parallelism",
                "pipeline",
                "project",
                "queued_at",
                "started_at",
                "status",
                "stopped_at",
                "web_url"
            ]
        );
        let escaped = slug.replace('/', "%2F");
        let (items, requests) =
            walk(addr, &format!("/api/v2/project/{escaped}/{number}/tests")).await;
        let want: Vec<Value> = tests
            .iter()
            .filter(|t| t["project_slug"] == slug && t["job_number"] == number)
            .map(|t| {
                api_object(
                    t.clone(),
                    &["project_slug", "job_number", "job_id", "test_index"],
                )
            })
            .collect();
        assert_eq!(items, want, "tests of {slug} {number}");
        multi_page_tests += usize::from(requests > 1);
        for t in &items {
            assert_eq!(
                keys(t),
                [
                    "classname",
                    "file",
                    "message",
                    "name",
                    "result",
                    "run_time",
                    "source"
                ]
            );
        }
        let (items, _) = walk(addr, &format!("/api/v2/project/{slug}/{number}/artifacts")).await;
        let want: Vec<Value> = artifacts
            .iter()
            .filter(|a| a["project_slug"] == slug && a["job_number"] == number)
            .map(|a| api_object(a.clone(), &["project_slug", "job_number", "job_id"]))
            .collect();
        assert_eq!(items, want);
        for a in &items {
            assert_eq!(keys(a), ["node_index", "path", "url"]);
            assert!(str_of(a, "url").starts_with("https://output.circle-artifacts.com/"));
        }
    }
    assert!(multi_page_tests > 0, "some job's tests span pages");

    // Approval jobs have no details: their number slot is a gap, and their id is no number.
    let approval = d
        .expected("jobs")
        .into_iter()
        .find(|j| j["type"] == "approval")
        .unwrap();
    let slug = str_of(&approval, "project_slug");
    let numbers: BTreeSet<u64> = details
        .iter()
        .filter(|r| r["project_slug"] == slug)
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    let (lo, hi) = (*numbers.first().unwrap(), *numbers.last().unwrap());
    let gaps: Vec<u64> = (lo..hi).filter(|n| !numbers.contains(n)).collect();
    assert!(
        !gaps.is_empty(),
        "approval jobs leave gaps in the numbering"
    );
    for gap in gaps.iter().take(5) {
        assert_error(
            &get(addr, &format!("/api/v2/project/{slug}/job/{gap}")).await,
            404,
            "Not Found",
        );
    }
    let id = str_of(&approval, "id");
    assert_error(
        &get(addr, &format!("/api/v2/project/{slug}/job/{id}")).await,
        404,
        "Not Found",
    );
    assert_error(
        &get(
            addr,
            &format!("/api/v2/project/{slug}/job/{}", hi + 1_000_000),
        )
        .await,
        404,
        "Not Found",
    );
    assert_error(
        &get(addr, &format!("/api/v2/project/{slug}/{id}/tests")).await,
        404,
        "Not Found",
    );
    assert_error(
        &get(addr, "/api/v2/project/gh/nobody/nothing/job/1").await,
        404,
        "Project not found",
    );
    assert_error(
        &get(addr, "/api/v2/project/gh/nobody/nothing/1/artifacts").await,
        404,
        "Project not found",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn tests_and_artifacts_appear_once_a_job_ends() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 6, 14))
        .await
        .unwrap();
    let addr = sim.addr();
    let before = sim.dataset(DEFAULT_TOKEN).unwrap();
    let running: Vec<Value> = before
        .expected("jobs")
        .into_iter()
        .filter(|j| j["status"] == "running" && j.get("job_number").is_some())
        .collect();
    assert!(!running.is_empty());
    for job in &running {
        let target = format!(
            "/api/v2/project/{}/{}/tests",
            str_of(job, "project_slug"),
            job["job_number"]
        );
        assert!(
            walk(addr, &target).await.0.is_empty(),
            "no tests while running"
        );
    }
    sim.advance();
    let mut with_tests = 0;
    for job in &running {
        let target = format!(
            "/api/v2/project/{}/{}/tests",
            str_of(job, "project_slug"),
            job["job_number"]
        );
        with_tests += usize::from(!walk(addr, &target).await.0.is_empty());
    }
    assert!(with_tests > 0, "tests appear when jobs end");
    sim.shutdown().await;
}

#[tokio::test]
async fn contexts_and_variables() {
    let sim = Simulator::start(deep_config()).await.unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let contexts = d.expected("contexts");
    let variables = d.expected("context_environment_variables");
    let collaborations = d.collaborations();
    let mut multi_page_vars = 0;
    for org in collaborations.as_array().unwrap() {
        let slug = str_of(org, "slug");
        let want: Vec<Value> = contexts
            .iter()
            .filter(|c| c["owner_slug"] == slug)
            .map(|c| api_object(c.clone(), &["owner_slug"]))
            .collect();
        let by_slug = walk(
            addr,
            &format!(
                "/api/v2/context?owner-slug={}&owner-type=organization",
                escape_query(slug)
            ),
        )
        .await;
        let by_id = walk(
            addr,
            &format!("/api/v2/context?owner-id={}", str_of(org, "id")),
        )
        .await;
        assert_eq!(by_slug.0, want, "{slug}");
        assert_eq!(by_id.0, want, "{slug} by id");
        for pair in want.windows(2) {
            assert!(
                str_of(&pair[0], "created_at") >= str_of(&pair[1], "created_at"),
                "newest first"
            );
        }
        for c in &want {
            assert_eq!(keys(c), ["created_at", "id", "name"]);
            let id = str_of(c, "id");
            let (items, requests) =
                walk(addr, &format!("/api/v2/context/{id}/environment-variable")).await;
            let want: Vec<Value> = variables
                .iter()
                .filter(|v| v["context_id"] == id)
                .cloned()
                .collect();
            assert_eq!(items, want);
            multi_page_vars += usize::from(requests > 1);
            for v in &items {
                assert_eq!(
                    keys(v),
                    ["context_id", "created_at", "updated_at", "variable"]
                );
                assert!(str_of(v, "updated_at") >= str_of(v, "created_at"));
            }
        }
    }
    assert!(multi_page_vars > 0, "some context's variables span pages");
    assert!(contexts.len() > 3 * PAGE_SIZE, "org contexts span pages");
    assert_error(
        &get(
            addr,
            "/api/v2/context/5034460f-c7c4-4c43-9457-de07e2029e7b/environment-variable",
        )
        .await,
        404,
        "Context not found.",
    );
    assert_error(
        &get(addr, "/api/v2/context?owner-slug=gh/someone-else").await,
        404,
        "Not Found",
    );
    let missing = get(addr, "/api/v2/context").await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["message"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn insights_summaries_and_runs() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 6, 120))
        .await
        .unwrap();
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let summaries = d.expected("insights_workflows");
    let runs = d.expected("insights_workflow_runs");
    let project = &d.projects[0];
    let slug = &project.slug;
    let default_branch = project.json["vcs_info"]["default_branch"].as_str().unwrap();
    let (items, _) = walk(
        addr,
        &format!("/api/v2/insights/{slug}/workflows?all-branches=true"),
    )
    .await;
    let want: Vec<Value> = summaries
        .iter()
        .filter(|s| s["project_slug"] == slug.as_str())
        .map(|s| api_object(s.clone(), &["project_slug"]))
        .collect();
    assert_eq!(items, want);
    assert!(!items.is_empty());
    for item in &items {
        assert_eq!(
            keys(item),
            [
                "metrics",
                "name",
                "project_id",
                "window_end",
                "window_start"
            ]
        );
        assert_eq!(
            keys(&item["metrics"]),
            [
                "duration_metrics",
                "failed_runs",
                "mttr",
                "success_rate",
                "successful_runs",
                "throughput",
                "total_credits_used",
                "total_recoveries",
                "total_runs"
            ]
        );
    }
    let name = str_of(&items[0], "name").to_owned();
    let all: Vec<Value> = runs
        .iter()
        .filter(|r| r["project_slug"] == slug.as_str() && r["workflow_name"] == name.as_str())
        .map(|r| api_object(r.clone(), &["project_slug", "workflow_name"]))
        .collect();
    let base = format!("/api/v2/insights/{slug}/workflows/{name}");
    let (items, requests) = walk(addr, &format!("{base}?all-branches=true")).await;
    assert_eq!(items, all);
    assert!(requests > 1, "runs span pages");
    for run in &items {
        assert_eq!(
            keys(run),
            [
                "branch",
                "created_at",
                "credits_used",
                "duration",
                "id",
                "is_approval",
                "status",
                "stopped_at"
            ]
        );
    }
    // The default branch only, without parameters.
    let (default_only, _) = walk(addr, &base).await;
    let want: Vec<Value> = all
        .iter()
        .filter(|r| r["branch"] == default_branch)
        .cloned()
        .collect();
    assert_eq!(default_only, want);
    // start-date / end-date select by created_at, [start, end).
    let middle = str_of(&all[all.len() / 2], "created_at").to_owned();
    let quarter = str_of(&all[all.len() / 4], "created_at").to_owned();
    let (since, _) = walk(
        addr,
        &format!("{base}?all-branches=true&start-date={middle}"),
    )
    .await;
    let want: Vec<Value> = all
        .iter()
        .filter(|r| str_of(r, "created_at") >= middle.as_str())
        .cloned()
        .collect();
    assert_eq!(since, want);
    let (between, _) = walk(
        addr,
        &format!("{base}?all-branches=true&start-date={middle}&end-date={quarter}"),
    )
    .await;
    let want: Vec<Value> = all
        .iter()
        .filter(|r| {
            str_of(r, "created_at") >= middle.as_str() && str_of(r, "created_at") < quarter.as_str()
        })
        .cloned()
        .collect();
    assert_eq!(between, want);
    assert!(!between.is_empty() && between.len() < since.len());
    for bad in [
        format!("{base}?end-date={quarter}"),
        format!("{base}?start-date=yesterday"),
        format!("/api/v2/insights/{slug}/workflows?reporting-window=last-year"),
    ] {
        let response = get(addr, &bad).await;
        assert_eq!(response.status, 400, "{bad}");
        assert!(response.json()["message"].is_string());
    }
    assert!(
        walk(
            addr,
            &format!("/api/v2/insights/{slug}/workflows/no-such-workflow")
        )
        .await
        .0
        .is_empty()
    );
    assert_error(
        &get(addr, "/api/v2/insights/gh/nobody/nothing/workflows").await,
        404,
        "Project not found",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn advance_and_stats_over_http() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 2, 5))
        .await
        .unwrap();
    let addr = sim.addr();
    assert_eq!(get(addr, "/api/v2/me").await.status, 200);
    let advanced = exchange(
        addr,
        &[("POST", "/_sim/advance", &[("content-length", "0")])],
    )
    .await;
    assert_eq!(advanced[0].json()["epoch"], 1);
    assert_eq!(sim.epoch(), 1);
    assert_eq!(sim.dataset(DEFAULT_TOKEN).unwrap().epoch(), 1);
    let stats = get(addr, "/_sim/stats").await.json();
    assert_eq!(stats["epoch"], 1);
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["statuses"]["200"], 1);
    assert_eq!(sim.request_count(), 1, "neither /_sim path is recorded");
    assert_eq!(get(addr, "/_sim/advance").await.status, 405);
    sim.shutdown().await;
}

#[tokio::test]
async fn counts_connections_and_bytes_and_adds_latency() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 2, 5))
        .await
        .unwrap();
    let addr = sim.addr();
    // Two requests on one connection, one on another.
    let two = exchange(
        addr,
        &[
            ("GET", "/api/v2/me", &[("Circle-Token", DEFAULT_TOKEN)]),
            (
                "GET",
                "/api/v2/me/collaborations",
                &[("Circle-Token", DEFAULT_TOKEN)],
            ),
        ],
    )
    .await;
    let one = get(addr, "/api/v2/me").await;
    let sent: usize = two.iter().chain([&one]).map(|r| r.body.len()).sum();
    assert_eq!(sim.connections(), 2);
    assert_eq!(sim.api_body_bytes(), sent as u64);
    let stats = get(addr, "/_sim/stats").await.json();
    assert_eq!(
        stats["connections"], 3,
        "the stats request's own connection counts"
    );
    assert_eq!(
        stats["body_bytes"], sent as u64,
        "/_sim answers are not counted"
    );

    sim.set_latency(std::time::Duration::from_millis(60));
    let started = std::time::Instant::now();
    assert_eq!(get(addr, "/api/v2/me").await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(60));
    // A latency no test would wait out: /_sim paths answer at once.
    sim.set_latency(std::time::Duration::from_secs(30));
    let started = std::time::Instant::now();
    get(addr, "/_sim/stats").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "/_sim paths never wait"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn date_is_the_simulated_now() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 2, 5))
        .await
        .unwrap();
    let addr = sim.addr();
    let me = get(addr, "/api/v2/me").await;
    assert_eq!(me.header("date"), Some("Fri, 01 May 2026 12:00:00 GMT"));
    let denied = exchange(addr, &[("GET", "/api/v2/me", &[])]).await;
    assert_eq!(
        denied[0].header("date"),
        Some("Fri, 01 May 2026 12:00:00 GMT")
    );
    sim.advance();
    sim.advance();
    let later = get(addr, "/api/v2/me").await;
    assert_eq!(later.header("date"), Some("Fri, 01 May 2026 14:00:00 GMT"));
    assert_eq!(later.headers.iter().filter(|(n, _)| n == "date").count(), 1);
    // Every timestamp served is at least a couple of minutes before that.
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert_eq!(d.now(), "2026-05-01T14:00:00.000Z");
    sim.shutdown().await;
}
