//! Key-value state for the current run (`weft:plugins/state`).
//!
//! Each component sees its own namespace. Values are strings; the `*_json`
//! helpers store any serde type as JSON text (64-bit integers stay exact).

use serde::{Serialize, de::DeserializeOwned};

use crate::SdkError;
use crate::bindings::weft::plugins::state as raw;

/// Reads a value.
pub fn get(key: &str) -> Option<String> {
    raw::get(key)
}

/// Writes a value, replacing any previous one; fails when the host's size
/// limit for this component's state would be exceeded.
pub fn set(key: &str, value: &str) -> Result<(), SdkError> {
    raw::set(key, value).map_err(SdkError::State)
}

/// Removes a value; returns whether it existed.
pub fn delete(key: &str) -> bool {
    raw::delete(key)
}

/// Lists keys starting with `prefix`, sorted.
pub fn keys(prefix: &str) -> Vec<String> {
    raw::keys(prefix)
}

/// Reads a value stored as JSON and deserializes it.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, SdkError> {
    match raw::get(key) {
        None => Ok(None),
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
    }
}

/// Serializes `value` as JSON and stores it.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), SdkError> {
    let text = serde_json::to_string(value)?;
    set(key, &text)
}
