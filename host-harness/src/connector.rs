//! A loaded connector and its instances.
//!
//! [`Connector`] is the compiled, linked component (cheap to share);
//! [`ConnectorInstance`] is one sandboxed instance of it with its own store,
//! resource table and outbound policy. Each call into the guest is typed:
//! the guest's own errors come back as [`HarnessError::Connector`], and a
//! trap (a panic, an exhausted limit) as [`HarnessError::Trap`]. After a
//! trap the instance must not be used again; instantiate a new one.

use std::sync::{Arc, Mutex};

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_io::IoView;

use crate::bindings::{Account, CredentialSpec, FetchRequest, Page, SourceConnector, SourceConnectorPre, StreamSpec};
use crate::cache::CacheOutcome;
use crate::credential::Credential;
use crate::error::HarnessError;
use crate::outbound::{OutboundLog, PolicyHooks};
use crate::policy::OutboundPolicy;

/// The data of one instance's store.
pub struct HostState {
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: PolicyHooks,
}

impl IoView for HostState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A compiled, linked connector component.
#[derive(Clone)]
pub struct Connector {
    pre: SourceConnectorPre<HostState>,
    cache_outcome: CacheOutcome,
}

impl Connector {
    pub(crate) fn new(pre: SourceConnectorPre<HostState>, cache_outcome: CacheOutcome) -> Self {
        Connector { pre, cache_outcome }
    }

    /// Whether loading it hit the compile cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// A fresh sandboxed instance whose requests pass `policy`.
    pub async fn instantiate(&self, policy: Arc<OutboundPolicy>) -> Result<ConnectorInstance, HarnessError> {
        let hooks = PolicyHooks::new(policy);
        let log = hooks.log();
        let state = HostState {
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks,
        };
        let mut store = Store::new(self.pre.engine(), state);
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| HarnessError::Load(format!("cannot instantiate component: {e:#}")))?;
        Ok(ConnectorInstance { store, bindings, log })
    }
}

/// One sandboxed instance of a connector.
pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: SourceConnector,
    log: Arc<Mutex<OutboundLog>>,
}

impl ConnectorInstance {
    pub async fn credential_schema(&mut self) -> Result<CredentialSpec, HarnessError> {
        let source = self.bindings.ingest_connector_source();
        source.call_credential_schema(&mut self.store).await.map_err(trap)
    }

    pub async fn streams(&mut self) -> Result<Vec<StreamSpec>, HarnessError> {
        let source = self.bindings.ingest_connector_source();
        source.call_streams(&mut self.store).await.map_err(trap)
    }

    pub async fn validate(&mut self, credential: &Credential) -> Result<Account, HarnessError> {
        let source = self.bindings.ingest_connector_source();
        let result = source
            .call_validate(&mut self.store, &credential.0)
            .await
            .map_err(trap)?;
        result.map_err(|e| self.explain(e))
    }

    pub async fn fetch(&mut self, credential: &Credential, request: &FetchRequest) -> Result<Page, HarnessError> {
        let source = self.bindings.ingest_connector_source();
        let result = source
            .call_fetch(&mut self.store, &credential.0, request)
            .await
            .map_err(trap)?;
        result.map_err(|e| self.explain(e))
    }

    /// What this instance's requests did so far.
    pub fn outbound_log(&self) -> OutboundLog {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds the host's reason to a `denied` error: the guest only learns
    /// that its request was refused, the host knows why.
    fn explain(&self, error: crate::bindings::ConnectorError) -> HarnessError {
        use crate::bindings::ConnectorError;
        match (error, self.outbound_log().last_denial) {
            (ConnectorError::Denied(message), Some(denial)) => {
                HarnessError::Connector(ConnectorError::Denied(format!("{message}: {denial}")))
            }
            (error, _) => HarnessError::Connector(error),
        }
    }
}

/// A failed call into the guest: a trap, or the host failing to run it.
fn trap(error: wasmtime::Error) -> HarnessError {
    // The top-level message only: wasmtime appends a wasm backtrace in the
    // error's context chain, which is for debugging, not for operators.
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(code) => HarnessError::Trap(format!("the connector trapped: {code}")),
        None => HarnessError::Trap(format!("the connector call failed: {error}")),
    }
}
