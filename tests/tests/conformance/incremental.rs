//! Incremental sync for real: sync everything, let the simulator's upstream
//! move on (new pipelines, running work finishing), sync again from the
//! saved state, and get exactly the new and changed records.

use std::collections::BTreeSet;

use conformance::sim::{Dataset, INCREMENTAL_STREAMS as INCREMENTAL, STREAMS};
use host_harness::checkpoint::Checkpointer;
use host_harness::sync::SyncOptions;
use serde_json::{Value, json};

use crate::common::{TOKEN, all_slugs, run_streams, simulator};

/// Syncs every stream: one by one, one request at a time (`shared` off),
/// or as a run plans them, the streams of a root in one walk with eight
/// requests in flight.
async fn sync_every_stream(
    sim: &conformance::sim::Simulator,
    settings: &Value,
    checkpoints: &mut Checkpointer,
    shared: bool,
) -> Vec<(String, Vec<Value>)> {
    let options = SyncOptions {
        shared_walks: shared,
        ..SyncOptions::default()
    };
    let concurrency = if shared { 8 } else { 1 };
    run_streams(sim, &STREAMS, settings, checkpoints, &options, concurrency)
        .await
        .into_iter()
        .map(|(stream, records, _)| (stream, records))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_returns_exactly_the_changes() {
    second_syncs_return_exactly_the_changes(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_in_one_walk_with_requests_in_flight_returns_exactly_the_changes() {
    second_syncs_return_exactly_the_changes(true).await;
}

async fn second_syncs_return_exactly_the_changes(shared: bool) {
    let sim = simulator(6, 14).await;
    let settings = json!({"project_slugs": all_slugs(&sim)});
    let mut checkpoints = Checkpointer::in_memory();

    let before = sim.dataset(TOKEN).unwrap();
    let first = sync_every_stream(&sim, &settings, &mut checkpoints, shared).await;
    for (stream, records) in &first {
        assert_eq!(
            records.len(),
            before.expected(stream).len(),
            "{stream}: the first sync reads everything"
        );
    }

    for round in 1..=2 {
        let old = sim.dataset(TOKEN).unwrap();
        sim.advance();
        let new = sim.dataset(TOKEN).unwrap();
        sim.clear_requests();
        let second = sync_every_stream(&sim, &settings, &mut checkpoints, shared).await;
        for (stream, records) in &second {
            let stream = stream.as_str();
            let got: Vec<String> = records
                .iter()
                .map(|r| Dataset::primary_key(stream, r))
                .collect();
            let got_set: BTreeSet<String> = got.iter().cloned().collect();
            assert_eq!(
                got.len(),
                got_set.len(),
                "round {round}, {stream}: no duplicates"
            );
            if INCREMENTAL.contains(&stream) {
                let want = Dataset::changed_keys(&old, &new, stream);
                assert!(
                    !want.is_empty() || stream == "pipelines",
                    "round {round}, {stream}: the change touches it"
                );
                assert_eq!(
                    got_set, want,
                    "round {round}, {stream}: exactly the new and changed records"
                );
                let expected = new.expected(stream);
                for record in records {
                    let key = Dataset::primary_key(stream, record);
                    let current = expected
                        .iter()
                        .find(|e| Dataset::primary_key(stream, e) == key)
                        .unwrap();
                    assert_eq!(
                        record, current,
                        "round {round}, {stream} {key}: the current version"
                    );
                }
            } else {
                assert_eq!(
                    records.len(),
                    new.expected(stream).len(),
                    "round {round}, {stream}: full refresh"
                );
            }
        }
    }
    sim.shutdown().await;
}
