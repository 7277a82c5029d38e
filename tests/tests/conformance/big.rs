//! The big sync: 50 projects × 2,000 pipelines (93,780 pipelines, with the
//! simulator's edge-case counts on the first six projects) and their whole
//! fan-out, every stream through the real host. Each record of the dataset
//! comes back exactly once, and the connector's state stays small however
//! much it reads. Fan-out per pipeline is kept modest so the suite stays
//! within CI's time; `circleci-sim --projects 50 --pipelines 2000` with its
//! default fan-out is the by-hand version (figures in the issue notes).

use std::collections::HashSet;

use conformance::sim::{Count, Dataset, STREAMS, SimConfig, Simulator, TenantConfig};
use host_harness::checkpoint::Checkpointer;
use host_harness::sync::{self, Quiet, RecordSink, SyncOptions};
use serde_json::json;

use crate::common::{TOKEN, connector, credential, policy_for};

/// Keeps only each record's primary key, failing on the first duplicate, so
/// hundreds of thousands of records need little memory.
struct KeySink {
    stream: &'static str,
    keys: HashSet<String>,
    duplicate: Option<String>,
}

impl RecordSink for KeySink {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        for record in records {
            let value: serde_json::Value = serde_json::from_str(record).expect("records are JSON");
            let key = Dataset::primary_key(self.stream, &value);
            if !self.keys.insert(key.clone()) && self.duplicate.is_none() {
                self.duplicate = Some(key);
            }
        }
        Ok(())
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_projects_by_two_thousand_pipelines() {
    let mut tenant = TenantConfig::new(TOKEN, 50, 2000);
    tenant.workflows_per_pipeline = Count::new(1, 1);
    tenant.jobs_per_workflow = Count::new(1, 2);
    tenant.tests_per_job = Count::new(0, 3);
    tenant.artifacts_per_job = Count::new(0, 1);
    let sim = Simulator::start(SimConfig {
        tenants: vec![tenant],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dataset = sim.dataset(TOKEN).unwrap();
    let slugs: Vec<String> = dataset.projects.iter().map(|p| p.slug.clone()).collect();
    // Every job's artifacts, to compare with everything the simulator serves
    // (by default those of jobs older than CircleCI keeps them are not asked
    // for; the history here spans months).
    let settings = json!({"project_slugs": slugs, "artifact_retention_days": 0}).to_string();
    let cred = credential(&sim, TOKEN);
    let mut checkpoints = Checkpointer::in_memory();
    let started = std::time::Instant::now();
    let mut largest_state = 0;
    for stream in STREAMS {
        let mut inst = connector().instantiate(policy_for(&sim)).await.unwrap();
        let mut sink = KeySink {
            stream,
            keys: HashSet::new(),
            duplicate: None,
        };
        let before = sim.request_count();
        let report = sync::run(
            &mut inst,
            &cred,
            stream,
            &settings,
            &mut checkpoints,
            &mut sink,
            &SyncOptions::default(),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{stream}: {e}"));
        assert_eq!(sink.duplicate, None, "{stream}: a record came back twice");
        let want: HashSet<String> = dataset.expected_keys(stream).into_iter().collect();
        assert_eq!(
            sink.keys.len(),
            want.len(),
            "{stream}: as many records as the dataset holds"
        );
        assert!(sink.keys == want, "{stream}: exactly the dataset's records");
        assert!(
            report.max_state_bytes <= 8 * 1024,
            "{stream}: a state of {} bytes",
            report.max_state_bytes
        );
        largest_state = largest_state.max(report.max_state_bytes);
        eprintln!(
            "big sync: {stream:<30} {:>8} records {:>8} requests, largest state {:>5} bytes",
            report.records,
            sim.request_count() - before,
            report.max_state_bytes
        );
    }
    assert!(dataset.pipeline_total() >= 90_000);
    eprintln!(
        "big sync: {} pipelines, {} requests, largest state {largest_state} bytes, {:.1} s",
        dataset.pipeline_total(),
        sim.request_count(),
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
}
