//! The big sync: 50 projects × 2,000 pipelines (93,780 pipelines, with the
//! simulator's edge-case counts on the first six projects) and their whole
//! fan-out, every stream through the real host, in the walks a run plans
//! (every stream of a root in one walk) with requests in flight together.
//! Each record of the dataset comes back exactly once, every listing is read
//! once (the requests are the minimum the data needs), and the connector's
//! state stays small however much it reads. Fan-out per pipeline is kept
//! modest so the suite stays within CI's time; `circleci-sim --projects 50
//! --pipelines 2000` with its default fan-out is the by-hand version
//! (figures in the issue notes).

use std::collections::HashSet;

use conformance::sim::{Count, Dataset, STREAMS, SimConfig, Simulator, TenantConfig};
use host_harness::checkpoint::Checkpointer;
use host_harness::pace::Pace;
use host_harness::sync::{self, Quiet, RecordSink, SyncOptions, WalkStream};
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
    let catalog = connector()
        .instantiate(policy_for(&sim))
        .await
        .unwrap()
        .streams()
        .await
        .unwrap();
    let streams: Vec<String> = STREAMS.iter().map(|s| s.to_string()).collect();
    for walk in sync::walks(&catalog, &streams) {
        let mut inst = connector().instantiate(policy_for(&sim)).await.unwrap();
        inst.set_pace(Pace::new(8));
        let mut sinks: Vec<KeySink> = walk
            .iter()
            .map(|stream| KeySink {
                stream: STREAMS.iter().find(|s| **s == stream.as_str()).unwrap(),
                keys: HashSet::new(),
                duplicate: None,
            })
            .collect();
        let mut refs: Vec<&mut dyn RecordSink> =
            sinks.iter_mut().map(|s| s as &mut dyn RecordSink).collect();
        let members: Vec<WalkStream> = walk.iter().map(|s| WalkStream::of(&catalog, s)).collect();
        let before = sim.request_count();
        let reports = sync::run_walk(
            &mut inst,
            &cred,
            &members,
            &settings,
            &mut checkpoints,
            &mut refs,
            &SyncOptions::default(),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{walk:?}: {e}"));
        let requests = sim.request_count() - before;
        for (sink, report) in sinks.iter().zip(&reports) {
            let stream = sink.stream;
            assert_eq!(sink.duplicate, None, "{stream}: a record came back twice");
            let want: HashSet<String> = dataset.expected_keys(stream).into_iter().collect();
            assert_eq!(
                sink.keys.len(),
                want.len(),
                "{stream}: as many records as the dataset holds"
            );
            assert!(sink.keys == want, "{stream}: exactly the dataset's records");
            assert_eq!(report.records as usize, want.len());
        }
        let names: Vec<&str> = walk.iter().map(String::as_str).collect();
        let minimum = dataset.minimum_requests(&names);
        assert_eq!(
            requests, minimum,
            "{walk:?}: every listing read once (the minimum the data needs)"
        );
        let state = reports[0].max_state_bytes;
        // Bounded by the listings a walk keeps open (about a page of each
        // level per request in flight), never by the data.
        assert!(state <= 32 * 1024, "{walk:?}: a state of {state} bytes");
        largest_state = largest_state.max(state);
        eprintln!(
            "big sync: {:<40} {:>8} records {:>8} requests (minimum {minimum}), largest state {state:>5} bytes",
            walk.join(","),
            reports.iter().map(|r| r.records).sum::<u64>(),
            requests,
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
