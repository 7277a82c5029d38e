//! Embedding the host library as a platform would: one loader and
//! connector for the process, a tenant per customer, records into the
//! platform's own sink and the sync's state into its own store, saved after
//! every page.
//!
//! It runs against the CircleCI simulator on 127.0.0.1 (started here), with
//! the CircleCI connector built from this repository:
//!
//! ```text
//! cargo run --release -p host-harness --example embed
//! ```
//!
//! It syncs twice: the second sync resumes from the stored state and reads
//! only what changed (nothing, here), which is what a scheduler's next run
//! does.

use std::sync::{Arc, Mutex};

use conformance::sim::{SimConfig, Simulator};
use host_harness::checkpoint::{CheckpointStore, Checkpointer, SyncState};
use host_harness::credential::Credential;
use host_harness::sync::{Quiet, RecordSink, SyncOptions};
use host_harness::{AllowList, HarnessError, HostConfig, Loader, OutboundPolicy, TenantSpec};

const TOKEN: &str = "CCIPAT_embedding_example_0123456789";

/// The platform's state store: here a shared cell standing for a database
/// row per tenant and connection. It keeps the JSON the host hands it and
/// counts the saves (one per page, plus the run's start and end).
#[derive(Clone, Default)]
struct Row(Arc<Mutex<(Option<Vec<u8>>, usize)>>);

impl CheckpointStore for Row {
    fn load(&mut self) -> Result<SyncState, HarnessError> {
        match &self.0.lock().unwrap().0 {
            Some(json) => SyncState::from_json(json),
            None => Ok(SyncState::default()),
        }
    }

    fn save(&mut self, state: &SyncState, _changed: &[String]) -> Result<(), HarnessError> {
        let json = state.to_json()?;
        let mut row = self.0.lock().unwrap();
        *row = (Some(json), row.1 + 1);
        Ok(())
    }
}

/// The platform's sink: counts the records of one stream.
struct Count(Arc<Mutex<u64>>);

impl RecordSink for Count {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }

    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        *self.0.lock().unwrap() += records.len() as u64;
        Ok(())
    }

    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimConfig::single(TOKEN, 2, 20)).await?;
    let slugs: Vec<String> = sim
        .dataset(TOKEN)
        .map(|d| d.projects.iter().map(|p| p.slug.clone()).collect())
        .unwrap_or_default();

    // Once per process.
    let loader = Loader::new(HostConfig::default())?;
    let connector = loader.load(connector_artifacts::CIRCLECI_CONNECTOR)?;

    // Once per customer.
    let mut tenant = connector
        .tenant(TenantSpec {
            id: "acme".into(),
            credential: Credential::from_pairs([
                ("api_key", TOKEN.to_string()),
                ("base_url", sim.base_url()),
            ]),
            policy: Arc::new(OutboundPolicy {
                allow: AllowList::parse(&[format!("http://{}", sim.addr())])?,
                ..OutboundPolicy::default()
            }),
            limits: None,
            concurrency: Some(8),
        })
        .await?;
    let schema = tenant.credential_schema().await?;
    println!(
        "credential fields: {:?}",
        schema.fields.iter().map(|f| &f.key).collect::<Vec<_>>()
    );
    let account = tenant.validate().await?;
    println!("validated: {}", account.name);

    let row = Row::default();
    let settings = serde_json::json!({ "project_slugs": slugs }).to_string();
    let streams = ["pipelines".to_string(), "workflows".into(), "jobs".into()];
    for run in ["first", "second"] {
        let mut checkpoints = Checkpointer::open(row.clone())?;
        let counts: Vec<Arc<Mutex<u64>>> = streams.iter().map(|_| Arc::default()).collect();
        let mut sink_for = |stream: &str| -> Box<dyn RecordSink> {
            let i = streams.iter().position(|s| s == stream).unwrap_or(0);
            Box::new(Count(counts[i].clone()))
        };
        let saves_before = row.0.lock().unwrap().1;
        let outcomes = tenant
            .sync_streams(
                &streams,
                &settings,
                &mut checkpoints,
                &mut sink_for,
                &SyncOptions::default(),
                &mut Quiet,
            )
            .await?;
        for (stream, outcome) in outcomes {
            let report = outcome?;
            println!(
                "{run} sync, {stream}: {} records in {} pages, {} requests",
                report.records, report.pages, report.requests
            );
        }
        println!(
            "{run} sync: the state was saved {} times",
            row.0.lock().unwrap().1 - saves_before
        );
    }
    sim.shutdown().await;
    Ok(())
}
