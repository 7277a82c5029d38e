//! What every hostile component shares and nothing hostile: the credential
//! form, the stream catalog, credential and settings helpers, and the
//! well-behaved [`benign`] `validate`/`fetch` that a behaviour keeps where
//! it is not hostile.

pub use connector_sdk::http::HttpClient;
pub use connector_sdk::model::{
    Account, CredentialField, CredentialSpec, FetchRequest, FieldKind, Page, StreamRecord,
    StreamSpec, SyncMode,
};
pub use connector_sdk::{ConnectorError, RetryHint, TransportError};
use serde_json::{Map, Value};

/// A credential as entered: (field key, value) pairs.
pub type Credential = Vec<(String, String)>;

/// Where requests go when the credential has no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://circleci.com";

/// The one stream of the catalog. `fetch` accepts any stream name.
pub const STREAM: &str = "items";

/// The credential form: a secret `api_key` (required) and an optional url
/// `base_url`, like the CircleCI connector's.
pub fn credential_spec() -> CredentialSpec {
    CredentialSpec {
        fields: vec![
            CredentialField {
                key: "api_key".into(),
                label: "API key".into(),
                description: "A CircleCI personal API token, sent as the Circle-Token header."
                    .into(),
                kind: FieldKind::Secret,
                required: true,
                default_value: None,
            },
            CredentialField {
                key: "base_url".into(),
                label: "Base URL".into(),
                description: "The API's origin, for CircleCI server installations.".into(),
                kind: FieldKind::Url,
                required: false,
                default_value: Some(DEFAULT_BASE_URL.into()),
            },
        ],
        json_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"api_key":{"type":"string","title":"API key","minLength":1,"writeOnly":true,"x-secret":true},"base_url":{"type":"string","title":"Base URL","format":"uri","default":"https://circleci.com"}},"required":["api_key"],"additionalProperties":false}"#.into(),
    }
}

/// The settings: none are read, and any object is accepted.
pub fn settings_schema() -> String {
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{},"additionalProperties":true}"#.into()
}

/// The stream catalog: one full-refresh stream of `{"i": <n>, ...}`
/// records.
pub fn streams() -> Vec<StreamSpec> {
    vec![StreamSpec {
        name: STREAM.into(),
        description: "Numbered items; what else they hold depends on the behaviour.".into(),
        json_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"i":{"type":"integer"}},"required":["i"]}"#.into(),
        primary_key: vec!["i".into()],
        cursor_field: None,
        parent: None,
        sync_modes: vec![SyncMode::FullRefresh],
    }]
}

/// The value of credential field `key`, if present and not blank.
pub fn field<'a>(credential: &'a Credential, key: &str) -> Option<&'a str> {
    credential
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The credential's `api_key`, or `invalid-credential` (which names the
/// field, never a value).
pub fn api_key(credential: &Credential) -> Result<&str, ConnectorError> {
    field(credential, "api_key")
        .ok_or_else(|| ConnectorError::InvalidCredential("the credential has no api_key".into()))
}

/// The credential's `base_url` without a trailing `/`, or
/// [`DEFAULT_BASE_URL`].
pub fn base_url(credential: &Credential) -> String {
    field(credential, "base_url")
        .unwrap_or(DEFAULT_BASE_URL)
        .trim_end_matches('/')
        .to_string()
}

/// The request's settings as a JSON object (`""` counts as `{}`), or
/// `invalid-settings`.
pub fn settings(request: &FetchRequest) -> Result<Map<String, Value>, ConnectorError> {
    let text = request.settings.trim();
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConnectorError::InvalidSettings(
            "the settings are not a JSON object".into(),
        )),
        Err(e) => Err(ConnectorError::InvalidSettings(format!(
            "the settings are not JSON ({e})"
        ))),
    }
}

/// Setting `key` as an unsigned integer, `default` when absent.
pub fn setting_u64(
    settings: &Map<String, Value>,
    key: &str,
    default: u64,
) -> Result<u64, ConnectorError> {
    match settings.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_u64().ok_or_else(|| {
            ConnectorError::InvalidSettings(format!("`{key}` must be an unsigned integer"))
        }),
    }
}

/// Setting `key` as a boolean, `false` when absent.
pub fn setting_bool(settings: &Map<String, Value>, key: &str) -> Result<bool, ConnectorError> {
    match settings.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ConnectorError::InvalidSettings(format!(
            "`{key}` must be true or false"
        ))),
    }
}

/// The account every behaviour's `validate` returns when it returns one:
/// id `hostile`, name the behaviour (`spin`, `benign`, ...).
pub fn account(details: Value) -> Account {
    Account {
        id: "hostile".into(),
        name: crate::BEHAVIOUR.into(),
        details: details.to_string(),
    }
}

/// A last page (`has-more` false, no state, no cursor, no notices) of
/// `records`, for a request of one stream.
pub fn last_page(records: Vec<String>) -> Page {
    Page {
        records: of_first(records),
        state: None,
        has_more: false,
        cursors: vec![None],
        notices: Vec::new(),
        skipped: Vec::new(),
    }
}

/// `records` as records of the request's first stream.
pub fn of_first(records: Vec<String>) -> Vec<StreamRecord> {
    records
        .into_iter()
        .map(|data| StreamRecord { stream: 0, data })
        .collect()
}

/// `s` with every byte outside RFC 3986's unreserved set percent-encoded,
/// for a query value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The well-behaved connector: what every behaviour does where it is not
/// hostile, and the whole of the `benign` component (built with no
/// feature). Makes no request.
pub mod benign {
    use super::*;
    use serde_json::json;

    /// The behaviour's name.
    pub const NAME: &str = "benign";

    /// `invalid-credential` without an `api_key`, else
    /// [`account`]`({"behaviour": <name>})`.
    pub fn validate(
        _client: &mut dyn HttpClient,
        credential: Credential,
    ) -> Result<Account, ConnectorError> {
        api_key(&credential)?;
        Ok(account(json!({ "behaviour": crate::BEHAVIOUR })))
    }

    /// Two records, `{"i":0}` and `{"i":1}`, in a last page (whatever the
    /// stream, settings and state).
    pub fn fetch(
        _client: &mut dyn HttpClient,
        _credential: Credential,
        _request: FetchRequest,
    ) -> Result<Page, ConnectorError> {
        Ok(last_page(vec![
            json!({ "i": 0 }).to_string(),
            json!({ "i": 1 }).to_string(),
        ]))
    }
}
