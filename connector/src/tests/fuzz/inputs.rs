//! What users type: the credential, the settings, base URLs and project
//! slugs, and the URL helpers built on them.

use super::{config, edits, jsonish, mutate};
use crate::api::Api;
use crate::credential::Credential;
use crate::error::ConnectorError;
use crate::settings::Settings;
use crate::slug::ProjectSlug;
use crate::url::{Url, percent_encode};
use crate::{HttpClient, HttpResponse, TransportError};
use proptest::prelude::*;

/// Decodes `%XX` escapes (the inverse of [`percent_encode`]).
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// URL-like text: schemes, hosts, ports, paths and the characters that
/// trip parsers.
fn urlish() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("https://"),
        Just("http://"),
        Just("HTTPS://"),
        Just("ftp://"),
        Just("https:/"),
        Just(""),
        Just("://"),
    ];
    let host = prop_oneof![
        "[a-zA-Z0-9.-]{0,20}",
        Just("[::1]".to_string()),
        Just("[2001:db8::7]".to_string()),
        Just("[::1".to_string()),
        Just("user:pass@h".to_string()),
        "\\PC{0,6}",
    ];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..70_000).prop_map(|p| format!(":{p}")),
        Just(":".to_string()),
        Just(":+80".to_string()),
    ];
    let tail = "[/?#%a-z0-9 .]{0,12}";
    (scheme, host, port, tail).prop_map(|(s, h, p, t)| format!("{s}{h}{p}{t}"))
}

/// Slug-like text: known and unknown VCS names, escaped slashes, dots,
/// whitespace, control and non-ASCII characters.
fn slugish() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-zA-Z0-9._:-]{0,10}",
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%2F".to_string()),
        Just("%2f".to_string()),
        Just("%2".to_string()),
        "\\PC{0,5}",
        any::<String>(),
    ];
    let vcs = prop_oneof![
        Just("gh".to_string()),
        Just("GitHub".to_string()),
        Just("bb".to_string()),
        Just("bitbucket".to_string()),
        Just("circleci".to_string()),
        Just("gl".to_string()),
        Just(" gh".to_string()),
    ];
    let sep = prop_oneof![Just("/"), Just("%2F"), Just("%2f"), Just("//")];
    (
        vcs,
        sep.clone(),
        part.clone(),
        sep,
        part,
        proptest::option::of(part_suffix()),
    )
        .prop_map(|(v, s1, o, s2, r, extra)| {
            format!("{v}{s1}{o}{s2}{r}{}", extra.unwrap_or_default())
        })
}

fn part_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/x".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string())
    ]
}

/// A client that answers nothing: the parsers under test make no request.
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn get(&mut self, url: &str, _: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        panic!("unexpected request to {url}")
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Any URL text parses or is refused; what parses puts itself back
    /// together into a URL that parses to the same thing.
    #[test]
    fn urls_parse_or_are_refused(input in prop_oneof![urlish(), any::<String>()]) {
        if let Ok(u) = Url::parse(&input) {
            let again = format!("{}{}", u.origin(), u.path_with_query());
            let v = Url::parse(&again).unwrap();
            prop_assert_eq!(&v.authority(), &u.authority());
            prop_assert_eq!(v.path_with_query(), u.path_with_query());
            prop_assert!(u.path.is_empty() || u.path.starts_with('/'));
            prop_assert!(!u.host.is_empty());
        }
    }

    /// Percent-encoding leaves only unreserved characters and `%XX`, and
    /// decodes back to the input.
    #[test]
    fn percent_encoding_round_trips(s in any::<String>()) {
        let e = percent_encode(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        prop_assert_eq!(percent_decode(&e).unwrap(), s.into_bytes());
    }

    /// Slugs parse or give a reason; a parsed slug's canonical and shown
    /// forms parse to the same project, and its path is one escaped
    /// segment per part that never climbs out (`.`/`..`).
    #[test]
    fn slugs_parse_or_give_a_reason(input in prop_oneof![slugish(), any::<String>()]) {
        if let Ok(slug) = ProjectSlug::parse(&input) {
            let canonical = slug.canonical();
            prop_assert_eq!(ProjectSlug::parse(&canonical).unwrap().canonical(), canonical.clone());
            prop_assert_eq!(ProjectSlug::parse(&slug.to_string()).unwrap().canonical(), canonical);
            let path = slug.path();
            let segs: Vec<&str> = path.split('/').collect();
            prop_assert_eq!(segs.len(), 3);
            for seg in segs {
                prop_assert!(!seg.is_empty() && seg != "." && seg != "..");
                prop_assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            }
        }
    }

    /// Any credential pairs parse or are `invalid-credential`, without
    /// quoting the key; an accepted one builds request URLs that the wasm
    /// client's own parser accepts, for any slug and query value.
    #[test]
    fn credentials_parse_or_are_invalid(
        pairs in proptest::collection::vec(
            (
                prop_oneof![
                    Just("api_key".to_string()),
                    Just("base_url".to_string()),
                    "[a-z_]{0,10}",
                    any::<String>(),
                ],
                prop_oneof![
                    Just("CCIPAT_abcdefghijklmnop0123456789".to_string()),
                    "[!-~]{0,40}",
                    urlish(),
                    any::<String>(),
                ],
            ),
            0..4,
        ),
        slug in slugish(),
        value in any::<String>(),
    ) {
        match Credential::parse(&pairs) {
            Ok(cred) => {
                prop_assert!(!cred.api_key().is_empty());
                prop_assert!(cred.api_key().bytes().all(|b| (0x21..=0x7e).contains(&b)));
                prop_assert!(!cred.base_url().ends_with('/'));
                let mut client = NoNetwork;
                let api = Api::new(&mut client, &cred);
                let path = ProjectSlug::parse(&slug).map_or_else(
                    |_| "/me".to_string(),
                    |s| format!("/project/{}/pipeline", s.path()),
                );
                let url = api.url(&path, &[("page-token", &value), ("org-slug", &value)]);
                let parsed = Url::parse(&url);
                prop_assert!(parsed.is_ok(), "{url}: {parsed:?}");
                prop_assert_eq!(parsed.unwrap().authority(), cred.authority());
            }
            Err(ConnectorError::InvalidCredential(m)) => {
                for (k, v) in &pairs {
                    if k == "api_key" && v.len() >= 8 {
                        prop_assert!(!m.contains(v.as_str()), "{m}");
                    }
                }
            }
            Err(e) => prop_assert!(false, "{e:?}"),
        }
    }

    /// Any settings text parses or is `invalid-settings`; parsed settings
    /// have a 16-hex-digit fingerprint.
    #[test]
    fn settings_parse_or_are_invalid(
        text in prop_oneof![
            any::<String>(),
            jsonish(),
            settings_json(),
            (settings_json(), edits(3)).prop_map(|(s, e)| {
                String::from_utf8_lossy(&mutate(s.as_bytes(), &e)).into_owned()
            }),
        ]
    ) {
        match Settings::parse(&text) {
            Ok(s) => {
                let fp = s.fingerprint();
                prop_assert!(fp.len() == 16 && fp.bytes().all(|b| b.is_ascii_hexdigit()));
                let _ = s.start_ts();
            }
            Err(ConnectorError::InvalidSettings(_)) => {}
            Err(e) => prop_assert!(false, "{e:?}"),
        }
    }
}

/// Settings documents close to valid ones.
fn settings_json() -> impl Strategy<Value = String> {
    use serde_json::{Value, json};
    let slugs = proptest::collection::vec(
        prop_oneof![slugish().prop_map(Value::String), super::json_value()],
        0..4,
    );
    let date = prop_oneof![
        Just(json!("2024-01-31T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59.999999999+23:59")),
        Just(json!("0000-01-01T00:00:00-23:59")),
        "\\PC{0,24}".prop_map(Value::String),
        super::json_value(),
    ];
    let org = prop_oneof![Just(json!("gh/acme")), super::json_value()];
    (
        proptest::option::of(slugs),
        proptest::option::of(org),
        proptest::option::of(date),
        proptest::option::of(("[a-z_]{1,12}", super::json_value())),
    )
        .prop_map(|(slugs, org, date, extra)| {
            let mut m = serde_json::Map::new();
            if let Some(s) = slugs {
                m.insert("project_slugs".into(), Value::Array(s));
            }
            if let Some(o) = org {
                m.insert("org_slug".into(), o);
            }
            if let Some(d) = date {
                m.insert("start_date".into(), d);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m).to_string()
        })
}
