//! Host-side bindings of the `ingest:connector/source-connector` world.
//!
//! Exports are called asynchronously, because every guest call may block on
//! wasi:http I/O that the host drives on tokio. The world's imports
//! (wasi:http and wasi:io) are not generated here: they map onto
//! wasmtime-wasi-http's and wasmtime-wasi-io's own bindings, which the loader
//! links with `add_only_http_to_linker_async` and wasi:io's linker function.

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

pub use exports::ingest::connector::types::{
    Account, ConnectorError, CredentialField, CredentialSpec, FetchRequest, FieldKind, Page,
    RetryHint, StreamSpec, SyncMode,
};
