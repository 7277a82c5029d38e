//! The conformance suite: the real CircleCI component, built from source,
//! loaded by the real host, making real HTTP requests through wasi:http to
//! the simulator on 127.0.0.1.
//!
//! One test binary with a module per capability (the layout of wasmtime's
//! `tests/all`), so wasmtime is linked once.

mod big;
mod catalog;
mod common;
mod component;
mod faults;
mod fetch;
mod hostile;
mod incremental;
mod pace;
mod real_accounts;
mod sandbox;
mod schema;
mod tenants;
mod validate;
