//! Stricter JSON than poem-openapi's: its `String` accepts a JSON number or
//! bool and turns it into text, so `{"key": 5}` would reach a handler as
//! `"5"`, and its `Option` takes `null` for absent, which docs/v1.yml never
//! allows. The generated schemas parse every string field through
//! [`strings`] and every other optional field through [`not_null`], so a
//! wrong JSON type is a 400 that names the field.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A JSON string or integer: how the COS SDKs pass header and query values
/// to `getAuthorization` (`Content-Length` and `partNumber` as numbers, the
/// rest as strings). Nothing else: not a float, a bool, `null` or an object.
/// docs/v1.yml writes it `oneOf: [{type: string}, {type: integer, format:
/// int64}]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum StringOrInteger {
    String(String),
    Integer(i64),
}

impl StringOrInteger {
    /// The value as the request will send it: an integer in decimal.
    pub fn into_text(self) -> String {
        match self {
            Self::String(s) => s,
            Self::Integer(n) => n.to_string(),
        }
    }
}

impl Type for StringOrInteger {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_or_integer".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![String::schema_ref(), i64::schema_ref()],
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for StringOrInteger {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Self::String(s)),
            Some(Value::Number(n)) if n.is_i64() => {
                Ok(Self::Integer(n.as_i64().unwrap_or_default()))
            }
            other => Err(ParseError::custom(format!(
                "values must be strings or integers, not {}",
                match other {
                    Some(Value::Number(_)) => "a fraction",
                    Some(Value::Bool(_)) => "a boolean",
                    Some(Value::Array(_)) => "an array",
                    Some(Value::Object(_)) => "an object",
                    _ => "null",
                }
            ))),
        }
    }
}

impl ToJSON for StringOrInteger {
    fn to_json(&self) -> Option<Value> {
        Some(match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Integer(n) => Value::from(*n),
        })
    }
}

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

    #[test]
    fn sdk_values_are_strings_or_integers_and_nothing_else() {
        let parse = |v: Value| {
            not_null::<Option<BTreeMap<String, StringOrInteger>>>("Headers", Some(v))
                .map(|m| m.unwrap_or_default())
        };
        let map = parse(json!({"Content-Length": 1048576, "x-cos-meta-a": "b"})).unwrap();
        assert_eq!(map["Content-Length"].clone().into_text(), "1048576");
        assert_eq!(map["x-cos-meta-a"].clone().into_text(), "b");
        for bad in [
            json!({"a": 1.5}),
            json!({"a": true}),
            json!({"a": null}),
            json!({"a": [1]}),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(
                err.message().contains("strings or integers"),
                "{bad}: {}",
                err.message()
            );
        }
    }
}
