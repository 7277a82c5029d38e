//! The credential form: its fields, the secret marking, and that its JSON
//! Schema is a real 2020-12 schema that accepts and refuses what it should.

use host_harness::bindings::FieldKind;
use host_harness::{ConnectorInstance, OutboundPolicy};
use serde_json::{Value, json};

use crate::common::connector;

async fn instance() -> ConnectorInstance {
    connector()
        .instantiate(std::sync::Arc::new(OutboundPolicy::default()))
        .await
        .unwrap()
}

#[tokio::test]
async fn fields_describe_the_circleci_form() {
    let schema = instance().await.credential_schema().await.unwrap();
    let keys: Vec<&str> = schema.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["api_key", "base_url"]);

    let key = &schema.fields[0];
    assert_eq!(key.label, "API Key");
    assert!(matches!(key.kind, FieldKind::Secret));
    assert!(key.required);
    assert_eq!(key.default_value, None);
    assert!(
        key.description.contains("Circle-Token"),
        "{}",
        key.description
    );
    assert!(
        key.description
            .to_lowercase()
            .contains("personal api token"),
        "{}",
        key.description
    );

    let url = &schema.fields[1];
    assert!(matches!(url.kind, FieldKind::Url));
    assert!(!url.required);
    assert_eq!(url.default_value.as_deref(), Some("https://circleci.com"));
    assert!(url.description.contains("Server"), "{}", url.description);
}

#[tokio::test]
async fn json_schema_marks_the_key_secret_and_validates() {
    let schema = instance().await.credential_schema().await.unwrap();
    let doc: Value = serde_json::from_str(&schema.json_schema).expect("the JSON Schema is JSON");
    assert_eq!(
        doc["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(doc["type"], "object");
    assert_eq!(doc["required"], json!(["api_key"]));
    let key = &doc["properties"]["api_key"];
    assert_eq!(key["writeOnly"], true);
    assert_eq!(key["x-secret"], true);
    assert_eq!(
        doc["properties"]["base_url"]["default"],
        "https://circleci.com"
    );

    let validator = jsonschema::draft202012::new(&doc).expect("a valid 2020-12 schema");
    assert!(validator.is_valid(&json!({"api_key": "CCIPAT_abc"})));
    assert!(
        validator.is_valid(&json!({"api_key": "CCIPAT_abc", "base_url": "https://ci.example.com"}))
    );
    assert!(!validator.is_valid(&json!({})), "the key is required");
    assert!(
        !validator.is_valid(&json!({"api_key": "CCIPAT_abc", "token": "x"})),
        "no unknown fields"
    );
    assert!(!validator.is_valid(&json!({"api_key": 42})));
}
