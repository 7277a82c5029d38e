//! The versioned state envelope: the parts of a connector's states that do
//! not depend on its upstream.
//!
//! A state a connector hands the host (a walk's position while a sync has
//! more, a stream's cursor between syncs) is compact JSON, written and read
//! with serde, that carries its format version (`"v"`) and a fingerprint of
//! the settings it was written under (`"fp"`), so that it is never applied
//! to other settings:
//!
//! ```text
//! {"v":2,"fp":"3f9c0d1e2a4b5c6d", …the connector's own fields…}
//! ```
//!
//! The connector defines the envelope's struct (with
//! `#[serde(deny_unknown_fields)]`) and decodes it with [`parse`] after
//! comparing [`claimed_version`] with its own; [`fingerprint`] makes the
//! `fp` and [`settings_changed`] is the error when it differs. Anything the
//! connector did not write is `invalid-state`, never a silent restart.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConnectorError;
use crate::time::{Ts, format_ts, parse_ts};

/// What every `invalid-state` message tells the operator to do.
pub const START_OVER: &str = "pass no state to read the stream from the start";

/// An `invalid-state` error.
pub fn invalid(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidState(msg.into())
}

/// Reads `text` as the JSON of `T`, or the error of a state this connector
/// did not write. `what` names the state ("state", "cursor") and `like`
/// shows its shape, e.g. `{"v":2,"fp":…}`.
pub fn parse<T: for<'de> Deserialize<'de>>(
    text: &str,
    what: &str,
    like: &str,
) -> Result<T, ConnectorError> {
    serde_json::from_str::<T>(text).map_err(|e| {
        // serde_json's messages name a field or a position, never content.
        let why = e.to_string();
        let why: String = why.chars().take(200).collect();
        invalid(format!(
            "the {what} is not one this connector wrote (expected a JSON object like {like}; {why}); \
             {START_OVER}"
        ))
    })
}

/// The version a state claims (its `"v"`), when it claims one: to say
/// "another version" rather than "not ours".
pub fn claimed_version(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct V {
        v: u64,
    }
    serde_json::from_str::<V>(text).ok().map(|v| v.v)
}

/// The error of a state whose fingerprint is not the settings' own:
/// `settings` names the ones that count (e.g. "project_slugs or
/// start_date"), `saved` what was saved (e.g. "this state").
pub fn settings_changed(settings: &str, saved: &str) -> ConnectorError {
    invalid(format!(
        "the settings ({settings}) changed since {saved} was saved; {START_OVER} under the new settings"
    ))
}

/// A short fingerprint of `canonical`, a text that holds everything in the
/// settings that shapes a sync: FNV-1a 64 in hex. Not cryptographic; it
/// only has to notice edits.
pub fn fingerprint(canonical: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// An instant in a state, written as RFC 3339 with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(pub Ts);

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ts(self.0))
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_ts(&text)
            .map(Stamp)
            .ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connector's envelope, as one would write it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Envelope {
        v: u64,
        fp: String,
        at: Stamp,
    }

    #[test]
    fn reads_back_what_it_writes_and_refuses_the_rest() {
        let fp = fingerprint("lists\n7");
        let state = Envelope {
            v: 1,
            fp: fp.clone(),
            at: Stamp(parse_ts("2026-05-01T00:00:00.5Z").unwrap()),
        };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(
            text,
            format!(r#"{{"v":1,"fp":"{fp}","at":"2026-05-01T00:00:00.500Z"}}"#)
        );
        assert_eq!(claimed_version(&text), Some(1));
        assert_eq!(parse::<Envelope>(&text, "state", "{…}"), Ok(state));
        for bad in [
            "",
            "[]",
            r#"{"v":1,"fp":"x","at":"2026-05-01T00:00:00Z","more":1}"#,
            r#"{"v":1,"fp":"x","at":"yesterday"}"#,
        ] {
            let e = parse::<Envelope>(bad, "state", r#"{"v":1,…}"#).unwrap_err();
            assert_eq!(e.kind(), "invalid-state", "{bad}");
            assert!(e.message().contains(START_OVER), "{e}");
        }
        assert_eq!(claimed_version(r#"{"v":9,"other":true}"#), Some(9));
        assert_eq!(claimed_version("{}"), None);
    }

    #[test]
    fn fingerprints_are_fnv_1a_64() {
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint("slugs\na"), fingerprint("slugs\nb"));
        let e = settings_changed("lists", "this state");
        assert_eq!(
            e.message(),
            format!(
                "the settings (lists) changed since this state was saved; {START_OVER} under the new settings"
            )
        );
    }
}
