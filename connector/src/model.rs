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
    pub stream: String,
    /// The settings JSON object; an empty string counts as `{}`.
    pub settings: String,
    pub state: Option<String>,
    /// The host's account of a request that failed until its retries were
    /// spent: skip the item it belongs to (see [`crate::engine`]).
    pub skip_failing: Option<String>,
}

/// What one `fetch` call returns (WIT `page`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Records, each a compact JSON object exactly as CircleCI sent it.
    pub records: Vec<String>,
    /// The checkpoint to save and pass to the next call. While `has_more`
    /// it is where this sync resumes; afterwards it is where the next sync
    /// starts (an incremental watermark), or `None` when nothing is kept.
    pub state: Option<String>,
    /// Whether this sync has more to read.
    pub has_more: bool,
    pub notices: Vec<String>,
    /// Items skipped in this page: what, and the answer it got.
    pub skipped: Vec<String>,
}

impl Page {
    /// A page of a full-refresh stream: the sync goes on while there is a
    /// resume point, and nothing is kept once it is done.
    pub fn full_refresh(records: Vec<String>, resume: Option<String>) -> Page {
        Page {
            records,
            has_more: resume.is_some(),
            state: resume,
            notices: Vec::new(),
            skipped: Vec::new(),
        }
    }
}
