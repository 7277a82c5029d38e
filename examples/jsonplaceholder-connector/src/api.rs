//! The credential, the session, and how this API's failures are worded;
//! sending, bounds and error mapping are the SDK's.

use connector_sdk::engine::{Answer, Call, Upstream};
use connector_sdk::http::{Get, HttpClient};
use connector_sdk::json;
use connector_sdk::upstream::{Vendor, check_complete, transport_error};
use connector_sdk::url::{Url, percent_encode};
use connector_sdk::{ConnectorError, model::Account};

use crate::catalog::DEFAULT_BASE_URL;

/// How this API's failures are worded.
pub const VENDOR: Vendor = Vendor {
    name: "the JSONPlaceholder API",
    credential: "the API key",
    on_unauthorized: "Check the api_key",
    on_redirect: "check base_url",
};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = "ingest-connector-jsonplaceholder/0.1.0";

/// A parsed credential: the key and the origin requests go to.
pub struct Credential {
    /// The bearer token.
    pub api_key: String,
    /// `scheme://host[:port]` plus any path prefix, without a trailing `/`.
    pub base_url: String,
    /// `host[:port]`, for messages.
    pub authority: String,
}

impl Credential {
    /// Reads the credential's pairs: `api_key` required, `base_url` an
    /// absolute http(s) URL without query. Messages never quote the key.
    pub fn parse(pairs: &[(String, String)]) -> Result<Credential, ConnectorError> {
        let field = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let invalid = |m: &str| ConnectorError::InvalidCredential(m.to_string());
        let api_key = field("api_key").ok_or_else(|| invalid("the credential has no api_key"))?;
        if api_key.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(invalid("the api_key has characters a header cannot carry"));
        }
        let base = field("base_url").unwrap_or(DEFAULT_BASE_URL);
        let url = Url::parse(base).map_err(|e| {
            ConnectorError::InvalidCredential(format!("base_url is not an absolute URL ({e:?})"))
        })?;
        if url.query.is_some() {
            return Err(invalid("base_url must not have a query"));
        }
        Ok(Credential {
            api_key: api_key.to_string(),
            base_url: format!("{}{}", url.origin(), url.path.trim_end_matches('/')),
            authority: url.authority(),
        })
    }
}

/// A session: one credential, one client. The traversal engine sends its
/// requests through it ([`Upstream`]).
pub struct Api<'a> {
    client: &'a mut dyn HttpClient,
    cred: &'a Credential,
}

impl<'a> Api<'a> {
    /// A session of `cred` over `client`.
    pub fn new(client: &'a mut dyn HttpClient, cred: &'a Credential) -> Self {
        Api { client, cred }
    }

    /// Sends one call and returns its 2xx body.
    pub fn get(&mut self, call: Call<'_>) -> Result<Vec<u8>, ConnectorError> {
        let what = call.what;
        self.get_all(&[call])
            .pop()
            .unwrap_or_else(|| Err(ConnectorError::BadResponse(format!("no answer for {what}"))))
            .map(|(body, _)| body)
    }

    /// Validates the credential by reading the first user: the account is
    /// the API's origin (this API has no notion of "me").
    pub fn account(&mut self) -> Result<Account, ConnectorError> {
        let what = "page 1 of the users";
        let call = Call {
            path: "/users",
            query: &[("_page", "1"), ("_limit", "1")],
            what,
        };
        let body = self.get(call)?;
        let users = json::array(&body, what)?;
        Ok(Account {
            id: self.cred.authority.clone(),
            name: format!("JSONPlaceholder at {}", self.cred.authority),
            details: format!(r#"{{"users_visible":{}}}"#, !users.is_empty()),
        })
    }
}

impl Upstream for Api<'_> {
    /// Sends every call at once and returns each 2xx body, or the error of
    /// its answer, in order. The API's answers carry no time worth
    /// keeping: nothing is read incrementally.
    fn get_all(&mut self, calls: &[Call<'_>]) -> Vec<Answer> {
        let urls: Vec<String> = calls
            .iter()
            .map(|c| {
                let mut url = format!("{}{}", self.cred.base_url, c.path);
                for (i, (k, v)) in c.query.iter().enumerate() {
                    url.push(if i == 0 { '?' } else { '&' });
                    url.push_str(k);
                    url.push('=');
                    url.push_str(&percent_encode(v));
                }
                url
            })
            .collect();
        let bearer = format!("Bearer {}", self.cred.api_key);
        let headers = [
            ("Authorization", bearer.as_str()),
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
        let authority = &self.cred.authority;
        self.client
            .get_all(&gets)
            .into_iter()
            .zip(calls)
            .map(|(answer, call)| {
                let resp = answer.map_err(|e| transport_error(e, call.what, authority))?;
                VENDOR.check_status(&resp, call.what)?;
                check_complete(&resp, call.what, authority)?;
                Ok((resp.body, None))
            })
            .collect()
    }
}
