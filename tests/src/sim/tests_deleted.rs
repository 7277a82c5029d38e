//! Tests of workflows deleted after listing ([`super::deleted`]): the right answers leave out exactly
//! what only the deleted workflow's job listing reaches, and over HTTP the workflow stays listed while
//! reading it answers 404.

use std::collections::BTreeSet;

use serde_json::Value;

use super::config::{Count, SimConfig, TenantConfig};
use super::dataset::Dataset;
use super::expected::{INCREMENTAL_STREAMS, STREAMS};
use super::tests::{assert_error, get, get_with, walk};
use super::{DEFAULT_TOKEN, Simulator};

/// A tenant whose build jobs mostly report tests and artifacts, so deletions remove some of each.
fn tenant(token: &str, projects: usize, pipelines: usize) -> TenantConfig {
    let mut tenant = TenantConfig::new(token, projects, pipelines);
    tenant.tests_per_job = Count::new(3, 12);
    tenant.artifacts_per_job = Count::new(1, 4);
    tenant
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The records of `records` whose `key` is not in `gone`.
fn without(records: &[Value], key: &str, gone: &BTreeSet<String>) -> Vec<Value> {
    records
        .iter()
        .filter(|r| !gone.contains(str_of(r, key)))
        .cloned()
        .collect()
}

fn ids(records: &[Value], key: &str) -> BTreeSet<String> {
    records.iter().map(|r| str_of(r, key).to_owned()).collect()
}

#[test]
fn expected_leaves_out_only_what_the_job_listing_reaches() {
    let config = tenant("t", 5, 25);
    let before = Dataset::generate(7, 0, &config);
    let victims = before.some_workflow_ids(8);
    assert_eq!(victims.len(), 8);
    assert_eq!(
        victims,
        Dataset::generate(7, 0, &config).some_workflow_ids(8),
        "victims are picked deterministically"
    );
    let gone: BTreeSet<String> = victims.iter().cloned().collect();
    assert_eq!(gone.len(), victims.len(), "distinct victims");
    let workflows = before.expected("workflows");
    let victim_projects: BTreeSet<&str> = workflows
        .iter()
        .filter(|w| gone.contains(str_of(w, "id")))
        .map(|w| str_of(w, "project_slug"))
        .collect();
    assert!(victim_projects.len() > 1, "victims spread over projects");

    let mut after = before.clone();
    for victim in &victims {
        after = after.with_workflow_deleted(victim).expect("a workflow");
    }
    assert!(victims.iter().all(|v| after.is_workflow_deleted(v)));
    assert!(victims.iter().all(|v| !before.is_workflow_deleted(v)));
    assert!(before.deleted_workflow_ids().is_empty());
    assert_eq!(
        after
            .deleted_workflow_ids()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        gone
    );

    // Still listed: the workflows stream is untouched.
    assert_eq!(after.expected("workflows"), workflows);
    // Jobs and job details go with their workflow; tests and artifacts with their job.
    let jobs = before.expected("jobs");
    let victim_jobs: BTreeSet<String> = jobs
        .iter()
        .filter(|j| gone.contains(str_of(j, "workflow_id")))
        .map(|j| str_of(j, "id").to_owned())
        .collect();
    assert!(!victim_jobs.is_empty());
    assert_eq!(after.expected("jobs"), without(&jobs, "workflow_id", &gone));
    let details = before.expected("job_details");
    let kept = without(&details, "workflow_id", &gone);
    assert!(kept.len() < details.len());
    assert_eq!(after.expected("job_details"), kept);
    for stream in ["tests", "artifacts"] {
        let all = before.expected(stream);
        let kept = without(&all, "job_id", &victim_jobs);
        assert!(kept.len() < all.len(), "{stream}: the victims had some");
        assert_eq!(after.expected(stream), kept, "{stream}");
    }
    // Everything else is as before, and the cheap keys agree with the records.
    for stream in STREAMS {
        if !["jobs", "job_details", "tests", "artifacts"].contains(&stream) {
            assert_eq!(after.expected(stream), before.expected(stream), "{stream}");
        }
        let keys: Vec<String> = after
            .expected(stream)
            .iter()
            .map(|r| Dataset::primary_key(stream, r))
            .collect();
        assert_eq!(after.expected_keys(stream), keys, "{stream}");
    }
    // A deletion adds and changes nothing.
    for stream in INCREMENTAL_STREAMS {
        assert!(
            Dataset::changed_keys(&before, &after, stream).is_empty(),
            "{stream}"
        );
    }

    // Later epochs inherit the deletion.
    let next = after.advanced();
    assert!(victims.iter().all(|v| next.is_workflow_deleted(v)));
    assert!(
        next.expected("jobs")
            .iter()
            .all(|j| !gone.contains(str_of(j, "workflow_id")))
    );
    assert!(ids(&next.expected("workflows"), "id").is_superset(&gone));
    let changed_jobs = Dataset::changed_keys(&after, &next, "jobs");
    assert!(changed_jobs.is_disjoint(&victim_jobs));

    // Only this tenant's existing workflows can be deleted; deleting twice changes nothing.
    let pipeline = before.all_pipeline_ids().remove(0);
    let job = str_of(&jobs[0], "id").to_owned();
    for id in ["not-a-uuid", pipeline.as_str(), job.as_str()] {
        assert!(before.with_workflow_deleted(id).is_none(), "{id}");
        assert!(!before.is_workflow_deleted(id), "{id}");
    }
    let other_tenant = Dataset::generate(7, 1, &config);
    assert!(other_tenant.with_workflow_deleted(&victims[0]).is_none());
    let again = after
        .with_workflow_deleted(&victims[0])
        .expect("a workflow");
    assert_eq!(again.deleted_workflow_ids(), after.deleted_workflow_ids());

    // Victims are never already deleted; asking for more than exist gives the rest.
    let rest = after.some_workflow_ids(usize::MAX);
    assert_eq!(rest.len(), workflows.len() - victims.len());
    assert!(rest.iter().all(|id| !gone.contains(id)));
    assert!(after.some_workflow_ids(0).is_empty());
}

/// Removes the keys the connector adds to a job, giving back the API object.
fn job_api_object(mut record: Value) -> Value {
    if let Some(o) = record.as_object_mut() {
        o.remove("workflow_id");
        o.remove("pipeline_id");
    }
    record
}

/// What a connector reads of `token`'s jobs: every pipeline's workflow listing, then each listed
/// workflow's job listing, skipping the ones that answer 404.
async fn sync_jobs(sim: &Simulator, d: &Dataset) -> (Vec<Value>, usize) {
    let mut jobs = Vec::new();
    let mut not_found = 0;
    for pipeline in d.expected("pipelines") {
        let pid = str_of(&pipeline, "id");
        let (workflows, _) = walk(sim.addr(), &format!("/api/v2/pipeline/{pid}/workflow")).await;
        for w in workflows {
            let wid = str_of(&w, "id");
            let response = get(sim.addr(), &format!("/api/v2/workflow/{wid}/job")).await;
            if response.status == 404 {
                assert_error(&response, 404, "Not Found");
                not_found += 1;
                continue;
            }
            let page = response.json();
            assert_eq!(
                page["next_page_token"],
                Value::Null,
                "a workflow has at most 13 jobs"
            );
            jobs.extend(page["items"].as_array().expect("items").iter().cloned());
        }
    }
    (jobs, not_found)
}

#[tokio::test]
async fn a_deleted_workflow_is_listed_but_unreadable() {
    let config = SimConfig {
        seed: 42,
        tenants: vec![
            tenant(DEFAULT_TOKEN, 3, 12),
            tenant("CCIPAT_sim_other_tenant", 2, 6),
        ],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let addr = sim.addr();
    let before = sim.dataset(DEFAULT_TOKEN).unwrap();
    // A workflow whose jobs have tests and artifacts, to show they are still served.
    let with_tests = ids(&before.expected("tests"), "job_id");
    let jobs = before.expected("jobs");
    let victim = before
        .some_workflow_ids(usize::MAX)
        .into_iter()
        .find(|w| {
            jobs.iter()
                .any(|j| j["workflow_id"] == w.as_str() && with_tests.contains(str_of(j, "id")))
        })
        .expect("a workflow with tests");
    let workflow = before
        .expected("workflows")
        .into_iter()
        .find(|w| w["id"] == victim.as_str())
        .unwrap();
    let pid = str_of(&workflow, "pipeline_id").to_owned();
    let slug = str_of(&workflow, "project_slug").to_owned();
    let listing = format!("/api/v2/pipeline/{pid}/workflow");
    let (listed, _) = walk(addr, &listing).await;
    assert_eq!(
        get(addr, &format!("/api/v2/workflow/{victim}/job"))
            .await
            .status,
        200
    );

    assert!(sim.delete_workflow_after_listing(&victim));
    assert!(!sim.delete_workflow_after_listing("not-a-uuid"));
    assert!(!sim.delete_workflow_after_listing(&pid));

    // Still listed, exactly as before.
    assert_eq!(walk(addr, &listing).await.0, listed);
    assert!(listed.iter().any(|w| w["id"] == victim.as_str()));
    // Unreadable, on every page and whatever the id's case.
    for target in [
        format!("/api/v2/workflow/{victim}"),
        format!("/api/v2/workflow/{victim}/job"),
        format!("/api/v2/workflow/{victim}/job?page-token="),
        format!("/api/v2/workflow/{victim}/job?page-token=c29tZS1wYWdl"),
        format!("/api/v2/workflow/{}/job", victim.to_uppercase()),
    ] {
        assert_error(&get(addr, &target).await, 404, "Not Found");
    }
    // Its build jobs are still served by number.
    let numbers: Vec<u64> = jobs
        .iter()
        .filter(|j| j["workflow_id"] == victim.as_str())
        .filter_map(|j| j["job_number"].as_u64())
        .collect();
    assert!(!numbers.is_empty());
    for n in numbers {
        for target in [
            format!("/api/v2/project/{slug}/job/{n}"),
            format!("/api/v2/project/{slug}/{n}/tests"),
            format!("/api/v2/project/{slug}/{n}/artifacts"),
        ] {
            assert_eq!(get(addr, &target).await.status, 200, "{target}");
        }
    }

    // The snapshot taken before is unchanged; the current one knows, and the answers follow.
    let after = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert!(!before.is_workflow_deleted(&victim));
    assert_eq!(after.deleted_workflow_ids(), vec![victim.clone()]);
    assert_eq!(after.expected("workflows"), before.expected("workflows"));
    let (synced, not_found) = sync_jobs(&sim, &after).await;
    assert_eq!(not_found, 1);
    let want: Vec<Value> = after
        .expected("jobs")
        .into_iter()
        .map(job_api_object)
        .collect();
    assert_eq!(synced, want);
    assert_eq!(
        want.len(),
        jobs.len()
            - jobs
                .iter()
                .filter(|j| j["workflow_id"] == victim.as_str())
                .count()
    );

    // Tenants are separate: the other tenant's deletion is its own, and ids do not cross over.
    let other_token = "CCIPAT_sim_other_tenant";
    let other = sim.dataset(other_token).unwrap();
    assert!(other.deleted_workflow_ids().is_empty());
    let other_victim = other.some_workflow_ids(1).remove(0);
    let other_target = format!("/api/v2/workflow/{other_victim}/job");
    let with_other = [("Circle-Token", other_token)];
    assert_eq!(get_with(addr, &other_target, &with_other).await.status, 200);
    assert!(sim.delete_workflow_after_listing(&other_victim));
    assert_error(
        &get_with(addr, &other_target, &with_other).await,
        404,
        "Not Found",
    );
    assert_eq!(
        sim.dataset(DEFAULT_TOKEN).unwrap().deleted_workflow_ids(),
        vec![victim.clone()]
    );
    assert_eq!(
        sim.dataset(other_token).unwrap().deleted_workflow_ids(),
        vec![other_victim]
    );

    // Later epochs keep it deleted and listed.
    sim.advance();
    assert_error(
        &get(addr, &format!("/api/v2/workflow/{victim}/job")).await,
        404,
        "Not Found",
    );
    assert!(
        walk(addr, &listing)
            .await
            .0
            .iter()
            .any(|w| w["id"] == victim.as_str())
    );
    assert!(
        sim.dataset(DEFAULT_TOKEN)
            .unwrap()
            .is_workflow_deleted(&victim)
    );
    sim.shutdown().await;
}
