//! Many tenants in one process.
//!
//! A [`Tenant`] is one customer's use of a connector: its own credential,
//! outbound policy and [`Limits`], and its own sandboxed instance (its own
//! store, memory and resource table). Tenants of one [`Connector`] share
//! everything that is read-only: the engine, the compiled code and the
//! pre-linked `InstancePre`, so making a tenant is an instantiation, never a
//! compilation. With [`crate::loader::Pooling`] on, that instantiation takes
//! a ready slot from wasmtime's pooling allocator and maps the component's
//! initial memory copy-on-write.
//!
//! A `Tenant` is `Send + 'static`: run each one in its own task
//! (`tokio::spawn`) and as many run concurrently as the runtime has room
//! for. Nothing is shared between tenants that one of them could write to,
//! so one tenant's trap, limit or hostile answer ends only its own call. A
//! tenant whose instance trapped gets a fresh instance at its next call.

use std::sync::Arc;

use tracing::Instrument;

use crate::bindings::Account;
use crate::checkpoint::Checkpointer;
use crate::connector::{Connector, ConnectorInstance};
use crate::credential::Credential;
use crate::error::HarnessError;
use crate::limits::Limits;
use crate::pace::{DEFAULT_CONCURRENCY, Pace};
use crate::policy::OutboundPolicy;
use crate::sync::{self, Observer, RecordSink, SyncOptions, SyncReport};

/// What the platform knows about one tenant.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// The platform's name for the tenant (in errors and logs; never a secret).
    pub id: String,
    pub credential: Credential,
    /// Where the tenant's connector may send requests.
    pub policy: Arc<OutboundPolicy>,
    /// The tenant's limits; `None` takes the loader's.
    pub limits: Option<Limits>,
    /// Requests its connector may keep in flight at once (see
    /// [`crate::pace`]); `None` takes [`crate::pace::DEFAULT_CONCURRENCY`].
    /// The instance's connection limit bounds it.
    pub concurrency: Option<u32>,
}

/// One tenant's sandboxed connector.
pub struct Tenant {
    id: String,
    connector: Connector,
    credential: Credential,
    policy: Arc<OutboundPolicy>,
    limits: Limits,
    /// Kept across instances: a replaced instance goes on at the same pace.
    pace: Arc<Pace>,
    instance: ConnectorInstance,
}

impl Connector {
    /// Instantiates a tenant's sandbox.
    pub async fn tenant(&self, spec: TenantSpec) -> Result<Tenant, HarnessError> {
        let limits = spec.limits.unwrap_or_else(|| self.limits().clone());
        let mut instance = self
            .instantiate_with_limits(spec.policy.clone(), limits.clone())
            .await?;
        let pace = Pace::new(spec.concurrency.unwrap_or(DEFAULT_CONCURRENCY));
        instance.set_pace(pace.clone());
        Ok(Tenant {
            id: spec.id,
            connector: self.clone(),
            credential: spec.credential,
            policy: spec.policy,
            limits,
            pace,
            instance,
        })
    }
}

impl Tenant {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks the tenant's credential with the upstream.
    pub async fn validate(&mut self) -> Result<Account, HarnessError> {
        let credential = self.credential.clone();
        let span = self.span();
        async { self.instance().await?.validate(&credential).await }
            .instrument(span)
            .await
    }

    /// The span of the tenant's calls: its id, never its credential.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("tenant", id = %self.id)
    }

    /// Syncs one stream to its end (see [`sync::run`]).
    pub async fn sync(
        &mut self,
        stream: &str,
        settings: &str,
        checkpoints: &mut Checkpointer,
        sink: &mut dyn RecordSink,
        options: &SyncOptions,
        observer: &mut dyn Observer,
    ) -> Result<SyncReport, HarnessError> {
        let credential = self.credential.clone();
        let span = self.span();
        async {
            let instance = self.instance().await?;
            sync::run(
                instance,
                &credential,
                stream,
                settings,
                checkpoints,
                sink,
                options,
                observer,
            )
            .await
        }
        .instrument(span)
        .await
    }

    /// Syncs the streams of one walk to its end (see [`sync::run_walk`]).
    pub async fn sync_walk(
        &mut self,
        streams: &[sync::WalkStream],
        settings: &str,
        checkpoints: &mut Checkpointer,
        sinks: &mut [&mut dyn RecordSink],
        options: &SyncOptions,
        observer: &mut dyn Observer,
    ) -> Result<Vec<SyncReport>, HarnessError> {
        let credential = self.credential.clone();
        let span = self.span();
        async {
            let instance = self.instance().await?;
            sync::run_walk(
                instance,
                &credential,
                streams,
                settings,
                checkpoints,
                sinks,
                options,
                observer,
            )
            .await
        }
        .instrument(span)
        .await
    }

    /// The tenant's pace: requests in flight and rate limits seen.
    pub fn pace(&self) -> &Arc<Pace> {
        &self.pace
    }

    /// The tenant's instance, replaced by a fresh one if the last one
    /// trapped or had a call abandoned.
    pub async fn instance(&mut self) -> Result<&mut ConnectorInstance, HarnessError> {
        if let Some(why) = self.instance.unusable() {
            tracing::info!(reason = why, "replacing the tenant's unusable instance");
            self.instance = self
                .connector
                .instantiate_with_limits(self.policy.clone(), self.limits.clone())
                .await?;
            self.instance.set_pace(self.pace.clone());
        }
        Ok(&mut self.instance)
    }

    /// Bytes of linear memory the tenant's instance holds.
    pub fn memory_in_use(&self) -> usize {
        self.instance.memory_in_use()
    }
}
