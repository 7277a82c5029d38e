//! The component-model layer, compiled for wasm32 only: WIT bindings, the
//! wasi:http implementation of [`crate::http::HttpClient`], and the exports.

mod bindings;
mod exports;
mod http;
