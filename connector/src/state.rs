//! The states this connector hands the host: the walk's state while a sync
//! has more, and each stream's cursor between syncs. Their format is the
//! SDK's traversal engine's ([`connector_sdk::engine::state`], whose docs
//! hold it); this module holds what of them is CircleCI's own, and names
//! the engine's types for it:
//!
//! ```text
//! walk:   {"v":2,"streams":["jobs","tests"],"fp":"3f9c0d1e2a4b5c6d","run":{…}}
//! cursor: {"v":1,"stream":"jobs","fp":"3f9c0d1e2a4b5c6d","cursor":{…}}
//! ```
//!
//! - [`Item`], an item of a listing's chain: its id, and what the listings
//!   under it need (a pipeline's `created_at`, a workflow's `created_at`
//!   and `stopped_at`, a job's number).
//! - [`Discovery`], project discovery under way (see [`crate::walk`]),
//!   kept in the walk state as `disc`.
//!
//! Roots are keyed by their canonical project slug, or organisation slug.
//! A cursor's format is the final state of version 1 of this connector, so
//! those still load.

pub use connector_sdk::engine::state::{
    Found, MAX_DEPTH, MAX_ID_LEN, MAX_OPEN, MAX_PENDING, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN,
    Marks, RootAcc, usable_id,
};
use connector_sdk::engine::{self, Progress};
pub use connector_sdk::state::Stamp;
use serde::{Deserialize, Serialize};

/// The state of an unfinished walk: `{"v":2,"streams":[…],"fp":…,"run":{…}}`.
pub type WalkState = engine::WalkState<Item, Discovery>;
/// Where an unfinished walk stands.
pub type Run = engine::Run<Item, Discovery>;
/// One listing being read.
pub type Listing = engine::Listing<Item>;
/// An item a sync skipped, kept for the next one to try once more.
pub type Pending = engine::Pending<Item>;
/// A stream's cursor: `{"v":1,"stream":…,"fp":…,"cursor":{…}}`.
pub type CursorState = engine::CursorState<Item>;
/// Where the next sync of an incremental stream starts (per project, by
/// canonical slug).
pub type Cursor = engine::Cursor<Item>;

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// An item whose listing is read, with what its children need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Pipeline, workflow, job or context id; insights workflow name.
    pub id: String,
    /// A pipeline's `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Stamp>,
    /// A workflow's `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<Stamp>,
    /// A workflow's `stopped_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<Stamp>,
    /// A job's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

impl engine::Item for Item {
    fn new(id: String) -> Item {
        Item {
            id,
            ..Item::default()
        }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// Project discovery under way: which organisation is being scanned, where,
/// and the projects found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// The organisations to scan; absent until `/me/collaborations` is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Vec<String>>,
    /// Index of the organisation being scanned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub o: usize,
    /// Token of its next page of pipelines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
    /// Pages of its pipelines read so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: u64,
    /// Canonical slugs of the projects found, in order of first appearance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
    /// Restarts of the current organisation's scan.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub r: u8,
    /// 404s in a row of `t`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub s: u8,
}

impl Progress for Discovery {
    /// Bounded like a listing's: a token that fits the state, strikes only
    /// on a token, counters within their limits, usable slugs.
    fn check(&self) -> bool {
        let token_ok = self
            .t
            .as_ref()
            .is_none_or(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN);
        let strikes_ok = self.s <= MAX_STRIKES && (self.s == 0 || self.t.is_some());
        token_ok && self.found.iter().all(|s| usable_id(s)) && self.r <= MAX_RESTARTS && strikes_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConnectorError;
    use crate::settings::FINGERPRINTED;
    use crate::time::parse_ts;

    const FP: &str = "0123456789abcdef";

    fn err(r: Result<impl std::fmt::Debug, ConnectorError>) -> String {
        match r {
            Err(ConnectorError::InvalidState(m)) => m,
            other => panic!("expected invalid-state, got {other:?}"),
        }
    }

    fn streams(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn walk_states_round_trip_compactly() {
        let ts = Stamp(parse_ts("2026-05-01T12:00:00.120Z").unwrap());
        let run = Run {
            next: 1,
            open: vec![Listing {
                r: 0,
                k: 3,
                h: vec![
                    Item {
                        id: "p1".into(),
                        at: Some(ts),
                        ..Item::default()
                    },
                    Item {
                        id: "w1".into(),
                        c: Some(ts),
                        ..Item::default()
                    },
                ],
                t: Some("tok\"en/+=".into()),
                n: 20,
                s: 1,
                ..Listing::default()
            }],
            seen: [Some(ts), None, None, None],
            ..Run::default()
        };
        let s = WalkState::new(&streams(&["jobs", "tests"]), FP.into(), run);
        let text = s.encode();
        assert_eq!(
            text,
            r#"{"v":2,"streams":["jobs","tests"],"fp":"0123456789abcdef","run":{"next":1,"items":[{"id":"p1","at":"2026-05-01T12:00:00.120Z"},{"id":"w1","c":"2026-05-01T12:00:00.120Z"}],"open":[{"r":0,"k":3,"h":[0,1],"t":"tok\"en/+=","n":20,"s":1}],"seen":["2026-05-01T12:00:00.120Z",null,null,null]}}"#
        );
        assert_eq!(
            WalkState::decode(&text, &streams(&["jobs", "tests"]), FP, FINGERPRINTED).unwrap(),
            s
        );
        // Another set of streams, other settings: refused.
        assert!(
            err(WalkState::decode(
                &text,
                &streams(&["jobs"]),
                FP,
                FINGERPRINTED
            ))
            .contains("a walk of")
        );
        assert!(
            err(WalkState::decode(
                &text,
                &streams(&["jobs", "tests"]),
                "x",
                FINGERPRINTED
            ))
            .contains("settings")
        );
    }

    #[test]
    fn cursors_of_version_1_still_load() {
        // The final state version 1 of this connector wrote.
        let v1 = r#"{"v":1,"stream":"jobs","fp":"0123456789abcdef","cursor":{"as_of":"2026-05-01T12:00:00.120Z","projects":{"gh/a/b":{"hwm":"2026-05-01T12:00:00Z"}}}}"#;
        let cursor = CursorState::decode(v1, "jobs", FP, FINGERPRINTED).unwrap();
        assert_eq!(cursor.roots.len(), 1);
        assert_eq!(
            cursor.as_of,
            Some(Stamp(parse_ts("2026-05-01T12:00:00.120Z").unwrap()))
        );
        let again = CursorState::new("jobs", FP.into(), cursor.clone()).encode();
        assert_eq!(
            CursorState::decode(&again, "jobs", FP, FINGERPRINTED).unwrap(),
            cursor
        );
        assert!(
            err(CursorState::decode(v1, "tests", FP, FINGERPRINTED))
                .contains("belongs to the stream `jobs`")
        );
    }

    #[test]
    fn rejects_foreign_states() {
        let walk =
            |run: &str| format!(r#"{{"v":2,"streams":["pipelines"],"fp":"{FP}","run":{run}}}"#);
        let s = streams(&["pipelines"]);
        for text in [
            "".to_string(),
            "garbage".into(),
            "[]".into(),
            "null".into(),
            r#"{"streams":["pipelines"]}"#.into(),
            walk(r#"{"x":1}"#),
            walk(r#"{"open":[{"r":0,"k":1,"q":1}]}"#),
            walk(r#"{"seen":["yesterday",null,null,null]}"#),
        ] {
            assert!(
                err(WalkState::decode(&text, &s, FP, FINGERPRINTED))
                    .contains("not one this connector wrote"),
                "{text}"
            );
        }
        assert!(
            err(WalkState::decode(
                r#"{"v":1,"stream":"pipelines"}"#,
                &s,
                FP,
                FINGERPRINTED
            ))
            .contains("version 1")
        );
        for run in [
            r#"{"open":[{"r":0,"k":1,"t":""}]}"#,
            r#"{"items":[{"id":""}],"open":[{"r":0,"k":1,"h":[0]}]}"#,
            r#"{"open":[{"r":0,"k":1,"s":4,"t":"x"}]}"#,
            r#"{"open":[{"r":0,"k":1,"s":1}]}"#,
            r#"{"open":[{"r":0,"k":1,"x":4}]}"#,
            r#"{"items":[{"id":".."}],"open":[{"r":0,"k":1,"h":[0]}]}"#,
            r#"{"items":[{"id":"a"}],"open":[{"r":0,"k":1,"h":[0,0,0,0]}]}"#,
            r#"{"roots":["a"],"next":2}"#,
            r#"{"roots":["gh//a"]}"#,
            r#"{"disc":{},"roots":[]}"#,
            r#"{"disc":{"t":"x","s":4}}"#,
            r#"{"disc":{"s":1}}"#,
            r#"{"disc":{"r":4}}"#,
            r#"{"roots":["a"],"oid":["1","2"]}"#,
        ] {
            assert!(
                err(WalkState::decode(&walk(run), &s, FP, FINGERPRINTED)).contains("out of bounds"),
                "{run}"
            );
        }
    }
}
