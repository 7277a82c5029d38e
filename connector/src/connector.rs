//! The four contract functions in plain Rust: what tests and benchmarks
//! call directly with their own HTTP client, and, through [`CircleCi`]'s
//! [`Source`], what the component exports.

use crate::api::Api;
use crate::credential::{self, Credential};
use crate::error::ConnectorError;
use crate::http::HttpClient;
use crate::model::{Account, CredentialSpec, FetchRequest, Page, StreamSpec};
use crate::settings::Settings;
use crate::streams as catalog;
use connector_sdk::Source;

/// The CircleCI connector, as the SDK's [`Source`] (see `crate::lib`'s
/// `export!`).
pub struct CircleCi;

impl Source for CircleCi {
    fn credential_schema() -> CredentialSpec {
        credential_schema()
    }

    fn validate(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
    ) -> Result<Account, ConnectorError> {
        validate(client, credential)
    }

    fn settings_schema() -> String {
        crate::settings::json_schema()
    }

    fn streams() -> Vec<StreamSpec> {
        streams()
    }

    fn fetch(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
        request: &FetchRequest,
    ) -> Result<Page, ConnectorError> {
        fetch(client, credential, request)
    }
}

/// The credential form. Makes no request.
pub fn credential_schema() -> CredentialSpec {
    credential::schema()
}

/// Checks the credential, then asks CircleCI whose it is (`GET /me`).
pub fn validate(
    client: &mut dyn HttpClient,
    credential: &[(String, String)],
) -> Result<Account, ConnectorError> {
    let cred = Credential::parse(credential)?;
    let mut api = Api::new(client, &cred);
    catalog::me::account(&mut api).map_err(|e| e.redact(cred.api_key()))
}

/// The stream catalog. Makes no request.
pub fn streams() -> Vec<StreamSpec> {
    catalog::CATALOG.iter().map(|s| s.spec()).collect()
}

/// One bounded step of the request's streams. Checks, in order and before
/// any request: the credential, the streams, the settings, the cursors and
/// the state.
pub fn fetch(
    client: &mut dyn HttpClient,
    credential: &[(String, String)],
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let cred = Credential::parse(credential)?;
    let defs = catalog::resolve(request)?;
    let settings = Settings::parse(&request.settings)?;
    let mut api = Api::new(client, &cred);
    let key = cred.api_key();
    let mut page =
        catalog::fetch(&mut api, &settings, &defs, request).map_err(|e| e.redact(key))?;
    // Notices may quote upstream messages; same last line of defence as errors.
    for text in page.notices.iter_mut().chain(&mut page.skipped) {
        if text.contains(key) {
            *text = text.replace(key, "[redacted]");
        }
    }
    Ok(page)
}
