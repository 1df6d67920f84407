//! The HTTP transport seam every provider sends its requests through.
//!
//! A provider turns a [`weft_model::ChatRequest`] into an [`HttpRequest`],
//! hands it to a [`Transport`], and reads the [`HttpResponse`] (a status,
//! headers and a body delivered as a stream of byte chunks, so Server-Sent
//! Events arrive as they are produced). [`ReqwestTransport`] is the real
//! network; [`crate::http_cassette::RecordingTransport`] and
//! [`crate::http_cassette::ReplayTransport`] record and replay raw exchanges.
//!
//! Errors are already normalised: a transport fails with
//! [`ModelError::Timeout`] or [`ModelError::Transport`], never with a status
//! (a non-success status is a normal [`HttpResponse`] that the provider
//! classifies).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use weft_model::model::{BoxFuture, BoxStream, MaybeSend, MaybeSync};
use weft_model::types::ModelError;

use crate::redact;

/// One request header. Values of sensitive headers never appear in `Debug`
/// output, logs or cassettes.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name, lower case.
    pub name: String,
    /// The header's value.
    pub value: String,
    /// True for credentials (`authorization`, `x-api-key`, ...).
    pub sensitive: bool,
}

impl Header {
    /// A header; it is marked sensitive when its name looks like a
    /// credential (see [`redact::is_sensitive_header`]).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into().to_ascii_lowercase();
        let sensitive = redact::is_sensitive_header(&name);
        Self {
            name,
            value: value.into(),
            sensitive,
        }
    }

    /// A header that is always treated as a credential.
    pub fn secret(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            sensitive: true,
            ..Self::new(name, value)
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.sensitive {
            redact::REDACTED
        } else {
            &self.value
        };
        write!(f, "{}: {}", self.name, value)
    }
}

/// An HTTP request a provider wants sent.
#[derive(Clone)]
pub struct HttpRequest {
    /// The provider's name, for error messages and logs (never sent).
    pub provider: String,
    /// `POST` for every model call.
    pub method: String,
    /// The full URL. It may hold a `key=` query parameter (Gemini's query
    /// auth); `Debug` output and cassettes redact it.
    pub url: String,
    /// The headers, credentials included.
    pub headers: Vec<Header>,
    /// The body (JSON for every provider here).
    pub body: Bytes,
    /// True when the caller expects a Server-Sent Events stream.
    pub stream: bool,
    /// For a plain call, the limit on the whole exchange. For a stream, the
    /// transport's own connect and read (idle) timeouts apply instead, so a
    /// long answer that keeps flowing is not cut.
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The values that must never be written anywhere: sensitive header
    /// values (with any `Bearer ` prefix removed) and secret query
    /// parameters.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in self.headers.iter().filter(|h| h.sensitive) {
            let v = h.value.trim();
            out.push(v.to_owned());
            if let Some(rest) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
            {
                out.push(rest.trim().to_owned());
            }
        }
        out.extend(redact::url_secrets(&self.url));
        out.retain(|s| !s.is_empty());
        out
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("provider", &self.provider)
            .field("method", &self.method)
            .field("url", &redact::url(&self.url))
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A response body: byte chunks as they arrive; errors are already
/// normalised ([`ModelError::Timeout`] for an idle read, otherwise
/// [`ModelError::Transport`]).
pub type ByteStream = BoxStream<'static, Result<Bytes, ModelError>>;

/// An HTTP response: status and headers, with the body still streaming.
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The response headers (names lower case), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ByteStream,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the body is a JSON document (not an event stream).
    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|v| v.trim_start().starts_with("application/json"))
    }

    /// Reads the whole body as text (invalid UTF-8 is replaced).
    pub async fn text(self) -> Result<String, ModelError> {
        let mut body = self.body;
        let mut buf = Vec::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// Sends HTTP requests: the seam between providers and the network.
///
/// Implementations must not log or store credentials except where they
/// send them.
pub trait Transport: MaybeSend + MaybeSync + fmt::Debug {
    /// Sends `request` and returns the response once its headers arrived.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, ModelError>>;
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, ModelError>> {
        (**self).send(request)
    }
}

/// The network: a [`Transport`] over `reqwest` (on wasm32, the browser's
/// `fetch`).
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport whose connections time out after `timeout` when
    /// connecting or when a read stays silent that long (native targets;
    /// on wasm32 only per-request total timeouts exist). `None` waits
    /// forever.
    pub fn new(timeout: Option<Duration>) -> Result<Self, ModelError> {
        let builder = reqwest::Client::builder();
        #[cfg(not(target_arch = "wasm32"))]
        let builder = match timeout {
            Some(t) => builder.connect_timeout(t).read_timeout(t),
            None => builder,
        };
        #[cfg(target_arch = "wasm32")]
        let _ = timeout;
        let client = builder
            .build()
            .map_err(|e| ModelError::Transport(format!("cannot create the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// A transport over an existing `reqwest` client.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

/// Maps a failed `reqwest` call: timeouts to [`ModelError::Timeout`],
/// everything else (connect, TLS, reset, body read) to
/// [`ModelError::Transport`]. The message includes the error's causes, with
/// the URL's credentials redacted.
pub(crate) fn from_reqwest(provider: &str, err: &reqwest::Error) -> ModelError {
    // `reqwest::Error`'s Display names the URL, which may hold a `key=`
    // parameter: replace it with its redacted form.
    let url = err.url().map(|u| u.as_str().to_owned());
    let clean = |text: String| match &url {
        Some(u) => text.replace(u.as_str(), &redact::url(u)),
        None => text,
    };
    let mut msg = format!("{provider}: {}", clean(err.to_string()));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = clean(cause.to_string());
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    if err.is_timeout() {
        ModelError::Timeout(msg)
    } else {
        ModelError::Transport(msg)
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, ModelError>> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|e| ModelError::Transport(format!("invalid method: {e}")))?;
            let mut builder = self.client.request(method, &request.url);
            for h in &request.headers {
                let mut value = reqwest::header::HeaderValue::from_str(&h.value).map_err(|_| {
                    ModelError::Transport(format!(
                        "{}: the value of header `{}` is not valid in HTTP",
                        request.provider, h.name
                    ))
                })?;
                value.set_sensitive(h.sensitive);
                builder = builder.header(h.name.as_str(), value);
            }
            // Natively a stream is bounded by the client's read timeout; on
            // wasm32 only a total timeout exists.
            if let Some(t) = request.timeout
                && (!request.stream || cfg!(target_arch = "wasm32"))
            {
                builder = builder.timeout(t);
            }
            tracing::debug!(
                provider = %request.provider,
                url = %redact::url(&request.url),
                stream = request.stream,
                "model request"
            );
            let response = builder
                .body(request.body.clone())
                .send()
                .await
                .map_err(|e| from_reqwest(&request.provider, &e))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let provider = request.provider.clone();
            let body = response
                .bytes_stream()
                .map(move |r| r.map_err(|e| from_reqwest(&provider, &e)));
            Ok(HttpResponse {
                status,
                headers,
                body: Box::pin(body),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let req = HttpRequest {
            provider: "gemini".into(),
            method: "POST".into(),
            url: "https://x.invalid/v1/models/m:generateContent?alt=sse&key=AIza-secret-123".into(),
            headers: vec![
                Header::new("Authorization", "Bearer sk-secret-456"),
                Header::new("x-goog-api-key", "AIza-secret-789"),
                Header::new("content-type", "application/json"),
            ],
            body: Bytes::from_static(b"{}"),
            stream: true,
            timeout: None,
        };
        let dbg = format!("{req:?}");
        for s in ["AIza-secret-123", "sk-secret-456", "AIza-secret-789"] {
            assert!(!dbg.contains(s), "{dbg}");
        }
        assert!(dbg.contains("application/json"));
        let secrets = req.secrets();
        assert!(secrets.contains(&"sk-secret-456".to_owned()));
        assert!(secrets.contains(&"AIza-secret-123".to_owned()));
        assert!(secrets.contains(&"AIza-secret-789".to_owned()));
    }
}
