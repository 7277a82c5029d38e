//! The host's check of each record a guest returns: one JSON object on one
//! line (a guest's mistake must never corrupt JSON Lines output), read in
//! the same pass for its primary key.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::dedupe::RecordKey;
use crate::error::HarnessError;

/// Checks that a record is one JSON object and makes it one line: a guest's
/// mistake must never corrupt the JSON Lines output. Returns it with its
/// primary key, read in the same pass.
pub(super) fn normalize_record(
    record: String,
    primary_key: &[String],
) -> Result<(String, RecordKey), HarnessError> {
    let bad =
        |why: &str| HarnessError::Trap(format!("the connector returned a record that is {why}"));
    if !record.contains(['\n', '\r']) {
        // The common case: check and pick the key fields without building
        // the record or re-serialising it.
        let mut parser = serde_json::Deserializer::from_str(&record);
        let values = KeyFields(primary_key)
            .deserialize(&mut parser)
            .and_then(|values| parser.end().map(|()| values))
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => bad("not a JSON object"),
                _ => bad("not JSON"),
            })?;
        return Ok((record, RecordKey::of(&values)));
    }
    let value: Value = serde_json::from_str(&record).map_err(|_| bad("not JSON"))?;
    let Value::Object(object) = &value else {
        return Err(bad("not a JSON object"));
    };
    let key = RecordKey::of_object(object, primary_key);
    Ok((value.to_string(), key))
}

/// Parses a JSON object, keeping only the values of the named top-level
/// fields (in the order named; `None` where absent) and skipping the rest.
struct KeyFields<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.0.len()];
        while let Some(field) = map.next_key_seed(FieldIndex(self.0))? {
            match field {
                // A repeated field: the last value wins, as when parsed whole.
                Some(i) => values[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A field name, as its position among the key fields (without allocating).
struct FieldIndex<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| k == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_must_be_json_objects_on_one_line() {
        let normalize = |r: &str| normalize_record(r.into(), &[]).map(|(r, _)| r);
        assert_eq!(normalize("{\"a\":1}").unwrap(), "{\"a\":1}");
        assert_eq!(normalize("{\n \"a\": 1\n}").unwrap(), "{\"a\":1}");
        assert!(normalize("[1]").is_err());
        assert!(normalize("\"x\"").is_err());
        assert!(normalize("{\"a\":").is_err());
        assert!(normalize("{} {}").is_err());
        assert!(
            normalize("[1]")
                .unwrap_err()
                .to_string()
                .contains("not a JSON object")
        );
        assert!(
            normalize("{\"a\":")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn the_key_is_read_in_the_same_pass_either_way() {
        let pk = ["project".to_string(), "id".to_string()];
        let one_line = r#"{"id":7,"x":[1,{"id":8}],"project":"p\u0031"}"#;
        let (_, a) = normalize_record(one_line.into(), &pk).unwrap();
        let (_, b) = normalize_record("{\"project\": \"p1\",\n \"id\": 7}".into(), &pk).unwrap();
        assert!(matches!(a, RecordKey::Hash(_)));
        assert_eq!(a, b, "escapes and layout do not change the key");
        let (_, nested_only) =
            normalize_record(r#"{"x":{"id":7,"project":"p1"}}"#.into(), &pk).unwrap();
        assert_eq!(nested_only, RecordKey::Missing, "key fields are top-level");
        let (_, repeated) =
            normalize_record(r#"{"project":"p1","id":1,"id":7}"#.into(), &pk).unwrap();
        assert_eq!(repeated, a, "the last of a repeated field wins");
        let (_, none) = normalize_record(one_line.into(), &[]).unwrap();
        assert_eq!(none, RecordKey::None);
    }
}
