//! `huge-page`: `fetch` returns one page as large as the settings ask:
//! `{"records": N, "record_bytes": M}` (defaults [`DEFAULT_RECORDS`] and
//! [`DEFAULT_RECORD_BYTES`]). Record `i` is `{"i":<i>,"pad":"xxx…"}`,
//! padded so its JSON text is `M` bytes long (never shorter than with an
//! empty pad: 15 bytes plus the digits of `i`; the defaults make a page of
//! 20,888,890 bytes of records). With
//! `"has_more": true` the page says more follow, with state
//! `{"page":<n>}` counting the calls, so a sync never ends. `validate` is
//! benign.
//!
//! Exercises the host's limits on records and bytes per page (and on
//! pages per sync with `has_more`): the host must refuse the page rather
//! than buffer or forward it. The guest builds the page in its own memory
//! first (about M + 40 bytes per record, counting the allocator's overhead
//! and the list handed to the host), so very large settings hit the memory
//! limit instead.

use crate::common::HttpClient;
use crate::common::{
    self, ConnectorError, Credential, FetchRequest, Page, setting_bool, setting_u64,
};
use serde_json::{Value, json};

pub use crate::common::benign::validate;

/// The behaviour's name.
pub const NAME: &str = "huge-page";

/// Records per page unless the settings say `records`.
pub const DEFAULT_RECORDS: u64 = 1_000_000;

/// Bytes per record unless the settings say `record_bytes`.
pub const DEFAULT_RECORD_BYTES: u64 = 16;

/// One page of `records` records of `record_bytes` bytes.
pub fn fetch(
    _client: &mut dyn HttpClient,
    _credential: Credential,
    request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let settings = common::settings(&request)?;
    let too_big = |key: &str| ConnectorError::InvalidSettings(format!("`{key}` is too large"));
    let count = usize::try_from(setting_u64(&settings, "records", DEFAULT_RECORDS)?)
        .map_err(|_| too_big("records"))?;
    let record_bytes = usize::try_from(setting_u64(
        &settings,
        "record_bytes",
        DEFAULT_RECORD_BYTES,
    )?)
    .map_err(|_| too_big("record_bytes"))?;
    let has_more = setting_bool(&settings, "has_more")?;

    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        records.push(record(i, record_bytes));
    }
    let state = has_more.then(|| {
        let previous = request
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v["page"].as_u64())
            .unwrap_or(0);
        json!({ "page": previous + 1 }).to_string()
    });
    Ok(Page {
        records: common::of_first(records),
        state,
        has_more,
        cursors: if has_more { Vec::new() } else { vec![None] },
        notices: Vec::new(),
        skipped: Vec::new(),
    })
}

/// `{"i":<i>,"pad":"xxx…"}`, `len` bytes long if that is at least its
/// length with an empty pad.
fn record(i: usize, len: usize) -> String {
    const HEAD: &str = "{\"i\":";
    const MIDDLE: &str = ",\"pad\":\"";
    const TAIL: &str = "\"}";
    let number = i.to_string();
    let bare = HEAD.len() + number.len() + MIDDLE.len() + TAIL.len();
    let pad = len.saturating_sub(bare);
    let mut out = String::with_capacity(bare + pad);
    out.push_str(HEAD);
    out.push_str(&number);
    out.push_str(MIDDLE);
    out.extend(std::iter::repeat_n('x', pad));
    out.push_str(TAIL);
    out
}
