//! Generated bindings for the connector world, version 0.2.0 (the
//! contract), or 0.1.0 with the `other-version` feature (a copy of the WIT
//! with only the version changed, in `../wit-other-version`).
//!
//! As in the connector, the wasi:http, wasi:io and wasi:clocks interfaces
//! are mapped to the `wasip2` crate's modules: one copy of those types, one
//! runtime.

#[cfg(not(feature = "other-version"))]
wit_bindgen::generate!({
    world: "ingest:connector/source-connector@0.2.0",
    path: "../../wit",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});

// The 0.1.0 package only holds the contract; its wasi dependencies come
// from the connector's WIT, loaded first.
#[cfg(feature = "other-version")]
wit_bindgen::generate!({
    world: "ingest:connector/source-connector@0.1.0",
    path: ["../../wit", "wit-other-version"],
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});

/// The contract's exported interfaces (`types`, `source`), whichever
/// version was generated. (With two versions of the package loaded,
/// wit-bindgen puts the version in the module name.)
#[cfg(not(feature = "other-version"))]
pub use self::exports::ingest::connector as contract;
#[cfg(feature = "other-version")]
pub use self::exports::ingest::connector0_1_0 as contract;
