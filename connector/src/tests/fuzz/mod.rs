//! Property tests (proptest), run natively with the unit tests: every input
//! the connector parses (credential, settings, state, CircleCI's answers,
//! dates and retry headers, URLs and slugs) fed arbitrary and mutated
//! values. None may panic: each either parses or gives its typed error.
//!
//! Case counts are kept small so `cargo test -p circleci-connector` stays
//! fast; `PROPTEST_CASES=N` sets every property's count for a deeper run
//! (e.g. `PROPTEST_CASES=20000 cargo test -p circleci-connector fuzz`).
//! Failures are saved under `connector/proptest-regressions/` and replayed
//! first by later runs.

use proptest::prelude::*;
use proptest::test_runner::Config;

mod dates;
mod engine;
mod inputs;
mod responses;
mod state;

/// The config of a property: `cases` unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // Shrinking stays bounded even for the whole-sync properties.
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    /// Keep the first `n` bytes (`n` taken modulo the length).
    Truncate(usize),
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    /// Insert one of the bytes JSON cares about.
    InsertSyntax(usize, u8),
}

const SYNTAX: &[u8] = b"{}[]\",:\\ \n0-.enulltrue";

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), 0..SYNTAX.len()).prop_map(|(i, k)| Edit::InsertSyntax(i, SYNTAX[k])),
    ]
}

/// Up to `max` edits.
fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 0..=max)
}

/// `bytes` with `edits` applied in order.
fn mutate(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *e {
            Edit::Truncate(n) => b.truncate(at(n, b.len())),
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % b.len());
            }
            Edit::Delete(_) => {}
            Edit::Insert(i, x) | Edit::InsertSyntax(i, x) => b.insert(at(i, b.len()), x),
            Edit::Replace(i, x) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = x;
            }
            Edit::Replace(..) => {}
        }
    }
    b
}

/// Text that is often close to JSON: arbitrary characters mixed with JSON
/// punctuation, keywords and the field names the connector looks for.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-0.5e3".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("\"items\"".to_string()),
        Just("\"next_page_token\"".to_string()),
        Just("\"id\"".to_string()),
        Just("\"created_at\"".to_string()),
        Just("\"2024-01-31T00:00:00Z\"".to_string()),
        Just("\\u0000".to_string()),
        Just("\\ud800".to_string()),
        any::<char>().prop_map(String::from),
        "[a-z0-9 ]{0,8}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// A JSON value, nested a few levels, with strings that need escaping.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z]{1,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}|\\PC{0,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
