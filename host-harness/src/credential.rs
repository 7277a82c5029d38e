//! Credentials as the operator hands them to the host, and the redaction of
//! their secret values from everything the host shows.
//!
//! A credential document is a JSON object keyed by the schema's field keys,
//! with string values. Checking what the values mean (a blank key, a bad
//! URL) is the connector's job; the host only makes sure the document is
//! what it claims to be, so a mangled one is a clear error and never a
//! confusing request.

use crate::bindings::{CredentialSpec, FieldKind};
use crate::error::HarnessError;

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

    /// The redactor for this credential's secret values under `schema`
    /// (see [`Credential::secret_keys`]).
    pub fn redactor(&self, schema: &CredentialSpec) -> Redactor {
        self.redactor_for_keys(&Credential::secret_keys(schema, &[]))
    }

    /// The keys of the credential fields whose values the host keeps
    /// secret. The host decides, not the guest alone: a field is secret
    /// when `schema` marks it so, when its key looks like a secret's
    /// ([`key_looks_secret`]: a component that marks its API key as plain
    /// text is not believed), or when the operator names it in `also`.
    pub fn secret_keys(schema: &CredentialSpec, also: &[String]) -> Vec<String> {
        let mut keys: Vec<String> = schema
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Secret) || key_looks_secret(&f.key))
            .map(|f| f.key.clone())
            .chain(also.iter().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The redactor for the values of these fields, and of every field of
    /// the credential whose key looks like a secret's (whatever a schema
    /// says, and even where the schema does not list the field).
    pub fn redactor_for_keys(&self, secret_keys: &[String]) -> Redactor {
        Redactor::new(
            self.0
                .iter()
                .filter(|(k, _)| secret_keys.iter().any(|s| s == k) || key_looks_secret(k))
                .map(|(_, v)| v.clone()),
        )
    }
}

/// Words that make a credential field's key look like a secret's, wherever
/// they appear in it, ignoring case (`api_key`, `apiKey`, `access_token`,
/// `client_secret`, `password`).
const SECRET_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "auth",
];

/// Whether a credential field's key looks like it holds a secret.
pub fn key_looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// Replaces secret values in text the host is about to show or store.
///
/// A secret is found however the text spells it:
/// - ignoring ASCII case: an API token that a guest upper- or lower-cases
///   (a host name is lowercased on its way through a URL) is as much a leak
///   as the token itself;
/// - with any of its characters written as a JSON escape (`\u0043`,
///   `\u00e9`, a surrogate pair, `\/`, `\"`, `\\`, `\n`, …): records, states
///   and account details are JSON, and whatever reads them (the host's own
///   re-serialisation included) decodes those escapes, so a secret spelled
///   that way is a secret in clear one step later.
///
/// The whole spelling is replaced, so redacting text that is JSON leaves it
/// JSON. What it cannot see is a secret the guest transforms otherwise
/// (encodes in base64, reverses, splits into pieces): see the README's
/// security model.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Shared: a redactor is cloned for every call and every request.
    secrets: std::sync::Arc<[Secret]>,
}

/// One secret value, as the characters the matcher compares.
struct Secret {
    chars: Vec<char>,
    /// The first character's possible first bytes in text: both ASCII cases
    /// of it, or its UTF-8 lead byte (and `\`, for an escape).
    first: (u8, u8),
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
    /// A redactor of these secret values (empty ones are ignored).
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
        let secrets: Vec<Secret> = secrets
            .iter()
            .map(|s| {
                let chars: Vec<char> = s.chars().collect();
                let lead = s.as_bytes()[0];
                Secret {
                    chars,
                    first: (lead.to_ascii_lowercase(), lead.to_ascii_uppercase()),
                }
            })
            .collect();
        Redactor {
            secrets: secrets.into(),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` holds a secret, in any spelling the redactor knows.
    pub fn finds_in(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| s.find(text.as_bytes(), 0).is_some())
    }

    /// `text` with every secret value, and every escaped spelling of one,
    /// replaced.
    pub fn redact(&self, text: &str) -> String {
        let hay = text.as_bytes();
        let mut ranges = Vec::new();
        for secret in self.secrets.iter() {
            let mut from = 0;
            while let Some((start, end)) = secret.find(hay, from) {
                ranges.push((start, end));
                from = end;
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
            // Matches start and end on char boundaries: they cover whole
            // characters and whole escapes.
            out.push_str(&text[done..start.max(done)]);
            if start >= done {
                out.push_str(REDACTED);
            }
            done = end;
        }
        out.push_str(&text[done..]);
        out
    }

    /// `error` with every message it carries redacted.
    pub fn redact_error(&self, error: HarnessError) -> HarnessError {
        error.map_messages(|m| self.redact(m))
    }
}

impl Secret {
    /// The first spelling of the secret in `hay` at or after `from`, as a
    /// byte range.
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        let rest = hay.get(from..)?;
        memchr::memchr3_iter(self.first.0, self.first.1, b'\\', rest)
            .map(|at| from + at)
            .find_map(|at| self.spelled_at(hay, at).map(|end| (at, end)))
    }

    /// Where the secret ends if `hay` spells it from `at` on.
    fn spelled_at(&self, hay: &[u8], at: usize) -> Option<usize> {
        let mut pos = at;
        for &want in &self.chars {
            let (got, len) = char_at(hay, pos)?;
            if !got.eq_ignore_ascii_case(&want) {
                return None;
            }
            pos += len;
        }
        Some(pos)
    }
}

/// The character `hay` spells at `at` (itself, or a JSON escape of it) and
/// how many bytes that takes; `None` at the end, inside a character, or at a
/// backslash that starts no valid escape.
fn char_at(hay: &[u8], at: usize) -> Option<(char, usize)> {
    let &first = hay.get(at)?;
    if first != b'\\' {
        let width = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return None, // a continuation byte: not a character's start
        };
        let c = std::str::from_utf8(hay.get(at..at + width)?)
            .ok()?
            .chars()
            .next()?;
        return Some((c, width));
    }
    let simple = |c: char| Some((c, 2));
    match *hay.get(at + 1)? {
        b'"' => simple('"'),
        b'\\' => simple('\\'),
        b'/' => simple('/'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{c}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'u' => {
            let unit = hex4(hay, at + 2)?;
            if (0xd800..0xdc00).contains(&unit) {
                // A high surrogate: the character needs its low half.
                if hay.get(at + 6..at + 8)? != b"\\u" {
                    return None;
                }
                let low = hex4(hay, at + 8)?;
                if !(0xdc00..0xe000).contains(&low) {
                    return None;
                }
                let c = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                Some((char::from_u32(c)?, 12))
            } else {
                Some((char::from_u32(unit)?, 6))
            }
        }
        _ => None,
    }
}

/// Four hex digits at `at`, as a number.
fn hex4(hay: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(hay.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16)
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::CredentialField;

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
    fn redacts_json_escaped_spellings_whole() {
        let r = Redactor::new(["CCIPAT_a/b\"c".to_string()]);
        for spelled in [
            r#"\u0043\u0043IPAT_a/b\"c"#,
            r#"\u0043\u0063\u0049\u0050\u0041\u0054\u005F\u0061\u002f\u0062\u0022\u0063"#,
            r#"ccipat\u005fa\/b\u0022C"#,
        ] {
            let json = format!(r#"{{"token":"{spelled}","n":1}}"#);
            let redacted = r.redact(&json);
            assert_eq!(redacted, r#"{"token":"[REDACTED]","n":1}"#, "{spelled}");
        }
        // Characters past the BMP arrive as surrogate pairs.
        let r = Redactor::new(["key😀tail".to_string()]);
        assert_eq!(r.redact(r#""key\ud83d\ude00tail""#), r#""[REDACTED]""#);
        assert_eq!(
            r.redact(r#""key\ud83dtail""#),
            r#""key\ud83dtail""#,
            "half a pair"
        );
        // Not the secret: an escaped backslash, a cut escape, the end of text.
        let r = Redactor::new(["CCIPAT_x".to_string()]);
        assert!(!r.finds_in(r#"\\CCIPAT_"#));
        assert!(!r.finds_in(r#"\u004"#));
        assert!(!r.finds_in("CCIPAT_"));
    }

    /// Whatever mix of literal characters, case and escapes a guest writes
    /// a secret in, the redacted JSON still parses, and neither it nor what
    /// a consumer (the host's own re-serialisation included) makes of it
    /// holds the secret.
    #[test]
    fn no_spelling_survives_redaction_and_reserialisation() {
        let secret = "CCIPAT_Zx9/\"k\\q";
        let r = Redactor::new([secret.to_string()]);
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let mut spelled = String::new();
            for c in secret.chars() {
                let c = if next(2) == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                match (c, next(4)) {
                    ('"', _) => spelled.push_str(if next(2) == 0 { "\\\"" } else { "\\u0022" }),
                    ('\\', _) => spelled.push_str(if next(2) == 0 { "\\\\" } else { "\\u005C" }),
                    ('/', 0) => spelled.push_str("\\/"),
                    (c, 1) => spelled.push_str(&format!("\\u{:04x}", c as u32)),
                    (c, 2) => spelled.push_str(&format!("\\u{:04X}", c as u32)),
                    (c, _) => spelled.push(c),
                }
            }
            let json = format!(r#"{{"a":"pre {spelled} post","b":["{spelled}"]}}"#);
            let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            let plain = value["a"].as_str().unwrap().to_ascii_lowercase();
            assert!(
                plain.contains(&secret.to_ascii_lowercase()),
                "the spelling decodes to the secret: {json}"
            );
            let redacted = r.redact(&json);
            let parsed: serde_json::Value =
                serde_json::from_str(&redacted).expect("redacted JSON still parses");
            let again = parsed.to_string();
            let decoded = parsed["a"].as_str().unwrap().to_ascii_lowercase();
            assert!(
                !decoded.contains(&secret.to_ascii_lowercase()),
                "{json} -> {redacted}"
            );
            assert!(!r.finds_in(&again), "{json} -> {again}");
            assert_eq!(parsed["a"], "pre [REDACTED] post");
        }
    }

    #[test]
    fn the_host_decides_which_fields_are_secret() {
        let schema = CredentialSpec {
            fields: vec![
                CredentialField {
                    key: "api_key".into(),
                    label: String::new(),
                    description: String::new(),
                    // A schema that calls the key plain text is not believed.
                    kind: FieldKind::Text,
                    required: true,
                    default_value: None,
                },
                CredentialField {
                    key: "base_url".into(),
                    label: String::new(),
                    description: String::new(),
                    kind: FieldKind::Url,
                    required: false,
                    default_value: None,
                },
                CredentialField {
                    key: "pin".into(),
                    label: String::new(),
                    description: String::new(),
                    kind: FieldKind::Secret,
                    required: false,
                    default_value: None,
                },
            ],
            json_schema: "{}".into(),
        };
        assert_eq!(Credential::secret_keys(&schema, &[]), ["api_key", "pin"]);
        assert_eq!(
            Credential::secret_keys(&schema, &["workspace".to_string()]),
            ["api_key", "pin", "workspace"]
        );
        for key in [
            "apiKey",
            "ACCESS_TOKEN",
            "client_secret",
            "Password",
            "x-auth",
        ] {
            assert!(key_looks_secret(key), "{key}");
        }
        for key in ["base_url", "org", "name"] {
            assert!(!key_looks_secret(key), "{key}");
        }
        // A field the schema does not list at all, named like a secret.
        let credential = Credential::from_pairs([
            ("base_url", "https://example.test"),
            ("session_token", "tok-unlisted-123"),
        ]);
        let r = credential.redactor_for_keys(&[]);
        assert_eq!(
            r.redact("tok-unlisted-123 at https://example.test"),
            "[REDACTED] at https://example.test"
        );
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
