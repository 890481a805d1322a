//! A serde `Deserializer` over the YAML tree, so the canonical tree decodes
//! into the typed model without a detour through `serde_json::Value`.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::yaml::{Kind, Node, Value};

/// Why a node did not fit the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError(msg.to_string())
    }
}

/// Decodes `T` from a node.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, DecodeError> {
    T::deserialize(node)
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.value {
            Value::Scalar(s) => match s.kind {
                Kind::Null => visitor.visit_unit(),
                Kind::Bool(b) => visitor.visit_bool(b),
                Kind::Int(n) => visitor.visit_i64(n),
                Kind::Float(f) => visitor.visit_f64(f),
                Kind::Str => visitor.visit_borrowed_str(&s.text),
            },
            Value::Seq(items) => visitor.visit_seq(Items(items.iter())),
            Value::Map(m) => visitor.visit_map(Entries {
                iter: m.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Items<'de>(std::slice::Iter<'de, Node>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de> {
    iter: indexmap::map::Iter<'de, crate::yaml::Key, Node>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let key = de::value::BorrowedStrDeserializer::<DecodeError>::new(k.name.as_str());
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let v = self
            .value
            .take()
            .ok_or_else(|| DecodeError("a value was asked for before its key".into()))?;
        seed.deserialize(v)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn decodes_the_same_as_through_json() {
        let src = "a: 1\nb: [x, 2.5, true, ~]\nc: {d: 'e'}\nf: null\n";
        let node = crate::yaml::parse(src, &Arc::from("t.yaml")).expect("parses");
        let direct: serde_json::Value = from_node(&node).expect("decodes");
        assert_eq!(direct, node.to_json());
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct S {
            a: u16,
            f: Option<String>,
            #[serde(default)]
            g: Option<i64>,
        }
        let s: S = from_node(&node).expect("decodes");
        assert_eq!(
            s,
            S {
                a: 1,
                f: None,
                g: None
            }
        );
        let bad: Result<S, _> = from_node(node.get("c").expect("c"));
        assert!(bad.is_err());
    }
}
