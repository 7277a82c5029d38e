//! The connector's JSON Schemas as the CLI checks values against them
//! (`airbyte check`'s settings, `conform`'s inputs and records): compiled
//! without trusting them, and their faults said in one printable line each.

use std::panic::AssertUnwindSafe;

use jsonschema::Validator;
use serde_json::Value;

/// The longest fault or compile error said, in characters: a guest's
/// schema and the values checked against it may be of any size.
const MAX_CHARS: usize = 200;

/// A JSON Schema compiled, or why it does not compile. The schema comes
/// from the guest: a panic of the library on it is the schema's fault,
/// not the end of the run.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| jsonschema::validator_for(schema))) {
        Ok(Ok(validator)) => Ok(validator),
        Ok(Err(e)) => Err(said(&e.to_string())),
        Err(_) => Err("the JSON Schema library could not read it".into()),
    }
}

/// The faults `validator` finds in `instance`, at most `limit`, each as
/// `what<path>: message`; `masked` keeps the values out (a credential's).
pub fn faults(
    validator: &Validator,
    instance: &Value,
    what: &str,
    masked: bool,
    limit: usize,
) -> Vec<String> {
    validator
        .iter_errors(instance)
        .take(limit)
        .map(|e| {
            let at = e.instance_path().to_string();
            let message = if masked {
                e.masked().to_string()
            } else {
                e.to_string()
            };
            said(&format!("{what}{at}: {message}"))
        })
        .collect()
}

/// `text` printable and cut to [`MAX_CHARS`].
fn said(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    host_harness::error::printable(&cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn faults_name_the_path_and_hide_masked_values() {
        let v = compile(&json!({ "properties": { "n": { "type": "integer" } } })).unwrap();
        let plain = faults(&v, &json!({ "n": "secret-ish" }), "settings", false, 5);
        assert_eq!(plain.len(), 1);
        assert!(plain[0].starts_with("settings/n: "), "{}", plain[0]);
        assert!(plain[0].contains("secret-ish"));
        let masked = faults(&v, &json!({ "n": "secret-ish" }), "credential", true, 5);
        assert!(!masked[0].contains("secret-ish"), "{}", masked[0]);
        assert!(compile(&json!({ "type": 12 })).is_err());
    }
}
