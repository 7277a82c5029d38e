//! What real CircleCI accounts hold, through the real component and host
//! against the simulator's anomalies: history past retention (workflows
//! that answer 404 or list with a null id), pipelines that answer 500 every
//! time, contexts an organisation keeps from non-admins, reruns added to
//! old pipelines, and approvals nobody grants. A sync must finish with
//! everything else exact and each skipped item named; an incremental sync
//! must bring the reruns and cost what its lookback window holds, not what
//! the oldest open hold would.

use std::collections::BTreeSet;
use std::time::Duration;

use conformance::sim::{
    Dataset, INCREMENTAL_STREAMS as INCREMENTAL, STREAMS, SimConfig, Simulator, TenantConfig,
};
use host_harness::checkpoint::Checkpointer;
use host_harness::retry::{Jitter, RetryPolicy};
use host_harness::sync::{self, MemorySink, Quiet, SyncOptions, SyncReport};
use serde_json::{Value, json};

use crate::common::{TOKEN, all_slugs, connector, credential, policy_for};

/// Retries as the host makes them, in milliseconds rather than minutes.
fn options() -> SyncOptions {
    SyncOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            jitter: Jitter::None,
            ..RetryPolicy::default()
        },
        ..SyncOptions::default()
    }
}

async fn start(tenant: TenantConfig) -> Simulator {
    Simulator::start(SimConfig {
        tenants: vec![tenant],
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

/// Syncs `stream` into memory from `checkpoints`' state.
async fn sync_stream(
    sim: &Simulator,
    stream: &str,
    settings: &Value,
    checkpoints: &mut Checkpointer,
) -> (SyncReport, Vec<Value>) {
    let mut instance = connector().instantiate(policy_for(sim)).await.unwrap();
    let mut sink = MemorySink::default();
    let report = sync::run(
        &mut instance,
        &credential(sim, TOKEN),
        stream,
        &settings.to_string(),
        checkpoints,
        &mut sink,
        &options(),
        &mut Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("{stream}: {e}"));
    (report, sink.records())
}

fn keys(stream: &str, records: &[Value]) -> (usize, BTreeSet<String>) {
    let keys: BTreeSet<String> = records
        .iter()
        .map(|r| Dataset::primary_key(stream, r))
        .collect();
    (records.len(), keys)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_sync_over_an_expired_history_finishes_exact_and_names_each_skip() {
    let mut tenant = TenantConfig::new(TOKEN, 3, 40);
    tenant.history_days = Some(150);
    tenant.retention_days = Some(90);
    tenant.failing_pipelines = 2;
    tenant.forbidden_context_orgs = vec![1];
    let sim = start(tenant).await;
    let data = sim.dataset(TOKEN).unwrap();
    let unreachable = data.unreachable_pipelines();
    let kinds: BTreeSet<&str> = unreachable.iter().map(|(_, kind)| *kind).collect();
    assert_eq!(
        kinds,
        ["expired-404", "expired-null-ids", "failing-500"].into(),
        "the dataset holds each kind"
    );
    let forbidden = data.forbidden_context_orgs();
    assert_eq!(forbidden.len(), 1);
    // No start_date: the whole history is read. (Artifacts of every job are
    // asked for here, to compare with everything the simulator serves;
    // CircleCI's 30-day artifact expiry is checked below.)
    let settings = json!({ "project_slugs": all_slugs(&sim), "artifact_retention_days": 0 });
    let mut checkpoints = Checkpointer::in_memory();
    for stream in STREAMS {
        let (report, records) = sync_stream(&sim, stream, &settings, &mut checkpoints).await;
        let (count, got) = keys(stream, &records);
        assert_eq!(count, got.len(), "{stream}: no duplicate");
        let want: BTreeSet<String> = data.expected_keys(stream).into_iter().collect();
        assert_eq!(got, want, "{stream}: everything else exact");
        let named = report.skipped_items.join("\n");
        match stream {
            "workflows" | "jobs" | "job_details" | "tests" | "artifacts" => {
                for (id, kind) in &unreachable {
                    assert!(
                        named.contains(id.as_str()),
                        "{stream}: {kind} pipeline {id} is named: {named}"
                    );
                }
                let failing: Vec<&String> = unreachable
                    .iter()
                    .filter(|(_, k)| *k == "failing-500")
                    .map(|(id, _)| id)
                    .collect();
                for id in failing {
                    let line = report
                        .skipped_items
                        .iter()
                        .find(|s| s.contains(id.as_str()))
                        .unwrap();
                    assert!(
                        line.contains("HTTP 500") && line.contains("attempt"),
                        "the answer and the retries: {line}"
                    );
                }
                assert_eq!(report.skipped as usize, report.skipped_items.len());
                assert!(report.skipped as usize >= unreachable.len(), "{stream}");
            }
            "contexts" | "context_environment_variables" => {
                assert_eq!(report.skipped, 1, "{stream}: {named}");
                assert!(
                    named.contains(&forbidden[0]) && named.contains("HTTP 403"),
                    "{stream}: {named}"
                );
            }
            _ => assert_eq!(report.skipped, 0, "{stream}: {named}"),
        }
        if INCREMENTAL.contains(&stream) && stream != "pipelines" {
            // The 404s and 500s wait in the cursor for one more try (null ids
            // are nothing to ask for).
            let state: Value =
                serde_json::from_str(checkpoints.get(stream).unwrap().state.as_deref().unwrap())
                    .unwrap();
            let retry = state["cursor"]["retry"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let kept = unreachable
                .iter()
                .filter(|(_, k)| *k != "expired-null-ids")
                .count();
            assert_eq!(retry.len(), kept, "{stream}");
        }
        eprintln!(
            "{stream}: {} records, {} skipped, {} requests",
            records.len(),
            report.skipped,
            report.requests
        );
    }

    // By default, artifacts of jobs that stopped more than 30 days before
    // the newest data are not asked for: CircleCI deleted them.
    let settings = json!({ "project_slugs": all_slugs(&sim) });
    let (report, records) =
        sync_stream(&sim, "artifacts", &settings, &mut Checkpointer::in_memory()).await;
    let (_, got) = keys("artifacts", &records);
    let stops: Vec<(String, i64)> = data
        .expected("jobs")
        .iter()
        .filter_map(|j| {
            let at = conformance::sim::time::parse_rfc3339(j["stopped_at"].as_str()?)?;
            Some((
                format!(
                    "{}|{}",
                    j["project_slug"].as_str()?,
                    j["job_number"].as_u64()?
                ),
                at,
            ))
        })
        .collect();
    let newest = stops.iter().map(|(_, at)| *at).max().unwrap();
    let day = 86_400_000; // milliseconds
    let want: BTreeSet<String> = data.expected_keys("artifacts").into_iter().collect();
    assert!(got.is_subset(&want));
    for key in &want {
        let job = key.rsplitn(3, '|').nth(2).unwrap();
        let stop = stops
            .iter()
            .find(|(k, _)| k == job)
            .map(|(_, at)| *at)
            .unwrap();
        if stop > newest - 29 * day {
            assert!(got.contains(key), "a recent job's artifact: {key}");
        } else if stop < newest - 31 * day {
            assert!(
                !got.contains(key),
                "an expired job's artifact was asked for: {key}"
            );
        }
    }
    assert!(got.len() < want.len(), "older artifacts were left out");
    assert!(
        report
            .notices
            .kinds()
            .iter()
            .any(|k| k.example.contains("did not ask for the artifacts")),
        "{:?}",
        report.notices
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_reruns_the_next_incremental_sync_returns_exactly_them() {
    let sim = start(TenantConfig::new(TOKEN, 3, 15)).await;
    let settings = json!({ "project_slugs": all_slugs(&sim) });
    let mut checkpoints = Checkpointer::in_memory();
    for stream in INCREMENTAL {
        sync_stream(&sim, stream, &settings, &mut checkpoints).await;
    }
    let old = sim.dataset(TOKEN).unwrap();
    let reruns = old.some_finished_workflow_ids(3);
    assert_eq!(reruns.len(), 3);
    for id in &reruns {
        assert!(sim.rerun_at_next_advance(id), "{id}");
    }
    sim.advance();
    let new = sim.dataset(TOKEN).unwrap();
    let rerun_ids: Vec<String> = new.reruns().into_iter().map(|r| r.id).collect();
    assert_eq!(rerun_ids.len(), 3);
    for stream in INCREMENTAL {
        let (_, records) = sync_stream(&sim, stream, &settings, &mut checkpoints).await;
        let (count, got) = keys(stream, &records);
        assert_eq!(count, got.len(), "{stream}: no duplicate");
        let want = Dataset::changed_keys(&old, &new, stream);
        assert_eq!(got, want, "{stream}: exactly the new and changed records");
        if stream == "workflows" {
            for id in &rerun_ids {
                assert!(got.contains(id), "the rerun {id} arrived");
            }
        }
        if stream != "pipelines" {
            // The reruns' own records are among them (the new jobs and
            // everything under them).
            let of_reruns = records.iter().filter(|r| {
                ["id", "workflow_id"].iter().any(|k| {
                    r[k].as_str()
                        .is_some_and(|w| rerun_ids.iter().any(|id| id == w))
                }) || r["latest_workflow"]["id"]
                    .as_str()
                    .is_some_and(|w| rerun_ids.iter().any(|id| id == w))
            });
            if matches!(stream, "workflows" | "jobs" | "job_details") {
                assert!(of_reruns.count() > 0, "{stream}");
            }
        }
    }
    sim.shutdown().await;
}

/// Requests of a second (incremental) `jobs` sync after one advance, for a
/// tenant with `holds` abandoned holds per project, under `lookback_days`.
async fn incremental_cost(holds: usize, lookback_days: u32) -> (u64, usize) {
    let mut tenant = TenantConfig::new(TOKEN, 3, 30);
    tenant.history_days = Some(60);
    tenant.abandoned_holds = holds;
    let sim = start(tenant).await;
    let held = sim.dataset(TOKEN).unwrap().abandoned_hold_pipeline_ids();
    assert_eq!(held.len(), 3 * holds, "one per project");
    let settings = json!({ "project_slugs": all_slugs(&sim), "lookback_days": lookback_days });
    let mut checkpoints = Checkpointer::in_memory();
    sync_stream(&sim, "jobs", &settings, &mut checkpoints).await;
    sim.advance();
    sim.clear_requests();
    let (report, _) = sync_stream(&sim, "jobs", &settings, &mut checkpoints).await;
    let held_listed = sim
        .requests()
        .iter()
        .filter(|r| held.iter().any(|id| r.path.contains(id.as_str())))
        .count();
    sim.shutdown().await;
    (report.requests, held_listed)
}

#[tokio::test(flavor = "multi_thread")]
async fn holds_left_open_past_the_window_do_not_grow_an_incremental_sync() {
    let (without, _) = incremental_cost(0, 7).await;
    let (with, held_listed) = incremental_cost(1, 7).await;
    let (wide, wide_held) = incremental_cost(1, 365).await;
    eprintln!(
        "incremental jobs sync after one advance, 3 projects × 60 days of history: \
         {without} requests without an abandoned hold, {with} with one per project (lookback 7 days); \
         {wide} with a 365-day window"
    );
    // The holds are weeks old, outside the 7-day window: they cost nothing.
    assert_eq!(held_listed, 0, "the holds' pipelines are not read again");
    assert_eq!(
        with, without,
        "the request count does not depend on the holds"
    );
    // A window wide enough to reach them reads them, and costs more.
    assert!(wide_held > 0 && wide > with, "{wide} {wide_held}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_is_down_is_not_skipped_item_by_item() {
    let sim = start(TenantConfig::new(TOKEN, 1, 30)).await;
    let data = sim.dataset(TOKEN).unwrap();
    // Twelve pipelines in a row answer 500: with no successful answer
    // between the give-ups, the host stops after ten skips.
    let ids: Vec<String> = data.projects[0]
        .pipelines
        .iter()
        .take(12)
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert!(sim.fail_pipeline(id));
    }
    let settings = json!({ "project_slugs": all_slugs(&sim) }).to_string();
    let mut instance = connector().instantiate(policy_for(&sim)).await.unwrap();
    let mut sink = MemorySink::default();
    let err = sync::run(
        &mut instance,
        &credential(&sim, TOKEN),
        "workflows",
        &settings,
        &mut Checkpointer::in_memory(),
        &mut sink,
        &options(),
        &mut Quiet,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "unavailable");
    assert!(err.to_string().contains("the upstream looks down"), "{err}");
    sim.shutdown().await;
}
