//! Sends CircleCI API v2 requests: builds the URL and headers, and maps
//! transport failures and non-2xx answers to typed errors.

use crate::credential::Credential;
use crate::error::ConnectorError;
use crate::http::{HttpClient, USER_AGENT};
use crate::time::{NANOS, Ts};
use crate::upstream::{check_complete, check_status, transport_error};
use crate::url::percent_encode;

/// A CircleCI API v2 session: one credential, one HTTP client.
pub struct Api<'a> {
    client: &'a mut dyn HttpClient,
    credential: &'a Credential,
}

impl<'a> Api<'a> {
    pub fn new(client: &'a mut dyn HttpClient, credential: &'a Credential) -> Self {
        Api { client, credential }
    }

    /// The full URL of `path` (which starts with `/`, already escaped) under
    /// `{base_url}/api/v2`, with the query values percent-encoded.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/api/v2{path}", self.credential.base_url());
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(k));
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        url
    }

    /// `GET`s `path` and returns the body of a 2xx answer. `what` names what
    /// is being read, for messages.
    pub fn get(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<u8>, ConnectorError> {
        self.get_dated(path, query, what).map(|(body, _)| body)
    }

    /// Like [`Api::get`], plus the moment the answer was sent by the
    /// upstream's clock (its `Date` header), when it says.
    pub fn get_dated(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<(Vec<u8>, Option<Ts>), ConnectorError> {
        let url = self.url(path, query);
        let headers = [
            ("Circle-Token", self.credential.api_key()),
            ("Accept", "application/json"),
            ("User-Agent", USER_AGENT),
        ];
        let resp = self
            .client
            .get(&url, &headers)
            .map_err(|e| transport_error(e, what, self.credential.authority()))?;
        check_status(&resp, what)?;
        check_complete(&resp, what, self.credential.authority())?;
        let date = resp
            .header("date")
            .and_then(crate::time::parse_http_date)
            .and_then(|secs| secs.checked_mul(NANOS));
        Ok((resp.body, date))
    }
}
