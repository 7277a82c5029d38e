//! Plain-Rust mirrors of the contract's data types (`ingest:connector/types`).
//!
//! The wasm export layer converts these one-to-one into the generated WIT
//! types, so all logic and tests can stay independent of the bindings.

/// How a credential field is entered and treated (WIT `field-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Secret,
    Url,
}

/// One field of the credential form (WIT `credential-field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialField {
    pub key: String,
    pub label: String,
    pub description: String,
    pub kind: FieldKind,
    pub required: bool,
    pub default_value: Option<String>,
}

/// The credential form (WIT `credential-spec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSpec {
    pub fields: Vec<CredentialField>,
    /// JSON Schema 2020-12 of the same object.
    pub json_schema: String,
}

/// Who a valid credential belongs to (WIT `account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The `/me` object as CircleCI returned it (compact JSON).
    pub details: String,
}

/// How a stream can be synced (WIT `sync-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

/// One stream of the catalog (WIT `stream-spec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub name: String,
    pub description: String,
    pub json_schema: String,
    pub primary_key: Vec<String>,
    pub cursor_field: Option<String>,
    pub parent: Option<String>,
    pub sync_modes: Vec<SyncMode>,
}

/// One call's worth of work (WIT `fetch-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The streams read together: one, or several of one tree.
    pub streams: Vec<String>,
    /// The settings JSON object; an empty string counts as `{}`.
    pub settings: String,
    /// The walk's state while a sync has more (see [`Page::state`]).
    pub state: Option<String>,
    /// Each stream's cursor from its last finished sync, in the order of
    /// `streams` (or empty: none for every stream).
    pub cursors: Vec<Option<String>>,
    /// Most requests in flight at once.
    pub concurrency: u32,
    /// The host's account of a request that failed until its retries were
    /// spent: skip the item it belongs to (see [`crate::engine`]).
    pub skip_failing: Option<String>,
}

impl FetchRequest {
    /// A request for `streams` with these settings, to start a sync that
    /// reads them in full, one request at a time.
    pub fn new(streams: &[&str], settings: &str) -> FetchRequest {
        FetchRequest {
            streams: streams.iter().map(|s| s.to_string()).collect(),
            settings: settings.to_string(),
            state: None,
            cursors: Vec::new(),
            concurrency: 1,
            skip_failing: None,
        }
    }
}

/// A record of one of the request's streams (WIT `stream-record`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The stream's index in the request.
    pub stream: u32,
    /// A compact JSON object, as CircleCI sent it plus any keys added.
    pub data: String,
}

/// What one `fetch` call returns (WIT `page`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<StreamRecord>,
    /// While `has_more`: where this sync resumes.
    pub state: Option<String>,
    /// Whether this sync has more to read.
    pub has_more: bool,
    /// Once `has_more` is false: each stream's new cursor, in the order of
    /// the request's streams (none for a stream that keeps nothing).
    pub cursors: Vec<Option<String>>,
    pub notices: Vec<String>,
    /// Items skipped in this page: what, and the answer it got.
    pub skipped: Vec<String>,
}
