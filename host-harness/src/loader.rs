//! Turns component bytes into a [`Connector`] ready to instantiate: one
//! engine and linker for every component, the compile cache, and the
//! load-time checks that refuse a component before any of its code runs.
//!
//! The linker holds wasi:io and wasi:http, nothing else: no filesystem, no
//! environment, no clocks, no sockets. A component that imports more is
//! refused with the list of what it asked for.
//!
//! When CPU time is enforced (the default), the engine compiles epoch checks
//! into the guest and the loader starts one [`EpochTicker`] for it; the
//! ticker stops when the loader and every connector and instance it made
//! are dropped.
//!
//! A host running many tenants turns on [`Pooling`]: wasmtime's pooling
//! allocator reserves a slot (memory, tables, instance state, fiber stack)
//! per concurrent instance up front, and linear memory starts as a
//! copy-on-write mapping of the component's initial image, so instantiating a
//! tenant is a few `madvise`/`mprotect` calls instead of `mmap` and copying,
//! and an idle tenant costs only the pages it has written.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::SourceConnectorPre;
use crate::cache::{CacheOutcome, CompileCache};
use crate::connector::{Connector, HostState};
use crate::error::HarnessError;
use crate::limits::{EPOCH_TICK, EpochTicker, Limits};

/// Whether a component may import `name`: an interface of
/// `wit/allowed-imports.txt` (wasi:http's client side and the wasi:io it is
/// built on), at any patch version of the minor version listed there
/// (wasmtime links an older 0.2.x import against its 0.2 implementation).
fn import_allowed(name: &str) -> bool {
    include_str!("../../wit/allowed-imports.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|listed| {
            // `wasi:http/types@0.2.12` admits `wasi:http/types@0.2.` + any.
            let minor = match listed.rfind('.') {
                Some(dot) => &listed[..=dot],
                None => listed,
            };
            name.starts_with(minor)
        })
}

/// The export every connector must provide.
pub const REQUIRED_EXPORT: &str = "ingest:connector/source@0.3.0";

/// The default size limit of a component: ours is about 300 KiB; a
/// connector a hundred times larger is still welcome.
pub const MAX_COMPONENT_BYTES: usize = 16 * 1024 * 1024;

/// How the host is set up.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache: Option<CompileCache>,
    /// The limits of every instance made by [`crate::Connector::instantiate`]
    /// (a tenant's own go through `instantiate_with_limits`).
    pub limits: Limits,
    /// Compile epoch checks into guests and run the ticker, so that
    /// [`Limits::cpu_time_per_call`] is enforced (default: yes). Without it
    /// a guest that loops forever holds its thread forever; turn it off only
    /// to measure what it costs.
    pub enforce_cpu_time: bool,
    /// Pre-allocate instance slots with wasmtime's pooling allocator (see
    /// [`Pooling`]); `None` (the default) allocates each instance on demand,
    /// which suits a process running one tenant, like the CLI.
    pub pooling: Option<Pooling>,
    /// Components larger than this are refused before anything parses them
    /// (default `MAX_COMPONENT_BYTES`).
    pub max_component_bytes: usize,
    /// Keep a `WasmClock` in every instance, so
    /// [`crate::ConnectorInstance::wasm_time`] tells the time spent in the
    /// guest's own code (default: no; it is for benchmarks).
    pub measure_wasm_time: bool,
    /// Credential fields whose values are secret whatever the component's
    /// schema says, beside those it marks `secret` and those whose key looks
    /// like a secret's ([`crate::credential::key_looks_secret`]). Empty by
    /// default.
    pub secret_fields: Vec<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache: None,
            limits: Limits::default(),
            enforce_cpu_time: true,
            pooling: None,
            max_component_bytes: MAX_COMPONENT_BYTES,
            measure_wasm_time: false,
            secret_fields: Vec::new(),
        }
    }
}

/// Sizes of the pooling allocator, for a host running many tenants.
///
/// Every slot is reserved when the loader starts: address space, not memory
/// (each linear-memory slot reserves 4 GiB + a guard of address space so
/// that bounds checks stay free, and only pages a guest touches become
/// resident). Instantiating more connectors than `instances` at once fails
/// with a [`HarnessError::Load`] until one is dropped. Each slot's memory is
/// capped at the loader's [`Limits::memory_bytes`]: give a tenant a larger
/// limit than that and the pool still stops it there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pooling {
    /// Connector instances that may exist at the same time.
    pub instances: u32,
    /// Core wasm instances one component may hold (a component made by
    /// wit-component is its main module plus a few adapter shims).
    pub core_instances_per_component: u32,
    /// Linear memories one component may hold.
    pub memories_per_component: u32,
    /// Tables one component may hold.
    pub tables_per_component: u32,
}

impl Pooling {
    /// Room for `instances` connectors shaped like ours, with headroom.
    pub fn for_instances(instances: u32) -> Pooling {
        Pooling {
            instances,
            core_instances_per_component: 16,
            memories_per_component: 2,
            tables_per_component: 4,
        }
    }

    fn allocation_strategy(&self, limits: &Limits) -> InstanceAllocationStrategy {
        let n = self.instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(self.core_instances_per_component))
            .total_memories(n.saturating_mul(self.memories_per_component))
            .total_tables(n.saturating_mul(self.tables_per_component))
            // One fiber stack per instance: each in-flight async call runs on one.
            .total_stacks(n)
            .max_core_instances_per_component(self.core_instances_per_component)
            .max_memories_per_component(self.memories_per_component)
            .max_tables_per_component(self.tables_per_component)
            .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            // Slots go back to the pool by madvise; keep none warm beyond
            // what the live instances use, so RSS follows the tenants.
            .max_unused_warm_slots(0);
        InstanceAllocationStrategy::Pooling(pool)
    }
}

/// Loads components into connectors.
pub struct Loader {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<CompileCache>,
    limits: Limits,
    ticker: Option<Arc<EpochTicker>>,
    max_component_bytes: usize,
    measure_wasm_time: bool,
    secret_fields: Vec<String>,
}

impl Loader {
    /// A loader with its own wasmtime engine configured by `config`.
    pub fn new(config: HostConfig) -> Result<Loader, HarnessError> {
        let load_err = |e: wasmtime::Error| HarnessError::Load(format!("{e:#}"));
        let mut engine_config = Config::new();
        engine_config.wasm_component_model(true);
        engine_config.epoch_interruption(config.enforce_cpu_time);
        if let Some(pooling) = &config.pooling {
            // Copy-on-write initial memory is wasmtime's default; say so,
            // since instantiation speed and idle RSS rest on it.
            engine_config.memory_init_cow(true);
            engine_config.allocation_strategy(pooling.allocation_strategy(&config.limits));
        }
        let engine = Engine::new(&engine_config).map_err(load_err)?;
        let ticker = match config.enforce_cpu_time {
            true => Some(Arc::new(EpochTicker::start(&engine, EPOCH_TICK).map_err(
                |e| HarnessError::Load(format!("cannot start the epoch ticker thread: {e}")),
            )?)),
            false => None,
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi_io::add_to_linker_async(&mut linker).map_err(load_err)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(load_err)?;
        Ok(Loader {
            engine,
            linker,
            cache: config.cache,
            limits: config.limits,
            ticker,
            max_component_bytes: config.max_component_bytes,
            measure_wasm_time: config.measure_wasm_time,
            secret_fields: config.secret_fields,
        })
    }

    /// The wasmtime engine its components are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine's epoch ticker, when CPU time is enforced.
    pub fn epoch_ticker(&self) -> Option<&EpochTicker> {
        self.ticker.as_deref()
    }

    /// Reads and loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<Connector, HarnessError> {
        let bytes = std::fs::read(path).map_err(|e| {
            HarnessError::Load(format!("cannot read component {}: {e}", path.display()))
        })?;
        self.load(&bytes)
    }

    /// Compiles (or loads from the cache), checks and pre-instantiates a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Connector, HarnessError> {
        let started = std::time::Instant::now();
        let result = self.load_checked(bytes);
        match &result {
            Ok(connector) => tracing::info!(
                bytes = bytes.len(),
                cache = ?connector.cache_outcome(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "component loaded"
            ),
            Err(e) => tracing::warn!(bytes = bytes.len(), error = %e, "component refused"),
        }
        result
    }

    fn load_checked(&self, bytes: &[u8]) -> Result<Connector, HarnessError> {
        if bytes.len() > self.max_component_bytes {
            return Err(HarnessError::Load(format!(
                "component is {} bytes, over the {}-byte limit",
                bytes.len(),
                self.max_component_bytes
            )));
        }
        let (component, outcome) = match &self.cache {
            Some(cache) => cache.load(&self.engine, bytes),
            None => Component::new(&self.engine, bytes).map(|c| (c, CacheOutcome::Disabled)),
        }
        .map_err(|e| HarnessError::Load(format!("not a valid component: {e:#}")))?;
        self.check_shape(&component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| HarnessError::Load(format!("component cannot be linked: {e:#}")))?;
        let pre = SourceConnectorPre::new(pre).map_err(|e| {
            HarnessError::Load(format!(
                "component does not implement {REQUIRED_EXPORT}: {e:#}"
            ))
        })?;
        let connector = Connector::new(pre, outcome, self.limits.clone(), self.ticker.clone());
        Ok(connector
            .measuring_wasm_time(self.measure_wasm_time)
            .with_secret_fields(&self.secret_fields))
    }

    /// Refuses components that import beyond the allowed imports (`wit/allowed-imports.txt`) or do not
    /// export [`REQUIRED_EXPORT`], naming what is wrong.
    fn check_shape(&self, component: &Component) -> Result<(), HarnessError> {
        let ty = component.component_type();
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .filter(|name| !import_allowed(name))
            .collect();
        if !refused.is_empty() {
            return Err(HarnessError::Load(format!(
                "component imports {} which the sandbox does not provide (allowed: wasi:http/types, wasi:http/outgoing-handler, wasi:io)",
                refused.join(", ")
            )));
        }
        if !ty
            .exports(&self.engine)
            .any(|(name, _)| name == REQUIRED_EXPORT)
        {
            let exports: Vec<String> = ty
                .exports(&self.engine)
                .map(|(n, _)| n.to_string())
                .collect();
            let unversioned = REQUIRED_EXPORT.split('@').next().unwrap_or(REQUIRED_EXPORT);
            if let Some(other) = exports
                .iter()
                .find(|e| e.split('@').next() == Some(unversioned))
            {
                return Err(HarnessError::Load(format!(
                    "component exports {other}, a version of the contract this host does not run (it runs {REQUIRED_EXPORT})"
                )));
            }
            return Err(HarnessError::Load(format!(
                "component does not export {REQUIRED_EXPORT} (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_allowed_by_the_one_list_at_any_patch_version() {
        for name in [
            "wasi:http/types@0.2.12",
            "wasi:http/types@0.2.0",
            "wasi:http/outgoing-handler@0.2.3",
            "wasi:io/streams@0.2.12",
            "wasi:io/poll@0.2.1",
            "wasi:io/error@0.2.9",
        ] {
            assert!(import_allowed(name), "{name}");
        }
        for name in [
            "wasi:http/types@0.3.0",
            "wasi:filesystem/types@0.2.12",
            "wasi:cli/environment@0.2.12",
            "wasi:random/random@0.2.12",
            "wasi:sockets/tcp@0.2.12",
            "wasi:http/incoming-handler@0.2.12",
        ] {
            assert!(!import_allowed(name), "{name}");
        }
    }
}
