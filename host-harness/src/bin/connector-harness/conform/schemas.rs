//! The checks that read what a component describes, without syncing:
//! `schemas_valid` (the credential form and the settings schema),
//! `inputs_match_schemas` (the credential and settings given) and
//! `catalog_valid` (the stream catalog). The compiled schemas are kept for
//! the reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use host_harness::HarnessError;
use host_harness::bindings::{CredentialSpec, FieldKind, StreamSpec, SyncMode};
use host_harness::credential::{Credential, key_looks_secret};
use jsonschema::Validator;
use serde_json::{Map, Value};

use super::{Row, plural};
use crate::json_schema::{self, compile};

/// A guest's name or text cut to this many characters in a detail.
const SHOWN_CHARS: usize = 80;

/// `text` cut to [`SHOWN_CHARS`] characters, quoted when it is a name.
pub fn shown(text: &str) -> String {
    let mut cut: String = text.chars().take(SHOWN_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// A schema's text parsed and compiled.
fn parse_and_compile(text: &str) -> Result<(Value, Validator), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("is not JSON ({e})"))?;
    let validator = compile(&value).map_err(|e| format!("is not valid JSON Schema: {e}"))?;
    Ok((value, validator))
}

/// The schema's `properties`, when it has them.
fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The schema's `required` names.
fn required(schema: &Value) -> BTreeSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether a schema describes a JSON object: `type` is `object` (or a
/// list holding it).
fn describes_object(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    }
}

/// What `schemas_valid` found, and the compiled schemas.
pub struct Schemas {
    pub row: Row,
    pub credential: Option<Validator>,
    pub settings: Option<Validator>,
}

/// `schemas_valid`.
pub fn check_schemas(
    spec: &Result<CredentialSpec, HarnessError>,
    settings: &Result<String, HarnessError>,
) -> Schemas {
    const ID: &str = "schemas_valid";
    let mut faults = Vec::new();
    let (credential, credential_summary) =
        examined(spec, "credential-schema", credential_faults, &mut faults);
    let (settings, settings_summary) = examined(
        settings,
        "settings-schema",
        |text: &String| settings_faults(text),
        &mut faults,
    );
    let row = Row::from_faults(
        ID,
        &faults,
        format!("credential: {credential_summary}; settings: {settings_summary}"),
    );
    Schemas {
        row,
        credential,
        settings,
    }
}

/// What `call` of the component answered, examined by `examine`: its
/// validator and summary, its faults added to `faults` (a failed call or a
/// schema that does not compile is one fault and no validator).
fn examined<T>(
    answer: &Result<T, HarnessError>,
    call: &str,
    examine: impl FnOnce(&T) -> Result<(Validator, Vec<String>, String), String>,
    faults: &mut Vec<String>,
) -> (Option<Validator>, String) {
    match answer
        .as_ref()
        .map_err(|e| format!("{call} failed: {e}"))
        .and_then(examine)
    {
        Ok((validator, mut found, summary)) => {
            faults.append(&mut found);
            (Some(validator), summary)
        }
        Err(fault) => {
            faults.push(fault);
            (None, String::new())
        }
    }
}

/// The credential form's faults (and a summary of it when it has none):
/// the JSON Schema compiles and describes the form's fields, and every
/// secret is marked as the contract says (kind `secret`, `writeOnly: true`,
/// `x-secret: true`). A field counts as secret when any of those marks it
/// or its key looks like a secret's: the host redacts it either way, and a
/// platform's form must mask it too.
fn credential_faults(spec: &CredentialSpec) -> Result<(Validator, Vec<String>, String), String> {
    let (schema, validator) = parse_and_compile(&spec.json_schema)
        .map_err(|why| format!("the credential's JSON Schema {why}"))?;
    let mut faults = Vec::new();
    if !describes_object(&schema) {
        faults.push("the credential's JSON Schema does not describe an object".to_string());
    }
    let empty = Map::new();
    let props = properties(&schema).unwrap_or(&empty);
    let required = required(&schema);
    let mut keys = BTreeSet::new();
    let mut secrets = Vec::new();
    for field in &spec.fields {
        let key = shown(&field.key);
        if !keys.insert(field.key.as_str()) {
            faults.push(format!("field {key} is in the form twice"));
            continue;
        }
        let Some(prop) = props.get(&field.key) else {
            faults.push(format!(
                "field {key} is not a property of the credential's JSON Schema"
            ));
            continue;
        };
        if field.required != required.contains(field.key.as_str()) {
            faults.push(format!(
                "field {key} is {} in the form but {} in the JSON Schema",
                if field.required {
                    "required"
                } else {
                    "optional"
                },
                if field.required {
                    "optional"
                } else {
                    "required"
                },
            ));
        }
        let kind = field.kind == FieldKind::Secret;
        let write_only = prop.get("writeOnly") == Some(&Value::Bool(true));
        let x_secret = prop.get("x-secret") == Some(&Value::Bool(true));
        let looks = key_looks_secret(&field.key);
        if !(kind || write_only || x_secret || looks) {
            continue;
        }
        secrets.push(key.clone());
        let mut missing = Vec::new();
        if !kind {
            missing.push("kind secret");
        }
        if !write_only {
            missing.push("writeOnly: true");
        }
        if !x_secret {
            missing.push("x-secret: true");
        }
        if !missing.is_empty() {
            let list = missing.join(", ");
            faults.push(if kind || write_only || x_secret {
                format!("field {key} is secret but lacks {list}")
            } else {
                format!("field {key} looks secret but is not marked ({list})")
            });
        }
    }
    for key in props.keys() {
        if !keys.contains(key.as_str()) {
            faults.push(format!(
                "the credential's JSON Schema has property {} that the form has no field for",
                shown(key)
            ));
        }
    }
    let summary = format!(
        "{}, secret: {} (kind secret, writeOnly, x-secret)",
        plural(spec.fields.len() as u64, "field"),
        if secrets.is_empty() {
            "none".to_string()
        } else {
            secrets.join(", ")
        }
    );
    Ok((validator, faults, summary))
}

/// The settings schema's faults: it compiles, describes an object, and
/// every setting it requires has a default (the contract: every setting
/// is optional or has a default).
fn settings_faults(text: &str) -> Result<(Validator, Vec<String>, String), String> {
    let (schema, validator) =
        parse_and_compile(text).map_err(|why| format!("the settings schema {why}"))?;
    let mut faults = Vec::new();
    if !describes_object(&schema) {
        faults.push("the settings schema does not describe an object".to_string());
    }
    let empty = Map::new();
    let props = properties(&schema).unwrap_or(&empty);
    for key in required(&schema) {
        let has_default = props.get(key).is_some_and(|p| p.get("default").is_some());
        if !has_default {
            faults.push(format!(
                "setting {} is required and has no default",
                shown(key)
            ));
        }
    }
    Ok((
        validator,
        faults,
        format!(
            "{}, none required without a default",
            plural(props.len() as u64, "setting")
        ),
    ))
}

/// `inputs_match_schemas`: the credential and the settings given are what
/// the schemas describe (a credential's values never shown).
pub fn inputs_match(schemas: &Schemas, credential: &Credential, settings: &str) -> Row {
    const ID: &str = "inputs_match_schemas";
    if schemas.credential.is_none() && schemas.settings.is_none() {
        return Row::skip(ID, "neither schema compiles (see schemas_valid)");
    }
    let mut faults = Vec::new();
    let mut checked = Vec::new();
    if let Some(validator) = &schemas.credential {
        let document: Map<String, Value> = credential
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        faults.extend(json_schema::faults(
            validator,
            &Value::Object(document),
            "credential",
            true,
            5,
        ));
        checked.push(format!(
            "the credential ({})",
            plural(credential.0.len() as u64, "field")
        ));
    }
    if let Some(validator) = &schemas.settings {
        let instance: Value = serde_json::from_str(settings).unwrap_or(Value::Null);
        faults.extend(json_schema::faults(
            validator, &instance, "settings", false, 5,
        ));
        let keys = instance.as_object().map_or(0, Map::len);
        checked.push(format!("the settings ({})", plural(keys as u64, "key")));
    }
    Row::from_faults(
        ID,
        &faults,
        format!("{} match their schemas", checked.join(" and ")),
    )
}

/// What `catalog_valid` found, and each stream's compiled schema.
pub struct Catalog {
    pub row: Row,
    pub validators: BTreeMap<String, Arc<Validator>>,
}

/// `catalog_valid`: names unique, every schema compiles and describes an
/// object, primary-key and cursor fields are its properties, parents are
/// streams of the catalog. An incremental stream without a cursor field is
/// allowed: the contract's cursor field is optional (the connector keeps
/// its watermark in its own cursor state); the detail names such streams.
pub fn check_catalog(catalog: &Result<Vec<StreamSpec>, HarnessError>) -> Catalog {
    const ID: &str = "catalog_valid";
    let mut validators = BTreeMap::new();
    let catalog = match catalog {
        Ok(c) => c,
        Err(e) => {
            return Catalog {
                row: Row::fail(ID, format!("the catalog was refused: {e}")),
                validators,
            };
        }
    };
    let mut faults = Vec::new();
    if catalog.is_empty() {
        faults.push("the catalog has no stream".to_string());
    }
    let names: BTreeSet<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut incremental = 0;
    let mut without_cursor = Vec::new();
    for stream in catalog {
        let name = shown(&stream.name);
        if !seen.insert(stream.name.as_str()) {
            faults.push(format!("stream {name} is in the catalog twice"));
            continue;
        }
        if stream.sync_modes.is_empty() {
            faults.push(format!("{name} has no sync mode"));
        }
        if stream.sync_modes.contains(&SyncMode::Incremental) {
            incremental += 1;
            if stream.cursor_field.is_none() {
                without_cursor.push(name.clone());
            }
        }
        if let Some(parent) = &stream.parent
            && (parent == &stream.name || !names.contains(parent.as_str()))
        {
            faults.push(format!(
                "{name}'s parent {} is not another stream of the catalog",
                shown(parent)
            ));
        }
        let (schema, validator) = match parse_and_compile(&stream.json_schema) {
            Ok(compiled) => compiled,
            Err(why) => {
                faults.push(format!("{name}'s schema {why}"));
                continue;
            }
        };
        validators.insert(stream.name.clone(), Arc::new(validator));
        if !describes_object(&schema) {
            faults.push(format!("{name}'s schema does not describe an object"));
        }
        let empty = Map::new();
        let props = properties(&schema).unwrap_or(&empty);
        for key in &stream.primary_key {
            if !props.contains_key(key) {
                faults.push(format!(
                    "{name}'s primary-key field {} is not a property of its schema",
                    shown(key)
                ));
            }
        }
        if let Some(cursor) = &stream.cursor_field
            && !props.contains_key(cursor)
        {
            faults.push(format!(
                "{name}'s cursor field {} is not a property of its schema",
                shown(cursor)
            ));
        }
    }
    let mut pass = format!(
        "{}, {incremental} incremental; every schema compiles, primary keys and cursor fields \
         are properties",
        plural(catalog.len() as u64, "stream")
    );
    if !without_cursor.is_empty() {
        pass.push_str(&format!(
            " (incremental without a cursor field, which the contract allows: {})",
            without_cursor.join(", ")
        ));
    }
    Catalog {
        row: Row::from_faults(ID, &faults, pass),
        validators,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Outcome;
    use super::*;
    use host_harness::bindings::CredentialField;

    fn field(key: &str, kind: FieldKind, required: bool) -> CredentialField {
        CredentialField {
            key: key.into(),
            label: key.into(),
            description: String::new(),
            kind,
            required,
            default_value: None,
        }
    }

    #[test]
    fn a_key_that_looks_secret_must_be_marked_three_ways() {
        let marked = r#"{"type":"object","properties":{"api_key":{"type":"string","writeOnly":true,"x-secret":true},"base_url":{"type":"string"}},"required":["api_key"]}"#;
        let spec = CredentialSpec {
            fields: vec![
                field("api_key", FieldKind::Secret, true),
                field("base_url", FieldKind::Url, false),
            ],
            json_schema: marked.into(),
        };
        let settings = Ok(r#"{"type":"object","properties":{"a":{"type":"integer"}}}"#.to_string());
        let checked = check_schemas(&Ok(spec.clone()), &settings);
        assert_eq!(checked.row.outcome, Outcome::Pass, "{}", checked.row.detail);

        let mut unmarked = spec.clone();
        unmarked.fields[0].kind = FieldKind::Text;
        unmarked.json_schema = marked.replace(r#","writeOnly":true,"x-secret":true"#, "");
        let checked = check_schemas(&Ok(unmarked), &settings);
        assert_eq!(checked.row.outcome, Outcome::Fail);
        assert_eq!(
            checked.row.detail,
            "field api_key looks secret but is not marked (kind secret, writeOnly: true, x-secret: true)"
        );

        let mut half = spec;
        half.json_schema = marked.replace(r#","x-secret":true"#, "");
        let checked = check_schemas(&Ok(half), &settings);
        assert_eq!(
            checked.row.detail,
            "field api_key is secret but lacks x-secret: true"
        );
    }

    #[test]
    fn the_settings_schema_must_compile_and_default_what_it_requires() {
        let spec = Ok(CredentialSpec {
            fields: vec![],
            json_schema: r#"{"type":"object"}"#.into(),
        });
        let bad = Ok(r#"{"type":"object","properties":{"a":{"type":7}}}"#.to_string());
        let checked = check_schemas(&spec, &bad);
        assert!(
            checked
                .row
                .detail
                .starts_with("the settings schema is not valid JSON Schema"),
            "{}",
            checked.row.detail
        );
        let strict = Ok(r#"{"type":"object","properties":{"a":{}},"required":["a"]}"#.to_string());
        let checked = check_schemas(&spec, &strict);
        assert_eq!(
            checked.row.detail,
            "setting a is required and has no default"
        );
    }

    #[test]
    fn catalog_keys_must_be_properties() {
        let stream = StreamSpec {
            name: "items".into(),
            description: String::new(),
            json_schema: r#"{"type":"object","properties":{"i":{"type":"integer"}}}"#.into(),
            primary_key: vec!["i".into()],
            cursor_field: Some("i".into()),
            parent: None,
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        };
        let checked = check_catalog(&Ok(vec![stream.clone()]));
        assert_eq!(checked.row.outcome, Outcome::Pass, "{}", checked.row.detail);
        assert!(checked.validators.contains_key("items"));
        let mut wrong = stream;
        wrong.primary_key = vec!["id".into()];
        wrong.cursor_field = Some("at".into());
        wrong.parent = Some("nowhere".into());
        let checked = check_catalog(&Ok(vec![wrong]));
        assert_eq!(
            checked.row.detail,
            "items's parent nowhere is not another stream of the catalog; \
             items's primary-key field id is not a property of its schema; \
             items's cursor field at is not a property of its schema"
        );
    }

    #[test]
    fn a_credential_that_breaks_its_schema_is_named_without_its_value() {
        let spec = CredentialSpec {
            fields: vec![field("api_key", FieldKind::Secret, true)],
            json_schema: r#"{"type":"object","properties":{"api_key":{"type":"string","pattern":"^[a-z]+$","writeOnly":true,"x-secret":true}},"required":["api_key"]}"#.into(),
        };
        let schemas = check_schemas(&Ok(spec), &Ok(r#"{"type":"object"}"#.to_string()));
        let credential = Credential::from_pairs([("api_key", "SECRET-VALUE-1")]);
        let row = inputs_match(&schemas, &credential, "{}");
        assert_eq!(row.outcome, Outcome::Fail);
        assert!(
            row.detail.starts_with("credential/api_key: "),
            "{}",
            row.detail
        );
        assert!(!row.detail.contains("SECRET-VALUE-1"), "{}", row.detail);
    }
}
