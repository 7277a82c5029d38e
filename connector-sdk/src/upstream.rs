//! Turning an upstream's HTTP answers and transport failures into typed
//! errors, with the vendor's wording left to the connector ([`Vendor`]).
//!
//! Messages say what was being read and may quote the upstream's own
//! `message` (cleaned and cut to [`QUOTE_MAX`] characters), never headers
//! or the credential.
//!
//! | answer | error | retry hint |
//! | --- | --- | --- |
//! | 2xx, body complete | none: the connector parses the body; invalid, cut-off or wrongly shaped JSON should be `bad-response` | |
//! | 2xx, body shorter than `Content-Length`, or the body stream failed | `unavailable` | none |
//! | 401 | `unauthorized` | |
//! | 403 | `forbidden` | |
//! | 404 | `not-found` | |
//! | 429, any body (JSON, plain text, `{}`, empty, cut off, not UTF-8) | `rate-limited` | [`retry_after_ms`] |
//! | 408, 5xx, any body | `unavailable` | [`retry_after_ms`] |
//! | 3xx (redirects are not followed), other 4xx, 1xx | `bad-response` | |
//! | timeout, connection refused/reset, TLS, broken HTTP, other transport failure | `unavailable` | none |
//! | the host's policy refused the destination | `denied` | |
//! | 2xx body over [`MAX_BODY_BYTES`] or the host's limit (of another status, the status decides) | `bad-response` | |
//!
//! A body cut off in transit is told apart from one that is complete but
//! not valid JSON by who notices: the HTTP layer (a stream error, fewer
//! bytes than `Content-Length`) makes it a transport failure, which a retry
//! is likely to fix, so `unavailable`; a body the HTTP layer delivered whole
//! but that does not parse is what the upstream sent, so `bad-response`.
//! Either way it is an error, never an empty or last page.

use crate::error::{ConnectorError, QUOTE_MAX, RetryHint, quote};
use crate::http::{HttpResponse, MAX_BODY_BYTES, TransportError};
use crate::time::parse_http_date;

/// The vendor's wording in the messages of [`Vendor::check_status`]: the
/// one part of the mapping that differs between connectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// The upstream's name, e.g. `"Acme"`, as in "Acme answered HTTP 500
    /// while reading …".
    pub name: &'static str,
    /// The credential as messages name it, e.g. `"the API key"`, as in
    /// "the API key may not read … (HTTP 403)".
    pub credential: &'static str,
    /// Advice appended to a 401's message (which credential works, where to
    /// get one); empty for none.
    pub on_unauthorized: &'static str,
    /// Advice appended to a redirect's message (redirects are not
    /// followed), e.g. which setting to check; empty for none.
    pub on_redirect: &'static str,
}

impl Vendor {
    /// Maps a non-2xx answer to an error; `Ok` for 2xx. `what` names what
    /// was being read, e.g. "project gh/acme/api".
    pub fn check_status(&self, resp: &HttpResponse, what: &str) -> Result<(), ConnectorError> {
        let status = resp.status;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let Vendor {
            name, credential, ..
        } = *self;
        let detail = match upstream_message(&resp.body) {
            Some(m) => format!(": {m}"),
            None => String::new(),
        };
        Err(match status {
            401 => {
                let advice = if self.on_unauthorized.is_empty() {
                    String::new()
                } else {
                    let stop = if detail.ends_with('.') { "" } else { "." };
                    format!("{stop} {}", self.on_unauthorized)
                };
                ConnectorError::Unauthorized(format!(
                    "{name} rejected {credential} while reading {what} (HTTP 401){detail}{advice}"
                ))
            }
            403 => ConnectorError::Forbidden(format!(
                "{credential} may not read {what} (HTTP 403){detail}"
            )),
            404 => ConnectorError::NotFound(format!("{what} was not found (HTTP 404){detail}")),
            429 => ConnectorError::RateLimited(RetryHint {
                retry_after_ms: retry_after_ms(resp),
                message: format!(
                    "{name} rate limit reached while reading {what} (HTTP 429){detail}"
                ),
            }),
            // 408: the server gave up waiting for the request; a retry is the fix.
            408 | 500..=599 => ConnectorError::Unavailable(RetryHint {
                retry_after_ms: retry_after_ms(resp),
                message: format!("{name} answered HTTP {status} while reading {what}{detail}"),
            }),
            300..=399 => {
                let advice = if self.on_redirect.is_empty() {
                    String::new()
                } else {
                    format!("; {}", self.on_redirect)
                };
                ConnectorError::BadResponse(format!(
                    "{name} answered HTTP {status} (a redirect, which is not followed) while reading \
                     {what}{advice}"
                ))
            }
            _ => ConnectorError::BadResponse(format!(
                "{name} answered HTTP {status} while reading {what}{detail}"
            )),
        })
    }
}

/// The upstream's explanation from an error body: the `message` of a JSON
/// object, or the text of a plain-text body. `{}`, empty bodies and bodies
/// that are not text give `None`. Never fails.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let text = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => match map.get("message") {
            Some(serde_json::Value::String(m)) => m.trim().to_string(),
            _ => return None,
        },
        Ok(serde_json::Value::String(s)) => s.trim().to_string(),
        Ok(_) => return None,
        // A proxy's error page says nothing useful and would flood logs.
        Err(_) if text.starts_with('<') => return Some("(an HTML page)".to_string()),
        Err(_) => text.to_string(),
    };
    let text = quote(&text, QUOTE_MAX);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// How long to wait, from `Retry-After` (seconds, or an HTTP-date measured
/// against the answer's `Date`), else `RateLimit-Reset` / `X-RateLimit-Reset`
/// (seconds; a value that looks like a Unix time is measured against `Date`).
pub fn retry_after_ms(resp: &HttpResponse) -> Option<u64> {
    let date = || resp.header("date").and_then(parse_http_date);
    if let Some(v) = resp.header("retry-after").map(str::trim) {
        if let Some(ms) = seconds_to_ms(v) {
            return Some(ms);
        }
        if let (Some(at), Some(now)) = (parse_http_date(v), date()) {
            // Saturating: a date in the year 4,000,000,000 parses.
            return Some(((at - now).max(0) as u64).saturating_mul(1000));
        }
    }
    for name in ["ratelimit-reset", "x-ratelimit-reset"] {
        let Some(ms) = resp.header(name).and_then(|v| seconds_to_ms(v.trim())) else {
            continue;
        };
        // Some servers send the reset moment as a Unix time rather than a delay.
        if ms >= 1_000_000_000_000 {
            if let Some(now) = date() {
                return Some((ms / 1000).saturating_sub(now.max(0) as u64) * 1000);
            }
            continue;
        }
        return Some(ms);
    }
    None
}

/// `"12"` → 12000, `"1.5"` → 1500. `None` for anything else.
fn seconds_to_ms(v: &str) -> Option<u64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = int.parse().ok().unwrap_or(u64::MAX);
    let millis: u64 = frac
        .bytes()
        .chain(*b"000")
        .take(3)
        .fold(0, |n, b| n * 10 + (b - b'0') as u64);
    Some(secs.saturating_mul(1000).saturating_add(millis))
}

/// Checks that a 2xx answer's body is as long as its `Content-Length` says:
/// a shorter body was cut off in transit (`unavailable`), and must never be
/// parsed as if it were whole. Only an identity-coded body is checked (a
/// host that decodes a compressed body may leave the header as sent), and
/// only for being too short (a decoded body is longer).
pub fn check_complete(
    resp: &HttpResponse,
    what: &str,
    authority: &str,
) -> Result<(), ConnectorError> {
    let coded = resp
        .header("content-encoding")
        .is_some_and(|c| !c.trim().eq_ignore_ascii_case("identity"));
    let declared = resp
        .header("content-length")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    match declared {
        Some(n) if !coded && (resp.body.len() as u64) < n => {
            Err(ConnectorError::Unavailable(RetryHint {
                retry_after_ms: None,
                message: format!(
                    "the answer for {what} from {authority} was cut off ({} of {n} bytes)",
                    resp.body.len()
                ),
            }))
        }
        _ => Ok(()),
    }
}

/// Maps a transport failure. `authority` is the upstream's `host[:port]`.
pub fn transport_error(err: TransportError, what: &str, authority: &str) -> ConnectorError {
    let d = |detail: String| {
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", quote(&detail, QUOTE_MAX))
        }
    };
    let retry = |message: String| {
        ConnectorError::Unavailable(RetryHint {
            retry_after_ms: None,
            message,
        })
    };
    match err {
        TransportError::Denied(x) => ConnectorError::Denied(format!(
            "the host's policy does not allow requests to {authority} (needed to read {what}){}",
            d(x)
        )),
        TransportError::Timeout(x) => retry(format!(
            "the request to {authority} for {what} timed out{}",
            d(x)
        )),
        TransportError::Connection(x) => retry(format!(
            "could not connect to {authority} to read {what}{}",
            d(x)
        )),
        TransportError::Protocol(x) => retry(format!(
            "the HTTP exchange with {authority} for {what} failed{}",
            d(x)
        )),
        TransportError::TooLarge => ConnectorError::BadResponse(format!(
            "the answer for {what} is larger than {} MiB",
            MAX_BODY_BYTES >> 20
        )),
        TransportError::Other(x) => retry(format!(
            "the request to {authority} for {what} failed{}",
            d(x)
        )),
    }
}

#[cfg(test)]
mod tests;
