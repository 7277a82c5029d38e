//! Generated bindings for the `ingest:connector/source-connector` world.
//!
//! The wasi:http, wasi:io and wasi:clocks interfaces the world pulls in are
//! mapped to the `wasip2` crate's pre-generated modules instead of being
//! generated again, so there is one copy of those types and one runtime.
//! The export macro is public: [`crate::export!`] invokes it from the
//! connector's crate, which is where the exported symbols must be defined.

wit_bindgen::generate!({
    world: "source-connector",
    path: "../wit",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
    pub_export_macro: true,
    default_bindings_module: "connector_sdk::wasm::bindings",
});
