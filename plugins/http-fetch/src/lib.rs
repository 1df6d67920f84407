//! **http-fetch** — a Weft tool plugin with one tool, `fetch`, which sends
//! an HTTP request through `wasi:http/outgoing-handler` and returns the
//! status, content type and body text (truncated to `max_bytes`, default
//! 64 KiB).
//!
//! # Secrets
//!
//! Header values may contain `{{secret:NAME}}` placeholders, e.g.
//! `"Authorization": "Bearer {{secret:GITHUB_TOKEN}}"`. The plugin sends
//! them unchanged; the host substitutes the granted secret as the request
//! leaves the sandbox, so keys never enter guest memory (nor the model's
//! context or the transcript).
//!
//! # Errors
//!
//! A destination the host's policy refuses (wasi-http
//! `HTTP-request-denied`) and any transport failure become
//! `tool-error::failed` with a message naming the URL's host; a malformed
//! URL or header becomes `invalid-arguments`. HTTP error statuses (4xx,
//! 5xx) are not errors: they are returned with their body.

use std::collections::BTreeMap;

use weft_sdk::ToolError;
use weft_sdk::http::{self, HttpError, Request};

weft_sdk::json_types! {
    /// Arguments of `fetch`.
    struct FetchArgs {
        /// An absolute `http://` or `https://` URL.
        url: String,
        /// Request headers. Values may contain `{{secret:NAME}}`
        /// placeholders, which the host replaces with granted secrets.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// The HTTP method (default `GET`).
        #[serde(default)]
        method: Option<String>,
        /// A request body (text), for `POST`, `PUT` and `PATCH`.
        #[serde(default)]
        body: Option<String>,
        /// Return at most this many bytes of the body (default 65536).
        #[serde(default)]
        max_bytes: Option<u32>,
        /// Connect and first-byte timeout in milliseconds.
        #[serde(default)]
        timeout_ms: Option<u32>,
    }

    /// Result of `fetch`.
    struct FetchResult {
        /// The HTTP status code.
        status: u16,
        /// The `content-type` header, if any.
        content_type: Option<String>,
        /// The body as text (invalid UTF-8 replaced), at most `max_bytes`.
        text: String,
        /// True when the body was longer than `max_bytes` and was cut.
        truncated: bool,
    }
}

fn to_tool_error(e: HttpError) -> ToolError {
    match e {
        HttpError::InvalidUrl { .. } | HttpError::InvalidHeader { .. } => {
            ToolError::InvalidArguments(e.to_string())
        }
        HttpError::Denied { .. } | HttpError::Failed { .. } => ToolError::Failed(e.to_string()),
    }
}

weft_sdk::tools! {
    /// Fetches a URL over HTTP(S) and returns the status, content type and
    /// body text (truncated to `max_bytes`, default 64 KiB). Header values
    /// may use `{{secret:NAME}}` placeholders for credentials; the host
    /// fills them in.
    fn fetch(args: FetchArgs) -> Result<FetchResult, ToolError> {
        let request = Request {
            method: args.method.unwrap_or_else(|| "GET".to_string()),
            url: args.url,
            headers: args.headers.into_iter().collect(),
            body: args.body.map(String::into_bytes),
            max_body_bytes: args
                .max_bytes
                .map_or(http::DEFAULT_MAX_BODY_BYTES, |n| n as usize),
            timeout_ms: args.timeout_ms.map(u64::from),
        };
        let response = http::fetch(&request).map_err(to_tool_error)?;
        Ok(FetchResult {
            status: response.status,
            content_type: response.header("content-type"),
            text: response.text(),
            truncated: response.truncated,
        })
    }
}
