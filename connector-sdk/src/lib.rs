//! What any source connector for the `ingest:connector@0.3.0` contract
//! needs besides the knowledge of its own upstream.
//!
//! - [`engine`]: the traversal engine. A connector describes its tree of
//!   parent → child listings ([`engine::Tree`]), how they page
//!   ([`engine::Paging`]), where a walk starts ([`engine::Roots`]: given,
//!   or found by its own discovery hook) and what a chain's items keep
//!   ([`engine::Item`]); the engine reads it one bounded piece per call,
//!   requests in flight together, and owns the walk's state and each
//!   incremental stream's cursor (stale page tokens, skipped items read
//!   again, marks).
//! - [`json`]: an upstream's JSON answers as records of raw text (never
//!   re-serialised), with their top-level fields split in one scan.
//! - [`model`] and [`error`]: the contract's data types and typed errors in
//!   plain Rust, so a connector's logic and tests never touch the bindings.
//! - [`source::Source`]: the contract's functions as a trait, and
//!   [`export!`], which makes a type implementing it the component's export.
//! - [`http::HttpClient`]: the one door to the network (GET with exact
//!   headers, batches in flight together, bounded bodies). The component
//!   uses `wasm::WasiHttp` (wasm32 only); native tests plug in a fake.
//! - [`upstream`]: HTTP answers and transport failures as typed errors,
//!   with the vendor's wording as a hook ([`upstream::Vendor`]).
//! - [`state`]: the versioned state envelope (`"v"`, the settings'
//!   fingerprint `"fp"`, strict decoding).
//! - [`url`] and [`time`]: a small URL parser and percent-encoder, and
//!   clock-free date parsing (RFC 3339, HTTP-date).
//!
//! Everything but `wasm` and what [`export!`] expands to is plain Rust,
//! compiled and tested natively (`cargo test -p connector-sdk`).
//!
//! ```ignore
//! struct Acme;
//!
//! impl connector_sdk::Source for Acme {
//!     /* credential_schema, validate, settings_schema, streams, fetch */
//! }
//!
//! connector_sdk::export!(Acme);
//! ```
//!
//! A `fetch` that walks a tree hands the engine its session and its tree
//! (the example connector in `examples/jsonplaceholder-connector` is a
//! whole one):
//!
//! ```ignore
//! let walk = engine::Walk {
//!     tree: &AcmeTree,                 // impl engine::Tree
//!     settings: &settings,             // what the tree's handlers read
//!     roots: &engine::Given(vec![account_root]),
//!     slots: &slots,                   // each asked stream's slot in the tree
//!     fp: settings.fingerprint(),
//!     covers: "the settings that shape a sync",
//!     lookback: 0,
//!     budget: engine::Budget::default(),
//! };
//! engine::fetch(&mut session, &walk, request)   // session: impl engine::Upstream
//! ```

#![deny(missing_docs)]

// So that the bindings' generated paths (`connector_sdk::wasm::bindings`)
// resolve inside this crate too.
extern crate self as connector_sdk;

pub mod engine;
pub mod error;
pub mod http;
pub mod json;
pub mod model;
pub mod source;
pub mod state;
pub mod time;
pub mod upstream;
pub mod url;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{ConnectorError, RetryHint};
pub use http::{HttpClient, HttpResponse, TransportError};
pub use source::Source;

/// Makes `$source`, a type implementing [`Source`], the component's
/// `ingest:connector/source` export: the generated trait implemented by
/// calling `$source`'s functions with `wasm::WasiHttp`, the WIT types
/// converted on the way in and out. Invoke it once, in the connector's
/// crate (the exported symbols must be defined in the crate that is linked
/// into the component); it expands to nothing outside wasm32.
#[macro_export]
macro_rules! export {
    ($source:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::wasm::wit;

            struct Export;

            impl $crate::wasm::bindings::exports::ingest::connector::source::Guest for Export {
                fn credential_schema() -> wit::CredentialSpec {
                    $crate::wasm::credential_schema::<$source>()
                }

                fn validate(
                    credential: wit::Credential,
                ) -> ::core::result::Result<wit::Account, wit::ConnectorError> {
                    $crate::wasm::validate::<$source>(credential)
                }

                fn settings_schema() -> ::std::string::String {
                    $crate::wasm::settings_schema::<$source>()
                }

                fn streams() -> ::std::vec::Vec<wit::StreamSpec> {
                    $crate::wasm::streams::<$source>()
                }

                fn fetch(
                    credential: wit::Credential,
                    request: wit::FetchRequest,
                ) -> ::core::result::Result<wit::Page, wit::ConnectorError> {
                    $crate::wasm::fetch::<$source>(credential, request)
                }
            }

    $crate::wasm::bindings::export!(Export with_types_in $crate::wasm::bindings);
        };
    };
}
