//! `forgetful`: keeps in its instance's memory what belongs in its state,
//! and forgets its cursor. Its one stream, `items` (incremental, cursor
//! field `i`), lists [`ITEMS`] numbered items `{"i": <n>}` as if it read
//! them from an upstream in pages of [`UPSTREAM_PAGE`], and returns at most
//! [`PAGE`] records per call: the rest of an upstream page waits in a
//! static buffer while the state, `{"next": <upstream page>}`, already
//! points past it. The last page's cursor is `{"last": <n>}`, which the
//! next sync is given and ignores. So:
//! - a sync that runs in one instance returns every item once;
//! - a sync resumed in a fresh instance (after a crash) from a state saved
//!   while the buffer held items never returns those items;
//! - a second sync from the final state returns every item again,
//!   unchanged.
//!
//! `validate` is benign; no request is made. The host cannot see either
//! fault (every page it gets is well formed): `connector-harness conform`
//! must, in `resume_loses_nothing` and `incremental_second_sync`.

use std::sync::Mutex;

use crate::common::{
    self, ConnectorError, Credential, FetchRequest, HttpClient, Page, StreamSpec, SyncMode,
};
use serde_json::{Value, json};

pub use crate::common::benign::validate;

/// The behaviour's name.
pub const NAME: &str = "forgetful";

/// Items the stream lists.
pub const ITEMS: u64 = 24;

/// Items per page of the pretended upstream.
pub const UPSTREAM_PAGE: u64 = 6;

/// Records per call.
pub const PAGE: usize = 3;

/// The rest of the upstream page being read: kept in the instance, which
/// is what the contract forbids (the guest keeps nothing between calls).
static BUFFER: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The catalog: `items`, incremental on `i`.
pub fn streams() -> Vec<StreamSpec> {
    vec![StreamSpec {
        name: common::STREAM.into(),
        description: "Numbered items, read in pages, incrementally by number.".into(),
        json_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"i":{"type":"integer"}},"required":["i"]}"#.into(),
        primary_key: vec!["i".into()],
        cursor_field: Some("i".into()),
        parent: None,
        sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
    }]
}

/// Up to [`PAGE`] items: from the buffer, else from the next upstream
/// page (the rest of which is buffered).
pub fn fetch(
    _client: &mut dyn HttpClient,
    _credential: Credential,
    request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let mut next = match request.state.as_deref() {
        None => 0,
        Some(text) => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("next").and_then(Value::as_u64))
            .ok_or_else(|| ConnectorError::InvalidState("not a forgetful state".into()))?,
    };
    let mut buffer = BUFFER.lock().unwrap_or_else(|p| p.into_inner());
    if request.state.is_none() {
        // A sync from the start: whatever an earlier one left is stale.
        buffer.clear();
    }
    if buffer.is_empty() && next * UPSTREAM_PAGE < ITEMS {
        buffer.extend(next * UPSTREAM_PAGE..((next + 1) * UPSTREAM_PAGE).min(ITEMS));
        next += 1;
    }
    let take = buffer.len().min(PAGE);
    let records: Vec<String> = buffer
        .drain(..take)
        .map(|i| json!({ "i": i }).to_string())
        .collect();
    let done = buffer.is_empty() && next * UPSTREAM_PAGE >= ITEMS;
    let cursor = json!({ "last": ITEMS - 1 }).to_string();
    Ok(Page {
        records: common::of_first(records),
        state: (!done).then(|| json!({ "next": next }).to_string()),
        has_more: !done,
        cursors: if done {
            request
                .streams
                .iter()
                .map(|_| Some(cursor.clone()))
                .collect()
        } else {
            Vec::new()
        },
        notices: Vec::new(),
        skipped: Vec::new(),
    })
}
