//! One stream's checkpoint as one JSON object, the shape both protocols
//! keep per stream (Airbyte's `stream_state`, Singer's `bookmarks`), and
//! back.
//!
//! The host's [`SyncState`] keeps one cursor per stream and one state per
//! walk of several streams read together. Per stream, the object holds the
//! stream's cursor and, while the stream is in a walk, that walk: its
//! streams, the guest's state, and `seq`, the number of the save that wrote
//! it. A platform may keep one stream's object from a later page than
//! another's (it commits each stream's state when that stream's records are
//! committed), so a walk is resumed from the state of its *lowest* `seq`
//! among its streams: the streams that were further repeat at most the page
//! in flight, and none skips one. A walk that one of its streams does not
//! mention any more is not resumed; its streams start again from their
//! cursors, which loses nothing either.

use std::collections::BTreeMap;

use host_harness::checkpoint::{Checkpoint, SyncState, WalkCheckpoint, walk_key};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the object says it is.
pub const FORMAT: &str = "connector-harness/stream-state";
/// Its version.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StreamState {
    format: String,
    version: u32,
    /// The stream's cursor, opaque: what its last finished sync ended with.
    cursor: Option<String>,
    /// The unfinished walk the stream is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    walk: Option<Walk>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Walk {
    streams: Vec<String>,
    state: String,
    seq: u64,
}

/// `stream`'s checkpoint in `state` as one object, the walk's marked with
/// `seq` (the save being made). `None` when `state` has nothing of it.
pub fn export(state: &SyncState, stream: &str, seq: u64) -> Option<Value> {
    let checkpoint = state.get(stream)?;
    let walk = if checkpoint.has_more {
        state
            .walks
            .values()
            .find(|w| w.streams.iter().any(|s| s == stream))
            .map(|w| Walk {
                streams: w.streams.clone(),
                state: w.state.clone(),
                seq,
            })
    } else {
        None
    };
    let object = StreamState {
        format: FORMAT.into(),
        version: VERSION,
        cursor: checkpoint.state.clone(),
        walk,
    };
    Some(serde_json::to_value(object).expect("a stream state always serialises"))
}

/// The host's state from the objects [`export`] made, by stream, and the
/// `seq` the next save should carry. The streams `read_in_full` (a full
/// refresh, a full table) lose their finished cursor, so they read
/// everything; an interrupted walk of theirs still resumes where it was.
/// An object this adapter did not write is an error naming its stream.
pub fn import(
    states: &BTreeMap<String, Value>,
    read_in_full: &[String],
) -> Result<(SyncState, u64), String> {
    let mut state = SyncState::default();
    let mut walks: BTreeMap<String, Vec<(String, Walk)>> = BTreeMap::new();
    let mut next_seq = 1;
    for (stream, value) in states {
        let parsed: StreamState = serde_json::from_value(value.clone()).map_err(|_| {
            format!("the state of stream {stream} was not written by connector-harness")
        })?;
        if parsed.format != FORMAT || !(1..=VERSION).contains(&parsed.version) {
            return Err(format!(
                "the state of stream {stream} is of format {:?} version {}, not {FORMAT:?} version {VERSION}",
                parsed.format, parsed.version
            ));
        }
        if let Some(walk) = &parsed.walk {
            next_seq = next_seq.max(walk.seq.saturating_add(1));
            walks
                .entry(walk_key(&walk.streams))
                .or_default()
                .push((stream.clone(), walk.clone()));
        }
        state.set(
            stream,
            Checkpoint {
                state: parsed.cursor,
                has_more: parsed.walk.is_some(),
                ..Checkpoint::default()
            },
        );
    }
    for (key, members) in walks {
        let streams = &members[0].1.streams;
        let whole = streams
            .iter()
            .all(|s| members.iter().any(|(m, w)| m == s && &w.streams == streams));
        if whole {
            let lowest = members
                .iter()
                .min_by_key(|(_, w)| w.seq)
                .map(|(_, w)| w.clone())
                .expect("a walk has members");
            state.walks.insert(
                key,
                WalkCheckpoint {
                    streams: lowest.streams,
                    state: lowest.state,
                },
            );
        } else {
            for (stream, _) in &members {
                if let Some(mut checkpoint) = state.get(stream).cloned() {
                    checkpoint.has_more = false;
                    state.set(stream, checkpoint);
                }
            }
        }
    }
    for stream in read_in_full {
        if let Some(mut checkpoint) = state.get(stream).cloned()
            && !checkpoint.has_more
        {
            checkpoint.state = None;
            state.set(stream, checkpoint);
        }
    }
    Ok((state, next_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_state(streams: &[&str], guest: &str) -> SyncState {
        let streams: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
        let mut state = SyncState::default();
        for s in &streams {
            state.set(
                s,
                Checkpoint {
                    state: Some(format!("cursor-{s}")),
                    has_more: true,
                    ..Checkpoint::default()
                },
            );
        }
        state.walks.insert(
            walk_key(&streams),
            WalkCheckpoint {
                streams: streams.clone(),
                state: guest.into(),
            },
        );
        state
    }

    #[test]
    fn a_walk_resumes_from_the_lowest_page_its_streams_kept() {
        let early = walk_state(&["a", "b"], "page-3");
        let late = walk_state(&["a", "b"], "page-4");
        let mut kept = BTreeMap::new();
        kept.insert("a".to_string(), export(&late, "a", 4).unwrap());
        kept.insert("b".to_string(), export(&early, "b", 3).unwrap());
        let (state, next) = import(&kept, &[]).unwrap();
        assert_eq!(next, 5);
        let ab = ["a".to_string(), "b".to_string()];
        assert_eq!(state.walk(&ab).unwrap().state, "page-3");
        assert!(state.get("a").unwrap().has_more);
        assert_eq!(state.get("b").unwrap().state.as_deref(), Some("cursor-b"));
    }

    #[test]
    fn a_walk_one_stream_no_longer_mentions_starts_again_from_the_cursors() {
        let walking = walk_state(&["a", "b"], "page-3");
        let mut finished = SyncState::default();
        finished.set(
            "b",
            Checkpoint {
                state: Some("cursor-b".into()),
                ..Checkpoint::default()
            },
        );
        let mut kept = BTreeMap::new();
        kept.insert("a".to_string(), export(&walking, "a", 3).unwrap());
        kept.insert("b".to_string(), export(&finished, "b", 1).unwrap());
        let (state, _) = import(&kept, &[]).unwrap();
        assert!(state.walks.is_empty());
        let a = state.get("a").unwrap();
        assert!(!a.has_more);
        assert_eq!(a.state.as_deref(), Some("cursor-a"));
    }

    #[test]
    fn a_stream_read_in_full_forgets_its_finished_cursor_but_not_its_walk() {
        let mut state = walk_state(&["a", "b"], "page-3");
        state.set(
            "c",
            Checkpoint {
                state: Some("cursor-c".into()),
                ..Checkpoint::default()
            },
        );
        let mut kept = BTreeMap::new();
        for s in ["a", "b", "c"] {
            kept.insert(s.to_string(), export(&state, s, 3).unwrap());
        }
        let (state, _) = import(&kept, &["a".to_string(), "c".to_string()]).unwrap();
        assert_eq!(state.get("c").unwrap().state, None);
        // Mid-walk, "a" keeps the cursor its walk started from.
        assert_eq!(state.get("a").unwrap().state.as_deref(), Some("cursor-a"));
        assert_eq!(state.walks.len(), 1);
    }

    #[test]
    fn an_object_of_another_writer_is_refused_by_stream() {
        let mut kept = BTreeMap::new();
        kept.insert("jobs".to_string(), serde_json::json!({ "updated_at": "x" }));
        let e = import(&kept, &[]).err().unwrap();
        assert!(e.contains("stream jobs"), "{e}");
        kept.insert(
            "jobs".to_string(),
            serde_json::json!({ "format": FORMAT, "version": 9, "cursor": null }),
        );
        assert!(import(&kept, &[]).err().unwrap().contains("version 9"));
    }

    #[test]
    fn unknown_keys_are_tolerated_and_a_finished_stream_keeps_its_cursor() {
        let mut done = SyncState::default();
        done.set(
            "pipelines",
            Checkpoint {
                state: Some("{\"hwm\":1}".into()),
                ..Checkpoint::default()
            },
        );
        let mut object = export(&done, "pipelines", 7).unwrap();
        assert!(object.get("walk").is_none());
        object["added_by_a_platform"] = serde_json::json!(true);
        let mut kept = BTreeMap::new();
        kept.insert("pipelines".to_string(), object);
        let (state, next) = import(&kept, &[]).unwrap();
        assert_eq!(next, 1);
        assert_eq!(state.get("pipelines"), done.get("pipelines"));
    }
}
