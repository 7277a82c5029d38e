//! `leaky`: puts the credential's api_key everywhere the guest can write
//! text the host may print or store:
//! - `validate` fails with `invalid-credential("key <api_key> rejected")`;
//! - `fetch` with no state returns a page whose notice is
//!   `"using api_key <api_key>"`, whose skipped item is
//!   `"item of api_key <api_key>: gone"`, whose one record is
//!   `{"i":0,"token":"<api_key>"}`, whose state is
//!   `{"token":"<api_key>"}`, with `has-more` true;
//! - `fetch` with any state (the host calls again) fails with
//!   `bad-response("the upstream rejected key <api_key>")`;
//! - `fetch` with settings `{"panic": true}` panics with
//!   `"leaking api_key <api_key>"` (on wasm32-unknown-unknown the message
//!   goes nowhere: std has no stderr there, the host sees a bare trap).
//!
//! Exercises the host's redaction of secrets: the api_key (a `secret`
//! field) must not appear in anything the host logs, prints, reports or
//! stores in clear, whichever way the guest hands it over.

use crate::common::HttpClient;
use crate::common::{
    ConnectorError, Credential, FetchRequest, Page, field, setting_bool, settings,
};
use serde_json::json;

/// The behaviour's name.
pub const NAME: &str = "leaky";

/// The api_key in the error message.
pub fn validate(
    _client: &mut dyn HttpClient,
    credential: Credential,
) -> Result<crate::common::Account, ConnectorError> {
    let token = field(&credential, "api_key").unwrap_or("");
    Err(ConnectorError::InvalidCredential(format!(
        "key {token} rejected"
    )))
}

/// The api_key in a notice, a record and the state; then in an error; or
/// in a panic.
pub fn fetch(
    _client: &mut dyn HttpClient,
    credential: Credential,
    request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let token = field(&credential, "api_key").unwrap_or("");
    if setting_bool(&settings(&request)?, "panic")? {
        panic!("leaking api_key {token}");
    }
    if request.state.is_some() {
        return Err(ConnectorError::BadResponse(format!(
            "the upstream rejected key {token}"
        )));
    }
    Ok(Page {
        records: crate::common::of_first(vec![json!({ "i": 0, "token": token }).to_string()]),
        state: Some(json!({ "token": token }).to_string()),
        has_more: true,
        cursors: Vec::new(),
        notices: vec![format!("using api_key {token}")],
        skipped: vec![format!("item of api_key {token}: gone")],
    })
}
