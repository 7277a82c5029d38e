//! Many tenants in one process.
//!
//! A [`Tenant`] is one customer's use of a connector: its own credential,
//! outbound policy and [`Limits`], its own pace (requests in flight, rate
//! limits), and its own sandboxed instance (its own store, memory and
//! resource table). It does everything a platform asks of a connector: the
//! credential schema and the stream catalog to show, `validate` when the
//! credential is entered, and syncs of one or several streams into the
//! platform's sinks and checkpoint store. Tenants of one [`Connector`] share
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

use crate::bindings::{Account, CredentialSpec, StreamSpec};
use crate::checkpoint::Checkpointer;
use crate::connector::{Connector, ConnectorInstance};
use crate::credential::{Credential, Redactor};
use crate::error::HarnessError;
use crate::limits::Limits;
use crate::pace::{DEFAULT_CONCURRENCY, Pace};
use crate::policy::OutboundPolicy;
use crate::sync::{self, Observer, RecordSink, SyncOptions, SyncReport, WalkStream};

/// What the platform knows about one tenant.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// The platform's name for the tenant (in errors and logs; never a secret).
    pub id: String,
    /// The tenant's credential, as the connector's schema describes it.
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
    /// The connector's catalog, once asked for: a component's catalog never
    /// changes, so a sync does not ask the guest (and check its answer)
    /// again.
    catalog: Option<Vec<StreamSpec>>,
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
            catalog: None,
        })
    }
}

/// Each stream's outcome of [`Tenant::sync_streams`], in the order the
/// streams were planned.
pub type StreamOutcomes = Vec<(String, Result<SyncReport, HarnessError>)>;

impl Tenant {
    /// The platform's name for the tenant.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connector's credential schema: what a form for this connector
    /// asks for.
    pub async fn credential_schema(&mut self) -> Result<CredentialSpec, HarnessError> {
        let span = self.span();
        async { self.instance().await?.credential_schema().await }
            .instrument(span)
            .await
    }

    /// The JSON Schema (2020-12) of the settings the connector takes: the
    /// form a platform shows next to the credential's.
    pub async fn settings_schema(&mut self) -> Result<String, HarnessError> {
        let span = self.span();
        async { self.instance().await?.settings_schema().await }
            .instrument(span)
            .await
    }

    /// The connector's stream catalog.
    pub async fn streams(&mut self) -> Result<Vec<StreamSpec>, HarnessError> {
        if let Some(catalog) = &self.catalog {
            return Ok(catalog.clone());
        }
        let span = self.span();
        let catalog = async { self.instance().await?.streams().await }
            .instrument(span)
            .await?;
        self.catalog = Some(catalog.clone());
        Ok(catalog)
    }

    /// What removes the tenant's secret values from text, per the
    /// connector's schema and the loader's extra secret fields: for an
    /// embedder's own logs.
    pub async fn redactor(&mut self) -> Result<Redactor, HarnessError> {
        let credential = self.credential.clone();
        self.instance().await?.redactor(&credential).await
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

    /// Syncs `streams` (names from the catalog, or `all`), parents before
    /// children, walk after walk ([`sync::walks`]: the streams with the same
    /// root in one walk, unless [`SyncOptions::shared_walks`] is off), into
    /// the sinks `sink_for` gives each stream, checkpointed into one state
    /// after every page. A walk that fails does not stop the others: every
    /// stream's outcome is returned. An unknown stream name is an error
    /// before anything is read.
    ///
    /// The run is recorded in the state ([`Checkpointer::begin_run`]):
    /// rerun with the same streams after a crash or a failure, it skips the
    /// streams already finished (reported with `already_done`) and resumes
    /// the others.
    pub async fn sync_streams(
        &mut self,
        streams: &[String],
        settings: &str,
        checkpoints: &mut Checkpointer,
        sink_for: &mut dyn FnMut(&str) -> Box<dyn RecordSink>,
        options: &SyncOptions,
        observer: &mut dyn Observer,
    ) -> Result<StreamOutcomes, HarnessError> {
        let catalog = self.streams().await?;
        let planned = sync::plan(&catalog, streams)?;
        let span = self.span();
        Ok(self
            .run_planned(
                &catalog,
                &planned,
                settings,
                checkpoints,
                sink_for,
                options,
                observer,
            )
            .instrument(span)
            .await)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_planned(
        &mut self,
        catalog: &[StreamSpec],
        streams: &[String],
        settings: &str,
        checkpoints: &mut Checkpointer,
        sink_for: &mut dyn FnMut(&str) -> Box<dyn RecordSink>,
        options: &SyncOptions,
        observer: &mut dyn Observer,
    ) -> StreamOutcomes {
        let mut outcomes: StreamOutcomes = Vec::new();
        let done = match checkpoints.begin_run(streams) {
            Ok(done) => done,
            Err(e) => {
                return streams
                    .iter()
                    .map(|s| (s.clone(), Err(e.clone())))
                    .collect();
            }
        };
        let groups = if options.shared_walks {
            sync::walks(catalog, streams)
        } else {
            streams.iter().map(|s| vec![s.clone()]).collect()
        };
        let credential = self.credential.clone();
        for group in groups {
            let (finished, todo): (Vec<String>, Vec<String>) =
                group.into_iter().partition(|s| done.contains(s));
            for stream in finished {
                // Finished by the interrupted run this one continues.
                let report = SyncReport {
                    walk: vec![stream.clone()],
                    already_done: true,
                    ..SyncReport::default()
                };
                let names = [stream.clone()];
                observer.walk_started(&names);
                observer.walk_finished(&names, Ok(std::slice::from_ref(&report)));
                outcomes.push((stream, Ok(report)));
            }
            if todo.is_empty() {
                continue;
            }
            observer.walk_started(&todo);
            let walk: Vec<WalkStream> = todo.iter().map(|s| WalkStream::of(catalog, s)).collect();
            let result = async {
                // A walk whose instance trapped leaves it unusable; the
                // next walk gets a fresh one.
                let instance = self.instance().await?;
                let mut owned: Vec<Box<dyn RecordSink>> =
                    todo.iter().map(|s| sink_for(s)).collect();
                let mut sinks: Vec<&mut dyn RecordSink> = owned
                    .iter_mut()
                    .map(|b| b.as_mut() as &mut dyn RecordSink)
                    .collect();
                sync::run_walk(
                    instance,
                    &credential,
                    &walk,
                    settings,
                    checkpoints,
                    &mut sinks,
                    options,
                    observer,
                )
                .await
            }
            .await;
            let result = match result {
                Ok(reports) => todo
                    .iter()
                    .try_for_each(|s| checkpoints.stream_done(s))
                    .map(|()| reports),
                Err(e) => Err(e),
            };
            observer.walk_finished(&todo, result.as_deref());
            match result {
                Ok(reports) => {
                    outcomes.extend(todo.into_iter().zip(reports.into_iter().map(Ok)));
                }
                Err(e) => outcomes.extend(todo.into_iter().map(|s| (s, Err(e.clone())))),
            }
        }
        // Back in the order planned.
        outcomes.sort_by_key(|(s, _)| streams.iter().position(|n| n == s));
        // A run with a failed stream stays recorded: rerunning it redoes
        // only what did not finish.
        if outcomes.iter().all(|(_, r)| r.is_ok())
            && let Err(e) = checkpoints.end_run()
            && let Some((_, last)) = outcomes.last_mut()
        {
            *last = Err(e);
        }
        outcomes
    }

    /// The tenant's pace: requests in flight and rate limits seen.
    pub fn pace(&self) -> &Arc<Pace> {
        &self.pace
    }

    /// What the requests of the tenant's current instance did so far (sent,
    /// refused and why), read without replacing an instance that trapped:
    /// a report of the calls just made sees their requests, whatever ended
    /// them. A replaced instance starts a new log.
    pub fn outbound_log(&self) -> crate::OutboundLog {
        self.instance.outbound_log()
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
