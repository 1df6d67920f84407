//! The SDK's own error type.

use thiserror::Error;

/// Errors raised by the SDK's helpers (configuration parsing, state access,
/// JSON conversion).
#[derive(Debug, Error)]
pub enum SdkError {
    /// A configuration value was present but could not be parsed.
    #[error("config key `{key}`: {message}")]
    Config {
        /// The configuration key.
        key: String,
        /// Why the value was rejected.
        message: String,
    },
    /// The host refused a state write (for example a size limit).
    #[error("state: {0}")]
    State(String),
    /// A value could not be converted to or from JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}
