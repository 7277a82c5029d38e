//! Sends CircleCI API v2 requests: builds the URL and headers, and maps
//! transport failures and non-2xx answers to typed errors.

use crate::credential::Credential;
use crate::error::ConnectorError;
use crate::http::{Get, HttpClient};
use crate::time::{NANOS, Ts};
use crate::upstream::{check_complete, check_status, transport_error};
use crate::url::percent_encode;
use connector_sdk::engine::Upstream;
pub use connector_sdk::engine::{Answer, Call};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = "ingest-connector-circleci/0.1.0";

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
        self.get_all(&[Call { path, query, what }])
            .pop()
            .expect("one answer per call")
    }

    /// Sends every call of `batch` at once (see [`HttpClient::get_all`])
    /// and returns each answer as [`Api::get_dated`] would, in order.
    pub fn get_all(&mut self, batch: &[Call<'_>]) -> Vec<Answer> {
        let urls: Vec<String> = batch.iter().map(|c| self.url(c.path, c.query)).collect();
        let headers = [
            ("Circle-Token", self.credential.api_key()),
            ("Accept", "application/json"),
            ("User-Agent", USER_AGENT),
        ];
        let gets: Vec<Get<'_>> = urls
            .iter()
            .map(|url| Get {
                url,
                headers: &headers,
            })
            .collect();
        let authority = self.credential.authority();
        self.client
            .get_all(&gets)
            .into_iter()
            .zip(batch)
            .map(|(resp, call)| {
                let resp = resp.map_err(|e| transport_error(e, call.what, authority))?;
                check_status(&resp, call.what)?;
                check_complete(&resp, call.what, authority)?;
                let date = resp
                    .header("date")
                    .and_then(crate::time::parse_http_date)
                    .and_then(|secs| secs.checked_mul(NANOS));
                Ok((resp.body, date))
            })
            .collect()
    }
}

/// The traversal engine sends its requests through the session: paths are
/// under `{base_url}/api/v2`.
impl Upstream for Api<'_> {
    fn get_all(&mut self, batch: &[Call<'_>]) -> Vec<Answer> {
        Api::get_all(self, batch)
    }
}
