//! Turning CircleCI's HTTP answers and transport failures into typed errors.
//!
//! Messages say what was being read and may quote CircleCI's own `message`
//! (cleaned and cut to [`QUOTE_MAX`] characters), never headers or the key.
//!
//! | answer | error | retry hint |
//! | --- | --- | --- |
//! | 2xx, body complete | none: the body is parsed ([`crate::json`]); invalid, cut-off or wrongly shaped JSON is `bad-response` | |
//! | 2xx, body shorter than `Content-Length`, or the body stream failed | `unavailable` | none |
//! | 401 | `unauthorized` | |
//! | 403 | `forbidden` | |
//! | 404 | `not-found` (a page token's is asked again, then restarts its listing: [`crate::engine`]) | |
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

/// Maps a non-2xx answer to an error; `Ok` for 2xx. `what` names what was
/// being read, e.g. "project gh/acme/api".
pub fn check_status(resp: &HttpResponse, what: &str) -> Result<(), ConnectorError> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let detail = match upstream_message(&resp.body) {
        Some(m) => format!(": {m}"),
        None => String::new(),
    };
    Err(match status {
        401 => {
            let stop = if detail.ends_with('.') { "" } else { "." };
            ConnectorError::Unauthorized(format!(
                "CircleCI rejected the API key while reading {what} (HTTP 401){detail}{stop} Use a personal API \
                 token (User Settings → Personal API Tokens); project tokens do not work with API v2"
            ))
        }
        403 => ConnectorError::Forbidden(format!(
            "the API key may not read {what} (HTTP 403){detail}"
        )),
        404 => ConnectorError::NotFound(format!("{what} was not found (HTTP 404){detail}")),
        429 => ConnectorError::RateLimited(RetryHint {
            retry_after_ms: retry_after_ms(resp),
            message: format!("CircleCI rate limit reached while reading {what} (HTTP 429){detail}"),
        }),
        // 408: the server gave up waiting for the request; a retry is the fix.
        408 | 500..=599 => ConnectorError::Unavailable(RetryHint {
            retry_after_ms: retry_after_ms(resp),
            message: format!("CircleCI answered HTTP {status} while reading {what}{detail}"),
        }),
        300..=399 => ConnectorError::BadResponse(format!(
            "CircleCI answered HTTP {status} (a redirect, which is not followed) while reading {what}; \
             check base_url"
        )),
        _ => ConnectorError::BadResponse(format!(
            "CircleCI answered HTTP {status} while reading {what}{detail}"
        )),
    })
}

/// CircleCI's explanation from an error body: the `message` of a JSON
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
    let date = || resp.header("date").and_then(crate::time::parse_http_date);
    if let Some(v) = resp.header("retry-after").map(str::trim) {
        if let Some(ms) = seconds_to_ms(v) {
            return Some(ms);
        }
        if let (Some(at), Some(now)) = (crate::time::parse_http_date(v), date()) {
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
mod tests {
    use super::*;
    use crate::http::resp;

    #[test]
    fn maps_each_status() {
        let what = "project gh/a/b";
        assert_eq!(check_status(&resp(200, &[], ""), what), Ok(()));
        let e = check_status(
            &resp(401, &[], r#"{"message":"Invalid token provided."}"#),
            what,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Unauthorized(
                "CircleCI rejected the API key while reading project gh/a/b (HTTP 401): Invalid token provided. \
                 Use a personal API token (User Settings → Personal API Tokens); project tokens do not work with API v2"
                    .into()
            )
        );
        let e =
            check_status(&resp(403, &[], r#"{"message":"Permission denied"}"#), what).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Forbidden(
                "the API key may not read project gh/a/b (HTTP 403): Permission denied".into()
            )
        );
        let e =
            check_status(&resp(404, &[], r#"{"message":"Project not found"}"#), what).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::NotFound(
                "project gh/a/b was not found (HTTP 404): Project not found".into()
            )
        );
        let e = check_status(
            &resp(500, &[], r#"{"message":"Internal server error."}"#),
            what,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Unavailable(RetryHint {
                retry_after_ms: None,
                message: "CircleCI answered HTTP 500 while reading project gh/a/b: Internal server error.".into()
            })
        );
        let e = check_status(
            &resp(503, &[("Retry-After", "7")], "<html>down</html>"),
            what,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Unavailable(RetryHint {
                retry_after_ms: Some(7000),
                message: "CircleCI answered HTTP 503 while reading project gh/a/b: (an HTML page)"
                    .into()
            })
        );
        let e = check_status(&resp(400, &[], r#"{"message":"bad page-token"}"#), what).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::BadResponse(
                "CircleCI answered HTTP 400 while reading project gh/a/b: bad page-token".into()
            )
        );
        let e = check_status(&resp(302, &[("Location", "https://x")], ""), what).unwrap_err();
        assert!(
            matches!(e, ConnectorError::BadResponse(m) if m.contains("redirect") && m.contains("base_url"))
        );
    }

    #[test]
    fn maps_the_three_429_bodies() {
        let what = "the account (/me)";
        for (body, detail) in [
            (
                r#"{"message":"Rate limit exceeded."}"#,
                ": Rate limit exceeded.",
            ),
            ("Rate limited.", ": Rate limited."),
            ("{}", ""),
            ("", ""),
            ("\u{0}\u{1}garbage\u{ff}", ": garbage\u{ff}"),
        ] {
            let e = check_status(&resp(429, &[("Retry-After", "30")], body), what).unwrap_err();
            assert_eq!(
                e,
                ConnectorError::RateLimited(RetryHint {
                    retry_after_ms: Some(30_000),
                    message: format!(
                        "CircleCI rate limit reached while reading the account (/me) (HTTP 429){detail}"
                    ),
                }),
                "{body:?}"
            );
        }
        let e = check_status(&resp(429, &[], "Rate limited."), what).unwrap_err();
        assert!(matches!(
            e,
            ConnectorError::RateLimited(RetryHint {
                retry_after_ms: None,
                ..
            })
        ));
        // Non-UTF-8 bodies never fail the mapping.
        let r = HttpResponse {
            status: 429,
            headers: vec![],
            body: vec![0xff, 0xfe, b'{'],
        };
        assert!(matches!(
            check_status(&r, what),
            Err(ConnectorError::RateLimited(_))
        ));
    }

    #[test]
    fn reads_retry_hints() {
        let ms = |h: &[(&str, &str)]| retry_after_ms(&resp(429, h, ""));
        assert_eq!(ms(&[("retry-after", "12")]), Some(12_000));
        assert_eq!(ms(&[("RETRY-AFTER", " 0 ")]), Some(0));
        assert_eq!(ms(&[("Retry-After", "1.5")]), Some(1_500));
        assert_eq!(
            ms(&[
                ("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("Date", "Sun, 06 Nov 1994 08:49:07 GMT")
            ]),
            Some(30_000)
        );
        assert_eq!(
            ms(&[
                ("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("Date", "Sun, 06 Nov 1994 08:50:00 GMT")
            ]),
            Some(0)
        );
        assert_eq!(
            ms(&[("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            None
        );
        assert_eq!(
            ms(&[("Retry-After", "soon"), ("RateLimit-Reset", "5")]),
            Some(5_000)
        );
        assert_eq!(ms(&[("X-RateLimit-Reset", "9")]), Some(9_000));
        assert_eq!(
            ms(&[
                ("X-RateLimit-Reset", "1706659223"),
                ("Date", "Wed, 31 Jan 2024 00:00:00 GMT")
            ]),
            Some(23_000)
        );
        assert_eq!(ms(&[("X-RateLimit-Reset", "1784111800")]), None);
        assert_eq!(ms(&[("Retry-After", "-1")]), None);
        assert_eq!(
            ms(&[("Retry-After", "99999999999999999999999")]),
            Some(u64::MAX)
        );
        assert_eq!(ms(&[]), None);
    }

    /// Every 429 body shape with every retry header: always `rate-limited`,
    /// the wait from the first header that gives one.
    #[test]
    fn rate_limits_with_every_body_and_header() {
        let date = ("Date", "Wed, 31 Jan 2024 00:00:00 GMT");
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let headers: [(Headers, Option<u64>); 7] = [
            (&[("Retry-After", "30")], Some(30_000)),
            (
                &[("Retry-After", "Wed, 31 Jan 2024 00:00:45 GMT"), date],
                Some(45_000),
            ),
            (&[("RateLimit-Reset", "12")], Some(12_000)),
            (&[("X-RateLimit-Reset", "7")], Some(7_000)),
            (&[("X-RateLimit-Reset", "1706659210"), date], Some(10_000)),
            (
                &[
                    ("RateLimit-Remaining", "0"),
                    ("X-RateLimit-Limit-Minute", "1000"),
                ],
                None,
            ),
            (&[], None),
        ];
        let bodies: [&[u8]; 7] = [
            br#"{"message":"Rate limit exceeded."}"#,
            b"Rate limited.",
            b"{}",
            b"",
            br#"{"message":"Rate li"#,
            b"<html><body>429</body></html>",
            &[0xc3, 0x28, 0xff],
        ];
        for (h, want) in headers {
            for body in bodies {
                let r = HttpResponse {
                    status: 429,
                    headers: h
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    body: body.to_vec(),
                };
                match check_status(&r, "w") {
                    Err(ConnectorError::RateLimited(hint)) => {
                        assert_eq!(hint.retry_after_ms, want, "{h:?} {body:?}")
                    }
                    other => panic!("{h:?} {body:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn server_errors_and_timeouts_are_unavailable() {
        for status in [408, 500, 502, 503, 504, 520, 599] {
            let e = check_status(&resp(status, &[("Retry-After", "2")], ""), "w").unwrap_err();
            assert_eq!(
                e,
                ConnectorError::Unavailable(RetryHint {
                    retry_after_ms: Some(2_000),
                    message: format!("CircleCI answered HTTP {status} while reading w"),
                })
            );
        }
        for status in [100, 204, 299] {
            let ok = check_status(&resp(status, &[], ""), "w");
            assert_eq!(ok.is_ok(), (200..300).contains(&status), "{status}");
        }
    }

    /// Dates far in the future saturate instead of overflowing.
    #[test]
    fn absurd_retry_dates_saturate() {
        let ms = retry_after_ms(&resp(
            429,
            &[
                ("Retry-After", "Sun, 06 Nov 4294967295 08:49:37 GMT"),
                ("Date", "Sun, 06 Nov 0000 08:49:37 GMT"),
            ],
            "",
        ));
        assert_eq!(ms, Some(u64::MAX));
    }

    #[test]
    fn short_bodies_are_cut_off_in_transit() {
        let check = |headers: &[(&str, &str)], body: &str| {
            check_complete(
                &resp(200, headers, body),
                "pipelines of project gh/a/b",
                "circleci.com",
            )
        };
        let e = check(&[("Content-Length", "40")], r#"{"items":["#).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Unavailable(RetryHint {
                retry_after_ms: None,
                message:
                    "the answer for pipelines of project gh/a/b from circleci.com was cut off \
                          (10 of 40 bytes)"
                        .into()
            })
        );
        assert!(check(&[("content-length", " 99999999999999999999999 ")], "{}").is_err());
        assert!(
            check(
                &[("Content-Length", "40"), ("Content-Encoding", "identity")],
                "{}"
            )
            .is_err()
        );
        // Whole, longer (decoded by the host), not a number, or encoded: not judged here.
        assert!(check(&[("Content-Length", "2")], "{}").is_ok());
        assert!(check(&[("Content-Length", "1")], "{}").is_ok());
        assert!(check(&[("Content-Length", "40, 40")], "{}").is_ok());
        assert!(
            check(
                &[("Content-Length", "40"), ("Content-Encoding", "gzip")],
                "{}"
            )
            .is_ok()
        );
        assert!(check(&[], "").is_ok());
    }

    #[test]
    fn long_messages_are_cut_and_cleaned() {
        let long = format!(r#"{{"message":"{}\nline"}}"#, "x".repeat(400));
        let m = upstream_message(long.as_bytes()).unwrap();
        assert_eq!(m.chars().count(), QUOTE_MAX + 1);
        assert!(m.ends_with('…') && !m.contains('\n'));
        assert_eq!(upstream_message(br#"{"message":"a\nb"}"#).unwrap(), "a b");
        assert_eq!(upstream_message(br#"{"error":"x"}"#), None);
        assert_eq!(upstream_message(b"[1]"), None);
    }

    #[test]
    fn maps_transport_errors() {
        let e = transport_error(
            TransportError::Denied(String::new()),
            "the account (/me)",
            "circleci.com",
        );
        assert_eq!(
            e,
            ConnectorError::Denied(
                "the host's policy does not allow requests to circleci.com (needed to read the account (/me))".into()
            )
        );
        for t in [
            TransportError::Timeout("ConnectionTimeout".into()),
            TransportError::Connection("ConnectionRefused".into()),
            TransportError::Protocol("HttpProtocolError".into()),
            TransportError::Other("x".into()),
        ] {
            let e = transport_error(t, "w", "h:1");
            assert!(
                matches!(
                    e,
                    ConnectorError::Unavailable(RetryHint {
                        retry_after_ms: None,
                        ..
                    })
                ),
                "{e:?}"
            );
        }
        let e = transport_error(TransportError::TooLarge, "w", "h");
        assert_eq!(
            e,
            ConnectorError::BadResponse("the answer for w is larger than 32 MiB".into())
        );
    }
}
