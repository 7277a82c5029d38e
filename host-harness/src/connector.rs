//! A loaded connector and its instances.
//!
//! [`Connector`] is the compiled, linked component (cheap to share);
//! [`ConnectorInstance`] is one sandboxed instance of it with its own store,
//! resource table, outbound policy and [`Limits`]. Each call into the guest
//! is typed: the guest's own errors come back as [`HarnessError::Connector`],
//! a limit exceeded during the call as [`HarnessError::Limit`] (whatever the
//! guest made of it), and a trap (a panic, a bug) as [`HarnessError::Trap`].
//! After a trap, a memory or CPU limit included, or a call abandoned before
//! it finished, the instance refuses further calls: instantiate a new one.
//!
//! Secrets: which credential fields are secret is the host's decision
//! ([`Credential::secret_keys`]): those the connector's schema marks
//! `secret` (read once per [`Connector`]: the first instance asks, every
//! later one reuses the answer, so a guest cannot change its mind later),
//! every field whose key looks like a secret's whatever the schema says, and
//! those the operator names ([`crate::HostConfig::secret_fields`]). Every
//! call that is handed a credential redacts those values, in any spelling
//! [`Redactor`] knows, from everything it returns, whatever the guest did:
//! error messages, the account, and a page's records, state and notices.

use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use wasmtime::Store;
use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_io::IoView;

use crate::bindings::{
    Account, CredentialSpec, FetchRequest, Page, SourceConnector, SourceConnectorPre, StreamSpec,
};
use crate::cache::CacheOutcome;
use crate::credential::{Credential, REDACTED, Redactor};
use crate::error::HarnessError;
use crate::limits::{
    CpuBudget, CpuMeter, EpochTicker, LimitExceeded, LimitKind, Limits, SandboxLimiter, Tripwire,
    bytes, metered,
};
use crate::outbound::{OutboundLog, PolicyHooks};
use crate::pace::Pace;
use crate::policy::OutboundPolicy;
use crate::wasm_clock::WasmClock;

/// The data of one instance's store.
pub struct HostState {
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: PolicyHooks,
    limiter: SandboxLimiter,
    wasm_clock: WasmClock,
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
    limits: Limits,
    /// The engine's epoch ticker, when CPU time is enforced; instances hold
    /// it too, so it runs as long as any of them may need it.
    ticker: Option<Arc<EpochTicker>>,
    /// The keys of the schema's secret fields, asked once (see the module docs).
    secret_keys: SecretKeys,
    /// Whether instances keep a [`WasmClock`].
    measure_wasm_time: bool,
    /// Credential fields the operator declares secret.
    secret_fields: Arc<[String]>,
}

/// The schema's secret field keys, shared by a connector and its instances.
type SecretKeys = Arc<OnceCell<Arc<[String]>>>;

impl Connector {
    pub(crate) fn new(
        pre: SourceConnectorPre<HostState>,
        cache_outcome: CacheOutcome,
        limits: Limits,
        ticker: Option<Arc<EpochTicker>>,
    ) -> Self {
        Connector {
            pre,
            cache_outcome,
            limits,
            ticker,
            secret_keys: SecretKeys::default(),
            measure_wasm_time: false,
            secret_fields: Arc::new([]),
        }
    }

    /// The same connector, its instances keeping a [`WasmClock`] or not.
    pub(crate) fn measuring_wasm_time(self, on: bool) -> Self {
        Connector {
            measure_wasm_time: on,
            ..self
        }
    }

    /// The same connector, with these credential fields secret too.
    pub(crate) fn with_secret_fields(self, fields: &[String]) -> Self {
        Connector {
            secret_fields: fields.into(),
            ..self
        }
    }

    /// Whether loading it hit the compile cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// The limits [`Connector::instantiate`] gives an instance (the loader's).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether instances' CPU time per call is enforced (see
    /// [`crate::HostConfig::enforce_cpu_time`]).
    pub fn enforces_cpu_time(&self) -> bool {
        self.ticker.is_some()
    }

    /// Makes `slots` instances at once and drops them, so that the pooling
    /// allocator's first `slots` slots ([`crate::Pooling`]) have been used
    /// before any tenant needs one. A slot's first use faults its pages in
    /// (the instance's context, tables, stack and the mapping of the
    /// component's memory image), which makes that instantiation slower
    /// than one in a slot used before (BENCHMARKS.md has the figures); a
    /// platform that starts up once and takes tenants all day pays this at
    /// start-up instead. A used slot keeps some memory resident; nothing of
    /// the dropped instances stays (their memories are reset). Without
    /// pooling it only allocates and frees. Fails, freeing what it made,
    /// when the pool has fewer than `slots` free.
    pub async fn prewarm(&self, slots: usize) -> Result<(), HarnessError> {
        let policy = Arc::new(OutboundPolicy::default());
        let mut made = Vec::with_capacity(slots);
        for _ in 0..slots {
            made.push(self.instantiate(policy.clone()).await?);
        }
        Ok(())
    }

    /// A fresh sandboxed instance whose requests pass `policy`, under the
    /// loader's limits.
    pub async fn instantiate(
        &self,
        policy: Arc<OutboundPolicy>,
    ) -> Result<ConnectorInstance, HarnessError> {
        self.instantiate_with_limits(policy, self.limits.clone())
            .await
    }

    /// A fresh sandboxed instance under its own `limits` (a tenant's).
    pub async fn instantiate_with_limits(
        &self,
        policy: Arc<OutboundPolicy>,
        limits: Limits,
    ) -> Result<ConnectorInstance, HarnessError> {
        let tripwire = Arc::new(Tripwire::default());
        let hooks = PolicyHooks::with_tripwire(policy, &limits, tripwire.clone());
        let log = hooks.log();
        // Every handle the guest holds lives in this table, and the only
        // resource whose size it chooses (a header map) is capped: together
        // they bound the host memory the instance can hold (see limits).
        let mut table = ResourceTable::new();
        table.set_max_capacity(usize::try_from(limits.host_resources).unwrap_or(usize::MAX));
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(usize::try_from(limits.header_bytes).unwrap_or(usize::MAX));
        let state = HostState {
            table,
            http,
            hooks,
            limiter: SandboxLimiter::new(&limits, tripwire.clone()),
            wasm_clock: WasmClock::default(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if self.measure_wasm_time {
            store.call_hook(|mut cx, hook| {
                cx.data_mut().wasm_clock.on(hook);
                Ok(())
            });
        }
        let meter = Arc::new(CpuMeter::default());
        // With epoch interruption on, a store must always have a deadline:
        // instantiation may run guest code (start functions) too.
        let cpu = self
            .ticker
            .as_ref()
            .map(|_| CpuBudget::install(&mut store, &limits, meter.clone(), tripwire.clone()));
        if let Some(cpu) = &cpu {
            cpu.arm(&mut store);
        }
        // Instantiation can run guest code (start functions), which may
        // block on a request like any call: it has the same deadline.
        let bindings = within(
            limits.call_time,
            metered(&meter, self.pre.instantiate_async(&mut store)),
        )
        .await
        .ok_or_else(|| {
            HarnessError::from(limits.exceeded(
                LimitKind::CallTime,
                "instantiating the component did not finish in time",
            ))
        })?
        .map_err(|e| match limit_of(&tripwire, &limits, &e) {
            Some(hit) => HarnessError::from(hit),
            None => HarnessError::Load(format!("cannot instantiate component: {e:#}")),
        })?;
        Ok(ConnectorInstance {
            store,
            bindings,
            log,
            limits,
            tripwire,
            cpu,
            meter,
            _ticker: self.ticker.clone(),
            secret_keys: self.secret_keys.clone(),
            secret_fields: self.secret_fields.clone(),
            unusable: None,
        })
    }
}

/// One sandboxed instance of a connector.
pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: SourceConnector,
    log: Arc<Mutex<OutboundLog>>,
    limits: Limits,
    tripwire: Arc<Tripwire>,
    cpu: Option<CpuBudget>,
    meter: Arc<CpuMeter>,
    _ticker: Option<Arc<EpochTicker>>,
    secret_keys: SecretKeys,
    secret_fields: Arc<[String]>,
    /// Why the instance refuses calls: it trapped, or a call was abandoned.
    unusable: Option<String>,
}

impl ConnectorInstance {
    /// The connector's credential schema (checked by the host: keys,
    /// kinds, the JSON Schema's size).
    pub async fn credential_schema(&mut self) -> Result<CredentialSpec, HarnessError> {
        self.begin(Redactor::default())?;
        let source = self.bindings.ingest_connector_source();
        let outcome = within(
            self.limits.call_time,
            metered(&self.meter, source.call_credential_schema(&mut self.store)),
        )
        .await;
        self.finish(outcome)
    }

    /// The JSON Schema of the connector's settings, refused when it breaks
    /// the host's rules ([`crate::catalog::check_settings_schema`]).
    pub async fn settings_schema(&mut self) -> Result<String, HarnessError> {
        self.begin(Redactor::default())?;
        let source = self.bindings.ingest_connector_source();
        let outcome = within(
            self.limits.call_time,
            metered(&self.meter, source.call_settings_schema(&mut self.store)),
        )
        .await;
        let schema = self.finish(outcome)?;
        crate::catalog::check_settings_schema(&schema)?;
        Ok(schema)
    }

    /// The stream catalog, refused whole when it breaks the host's rules
    /// ([`crate::catalog::check`]: names become file names).
    pub async fn streams(&mut self) -> Result<Vec<StreamSpec>, HarnessError> {
        self.begin(Redactor::default())?;
        let source = self.bindings.ingest_connector_source();
        let outcome = within(
            self.limits.call_time,
            metered(&self.meter, source.call_streams(&mut self.store)),
        )
        .await;
        let catalog = self.finish(outcome)?;
        crate::catalog::check(&catalog)?;
        Ok(catalog)
    }

    /// Checks a credential. Secret values are redacted from the account and
    /// from any error, whatever the guest put there.
    pub async fn validate(&mut self, credential: &Credential) -> Result<Account, HarnessError> {
        let redactor = self.redactor(credential).await?;
        let account = self.validate_raw(credential, &redactor).await;
        let result = match account {
            Ok(mut account) => {
                for text in [&mut account.id, &mut account.name, &mut account.details] {
                    redact_in_place(&redactor, text);
                }
                Ok(account)
            }
            Err(error) => Err(redactor.redact_error(error)),
        };
        match &result {
            Ok(_) => tracing::debug!(call = "validate", cpu_us = self.cpu_us(), "call finished"),
            Err(e) => {
                tracing::debug!(call = "validate", kind = e.kind(), error = %e, "call failed")
            }
        }
        result
    }

    async fn validate_raw(
        &mut self,
        credential: &Credential,
        redactor: &Redactor,
    ) -> Result<Account, HarnessError> {
        self.begin(redactor.clone())?;
        let source = self.bindings.ingest_connector_source();
        let outcome = within(
            self.limits.call_time,
            metered(
                &self.meter,
                source.call_validate(&mut self.store, &credential.0),
            ),
        )
        .await;
        self.finish(outcome)?.map_err(|e| self.explain(e))
    }

    /// The redactor of `credential`'s secret values (see the module docs),
    /// asking the schema on the first call of any instance.
    pub async fn redactor(&mut self, credential: &Credential) -> Result<Redactor, HarnessError> {
        let cell = self.secret_keys.clone();
        let also = self.secret_fields.clone();
        let keys = cell
            .get_or_try_init(|| async {
                let spec = self.credential_schema().await?;
                Ok::<_, HarnessError>(Credential::secret_keys(&spec, &also).into())
            })
            // Until this succeeds no instance of the connector has been
            // handed a credential, so its failure cannot carry one.
            .await?;
        Ok(credential.redactor_for_keys(keys))
    }

    /// One page of a stream. A page over [`Limits::records_per_page`] or
    /// [`Limits::bytes_per_page`] is refused whole (nothing of it is
    /// returned, so nothing of it is written or checkpointed).
    ///
    /// Secret values are redacted from the page (records, state, notices,
    /// skipped items; a notice says how many places were redacted) and from
    /// any error.
    pub async fn fetch(
        &mut self,
        credential: &Credential,
        request: &FetchRequest,
    ) -> Result<Page, HarnessError> {
        let redactor = self.redactor(credential).await?;
        let result = match self.fetch_raw(credential, request, &redactor).await {
            Ok(mut page) => {
                redact_page(&redactor, &mut page);
                Ok(page)
            }
            Err(error) => Err(redactor.redact_error(error)),
        };
        match &result {
            Ok(page) => tracing::debug!(
                call = "fetch",
                streams = %request.streams.join(","),
                records = page.records.len(),
                state_bytes = page.state.as_ref().map_or(0, String::len),
                has_more = page.has_more,
                cpu_us = self.cpu_us(),
                "call finished"
            ),
            Err(e) => tracing::debug!(
                call = "fetch",
                streams = %request.streams.join(","),
                kind = e.kind(),
                error = %e,
                "call failed"
            ),
        }
        result
    }

    async fn fetch_raw(
        &mut self,
        credential: &Credential,
        request: &FetchRequest,
        redactor: &Redactor,
    ) -> Result<Page, HarnessError> {
        self.begin(redactor.clone())?;
        let source = self.bindings.ingest_connector_source();
        let outcome = within(
            self.limits.call_time,
            metered(
                &self.meter,
                source.call_fetch(&mut self.store, &credential.0, request),
            ),
        )
        .await;
        let page = self.finish(outcome)?.map_err(|e| self.explain(e))?;
        self.check_page(&page, request)?;
        Ok(page)
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes of linear memory the instance holds, over all its memories.
    pub fn memory_in_use(&self) -> usize {
        self.store.data().limiter.memory_in_use()
    }

    /// The time the last call (or the one in progress) spent running, as
    /// the CPU limit counts it: guest code and the host code it calls, not
    /// waiting on I/O.
    pub fn cpu_time_of_last_call(&self) -> std::time::Duration {
        self.meter.spent()
    }

    fn cpu_us(&self) -> u64 {
        u64::try_from(self.meter.spent().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether the instance refuses further calls (after a trap or an
    /// abandoned call), and why.
    pub fn unusable(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    /// Prepares a call: refuses it on an unusable instance, resets the
    /// per-call counters and arms the CPU deadline. Until [`Self::finish`]
    /// runs, the instance counts as unusable: a call whose future is dropped
    /// half-way leaves the guest in an unknown state.
    /// `redactor` holds the secrets of the call's credential, for the
    /// outbound hooks' denials and log events.
    fn begin(&mut self, redactor: Redactor) -> Result<(), HarnessError> {
        if let Some(why) = &self.unusable {
            return Err(HarnessError::Trap(format!(
                "this connector instance cannot be used again ({why}); instantiate a new one"
            )));
        }
        self.unusable = Some("a call on it was abandoned before it finished".into());
        self.tripwire.take();
        self.meter.reset();
        self.store.data_mut().hooks.begin_call(redactor);
        if let Some(cpu) = &self.cpu {
            cpu.arm(&mut self.store);
        }
        Ok(())
    }

    /// Ends a call: a limit hit during it wins over whatever the guest
    /// answered; a failed call (a trap, or one stopped at its deadline)
    /// makes the instance unusable.
    fn finish<R>(&mut self, outcome: Deadlined<R>) -> Result<R, HarnessError> {
        self.unusable = None;
        let Some(outcome) = outcome else {
            // The call's future was dropped at its deadline: the guest is
            // somewhere in the middle of it, and its handles (a request it
            // never sent, a body it was writing) go with the instance.
            let failure = HarnessError::from(self.limits.exceeded(
                LimitKind::CallTime,
                "the call did not finish in time (waiting on the network included)",
            ));
            self.unusable = Some(failure.to_string());
            return Err(failure);
        };
        match outcome {
            Ok(value) => match self.tripwire.take() {
                Some(hit) => Err(hit.into()),
                None => Ok(value),
            },
            Err(error) => {
                let failure = match limit_of(&self.tripwire, &self.limits, &error) {
                    Some(hit) => HarnessError::from(hit),
                    None => trap(error),
                };
                self.unusable = Some(failure.to_string());
                Err(failure)
            }
        }
    }

    /// Checks a page against the limits and the contract: every record of
    /// one of the request's streams, a state exactly while it has more, a
    /// cursor per stream once it has not. A guest that breaks the contract
    /// is reported as a trap (a guest bug), never trusted to index the
    /// host's sinks.
    fn check_page(&self, page: &Page, request: &FetchRequest) -> Result<(), HarnessError> {
        let streams = request.streams.len();
        if let Some(r) = page.records.iter().find(|r| r.stream as usize >= streams) {
            return Err(HarnessError::Trap(format!(
                "the connector returned a record of stream index {} for a request of {streams} stream(s)",
                r.stream
            )));
        }
        if page.has_more != page.state.is_some() {
            return Err(HarnessError::Trap(
                "the connector returned a page whose state does not match has-more (a state is \
                 returned exactly while the sync has more)"
                    .into(),
            ));
        }
        let cursors_ok = if page.has_more {
            page.cursors.is_empty()
        } else {
            page.cursors.len() == streams
        };
        if !cursors_ok {
            return Err(HarnessError::Trap(format!(
                "the connector returned {} cursor(s) for {streams} stream(s) on a page with has-more {} \
                 (one per stream once the sync ends, none before)",
                page.cursors.len(),
                page.has_more
            )));
        }
        let records = page.records.len() as u64;
        if records > self.limits.records_per_page {
            return Err(self
                .limits
                .exceeded(
                    LimitKind::RecordsPerPage,
                    format!("the connector returned a page of {records} records"),
                )
                .into());
        }
        let states = page
            .state
            .iter()
            .chain(page.cursors.iter().flatten())
            .map(String::len);
        for state in states.clone() {
            if state as u64 > self.limits.state_bytes {
                return Err(self
                    .limits
                    .exceeded(
                        LimitKind::StateBytes,
                        format!("the connector returned a state of {}", bytes(state as u64)),
                    )
                    .into());
            }
        }
        let size: usize = page.records.iter().map(|r| r.data.len()).sum::<usize>()
            + states.sum::<usize>()
            + page
                .notices
                .iter()
                .chain(&page.skipped)
                .map(String::len)
                .sum::<usize>();
        if size as u64 > self.limits.bytes_per_page {
            return Err(self
                .limits
                .exceeded(
                    LimitKind::BytesPerPage,
                    format!("the connector returned a page of {}", bytes(size as u64)),
                )
                .into());
        }
        Ok(())
    }

    /// The pace this instance's requests keep (see [`crate::pace`]).
    pub fn pace(&self) -> Arc<Pace> {
        self.store.data().hooks.pace()
    }

    /// Makes this instance keep `pace`: its tenant's, shared by the
    /// tenant's instances (capped by this instance's connection limit).
    pub fn set_pace(&mut self, pace: Arc<Pace>) {
        self.store.data_mut().hooks.set_pace(pace);
    }

    /// Time spent in the guest's own wasm code so far, when the loader
    /// measures it ([`crate::HostConfig::measure_wasm_time`]); else zero.
    pub fn wasm_time(&self) -> std::time::Duration {
        self.store.data().wasm_clock.total()
    }

    /// What this instance's requests did so far.
    pub fn outbound_log(&self) -> OutboundLog {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot()
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

/// Redacts a string where it holds a secret; true if it did.
fn redact_in_place(redactor: &Redactor, text: &mut String) -> bool {
    if redactor.finds_in(text) {
        *text = redactor.redact(text);
        true
    } else {
        false
    }
}

/// Redacts secrets from every string of a page, and says so in a notice.
fn redact_page(redactor: &Redactor, page: &mut Page) {
    if redactor.is_empty() {
        return;
    }
    let records = page
        .records
        .iter_mut()
        .map(|r| redact_in_place(redactor, &mut r.data))
        .filter(|&hit| hit)
        .count();
    let mut state = false;
    for s in page
        .state
        .iter_mut()
        .chain(page.cursors.iter_mut().flatten())
    {
        state |= redact_in_place(redactor, s);
    }
    for text in page.notices.iter_mut().chain(&mut page.skipped) {
        redact_in_place(redactor, text);
    }
    if records > 0 || state {
        page.notices.push(format!(
            "the host replaced a secret credential value with {REDACTED} in {records} record(s){}",
            if state { " and in the state" } else { "" }
        ));
    }
}

/// A call's outcome, or `None` when it passed its wall-clock deadline.
type Deadlined<R> = Option<wasmtime::Result<R>>;

/// Runs a call, giving up on it (dropping it) after `limit`.
async fn within<R>(
    limit: std::time::Duration,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> Deadlined<R> {
    tokio::time::timeout(limit, call).await.ok()
}

/// The limit that made a call or an instantiation fail, if one did.
fn limit_of(
    tripwire: &Tripwire,
    limits: &Limits,
    error: &wasmtime::Error,
) -> Option<LimitExceeded> {
    if let Some(hit) = tripwire.take() {
        return Some(hit);
    }
    if let Some(hit) = error.downcast_ref::<LimitExceeded>() {
        return Some(hit.clone());
    }
    if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        return Some(limits.exceeded(
            LimitKind::CpuTime,
            "the call was interrupted at its deadline",
        ));
    }
    // A handle the resource table had no room for.
    if error.chain().any(|e| {
        e.downcast_ref::<ResourceTableError>()
            .is_some_and(|e| matches!(e, ResourceTableError::Full))
    }) {
        return Some(limits.exceeded(
            LimitKind::HostResources,
            "the connector held as many handles (header maps, requests, bodies, streams) as its resource table admits",
        ));
    }
    // A header map past wasmtime-wasi-http's size limit traps with this.
    if error
        .chain()
        .any(|e| e.to_string().contains(HEADER_LIMIT_MESSAGE))
    {
        return Some(limits.exceeded(
            LimitKind::HeaderBytes,
            "the connector grew a header map past it",
        ));
    }
    // wasmtime's own count of instances, tables and memories per store.
    const COUNT: &str = "resource limit exceeded: ";
    let message = format!("{error:#}");
    if let Some(at) = message.find(COUNT) {
        let detail = message[at + COUNT.len()..]
            .split(':')
            .next()
            .unwrap_or_default();
        return Some(limits.exceeded(LimitKind::Instances, format!("wasmtime refused: {detail}")));
    }
    None
}

/// How wasmtime-wasi-http's `FieldMapError::TotalSizeTooBig` reads: a
/// header map past its size limit traps with it.
const HEADER_LIMIT_MESSAGE: &str = "total size of fields exceeds limit";

/// A failed call into the guest: a trap, or the host failing to run it.
fn trap(error: wasmtime::Error) -> HarnessError {
    // The top-level message only: wasmtime appends a wasm backtrace in the
    // error's context chain, which is for debugging, not for operators.
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(code) => HarnessError::Trap(format!("the connector trapped: {code}")),
        None => HarnessError::Trap(format!("the connector call failed: {error}")),
    }
}
