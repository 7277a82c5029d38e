//! Many tenants in one process: 200 tenants, each with its own token and
//! dataset on the simulator, each its own sandboxed instance of the one
//! compiled connector (pooling allocator, copy-on-write memory, one shared
//! `InstancePre`), all fetching at the same time. Each must get exactly its
//! own data and nothing of another's.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use conformance::sim::{Count, Dataset, SimConfig, Simulator, TenantConfig};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::sync::{MemorySink, Quiet, SyncOptions};
use host_harness::{Connector, HostConfig, Loader, Pooling, Tenant, TenantSpec};
use serde_json::json;

use crate::common::policy_for;

const TENANTS: usize = 200;
/// Streams each tenant syncs: the account, a listing, a paged listing and a
/// fan-out two levels deep.
const STREAMS: [&str; 4] = ["me", "projects", "pipelines", "jobs"];

fn token(i: usize) -> String {
    format!(
        "CCIPAT_tenant{i:03}_{:016x}",
        (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

/// Small datasets, different for every tenant (the simulator derives each
/// from the seed and the tenant's position).
fn simulator_config() -> SimConfig {
    let tenants = (0..TENANTS)
        .map(|i| {
            let mut t = TenantConfig::new(&token(i), 1 + i % 3, 4 + i % 5);
            t.workflows_per_pipeline = Count::new(1, 2);
            t.jobs_per_workflow = Count::new(1, 2);
            t.contexts_per_org = Count::new(0, 1);
            t
        })
        .collect();
    SimConfig {
        tenants,
        ..SimConfig::default()
    }
}

/// A loader whose pool has a slot for every tenant, and the connector.
fn pooled_connector(slots: u32) -> Connector {
    let loader = Loader::new(HostConfig {
        pooling: Some(Pooling::for_instances(slots)),
        ..HostConfig::default()
    })
    .expect("engine with a pooling allocator");
    loader
        .load(connector_artifacts::CIRCLECI_CONNECTOR)
        .expect("the connector loads")
}

fn spec(sim: &Simulator, i: usize) -> TenantSpec {
    TenantSpec {
        id: format!("tenant-{i:03}"),
        credential: Credential::from_pairs([("api_key", token(i)), ("base_url", sim.base_url())]),
        policy: policy_for(sim),
        limits: None,
        concurrency: None,
    }
}

/// What one tenant's run produced: the account and each stream's keys.
struct Outcome {
    account_id: String,
    keys: HashMap<&'static str, Vec<String>>,
    pipelines: Vec<serde_json::Value>,
}

async fn run_tenant(mut tenant: Tenant, settings: String) -> Result<Outcome, String> {
    let account = tenant.validate().await.map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    let mut pipelines = Vec::new();
    for stream in STREAMS {
        let mut sink = MemorySink::default();
        tenant
            .sync(
                stream,
                &settings,
                &mut Checkpointer::in_memory(),
                &mut sink,
                &SyncOptions::default(),
                &mut Quiet,
            )
            .await
            .map_err(|e| format!("{}: {stream}: {e}", tenant.id()))?;
        let records = sink.records();
        keys.insert(
            stream,
            records
                .iter()
                .map(|r| Dataset::primary_key(stream, r))
                .collect(),
        );
        if stream == "pipelines" {
            pipelines = records;
        }
    }
    Ok(Outcome {
        account_id: account.id,
        keys,
        pipelines,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_tenants_fetch_concurrently_and_each_gets_only_its_own_data() {
    let sim = Simulator::start(simulator_config()).await.unwrap();
    let connector = pooled_connector(TENANTS as u32);
    let datasets: Vec<Arc<Dataset>> = (0..TENANTS)
        .map(|i| sim.dataset(&token(i)).expect("tenant dataset"))
        .collect();

    // The datasets do not overlap, so "exactly its own" also means
    // "nothing of another's".
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, dataset) in datasets.iter().enumerate() {
        for key in dataset.expected_keys("pipelines") {
            if let Some(other) = owner.insert(key.clone(), i) {
                panic!("pipeline {key} is in the datasets of tenants {other} and {i}");
            }
        }
    }

    // Every tenant is instantiated before any of them runs: 200 live
    // sandboxes at once.
    let mut tenants = Vec::with_capacity(TENANTS);
    for i in 0..TENANTS {
        tenants.push(connector.tenant(spec(&sim, i)).await.expect("tenant"));
    }
    let linear: usize = tenants.iter().map(Tenant::memory_in_use).sum();
    eprintln!(
        "{TENANTS} tenants instantiated: {:.1} MiB of linear memory in all, {:.0} KiB per tenant",
        linear as f64 / 1048576.0,
        linear as f64 / 1024.0 / TENANTS as f64
    );

    let tasks: Vec<_> = tenants
        .into_iter()
        .enumerate()
        .map(|(i, tenant)| {
            let slugs: Vec<String> = datasets[i]
                .projects
                .iter()
                .map(|p| p.slug.clone())
                .collect();
            let settings = json!({ "project_slugs": slugs }).to_string();
            tokio::spawn(run_tenant(tenant, settings))
        })
        .collect();

    let mut records = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task
            .await
            .expect("tenant task")
            .unwrap_or_else(|e| panic!("{e}"));
        let dataset = &datasets[i];
        assert_eq!(
            outcome.account_id, dataset.user["id"],
            "tenant {i} validated as its own user"
        );
        for stream in STREAMS {
            let got = &outcome.keys[stream];
            let unique: BTreeSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "tenant {i}: duplicate {stream}");
            let want: BTreeSet<String> = dataset.expected_keys(stream).into_iter().collect();
            let got: BTreeSet<String> = got.iter().cloned().collect();
            let foreign: Vec<&String> = got.difference(&want).collect();
            assert!(
                foreign.is_empty(),
                "tenant {i} got {stream} not its own: {foreign:?}"
            );
            assert_eq!(got, want, "tenant {i}: {stream}");
            records += got.len();
        }
        // Byte-for-byte too, for one listing.
        assert_eq!(
            outcome.pipelines,
            dataset.expected("pipelines"),
            "tenant {i}"
        );
        for pipeline in &outcome.pipelines {
            let id = pipeline["id"].as_str().unwrap();
            assert_eq!(
                owner.get(id),
                Some(&i),
                "pipeline {id} belongs to tenant {i}"
            );
        }
    }
    eprintln!("{TENANTS} tenants synced {records} records");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_pool_refuses_one_more_tenant_until_a_slot_is_free() {
    let sim = Simulator::start(simulator_config()).await.unwrap();
    let connector = pooled_connector(2);
    let a = connector.tenant(spec(&sim, 0)).await.expect("first slot");
    let _b = connector.tenant(spec(&sim, 1)).await.expect("second slot");
    let err = match connector.tenant(spec(&sim, 2)).await {
        Ok(_) => panic!("a third tenant fit in a pool of two"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains("instance"),
        "the error names the exhausted pool: {err}"
    );
    drop(a);
    let mut c = connector
        .tenant(spec(&sim, 2))
        .await
        .expect("a dropped tenant's slot is reused");
    c.validate().await.expect("the new tenant works");
}

/// The process's resident memory, from /proc.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A measurement, not a check: resident memory per tenant with 200 tenants
/// instantiated and validated once, then idle. Run it alone, so no other
/// test shares the process:
/// `cargo test --release -p conformance --test conformance -- --ignored --exact tenants::memory_per_idle_tenant --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement; run alone"]
async fn memory_per_idle_tenant() {
    let sim = Simulator::start(simulator_config()).await.unwrap();
    let connector = pooled_connector(TENANTS as u32);
    // One tenant first, so the compiled code, the pool's bookkeeping and the
    // runtime's threads are counted in the baseline, not per tenant.
    let mut first = connector.tenant(spec(&sim, 0)).await.unwrap();
    first.validate().await.unwrap();
    let before = resident_bytes();
    let mut tenants = Vec::new();
    for i in 1..TENANTS {
        let mut tenant = connector.tenant(spec(&sim, i)).await.unwrap();
        tenant.validate().await.unwrap();
        tenants.push(tenant);
    }
    let after = resident_bytes();
    let per = (after.saturating_sub(before)) as f64 / (TENANTS - 1) as f64;
    eprintln!(
        "resident: {:.1} MiB with 1 tenant, {:.1} MiB with {TENANTS}: {:.0} KiB per idle tenant (validated once)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per / 1024.0
    );
}
