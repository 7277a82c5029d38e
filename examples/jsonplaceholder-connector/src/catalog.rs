//! The credential form and the stream catalog.

use connector_sdk::model::{CredentialField, CredentialSpec, FieldKind, StreamSpec, SyncMode};

/// Where requests go when the credential has no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://jsonplaceholder.typicode.com";

/// The `users` stream (the root).
pub const USERS: &str = "users";
/// The `posts` stream (read through `users`).
pub const POSTS: &str = "posts";

/// A secret `api_key` (sent as a bearer token) and an optional `base_url`.
pub fn credential_spec() -> CredentialSpec {
    CredentialSpec {
        fields: vec![
            CredentialField {
                key: "api_key".into(),
                label: "API key".into(),
                description: "Sent as `Authorization: Bearer <key>` with every request.".into(),
                kind: FieldKind::Secret,
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
        json_schema: concat!(
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","#,
            r#""properties":{"api_key":{"type":"string","title":"API key","minLength":1,"#,
            r#""writeOnly":true,"x-secret":true},"base_url":{"type":"string","title":"Base URL","#,
            r#""format":"uri","default":"https://jsonplaceholder.typicode.com"}},"#,
            r#""required":["api_key"],"additionalProperties":false}"#
        )
        .into(),
    }
}

/// The one setting, `page_size` (users per page, 1 to 100, default 10);
/// unknown keys are refused.
pub fn settings_schema() -> String {
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"JSONPlaceholder settings","type":"object","additionalProperties":false,"properties":{"page_size":{"type":"integer","title":"Page size","description":"Users asked for per page.","minimum":1,"maximum":100,"default":10}}}"#.into()
}

/// `users` and `posts`, both full refresh.
pub fn streams() -> Vec<StreamSpec> {
    let spec = |name: &str, description: &str, parent: Option<&str>, schema: &str| StreamSpec {
        name: name.into(),
        description: description.into(),
        json_schema: schema.into(),
        primary_key: vec!["id".into()],
        cursor_field: None,
        parent: parent.map(str::to_string),
        sync_modes: vec![SyncMode::FullRefresh],
    };
    vec![
        spec(
            USERS,
            "Every user, as the API lists them (`GET /users`, paged).",
            None,
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id"]}"#,
        ),
        spec(
            POSTS,
            "Every post of every user (`GET /users/{id}/posts`).",
            Some(USERS),
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"id":{"type":"integer"},"userId":{"type":"integer"},"title":{"type":"string"}},"required":["id"]}"#,
        ),
    ]
}
