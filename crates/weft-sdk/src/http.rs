//! A small blocking HTTP client over `wasi:http/outgoing-handler` (feature
//! `http`).
//!
//! # Secrets never enter the guest
//!
//! Header values may contain `{{secret:NAME}}` placeholders. They are sent
//! as written; the host substitutes the secret `NAME` (if the component's
//! policy grants it for the request's destination) as the request leaves
//! the sandbox. API keys therefore never enter guest memory, logs or
//! transcripts, and a component cannot exfiltrate them to a host it is not
//! granted.
//!
//! # Errors
//!
//! A destination the host's policy refuses fails with
//! [`HttpError::Denied`] (wasi-http `error-code::HTTP-request-denied`);
//! other failures name the URL's host too.

use thiserror::Error;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

/// The default cap on the response body: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method (`GET`, `POST`, ...), case-insensitive.
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values; values may hold `{{secret:NAME}}`.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
    /// Read at most this many body bytes; the rest is discarded.
    pub max_body_bytes: usize,
    /// Connect and first-byte timeout, if any.
    pub timeout_ms: Option<u64>,
}

impl Request {
    /// A `GET` of `url` with no headers and the default body cap.
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: "GET".to_string(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timeout_ms: None,
        }
    }
}

/// An HTTP response, with its body read up to the cap.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Response headers (values as bytes).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, at most `max_body_bytes` long.
    pub body: Vec<u8>,
    /// True when the body was longer than the cap and was cut.
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The body as text: invalid UTF-8 is replaced, and a multi-byte
    /// character cut by truncation is dropped.
    pub fn text(&self) -> String {
        lossy_text(&self.body)
    }
}

/// Why a request failed.
#[derive(Debug, Error)]
pub enum HttpError {
    /// The URL could not be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value was rejected (syntax, or forbidden header).
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What the host said.
        reason: String,
    },
    /// The host's policy refused the destination.
    #[error("request to host `{host}` was denied by the host's policy")]
    Denied {
        /// The URL's host (authority).
        host: String,
    },
    /// The request failed in transit.
    #[error("request to host `{host}` failed: {message}")]
    Failed {
        /// The URL's host (authority).
        host: String,
        /// What went wrong.
        message: String,
    },
}

/// A parsed absolute URL: just what wasi-http needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `true` for https.
    pub https: bool,
    /// Host and optional port.
    pub authority: String,
    /// The host alone (for messages).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path_with_query: String,
}

/// Splits an absolute `http(s)://` URL. The fragment is dropped; user info
/// (`user:pass@`) is refused, since secrets belong in headers.
pub fn parse_url(url: &str) -> Result<UrlParts, HttpError> {
    let invalid = |reason: &str| HttpError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = url.trim();
    let (https, rest) = if let Some(r) = strip_prefix_ci(trimmed, "https://") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(trimmed, "http://") {
        (false, r)
    } else {
        return Err(invalid(
            "only absolute http:// and https:// URLs are supported",
        ));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(invalid("missing host"));
    }
    if authority.contains('@') {
        return Err(invalid("user info in URLs is not supported; use headers"));
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("whitespace in host"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        format!("[{}]", v6.split(']').next().unwrap_or_default())
    } else {
        authority.split(':').next().unwrap_or_default().to_string()
    };
    let path_with_query = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(UrlParts {
        https,
        authority: authority.to_string(),
        host,
        path_with_query,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Decodes `bytes` as UTF-8, replacing invalid sequences, and drops an
/// incomplete character at the very end (left by truncation).
pub fn lossy_text(bytes: &[u8]) -> String {
    let mut end = bytes.len();
    if let Err(e) = std::str::from_utf8(bytes)
        && e.error_len().is_none()
    {
        end = e.valid_up_to();
    }
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn method_of(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(name.to_string()),
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsError(p) => format!(
            "DNS error{}",
            p.rcode
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        ErrorCode::InternalError(Some(m)) => format!("internal error: {m}"),
        other => format!("{other:?}")
            .trim_start_matches("ErrorCode::")
            .to_string(),
    }
}

fn failure(host: &str, code: &ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied {
            host: host.to_string(),
        },
        other => HttpError::Failed {
            host: host.to_string(),
            message: describe(other),
        },
    }
}

/// Sends `request` and reads the response body up to
/// `request.max_body_bytes`.
pub fn fetch(request: &Request) -> Result<Response, HttpError> {
    let url = parse_url(&request.url)?;
    let failed = |message: String| HttpError::Failed {
        host: url.host.clone(),
        message,
    };

    let mut entries = Vec::with_capacity(request.headers.len());
    for (name, value) in &request.headers {
        entries.push((name.clone(), value.as_bytes().to_vec()));
    }
    let headers = Fields::from_list(&entries).map_err(|e| HttpError::InvalidHeader {
        name: entries.first().map(|(n, _)| n.clone()).unwrap_or_default(),
        reason: format!("{e:?}"),
    })?;

    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&method_of(&request.method))
        .map_err(|()| failed(format!("invalid method {:?}", request.method)))?;
    outgoing
        .set_scheme(Some(&if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        }))
        .map_err(|()| failed("invalid scheme".to_string()))?;
    outgoing
        .set_authority(Some(&url.authority))
        .map_err(|()| failed(format!("invalid authority {:?}", url.authority)))?;
    outgoing
        .set_path_with_query(Some(&url.path_with_query))
        .map_err(|()| failed(format!("invalid path {:?}", url.path_with_query)))?;

    let body = outgoing
        .body()
        .map_err(|()| failed("request body unavailable".to_string()))?;

    let options = request.timeout_ms.map(|ms| {
        let options = RequestOptions::new();
        let ns = ms.saturating_mul(1_000_000);
        // A host that does not support a timeout refuses it; that is fine.
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));
        options
    });

    let future = outgoing_handler::handle(outgoing, options).map_err(|c| failure(&url.host, &c))?;

    if let Some(bytes) = &request.body {
        let stream = body
            .write()
            .map_err(|()| failed("request body stream unavailable".to_string()))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| failed(format!("writing the request body: {}", stream_error(&e))))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(|c| failure(&url.host, &c))?;

    let incoming = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(failure(&url.host, &code)),
            Some(Err(())) => return Err(failed("response already taken".to_string())),
            None => future.subscribe().block(),
        }
    };

    let status = incoming.status();
    let headers = incoming.headers().entries();
    let body = incoming
        .consume()
        .map_err(|()| failed("response body unavailable".to_string()))?;
    let (bytes, truncated) = read_body(&body, request.max_body_bytes)
        .map_err(|m| failed(format!("reading the response body: {m}")))?;
    drop(body);
    Ok(Response {
        status,
        headers,
        body: bytes,
        truncated,
    })
}

fn stream_error(e: &StreamError) -> String {
    match e {
        StreamError::LastOperationFailed(err) => err.to_debug_string(),
        StreamError::Closed => "stream closed".to_string(),
    }
}

fn read_body(body: &IncomingBody, max: usize) -> Result<(Vec<u8>, bool), String> {
    let stream = body
        .stream()
        .map_err(|()| "body stream unavailable".to_string())?;
    let mut out = Vec::new();
    let mut truncated = false;
    loop {
        let want = (max + 1).saturating_sub(out.len()).clamp(1, 64 * 1024) as u64;
        match stream.blocking_read(want) {
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > max {
                    out.truncate(max);
                    truncated = true;
                    break;
                }
            }
            Err(StreamError::Closed) => break,
            Err(e) => return Err(stream_error(&e)),
        }
    }
    drop(stream);
    Ok((out, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("https://api.example.com:8443/v1/x?q=1#frag").unwrap();
        assert!(u.https);
        assert_eq!(u.authority, "api.example.com:8443");
        assert_eq!(u.host, "api.example.com");
        assert_eq!(u.path_with_query, "/v1/x?q=1");
        let u = parse_url("HTTP://example.com").unwrap();
        assert!(!u.https);
        assert_eq!(u.path_with_query, "/");
        let u = parse_url("http://example.com?a=b").unwrap();
        assert_eq!(u.path_with_query, "/?a=b");
        let u = parse_url("http://[::1]:80/").unwrap();
        assert_eq!(u.host, "[::1]");
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("https://user:pw@x.com/").is_err());
        assert!(parse_url("https:///path").is_err());
    }

    #[test]
    fn truncated_utf8_is_trimmed() {
        let s = "héllo".as_bytes();
        assert_eq!(lossy_text(&s[..2]), "h");
        assert_eq!(lossy_text(s), "héllo");
        assert_eq!(lossy_text(b"a\xffb"), "a\u{fffd}b");
    }
}
