//! `attack`: one component for the attacks a red team found against the
//! host, picked per call by the settings' `mode`:
//!
//! | mode | what `fetch` does | the host must |
//! | --- | --- | --- |
//! | `fields-clone` | builds one header map of `values` (default 100) values of `value_bytes` (default 16) bytes (about 9 KiB as wasmtime-wasi-http counts it), then clones it and deletes an absent name from the clone (which copies the whole map in the host), keeping every clone, forever | stop it at its handle limit (`host-resources`) with bounded host memory |
//! | `fields-big` | builds header maps of one `value_bytes` (default 120,000) byte value with `from-list`, keeping every one, forever | stop it at the header-map size limit (`header-bytes`) |
//! | `unsent-body` | opens a POST to `{base_url}/api/v2/me`, writes to its body without ever sending it, and blocks on the write | stop the call at its deadline (`call-time`), with no network at all |
//! | `big-body` | POSTs `body_mib` (default 512) MiB to `target` (default `{base_url}/upload`), streaming 4 KiB writes (the most one blocking write may take) | stop the body at the request-body limit |
//! | `slow-read` | GETs `target` with the SDK's client, which reads the whole body (up to its bound), however slowly it comes | stop the call at its deadline (`call-time`) |
//! | `escaped-key` | returns a record holding the api_key spelled with JSON `\u` escapes (on one line, and in a record spread over lines, which the host re-serialises), the same in its state and a notice | redact every spelling, before and after re-serialisation |
//! | `terminal` | fails with `bad-response` whose message carries ESC, BEL and CSI sequences (and a notice-only page first, when `notice` is true) | escape them before they reach a terminal |
//! | `big-state` | returns a page whose state is `state_bytes` (default 5 MiB) bytes, with `has-more` | refuse it as a page, so no state is saved that cannot be read back |
//! | `stream-index` | returns a last page with a record tagged with a stream index past the request's streams | refuse the page whole, never index its sinks with it |
//! | `cursor-count` | returns a last page with one cursor more than the request has streams | refuse the page whole |
//!
//! `validate` returns an account whose details (JSON) hold the api_key
//! spelled with `\u` escapes, and whose name holds it escaped too: the host
//! must redact both before it prints or re-serialises them.

use std::hint::black_box;

use connector_sdk::url::{Scheme as UrlScheme, Url};
use serde_json::{Map, Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

use crate::common::HttpClient;
use crate::common::{
    self, Account, ConnectorError, Credential, FetchRequest, Page, StreamRecord, base_url, field,
    setting_bool, setting_u64,
};

/// The behaviour's name.
pub const NAME: &str = "attack";

/// The api_key with every character a `\uXXXX` escape (so it appears in no
/// text the guest hands over, yet decodes to the key).
pub fn escaped(key: &str) -> String {
    key.chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

/// The account, with the api_key escaped in its details and name.
pub fn validate(
    _client: &mut dyn HttpClient,
    credential: Credential,
) -> Result<Account, ConnectorError> {
    let key = common::api_key(&credential)?;
    Ok(Account {
        id: "hostile".into(),
        name: format!("attack {}", escaped(key)),
        // Raw JSON text: the escapes are in the document itself.
        details: format!(r#"{{"behaviour":"attack","token":"{}"}}"#, escaped(key)),
    })
}

/// The attack the settings' `mode` names.
pub fn fetch(
    client: &mut dyn HttpClient,
    credential: Credential,
    request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let settings = common::settings(&request)?;
    let mode = settings
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match mode.as_str() {
        "fields-clone" => fields_clone(&settings),
        "fields-big" => fields_big(&settings),
        "unsent-body" => unsent_body(&credential),
        "big-body" => big_body(&credential, &settings),
        "slow-read" => slow_read(client, &credential, &settings),
        "escaped-key" => escaped_key(&credential),
        "terminal" => terminal(&settings, request.state.is_some()),
        "big-state" => big_state(&settings),
        "stream-index" => stream_index(&request),
        "cursor-count" => cursor_count(&request),
        other => Err(ConnectorError::InvalidSettings(format!(
            "unknown mode {other:?}"
        ))),
    }
}

fn too_big(key: &str) -> ConnectorError {
    ConnectorError::InvalidSettings(format!("`{key}` is too large"))
}

fn setting_usize(
    settings: &Map<String, Value>,
    key: &str,
    default: u64,
) -> Result<usize, ConnectorError> {
    usize::try_from(setting_u64(settings, key, default)?).map_err(|_| too_big(key))
}

/// Clone-and-mutate a header map forever, keeping every copy.
fn fields_clone(settings: &Map<String, Value>) -> Result<Page, ConnectorError> {
    let values = setting_usize(settings, "values", 100)?;
    let value = vec![b'v'; setting_usize(settings, "value_bytes", 16)?];
    let base = Fields::new();
    for i in 0..values {
        base.append(&format!("x-attack-{i}"), &value)
            .map_err(|e| ConnectorError::BadResponse(format!("append: {e:?}")))?;
    }
    let mut kept = Vec::new();
    loop {
        let copy = base.clone();
        // Deleting an absent name still makes the host copy the map.
        black_box(copy.delete("x-absent"));
        kept.push(copy);
    }
}

/// Ever more large header maps, every one kept.
fn fields_big(settings: &Map<String, Value>) -> Result<Page, ConnectorError> {
    let value = vec![b'v'; setting_usize(settings, "value_bytes", 120_000)?];
    let entries = vec![("x-attack".to_string(), value)];
    let mut kept = Vec::new();
    loop {
        match Fields::from_list(&entries) {
            Ok(fields) => kept.push(fields),
            Err(e) => {
                black_box(e);
            }
        }
    }
}

/// A request of `method` to `url` with a body handle, not yet sent.
fn request(method: Method, url: &str) -> Result<(OutgoingRequest, OutgoingBody), ConnectorError> {
    let url = Url::parse(url)
        .map_err(|e| ConnectorError::InvalidSettings(format!("not a URL ({e:?})")))?;
    let scheme = match url.scheme {
        UrlScheme::Http => Scheme::Http,
        UrlScheme::Https => Scheme::Https,
    };
    let request = OutgoingRequest::new(Fields::new());
    let refused = |what: &str| ConnectorError::BadResponse(format!("the {what} was refused"));
    request
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(&url.authority()))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(&url.path_with_query()))
        .map_err(|()| refused("path"))?;
    let body = request.body().map_err(|()| refused("body"))?;
    Ok((request, body))
}

/// Writes to the body of a request that is never sent: nothing ever reads
/// it, so the write blocks forever.
fn unsent_body(credential: &Credential) -> Result<Page, ConnectorError> {
    let url = format!("{}/api/v2/me", base_url(credential));
    let (request, body) = request(Method::Post, &url)?;
    let stream = body
        .write()
        .map_err(|()| ConnectorError::BadResponse("no stream".into()))?;
    let chunk = vec![b'x'; 4096];
    loop {
        if stream.blocking_write_and_flush(&chunk).is_err() {
            // Not expected: nothing closes the stream. Keep the request
            // alive and spin on the same wait.
            black_box(&request);
        }
    }
}

/// A large request body, streamed in 4 KiB writes.
fn big_body(
    credential: &Credential,
    settings: &Map<String, Value>,
) -> Result<Page, ConnectorError> {
    let target = settings
        .get("target")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/upload", base_url(credential)));
    let mib = setting_u64(settings, "body_mib", 512)?;
    let (request, body) = request(Method::Post, &target)?;
    let future = outgoing_handler::handle(request, None).map_err(|e| {
        ConnectorError::Unavailable(common::RetryHint {
            retry_after_ms: None,
            message: format!("{e:?}"),
        })
    })?;
    let stream = body
        .write()
        .map_err(|()| ConnectorError::BadResponse("no stream".into()))?;
    let chunk = vec![b'x'; 4096];
    let mut sent: u64 = 0;
    let mut failed = false;
    while sent < mib * 1024 * 1024 {
        if stream.blocking_write_and_flush(&chunk).is_err() {
            failed = true;
            break;
        }
        sent += chunk.len() as u64;
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
    let outcome = loop {
        match future.get() {
            Some(outcome) => break outcome,
            None => future.subscribe().block(),
        }
    };
    Ok(common::last_page(vec![
        json!({
            "i": 0,
            "sent": sent,
            "write_failed": failed,
            "answered": matches!(outcome, Ok(Ok(_))),
        })
        .to_string(),
    ]))
}

/// Reads all of `target`'s body, however long it takes.
fn slow_read(
    client: &mut dyn HttpClient,
    credential: &Credential,
    settings: &Map<String, Value>,
) -> Result<Page, ConnectorError> {
    let target = settings
        .get("target")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/api/v2/me", base_url(credential)));
    let response = client
        .get(&target, &[])
        .map_err(|e| ConnectorError::BadResponse(e.to_string()))?;
    Ok(common::last_page(vec![
        json!({ "i": 0, "bytes": response.body.len() }).to_string(),
    ]))
}

/// The api_key escaped in a one-line record, a record spread over lines,
/// the state and a notice.
fn escaped_key(credential: &Credential) -> Result<Page, ConnectorError> {
    let key = escaped(field(credential, "api_key").unwrap_or(""));
    Ok(Page {
        records: common::of_first(vec![
            format!(r#"{{"i":0,"token":"{key}"}}"#),
            format!("{{\n  \"i\": 1,\n  \"token\": \"{key}\"\n}}"),
        ]),
        state: None,
        has_more: false,
        cursors: vec![None],
        notices: vec![format!("using {key}")],
        skipped: vec![format!("item {key}: gone")],
    })
}

/// Terminal control sequences in a notice and an error.
fn terminal(settings: &Map<String, Value>, called_before: bool) -> Result<Page, ConnectorError> {
    const SEQUENCES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31m\u{9b}1m\u{7}\u{202e}txt.exe";
    if setting_bool(settings, "notice")? && !called_before {
        return Ok(Page {
            records: common::of_first(vec![json!({ "i": 0 }).to_string()]),
            state: Some("{}".into()),
            has_more: true,
            cursors: Vec::new(),
            notices: vec![format!("look: {SEQUENCES}")],
            skipped: vec![format!("item {SEQUENCES}: gone")],
        });
    }
    Err(ConnectorError::BadResponse(format!(
        "the upstream said {SEQUENCES}\nsecond line"
    )))
}

/// A page whose state is `state_bytes` bytes.
fn big_state(settings: &Map<String, Value>) -> Result<Page, ConnectorError> {
    let bytes = setting_usize(settings, "state_bytes", 5 * 1024 * 1024)?;
    let pad = "s".repeat(bytes.saturating_sub(10));
    Ok(Page {
        records: common::of_first(vec![json!({ "i": 0 }).to_string()]),
        state: Some(json!({ "p": pad }).to_string()),
        has_more: true,
        cursors: Vec::new(),
        notices: Vec::new(),
        skipped: Vec::new(),
    })
}

/// A record tagged with a stream index past the request's streams (and one
/// of the first stream): the host must not trust the index.
fn stream_index(request: &FetchRequest) -> Result<Page, ConnectorError> {
    let mut records = common::of_first(vec![json!({ "i": 0 }).to_string()]);
    records.push(StreamRecord {
        stream: u32::try_from(request.streams.len()).unwrap_or(u32::MAX),
        data: json!({ "i": 1 }).to_string(),
    });
    Ok(Page {
        records,
        cursors: vec![None; request.streams.len()],
        ..common::last_page(Vec::new())
    })
}

/// A last page with one cursor more than the request has streams.
fn cursor_count(request: &FetchRequest) -> Result<Page, ConnectorError> {
    Ok(Page {
        cursors: vec![Some("{}".into()); request.streams.len() + 1],
        ..common::last_page(vec![json!({ "i": 0 }).to_string()])
    })
}
