//! What the host requires of what a connector says about itself (its
//! stream catalog, its settings schema) before it uses any of it.
//!
//! Stream names come from the guest and end up in file names
//! (`--out DIR/<stream>.jsonl`), state keys, logs and the terminal, so the
//! host accepts only plain names: 1 to [`MAX_STREAM_NAME`] characters of
//! `a-z`, `0-9` and `_`, unique within the catalog. A `parent` must name a
//! stream of the catalog. A catalog that breaks a rule is refused whole when
//! the host first asks for it, so no file is ever named after it.

use crate::bindings::StreamSpec;
use crate::error::HarnessError;

/// The longest stream name accepted.
pub const MAX_STREAM_NAME: usize = 64;

/// The most streams a catalog may list.
pub const MAX_STREAMS: usize = 1024;

/// Whether `name` is a stream name the host accepts: 1 to
/// [`MAX_STREAM_NAME`] characters of `a-z`, `0-9` and `_`.
pub fn is_valid_stream_name(name: &str) -> bool {
    (1..=MAX_STREAM_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The largest settings schema accepted: a form's description, which
/// platforms store and render, not data.
pub const MAX_SETTINGS_SCHEMA: usize = 256 * 1024;

/// Checks the settings schema the connector returned: at most
/// [`MAX_SETTINGS_SCHEMA`] bytes of JSON, an object describing an object
/// (its `type`, when given, is `"object"`).
pub fn check_settings_schema(schema: &str) -> Result<(), HarnessError> {
    let refuse = |why: &str| {
        HarnessError::Load(format!("the connector's settings schema is refused: {why}"))
    };
    if schema.len() > MAX_SETTINGS_SCHEMA {
        return Err(refuse(&format!(
            "it is {} bytes, more than {MAX_SETTINGS_SCHEMA}",
            schema.len()
        )));
    }
    let value: serde_json::Value =
        serde_json::from_str(schema).map_err(|_| refuse("it is not JSON"))?;
    let Some(object) = value.as_object() else {
        return Err(refuse("it is not a JSON object"));
    };
    match object.get("type") {
        None => Ok(()),
        Some(t) if t == "object" => Ok(()),
        Some(_) => Err(refuse(
            "it does not describe a JSON object (its type is not \"object\")",
        )),
    }
}

/// Checks a catalog the connector returned (see the module docs).
pub fn check(catalog: &[StreamSpec]) -> Result<(), HarnessError> {
    let refuse =
        |why: String| HarnessError::Load(format!("the connector's catalog is refused: {why}"));
    if catalog.len() > MAX_STREAMS {
        return Err(refuse(format!(
            "it lists {} streams, more than {MAX_STREAMS}",
            catalog.len()
        )));
    }
    for (i, stream) in catalog.iter().enumerate() {
        if !is_valid_stream_name(&stream.name) {
            return Err(refuse(format!(
                "stream {} is named {}, which is not 1 to {MAX_STREAM_NAME} characters of a-z, 0-9 and _",
                i + 1,
                shown(&stream.name)
            )));
        }
        if catalog[..i].iter().any(|s| s.name == stream.name) {
            return Err(refuse(format!("stream {} is listed twice", stream.name)));
        }
    }
    for stream in catalog {
        if let Some(parent) = &stream.parent
            && !catalog.iter().any(|s| &s.name == parent)
        {
            return Err(refuse(format!(
                "stream {} names a parent {} that is not in the catalog",
                stream.name,
                shown(parent)
            )));
        }
    }
    Ok(())
}

/// A guest-chosen name, quoted and cut short, safe to print.
fn shown(name: &str) -> String {
    let cut: String = name.chars().take(MAX_STREAM_NAME).collect();
    let more = if cut.len() < name.len() { "…" } else { "" };
    format!("{:?}{more}", cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_schema_must_be_a_small_json_object_of_an_object() {
        for ok in [r#"{}"#, r#"{"type":"object","properties":{}}"#] {
            assert!(check_settings_schema(ok).is_ok(), "{ok}");
        }
        let big = format!(r#"{{"description":"{}"}}"#, "x".repeat(MAX_SETTINGS_SCHEMA));
        for (bad, why) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"type":"array"}"#, "does not describe a JSON object"),
            (big.as_str(), "bytes, more than"),
        ] {
            let e = check_settings_schema(bad).unwrap_err();
            assert_eq!(e.kind(), "load");
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    fn spec(name: &str, parent: Option<&str>) -> StreamSpec {
        StreamSpec {
            name: name.into(),
            description: String::new(),
            json_schema: "{}".into(),
            primary_key: vec![],
            cursor_field: None,
            parent: parent.map(Into::into),
            sync_modes: vec![],
        }
    }

    #[test]
    fn names_are_plain() {
        for good in ["jobs", "job_details", "a", "x9", &"a".repeat(64)] {
            assert!(is_valid_stream_name(good), "{good}");
        }
        for bad in [
            "",
            "../escaped",
            "/etc/passwd",
            "Jobs",
            "a-b",
            "a.b",
            "a b",
            "jobs\u{1b}[2J",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_stream_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_catalog_is_refused_whole() {
        assert!(check(&[spec("pipelines", None), spec("jobs", Some("pipelines"))]).is_ok());
        let err = check(&[spec("jobs", None), spec("../escaped", None)]).unwrap_err();
        assert!(matches!(err, HarnessError::Load(_)));
        assert!(err.to_string().contains("\"../escaped\""), "{err}");
        assert!(check(&[spec("jobs", None), spec("jobs", None)]).is_err());
        assert!(check(&[spec("jobs", Some("nope"))]).is_err());
        let err = check(&[spec(&"\u{1b}".repeat(1000), None)]).unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(err.to_string().len() < 600, "cut short");
    }
}
