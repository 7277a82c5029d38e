//! The checkpoint (state) format, owned by this connector.
//!
//! A state is a compact JSON object, versioned and tagged with its stream:
//! `{"v":1,"stream":"pipelines","slug_index":2,"slugs_fp":"…","page_token":"…"}`.
//! It says where to resume, never what was read, so it stays small however
//! much data there is. Anything this code did not write (bad JSON, another
//! version, another stream, unknown fields, a changed project list) is
//! rejected as `invalid-state` rather than silently restarting.

use crate::error::{ConnectorError, quote};
use crate::settings::Settings;
use serde_json::Value;

/// The format version written and accepted.
pub const VERSION: u64 = 1;
/// Longest page token kept; CircleCI's are well under 1 KiB. Keeps the
/// state bounded even if the upstream misbehaves.
pub const MAX_TOKEN_LEN: usize = 4096;

/// A decoded state. Fields a stream does not use are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub stream: String,
    /// Index into `project_slugs` of the project to read next.
    pub slug_index: Option<usize>,
    /// Fingerprint of `project_slugs` when the state was written.
    pub slugs_fp: Option<String>,
    /// CircleCI's `next_page_token` for that project.
    pub page_token: Option<String>,
}

/// A JSON string literal (quoted and escaped).
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

fn invalid(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidState(msg.into())
}

impl State {
    /// Compact JSON with a stable key order.
    pub fn encode(&self) -> String {
        let mut out = format!("{{\"v\":{VERSION},\"stream\":{}", json_string(&self.stream));
        if let Some(i) = self.slug_index {
            out.push_str(&format!(",\"slug_index\":{i}"));
        }
        if let Some(fp) = &self.slugs_fp {
            out.push_str(&format!(",\"slugs_fp\":{}", json_string(fp)));
        }
        if let Some(t) = &self.page_token {
            out.push_str(&format!(",\"page_token\":{}", json_string(t)));
        }
        out.push('}');
        out
    }

    /// Decodes a state given for `stream`.
    pub fn decode(text: &str, stream: &str) -> Result<State, ConnectorError> {
        let not_ours = || {
            invalid(format!(
                "the state is not one this connector wrote (expected a JSON object like \
                 {{\"v\":{VERSION},\"stream\":\"{stream}\",…}}); pass no state to read the stream from the start"
            ))
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return Err(not_ours());
        };
        match map.get("v") {
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(Value::Number(n)) => {
                // Not `{n}`: formatting a JSON number pulls float printing into the component.
                let n = n
                    .as_u64()
                    .map_or_else(|| "other than 1".to_string(), |n| n.to_string());
                return Err(invalid(format!(
                    "state version {n} is not supported (this connector reads version {VERSION}); \
                     pass no state to read the stream from the start"
                )));
            }
            _ => return Err(not_ours()),
        }
        let Some(Value::String(owner)) = map.get("stream") else {
            return Err(not_ours());
        };
        if owner != stream {
            return Err(invalid(format!(
                "the state belongs to the stream `{}`, not `{stream}`; pass the state saved for this stream",
                quote(owner, 64)
            )));
        }
        let mut state = State {
            stream: stream.to_string(),
            ..State::default()
        };
        for (key, value) in &map {
            let bad = || {
                invalid(format!(
                    "state field `{}` has an invalid value",
                    quote(key, 64)
                ))
            };
            match key.as_str() {
                "v" | "stream" => {}
                "slug_index" => {
                    let i = value
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .ok_or_else(bad)?;
                    state.slug_index = Some(i);
                }
                "slugs_fp" => state.slugs_fp = Some(value.as_str().ok_or_else(bad)?.to_string()),
                "page_token" => {
                    let t = value
                        .as_str()
                        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN);
                    state.page_token = Some(t.ok_or_else(bad)?.to_string());
                }
                other => {
                    return Err(invalid(format!(
                        "state field `{}` is not one this connector writes",
                        quote(other, 64)
                    )));
                }
            }
        }
        Ok(state)
    }
}

/// Position in a walk over `project_slugs`: which project, which page.
/// Shared by every stream that reads project by project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCursor {
    pub index: usize,
    pub page_token: Option<String>,
}

impl ProjectCursor {
    /// Where to resume: the start when there is no state, else the state's
    /// position after checking it still fits the settings.
    pub fn resume(
        state: Option<&State>,
        settings: &Settings,
        stream: &str,
    ) -> Result<Self, ConnectorError> {
        let slugs = settings.require_slugs(stream)?;
        let Some(state) = state else {
            return Ok(ProjectCursor {
                index: 0,
                page_token: None,
            });
        };
        let (Some(index), Some(fp)) = (state.slug_index, state.slugs_fp.as_deref()) else {
            return Err(invalid(format!(
                "the state for the {stream} stream lacks slug_index or slugs_fp; pass no state to start over"
            )));
        };
        if fp != settings.slugs_fingerprint() {
            return Err(invalid(format!(
                "project_slugs changed since this state was saved; pass no state to read the {stream} \
                 stream from the start with the new list"
            )));
        }
        if index >= slugs.len() {
            return Err(invalid(format!(
                "the state points at project {} but project_slugs lists {}; pass no state to start over",
                index + 1,
                slugs.len()
            )));
        }
        Ok(ProjectCursor {
            index,
            page_token: state.page_token.clone(),
        })
    }

    /// The state to return after reading: `None` once past the last project.
    pub fn to_state(&self, settings: &Settings, stream: &str) -> Option<String> {
        (self.index < settings.project_slugs.len()).then(|| {
            State {
                stream: stream.to_string(),
                slug_index: Some(self.index),
                slugs_fp: Some(settings.slugs_fingerprint()),
                page_token: self.page_token.clone(),
            }
            .encode()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, stream: &str) -> String {
        match State::decode(text, stream) {
            Err(ConnectorError::InvalidState(m)) => m,
            other => panic!("expected invalid-state for {text}, got {other:?}"),
        }
    }

    #[test]
    fn round_trips() {
        let s = State {
            stream: "pipelines".into(),
            slug_index: Some(2),
            slugs_fp: Some("0123456789abcdef".into()),
            page_token: Some("tok\"en/+=".into()),
        };
        let text = s.encode();
        assert_eq!(
            text,
            r#"{"v":1,"stream":"pipelines","slug_index":2,"slugs_fp":"0123456789abcdef","page_token":"tok\"en/+="}"#
        );
        assert_eq!(State::decode(&text, "pipelines").unwrap(), s);
        let bare = State {
            stream: "projects".into(),
            ..State::default()
        };
        assert_eq!(bare.encode(), r#"{"v":1,"stream":"projects"}"#);
        assert_eq!(State::decode(&bare.encode(), "projects").unwrap(), bare);
    }

    #[test]
    fn rejects_foreign_states() {
        for text in [
            "",
            "garbage",
            "[]",
            "null",
            r#"{"stream":"pipelines"}"#,
            r#"{"v":"1","stream":"pipelines"}"#,
            r#"{"v":1}"#,
        ] {
            assert!(
                err(text, "pipelines").starts_with("the state is not one this connector wrote"),
                "{text}"
            );
        }
        assert!(
            err(r#"{"v":2,"stream":"pipelines"}"#, "pipelines")
                .starts_with("state version 2 is not supported")
        );
        assert_eq!(
            err(r#"{"v":1,"stream":"projects","slug_index":0}"#, "pipelines"),
            "the state belongs to the stream `projects`, not `pipelines`; pass the state saved for this stream"
        );
        assert_eq!(
            err(r#"{"v":1,"stream":"pipelines","cursor":"x"}"#, "pipelines"),
            "state field `cursor` is not one this connector writes"
        );
        assert_eq!(
            err(
                r#"{"v":1,"stream":"pipelines","slug_index":-1}"#,
                "pipelines"
            ),
            "state field `slug_index` has an invalid value"
        );
        assert!(
            err(
                r#"{"v":1,"stream":"pipelines","page_token":""}"#,
                "pipelines"
            )
            .contains("page_token")
        );
    }

    #[test]
    fn cursor_checks_the_project_list() {
        let settings = Settings::parse(r#"{"project_slugs":["gh/a/b","gh/a/c"]}"#).unwrap();
        let start = ProjectCursor::resume(None, &settings, "pipelines").unwrap();
        assert_eq!(
            start,
            ProjectCursor {
                index: 0,
                page_token: None
            }
        );
        let saved = ProjectCursor {
            index: 1,
            page_token: Some("t".into()),
        }
        .to_state(&settings, "pipelines")
        .unwrap();
        let state = State::decode(&saved, "pipelines").unwrap();
        assert_eq!(
            ProjectCursor::resume(Some(&state), &settings, "pipelines").unwrap(),
            ProjectCursor {
                index: 1,
                page_token: Some("t".into())
            }
        );
        assert_eq!(
            ProjectCursor {
                index: 2,
                page_token: None
            }
            .to_state(&settings, "pipelines"),
            None
        );

        let changed = Settings::parse(r#"{"project_slugs":["gh/a/b"]}"#).unwrap();
        let e = ProjectCursor::resume(Some(&state), &changed, "pipelines").unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidState(m) if m.starts_with("project_slugs changed")),
            "{e:?}"
        );

        let mut forged = state.clone();
        forged.slug_index = Some(5);
        let e = ProjectCursor::resume(Some(&forged), &settings, "pipelines").unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidState(m) if m.contains("points at project 6")),
            "{e:?}"
        );

        let bare = State {
            stream: "pipelines".into(),
            ..State::default()
        };
        let e = ProjectCursor::resume(Some(&bare), &settings, "pipelines").unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidState(_)));
    }
}
