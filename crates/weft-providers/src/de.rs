//! Deserializing the wire types, under two disciplines.
//!
//! - **Requests are read strictly**: that is a server's view
//!   ([`crate::openai::wire::request`]). Every field is an `Option` at the
//!   serde level, so the mapping that follows names a missing field itself.
//!   A value of the wrong JSON type is an error, and a path-tracking reader
//!   (`serde_path_to_error`) says where. [`object`] and [`objects`] insist on
//!   JSON objects: serde alone would also accept an array and fill a struct's
//!   fields by position. [`number`] and the counts give errors that say what
//!   was expected in words.
//! - **Responses are read leniently**: that is a client's view. Compatible
//!   servers differ, so a field of an unexpected JSON type counts as absent,
//!   as a `serde_json::Value` lookup would treat it. The [`lenient`] readers
//!   skip such a value without buffering it. [`from_str_lenient`] reads a
//!   whole body or stream chunk that way.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use serde_json::Value;

/// Reads a response body or stream chunk leniently.
///
/// A JSON object is read into `T` directly. Anything else that is JSON
/// (an array, a string, `null`) reads as `T::default()`, as lookups on a
/// `Value` would find nothing in it. For text that is not JSON the error is
/// the one parsing a `serde_json::Value` gives.
pub(crate) fn from_str_lenient<T: DeserializeOwned + Default>(
    text: &str,
) -> Result<T, serde_json::Error> {
    if text.trim_start().starts_with('{')
        && let Ok(v) = serde_json::from_str::<T>(text)
    {
        return Ok(v);
    }
    // Not an object, not JSON, or an object the direct read refused (a key
    // given twice): read it as a `Value` would be read.
    match serde_json::from_str::<Value>(text)? {
        v @ Value::Object(_) => T::deserialize(v),
        _ => Ok(T::default()),
    }
}

/// `Some` of the seed's value, `None` for `null`.
struct Optional<S>(S);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Optional<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an optional value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// A struct read from a JSON object only.
struct ObjectSeed<T>(PhantomData<T>);

impl<T> Clone for ObjectSeed<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ObjectSeed<T> {}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectSeed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A JSON array of the seed's values.
struct ListSeed<S>(S);

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self.0)? {
            out.push(item);
        }
        Ok(out)
    }
}

/// A struct that must be a JSON object; `null` is `None`.
pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(Optional(ObjectSeed(PhantomData)))
}

/// A JSON array of structs that must each be a JSON object; `null` is
/// `None`.
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(Optional(ListSeed(ObjectSeed(PhantomData))))
}

/// Any JSON number as an `f64`.
#[derive(Clone, Copy)]
struct Number;

impl<'de> DeserializeSeed<'de> for Number {
    type Value = f64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_f64(self)
    }
}

impl Visitor<'_> for Number {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// A number; `null` is `None`.
pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_option(Optional(Number))
}

/// A non-negative integer no larger than the bound.
#[derive(Clone, Copy)]
struct Count(u64);

impl<'de> DeserializeSeed<'de> for Count {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_u64(self)
    }
}

impl Visitor<'_> for Count {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v > self.0 {
            return Err(E::custom(format!("{v} is larger than {}.", self.0)));
        }
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(
                Unexpected::Signed(v),
                &"a non-negative integer",
            )),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::invalid_value(
            Unexpected::Float(v),
            &"a non-negative integer",
        ))
    }
}

/// A non-negative integer up to `u32::MAX`; `null` is `None`.
pub(crate) fn count_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = d.deserialize_option(Optional(Count(u64::from(u32::MAX))))?;
    Ok(n.and_then(|n| u32::try_from(n).ok()))
}

/// A non-negative integer; `null` is `None`.
pub(crate) fn count_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(Optional(Count(u64::MAX)))
}

/// Readers that treat a value of another JSON type as absent. Each is used
/// as `#[serde(default, deserialize_with = "...")]`, so a missing field is
/// `None` (or `false`) too.
pub(crate) mod lenient {
    use super::*;

    /// The JSON types a scalar reader keeps.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Want {
        Str,
        U64,
        I64,
        Bool,
    }

    enum Picked {
        Str(String),
        U64(u64),
        I64(i64),
        Bool(bool),
        Nothing,
    }

    struct Pick(Want);

    impl<'de> Visitor<'de> for Pick {
        type Value = Picked;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Picked, E> {
            Ok(match self.0 {
                Want::Str => Picked::Str(v.to_owned()),
                _ => Picked::Nothing,
            })
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Picked, E> {
            Ok(match self.0 {
                Want::Str => Picked::Str(v),
                _ => Picked::Nothing,
            })
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Picked, E> {
            Ok(match self.0 {
                Want::U64 => Picked::U64(v),
                Want::I64 => i64::try_from(v).map_or(Picked::Nothing, Picked::I64),
                _ => Picked::Nothing,
            })
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Picked, E> {
            Ok(match self.0 {
                Want::I64 => Picked::I64(v),
                Want::U64 => u64::try_from(v).map_or(Picked::Nothing, Picked::U64),
                _ => Picked::Nothing,
            })
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Picked, E> {
            Ok(Picked::Nothing)
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Picked, E> {
            Ok(match self.0 {
                Want::Bool => Picked::Bool(v),
                _ => Picked::Nothing,
            })
        }

        fn visit_unit<E: de::Error>(self) -> Result<Picked, E> {
            Ok(Picked::Nothing)
        }

        fn visit_none<E: de::Error>(self) -> Result<Picked, E> {
            Ok(Picked::Nothing)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Picked, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Picked, A::Error> {
            drain_seq(seq)?;
            Ok(Picked::Nothing)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Picked, A::Error> {
            drain_map(map)?;
            Ok(Picked::Nothing)
        }
    }

    fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// A string.
    pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match d.deserialize_any(Pick(Want::Str))? {
            Picked::Str(s) => Some(s),
            _ => None,
        })
    }

    /// A non-negative integer.
    pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(match d.deserialize_any(Pick(Want::U64))? {
            Picked::U64(n) => Some(n),
            _ => None,
        })
    }

    /// An integer that fits an `i64`.
    pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match d.deserialize_any(Pick(Want::I64))? {
            Picked::I64(n) => Some(n),
            _ => None,
        })
    }

    /// A boolean.
    pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match d.deserialize_any(Pick(Want::Bool))? {
            Picked::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// True: the field is there, whatever its value (`null` included).
    pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(true)
    }

    /// The value as JSON, `null` included (`Some(Value::Null)`).
    pub(crate) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }

    /// A struct read from a JSON object. A field that is there but holds
    /// something else (`null` included) reads as the struct's default, as
    /// lookups in it would find nothing.
    pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        d.deserialize_any(ObjectOrDefault(PhantomData)).map(Some)
    }

    /// A JSON array of structs (an element that is not an object reads as
    /// the default); `None` when the field holds something else.
    pub(crate) fn objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        d.deserialize_any(Objects(PhantomData))
    }

    struct ObjectOrDefault<T>(PhantomData<T>);

    impl<T> Clone for ObjectOrDefault<T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T> Copy for ObjectOrDefault<T> {}

    impl<'de, T: Deserialize<'de> + Default> DeserializeSeed<'de> for ObjectOrDefault<T> {
        type Value = T;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjectOrDefault<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
            drain_seq(seq)?;
            Ok(T::default())
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_none<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_any(self)
        }
    }

    struct Objects<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for Objects<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            ListSeed(ObjectOrDefault::<T>(PhantomData))
                .visit_seq(seq)
                .map(Some)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok(None)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    struct Inner {
        #[serde(default, deserialize_with = "lenient::string")]
        s: Option<String>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    struct Loose {
        #[serde(default, deserialize_with = "lenient::string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "lenient::u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "lenient::i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "lenient::bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "lenient::present")]
        p: bool,
        #[serde(default, deserialize_with = "lenient::object")]
        o: Option<Inner>,
        #[serde(default, deserialize_with = "lenient::objects")]
        list: Option<Vec<Inner>>,
    }

    #[test]
    fn lenient_reads_skip_other_types_and_keep_reading() {
        let text = r#"{"s": [1, {"x": [2]}], "n": -1, "i": 3, "b": "yes", "p": null,
            "o": [1, 2], "list": [{"s": "a"}, 5, [], {"s": 7}], "after": 1}"#;
        let v: Loose = from_str_lenient(text).unwrap();
        assert_eq!(
            v,
            Loose {
                s: None,
                n: None,
                i: Some(3),
                b: None,
                p: true,
                o: Some(Inner::default()),
                list: Some(vec![
                    Inner {
                        s: Some("a".into())
                    },
                    Inner::default(),
                    Inner::default(),
                    Inner::default(),
                ]),
            }
        );
        let v: Loose = from_str_lenient(r#"{"s": "x", "n": 7, "list": {"a": 1}}"#).unwrap();
        assert_eq!(
            (v.s.as_deref(), v.n, v.list, v.p),
            (Some("x"), Some(7), None, false)
        );
        // Not an object: nothing to find; a key given twice: the last wins,
        // as in a `Value`.
        assert_eq!(from_str_lenient::<Loose>("[1]").unwrap(), Loose::default());
        let v: Loose = from_str_lenient(r#"{"s": "a", "s": "b"}"#).unwrap();
        assert_eq!(v.s.as_deref(), Some("b"));
        // Not JSON: the error a `Value` parse gives.
        let e = from_str_lenient::<Loose>("{nope").unwrap_err().to_string();
        let expected = serde_json::from_str::<Value>("{nope")
            .unwrap_err()
            .to_string();
        assert_eq!(e, expected);
    }

    #[derive(Debug, Deserialize)]
    struct Strict {
        #[serde(default, deserialize_with = "object")]
        o: Option<Inner>,
        #[serde(default, deserialize_with = "objects")]
        list: Option<Vec<Inner>>,
        #[serde(default, deserialize_with = "number")]
        x: Option<f64>,
        #[serde(default, deserialize_with = "count_u32")]
        k: Option<u32>,
        #[serde(default, deserialize_with = "count_u64")]
        seed: Option<u64>,
    }

    fn strict_error(v: Value) -> String {
        serde_json::from_value::<Strict>(v).unwrap_err().to_string()
    }

    #[test]
    fn strict_reads_want_objects_and_counts() {
        use serde_json::json;
        let v: Strict = serde_json::from_value(
            json!({"o": {"s": "a"}, "list": [{}], "x": 1, "k": 4_000_000_000u64, "seed": null}),
        )
        .unwrap();
        assert_eq!(v.o.unwrap().s.as_deref(), Some("a"));
        assert_eq!(
            (v.list.unwrap().len(), v.x, v.k, v.seed),
            (1, Some(1.0), Some(4_000_000_000), None)
        );
        assert_eq!(
            strict_error(json!({"o": ["a"]})),
            "invalid type: sequence, expected an object"
        );
        assert_eq!(
            strict_error(json!({"list": [[]]})),
            "invalid type: sequence, expected an object"
        );
        assert_eq!(
            strict_error(json!({"list": "x"})),
            "invalid type: string \"x\", expected an array"
        );
        assert_eq!(
            strict_error(json!({"x": "hot"})),
            "invalid type: string \"hot\", expected a number"
        );
        assert_eq!(
            strict_error(json!({"k": 5_000_000_000u64})),
            "5000000000 is larger than 4294967295."
        );
        assert_eq!(
            strict_error(json!({"seed": -3})),
            "invalid value: integer `-3`, expected a non-negative integer"
        );
        assert_eq!(
            strict_error(json!({"seed": 1.5})),
            "invalid value: floating point `1.5`, expected a non-negative integer"
        );
        assert_eq!(
            strict_error(json!({"seed": true})),
            "invalid type: boolean `true`, expected an integer"
        );
    }
}
