//! The credential, the requests, and how this API's failures are worded;
//! sending, bounds and error mapping are the SDK's.

use connector_sdk::http::{Get, HttpClient};
use connector_sdk::upstream::{Vendor, check_complete, transport_error};
use connector_sdk::url::{Url, percent_encode};
use connector_sdk::{ConnectorError, model::Account};
use serde::Deserialize;
use serde_json::value::RawValue;

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

/// One request: a path under the base URL (already escaped), its query,
/// and what it reads (for messages).
pub struct Call {
    /// E.g. `/users/7/posts`.
    pub path: String,
    /// Query pairs, percent-encoded when sent.
    pub query: Vec<(&'static str, String)>,
    /// E.g. "the posts of user 7".
    pub what: String,
}

/// A session: one credential, one client.
pub struct Api<'a> {
    client: &'a mut dyn HttpClient,
    cred: &'a Credential,
}

impl<'a> Api<'a> {
    /// A session of `cred` over `client`.
    pub fn new(client: &'a mut dyn HttpClient, cred: &'a Credential) -> Self {
        Api { client, cred }
    }

    /// Sends every call at once and returns each 2xx body, or the error of
    /// its answer, in order.
    pub fn get_all(&mut self, calls: &[Call]) -> Vec<Result<Vec<u8>, ConnectorError>> {
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
                let resp = answer.map_err(|e| transport_error(e, &call.what, authority))?;
                VENDOR.check_status(&resp, &call.what)?;
                check_complete(&resp, &call.what, authority)?;
                Ok(resp.body)
            })
            .collect()
    }

    /// Sends one call.
    pub fn get(&mut self, call: Call) -> Result<Vec<u8>, ConnectorError> {
        self.get_all(std::slice::from_ref(&call))
            .pop()
            .expect("one answer per call")
    }

    /// Validates the credential by reading the first user: the account is
    /// the API's origin (this API has no notion of "me").
    pub fn account(&mut self) -> Result<Account, ConnectorError> {
        let body = self.get(users_page(1, 1))?;
        let users = items(&body, "the first user")?;
        Ok(Account {
            id: self.cred.authority.clone(),
            name: format!("JSONPlaceholder at {}", self.cred.authority),
            details: format!(r#"{{"users_visible":{}}}"#, !users.is_empty()),
        })
    }
}

/// Page `page` of the users, `size` per page.
pub fn users_page(page: u32, size: u32) -> Call {
    Call {
        path: "/users".into(),
        query: vec![("_page", page.to_string()), ("_limit", size.to_string())],
        what: format!("page {page} of the users"),
    }
}

/// The posts of user `id`.
pub fn posts_of(id: u64) -> Call {
    Call {
        path: format!("/users/{id}/posts"),
        query: Vec::new(),
        what: format!("the posts of user {id}"),
    }
}

/// One item of a listing: its record text and its `id`.
pub struct Item {
    /// The object as the API sent it (re-written compactly only if it
    /// spans lines, so a record is always one line).
    pub record: String,
    /// Its `id`.
    pub id: u64,
}

/// A listing's body: a JSON array of objects that each have an unsigned
/// integer `id`; anything else is `bad-response`, never an empty page.
pub fn items(body: &[u8], what: &str) -> Result<Vec<Item>, ConnectorError> {
    let bad = |why: String| ConnectorError::BadResponse(format!("{what}: {why}"));
    let text = std::str::from_utf8(body).map_err(|_| bad("the answer is not UTF-8".into()))?;
    let raw: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|e| bad(format!("the answer is not a JSON array ({e})")))?;
    #[derive(Deserialize)]
    struct Id {
        id: u64,
    }
    raw.into_iter()
        .map(|item| {
            let text = item.get();
            if !text.starts_with('{') {
                return Err(bad("an item is not a JSON object".into()));
            }
            let Id { id } = serde_json::from_str(text)
                .map_err(|_| bad("an item has no unsigned integer `id`".into()))?;
            let record = if text.contains(['\n', '\r']) {
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
                value.to_string()
            } else {
                text.to_string()
            };
            Ok(Item { record, id })
        })
        .collect()
}
