//! JSON Schema generation (draft 2020-12) with exact 64-bit integers.
//!
//! # How 64-bit integers stay exact
//!
//! Nothing on the way from the model to a tool and back goes through `f64`:
//!
//! * JSON crosses the component boundary as **text** (`tool.call` takes the
//!   arguments as a string and returns a string), never as WIT numbers or
//!   floating point.
//! * Arguments are parsed by `serde_json` straight into the tool's typed
//!   struct; `serde_json` parses integer literals as `u64`/`i64` exactly
//!   (and keeps `serde_json::Value` numbers as `u64`/`i64` too). Results are
//!   written by `serde_json::to_string`, which prints integers exactly.
//! * The schemas tell the host and the model the exact range: after
//!   schemars generates a schema, [`exact_integers`] adds
//!   `"format": "int64"`/`"uint64"` (schemars already sets them) plus exact
//!   `minimum`/`maximum` bounds to every fixed-width integer schema (8 to
//!   64 bits, and `usize`/`isize` with this target's pointer width). The
//!   bounds are stored as JSON integers (`serde_json` keeps `u64::MAX` and
//!   `i64::MIN` as integers), so a validator rejects `2^64` instead of
//!   rounding it.
//!
//! 128-bit integers do not fit `serde_json`'s number type: do not use them
//! in tool arguments (pass them as strings).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The JSON Schema (draft 2020-12) of `T`, with [`exact_integers`] applied.
pub fn schema_for<T: JsonSchema + ?Sized>() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    exact_integers(&mut value);
    value
}

/// Whether `schema` accepts every value (`true` or `{}` with at most
/// `$schema`/`title`/`description`), i.e. carries no information.
pub fn is_trivial(schema: &Value) -> bool {
    match schema {
        Value::Bool(true) => true,
        Value::Object(map) => map
            .keys()
            .all(|k| matches!(k.as_str(), "$schema" | "title" | "description")),
        _ => false,
    }
}

/// Keywords whose values are data, not schemas: never rewritten.
const DATA_KEYWORDS: &[&str] = &["default", "examples", "const", "enum", "example"];

/// Adds exact `minimum`/`maximum` bounds to every integer schema whose
/// `format` names a fixed width (`int8` … `int64`, `uint8` … `uint64`,
/// `int`/`uint` for `isize`/`usize`), in place, at any depth. Bounds already
/// present are kept when they are tighter.
pub fn exact_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            bound_integer(map);
            for (key, child) in map.iter_mut() {
                if !DATA_KEYWORDS.contains(&key.as_str()) {
                    exact_integers(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(exact_integers),
        _ => {}
    }
}

fn is_integer_type(map: &Map<String, Value>) -> bool {
    match map.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
        _ => false,
    }
}

/// The exact range of a schemars integer format.
fn range_of(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (json!(i8::MIN), json!(i8::MAX)),
        "int16" => (json!(i16::MIN), json!(i16::MAX)),
        "int32" => (json!(i32::MIN), json!(i32::MAX)),
        "int64" => (json!(i64::MIN), json!(i64::MAX)),
        "int" => (json!(isize::MIN as i64), json!(isize::MAX as i64)),
        "uint8" => (json!(0u8), json!(u8::MAX)),
        "uint16" => (json!(0u16), json!(u16::MAX)),
        "uint32" => (json!(0u32), json!(u32::MAX)),
        "uint64" => (json!(0u64), json!(u64::MAX)),
        "uint" => (json!(0u64), json!(usize::MAX as u64)),
        _ => return None,
    })
}

fn bound_integer(map: &mut Map<String, Value>) {
    if !is_integer_type(map) {
        return;
    }
    let Some(Value::String(format)) = map.get("format") else {
        return;
    };
    let Some((min, max)) = range_of(format) else {
        return;
    };
    let keep_min = map
        .get("minimum")
        .is_some_and(|old| int_cmp(old, &min).is_some_and(|o| o.is_ge()));
    if !keep_min {
        map.insert("minimum".to_string(), min);
    }
    let keep_max = map
        .get("maximum")
        .is_some_and(|old| int_cmp(old, &max).is_some_and(|o| o.is_le()));
    if !keep_max {
        map.insert("maximum".to_string(), max);
    }
}

/// Compares two JSON numbers exactly when both are integers; otherwise as
/// the JSON values they are (a fractional bound is compared through i128
/// truncation only when it is an integer-valued number).
fn int_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    fn as_i128(v: &Value) -> Option<i128> {
        let n = v.as_number()?;
        if let Some(i) = n.as_i64() {
            Some(i128::from(i))
        } else {
            n.as_u64().map(i128::from)
        }
    }
    Some(as_i128(a)?.cmp(&as_i128(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Args {
        /// A counter.
        big: u64,
        signed: i64,
        small: u32,
        maybe: Option<u64>,
        list: Vec<i64>,
        #[schemars(range(min = 5))]
        at_least_five: u64,
        nested: Nested,
        ratio: f64,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Nested {
        id: u64,
    }

    #[test]
    fn schema_is_2020_12() {
        let s = schema_for::<Args>();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(s["type"], "object");
        assert_eq!(s["properties"]["big"]["description"], "A counter.");
    }

    #[test]
    fn u64_and_i64_carry_exact_bounds() {
        let s = schema_for::<Args>();
        let big = &s["properties"]["big"];
        assert_eq!(big["format"], "uint64");
        assert_eq!(big["minimum"], json!(0));
        assert_eq!(big["maximum"].as_u64(), Some(u64::MAX));
        assert!(big["maximum"].is_u64(), "bound must be an integer, not f64");
        let signed = &s["properties"]["signed"];
        assert_eq!(signed["format"], "int64");
        assert_eq!(signed["minimum"].as_i64(), Some(i64::MIN));
        assert_eq!(signed["maximum"].as_i64(), Some(i64::MAX));
        // The printed text has the exact digits.
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("18446744073709551615"));
        assert!(text.contains("-9223372036854775808"));
        assert!(!text.contains("e+"));
    }

    #[test]
    fn nested_optional_and_array_integers_are_bounded() {
        let s = schema_for::<Args>();
        let text = serde_json::to_string(&s).unwrap();
        // `maybe` is `["integer", "null"]`.
        let maybe = &s["properties"]["maybe"];
        assert_eq!(maybe["maximum"].as_u64(), Some(u64::MAX), "{text}");
        let list = &s["properties"]["list"]["items"];
        assert_eq!(list["minimum"].as_i64(), Some(i64::MIN), "{text}");
        let nested = &s["$defs"]["Nested"]["properties"]["id"];
        assert_eq!(nested["maximum"].as_u64(), Some(u64::MAX), "{text}");
        let small = &s["properties"]["small"];
        assert_eq!(small["maximum"].as_u64(), Some(u64::from(u32::MAX)));
        assert_eq!(s["properties"]["ratio"].get("maximum"), None);
    }

    #[test]
    fn tighter_bounds_are_kept() {
        let s = schema_for::<Args>();
        let f = &s["properties"]["at_least_five"];
        assert_eq!(f["minimum"], json!(5));
        assert_eq!(f["maximum"].as_u64(), Some(u64::MAX));
    }

    #[test]
    fn data_keywords_are_untouched() {
        let mut v = json!({
            "default": {"type": "integer", "format": "int64"},
            "type": "integer", "format": "uint8"
        });
        exact_integers(&mut v);
        assert_eq!(v["default"], json!({"type": "integer", "format": "int64"}));
        assert_eq!(v["maximum"], json!(255));
    }

    #[test]
    fn u64_values_parse_exactly() {
        #[derive(Deserialize)]
        struct A {
            v: u64,
            w: i64,
        }
        let a: A =
            serde_json::from_str(r#"{"v": 18446744073709551615, "w": -9223372036854775808}"#)
                .unwrap();
        assert_eq!(a.v, u64::MAX);
        assert_eq!(a.w, i64::MIN);
        let v: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(v.to_string(), "9007199254740993");
    }

    #[test]
    fn trivial_schemas() {
        assert!(is_trivial(&schema_for::<serde_json::Value>()));
        assert!(!is_trivial(&schema_for::<Args>()));
    }
}
