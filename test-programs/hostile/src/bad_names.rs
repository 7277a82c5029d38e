//! `bad-names`: a catalog whose stream names are paths: `items`, then
//! `../escaped`, `/tmp/hostile-absolute`, `jobs/../../up` and a name with a
//! terminal escape. `validate` and `fetch` are benign (`fetch` answers for
//! any stream name).
//!
//! Exercises the host's check of the catalog: names become file names
//! (`--out DIR/<stream>.jsonl`), so a catalog like this must be refused
//! before anything is written, and nothing may land outside `DIR`.

use crate::common::{StreamSpec, SyncMode};

pub use crate::common::benign::{fetch, validate};

/// The behaviour's name.
pub const NAME: &str = "bad-names";

/// The stream names of the catalog, in order.
pub const NAMES: &[&str] = &[
    "items",
    "../escaped",
    "/tmp/hostile-absolute",
    "jobs/../../up",
    "bell\u{7}\u{1b}[2J",
];

/// One full-refresh stream per name of [`NAMES`].
pub fn streams() -> Vec<StreamSpec> {
    NAMES
        .iter()
        .map(|name| StreamSpec {
            name: name.to_string(),
            description: "A stream named like a path.".into(),
            json_schema: r#"{"type":"object","properties":{"i":{"type":"integer"}}}"#.into(),
            primary_key: vec!["i".into()],
            cursor_field: None,
            parent: None,
            sync_modes: vec![SyncMode::FullRefresh],
        })
        .collect()
}
