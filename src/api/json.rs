//! Stricter JSON than poem-openapi's: its `String` accepts a JSON number or
//! bool and turns it into text, so `{"key": 5}` would reach a handler as
//! `"5"`, and its `Option` takes `null` for absent, which docs/v1.yml never
//! allows. The generated schemas parse every string field through
//! [`strings`] and every other optional field through [`not_null`], so a
//! wrong JSON type is a 400 that names the field.

use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult};
use serde_json::Value;

/// Parses `value` as `T` after checking that it is a JSON string (or an
/// object of strings, for maps), or absent.
pub fn strings<T: ParseFromJSON>(field: &str, value: Option<Value>) -> ParseResult<T> {
    let shape_ok = match &value {
        None | Some(Value::String(_)) => true,
        Some(Value::Object(map)) => map.values().all(Value::is_string),
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        Some(_) => false,
    };
    if !shape_ok {
        return Err(ParseError::custom(format!(
            "`{field}` must be a JSON string (or a list or object of strings), not {}",
            kind(value.as_ref())
        )));
    }
    T::parse_from_json(value).map_err(|e| ParseError::custom(format!("`{field}`: {}", e.message())))
}

/// Parses `value` as `T`, refusing an explicit `null`: a field the spec
/// makes optional may be left out, not sent as `null`.
pub fn not_null<T: ParseFromJSON>(field: &str, value: Option<Value>) -> ParseResult<T> {
    if matches!(value, Some(Value::Null)) {
        return Err(ParseError::custom(format!(
            "`{field}` may be left out, but not null"
        )));
    }
    T::parse_from_json(value).map_err(|e| ParseError::custom(format!("`{field}`: {}", e.message())))
}

fn kind(value: Option<&Value>) -> &'static str {
    match value {
        Some(Value::Number(_)) => "a number",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Array(_)) => "an array with non-strings",
        Some(Value::Object(_)) => "an object with non-string values",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn strings_pass_and_numbers_or_bools_are_refused_by_name() {
        assert_eq!(
            strings::<String>("key", Some(json!("a"))).ok(),
            Some("a".into())
        );
        assert_eq!(strings::<Option<String>>("key", None).ok(), Some(None));
        let err = strings::<Option<String>>("content_type_prefix", Some(json!(541881623027u64)))
            .unwrap_err();
        assert!(
            err.message().ends_with(
                "`content_type_prefix` must be a JSON string (or a list or object of strings), not a number"
            ),
            "{}",
            err.message()
        );
        assert!(strings::<String>("key", Some(json!(true))).is_err());
        assert!(strings::<Option<String>>("key", Some(json!(null))).is_err());
        assert!(not_null::<Option<i64>>("max_size_bytes", Some(json!(null))).is_err());
        assert_eq!(
            not_null::<Option<i64>>("max_size_bytes", None).ok(),
            Some(None)
        );
        assert_eq!(
            not_null::<Option<i64>>("max_size_bytes", Some(json!(5))).ok(),
            Some(Some(5))
        );
        assert!(
            strings::<String>("key", None)
                .unwrap_err()
                .message()
                .contains("`key`: ")
        );
        let map: Option<BTreeMap<String, String>> =
            strings("headers", Some(json!({"a": "b"}))).unwrap();
        assert_eq!(map.unwrap()["a"], "b");
        assert!(
            strings::<Option<BTreeMap<String, String>>>("headers", Some(json!({"a": 1}))).is_err()
        );
    }
}
