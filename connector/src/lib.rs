//! CircleCI API v2 source connector for the `ingest:connector@0.3.0` contract.
//!
//! This crate holds what is CircleCI's own: credential parsing
//! ([`credential`]), project slugs ([`slug`]), settings ([`settings`]), the
//! checkpoint's items and discovery progress ([`state`]), CircleCI's wording
//! of HTTP failures ([`upstream`]), the shape of its paged lists ([`json`]),
//! the request builder ([`api`]), its walks on the SDK's traversal engine:
//! paging, roots and project discovery ([`walk`]), and the stream catalog
//! with its two trees ([`mod@streams`]).
//!
//! What any connector needs comes from `connector-sdk` and is re-exported
//! under the same module names: the contract's types ([`model`], [`error`]),
//! the HTTP client trait ([`http`]; tests use a scripted fake, a benchmark
//! a real client), URLs ([`url`]) and dates ([`time`]). The SDK also
//! provides the traversal engine (`connector_sdk::engine`: the walk with
//! bounded work per call, stale tokens, skipped items, the incremental
//! marks), the component's wasi:http client and the export glue:
//! [`CircleCi`] is exported with `connector_sdk::export!`.

pub mod api;
pub mod connector;
pub mod credential;
pub mod json;
pub mod settings;
pub mod slug;
pub mod state;
pub mod streams;
pub mod upstream;
pub mod walk;

pub use connector_sdk::{error, http, model, time, url};

pub use connector::{CircleCi, credential_schema, fetch, streams, validate};
pub use error::{ConnectorError, RetryHint};
pub use http::{HttpClient, HttpResponse, TransportError};
pub use model::*;

connector_sdk::export!(CircleCi);

#[cfg(test)]
mod tests;
