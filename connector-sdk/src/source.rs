//! The contract as a Rust trait: what a connector implements, and what
//! [`crate::export!`] turns into the component's `ingest:connector/source`
//! export.
//!
//! Every function is an associated function, not a method: a connector
//! keeps nothing between calls, so everything a call needs arrives in its
//! arguments. The network is reached only through the [`HttpClient`] a call
//! is given (wasi:http in the component, a fake in native tests).

use crate::error::ConnectorError;
use crate::http::HttpClient;
use crate::model::{Account, CredentialSpec, FetchRequest, Page, StreamSpec};

/// A source connector: the functions of the contract in plain Rust.
pub trait Source {
    /// The credential form. Makes no request.
    fn credential_schema() -> CredentialSpec;

    /// Checks `credential` (its (field key, value) pairs) and asks the
    /// upstream whose it is.
    fn validate(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
    ) -> Result<Account, ConnectorError>;

    /// The settings a fetch request carries, as a JSON Schema 2020-12
    /// document of one object (what a platform renders as a form). Makes no
    /// request.
    fn settings_schema() -> String;

    /// The stream catalog. Makes no request.
    fn streams() -> Vec<StreamSpec>;

    /// One bounded step of the request's streams: a page of records, and
    /// the state to resume from while there is more.
    fn fetch(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
        request: &FetchRequest,
    ) -> Result<Page, ConnectorError>;
}
