//! The reference host for `ingest:connector` source components.
//!
//! It loads a component compiled from any language, refuses it unless it
//! imports nothing beyond wasi:http and wasi:io, and drives it in a sandbox:
//! every outgoing request passes the operator's [`policy`] (allow-list,
//! private-address refusal, timeouts) before it leaves the process. The
//! [`sync`] loop checkpoints the guest's state after every page, so an
//! interrupted run resumes where it stopped. Each instance runs under its
//! own [`limits`] (memory, CPU time per call, requests, response and page
//! sizes, connections); exceeding one ends that call with a typed error.
//!
//! The host knows policy, never the upstream API: URLs, pagination and record
//! shapes are the guest's business.

pub mod bindings;
pub mod cache;
pub mod catalog;
pub mod checkpoint;
pub mod connector;
pub mod credential;
pub mod dedupe;
pub mod error;
pub mod limits;
pub mod loader;
pub mod logging;
pub mod net;
pub mod notices;
pub mod outbound;
pub mod pace;
pub mod policy;
pub mod retry;
pub mod sync;
pub mod tenant;
pub mod wasm_clock;

pub use connector::{Connector, ConnectorInstance};
pub use error::HarnessError;
pub use limits::{LimitExceeded, LimitKind, Limits};
pub use loader::{HostConfig, Loader, Pooling};
pub use net::{IpNetwork, Resolver};
pub use policy::{AllowList, KeepAlive, OutboundPolicy, Timeouts};
pub use retry::RetryPolicy;
pub use tenant::{Tenant, TenantSpec};
