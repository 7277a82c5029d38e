//! The fault matrix: for each fault the simulator can inject, at a low and a
//! high rate, a full sync of every stream through the real component and
//! host (in the walks a run plans, four requests in flight) must return the
//! dataset exactly — nothing lost, nothing twice — with a bounded number of
//! requests. The table it prints (`--nocapture`)
//! is the figure.
//!
//! The host's policy is the production one with short waits: the simulator
//! hints 0 s waits, backoff starts at 1 ms, and its first-byte and
//! between-bytes timeouts are 200 ms against the simulator's 600 ms delays.
//! The simulator never fails one request more than twice in a row, within
//! the host's 3 tries of a bad response and 8 of anything transient.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::sim::{
    Dataset, FaultPlan, FaultRule, STREAMS, SimConfig, Simulator, TenantConfig,
};
use host_harness::checkpoint::Checkpointer;
use host_harness::pace::Pace;
use host_harness::retry::{Jitter, RetryPolicy};
use host_harness::sync::{self, Quiet, RecordSink, SyncOptions, WalkStream};
use host_harness::{AllowList, OutboundPolicy, Timeouts};
use serde_json::json;

use crate::common::{TOKEN, connector, credential};

/// The faults, each run at every rate of [`RATES`] (the slow ones, whose
/// every hit costs a timeout, at the low rate only).
const FAULTS: &[&str] = &[
    "429-json+retry-after",
    "429-text+retry-after-date",
    "429-empty+no-hint",
    "429-json+ratelimit-reset",
    "429-text+x-ratelimit-reset",
    "500",
    "502-html",
    "503",
    "504",
    "reset",
    "truncate-length",
    "truncate-chunked",
    "garbage-json",
    "cut-json",
    "stale-page-token",
    "head-insert",
];
const SLOW_FAULTS: &[&str] = &["slow-first-byte", "stall-body"];
const RATES: [f64; 2] = [0.05, 0.25];

/// Keeps each record's primary key, in order, duplicates included.
struct Keys {
    stream: &'static str,
    keys: Vec<String>,
}

impl RecordSink for Keys {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        for record in records {
            let value: serde_json::Value = serde_json::from_str(record).expect("JSON records");
            self.keys.push(Dataset::primary_key(self.stream, &value));
        }
        Ok(())
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tenant() -> TenantConfig {
    let mut t = TenantConfig::new(TOKEN, 3, 24);
    t.workflows_per_pipeline = conformance::sim::Count::new(1, 2);
    t.jobs_per_workflow = conformance::sim::Count::new(1, 3);
    t.tests_per_job = conformance::sim::Count::new(0, 3);
    t.artifacts_per_job = conformance::sim::Count::new(0, 2);
    t
}

fn plan(rule: Option<FaultRule>) -> FaultPlan {
    let mut plan = FaultPlan::seeded(20261129);
    plan.max_consecutive = 2;
    plan.wait_secs = 0;
    plan.first_byte_delay_ms = 600;
    plan.stall_ms = 600;
    if let Some(rule) = rule {
        plan = plan.with(rule);
    }
    plan
}

fn options() -> SyncOptions {
    SyncOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            jitter: Jitter::None,
            jitter_seed: Some(1),
            ..RetryPolicy::default()
        },
        ..SyncOptions::default()
    }
}

/// One row of the matrix.
struct Row {
    requests: u64,
    records: usize,
    lost: usize,
    duplicated: usize,
    foreign: usize,
    retries: u64,
    seconds: f64,
}

/// A full sync of every stream against a fresh simulator under `faults`.
async fn full_sync(faults: FaultPlan) -> Row {
    let sim = Simulator::start(SimConfig {
        tenants: vec![tenant()],
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("simulator with faults");
    let before = sim.dataset(TOKEN).unwrap();
    let slugs: Vec<String> = before.projects.iter().map(|p| p.slug.clone()).collect();
    let settings = json!({ "project_slugs": slugs }).to_string();
    let policy = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{}", sim.addr())]).unwrap(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            first_byte: Duration::from_millis(200),
            between_bytes: Duration::from_millis(200),
        },
        ..OutboundPolicy::default()
    });
    let cred = credential(&sim, TOKEN);
    let started = Instant::now();
    let mut row = Row {
        requests: 0,
        records: 0,
        lost: 0,
        duplicated: 0,
        foreign: 0,
        retries: 0,
        seconds: 0.0,
    };
    let mut got_all = Vec::new();
    let catalog = connector()
        .instantiate(policy.clone())
        .await
        .unwrap()
        .streams()
        .await
        .unwrap();
    let streams: Vec<String> = STREAMS.iter().map(|s| s.to_string()).collect();
    // The walks a run plans, four requests in flight.
    for walk in sync::walks(&catalog, &streams) {
        let mut instance = connector().instantiate(policy.clone()).await.unwrap();
        instance.set_pace(Pace::new(4));
        let mut sinks: Vec<Keys> = walk
            .iter()
            .map(|name| Keys {
                stream: STREAMS.iter().find(|s| **s == name.as_str()).unwrap(),
                keys: Vec::new(),
            })
            .collect();
        let mut refs: Vec<&mut dyn RecordSink> =
            sinks.iter_mut().map(|s| s as &mut dyn RecordSink).collect();
        let members: Vec<WalkStream> = walk.iter().map(|s| WalkStream::of(&catalog, s)).collect();
        let reports = sync::run_walk(
            &mut instance,
            &cred,
            &members,
            &settings,
            &mut Checkpointer::in_memory(),
            &mut refs,
            &options(),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{walk:?}: {e}"));
        row.retries += reports[0].retries;
        got_all.extend(sinks.into_iter().map(|s| (s.stream, s.keys)));
    }
    row.seconds = started.elapsed().as_secs_f64();
    row.requests = sim.request_count();
    // Pipelines inserted at the head during the scan are new data: a sync
    // may return them (once), never has to.
    let inserted: BTreeSet<String> = sim
        .dataset(TOKEN)
        .unwrap()
        .inserted_pipeline_ids()
        .into_iter()
        .collect();
    for (stream, got) in got_all {
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        row.duplicated += got.len() - unique.len();
        let want: BTreeSet<String> = before.expected_keys(stream).into_iter().collect();
        row.lost += want.difference(&unique).count();
        row.foreign += unique
            .difference(&want)
            .filter(|k| !(stream == "pipelines" && inserted.contains(*k)))
            .count();
        row.records += unique.len();
    }
    sim.shutdown().await;
    row
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_at_every_rate_loses_and_duplicates_nothing() {
    let clean = full_sync(plan(None)).await;
    assert_eq!((clean.lost, clean.duplicated, clean.foreign), (0, 0, 0));
    let mut table = vec![format!(
        "| {:<28} | {:>5} | {:>8} | {:>7} | {:>4} | {:>10} | {:>7} | {:>6} |",
        "fault", "rate", "requests", "records", "lost", "duplicated", "retries", "secs"
    )];
    table.push(format!(
        "| {:<28} | {:>5} | {:>8} | {:>7} | {:>4} | {:>10} | {:>7} | {:>6.1} |",
        "(none)", "0", clean.requests, clean.records, 0, 0, 0, clean.seconds
    ));
    let mut failures = Vec::new();
    let cases = FAULTS
        .iter()
        .flat_map(|f| RATES.iter().map(move |r| (*f, *r)))
        .chain(SLOW_FAULTS.iter().map(|f| (*f, RATES[0])));
    for (fault, rate) in cases {
        let rule = FaultRule::parse(&format!("{fault}:{rate}")).expect("a known fault");
        let row = full_sync(plan(Some(rule))).await;
        table.push(format!(
            "| {fault:<28} | {rate:>5} | {:>8} | {:>7} | {:>4} | {:>10} | {:>7} | {:>6.1} |",
            row.requests, row.records, row.lost, row.duplicated, row.retries, row.seconds
        ));
        // Each row as it comes, so a slow case shows which it is.
        eprintln!("{}", table.last().expect("just pushed"));
        if row.lost + row.duplicated + row.foreign > 0 {
            failures.push(format!(
                "{fault} at {rate}: {} lost, {} duplicated, {} foreign",
                row.lost, row.duplicated, row.foreign
            ));
        }
        // Every fault costs at most a few extra requests (its retries, or
        // a restarted listing's first pages): bounded well below this.
        let bound = clean.requests * 4;
        if row.requests > bound {
            failures.push(format!(
                "{fault} at {rate}: {} requests, over {bound}",
                row.requests
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Page tokens that stay stale for four tries in a row make the connector
/// restart the listing from its first page (after three); with pipelines
/// inserted at the head at the same time, the restarted listing reads items
/// again and may read the new ones. Nothing may be lost, nothing written
/// twice.
#[tokio::test(flavor = "multi_thread")]
async fn restarted_listings_under_head_insertion_lose_and_duplicate_nothing() {
    for rules in [
        vec!["stale-page-token:1.0"],
        vec!["stale-page-token:0.5", "head-insert:0.5"],
    ] {
        let mut faults = plan(None);
        faults.max_consecutive = 4;
        for rule in &rules {
            faults = faults.with(FaultRule::parse(rule).unwrap());
        }
        let row = full_sync(faults).await;
        eprintln!(
            "{rules:?}: {} requests, {} records, {} lost, {} duplicated, {} foreign",
            row.requests, row.records, row.lost, row.duplicated, row.foreign
        );
        assert_eq!(
            (row.lost, row.duplicated, row.foreign),
            (0, 0, 0),
            "{rules:?}"
        );
    }
}
