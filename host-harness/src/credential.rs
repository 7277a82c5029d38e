//! Credentials as the operator hands them to the host, and the redaction of
//! their secret values from everything the host shows.
//!
//! A credential file is a JSON object keyed by the schema's field keys, with
//! string values. Checking what the values mean (a blank key, a bad URL) is
//! the connector's job; the host only makes sure the file is what it claims
//! to be, so a mangled file is a clear error and never a confusing request.

use std::path::Path;

use crate::bindings::{CredentialSpec, FieldKind};
use crate::error::HarnessError;

/// Credential files larger than this are refused: a credential is a few
/// short strings, anything bigger is the wrong file.
pub const MAX_CREDENTIAL_FILE_BYTES: u64 = 64 * 1024;

/// A credential as (field key, value) pairs, in the file's order.
#[derive(Clone, Default)]
pub struct Credential(pub Vec<(String, String)>);

impl std::fmt::Debug for Credential {
    // Never print values: any of them may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=…")))
            .finish()
    }
}

impl Credential {
    /// Reads and checks a credential file.
    pub fn from_file(path: &Path) -> Result<Credential, HarnessError> {
        let fail = |why: String| HarnessError::CredentialFile(format!("{}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        if meta.len() > MAX_CREDENTIAL_FILE_BYTES {
            return Err(fail(format!(
                "{} bytes is larger than the {MAX_CREDENTIAL_FILE_BYTES}-byte limit for a credential file",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Credential::from_json_bytes(&bytes).map_err(fail)
    }

    /// Parses a credential document. Errors never quote the document.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Credential, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            // serde_json's messages name a line and column, never content.
            format!("not valid JSON ({e})")
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err("must be a JSON object of field key to string value".into());
        };
        let mut pairs = Vec::with_capacity(map.len());
        for (key, value) in map {
            match value {
                serde_json::Value::String(s) => pairs.push((key, s)),
                serde_json::Value::Null => {}
                _ => return Err(format!("the value of {key:?} must be a string")),
            }
        }
        Ok(Credential(pairs))
    }

    /// Builds a credential from pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Credential(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The redactor for this credential's secret values under `schema`.
    pub fn redactor(&self, schema: &CredentialSpec) -> Redactor {
        self.redactor_for_keys(&Credential::secret_keys(schema))
    }

    /// The keys of the fields `schema` marks secret.
    pub fn secret_keys(schema: &CredentialSpec) -> Vec<String> {
        schema
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Secret))
            .map(|f| f.key.clone())
            .collect()
    }

    /// The redactor for the values of these fields.
    pub fn redactor_for_keys(&self, secret_keys: &[String]) -> Redactor {
        Redactor::new(
            self.0
                .iter()
                .filter(|(k, _)| secret_keys.iter().any(|s| s == k))
                .map(|(_, v)| v.clone()),
        )
    }
}

/// Replaces secret values in text the host is about to show.
///
/// Matching ignores ASCII case: an API token that a guest upper- or
/// lower-cases (a host name is lowercased on its way through a URL) is as
/// much a leak as the token itself.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Shared: a redactor is cloned for every call and every request.
    secrets: std::sync::Arc<[String]>,
}

impl std::fmt::Debug for Redactor {
    // Never print the secrets themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_string())
            // Very short values would redact ordinary words; a real API
            // token is far longer than this.
            .filter(|s| s.len() >= 4)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: secrets.into(),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` holds a secret.
    pub fn finds_in(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| find_ignoring_case(text.as_bytes(), s.as_bytes(), 0).is_some())
    }

    pub fn redact(&self, text: &str) -> String {
        let hay = text.as_bytes();
        let mut ranges = Vec::new();
        for secret in self.secrets.iter() {
            let mut from = 0;
            while let Some(at) = find_ignoring_case(hay, secret.as_bytes(), from) {
                ranges.push((at, at + secret.len()));
                from = at + secret.len();
            }
        }
        if ranges.is_empty() {
            return text.to_string();
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for (start, end) in ranges {
            if end <= done {
                continue; // inside a longer secret already replaced
            }
            // A match starts and ends on char boundaries: it equals a whole
            // UTF-8 string byte for byte outside ASCII letters.
            out.push_str(&text[done..start.max(done)]);
            if start >= done {
                out.push_str(REDACTED);
            }
            done = end;
        }
        out.push_str(&text[done..]);
        out
    }

    pub fn redact_error(&self, error: HarnessError) -> HarnessError {
        error.map_messages(|m| self.redact(m))
    }
}

/// The first position at or after `from` where `needle` occurs in `hay`,
/// ASCII case ignored.
fn find_ignoring_case(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let rest = hay.get(from..)?;
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), rest)
        .map(|at| from + at)
        .find(|&at| {
            hay.get(at..at + needle.len())
                .is_some_and(|window| window.eq_ignore_ascii_case(needle))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_of_strings() {
        let c = Credential::from_json_bytes(br#"{"api_key":"abc","base_url":"http://x"}"#).unwrap();
        assert_eq!(c.0.len(), 2);
        assert!(Credential::from_json_bytes(b"[1]").is_err());
        assert!(Credential::from_json_bytes(br#"{"api_key":1}"#).is_err());
        assert!(
            Credential::from_json_bytes(b"\xff\xfe")
                .unwrap_err()
                .contains("UTF-8")
        );
        let err = Credential::from_json_bytes(br#"{"api_key":"SECRETVALUE"#).unwrap_err();
        assert!(!err.contains("SECRETVALUE"));
    }

    #[test]
    fn debug_hides_values() {
        let c = Credential::from_pairs([("api_key", "SECRETVALUE")]);
        assert!(!format!("{c:?}").contains("SECRETVALUE"));
    }

    #[test]
    fn redacts_whatever_the_case_and_overlaps() {
        let r = Redactor::new(["Tok_ABCdef".to_string(), "ABCdef".to_string()]);
        assert_eq!(
            r.redact("host tok_abcdef.evil, TOK_ABCDEF! abcDEF é"),
            "host [REDACTED].evil, [REDACTED]! [REDACTED] é"
        );
        assert!(r.finds_in("x TOK_abcdef"));
        assert!(!r.finds_in("tok_abcde"));
        assert_eq!(format!("{r:?}"), "Redactor(2 secrets)");
    }

    #[test]
    fn redacts_every_occurrence() {
        let r = Redactor::new(["tok_12345".to_string(), "ab".to_string()]);
        assert_eq!(
            r.redact("a tok_12345 b tok_12345 ab"),
            "a [REDACTED] b [REDACTED] ab"
        );
    }
}
