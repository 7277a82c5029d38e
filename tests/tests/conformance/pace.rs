//! Requests in flight and the upstream's rate limit, through the real
//! component and host: a tenant whose requests go over the simulator's rate
//! gets 429s, lowers its concurrency and waits as asked, and its walk
//! still ends with every record exactly once; a tenant beside it, under the
//! rate, keeps its own pace. How close to the rate a sync gets is a
//! benchmark figure (BENCHMARKS.md), not asserted here.

use std::collections::BTreeSet;

use conformance::sim::{Dataset, RateLimit, SimConfig, Simulator, TenantConfig};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::sync::{MemorySink, Quiet, RecordSink, SyncOptions, WalkStream};
use host_harness::{Tenant, TenantSpec};
use serde_json::json;

use crate::common::{TOKEN, connector, policy_for};

const QUIET_TOKEN: &str = "CCIPAT_conformance_quiet_0fedcba987654321";

async fn tenant(sim: &Simulator, token: &str, concurrency: u32) -> Tenant {
    connector()
        .tenant(TenantSpec {
            id: token.chars().take(20).collect(),
            credential: Credential::from_pairs([
                ("api_key", token.to_string()),
                ("base_url", sim.base_url()),
            ]),
            policy: policy_for(sim),
            limits: None,
            concurrency: Some(concurrency),
        })
        .await
        .unwrap()
}

/// One walk of `streams` for `tenant`: each stream's records, and the
/// walk's report.
async fn walk(
    tenant: &mut Tenant,
    sim: &Simulator,
    token: &str,
    streams: &[&str],
) -> (Vec<Vec<serde_json::Value>>, host_harness::sync::SyncReport) {
    let dataset = sim.dataset(token).unwrap();
    let slugs: Vec<String> = dataset.projects.iter().map(|p| p.slug.clone()).collect();
    let settings = json!({"project_slugs": slugs, "artifact_retention_days": 0}).to_string();
    let catalog = tenant.instance().await.unwrap().streams().await.unwrap();
    let members: Vec<WalkStream> = streams
        .iter()
        .map(|s| WalkStream::of(&catalog, s))
        .collect();
    let mut sinks: Vec<MemorySink> = streams.iter().map(|_| MemorySink::default()).collect();
    let mut refs: Vec<&mut dyn RecordSink> =
        sinks.iter_mut().map(|s| s as &mut dyn RecordSink).collect();
    let options = SyncOptions {
        // 429s are retried as the upstream asks: never a give-up here.
        retry: host_harness::RetryPolicy {
            max_attempts: 50,
            ..host_harness::RetryPolicy::default()
        },
        ..SyncOptions::default()
    };
    let mut reports = tenant
        .sync_walk(
            &members,
            &settings,
            &mut Checkpointer::in_memory(),
            &mut refs,
            &options,
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{token}: {e}"));
    let records = sinks.iter().map(MemorySink::records).collect();
    (records, reports.remove(0))
}

fn exact(dataset: &Dataset, stream: &str, records: &[serde_json::Value]) {
    let got: Vec<String> = records
        .iter()
        .map(|r| Dataset::primary_key(stream, r))
        .collect();
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "{stream}: a record twice");
    let want: BTreeSet<String> = dataset.expected_keys(stream).into_iter().collect();
    let got: BTreeSet<String> = got.into_iter().collect();
    assert!(got == want, "{stream}: other records than the dataset's");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_walk_slows_down_loses_nothing_and_slows_no_other_tenant() {
    let sim = Simulator::start(SimConfig {
        tenants: vec![
            TenantConfig::new(TOKEN, 2, 10),
            TenantConfig::new(QUIET_TOKEN, 1, 2),
        ],
        // 40 requests a second per token, 4 at once.
        rate_limit: Some(RateLimit::new(40.0, 4)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let streams = ["pipelines", "workflows", "jobs", "tests"];
    let mut busy = tenant(&sim, TOKEN, 8).await;
    let mut quiet = tenant(&sim, QUIET_TOKEN, 2).await;
    let ((busy_records, busy_report), (quiet_records, quiet_report)) = tokio::join!(
        walk(&mut busy, &sim, TOKEN, &streams),
        walk(&mut quiet, &sim, QUIET_TOKEN, &["pipelines"]),
    );
    let dataset = sim.dataset(TOKEN).unwrap();
    for (stream, records) in streams.iter().zip(&busy_records) {
        exact(&dataset, stream, records);
    }
    exact(
        &sim.dataset(QUIET_TOKEN).unwrap(),
        "pipelines",
        &quiet_records[0],
    );
    // The busy tenant met the limit and slowed down; the simulator counted
    // the same 429s.
    assert!(busy_report.rate_limited > 0, "{busy_report:?}");
    assert!(busy_report.lowest_concurrency < 8, "{busy_report:?}");
    assert_eq!(busy.pace().rate_limited(), busy_report.rate_limited);
    assert!(sim.rate_limited() >= busy_report.rate_limited);
    // The quiet one, under the rate, kept its pace.
    assert_eq!(quiet_report.rate_limited, 0, "{quiet_report:?}");
    assert_eq!(quiet.pace().lowest(), 2);
    sim.shutdown().await;
}
