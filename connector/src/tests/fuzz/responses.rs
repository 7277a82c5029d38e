//! CircleCI's answers: every parser fed arbitrary bytes, and real-looking
//! bodies cut off or mutated. A body that is not whole is never a page.

use super::{config, edits, json_value, jsonish, mutate};
use crate::error::ConnectorError;
use crate::http::HttpResponse;
use crate::json::{self, ListPage};
use crate::upstream::{check_complete, check_status, upstream_message};
use proptest::prelude::*;
use serde_json::{Value, json};

/// An item as CircleCI might send it: the fields the connector reads, with
/// values of the right type or not, plus anything else.
fn item() -> impl Strategy<Value = Value> {
    let ts = prop_oneof![
        Just(json!("2024-01-31T00:00:00Z")),
        Just(json!("2024-01-31T00:00:00.123Z")),
        Just(Value::Null),
        json_value(),
    ];
    (
        prop_oneof!["[a-f0-9-]{1,36}".prop_map(Value::String), json_value()],
        ts.clone(),
        ts,
        prop_oneof![Just(json!("success")), Just(json!("running")), json_value()],
        proptest::option::of(prop_oneof![
            any::<u64>().prop_map(Value::from),
            json_value()
        ]),
        proptest::collection::btree_map("[a-z_]{1,10}", json_value(), 0..4),
    )
        .prop_map(|(id, created, stopped, status, number, extra)| {
            let mut m: serde_json::Map<String, Value> = extra.into_iter().collect();
            m.insert("id".into(), id);
            m.insert("created_at".into(), created);
            m.insert("stopped_at".into(), stopped);
            m.insert("status".into(), status);
            if let Some(n) = number {
                m.insert("job_number".into(), n);
            }
            Value::Object(m)
        })
}

/// A whole, well-formed page body (compact or pretty, keys in either
/// order), with what it holds.
fn page() -> impl Strategy<Value = (String, Vec<Value>, Option<String>)> {
    (
        proptest::collection::vec(item(), 0..5),
        proptest::option::of("[A-Za-z0-9+/=:\"\\\\é]{0,24}"),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(items, token, pretty, token_first)| {
            let t = token.clone().map_or(Value::Null, Value::String).to_string();
            let list = Value::Array(items.clone());
            let (list, sp, nl) = if pretty {
                (serde_json::to_string_pretty(&list).unwrap(), " ", "\n  ")
            } else {
                (list.to_string(), "", "")
            };
            let (items_field, token_field) = (
                format!("\"items\":{sp}{list}"),
                format!("\"next_page_token\":{sp}{t}"),
            );
            let (a, b) = if token_first {
                (token_field, items_field)
            } else {
                (items_field, token_field)
            };
            let end = if pretty { "\n" } else { "" };
            (format!("{{{nl}{a},{nl}{b}{end}}}"), items, token)
        })
}

fn bad_response<T: std::fmt::Debug>(r: Result<T, ConnectorError>) -> Result<(), TestCaseError> {
    match r {
        Ok(_) | Err(ConnectorError::BadResponse(_)) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("{e:?}"))),
    }
}

/// Every parser on `body`: a result or `bad-response`, never a panic; and a
/// page that parses is made of JSON objects.
fn every_parser(body: &[u8]) -> Result<(), TestCaseError> {
    let what = "pipelines of project gh/a/b";
    match json::list_page(body, what) {
        Ok(ListPage { items, next }) => {
            for item in &items {
                let v: Value = serde_json::from_str(&item.text).unwrap();
                prop_assert!(v.is_object());
                prop_assert_eq!(json::minify(&item.text), item.text.clone());
                let names: Vec<String> = json::fields(&item.text, what)
                    .unwrap()
                    .keys()
                    .map(|k| k.to_string())
                    .collect();
                let kept: Vec<String> = item.fields.keys().map(|k| k.to_string()).collect();
                prop_assert_eq!(names, kept);
            }
            prop_assert!(next.is_none_or(|t| !t.is_empty()));
        }
        Err(ConnectorError::BadResponse(_)) => {}
        Err(e) => prop_assert!(false, "{e:?}"),
    }
    bad_response(json::record(body, what))?;
    bad_response(json::array(body, what))?;
    bad_response(json::object(body, what))?;
    if let Ok(text) = std::str::from_utf8(body) {
        bad_response(json::fields(text, what))?;
    }
    if let Some(m) = upstream_message(body) {
        prop_assert!(!m.is_empty() && !m.chars().any(char::is_control));
    }
    for status in [200, 404, 429, 503] {
        let resp = HttpResponse {
            status,
            headers: vec![("Content-Length".into(), "12".into())],
            body: body.to_vec(),
        };
        let _ = check_status(&resp, what);
        let _ = check_complete(&resp, what, "circleci.com");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        every_parser(&body)?;
    }

    #[test]
    fn json_like_text_never_panics(body in jsonish()) {
        every_parser(body.as_bytes())?;
    }

    /// `json::record` accepts an object exactly when `serde_json::Value`
    /// reads it: its check builds nothing, but must refuse the same things.
    #[test]
    fn records_are_refused_exactly_as_value_refuses_them(body in jsonish()) {
        let text = format!("{{\"v\":{body}}}");
        let by_value = serde_json::from_str::<Value>(&text).is_ok();
        let by_record = json::record(text.as_bytes(), "w").is_ok();
        prop_assert_eq!(by_value, by_record, "{}", text);
    }

    /// A whole page parses to exactly its items (as compact text) and token.
    #[test]
    fn whole_pages_parse((body, items, token) in page()) {
        let p = json::list_page(body.as_bytes(), "w").unwrap();
        let want: Vec<String> = items.iter().map(Value::to_string).collect();
        prop_assert_eq!(p.items, want);
        prop_assert_eq!(p.next, token.filter(|t| !t.is_empty()));
    }

    /// Any strict prefix of a page is an error: a body cut off right after
    /// `{"items":[`, inside an item, before `next_page_token`, … is never
    /// an empty page, a shorter page or a last page.
    #[test]
    fn cut_pages_are_never_pages((body, _, _) in page(), cut in any::<usize>()) {
        let cut = cut % body.len();
        let r = json::list_page(&body.as_bytes()[..cut], "w");
        prop_assert!(matches!(r, Err(ConnectorError::BadResponse(_))), "{:?}: {r:?}", &body[..cut]);
    }

    /// Mutated pages: a page or `bad-response`; never a panic.
    #[test]
    fn mutated_pages_never_panic((body, _, _) in page(), e in edits(4)) {
        every_parser(&mutate(body.as_bytes(), &e))?;
    }

    /// A record is CircleCI's object exactly: minifying any printing of it
    /// gives its compact text, and keys are only ever appended.
    #[test]
    fn records_are_kept_and_keys_appended(
        fields in proptest::collection::btree_map("[a-z_]{1,8}|\\PC{1,4}", json_value(), 0..6),
        key in "[a-z_]{1,8}",
        value in json_value(),
    ) {
        let v = Value::Object(fields.into_iter().collect());
        let compact = v.to_string();
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(json::record(pretty.as_bytes(), "w").unwrap(), compact.clone());
        let f = json::fields(&compact, "w").unwrap();
        let out = json::with_keys(&compact, &f, &[(&key, value.to_string())]);
        // Compared as text: the record is never re-serialised (and
        // serde_json's own float parsing is not exact).
        let want = if v.get(&key).is_some() {
            compact.clone()
        } else {
            let comma = if v.as_object().unwrap().is_empty() { "" } else { "," };
            format!("{}{comma}{}:{value}}}", &compact[..compact.len() - 1], json::string(&key))
        };
        prop_assert_eq!(out, want);
    }

    /// The byte scan that splits a record's fields agrees with serde_json
    /// on any object, compact or printed: the same names (escapes read),
    /// each with its value.
    #[test]
    fn fields_split_as_serde_json_reads_them(
        fields in proptest::collection::btree_map("[a-z_]{1,8}|\\PC{1,4}", json_value(), 0..6),
        pretty in any::<bool>(),
    ) {
        let v = Value::Object(fields.into_iter().collect());
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        let f = json::fields(&text, "w").unwrap();
        let object = v.as_object().unwrap();
        prop_assert_eq!(f.keys().count(), object.len());
        for (name, value) in object {
            let raw = json::raw_field(&f, name);
            prop_assert!(raw.is_some(), "{name} missing from {text}");
            // As text: serde_json's float parsing is not exact.
            prop_assert_eq!(json::minify(raw.unwrap()), value.to_string(), "{}", text);
            if let Value::String(s) = value {
                let got = json::string_field(&f, name);
                prop_assert_eq!(got.as_deref(), Some(s.as_str()));
            }
        }
    }
}
