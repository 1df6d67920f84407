//! Raw HTTP cassettes: record the exchanges of any provider, replay them
//! offline.
//!
//! A cassette file is a sequence of JSON values (one per line when
//! recorded; pretty-printed values, one after another, are fine for
//! hand-written files). The first is a header, then one value per
//! exchange, in order:
//!
//! ```json
//! {"weft_http_cassette": 1, "note": "what, when, against what"}
//! {"name": "optional label",
//!  "request": {"method": "POST", "url": "https://api.deepseek.com/chat/completions",
//!              "headers": {"authorization": "[REDACTED]", "content-type": "application/json"},
//!              "body": {"model": "deepseek-v4-pro", "messages": []}},
//!  "response": {"status": 200, "headers": {"content-type": "application/json"},
//!               "text": "{\"choices\": []}"}}
//! {"request": {...},
//!  "response": {"status": 200, "headers": {"content-type": "text/event-stream"},
//!               "chunks": [{"after_ms": 120, "text": "data: {...}\n\n"},
//!                          {"after_ms": 15, "sse": {"data": {"choices": []}}},
//!                          {"after_ms": 3, "sse": {"event": "message_stop", "data": "[DONE]"}}],
//!               "stream_error": {"transport": "connection reset"}}}
//! {"request": {...}, "error": {"timeout": "no answer in 30 s"}}
//! ```
//!
//! A response body is `text` (raw, as recorded), or `json` (a value,
//! written compactly on replay), or `chunks`: pieces of the body with the
//! milliseconds since the previous piece (or since the request), each raw
//! `text` or an `sse` event (`data` a string, or a JSON value written
//! compactly). `stream_error` ends the body with an error after the chunks;
//! `error` (instead of `response`) is a failure before any response.
//!
//! [`RecordingTransport`] wraps a transport and writes every exchange,
//! flushing after each, with credentials redacted: `authorization`,
//! `x-api-key`, `x-goog-api-key` and every other sensitive header, `key=`
//! and similar query parameters, and any occurrence of those values
//! anywhere in the exchange. [`ReplayTransport`] serves a cassette in
//! order, deterministically; it checks each request against the recorded
//! one (method, URL, the recorded headers, and the recorded body as a
//! subset of the actual one) and keeps what it was sent for inspection.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weft_model::model::BoxFuture;
use weft_model::types::ModelError;

use crate::redact::{self, REDACTED};
use crate::transport::{ByteStream, HttpRequest, HttpResponse, Transport};

/// The format version this crate reads and writes.
pub const HTTP_CASSETTE_VERSION: u32 = 1;

/// The first value of a cassette file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CassetteHeader {
    /// Always [`HTTP_CASSETTE_VERSION`].
    pub weft_http_cassette: u32,
    /// Free text: what was recorded, when, how.
    #[serde(default)]
    pub note: String,
}

/// A request as recorded (credentials redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The URL, credential parameters redacted.
    pub url: String,
    /// The headers (names lower case); credentials are `[REDACTED]`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body: JSON, or a string when it was not JSON. In a cassette,
    /// the recorded body must be a subset of the body sent ([`json_subset`]);
    /// a missing (`null`) body is not checked.
    #[serde(default)]
    pub body: Value,
}

/// An SSE event in a hand-written chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SseChunk {
    /// The `event:` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The `data:` field: a string as is, any other value as compact JSON.
    pub data: Value,
}

/// A piece of a streamed body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Milliseconds since the previous piece (or since the request).
    #[serde(default)]
    pub after_ms: u64,
    /// Raw bytes (as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// One SSE event, written as `event: ...\ndata: ...\n\n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseChunk>,
}

impl Chunk {
    fn bytes(&self) -> String {
        let mut out = self.text.clone().unwrap_or_default();
        if let Some(sse) = &self.sse {
            if let Some(e) = &sse.event {
                out.push_str(&format!("event: {e}\n"));
            }
            let data = match &sse.data {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for line in data.split('\n') {
                out.push_str(&format!("data: {line}\n"));
            }
            out.push('\n');
        }
        out
    }
}

/// A response as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The status.
    pub status: u16,
    /// The headers (names lower case).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The whole body, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The whole body as a JSON value (hand-written cassettes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// The body in timed pieces (streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<Chunk>>,
    /// The body broke with this error after the chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_error: Option<ModelError>,
}

/// One exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// An optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// The failure before any response (timeout, refused connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ModelError>,
}

/// Why a cassette could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The content is not a valid cassette.
    #[error("invalid HTTP cassette: {0}")]
    Invalid(String),
}

/// A parsed cassette.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCassette {
    /// The header's note.
    pub note: String,
    /// The exchanges, in order.
    pub interactions: Vec<Interaction>,
}

impl HttpCassette {
    /// Parses cassette text (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Self, CassetteError> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let header: CassetteHeader = match values.next() {
            Some(Ok(v)) => serde_json::from_value(v)
                .map_err(|e| CassetteError::Invalid(format!("header: {e}")))?,
            Some(Err(e)) => return Err(CassetteError::Invalid(format!("header: {e}"))),
            None => return Err(CassetteError::Invalid("the file is empty".into())),
        };
        if header.weft_http_cassette != HTTP_CASSETTE_VERSION {
            return Err(CassetteError::Invalid(format!(
                "version {} (this build reads {HTTP_CASSETTE_VERSION})",
                header.weft_http_cassette
            )));
        }
        let mut interactions = Vec::new();
        for (i, v) in values.enumerate() {
            let v = v.map_err(|e| CassetteError::Invalid(format!("exchange {}: {e}", i + 1)))?;
            let x: Interaction = serde_json::from_value(v)
                .map_err(|e| CassetteError::Invalid(format!("exchange {}: {e}", i + 1)))?;
            match (&x.response, &x.error) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(CassetteError::Invalid(format!(
                        "exchange {}: needs exactly one of `response` and `error`",
                        i + 1
                    )));
                }
            }
            interactions.push(x);
        }
        Ok(Self {
            note: header.note,
            interactions,
        })
    }

    /// Reads a cassette file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| CassetteError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// The cassette as JSON Lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = json_line(&CassetteHeader {
            weft_http_cassette: HTTP_CASSETTE_VERSION,
            note: self.note.clone(),
        });
        for x in &self.interactions {
            out.push_str(&json_line(x));
        }
        out
    }
}

fn json_line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// `request` as recorded: credentials redacted, the body parsed as JSON
/// when it is JSON.
pub fn record_request(request: &HttpRequest) -> RecordedRequest {
    let secrets = request.secrets();
    let headers = request
        .headers
        .iter()
        .map(|h| {
            let v = if h.sensitive {
                REDACTED.to_owned()
            } else {
                redact::scrub(&h.value, &secrets)
            };
            (h.name.clone(), v)
        })
        .collect();
    let text = String::from_utf8_lossy(&request.body);
    let text = redact::scrub(&text, &secrets);
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    RecordedRequest {
        method: request.method.clone(),
        url: redact::url(&request.url),
        headers,
        body,
    }
}

/// True when `expected` is a subset of `actual`: objects need every key of
/// `expected` (recursively), arrays the same length with each element a
/// subset, and anything else equality. On failure, the path of the first
/// difference and both values.
pub fn json_subset(expected: &Value, actual: &Value) -> Result<(), String> {
    fn walk(path: &str, e: &Value, a: &Value) -> Result<(), String> {
        match (e, a) {
            (Value::Object(eo), Value::Object(ao)) => {
                for (k, ev) in eo {
                    match ao.get(k) {
                        Some(av) => walk(&format!("{path}.{k}"), ev, av)?,
                        None => return Err(format!("{path}.{k}: missing (expected {ev})")),
                    }
                }
                Ok(())
            }
            (Value::Array(ea), Value::Array(aa)) => {
                if ea.len() != aa.len() {
                    return Err(format!(
                        "{path}: {} elements, expected {}",
                        aa.len(),
                        ea.len()
                    ));
                }
                for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                    walk(&format!("{path}[{i}]"), ev, av)?;
                }
                Ok(())
            }
            (Value::Number(en), Value::Number(an)) if en.as_f64() == an.as_f64() => Ok(()),
            _ if e == a => Ok(()),
            _ => Err(format!(
                "{path}: got {}, expected {}",
                crate::http_error::truncate(&a.to_string(), 200),
                crate::http_error::truncate(&e.to_string(), 200)
            )),
        }
    }
    walk("body", expected, actual)
}

#[cfg(not(target_arch = "wasm32"))]
fn clock() -> Option<std::time::Instant> {
    Some(std::time::Instant::now())
}

#[cfg(target_arch = "wasm32")]
fn clock() -> Option<std::time::Instant> {
    // `Instant::now` panics on wasm32-unknown-unknown: no timing there.
    None
}

fn elapsed_ms(since: &mut Option<std::time::Instant>) -> u64 {
    match (since.as_mut(), clock()) {
        (Some(prev), Some(now)) => {
            let ms = now.duration_since(*prev).as_millis();
            *prev = now;
            u64::try_from(ms).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

/// Where a recorder writes.
#[derive(Debug)]
struct Sink {
    file: Option<(std::fs::File, String)>,
    recorded: Vec<Interaction>,
}

impl Sink {
    fn write(&mut self, x: Interaction, secrets: &[String]) {
        let line = redact::scrub(&json_line(&x), secrets);
        let x: Interaction = serde_json::from_str(&line).unwrap_or(x);
        if let Some((file, path)) = &mut self.file
            && let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush())
        {
            tracing::error!(path = %path, "cannot append to the HTTP cassette: {e}");
        }
        self.recorded.push(x);
    }
}

fn lock(sink: &Mutex<Sink>) -> MutexGuard<'_, Sink> {
    sink.lock().unwrap_or_else(|e| e.into_inner())
}

/// A [`Transport`] that records every exchange of its inner transport; see
/// the [module docs](self).
pub struct RecordingTransport<T> {
    inner: T,
    sink: Arc<Mutex<Sink>>,
}

impl<T> fmt::Debug for RecordingTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingTransport").finish_non_exhaustive()
    }
}

impl<T: Transport> RecordingTransport<T> {
    /// A recorder keeping exchanges in memory only.
    pub fn in_memory(inner: T) -> Self {
        Self {
            inner,
            sink: Arc::new(Mutex::new(Sink {
                file: None,
                recorded: Vec::new(),
            })),
        }
    }

    /// A recorder writing to a new cassette file at `path` (replacing any),
    /// starting with a header holding `note`.
    pub fn create(inner: T, path: impl AsRef<Path>, note: &str) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| CassetteError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = std::fs::File::create(path).map_err(io)?;
        file.write_all(
            json_line(&CassetteHeader {
                weft_http_cassette: HTTP_CASSETTE_VERSION,
                note: note.to_owned(),
            })
            .as_bytes(),
        )
        .map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self {
            inner,
            sink: Arc::new(Mutex::new(Sink {
                file: Some((file, path.display().to_string())),
                recorded: Vec::new(),
            })),
        })
    }

    /// The exchanges recorded so far (a stream is recorded once its body
    /// ended or was dropped).
    pub fn recorded(&self) -> Vec<Interaction> {
        lock(&self.sink).recorded.clone()
    }
}

/// Tees a body into the recorder, writing the exchange when the body ends
/// (or is dropped).
struct Tee {
    body: ByteStream,
    sink: Arc<Mutex<Sink>>,
    secrets: Vec<String>,
    pending: Option<Interaction>,
    chunks: Vec<Chunk>,
    streamed: bool,
    last: Option<std::time::Instant>,
}

impl Tee {
    fn flush(&mut self, error: Option<ModelError>) {
        let Some(mut x) = self.pending.take() else {
            return;
        };
        if let Some(r) = x.response.as_mut() {
            let chunks = std::mem::take(&mut self.chunks);
            if self.streamed {
                r.chunks = Some(chunks);
            } else {
                r.text = Some(chunks.into_iter().filter_map(|c| c.text).collect());
            }
            r.stream_error = error;
        }
        lock(&self.sink).write(x, &self.secrets);
    }
}

impl Stream for Tee {
    type Item = Result<Bytes, ModelError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = std::task::ready!(this.body.as_mut().poll_next(cx));
        match &item {
            Some(Ok(bytes)) => {
                let after_ms = elapsed_ms(&mut this.last);
                this.chunks.push(Chunk {
                    after_ms,
                    text: Some(String::from_utf8_lossy(bytes).into_owned()),
                    sse: None,
                });
            }
            Some(Err(e)) => this.flush(Some(e.clone())),
            None => this.flush(None),
        }
        std::task::Poll::Ready(item)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // The reader stopped (a provider stops at its end marker): what was
        // received is the exchange.
        self.flush(None);
    }
}

impl<T: Transport> Transport for RecordingTransport<T> {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, ModelError>> {
        Box::pin(async move {
            let recorded = record_request(&request);
            let secrets = request.secrets();
            let last = clock();
            match self.inner.send(request).await {
                Err(e) => {
                    lock(&self.sink).write(
                        Interaction {
                            name: None,
                            request: recorded,
                            response: None,
                            error: Some(e.clone()),
                        },
                        &secrets,
                    );
                    Err(e)
                }
                Ok(response) => {
                    let streamed = response
                        .header("content-type")
                        .is_some_and(|v| v.contains("text/event-stream"));
                    let headers = response
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            let v = if redact::is_sensitive_header(k) {
                                REDACTED.to_owned()
                            } else {
                                v.clone()
                            };
                            (k.to_ascii_lowercase(), v)
                        })
                        .collect();
                    // The first chunk's delay counts from the request: the
                    // time to first byte.
                    let tee = Tee {
                        body: response.body,
                        sink: self.sink.clone(),
                        secrets,
                        pending: Some(Interaction {
                            name: None,
                            request: recorded,
                            response: Some(RecordedResponse {
                                status: response.status,
                                headers,
                                text: None,
                                json: None,
                                chunks: None,
                                stream_error: None,
                            }),
                            error: None,
                        }),
                        chunks: Vec::new(),
                        streamed,
                        last,
                    };
                    Ok(HttpResponse {
                        status: response.status,
                        headers: response.headers,
                        body: Box::pin(tee),
                    })
                }
            }
        })
    }
}

#[derive(Debug, Default)]
struct ReplayState {
    next: usize,
    seen: Vec<RecordedRequest>,
}

/// A [`Transport`] serving a cassette offline; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    cassette: Arc<HttpCassette>,
    state: Arc<Mutex<ReplayState>>,
    strict: bool,
    pace: Option<f64>,
}

impl ReplayTransport {
    /// A replayer for `cassette`: exchanges in order, each request checked.
    pub fn new(cassette: HttpCassette) -> Self {
        Self {
            cassette: Arc::new(cassette),
            state: Arc::new(Mutex::new(ReplayState::default())),
            strict: true,
            pace: None,
        }
    }

    /// A replayer for the cassette file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        Ok(Self::new(HttpCassette::load(path)?))
    }

    /// This replayer without request checks (exchanges still in order).
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// This replayer waiting between chunks as recorded, times `factor`
    /// (native targets; the default serves every chunk at once).
    pub fn paced(mut self, factor: f64) -> Self {
        self.pace = Some(factor.max(0.0));
        self
    }

    /// The requests served so far, as recorded (credentials redacted).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().seen.clone()
    }

    /// How many exchanges are left.
    pub fn remaining(&self) -> usize {
        self.cassette
            .interactions
            .len()
            .saturating_sub(self.lock().next)
    }

    fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn check_request(expected: &RecordedRequest, actual: &RecordedRequest) -> Result<(), String> {
    if !expected.method.eq_ignore_ascii_case(&actual.method) {
        return Err(format!(
            "method {}, recorded {}",
            actual.method, expected.method
        ));
    }
    if expected.url != actual.url {
        return Err(format!("URL {}, recorded {}", actual.url, expected.url));
    }
    for (k, v) in &expected.headers {
        match actual.headers.get(&k.to_ascii_lowercase()) {
            None => return Err(format!("header `{k}` missing")),
            Some(a) if a != v && v != REDACTED => {
                return Err(format!("header `{k}` is `{a}`, recorded `{v}`"));
            }
            Some(_) => {}
        }
    }
    if expected.body.is_null() {
        return Ok(());
    }
    json_subset(&expected.body, &actual.body)
}

fn response_body(r: &RecordedResponse, pace: Option<f64>) -> ByteStream {
    let mut pieces: Vec<(u64, Result<Bytes, ModelError>)> = Vec::new();
    if let Some(t) = &r.text {
        pieces.push((0, Ok(Bytes::from(t.clone()))));
    }
    if let Some(j) = &r.json {
        pieces.push((0, Ok(Bytes::from(j.to_string()))));
    }
    for c in r.chunks.iter().flatten() {
        pieces.push((c.after_ms, Ok(Bytes::from(c.bytes()))));
    }
    if let Some(e) = &r.stream_error {
        pieces.push((0, Err(e.clone())));
    }
    let stream = futures::stream::unfold(pieces.into_iter(), move |mut it| async move {
        let (after_ms, item) = it.next()?;
        pause(after_ms, pace).await;
        Some((item, it))
    });
    Box::pin(stream)
}

#[cfg(not(target_arch = "wasm32"))]
async fn pause(after_ms: u64, pace: Option<f64>) {
    if let Some(factor) = pace {
        let ms = (after_ms as f64 * factor).round();
        if ms >= 1.0 {
            tokio::time::sleep(std::time::Duration::from_millis(ms as u64)).await;
        }
    }
}

#[cfg(target_arch = "wasm32")]
async fn pause(_after_ms: u64, _pace: Option<f64>) {}

impl Transport for ReplayTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, ModelError>> {
        Box::pin(async move {
            let actual = record_request(&request);
            let (index, interaction) = {
                let mut state = self.lock();
                let index = state.next;
                let Some(x) = self.cassette.interactions.get(index) else {
                    return Err(ModelError::Unsupported(format!(
                        "HTTP cassette exhausted: request {} ({} {}) has no recorded exchange",
                        index + 1,
                        actual.method,
                        actual.url
                    )));
                };
                if self.strict
                    && let Err(why) = check_request(&x.request, &actual)
                {
                    return Err(ModelError::Unsupported(format!(
                        "HTTP cassette mismatch at exchange {}{}: {why}",
                        index + 1,
                        x.name
                            .as_deref()
                            .map(|n| format!(" (`{n}`)"))
                            .unwrap_or_default()
                    )));
                }
                state.next += 1;
                state.seen.push(actual);
                (index, x.clone())
            };
            tracing::debug!(exchange = index + 1, "HTTP cassette replay");
            if let Some(e) = interaction.error {
                return Err(e);
            }
            let Some(r) = interaction.response else {
                return Err(ModelError::Unsupported(format!(
                    "HTTP cassette exchange {} has no response",
                    index + 1
                )));
            };
            Ok(HttpResponse {
                status: r.status,
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                body: response_body(&r, self.pace),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_pretty_and_line_forms() {
        let text = r#"{"weft_http_cassette": 1, "note": "n"}
{
  "request": {"method": "POST", "url": "http://x/v1/chat/completions", "body": {"a": 1}},
  "response": {"status": 200, "chunks": [{"after_ms": 5, "sse": {"data": {"b": [1, 2]}}}, {"sse": {"event": "e", "data": "[DONE]"}}]}
}
{"request": {"method": "POST", "url": "http://x"}, "error": {"timeout": "slow"}}
"#;
        let c = HttpCassette::parse(text).unwrap();
        assert_eq!(c.interactions.len(), 2);
        let chunks = c.interactions[0]
            .response
            .as_ref()
            .unwrap()
            .chunks
            .as_ref()
            .unwrap();
        assert_eq!(chunks[0].bytes(), "data: {\"b\":[1,2]}\n\n");
        assert_eq!(chunks[1].bytes(), "event: e\ndata: [DONE]\n\n");
        let again = HttpCassette::parse(&c.to_jsonl()).unwrap();
        assert_eq!(again, c);
        assert!(HttpCassette::parse("{\"weft_http_cassette\": 2}").is_err());
        assert!(
            HttpCassette::parse(
                "{\"weft_http_cassette\": 1}\n{\"request\":{\"method\":\"POST\",\"url\":\"u\"}}"
            )
            .is_err()
        );
    }

    #[test]
    fn subset_matching() {
        let actual =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
        assert!(json_subset(&json!({"messages": [{"role": "user"}]}), &actual).is_ok());
        assert!(json_subset(&json!({"temperature": 0.5}), &actual).is_err());
        let err = json_subset(&json!({"messages": [{"content": "bye"}]}), &actual).unwrap_err();
        assert!(err.contains("body.messages[0].content"), "{err}");
        assert!(json_subset(&json!({"messages": []}), &actual).is_err());
    }
}
