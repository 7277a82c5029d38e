//! An example source connector built on `connector-sdk`, for an API shaped
//! like JSONPlaceholder: a paged list of users (`GET /users?_page=N&_limit=L`,
//! a JSON array) and each user's posts (`GET /users/{id}/posts`, a JSON
//! array), behind a bearer token.
//!
//! It exists to show what a connector has to write itself once the SDK
//! provides the rest: its credential form and catalog ([`catalog`]), its
//! session and the wording of its failures ([`api`]), and its tree of
//! listings and how they page ([`walk`]), which the SDK's traversal engine
//! (`connector_sdk::engine`) walks and keeps the state of. Two streams:
//! `users` and `posts` (whose parent is `users`), read in one walk when
//! asked together, one page of users and their posts per call.

pub mod api;
pub mod catalog;
pub mod walk;

use connector_sdk::model::{Account, CredentialSpec, FetchRequest, Page, StreamSpec};
use connector_sdk::{ConnectorError, HttpClient, Source};

/// The connector, as the SDK's [`Source`].
pub struct JsonPlaceholder;

impl Source for JsonPlaceholder {
    fn credential_schema() -> CredentialSpec {
        catalog::credential_spec()
    }

    fn validate(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
    ) -> Result<Account, ConnectorError> {
        let cred = api::Credential::parse(credential)?;
        api::Api::new(client, &cred)
            .account()
            .map_err(|e| e.redact(&cred.api_key))
    }

    fn settings_schema() -> String {
        catalog::settings_schema()
    }

    fn streams() -> Vec<StreamSpec> {
        catalog::streams()
    }

    fn fetch(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
        request: &FetchRequest,
    ) -> Result<Page, ConnectorError> {
        let cred = api::Credential::parse(credential)?;
        let plan = walk::Plan::new(request)?;
        let mut api = api::Api::new(client, &cred);
        walk::step(&mut api, &plan, request).map_err(|e| e.redact(&cred.api_key))
    }
}

connector_sdk::export!(JsonPlaceholder);

#[cfg(test)]
mod tests;
