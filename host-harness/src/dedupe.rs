//! Dropping records a sync already wrote, by primary key.
//!
//! Listings are newest first: an item created while a sync pages through
//! them pushes older items onto the next page, so a connector may return
//! the same record twice. The host knows each stream's primary key from the
//! catalog (`stream-spec.primary-key`, top-level fields of the record) and
//! drops a record whose key was already written in the same sync.
//!
//! Only a 128-bit hash of each key is kept (SHA-256 of the key values,
//! truncated: a collision between two different keys is out of reach), not
//! the records. The set is bounded: past its capacity it forgets its oldest
//! half, keeping at least the last half of the keys it was given.
//! Duplicates come from neighbouring pages, far inside that window.
//!
//! The set lives as long as one sync: after a crash and a resume it starts
//! empty, so a page replayed across the restart is written again. Delivery
//! is exactly-once within a run and at-least-once per page across restarts;
//! consumers upsert by primary key.

use std::collections::HashSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Keys remembered by default: about 16 to 40 MiB at most (hash-set
/// overhead included), reached only by a sync of over a million records.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// What a record's primary key is, as far as dedupe is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKey {
    /// The stream has no primary key: nothing to dedupe on.
    None,
    /// A key field is absent or null: the record cannot be compared.
    Missing,
    /// The hash of the key's values.
    Hash(u128),
}

impl RecordKey {
    /// The key of a record given the values of its key fields, in the
    /// order of the stream's primary key (`None` where a field is absent).
    pub fn of(values: &[Option<Value>]) -> RecordKey {
        if values.is_empty() {
            return RecordKey::None;
        }
        let mut hasher = Sha256::new();
        for value in values {
            let text = match value {
                None | Some(Value::Null) => return RecordKey::Missing,
                Some(value) => value.to_string(),
            };
            // Length-prefixed, so ("a,b", "c") and ("a", "b,c") differ.
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        RecordKey::Hash(u128::from_le_bytes(first))
    }

    /// The key of a parsed record under `primary_key`.
    pub fn of_object(record: &serde_json::Map<String, Value>, primary_key: &[String]) -> Self {
        let values: Vec<Option<Value>> = primary_key
            .iter()
            .map(|field| record.get(field).cloned())
            .collect();
        RecordKey::of(&values)
    }
}

/// The keys written so far in one sync, in two generations of at most half
/// the capacity each.
#[derive(Debug)]
pub struct SeenKeys {
    current: HashSet<u128>,
    previous: HashSet<u128>,
    half: usize,
}

impl SeenKeys {
    /// A set remembering at least `capacity / 2` and at most `capacity`
    /// keys; 0 remembers nothing (dedupe off).
    pub fn new(capacity: usize) -> Self {
        SeenKeys {
            current: HashSet::new(),
            previous: HashSet::new(),
            half: capacity.div_ceil(2),
        }
    }

    /// Remembers `key`; false if it was seen before (the record is a
    /// duplicate).
    pub fn insert(&mut self, key: u128) -> bool {
        if self.half == 0 {
            return true;
        }
        if self.current.contains(&key) || self.previous.contains(&key) {
            return false;
        }
        if self.current.len() >= self.half {
            // Forget the oldest generation: memory stays bounded.
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
        true
    }

    /// Keys remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(record: Value, primary_key: &[&str]) -> RecordKey {
        let pk: Vec<String> = primary_key.iter().map(|s| s.to_string()).collect();
        RecordKey::of_object(record.as_object().unwrap(), &pk)
    }

    #[test]
    fn keys_depend_on_the_key_fields_only() {
        let a = key(json!({"id": "x", "n": 1}), &["id"]);
        assert!(matches!(a, RecordKey::Hash(_)));
        assert_eq!(a, key(json!({"n": 2, "id": "x"}), &["id"]));
        assert_ne!(a, key(json!({"id": "y"}), &["id"]));
        // A number is not the string of its digits.
        assert_ne!(
            key(json!({"id": 1}), &["id"]),
            key(json!({"id": "1"}), &["id"])
        );
        // Field boundaries count.
        assert_ne!(
            key(json!({"a": "x,y", "b": "z"}), &["a", "b"]),
            key(json!({"a": "x", "b": "y,z"}), &["a", "b"])
        );
        // The order of the key fields is the catalog's.
        assert_ne!(
            key(json!({"a": 1, "b": 2}), &["a", "b"]),
            key(json!({"a": 2, "b": 1}), &["a", "b"])
        );
        assert_eq!(key(json!({"a": 1}), &["a", "b"]), RecordKey::Missing);
        assert_eq!(key(json!({"a": null}), &["a"]), RecordKey::Missing);
        assert_eq!(key(json!({"a": 1}), &[]), RecordKey::None);
        // Nested objects are values like any other.
        assert_eq!(
            key(json!({"k": {"x": 1, "y": 2}}), &["k"]),
            key(json!({"k": {"y": 2, "x": 1}}), &["k"])
        );
    }

    #[test]
    fn a_key_is_new_once() {
        let mut seen = SeenKeys::new(100);
        assert!(seen.insert(1));
        assert!(seen.insert(2));
        assert!(!seen.insert(1));
        assert!(!seen.insert(2));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn memory_is_bounded_and_recent_keys_are_kept() {
        let capacity = 10;
        let mut seen = SeenKeys::new(capacity);
        for k in 0..1000u128 {
            assert!(seen.insert(k));
            assert!(seen.len() <= capacity);
            // At least the last half of the capacity is always remembered.
            for recent in k.saturating_sub(capacity as u128 / 2 - 1)..=k {
                assert!(!seen.insert(recent), "{recent} forgotten at {k}");
            }
        }
        // The oldest were forgotten.
        assert!(seen.insert(0));
    }

    #[test]
    fn zero_capacity_turns_dedupe_off() {
        let mut seen = SeenKeys::new(0);
        assert!(seen.insert(7));
        assert!(seen.insert(7));
        assert_eq!(seen.len(), 0);
    }
}
