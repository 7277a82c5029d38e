#![deny(missing_docs)]
//! The reference host for `ingest:connector` source components.
//!
//! It loads a component compiled from any language, refuses it unless it
//! imports nothing beyond wasi:http and wasi:io, and drives it in a sandbox:
//! every outgoing request passes the operator's [`policy`] (allow-list,
//! private-address refusal, timeouts) before it leaves the process. Each
//! instance runs under its own [`Limits`] (memory, CPU time per call,
//! requests, response and page sizes, connections, host handles); exceeding
//! one ends that call with a typed error. The host knows policy, never the
//! upstream API: URLs, pagination and record shapes are the guest's
//! business.
//!
//! An embedder (an ingestion platform running many tenants in one process)
//! uses four things:
//!
//! - a [`Loader`] ([`HostConfig`]: compile cache, default limits, pooling)
//!   and the [`Connector`] it loads, shared by every tenant;
//! - a [`Tenant`] per customer ([`TenantSpec`]: its credential, its
//!   [`OutboundPolicy`], its limits and concurrency), which shows the
//!   credential schema and the stream catalog, validates the credential,
//!   and syncs one or several streams ([`Tenant::sync_streams`]);
//! - a [`sync::RecordSink`] per stream, where records go;
//! - a [`checkpoint::CheckpointStore`], where the sync's state is saved
//!   after every page so that an interrupted sync resumes where it stopped
//!   ([`checkpoint::StateFile`] is the file store).
//!
//! With default features off the crate needs neither the command line's
//! dependencies nor the wasm toolchain (the `cli` feature builds the
//! `connector-harness` binary with the CircleCI connector built in).
//!
//! # Embedding
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use host_harness::checkpoint::{CheckpointStore, Checkpointer, SyncState};
//! use host_harness::credential::Credential;
//! use host_harness::sync::{Quiet, RecordSink, SyncOptions};
//! use host_harness::{AllowList, HarnessError, HostConfig, Loader, OutboundPolicy, TenantSpec};
//!
//! /// The platform's state store (a database row per connection, say).
//! #[derive(Default)]
//! struct Row(Option<Vec<u8>>);
//!
//! impl CheckpointStore for Row {
//!     fn load(&mut self) -> Result<SyncState, HarnessError> {
//!         match &self.0 {
//!             Some(json) => SyncState::from_json(json),
//!             None => Ok(SyncState::default()),
//!         }
//!     }
//!     fn save(&mut self, state: &SyncState, _changed: &[String]) -> Result<(), HarnessError> {
//!         self.0 = Some(state.to_json()?); // the row's update, committed here
//!         Ok(())
//!     }
//! }
//!
//! /// The platform's sink (a queue, a table).
//! struct Print;
//!
//! impl RecordSink for Print {
//!     fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
//!         Ok(())
//!     }
//!     fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
//!         records.iter().for_each(|r| println!("{r}"));
//!         Ok(())
//!     }
//!     fn commit(&mut self) -> std::io::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! # async fn embed() -> Result<(), HarnessError> {
//! let loader = Loader::new(HostConfig::default())?;
//! let connector = loader.load_file("circleci_connector.component.wasm".as_ref())?;
//! let mut tenant = connector
//!     .tenant(TenantSpec {
//!         id: "acme".into(),
//!         credential: Credential::from_pairs([("api_key", "CCIPAT_…")]),
//!         policy: Arc::new(OutboundPolicy {
//!             allow: AllowList::parse(&["circleci.com".to_string()]).unwrap(),
//!             ..OutboundPolicy::default()
//!         }),
//!         limits: None,
//!         concurrency: Some(8),
//!     })
//!     .await?;
//! let account = tenant.validate().await?;
//! println!("connected as {}", account.name);
//! let mut checkpoints = Checkpointer::open(Row::default())?;
//! let outcomes = tenant
//!     .sync_streams(
//!         &["pipelines".into(), "jobs".into()],
//!         r#"{"project_slugs": ["gh/acme/api"]}"#,
//!         &mut checkpoints,
//!         &mut |_stream| Box::new(Print),
//!         &SyncOptions::default(),
//!         &mut Quiet,
//!     )
//!     .await?;
//! for (stream, outcome) in outcomes {
//!     match outcome {
//!         Ok(report) => println!("{stream}: {} records", report.records),
//!         Err(e) => println!("{stream}: {e}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` is the same as a program, run against the CircleCI
//! simulator.

pub mod bindings;
pub mod cache;
pub mod catalog;
pub mod checkpoint;
pub mod credential;
pub mod error;
pub mod limits;
pub mod logging;
pub mod pace;
pub mod policy;
pub mod retry;
pub mod sync;

mod connector;
mod dedupe;
mod loader;
mod net;
mod notices;
mod outbound;
mod tenant;
mod wasm_clock;

#[cfg(test)]
mod tests;

pub use connector::{Connector, ConnectorInstance, HostState};
pub use error::HarnessError;
pub use limits::{LimitExceeded, LimitKind, Limits};
pub use loader::{HostConfig, Loader, Pooling};
pub use net::{AddressClass, IpNetwork, Resolver};
pub use outbound::OutboundLog;
pub use policy::{AllowList, KeepAlive, OutboundPolicy, Timeouts};
pub use retry::RetryPolicy;
pub use tenant::{StreamOutcomes, Tenant, TenantSpec};
