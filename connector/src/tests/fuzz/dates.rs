//! Dates and retry headers: RFC 3339 timestamps (records, settings, state),
//! HTTP-dates (`Date`, `Retry-After`) and the rate-limit headers.

use super::config;
use crate::http::HttpResponse;
use crate::time::{NANOS, Ts, format_ts, parse_http_date, parse_rfc3339, parse_ts};
use crate::upstream::{check_status, retry_after_ms};
use crate::{ConnectorError, RetryHint};
use proptest::prelude::*;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The IMF-fixdate of Unix second `secs` (years 0 to 9999).
fn http_date(secs: i64) -> String {
    let iso = format_ts(secs * NANOS);
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let weekday = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    let month = MONTHS[m.parse::<usize>().unwrap() - 1];
    format!("{weekday}, {d} {month} {y} {} GMT", &iso[11..19])
}

/// Seconds from 1970 to 2200: dates a server may send.
fn plausible_secs() -> impl Strategy<Value = i64> {
    0i64..7_258_118_400
}

/// Header-value-like text around dates and numbers.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}",
        "[0-9]{0,6}\\.[0-9]{0,6}",
        "-[0-9]{1,4}",
        " [0-9]{1,3} ",
        plausible_secs().prop_map(http_date),
        "[A-Za-z]{3}, [0-9]{1,12} [A-Za-z]{3} [0-9]{1,12} [0-9:]{8} GMT",
        "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    /// Every instant a state can hold is written and read back exactly.
    #[test]
    fn instants_round_trip(ts in any::<i64>()) {
        let text = format_ts(ts);
        prop_assert_eq!(parse_ts(&text), Some(ts), "{}", text);
    }

    /// Any text parses as RFC 3339 or not, never panics; what parses is
    /// consistent between the seconds and the precise form.
    #[test]
    fn rfc3339_never_panics(s in prop_oneof![
        any::<String>(),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?",
        "[0-9-]{10}T[0-9:]{8}\\PC{0,12}",
    ]) {
        let secs = parse_rfc3339(&s);
        match parse_ts(&s) {
            Some(ts) => prop_assert_eq!(Some(ts.div_euclid(NANOS)), secs),
            // Outside the nanosecond range (1677 to 2262), or not a date.
            None => prop_assert!(secs.is_none_or(|s| !(-9_223_372_036..=9_223_372_035).contains(&s))),
        }
    }

    /// HTTP-dates read back what was written.
    #[test]
    fn http_dates_round_trip(secs in 0i64..9_000_000_000) {
        prop_assert_eq!(parse_http_date(&http_date(secs)), Some(secs));
    }

    /// Any `Retry-After`, `RateLimit-Reset`, `X-RateLimit-Reset` and `Date`
    /// values give a wait or none, never a panic; a 429 is always
    /// `rate-limited` and a 5xx always `unavailable`, with that wait.
    #[test]
    fn retry_headers_never_panic(
        retry in proptest::option::of(header_value()),
        reset in proptest::option::of(header_value()),
        x_reset in proptest::option::of(header_value()),
        date in proptest::option::of(header_value()),
        status in prop_oneof![Just(429u16), 500u16..600],
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut headers = Vec::new();
        for (name, v) in [
            ("Retry-After", retry),
            ("RateLimit-Reset", reset),
            ("X-RateLimit-Reset", x_reset),
            ("Date", date),
        ] {
            if let Some(v) = v {
                headers.push((name.to_string(), v));
            }
        }
        let resp = HttpResponse { status, headers, body };
        let ms = retry_after_ms(&resp);
        match check_status(&resp, "w") {
            Err(ConnectorError::RateLimited(RetryHint { retry_after_ms, .. })) if status == 429 => {
                prop_assert_eq!(retry_after_ms, ms)
            }
            Err(ConnectorError::Unavailable(RetryHint { retry_after_ms, .. })) if status != 429 => {
                prop_assert_eq!(retry_after_ms, ms)
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    /// Plain seconds are read exactly, and an HTTP-date is measured against
    /// the answer's `Date`.
    #[test]
    fn retry_waits_are_exact(secs in 0u64..10_000_000, now in plausible_secs(), wait in 0i64..100_000) {
        let at = |h: Vec<(&str, String)>| retry_after_ms(&HttpResponse {
            status: 429,
            headers: h.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            body: vec![],
        });
        prop_assert_eq!(at(vec![("retry-after", secs.to_string())]), Some(secs * 1000));
        prop_assert_eq!(at(vec![("RateLimit-Reset", secs.to_string())]), Some(secs * 1000));
        prop_assert_eq!(
            at(vec![("Retry-After", http_date(now + wait)), ("Date", http_date(now))]),
            Some(wait as u64 * 1000)
        );
        prop_assert_eq!(
            at(vec![("Retry-After", http_date(now)), ("Date", http_date(now + wait))]),
            Some(0)
        );
    }
}

/// Instants at the ends of the range (found by the round-trip property:
/// `1677-09-21T00:12:43.145224192Z` did not read back).
#[test]
fn extreme_instants_round_trip() {
    for ts in [Ts::MIN, Ts::MIN + 1, -1, 0, 1, Ts::MAX] {
        assert_eq!(parse_ts(&format_ts(ts)), Some(ts), "{}", format_ts(ts));
    }
    assert_eq!(format_ts(Ts::MIN), "1677-09-21T00:12:43.145224192Z");
    assert_eq!(parse_ts("1677-09-21T00:12:43.145224191Z"), None);
}
