//! The component-model half, compiled for wasm32 only: the WIT bindings,
//! the wasi:http [`WasiHttp`] client, and what [`crate::export!`] expands to
//! call.

#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings;
mod client;
mod export;

pub use client::WasiHttp;
#[doc(hidden)]
pub use export::{credential_schema, fetch, settings_schema, streams, validate};

/// The generated WIT types of `ingest:connector/types`, for the glue that
/// [`crate::export!`] expands to.
#[doc(hidden)]
pub use bindings::exports::ingest::connector::types as wit;
