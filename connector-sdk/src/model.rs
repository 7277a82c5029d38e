//! Plain-Rust mirrors of the contract's data types (`ingest:connector/types`).
//!
//! The export glue ([`crate::export!`]) converts these one-to-one into the
//! generated WIT types, so a connector's logic and tests stay independent of
//! the bindings.

/// How a credential field is entered and treated (WIT `field-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Plain text, shown as typed.
    Text,
    /// A secret: masked, never logged, redacted by the host.
    Secret,
    /// An absolute http(s) URL.
    Url,
}

/// One field of the credential form (WIT `credential-field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialField {
    /// Stable key, used in the credential's pairs.
    pub key: String,
    /// Label shown next to the input.
    pub label: String,
    /// Help text: what the value is and where to get it.
    pub description: String,
    /// How the value is entered and treated.
    pub kind: FieldKind,
    /// Whether the form may be submitted without it.
    pub required: bool,
    /// The value used when the field is left empty.
    pub default_value: Option<String>,
}

/// The credential form (WIT `credential-spec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSpec {
    /// The form's fields, in display order.
    pub fields: Vec<CredentialField>,
    /// JSON Schema 2020-12 of the same object.
    pub json_schema: String,
}

/// Who a valid credential belongs to (WIT `account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The upstream's stable identifier of the account.
    pub id: String,
    /// A human-readable name (login or display name).
    pub name: String,
    /// The upstream's account object, as compact JSON.
    pub details: String,
}

/// How a stream can be synced (WIT `sync-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every sync reads everything.
    FullRefresh,
    /// A cursor carried between syncs makes the next read only what is new.
    Incremental,
}

/// One stream of the catalog (WIT `stream-spec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// The name a request lists it by.
    pub name: String,
    /// What the stream holds and how it is read.
    pub description: String,
    /// JSON Schema 2020-12 of one record.
    pub json_schema: String,
    /// Fields whose values together identify a record.
    pub primary_key: Vec<String>,
    /// The field incremental sync orders by, if any.
    pub cursor_field: Option<String>,
    /// The stream whose records this one is read through, if any.
    pub parent: Option<String>,
    /// The sync modes the stream supports.
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
    /// spent: skip the item it belongs to.
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
    /// A compact JSON object, as the upstream sent it plus any keys added.
    pub data: String,
}

/// What one `fetch` call returns (WIT `page`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<StreamRecord>,
    /// While `has_more`: where this sync resumes.
    pub state: Option<String>,
    /// Whether this sync has more to read.
    pub has_more: bool,
    /// Once `has_more` is false: each stream's new cursor, in the order of
    /// the request's streams (none for a stream that keeps nothing).
    pub cursors: Vec<Option<String>>,
    /// Things the operator should know; never secrets.
    pub notices: Vec<String>,
    /// Items skipped in this page: what, and the answer it got.
    pub skipped: Vec<String>,
}
