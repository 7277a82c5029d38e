//! The mapping's cases, with a vendor of its own ([`ACME`]).

use super::*;

/// A vendor with advice for both hooks.
const ACME: Vendor = Vendor {
    name: "Acme",
    credential: "the token",
    on_unauthorized: "Create a read-only token under Settings → Tokens",
    on_redirect: "check base_url",
};

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse::new(status, headers, body)
}

#[test]
fn words_each_status_with_the_vendor_s_hooks() {
    let what = "list 7";
    assert_eq!(ACME.check_status(&resp(200, &[], ""), what), Ok(()));
    let message = |status: u16, body: &str, vendor: &Vendor| {
        let e = vendor
            .check_status(&resp(status, &[], body), what)
            .unwrap_err();
        (e.kind(), e.message().to_string())
    };
    assert_eq!(
        message(401, r#"{"message":"Bad token."}"#, &ACME),
        (
            "unauthorized",
            "Acme rejected the token while reading list 7 (HTTP 401): Bad token. Create a read-only \
             token under Settings → Tokens"
                .into()
        )
    );
    assert_eq!(
        message(401, "", &ACME).1,
        "Acme rejected the token while reading list 7 (HTTP 401). Create a read-only token under \
         Settings → Tokens"
    );
    let plain = Vendor {
        on_unauthorized: "",
        on_redirect: "",
        ..ACME
    };
    assert_eq!(
        message(401, "", &plain).1,
        "Acme rejected the token while reading list 7 (HTTP 401)"
    );
    assert_eq!(
        message(403, r#"{"message":"No."}"#, &ACME),
        (
            "forbidden",
            "the token may not read list 7 (HTTP 403): No.".into()
        )
    );
    assert_eq!(
        message(404, "", &ACME),
        ("not-found", "list 7 was not found (HTTP 404)".into())
    );
    assert_eq!(
        message(429, "slow down", &ACME),
        (
            "rate-limited",
            "Acme rate limit reached while reading list 7 (HTTP 429): slow down".into()
        )
    );
    assert_eq!(
        message(302, "", &ACME),
        (
            "bad-response",
            "Acme answered HTTP 302 (a redirect, which is not followed) while reading list 7; \
             check base_url"
                .into()
        )
    );
    assert_eq!(
        message(302, "", &plain).1,
        "Acme answered HTTP 302 (a redirect, which is not followed) while reading list 7"
    );
    assert_eq!(
        message(418, r#"{"message":"teapot"}"#, &ACME),
        (
            "bad-response",
            "Acme answered HTTP 418 while reading list 7: teapot".into()
        )
    );
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
            match ACME.check_status(&r, "w") {
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
        let e = ACME
            .check_status(&resp(status, &[("Retry-After", "2")], ""), "w")
            .unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Unavailable(RetryHint {
                retry_after_ms: Some(2_000),
                message: format!("Acme answered HTTP {status} while reading w"),
            })
        );
    }
    for status in [100, 204, 299] {
        let ok = ACME.check_status(&resp(status, &[], ""), "w");
        assert_eq!(ok.is_ok(), (200..300).contains(&status), "{status}");
    }
}

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
            "the items of list 7",
            "api.example.com",
        )
    };
    let e = check(&[("Content-Length", "40")], r#"{"items":["#).unwrap_err();
    assert_eq!(
        e,
        ConnectorError::Unavailable(RetryHint {
            retry_after_ms: None,
            message: "the answer for the items of list 7 from api.example.com was cut off \
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
        "api.example.com",
    );
    assert_eq!(
        e,
        ConnectorError::Denied(
            "the host's policy does not allow requests to api.example.com (needed to read the account (/me))".into()
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
