//! CircleCI's wording of HTTP failures: the SDK maps every answer and
//! transport failure to a typed error ([`connector_sdk::upstream`], whose
//! docs hold the table); this module names the vendor, the key and the
//! advice a 401 and a redirect get.

use crate::error::ConnectorError;
use crate::http::HttpResponse;
pub use connector_sdk::upstream::{
    Vendor, check_complete, retry_after_ms, transport_error, upstream_message,
};

/// How CircleCI's failures are worded.
pub const CIRCLECI: Vendor = Vendor {
    name: "CircleCI",
    credential: "the API key",
    on_unauthorized: "Use a personal API token (User Settings → Personal API Tokens); project \
                      tokens do not work with API v2",
    on_redirect: "check base_url",
};

/// Maps a non-2xx answer to an error in CircleCI's words; `Ok` for 2xx.
/// `what` names what was being read, e.g. "project gh/acme/api".
pub fn check_status(resp: &HttpResponse, what: &str) -> Result<(), ConnectorError> {
    CIRCLECI.check_status(resp, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RetryHint;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse::new(status, headers, body)
    }

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
}
