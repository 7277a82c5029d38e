//! The checkpoint: any state the connector writes reads back to the same
//! meaning, and any text either reads as a state or is `invalid-state`.

use super::{config, edits, jsonish, mutate};
use crate::error::ConnectorError;
use crate::state::{
    Cursor, Discovery, Frame, Item, MAX_ID_LEN, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, Marks,
    Run, State, usable_id,
};
use crate::time::Ts;
use proptest::prelude::*;

const FP: &str = "0123456789abcdef";
const STREAM: &str = "jobs";

/// Ids and tokens: short, long, and with characters JSON must escape.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9:/+=-]{1,12}",
        "\\PC{1,8}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        Just("\"\\\u{0}\u{7f}\u{2028}é".to_string()),
    ]
    .prop_map(move |s| {
        // Cut to `max` bytes on a character boundary (never empty).
        let mut end = s.len().min(max);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        // What the connector never keeps (see `usable_id`) becomes `x`;
        // tokens obey the same rule here, which only narrows them.
        match &s[..end] {
            cut if usable_id(cut) => cut.to_string(),
            _ => "x".to_string(),
        }
    })
}

fn ts() -> impl Strategy<Value = Ts> {
    prop_oneof![
        any::<Ts>(),
        1_700_000_000_000_000_000i64..1_800_000_000_000_000_000
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        text(MAX_ID_LEN),
        proptest::option::of(ts()),
        proptest::option::of(any::<u64>()),
        0u8..=2,
        0..=MAX_RESTARTS,
    )
        .prop_map(|(id, at, n, e, r)| Item { id, at, n, e, r })
}

fn frame(with_ids: bool) -> impl Strategy<Value = Frame> {
    let ids = if with_ids { 1..4usize } else { 0..4usize };
    (
        proptest::option::of(text(MAX_TOKEN_LEN)),
        proptest::collection::vec(item(), ids),
        any::<u64>(),
        0..=MAX_STRIKES,
    )
        .prop_map(|(t, ids, n, s)| Frame {
            s: if t.is_some() { s } else { 0 },
            t,
            ids,
            n,
        })
}

/// A run as the engine writes one: frames under the top one visit an item.
fn run() -> impl Strategy<Value = Run> {
    let frames = (0..4usize).prop_flat_map(|depth| {
        (
            proptest::collection::vec(frame(true), depth.saturating_sub(1)),
            proptest::option::of(frame(false)),
        )
            .prop_map(move |(mut under, top)| {
                if depth > 0 {
                    under.extend(top);
                }
                under
            })
    });
    let disc = (
        proptest::option::of(proptest::collection::vec(text(64), 0..3)),
        0usize..4,
        proptest::option::of(text(MAX_TOKEN_LEN)),
        any::<u64>(),
        proptest::collection::vec(text(MAX_ID_LEN), 0..3),
        0..=MAX_RESTARTS,
        0..=MAX_STRIKES,
    )
        .prop_map(|(orgs, o, t, n, found, r, s)| Discovery {
            s: if t.is_some() { s } else { 0 },
            orgs,
            o,
            t,
            n,
            found,
            r,
        });
    let marks = (
        proptest::option::of(ts()),
        proptest::option::of(ts()),
        proptest::option::of(ts()),
        proptest::option::of(ts()),
    );
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(text(MAX_ID_LEN), 0..4)),
        any::<usize>(),
        frames,
        marks,
        disc,
        0..=MAX_RESTARTS,
    )
        .prop_map(
            |(discovering, roots, i, f, (seen, floor, hwm, lwm), disc, r)| {
                if discovering {
                    // Discovery runs before anything else is known.
                    return Run {
                        disc: Some(disc),
                        seen,
                        floor,
                        r,
                        ..Run::default()
                    };
                }
                let i = roots.as_ref().map_or(i % 8, |roots| i % (roots.len() + 1));
                Run {
                    disc: None,
                    roots,
                    i,
                    f,
                    seen,
                    floor,
                    hwm,
                    lwm,
                    r,
                    ..Run::default()
                }
            },
        )
}

fn cursor() -> impl Strategy<Value = Cursor> {
    (
        proptest::option::of(ts()),
        proptest::collection::btree_map(
            text(MAX_ID_LEN),
            (proptest::option::of(ts()), proptest::option::of(ts()))
                .prop_map(|(hwm, lwm)| Marks { hwm, lwm }),
            0..4,
        ),
    )
        .prop_map(|(as_of, projects)| Cursor {
            as_of,
            projects,
            retry: Vec::new(),
        })
}

pub(super) fn state() -> impl Strategy<Value = State> {
    (
        proptest::option::of(run()),
        proptest::option::of(cursor()),
        any::<bool>(),
    )
        .prop_map(|(run, cursor, some)| {
            let mut s = State::new(STREAM, FP.into());
            s.run = run;
            s.cursor = cursor;
            if s.run.is_none() && s.cursor.is_none() && some {
                s.cursor = Some(Cursor::default());
            } else if s.run.is_none() && s.cursor.is_none() {
                s.run = Some(Run::default());
            }
            s
        })
}

fn decodes_or_is_invalid(text: &str) -> Result<(), TestCaseError> {
    match State::decode(text, STREAM, FP) {
        Ok(s) => {
            // What reads as a state writes back to text that reads the same.
            let again = State::decode(&s.encode(), STREAM, FP);
            prop_assert_eq!(again.as_ref(), Ok(&s));
        }
        Err(ConnectorError::InvalidState(m)) => prop_assert!(!m.is_empty()),
        Err(e) => prop_assert!(false, "{e:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Every state the connector can write reads back to the same state,
    /// and its text is stable.
    #[test]
    fn states_round_trip(s in state()) {
        let text = s.encode();
        let back = State::decode(&text, STREAM, FP);
        prop_assert_eq!(back.as_ref(), Ok(&s), "{}", text);
        prop_assert_eq!(back.unwrap().encode(), text);
    }

    /// Any text reads as a state or is `invalid-state`, never a panic.
    #[test]
    fn any_text_is_a_state_or_invalid(text in prop_oneof![any::<String>(), jsonish()]) {
        decodes_or_is_invalid(&text)?;
    }

    /// Written states with their text cut, bytes flipped, dropped or
    /// inserted: a state (the same meaning re-encoded) or `invalid-state`.
    #[test]
    fn mutated_states_are_states_or_invalid(s in state(), e in edits(4)) {
        let bytes = mutate(s.encode().as_bytes(), &e);
        decodes_or_is_invalid(&String::from_utf8_lossy(&bytes))?;
    }

    /// Written states with one value swapped for any JSON: the same.
    #[test]
    fn retyped_states_are_states_or_invalid(
        s in state(),
        pick in any::<usize>(),
        value in super::json_value(),
    ) {
        let mut v: serde_json::Value = serde_json::from_str(&s.encode()).unwrap();
        let mut n = pick % count(&v);
        replace_nth(&mut v, &mut n, &mut Some(value));
        decodes_or_is_invalid(&v.to_string())?;
    }
}

fn children(v: &mut serde_json::Value) -> Vec<&mut serde_json::Value> {
    match v {
        serde_json::Value::Array(items) => items.iter_mut().collect(),
        serde_json::Value::Object(map) => map.values_mut().collect(),
        _ => Vec::new(),
    }
}

/// How many values `v` holds, itself included.
pub(super) fn count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(items) => items.iter().map(count).sum(),
        serde_json::Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th value of `v` in pre-order with `new`.
pub(super) fn replace_nth(
    v: &mut serde_json::Value,
    n: &mut usize,
    new: &mut Option<serde_json::Value>,
) {
    if *n == 0 {
        if let Some(x) = new.take() {
            *v = x;
        }
        return;
    }
    *n -= 1;
    for child in children(v) {
        replace_nth(child, n, new);
        if new.is_none() {
            return;
        }
    }
}
