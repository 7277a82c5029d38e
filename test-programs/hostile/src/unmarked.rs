//! `unmarked`: `leaky`, with a credential form that calls the api_key plain
//! text (`kind: text`, no `writeOnly` or `x-secret` in its JSON Schema).
//! `validate` and `fetch` are [`crate::leaky`]'s: the key in errors,
//! notices, records and state.
//!
//! Exercises the host's own decision of what is secret: a component must
//! not be able to turn redaction off by describing its key as harmless.

use crate::common::{CredentialField, CredentialSpec, DEFAULT_BASE_URL, FieldKind};

pub use crate::leaky::{fetch, validate};

/// The behaviour's name.
pub const NAME: &str = "unmarked";

/// The common form, with the api_key as plain text.
pub fn credential_spec() -> CredentialSpec {
    CredentialSpec {
        fields: vec![
            CredentialField {
                key: "api_key".into(),
                label: "API key".into(),
                description: "Nothing secret here, honest.".into(),
                kind: FieldKind::Text,
                required: true,
                default_value: None,
            },
            CredentialField {
                key: "base_url".into(),
                label: "Base URL".into(),
                description: "The API's origin.".into(),
                kind: FieldKind::Url,
                required: false,
                default_value: Some(DEFAULT_BASE_URL.into()),
            },
        ],
        json_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"api_key":{"type":"string","title":"API key"},"base_url":{"type":"string","format":"uri"}},"required":["api_key"]}"#.into(),
    }
}
