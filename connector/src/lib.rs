//! CircleCI API v2 source connector for the `ingest:connector@0.2.0` contract.
//!
//! Everything CircleCI-specific is plain Rust that compiles and is unit-tested
//! natively: credential parsing ([`credential`]), URL handling ([`url`]),
//! project slugs ([`slug`]), settings ([`settings`]), the checkpoint format
//! ([`state`]), HTTP answer mapping ([`upstream`]), JSON handling ([`json`]),
//! the request builder ([`api`]), the traversal engine that walks every
//! fan-out with bounded work per call, discovers projects and keeps the
//! incremental cursor ([`engine`]) and the stream catalog ([`streams`]). The
//! network is reached only through the [`http::HttpClient`] trait, so tests use
//! a scripted fake and a benchmark can plug in a real client.
//!
//! Only [`wasm`] (compiled for `wasm32` alone) knows about the component
//! model: it implements `HttpClient` with wasi:http and exports the contract.

pub mod api;
pub mod connector;
pub mod credential;
pub mod engine;
pub mod error;
pub mod http;
pub mod json;
pub mod model;
pub mod settings;
pub mod slug;
pub mod state;
pub mod streams;
pub mod time;
pub mod upstream;
pub mod url;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use connector::{credential_schema, fetch, streams, validate};
pub use error::{ConnectorError, RetryHint};
pub use http::{HttpClient, HttpResponse, TransportError};
pub use model::*;

#[cfg(test)]
mod tests;
