//! Read-only deployment configuration (`weft:plugins/config`).

use std::str::FromStr;

use crate::SdkError;

/// The raw value of configuration key `key`, if set.
pub fn get(key: &str) -> Option<String> {
    crate::bindings::weft::plugins::config::get(key)
}

/// The value of `key` parsed with [`FromStr`]; `Ok(None)` when unset, an
/// [`SdkError::Config`] naming the key when the value does not parse.
/// Surrounding whitespace is ignored.
pub fn get_parsed<T>(key: &str) -> Result<Option<T>, SdkError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match get(key) {
        None => Ok(None),
        Some(raw) => parse_value(key, &raw).map(Some),
    }
}

/// Like [`get_parsed`], with `default` when the key is unset.
pub fn get_or<T>(key: &str, default: T) -> Result<T, SdkError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Ok(get_parsed(key)?.unwrap_or(default))
}

/// Parses one configuration value; exposed so callers can parse values they
/// fetched themselves with the same error messages.
pub fn parse_value<T>(key: &str, raw: &str) -> Result<T, SdkError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    raw.trim().parse::<T>().map_err(|e| SdkError::Config {
        key: key.to_string(),
        message: format!("cannot parse {raw:?}: {e}"),
    })
}
