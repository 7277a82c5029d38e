//! The credential form (schema) and its validation.
//!
//! Validation runs before any request, in both `validate` and `fetch`, and
//! its messages never quote the API key (nor the base URL, which could hold
//! a password in `user:pass@`).

use crate::error::ConnectorError;
use crate::model::{CredentialField, CredentialSpec, FieldKind};
use crate::url::{Url, UrlError};

pub const API_KEY: &str = "api_key";
pub const BASE_URL: &str = "base_url";
pub const DEFAULT_BASE_URL: &str = "https://circleci.com";
/// Far above any real token (CircleCI's are under 100 characters); stops a
/// pasted document from becoming a header.
const API_KEY_MAX: usize = 1024;

const API_KEY_DESCRIPTION: &str = "A CircleCI personal API token. Create one in the CircleCI web app under \
User Settings → Personal API Tokens. It is sent in the Circle-Token header of every request. \
Project API tokens do not work with API v2.";
const BASE_URL_DESCRIPTION: &str = "For self-hosted CircleCI Server, your server's URL \
(e.g. https://circleci.example.com). Leave empty for CircleCI cloud (https://circleci.com).";

/// The same form as JSON Schema 2020-12. A literal rather than built with
/// `serde_json::json!`, which costs several KiB of code in the component;
/// a test checks it agrees with the fields.
const JSON_SCHEMA: &str = r#"{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CircleCI credential",
    "type": "object",
    "required": ["api_key"],
    "additionalProperties": false,
    "properties": {
        "api_key": {
            "type": "string",
            "title": "API Key",
            "description": "A CircleCI personal API token. Create one in the CircleCI web app under User Settings → Personal API Tokens. It is sent in the Circle-Token header of every request. Project API tokens do not work with API v2.",
            "minLength": 1,
            "maxLength": 1024,
            "pattern": "^[!-~]+$",
            "writeOnly": true,
            "x-secret": true
        },
        "base_url": {
            "type": "string",
            "title": "API base URL",
            "description": "For self-hosted CircleCI Server, your server's URL (e.g. https://circleci.example.com). Leave empty for CircleCI cloud (https://circleci.com).",
            "format": "uri",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "default": "https://circleci.com"
        }
    }
}"#;

/// The credential form: `api_key` (secret) and `base_url` (optional URL).
pub fn schema() -> CredentialSpec {
    CredentialSpec {
        fields: vec![
            CredentialField {
                key: API_KEY.into(),
                label: "API Key".into(),
                description: API_KEY_DESCRIPTION.into(),
                kind: FieldKind::Secret,
                required: true,
                default_value: None,
            },
            CredentialField {
                key: BASE_URL.into(),
                label: "API base URL".into(),
                description: BASE_URL_DESCRIPTION.into(),
                kind: FieldKind::Url,
                required: false,
                default_value: Some(DEFAULT_BASE_URL.into()),
            },
        ],
        json_schema: crate::json::minify(JSON_SCHEMA),
    }
}

/// A validated credential.
pub struct Credential {
    api_key: String,
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    base_url: String,
    /// `host[:port]`, for messages.
    authority: String,
}

// Hand-written so that `{:?}` can never print the key.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("api_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .finish()
    }
}

fn invalid(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidCredential(msg.into())
}

impl Credential {
    /// Checks the (key, value) pairs as entered.
    pub fn parse(pairs: &[(String, String)]) -> Result<Credential, ConnectorError> {
        let mut api_key = None;
        let mut base_url = None;
        for (key, value) in pairs {
            let slot = match key.as_str() {
                API_KEY => &mut api_key,
                BASE_URL => &mut base_url,
                other => {
                    // Name the unknown key only when it looks like a field
                    // name; a long opaque string might be a misplaced token.
                    let shown = other.len() <= 32
                        && other
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    let what = if shown {
                        format!(" `{other}`")
                    } else {
                        String::new()
                    };
                    return Err(invalid(format!(
                        "unknown credential field{what}; the valid fields are {API_KEY} and {BASE_URL}"
                    )));
                }
            };
            if slot.replace(value.as_str()).is_some() {
                return Err(invalid(format!(
                    "credential field `{key}` is given more than once"
                )));
            }
        }
        let api_key = check_api_key(api_key)?;
        let url = match base_url.map(str::trim) {
            // Forms send optional fields as empty strings.
            None | Some("") => Url::parse(DEFAULT_BASE_URL).expect("default base URL parses"),
            Some(raw) => Url::parse(raw).map_err(base_url_error)?,
        };
        if url.query.is_some() {
            return Err(invalid("base_url must not contain a query (`?…`)"));
        }
        let base_url = format!("{}{}", url.origin(), url.path.trim_end_matches('/'));
        Ok(Credential {
            api_key: api_key.to_string(),
            base_url,
            authority: url.authority(),
        })
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }
}

fn check_api_key(value: Option<&str>) -> Result<&str, ConnectorError> {
    const WHERE: &str = "create a personal API token in the CircleCI web app under User Settings → Personal API Tokens";
    let key = match value {
        None => return Err(invalid(format!("{API_KEY} is required: {WHERE}"))),
        Some(k) if k.trim().is_empty() => {
            return Err(invalid(format!("{API_KEY} is empty: {WHERE}")));
        }
        Some(k) => k,
    };
    if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        // Checked before sending because the value becomes a header: a line
        // break here would let the credential inject headers.
        return Err(invalid(format!(
            "{API_KEY} contains spaces, line breaks or other characters that cannot be sent in the \
             Circle-Token header (only visible ASCII is allowed); paste the token exactly as CircleCI shows it"
        )));
    }
    if key.len() > API_KEY_MAX {
        return Err(invalid(format!(
            "{API_KEY} is longer than {API_KEY_MAX} characters; it is not a CircleCI token"
        )));
    }
    Ok(key)
}

fn base_url_error(e: UrlError) -> ConnectorError {
    let why = match e {
        UrlError::NotAbsolute => "must be an absolute http(s) URL such as https://circleci.com",
        UrlError::UnsupportedScheme => "must start with http:// or https://",
        UrlError::UserInfo => {
            "must not contain a user name or password (`user:pass@`); the API key is sent in the Circle-Token header"
        }
        UrlError::NoHost => "has no host name",
        UrlError::BadHost => {
            "has an invalid host name (use the ASCII form of the name; write IPv6 addresses in brackets, e.g. http://[::1]:8080)"
        }
        UrlError::BadPort => "has an invalid port (it must be a number from 1 to 65535)",
        UrlError::Fragment => "must not contain a fragment (`#…`)",
        UrlError::InvalidChar => "contains spaces, control characters or non-ASCII characters",
    };
    invalid(format!("{BASE_URL} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "CCIPAT_S3cr3tT0k3n_0123456789abcdef";

    fn cred(pairs: &[(&str, &str)]) -> Result<Credential, ConnectorError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Credential::parse(&pairs)
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match cred(pairs) {
            Err(ConnectorError::InvalidCredential(m)) => {
                assert!(!m.contains(KEY), "message leaks the key: {m}");
                m
            }
            other => panic!("expected invalid-credential, got {other:?}"),
        }
    }

    #[test]
    fn accepts_key_and_defaults_base_url() {
        let c = cred(&[("api_key", KEY)]).unwrap();
        assert_eq!(c.api_key(), KEY);
        assert_eq!(c.base_url(), "https://circleci.com");
        assert_eq!(c.authority(), "circleci.com");
        let c = cred(&[("api_key", KEY), ("base_url", "  ")]).unwrap();
        assert_eq!(c.base_url(), "https://circleci.com");
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[test]
    fn normalises_base_url() {
        for (input, want) in [
            ("https://circleci.com/", "https://circleci.com"),
            (
                "HTTPS://CI.Example.com:8443//",
                "https://ci.example.com:8443",
            ),
            (
                "https://ci.example.com/circleci/",
                "https://ci.example.com/circleci",
            ),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ] {
            assert_eq!(
                cred(&[("api_key", KEY), ("base_url", input)])
                    .unwrap()
                    .base_url(),
                want
            );
        }
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(err(&[]).starts_with("api_key is required"));
        assert!(err(&[("base_url", "https://circleci.com")]).starts_with("api_key is required"));
        assert!(err(&[("api_key", "")]).starts_with("api_key is empty"));
        assert!(err(&[("api_key", "   ")]).starts_with("api_key is empty"));
        for bad in [
            format!("{KEY}\r\nX-Evil: 1"),
            format!("{KEY}\n"),
            format!(" {KEY}"),
            format!("{KEY} x"),
            format!("{KEY}\t"),
            format!("{KEY}\u{7f}"),
            format!("{KEY}é"),
        ] {
            assert!(
                err(&[("api_key", &bad)]).contains("cannot be sent in the Circle-Token header"),
                "{bad:?}"
            );
        }
        assert!(err(&[("api_key", &"a".repeat(1025))]).contains("longer than 1024"));
    }

    #[test]
    fn rejects_bad_base_urls() {
        for (url, fragment) in [
            ("circleci.com", "absolute http(s) URL"),
            ("ftp://circleci.com", "http:// or https://"),
            ("https://user:hunter2@circleci.com", "user name or password"),
            ("https://?x", "no host"),
            ("https://ci.example.com/?a=b", "query"),
            ("https://ci.example.com?", "query"),
            ("https://ci.example.com/#x", "fragment"),
            ("https://ci example.com", "spaces"),
            ("https://ci_!.com", "invalid host"),
            ("https://ci.example.com:99999", "invalid port"),
        ] {
            let m = err(&[("api_key", KEY), ("base_url", url)]);
            assert!(m.starts_with("base_url "), "{m}");
            assert!(m.contains(fragment), "{url}: {m}");
            assert!(!m.contains("hunter2"), "{m}");
        }
    }

    #[test]
    fn rejects_unknown_and_duplicate_fields() {
        let m = err(&[("api_key", KEY), ("token", "x")]);
        assert_eq!(
            m,
            "unknown credential field `token`; the valid fields are api_key and base_url"
        );
        // A long opaque key name might itself be a token: it is not quoted.
        let m = err(&[(KEY, "x")]);
        assert_eq!(
            m,
            "unknown credential field; the valid fields are api_key and base_url"
        );
        let m = err(&[("api_key", KEY), ("api_key", KEY)]);
        assert_eq!(m, "credential field `api_key` is given more than once");
    }

    #[test]
    fn schema_is_json_schema_2020_12() {
        let s = schema();
        assert_eq!(s.fields.len(), 2);
        assert_eq!(s.fields[0].kind, FieldKind::Secret);
        assert!(s.fields[0].required);
        assert!(
            s.fields[0]
                .description
                .contains("User Settings → Personal API Tokens")
        );
        assert!(s.fields[0].description.contains("Circle-Token"));
        assert_eq!(s.fields[1].kind, FieldKind::Url);
        assert_eq!(s.fields[1].default_value.as_deref(), Some(DEFAULT_BASE_URL));
        let v: serde_json::Value = serde_json::from_str(&s.json_schema).unwrap();
        assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(v["required"], serde_json::json!(["api_key"]));
        assert_eq!(v["additionalProperties"], false);
        assert_eq!(v["properties"]["api_key"]["writeOnly"], true);
        assert_eq!(v["properties"]["api_key"]["x-secret"], true);
        assert_eq!(v["properties"]["base_url"]["format"], "uri");
        assert_eq!(v["properties"]["base_url"]["default"], DEFAULT_BASE_URL);
        assert_eq!(v["properties"]["api_key"]["maxLength"], API_KEY_MAX);
        for f in &s.fields {
            assert_eq!(
                v["properties"][&f.key]["description"],
                f.description.as_str()
            );
            assert_eq!(v["properties"][&f.key]["title"], f.label.as_str());
        }
        assert_eq!(v["properties"].as_object().unwrap().len(), s.fields.len());
    }
}
