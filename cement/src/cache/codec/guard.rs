//! A serializer wrapper that refuses what JSON would store but never give back.
//!
//! serde_json writes `NaN` and `±inf` as `null`, and `Some(None)` / `Some(())` as `null` too,
//! which read back as something else (`None`, or an error) — and it writes values nested
//! deeper than its own decoder accepts (128 levels). A `set` that returns `Ok` must read back
//! equal, so [`Guard`] forwards every call to the real serializer and fails, in the same single
//! pass, on exactly those values. It costs a depth counter and a flag per value.

use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

/// Deepest nesting of arrays and objects that serde_json's decoder reads back: it refuses the
/// 128th level (`remaining_depth` starts at 128 and fails on reaching 0).
pub(crate) const MAX_DEPTH: usize = 127;

/// Serializes `value` through `ser`, refusing non-finite floats, `Some` of a `null` value and
/// nesting past [`MAX_DEPTH`].
#[cfg(test)]
pub(crate) fn serialize<S: Serializer, V: Serialize + ?Sized>(
    value: &V,
    ser: S,
) -> Result<S::Ok, S::Error> {
    serialize_with(value, ser, true)
}

/// [`serialize`], refusing non-finite floats only if `finite` (MessagePack stores them, JSON
/// does not); `Some(None)` and nesting past [`MAX_DEPTH`] are refused either way, so a value
/// stored under one codec can be stored under the other.
pub(crate) fn serialize_with<S: Serializer, V: Serialize + ?Sized>(
    value: &V,
    ser: S,
    finite: bool,
) -> Result<S::Ok, S::Error> {
    value.serialize(Guard {
        ser,
        depth: 0,
        in_some: false,
        finite,
    })
}

struct Guard<S> {
    ser: S,
    /// Arrays and objects open around this value.
    depth: usize,
    /// This value is the content of a `Some`: it must not serialize as `null`.
    in_some: bool,
    /// Refuse non-finite floats.
    finite: bool,
}

/// A value serialized through a [`Guard`] at `depth`: what compound serializers hand to the
/// inner serializer's `serialize_element` and friends.
struct Guarded<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
    finite: bool,
}

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Guard {
            ser,
            depth: self.depth,
            in_some: false,
            finite: self.finite,
        })
    }
}

/// The compound serializers: the inner one plus the depth of their elements.
struct Compound<C> {
    inner: C,
    depth: usize,
    finite: bool,
}

fn non_finite<E: ser::Error>(value: impl Display) -> E {
    E::custom(format_args!(
        "it holds the float {value}, which JSON cannot represent (serde_json would store null); \
         store an Option (None for \"no number\") or a string instead"
    ))
}

fn null_in_some<E: ser::Error>(what: &str) -> E {
    E::custom(format_args!(
        "it holds Some({what}), which JSON stores as null and reads back as None; \
         use an enum to tell \"known to be empty\" from \"absent\""
    ))
}

impl<S: Serializer> Guard<S> {
    /// The depth of the elements of a container opened here, `levels` JSON levels deep (an
    /// enum variant with content is an object around its content: one more level).
    fn open<E: ser::Error>(&self, levels: usize) -> Result<usize, E> {
        let depth = self.depth + levels;
        if depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "it nests more than {MAX_DEPTH} levels of arrays and objects, deeper than the \
                 JSON decoder reads back; flatten the value or store its parts under separate keys"
            )));
        }
        Ok(depth)
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.ser.$method($($arg),*)
        }
    )*};
}

impl<S: Serializer> Serializer for Guard<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if self.finite && !v.is_finite() {
            return Err(non_finite(v));
        }
        self.ser.serialize_f32(v)
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if self.finite && !v.is_finite() {
            return Err(non_finite(v));
        }
        self.ser.serialize_f64(v)
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        if self.in_some {
            return Err(null_in_some("None"));
        }
        self.ser.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let (depth, finite) = (self.depth, self.finite);
        self.ser.serialize_some(&InSome {
            value,
            depth,
            finite,
        })
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        if self.in_some {
            return Err(null_in_some("()"));
        }
        self.ser.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        if self.in_some {
            return Err(null_in_some(name));
        }
        self.ser.serialize_unit_struct(name)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // Transparent: the content takes this value's place, `in_some` included.
        let (depth, in_some, finite) = (self.depth, self.in_some, self.finite);
        self.ser.serialize_newtype_struct(
            name,
            &Transparent {
                value,
                depth,
                in_some,
                finite,
            },
        )
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        self.ser.serialize_newtype_variant(
            name,
            index,
            variant,
            &Guarded {
                value,
                depth,
                finite,
            },
        )
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self.ser.serialize_seq(len)?,
            depth,
            finite,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self.ser.serialize_tuple(len)?,
            depth,
            finite,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self.ser.serialize_tuple_struct(name, len)?,
            depth,
            finite,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let depth = self.open(2)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self
                .ser
                .serialize_tuple_variant(name, index, variant, len)?,
            depth,
            finite,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self.ser.serialize_map(len)?,
            depth,
            finite,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let depth = self.open(1)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self.ser.serialize_struct(name, len)?,
            depth,
            finite,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let depth = self.open(2)?;
        let finite = self.finite;
        Ok(Compound {
            inner: self
                .ser
                .serialize_struct_variant(name, index, variant, len)?,
            depth,
            finite,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.ser.is_human_readable()
    }
}

/// The content of a `Some`.
struct InSome<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
    finite: bool,
}

impl<T: Serialize + ?Sized> Serialize for InSome<'_, T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Guard {
            ser,
            depth: self.depth,
            in_some: true,
            finite: self.finite,
        })
    }
}

/// The content of a newtype struct, which stands where the struct stands.
struct Transparent<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
    in_some: bool,
    finite: bool,
}

impl<T: Serialize + ?Sized> Serialize for Transparent<'_, T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Guard {
            ser,
            depth: self.depth,
            in_some: self.in_some,
            finite: self.finite,
        })
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                self.inner.$method(&Guarded {
                    value,
                    depth: self.depth,
                    finite: self.finite,
                })
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
    ($trait:ident, $method:ident, keyed) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                self.inner.$method(
                    key,
                    &Guarded {
                        value,
                        depth: self.depth,
                        finite: self.finite,
                    },
                )
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, keyed);
compound!(SerializeStructVariant, serialize_field, keyed);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(&Guarded {
            value: key,
            depth: self.depth,
            finite: self.finite,
        })
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_value(&Guarded {
            value,
            depth: self.depth,
            finite: self.finite,
        })
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<V: Serialize + ?Sized>(value: &V) -> Result<String, serde_json::Error> {
        let mut out = Vec::new();
        serialize(value, &mut serde_json::Serializer::new(&mut out))?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// `[[[...0...]]]` with `levels` arrays.
    fn nested(levels: usize) -> serde_json::Value {
        (0..levels).fold(serde_json::json!(0), |inner, _| serde_json::json!([inner]))
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let value = serde_json::json!({"a": [1, 2.5, "x", null, {"b": true}]});
        assert_eq!(
            json(&value).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(json(&Some(3)).unwrap(), "3");
        assert_eq!(json(&None::<u8>).unwrap(), "null");
    }

    #[test]
    fn non_finite_floats_are_refused() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = json(&v).unwrap_err().to_string();
            assert!(err.contains("JSON cannot represent"), "{err}");
            assert!(json(&vec![(1, v)]).is_err());
        }
        assert!(json(&f32::NAN).is_err());
        assert!(json(&-0.0f64).is_ok());
    }

    #[test]
    fn some_of_null_is_refused() {
        assert!(json(&Some(None::<u8>)).is_err());
        assert!(json(&Some(())).is_err());
        assert!(json(&Some(Some(None::<u8>))).is_err());
        assert!(json(&vec![Some(None::<u8>)]).is_err());
        #[derive(serde::Serialize)]
        struct Unit;
        #[derive(serde::Serialize)]
        struct Wrap(Option<u8>);
        assert!(json(&Some(Unit)).is_err());
        assert!(json(&Some(Wrap(None))).is_err());
        assert_eq!(json(&Some(Wrap(Some(1)))).unwrap(), "1");
        assert_eq!(json(&vec![None::<u8>]).unwrap(), "[null]");
    }

    #[test]
    fn depth_stops_where_the_decoder_stops() {
        let ok = nested(MAX_DEPTH);
        let text = json(&ok).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
        let too_deep = nested(MAX_DEPTH + 1);
        let err = json(&too_deep).unwrap_err().to_string();
        assert!(err.contains("nests more than 127 levels"), "{err}");
        // And serde_json itself indeed refuses that depth on decode.
        let unguarded = serde_json::to_string(&too_deep).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&unguarded).is_err());
    }

    #[test]
    fn variants_count_as_the_objects_json_writes() {
        #[derive(serde::Serialize)]
        enum E {
            New(Box<serde_json::Value>),
            Tuple(u8, Box<serde_json::Value>),
        }
        // {"New": [...]} is one level more than its content.
        assert!(json(&E::New(Box::new(nested(MAX_DEPTH - 1)))).is_ok());
        assert!(json(&E::New(Box::new(nested(MAX_DEPTH)))).is_err());
        // {"Tuple": [0, [...]]} is two.
        assert!(json(&E::Tuple(0, Box::new(nested(MAX_DEPTH - 2)))).is_ok());
        assert!(json(&E::Tuple(0, Box::new(nested(MAX_DEPTH - 1)))).is_err());
    }
}
