//! Measurements through the host library in this process: compiling and
//! loading the component, and a full sync through the real component and
//! host (the same `sync::run` the CLI uses), written as JSON Lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::sync::{self, Quiet, SyncOptions, WriterSink};
use host_harness::{AllowList, Connector, HostConfig, Loader, OutboundPolicy};
use wasmtime::component::Component;

use crate::stats::{median, ms};

/// Compile and load times of the component, in ms (medians).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Startup {
    pub component_bytes: usize,
    /// `Component::new` (Cranelift, all cores).
    pub compile_ms: f64,
    /// `Component::deserialize` of the precompiled artifact.
    pub deserialize_ms: f64,
    /// `Loader::load` with a warm compile cache: read the cache file,
    /// deserialize, check the imports and exports, link.
    pub load_cached_ms: f64,
    pub precompiled_bytes: usize,
}

/// Times compiling and loading `bytes` with the host's engine settings.
pub fn startup(bytes: &[u8], runs: usize, cache_dir: &std::path::Path) -> Result<Startup> {
    let loader = Loader::new(HostConfig::default())?;
    let engine = loader.engine();
    let mut compile = Vec::new();
    let mut precompiled = Vec::new();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let component = Component::new(engine, bytes)?;
        compile.push(ms(started.elapsed()));
        precompiled = component.serialize()?;
    }
    let mut deserialize = Vec::new();
    for _ in 0..runs.max(1) * 4 {
        let started = Instant::now();
        // SAFETY: the bytes were made by `serialize` just above, with this engine.
        let component = unsafe { Component::deserialize(engine, &precompiled)? };
        deserialize.push(ms(started.elapsed()));
        drop(component);
    }
    let cached = Loader::new(HostConfig {
        cache: Some(host_harness::cache::CompileCache::new(cache_dir)),
        ..HostConfig::default()
    })?;
    cached.load(bytes)?; // fills the cache
    let mut load = Vec::new();
    for _ in 0..runs.max(1) * 4 {
        let started = Instant::now();
        let connector = cached.load(bytes)?;
        load.push(ms(started.elapsed()));
        drop(connector);
    }
    Ok(Startup {
        component_bytes: bytes.len(),
        compile_ms: median(&compile),
        deserialize_ms: median(&deserialize),
        load_cached_ms: median(&load),
        precompiled_bytes: precompiled.len(),
    })
}

/// A connector loaded for syncing, with a policy that allows the simulator.
pub struct Harness {
    connector: Connector,
    policy: Arc<OutboundPolicy>,
}

impl Harness {
    /// `cpu_limit: false` turns off epoch interruption (and with it the CPU
    /// limit), only to measure what it costs.
    pub fn new(
        bytes: &[u8],
        cache_dir: &std::path::Path,
        authority: &str,
        cpu_limit: bool,
    ) -> Result<Harness> {
        let loader = Loader::new(HostConfig {
            cache: Some(host_harness::cache::CompileCache::new(cache_dir)),
            measure_wasm_time: true,
            enforce_cpu_time: cpu_limit,
            ..HostConfig::default()
        })?;
        let connector = loader.load(bytes)?;
        let policy = Arc::new(OutboundPolicy {
            // The simulator speaks plain HTTP: the rule must say so.
            allow: AllowList::parse(&[format!("http://{authority}")])
                .map_err(anyhow::Error::msg)?,
            ..OutboundPolicy::default()
        });
        Ok(Harness { connector, policy })
    }

    /// Syncs `stream` to its end through a fresh instance, records to `out`.
    pub async fn sync(
        &self,
        credential: &[(String, String)],
        stream: &str,
        settings: &str,
        out: &std::path::Path,
    ) -> Result<WasmSync> {
        let credential = Credential::from_pairs(credential.iter().cloned());
        let mut instance = self.connector.instantiate(self.policy.clone()).await?;
        let file = std::fs::File::create(out).context("creating the output")?;
        let mut sink = WriterSink(std::io::BufWriter::new(file));
        let mut checkpoints = Checkpointer::in_memory();
        let cpu_before = cpu_time();
        let started = Instant::now();
        let report = sync::run(
            &mut instance,
            &credential,
            stream,
            settings,
            &mut checkpoints,
            &mut sink,
            &SyncOptions::default(),
            &mut Quiet,
        )
        .await?;
        let wall = started.elapsed();
        Ok(WasmSync {
            wall,
            cpu: cpu_time().saturating_sub(cpu_before),
            upstream_wait: report.upstream_wait,
            guest_time: report.guest_time,
            wasm_time: report.wasm_time,
            records: report.records,
            bytes: report.bytes,
            requests: report.requests,
            connections: report.connections,
        })
    }
}

/// What one sync through the harness did.
#[derive(Debug, Clone)]
pub struct WasmSync {
    pub wall: Duration,
    /// CPU time of this whole process over the sync (all threads).
    pub cpu: Duration,
    pub upstream_wait: Duration,
    /// Time the guest's calls ran (the CircleCI logic, in wasm).
    pub guest_time: Duration,
    /// Of that, time in the guest's own wasm code (the host functions it
    /// calls left out).
    pub wasm_time: Duration,
    pub records: u64,
    pub bytes: u64,
    pub requests: u64,
    pub connections: u64,
}

/// User + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

pub fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}
