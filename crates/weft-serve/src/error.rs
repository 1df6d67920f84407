//! Errors in the OpenAI shape: `{"error": {"message", "type", "param",
//! "code"}}` with the matching HTTP status.
//!
//! [`ModelError`]s map onto the statuses and codes OpenAI-compatible
//! providers use, so a client (Weft's own included) reads the same kind of
//! error back:
//!
//! | model error | status | `type` / `code` |
//! | --- | --- | --- |
//! | `ContextTooLong` | 400 | `invalid_request_error` / `context_length_exceeded` |
//! | `Unsupported` | 400 | `invalid_request_error` / `unsupported` |
//! | `ContentFiltered` | 400 | `invalid_request_error` / `content_filter` |
//! | `Provider` with a 4xx status | 400 | `invalid_request_error` / `backend_rejected` |
//! | `Denied` | 403 | `permission_error` / `denied` |
//! | `RateLimited` | 429 + `Retry-After` | `rate_limit_error` / `rate_limit_exceeded` |
//! | `InsufficientBalance` | 429 | `insufficient_quota` / `insufficient_quota` |
//! | `Overloaded` | 503 | `server_error` / `overloaded` |
//! | `Timeout` | 504 | `server_error` / `timeout` |
//! | `Auth`, `Transport`, other `Provider` | 500 | `server_error` / `backend_error` |
//!
//! A backend's authentication failure is the server's problem, not the
//! client's, so it is a 500 rather than a 401.
//!
//! The request checks of [`security`](crate::security) answer:
//!
//! | refusal | status | `type` / `code` |
//! | --- | --- | --- |
//! | no `Host` | 400 | `invalid_request_error` / `missing_host` |
//! | `Host` not naming the server | 421 | `invalid_request_error` / `host_not_allowed` |
//! | browser request from another origin | 403 | `permission_error` / `origin_not_allowed` |
//! | no or wrong bearer token | 401 + `WWW-Authenticate: Bearer` | `invalid_request_error` / `missing_api_key`, `invalid_api_key` |
//! | body not `application/json` | 415 | `invalid_request_error` / `unsupported_media_type` |
//! | body over the limit | 413 | `invalid_request_error` / `request_too_large` |
//! | body not in time | 408 + `Connection: close` | `invalid_request_error` / `request_timeout` |
//! | every model slot taken | 503 + `Retry-After` | `server_error` / `overloaded` |

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_model::ModelError;

use crate::wire::InvalidRequest;

/// An error answer: HTTP status, OpenAI error `type`, `code`, `param` and
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The OpenAI error `type` (`invalid_request_error`, `server_error`, ...).
    pub kind: &'static str,
    /// The error `code` (`model_not_found`, `context_length_exceeded`, ...).
    pub code: Option<&'static str>,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A readable message.
    pub message: String,
    /// For a rate limit: how long the client should wait.
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: String,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            param: None,
            message,
            retry_after_ms: None,
        }
    }

    /// 400 for a body that is not JSON.
    pub fn invalid_json(e: &serde_json::Error) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("invalid_json"),
            format!("The request body is not valid JSON: {e}."),
        )
    }

    /// 404 for a model this server does not serve; lists those it does.
    pub fn model_not_found<'a>(name: &str, served: impl IntoIterator<Item = &'a String>) -> Self {
        let served: Vec<&str> = served.into_iter().map(String::as_str).collect();
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!(
                "The model `{name}` does not exist on this server; it serves: {}.",
                if served.is_empty() {
                    "no models".to_owned()
                } else {
                    served.join(", ")
                }
            ),
        );
        e.param = Some("model".into());
        e
    }

    /// 404 for an unknown URL.
    pub fn unknown_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("unknown_url"),
            format!(
                "Unknown request URL: {method} {path}. This server serves GET /v1/models and POST /v1/chat/completions."
            ),
        )
    }

    /// 405 for a known URL with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            Some("method_not_allowed"),
            format!("{method} is not allowed on {path}."),
        )
    }

    /// 413 or 400 for a body that could not be read.
    pub fn from_rejection(rejection: &BytesRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                status,
                "invalid_request_error",
                Some("request_too_large"),
                format!("The request body is too large: {}.", rejection.body_text()),
            )
        } else {
            Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                format!(
                    "The request body could not be read: {}.",
                    rejection.body_text()
                ),
            )
        }
    }

    /// 400 for a request without a `Host` header.
    pub fn missing_host() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("missing_host"),
            "The request has no Host header; send one naming this server (HTTP/1.1 requires it)."
                .into(),
        )
    }

    /// 421 for a `Host` that does not name this server (as in DNS
    /// rebinding).
    pub fn host_not_allowed(host: &str) -> Self {
        Self::new(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request_error",
            Some("host_not_allowed"),
            format!(
                "The Host `{host}` does not name this server. Use the address it listens on, or have its operator allow that name (`weft serve --allow-host NAME`)."
            ),
        )
    }

    /// 403 for a browser request from a web origin this server does not
    /// allow.
    pub fn origin_not_allowed(origin: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            Some("origin_not_allowed"),
            format!(
                "Requests from web pages at `{origin}` are not allowed. The operator can allow that origin with CORS (`weft serve --cors-origin {origin}`)."
            ),
        )
    }

    /// 403 for a request a browser marks as sent by another site (an
    /// embedded image or script, a link), without an `Origin` to allow.
    pub fn cross_site_request(site: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            Some("origin_not_allowed"),
            format!(
                "Requests a browser sends for another site (`Sec-Fetch-Site: {site}`) are not allowed; call this server with fetch() from an allowed origin."
            ),
        )
    }

    /// 401 for a request without the bearer token this server asks for.
    pub fn missing_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("missing_api_key"),
            "This server needs an API key: send it as `Authorization: Bearer KEY`.".into(),
        )
    }

    /// 401 for a request whose bearer token is not one of this server's.
    pub fn invalid_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            "The API key is not valid for this server; send it as `Authorization: Bearer KEY`."
                .into(),
        )
    }

    /// 415 for a body that is not declared `application/json`; `given` is
    /// the `Content-Type` sent, if any.
    pub fn unsupported_media_type(given: Option<&str>) -> Self {
        let given = match given {
            Some(ct) => format!("`{ct}`"),
            None => "no Content-Type".into(),
        };
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            Some("unsupported_media_type"),
            format!(
                "The request body must be JSON sent with `Content-Type: application/json` (UTF-8); this request has {given}."
            ),
        )
    }

    /// 413 for a body larger than the server's limit of `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            format!("The request body is too large: this server takes at most {limit} bytes."),
        )
    }

    /// 408 for a body that did not arrive within `timeout`.
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            Some("request_timeout"),
            format!(
                "The request body did not arrive within {:?}; the connection is closed.",
                timeout
            ),
        )
    }

    /// 400 for a body the connection failed to deliver.
    pub fn unreadable_body(e: &dyn std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            format!("The request body could not be read: {e}."),
        )
    }

    /// 503 with `Retry-After` when all `slots` model requests the server
    /// runs at once are taken.
    pub fn busy(slots: usize, retry_after: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("overloaded"),
            format!(
                "The server is busy: it runs at most {slots} model requests at once. Retry after {} s.",
                retry_after.as_secs().max(1)
            ),
        );
        e.retry_after_ms = Some(retry_after.as_millis() as u64);
        e
    }

    /// The answer for a model failure (see the [module docs](self)).
    pub fn from_model(e: &ModelError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        let (status, kind, code, message) = match e {
            ModelError::ContextTooLong(m) => (
                S::BAD_REQUEST,
                "invalid_request_error",
                "context_length_exceeded",
                format!("This model's maximum context length was exceeded: {m}"),
            ),
            ModelError::Unsupported(_) => {
                (S::BAD_REQUEST, "invalid_request_error", "unsupported", msg)
            }
            ModelError::ContentFiltered(_) => (
                S::BAD_REQUEST,
                "invalid_request_error",
                "content_filter",
                msg,
            ),
            ModelError::Provider { status, .. } if (400..500).contains(status) => (
                S::BAD_REQUEST,
                "invalid_request_error",
                "backend_rejected",
                msg,
            ),
            ModelError::Denied(_) => (S::FORBIDDEN, "permission_error", "denied", msg),
            ModelError::RateLimited { .. } => (
                S::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                msg,
            ),
            ModelError::InsufficientBalance(_) => (
                S::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "insufficient_quota",
                msg,
            ),
            ModelError::Overloaded(_) => {
                (S::SERVICE_UNAVAILABLE, "server_error", "overloaded", msg)
            }
            ModelError::Timeout(_) => (S::GATEWAY_TIMEOUT, "server_error", "timeout", msg),
            ModelError::Auth(_) | ModelError::Transport(_) | ModelError::Provider { .. } => (
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                "backend_error",
                msg,
            ),
        };
        let mut out = Self::new(status, kind, Some(code), message);
        if let ModelError::RateLimited { retry_after_ms, .. } = e {
            out.retry_after_ms = *retry_after_ms;
        }
        out
    }

    /// The `{"error": {...}}` body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl From<InvalidRequest> for ApiError {
    fn from(e: InvalidRequest) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: Some(e.code),
            param: (!e.param.is_empty()).then_some(e.param),
            message: e.message,
            retry_after_ms: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(ms) = self.retry_after_ms {
            let headers = response.headers_mut();
            // `Retry-After` in whole seconds (rounded up), and the exact
            // delay in `retry-after-ms` as OpenAI sends it.
            headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
            headers.insert("retry-after-ms", HeaderValue::from(ms));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_errors_map_to_statuses() {
        let cases = [
            (
                ModelError::ContextTooLong("x".into()),
                400,
                "context_length_exceeded",
            ),
            (ModelError::Unsupported("x".into()), 400, "unsupported"),
            (
                ModelError::ContentFiltered("x".into()),
                400,
                "content_filter",
            ),
            (ModelError::Denied("x".into()), 403, "denied"),
            (
                ModelError::RateLimited {
                    retry_after_ms: Some(1500),
                    message: "x".into(),
                },
                429,
                "rate_limit_exceeded",
            ),
            (
                ModelError::InsufficientBalance("x".into()),
                429,
                "insufficient_quota",
            ),
            (ModelError::Overloaded("x".into()), 503, "overloaded"),
            (ModelError::Timeout("x".into()), 504, "timeout"),
            (ModelError::Auth("x".into()), 500, "backend_error"),
            (ModelError::Transport("x".into()), 500, "backend_error"),
            (
                ModelError::Provider {
                    status: 500,
                    body: "x".into(),
                },
                500,
                "backend_error",
            ),
            (
                ModelError::Provider {
                    status: 422,
                    body: "x".into(),
                },
                400,
                "backend_rejected",
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from_model(&e);
            assert_eq!(api.status.as_u16(), status, "{e:?}");
            assert_eq!(api.code, Some(code), "{e:?}");
            assert_eq!(api.body()["error"]["code"], code);
        }
        let response = ApiError::from_model(&ModelError::RateLimited {
            retry_after_ms: Some(1500),
            message: "slow".into(),
        })
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1500");
    }
}
