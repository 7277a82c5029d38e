//! The types of the `ingest:connector` contract as the host sees them: what
//! a connector describes (its credential schema, its streams), what a
//! `fetch` call asks and returns, and its typed errors.
//!
//! They are generated from `wit/` by wasmtime's `bindgen!`. Exports are
//! called asynchronously, because every guest call may block on wasi:http
//! I/O that the host drives on tokio. The world's imports (wasi:http and
//! wasi:io) are not generated here: they map onto wasmtime-wasi-http's and
//! wasmtime-wasi-io's own bindings, which the loader links with
//! `add_only_http_to_linker_async` and wasi:io's linker function.

/// The generated bindings; the crate uses the world's glue, and re-exports
/// the contract's types below.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ingest:connector/source-connector",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi_io::bindings::wasi::io,
        },
        require_store_data_send: true,
    });
}

pub(crate) use generated::{SourceConnector, SourceConnectorPre};

pub use generated::exports::ingest::connector::types::{
    Account, ConnectorError, CredentialField, CredentialSpec, FetchRequest, FieldKind, Page,
    RetryHint, StreamRecord, StreamSpec, SyncMode,
};
