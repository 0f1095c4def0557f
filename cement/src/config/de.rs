//! The lenient deserializer: config values to the type a reader asks for, parsing text
//! (environment variables and many config files only have text) and keeping the key an error
//! happened at.

use std::fmt;

use figment::value::{Empty, Num, Value};
use serde::de::{self, Error as _, IntoDeserializer, Visitor};

use super::Config;

/// A deserialization error, with the key and value it happened at (innermost first).
#[derive(Debug)]
pub(super) struct DeError {
    pub(super) message: String,
    pub(super) at: Option<(String, Value)>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Deserializes a config [`Value`], parsing text to the type asked for (environment variables
/// and many config files only have text).
pub(super) struct ValueDe<'a> {
    pub(super) value: &'a Value,
    pub(super) config: &'a Config,
}

impl<'a> ValueDe<'a> {
    fn text(&self) -> Option<&'a str> {
        match self.value {
            Value::String(_, s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn parse<T, V>(
        self,
        expected: &str,
        visit: impl FnOnce(T) -> std::result::Result<V, DeError>,
    ) -> std::result::Result<V, DeError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        let text = self.text().unwrap_or_default().trim();
        let parsed = text
            .parse::<T>()
            .map_err(|e| DeError::custom(format!("\"{text}\" is not a valid {expected} ({e})")))?;
        visit(parsed)
    }
}

macro_rules! lenient_number {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, DeError> {
            if self.text().is_some() {
                self.parse::<$ty, _>(stringify!($ty), |n| visitor.$visit(n))
            } else {
                self.deserialize_any(visitor)
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::String(_, s) => visitor.visit_str(s),
            Value::Char(_, c) => visitor.visit_char(*c),
            Value::Bool(_, b) => visitor.visit_bool(*b),
            Value::Num(_, n) => match *n {
                Num::U8(n) => visitor.visit_u8(n),
                Num::U16(n) => visitor.visit_u16(n),
                Num::U32(n) => visitor.visit_u32(n),
                Num::U64(n) => visitor.visit_u64(n),
                Num::U128(n) => visitor.visit_u128(n),
                Num::USize(n) => visitor.visit_u64(n as u64),
                Num::I8(n) => visitor.visit_i8(n),
                Num::I16(n) => visitor.visit_i16(n),
                Num::I32(n) => visitor.visit_i32(n),
                Num::I64(n) => visitor.visit_i64(n),
                Num::I128(n) => visitor.visit_i128(n),
                Num::ISize(n) => visitor.visit_i64(n as i64),
                Num::F32(n) => visitor.visit_f32(n),
                Num::F64(n) => visitor.visit_f64(n),
            },
            Value::Empty(_, Empty::None) => visitor.visit_none(),
            Value::Empty(_, Empty::Unit) => visitor.visit_unit(),
            Value::Dict(_, dict) => visitor.visit_map(DictAccess {
                iter: dict.iter(),
                current: None,
                config: self.config,
            }),
            Value::Array(_, items) => visitor.visit_seq(SeqAccess {
                iter: items.iter(),
                config: self.config,
            }),
        }
    }

    lenient_number! {
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
        deserialize_u128 => u128, visit_u128;
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_i128 => i128, visit_i128;
        deserialize_f32 => f32, visit_f32;
        deserialize_f64 => f64, visit_f64;
    }

    fn deserialize_bool<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.text() {
            Some(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => visitor.visit_bool(true),
                "false" | "no" | "off" | "0" => visitor.visit_bool(false),
                _ => Err(DeError::custom(format!(
                    "\"{text}\" is not a boolean (use true/false, yes/no, on/off or 1/0)"
                ))),
            },
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::Num(_, n) => visitor.visit_string(num_text(n)),
            Value::Bool(_, b) => visitor.visit_string(b.to_string()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::Empty(..) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.text() {
            // Cement's form for lists in files and the environment: `a, b, c`.
            Some(text) => {
                let items: Vec<Value> = if text.trim().is_empty() {
                    Vec::new()
                } else {
                    text.split(',')
                        .map(|part| Value::from(part.trim()))
                        .collect()
                };
                visitor.visit_seq(SeqAccess {
                    iter: items.iter(),
                    config: self.config,
                })
            }
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::String(_, s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(DeError::custom("expected the name of a variant, as text")),
        }
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

pub(super) fn num_text(n: &Num) -> String {
    match *n {
        Num::U8(n) => n.to_string(),
        Num::U16(n) => n.to_string(),
        Num::U32(n) => n.to_string(),
        Num::U64(n) => n.to_string(),
        Num::U128(n) => n.to_string(),
        Num::USize(n) => n.to_string(),
        Num::I8(n) => n.to_string(),
        Num::I16(n) => n.to_string(),
        Num::I32(n) => n.to_string(),
        Num::I64(n) => n.to_string(),
        Num::I128(n) => n.to_string(),
        Num::ISize(n) => n.to_string(),
        Num::F32(n) => n.to_string(),
        Num::F64(n) => n.to_string(),
    }
}

struct DictAccess<'a, I> {
    iter: I,
    current: Option<(&'a String, &'a Value)>,
    config: &'a Config,
}

impl<'de, 'a, I> de::MapAccess<'de> for DictAccess<'a, I>
where
    I: Iterator<Item = (&'a String, &'a Value)>,
{
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.current = Some((key, value));
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, DeError> {
        let Some((key, value)) = self.current.take() else {
            return Err(DeError::custom("a value was asked for before its key"));
        };
        seed.deserialize(ValueDe {
            value,
            config: self.config,
        })
        .map_err(|mut e| {
            // Keep the innermost key: that is the one a user has to fix.
            if e.at.is_none() {
                e.at = Some((key.clone(), value.clone()));
            }
            e
        })
    }
}

struct SeqAccess<'a, I> {
    iter: I,
    config: &'a Config,
}

impl<'de, 'a, I> de::SeqAccess<'de> for SeqAccess<'a, I>
where
    I: Iterator<Item = &'a Value>,
{
    type Error = DeError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<Option<S::Value>, DeError> {
        match self.iter.next() {
            Some(value) => seed
                .deserialize(ValueDe {
                    value,
                    config: self.config,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}
