//! String properties with a closed set of values (`type: string` with
//! `enum` in docs/v1.yml): `error_code`, `token_type`, the methods one may
//! sign. The generator names each set (`ErrorErrorCodeValues`, …) and types
//! the property [`OneOf<that set>`]: the served schema lists the values, so
//! generated clients get a union (a misspelt `"path_not_allowd"` does not
//! compile), and a request with another value is refused as malformed,
//! naming the field, before any handler runs.

use std::{borrow::Cow, fmt, marker::PhantomData};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A closed set of strings, as docs/v1.yml lists them.
pub trait Values: Send + Sync + 'static {
    const VALUES: &'static [&'static str];
}

/// One value of the set `V`.
pub struct OneOf<V: Values>(Cow<'static, str>, PhantomData<V>);

impl<V: Values> OneOf<V> {
    /// `value`, if the set holds it.
    pub fn new(value: &str) -> Option<Self> {
        V::VALUES
            .iter()
            .find(|v| **v == value)
            .map(|v| Self(Cow::Borrowed(v), PhantomData))
    }

    /// `value`, which the set holds: for the constants handlers answer
    /// (`"jwt"`, `"PUT"`). A value docs/v1.yml does not list is a bug
    /// that every test of its operation catches.
    pub fn listed(value: &'static str) -> Self {
        Self::new(value).expect("docs/v1.yml lists this value")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<V: Values> Clone for OneOf<V> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<V: Values> PartialEq for OneOf<V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<V: Values> fmt::Debug for OneOf<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<V: Values> serde::Serialize for OneOf<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<V: Values> fmt::Display for OneOf<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<V: Values> Type for OneOf<V> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            enum_items: V::VALUES.iter().map(|v| Value::from(*v)).collect(),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<V: Values> ParseFromJSON for OneOf<V> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::new(&text).ok_or_else(|| {
                ParseError::custom(format!("{text:?} is not one of {}", V::VALUES.join(", ")))
            }),
            Some(other) => Err(ParseError::expected_type(other)),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl<V: Values> ToJSON for OneOf<V> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Colours;
    impl Values for Colours {
        const VALUES: &'static [&'static str] = &["red", "green"];
    }

    #[test]
    fn only_the_listed_strings_parse() {
        let red = OneOf::<Colours>::parse_from_json(Some(Value::from("red"))).unwrap();
        assert_eq!(red.as_str(), "red");
        assert!(OneOf::<Colours>::parse_from_json(Some(Value::from("blue"))).is_err());
        assert!(OneOf::<Colours>::parse_from_json(Some(Value::from(1))).is_err());
        assert!(OneOf::<Colours>::parse_from_json(None).is_err());
        assert_eq!(red.to_json(), Some(Value::from("red")));
    }
}
