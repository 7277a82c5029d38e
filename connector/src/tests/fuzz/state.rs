//! The checkpoint: any state the connector writes reads back to the same
//! meaning, and any text either reads as a state or is `invalid-state`.

use super::{config, edits, jsonish, mutate};
use crate::error::ConnectorError;
use crate::state::{
    Cursor, CursorState, Discovery, Found, Item, Listing, MAX_DEPTH, MAX_ID_LEN, MAX_RESTARTS,
    MAX_STRIKES, MAX_TOKEN_LEN, Marks, Pending, RootAcc, Run, Stamp, WalkState, usable_id,
};
use crate::streams::project_tree::TREE;
use crate::time::Ts;
use crate::walk::Tree;
use proptest::prelude::*;

const FP: &str = "0123456789abcdef";
/// The walk the generated states belong to.
const STREAMS: &[&str] = &["pipelines", "jobs", "tests"];

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

fn stamp() -> impl Strategy<Value = Option<Stamp>> {
    proptest::option::of(ts().prop_map(Stamp))
}

fn item() -> impl Strategy<Value = Item> {
    (
        text(MAX_ID_LEN),
        stamp(),
        stamp(),
        stamp(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(id, at, c, x, n)| Item { id, at, c, x, n })
}

/// A listing as the engine writes one: a kind of the project tree, with
/// the chain of items its level needs.
fn listing() -> impl Strategy<Value = Listing> {
    (
        0u32..6,
        0u8..9,
        proptest::collection::vec(item(), MAX_DEPTH),
        proptest::option::of(text(MAX_TOKEN_LEN)),
        any::<u64>(),
        0..=MAX_STRIKES,
        0..=MAX_RESTARTS,
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
    )
        .prop_map(|(r, k, mut h, t, n, s, x, f, w, m)| {
            h.truncate(TREE.kind_level(k).saturating_sub(1));
            Listing {
                r,
                k,
                h,
                s: if t.is_some() { s } else { 0 },
                t,
                n,
                x,
                f,
                w,
                m: if w { m } else { 0 },
            }
        })
}

fn found() -> impl Strategy<Value = Found> {
    (stamp(), stamp(), stamp(), stamp()).prop_map(|(hwm, a, b, c)| Found {
        hwm,
        lwm: [a, b, c],
    })
}

fn pending() -> impl Strategy<Value = Pending> {
    (
        text(64),
        2u8..7,
        proptest::collection::vec(item(), 1..=MAX_DEPTH),
    )
        .prop_map(|(root, k, h)| Pending { root, k, h })
}

/// A run as the engine writes one: discovering, or reading listings.
fn run() -> impl Strategy<Value = Run> {
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
        stamp(),
        stamp(),
        stamp(),
        stamp(),
        stamp(),
        stamp(),
        stamp(),
    );
    (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(text(MAX_ID_LEN), 0..4)),
        any::<usize>(),
        proptest::collection::vec(listing(), 0..5),
        marks,
        disc,
        proptest::collection::vec((0u32..6, found(), any::<bool>()), 0..3),
        proptest::collection::btree_map(text(64), found(), 0..3),
        proptest::collection::vec(pending(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(discovering, roots, next, open, m, disc, acc, done, skipped, seeded)| {
                let seen = [m.0, m.1, m.2, m.3];
                let floor = [m.4, m.5, m.6];
                if discovering {
                    // Discovery runs before anything else is known.
                    return Run {
                        disc: Some(disc),
                        seen,
                        floor,
                        ..Run::default()
                    };
                }
                let next = roots
                    .as_ref()
                    .map_or(next % 8, |roots| next % (roots.len() + 1));
                Run {
                    roots,
                    next,
                    open,
                    seen,
                    floor,
                    acc: acc
                        .into_iter()
                        .map(|(r, f, skip)| RootAcc { r, f, skip })
                        .collect(),
                    done,
                    skipped,
                    seeded,
                    ..Run::default()
                }
            },
        )
}

fn cursor() -> impl Strategy<Value = Cursor> {
    (
        stamp(),
        proptest::collection::btree_map(
            text(MAX_ID_LEN),
            (stamp(), stamp()).prop_map(|(hwm, lwm)| Marks { hwm, lwm }),
            0..4,
        ),
        proptest::collection::vec(pending(), 0..3),
    )
        .prop_map(|(as_of, roots, retry)| Cursor {
            as_of,
            roots,
            retry,
        })
}

fn streams() -> Vec<String> {
    STREAMS.iter().map(|s| s.to_string()).collect()
}

/// A walk state the connector could write for [`STREAMS`].
pub(super) fn walk_state() -> impl Strategy<Value = WalkState> {
    run().prop_map(|run| WalkState::new(&streams(), FP.into(), run))
}

/// A cursor the connector could write for `jobs`.
pub(super) fn cursor_state() -> impl Strategy<Value = CursorState> {
    cursor().prop_map(|c| CursorState::new("jobs", FP.into(), c))
}

fn decodes_or_is_invalid(text: &str) -> Result<(), TestCaseError> {
    match WalkState::decode(text, &streams(), FP, crate::settings::FINGERPRINTED) {
        Ok(s) => {
            // What reads as a state writes back to text that reads the same.
            let again =
                WalkState::decode(&s.encode(), &streams(), FP, crate::settings::FINGERPRINTED);
            prop_assert_eq!(again.as_ref(), Ok(&s));
        }
        Err(ConnectorError::InvalidState(m)) => prop_assert!(!m.is_empty()),
        Err(e) => prop_assert!(false, "{e:?}"),
    }
    match CursorState::decode(text, "jobs", FP, crate::settings::FINGERPRINTED) {
        Ok(c) => {
            let again = CursorState::decode(
                &CursorState::new("jobs", FP.into(), c.clone()).encode(),
                "jobs",
                FP,
                crate::settings::FINGERPRINTED,
            );
            prop_assert_eq!(again.as_ref(), Ok(&c));
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
    fn states_round_trip(s in walk_state(), c in cursor_state()) {
        let text = s.encode();
        let back = WalkState::decode(&text, &streams(), FP, crate::settings::FINGERPRINTED);
        prop_assert_eq!(back.as_ref(), Ok(&s), "{}", text);
        prop_assert_eq!(back.unwrap().encode(), text);
        let text = c.encode();
        let back = CursorState::decode(&text, "jobs", FP, crate::settings::FINGERPRINTED);
        prop_assert_eq!(back.as_ref(), Ok(&c.cursor), "{}", text);
    }

    /// Any text reads as a state or is `invalid-state`, never a panic.
    #[test]
    fn any_text_is_a_state_or_invalid(text in prop_oneof![any::<String>(), jsonish()]) {
        decodes_or_is_invalid(&text)?;
    }

    /// Written states with their text cut, bytes flipped, dropped or
    /// inserted: a state (the same meaning re-encoded) or `invalid-state`.
    #[test]
    fn mutated_states_are_states_or_invalid(s in walk_state(), c in cursor_state(), e in edits(4)) {
        for text in [s.encode(), c.encode()] {
            let bytes = mutate(text.as_bytes(), &e);
            decodes_or_is_invalid(&String::from_utf8_lossy(&bytes))?;
        }
    }

    /// Written states with one value swapped for any JSON: the same.
    #[test]
    fn retyped_states_are_states_or_invalid(
        s in walk_state(),
        c in cursor_state(),
        pick in any::<usize>(),
        value in super::json_value(),
    ) {
        for text in [s.encode(), c.encode()] {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut n = pick % count(&v);
            replace_nth(&mut v, &mut n, &mut Some(value.clone()));
            decodes_or_is_invalid(&v.to_string())?;
        }
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
