//! [`ErrorKind`]: the kind of a [`ModelError`] as plain data, what provider
//! error tables, fallback rules, decision records and spans name.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::ModelError;

/// The kind of a [`ModelError`], as data ([`ModelError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`ModelError::RateLimited`].
    RateLimited,
    /// [`ModelError::Auth`].
    Auth,
    /// [`ModelError::InsufficientBalance`].
    InsufficientBalance,
    /// [`ModelError::ContextTooLong`].
    ContextTooLong,
    /// [`ModelError::Unsupported`].
    Unsupported,
    /// [`ModelError::ContentFiltered`].
    ContentFiltered,
    /// [`ModelError::Overloaded`].
    Overloaded,
    /// [`ModelError::Timeout`].
    Timeout,
    /// [`ModelError::Transport`].
    Transport,
    /// [`ModelError::Denied`].
    Denied,
    /// [`ModelError::Provider`] with an HTTP status of 500 or more.
    ServerError,
    /// [`ModelError::Provider`] with any other status.
    Provider,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::RateLimited,
        ErrorKind::Auth,
        ErrorKind::InsufficientBalance,
        ErrorKind::ContextTooLong,
        ErrorKind::Unsupported,
        ErrorKind::ContentFiltered,
        ErrorKind::Overloaded,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::Denied,
        ErrorKind::ServerError,
        ErrorKind::Provider,
    ];

    /// The snake_case name (`rate_limited`, ...), as in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Auth => "auth",
            ErrorKind::InsufficientBalance => "insufficient_balance",
            ErrorKind::ContextTooLong => "context_too_long",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Denied => "denied",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Provider => "provider",
        }
    }

    /// True for the kinds worth retrying on the same model (rate limits,
    /// overload, timeouts, transport failures, HTTP 5xx).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Timeout
                | ErrorKind::Transport
                | ErrorKind::ServerError
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ModelError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ModelError::RateLimited { .. } => ErrorKind::RateLimited,
            ModelError::Auth(_) => ErrorKind::Auth,
            ModelError::InsufficientBalance(_) => ErrorKind::InsufficientBalance,
            ModelError::ContextTooLong(_) => ErrorKind::ContextTooLong,
            ModelError::Unsupported(_) => ErrorKind::Unsupported,
            ModelError::ContentFiltered(_) => ErrorKind::ContentFiltered,
            ModelError::Overloaded(_) => ErrorKind::Overloaded,
            ModelError::Timeout(_) => ErrorKind::Timeout,
            ModelError::Transport(_) => ErrorKind::Transport,
            ModelError::Denied(_) => ErrorKind::Denied,
            ModelError::Provider { status, .. } if *status >= 500 => ErrorKind::ServerError,
            ModelError::Provider { .. } => ErrorKind::Provider,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_agree_with_is_retryable() {
        let errors = [
            ModelError::RateLimited {
                retry_after_ms: None,
                message: String::new(),
            },
            ModelError::Auth(String::new()),
            ModelError::Transport(String::new()),
            ModelError::Provider {
                status: 503,
                body: String::new(),
            },
            ModelError::Provider {
                status: 404,
                body: String::new(),
            },
        ];
        for e in &errors {
            assert_eq!(e.is_retryable(), e.kind().is_retryable(), "{e}");
        }
        for k in ErrorKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), k);
        }
    }
}
