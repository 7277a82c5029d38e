//! Shared fixtures: one compiled connector per test process, a simulator per
//! test, instances whose allow-list names exactly that simulator.

use std::sync::{Arc, OnceLock};

use conformance::sim::{SimConfig, Simulator};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::sync::{self, Quiet, SyncOptions, SyncReport};
use host_harness::{
    AllowList, Connector, ConnectorInstance, HarnessError, HostConfig, Loader, OutboundPolicy,
    TenantSpec,
};

pub const TOKEN: &str = "CCIPAT_conformance_0123456789abcdef";

/// The connector, compiled once for the whole test binary.
pub fn connector() -> &'static Connector {
    static CONNECTOR: OnceLock<Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        let loader = Loader::new(HostConfig::default()).expect("engine");
        loader
            .load(connector_artifacts::CIRCLECI_CONNECTOR)
            .expect("the built connector loads")
    })
}

/// A simulator with one tenant of `projects` projects.
pub async fn simulator(projects: usize, pipelines: usize) -> Simulator {
    Simulator::start(SimConfig::single(TOKEN, projects, pipelines))
        .await
        .expect("simulator starts")
}

/// A policy allowing exactly the simulator's address.
pub fn policy_for(sim: &Simulator) -> Arc<OutboundPolicy> {
    Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{}", sim.addr())]).unwrap(),
        ..OutboundPolicy::default()
    })
}

pub async fn instance(sim: &Simulator) -> ConnectorInstance {
    connector()
        .instantiate(policy_for(sim))
        .await
        .expect("instantiate")
}

pub fn credential(sim: &Simulator, token: &str) -> Credential {
    Credential::from_pairs([("api_key", token.to_string()), ("base_url", sim.base_url())])
}

pub use host_harness::sync::MemorySink;

/// Syncs `stream` to the end into memory.
pub async fn sync_all(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    stream: &str,
    settings: &serde_json::Value,
) -> Result<(SyncReport, MemorySink), HarnessError> {
    let mut sink = MemorySink::default();
    let report = sync::run(
        instance,
        credential,
        stream,
        &settings.to_string(),
        &mut Checkpointer::in_memory(),
        &mut sink,
        &SyncOptions::default(),
        &mut Quiet,
    )
    .await?;
    Ok((report, sink))
}

/// The slugs of every project of the simulator's tenant.
pub fn all_slugs(sim: &Simulator) -> Vec<String> {
    sim.dataset(TOKEN)
        .expect("tenant")
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect()
}

/// A memory sink the caller keeps a handle on while a run owns it (see
/// [`host_harness::Tenant::sync_streams`], which asks for boxed sinks).
#[derive(Clone, Default)]
pub struct SharedSink(pub Arc<std::sync::Mutex<MemorySink>>);

impl SharedSink {
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.0.lock().unwrap().records()
    }
}

impl host_harness::sync::RecordSink for SharedSink {
    fn begin(&mut self, resuming: bool) -> std::io::Result<()> {
        self.0.lock().unwrap().begin(resuming)
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        self.0.lock().unwrap().write_page(records)
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Syncs `streams` as a tenant's run does
/// ([`host_harness::Tenant::sync_streams`]: the streams of a root in one
/// walk unless `shared_walks` is off, `concurrency` requests in flight) into
/// memory: each stream's records, in the order asked.
pub async fn run_streams(
    sim: &Simulator,
    streams: &[&str],
    settings: &serde_json::Value,
    checkpoints: &mut Checkpointer,
    options: &SyncOptions,
    concurrency: u32,
) -> Vec<(String, Vec<serde_json::Value>, SyncReport)> {
    let mut tenant = connector()
        .tenant(TenantSpec {
            id: "conformance".into(),
            credential: credential(sim, TOKEN),
            policy: policy_for(sim),
            limits: None,
            concurrency: Some(concurrency),
        })
        .await
        .expect("tenant");
    let names: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
    let sinks: std::collections::BTreeMap<String, SharedSink> = names
        .iter()
        .map(|s| (s.clone(), SharedSink::default()))
        .collect();
    let mut sink_for =
        |stream: &str| Box::new(sinks[stream].clone()) as Box<dyn host_harness::sync::RecordSink>;
    let outcomes = tenant
        .sync_streams(
            &names,
            &settings.to_string(),
            checkpoints,
            &mut sink_for,
            options,
            &mut Quiet,
        )
        .await
        .expect("the streams are in the catalog");
    outcomes
        .into_iter()
        .map(|(stream, result)| {
            let report = result.unwrap_or_else(|e| panic!("{stream}: {e}"));
            let records = sinks[&stream].records();
            (stream, records, report)
        })
        .collect()
}
