//! What the Airbyte ([`airbyte`]) and Singer ([`singer`]) adapters share:
//! their one config file split into the connector's credential and
//! settings, the connector's JSON Schemas as those platforms read them, a
//! stream's state as one JSON object ([`stream_state`]), and the writer of
//! protocol messages on stdout ([`Emitter`]).
//!
//! Both protocols give a connector one flat config object, where the
//! contract has two: a credential (which the host redacts everywhere) and
//! settings. The split is by the connector's own schemas: a key the
//! credential form has is the credential's, any other the settings'.

pub mod airbyte;
pub mod emit;
pub mod singer;
pub mod stream_state;

use std::path::Path;

use host_harness::bindings::{CredentialSpec, FieldKind, StreamSpec};
use host_harness::credential::Credential;
use serde_json::{Map, Value, json};

use crate::exit::CliError;

pub use emit::Emitter;

/// The largest config, catalog or state file read: they describe a
/// connection, not data.
pub const MAX_INPUT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads one of the protocol's JSON input files (`what`: "config",
/// "catalog", "state"). Errors name the file, never its content.
pub fn read_json(path: &Path, what: &str) -> Result<Value, CliError> {
    let fail = |why: String| CliError::Input(format!("{what} file {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_INPUT_FILE_BYTES {
        return Err(fail(format!(
            "{} bytes is more than the {MAX_INPUT_FILE_BYTES} a {what} file may have",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    // The config holds the API key: a parse error quotes no content.
    serde_json::from_slice(&bytes).map_err(|e| {
        fail(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A config split into what the connector takes.
pub struct Config {
    /// The credential fields' values.
    pub credential: Credential,
    /// Everything else the settings schema knows, as a JSON object.
    pub settings: String,
    /// Keys neither schema knows, dropped (a platform may add its own).
    pub ignored: Vec<String>,
    /// The connector's settings schema.
    pub settings_schema: Value,
}

/// Splits `config` by the connector's schemas: the credential form's keys
/// (string values) go to the credential; the settings schema's properties
/// to the settings; other keys go to the settings too when the settings
/// schema admits unknown keys, else they are dropped and named in
/// [`Config::ignored`]. A `null` value counts as absent, as forms send it.
pub fn split_config(
    config: &Value,
    credential_spec: &CredentialSpec,
    settings_schema: &Value,
) -> Result<Config, CliError> {
    let Some(object) = config.as_object() else {
        return Err(CliError::Input("the config must be a JSON object".into()));
    };
    let known: Vec<&str> = settings_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let closed = settings_schema.get("additionalProperties") == Some(&Value::Bool(false));
    let mut credential = Vec::new();
    let mut settings = Map::new();
    let mut ignored = Vec::new();
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        if credential_spec.fields.iter().any(|f| &f.key == key) {
            let Some(text) = value.as_str() else {
                return Err(CliError::Input(format!(
                    "config key {} must be a string",
                    shown_key(key)
                )));
            };
            credential.push((key.clone(), text.to_string()));
        } else if known.contains(&key.as_str()) || !closed {
            settings.insert(key.clone(), value.clone());
        } else {
            ignored.push(shown_key(key));
        }
    }
    Ok(Config {
        credential: Credential(credential),
        settings: Value::Object(settings).to_string(),
        ignored,
        settings_schema: settings_schema.clone(),
    })
}

/// A config key as printed: it is the operator's, but may hold anything.
fn shown_key(key: &str) -> String {
    host_harness::error::printable(&key.chars().take(64).collect::<String>()).into_owned()
}

/// `schema` (the contract's JSON Schema 2020-12 text) as a JSON Schema
/// draft-07 document, which Airbyte and Singer targets read: the
/// `$schema` says draft-07 at the top and nowhere else. The keywords our
/// connectors use mean the same in both drafts.
pub fn draft7(schema: &str) -> Value {
    let mut value: Value =
        serde_json::from_str(schema).unwrap_or_else(|_| json!({ "type": "object" }));
    strip_schema_keyword(&mut value);
    if let Value::Object(map) = &mut value {
        map.insert(
            "$schema".into(),
            Value::String("http://json-schema.org/draft-07/schema#".into()),
        );
    }
    value
}

fn strip_schema_keyword(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("$schema");
            map.values_mut().for_each(strip_schema_keyword);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_schema_keyword),
        _ => {}
    }
}

/// The credential form and the settings merged into one draft-07 object
/// schema (a connection's config): the credential's fields first, in form
/// order, then the settings' (`order` says so to form renderers). Secrets
/// carry `airbyte_secret: true` besides `writeOnly`. A key both describe
/// is an error: one config could not say which is meant.
pub fn merged_config_schema(
    credential: &CredentialSpec,
    credential_schema: &Value,
    settings_schema: &Value,
) -> Result<Value, CliError> {
    let empty = Map::new();
    let credential_props = credential_schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let settings_props = settings_schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut order = 0u64;
    for field in &credential.fields {
        let mut property = credential_props
            .get(&field.key)
            .cloned()
            .unwrap_or_else(|| json!({ "type": "string" }));
        if let Value::Object(p) = &mut property {
            p.entry("title").or_insert_with(|| json!(field.label));
            p.entry("description")
                .or_insert_with(|| json!(field.description));
            if field.kind == FieldKind::Secret || p.get("x-secret") == Some(&Value::Bool(true)) {
                p.insert("airbyte_secret".into(), Value::Bool(true));
                p.insert("writeOnly".into(), Value::Bool(true));
            }
            if let Some(default) = &field.default_value {
                p.entry("default").or_insert_with(|| json!(default));
            }
            p.insert("order".into(), json!(order));
        }
        order += 1;
        if field.required {
            required.push(json!(field.key));
        }
        properties.insert(field.key.clone(), property);
    }
    for (key, property) in settings_props {
        if properties.contains_key(key) {
            return Err(CliError::Input(format!(
                "the connector's credential and settings both describe {}: one config cannot hold both",
                shown_key(key)
            )));
        }
        let mut property = property.clone();
        if let Value::Object(p) = &mut property {
            p.insert("order".into(), json!(order));
        }
        order += 1;
        properties.insert(key.clone(), property);
    }
    for key in settings_schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        required.push(key.clone());
    }
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Connection settings",
        "type": "object",
        "required": required,
        "properties": properties,
        // Platforms add keys of their own to a connection's config; the
        // adapter drops the ones neither schema knows.
        "additionalProperties": true,
    });
    strip_schema_keyword(&mut schema["properties"]);
    Ok(schema)
}

/// Why `settings` (a JSON object's text) is not what `schema` admits, one
/// line per fault (at most 10), or nothing when it is. A schema that does
/// not compile is a fault of the connector's, said as such.
pub fn settings_faults(schema: &Value, settings: &str) -> Vec<String> {
    match crate::json_schema::compile(schema) {
        Ok(validator) => {
            let instance: Value = serde_json::from_str(settings).unwrap_or(Value::Null);
            crate::json_schema::faults(&validator, &instance, "settings", false, 10)
        }
        Err(why) => vec![format!(
            "the connector's settings schema is not valid JSON Schema: {why}"
        )],
    }
}

/// Whether `stream` can be synced incrementally.
pub fn incremental(stream: &StreamSpec) -> bool {
    stream
        .sync_modes
        .contains(&host_harness::bindings::SyncMode::Incremental)
}

/// Milliseconds since the Unix epoch, for `emitted_at`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` since the Unix epoch as an RFC 3339 UTC date-time with
/// milliseconds, e.g. `2026-12-05T01:02:03.456Z` (Singer's
/// `time_extracted`).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Days since 1970-01-01 to a civil date, by 400-year eras (the
    // proleptic Gregorian calendar repeats every 146,097 days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_704_067_199_999), "2023-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn a_config_splits_by_the_schemas_and_drops_what_neither_knows() {
        let spec = CredentialSpec {
            fields: vec![host_harness::bindings::CredentialField {
                key: "api_key".into(),
                label: "API key".into(),
                description: String::new(),
                kind: FieldKind::Secret,
                required: true,
                default_value: None,
            }],
            json_schema: "{}".into(),
        };
        let closed = json!({ "properties": { "org_slug": {} }, "additionalProperties": false });
        let config = json!({ "api_key": "k", "org_slug": "gh/a", "start_date": null, "extra": 1 });
        let split = split_config(&config, &spec, &closed).unwrap();
        assert_eq!(
            split.credential.0,
            vec![("api_key".to_string(), "k".to_string())]
        );
        assert_eq!(split.settings, r#"{"org_slug":"gh/a"}"#);
        assert_eq!(split.ignored, vec!["extra".to_string()]);
        let open = json!({ "properties": {} });
        let split = split_config(&config, &spec, &open).unwrap();
        assert_eq!(split.settings, r#"{"extra":1,"org_slug":"gh/a"}"#);
        let bad = json!({ "api_key": 42 });
        assert!(split_config(&bad, &spec, &open).is_err());
    }

    #[test]
    fn the_merged_schema_marks_secrets_and_refuses_a_key_described_twice() {
        let spec = CredentialSpec {
            fields: vec![host_harness::bindings::CredentialField {
                key: "api_key".into(),
                label: "API key".into(),
                description: "the key".into(),
                kind: FieldKind::Secret,
                required: true,
                default_value: None,
            }],
            json_schema: "{}".into(),
        };
        let credential =
            json!({ "properties": { "api_key": { "type": "string", "$schema": "x" } } });
        let settings =
            json!({ "properties": { "org_slug": { "type": "string" } }, "required": [] });
        let merged = merged_config_schema(&spec, &credential, &settings).unwrap();
        assert_eq!(merged["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(merged["properties"]["api_key"]["airbyte_secret"], true);
        assert!(merged["properties"]["api_key"].get("$schema").is_none());
        assert_eq!(merged["properties"]["org_slug"]["order"], 1);
        assert_eq!(merged["required"], json!(["api_key"]));
        assert_eq!(merged["additionalProperties"], true);
        let twice = json!({ "properties": { "api_key": {} } });
        assert!(merged_config_schema(&spec, &credential, &twice).is_err());
    }
}
