//! Record and replay model calls, at the [`Model`] level.
//!
//! A cassette is a JSON Lines file. The first line is a header,
//! `{"weft_cassette": 1, "note": "...", "capabilities": {...}}`; each further
//! line is one call, in the order the calls finished:
//!
//! ```json
//! {"kind": "chat", "request": {...}, "response": {...}}
//! {"kind": "chat", "request": {...}, "error": {"rate_limited": {...}}}
//! {"kind": "stream", "request": {...}, "events": [{"text_delta": "Hi"}, {"done": {...}}]}
//! {"kind": "stream", "request": {...}, "events": [{"text_delta": "Hi"}], "error": {"transport": "..."}}
//! ```
//!
//! [`RecordingModel`] wraps any model and appends every exchange, flushing
//! after each. [`ReplayModel`] serves the entries strictly in order, checks
//! that each incoming request matches the recorded one, and is fully
//! deterministic. Requests never hold credentials, so neither do cassettes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{BoxFuture, EventStream, Model, events_from_response, stream_of};
use crate::types::{Capabilities, ChatRequest, ChatResponse, ModelError, StreamEvent};

/// The cassette format version this crate reads and writes.
pub const CASSETTE_VERSION: u32 = 1;

/// The first line of a cassette.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CassetteHeader {
    /// The format version; always [`CASSETTE_VERSION`].
    pub weft_cassette: u32,
    /// Free text: what was recorded, when, against which model.
    #[serde(default)]
    pub note: String,
    /// The recorded model's capabilities, served again on replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
}

/// Which [`Model`] method an entry recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// [`Model::chat`].
    Chat,
    /// [`Model::chat_stream`].
    Stream,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CassetteEntry {
    /// The method called.
    pub kind: EntryKind,
    /// The request it was called with.
    pub request: ChatRequest,
    /// The answer of a successful `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ChatResponse>,
    /// The events of a stream, in order (ending in `done` unless `error`
    /// is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<StreamEvent>>,
    /// The error the call (or the stream, after `events`) ended with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ModelError>,
}

impl CassetteEntry {
    /// Checks the entry's shape: a `chat` entry holds a response or an
    /// error; a `stream` entry holds events ending in `done`, or an error.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            EntryKind::Chat => {
                if self.events.is_some() {
                    return Err("a `chat` entry cannot hold `events`".into());
                }
                match (&self.response, &self.error) {
                    (Some(_), None) | (None, Some(_)) => Ok(()),
                    _ => Err("a `chat` entry needs exactly one of `response` and `error`".into()),
                }
            }
            EntryKind::Stream => {
                if self.response.is_some() {
                    return Err("a `stream` entry holds `events`, not `response`".into());
                }
                let events = self.events.as_deref().unwrap_or_default();
                let done = events
                    .iter()
                    .position(|e| matches!(e, StreamEvent::Done(_)));
                match (done, &self.error) {
                    (Some(i), None) if i + 1 == events.len() => Ok(()),
                    (Some(_), _) => {
                        Err("`done` must be the last event and nothing may follow it".into())
                    }
                    (None, Some(_)) => Ok(()),
                    (None, None) => {
                        Err("a `stream` entry needs a final `done` event or an `error`".into())
                    }
                }
            }
        }
    }

    /// The answer `chat` gives for this entry.
    fn chat_result(&self) -> Result<ChatResponse, ModelError> {
        if let Some(r) = &self.response {
            return Ok(r.clone());
        }
        let done = self.events.iter().flatten().find_map(|e| match e {
            StreamEvent::Done(r) => Some(r.clone()),
            _ => None,
        });
        match (done, &self.error) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err(ModelError::Transport(
                "cassette entry holds neither an answer nor an error".into(),
            )),
        }
    }

    /// The stream `chat_stream` gives for this entry.
    fn stream_result(&self) -> Result<EventStream, ModelError> {
        if let Some(r) = &self.response {
            return Ok(stream_of(
                events_from_response(r).into_iter().map(Ok).collect(),
            ));
        }
        let events = self.events.clone().unwrap_or_default();
        match &self.error {
            Some(e) if events.is_empty() => Err(e.clone()),
            error => Ok(stream_of(
                events
                    .into_iter()
                    .map(Ok)
                    .chain(error.clone().map(Err))
                    .collect(),
            )),
        }
    }
}

/// Why a cassette could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file could not be read or written.
    #[error("cassette {path}: {source}")]
    Io {
        /// The cassette's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The first line is not a version-1 cassette header.
    #[error("cassette {path}: bad header: {message}")]
    Header {
        /// The cassette's path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An entry line is not valid.
    #[error("cassette {path}, line {line}: {message}")]
    Entry {
        /// The cassette's path.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A whole cassette in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Cassette {
    /// The header line.
    pub header: CassetteHeader,
    /// The recorded calls, in order.
    pub entries: Vec<CassetteEntry>,
}

impl Cassette {
    /// Reads and validates a cassette file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates cassette text; `path` only names it in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());
        let header_error = |message: String| CassetteError::Header {
            path: path.to_owned(),
            message,
        };
        let (_, first) = lines
            .next()
            .ok_or_else(|| header_error("the file is empty".into()))?;
        let header: CassetteHeader = serde_json::from_str(first).map_err(|e| {
            header_error(format!(
                "expected {{\"weft_cassette\": {CASSETTE_VERSION}, \"note\": ...}}: {e}"
            ))
        })?;
        if header.weft_cassette != CASSETTE_VERSION {
            return Err(header_error(format!(
                "version {} is not supported (expected {CASSETTE_VERSION})",
                header.weft_cassette
            )));
        }
        let mut entries = Vec::new();
        for (line, text) in lines {
            let entry_error = |message: String| CassetteError::Entry {
                path: path.to_owned(),
                line,
                message,
            };
            let entry: CassetteEntry =
                serde_json::from_str(text).map_err(|e| entry_error(e.to_string()))?;
            entry.validate().map_err(entry_error)?;
            entries.push(entry);
        }
        Ok(Self { header, entries })
    }

    /// The cassette as JSON Lines text.
    pub fn to_jsonl(&self) -> String {
        let mut out = json_line(&self.header);
        for e in &self.entries {
            out.push_str(&json_line(e));
        }
        out
    }
}

fn json_line<T: Serialize>(value: &T) -> String {
    // Serializing these plain data types cannot fail (no maps with non-string
    // keys, no failing Serialize impls).
    let mut line = serde_json::to_string(value)
        .unwrap_or_else(|e| serde_json::json!({"unserializable": e.to_string()}).to_string());
    line.push('\n');
    line
}

/// The append-only cassette file of a [`RecordingModel`].
#[derive(Debug)]
struct Sink {
    path: PathBuf,
    file: Mutex<File>,
}

impl Sink {
    fn write(&self, entry: &CassetteEntry) -> Result<(), ModelError> {
        let line = json_line(entry);
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| {
                ModelError::Transport(format!(
                    "cassette {}: cannot record the call: {e}",
                    self.path.display()
                ))
            })
    }
}

/// A [`Model`] that records every call of the model it wraps into a
/// cassette; see the [module docs](self).
///
/// Calls are written when they finish, so concurrent calls are recorded in
/// completion order. A stream is written when its `done` event (or error)
/// passes through; a stream dropped early is recorded with the events seen
/// so far and a `transport` error, which keeps replay in step.
///
/// If the cassette cannot be written the call fails with
/// [`ModelError::Transport`]: a recording with holes would fail later, and
/// more confusingly.
#[derive(Debug)]
pub struct RecordingModel<M> {
    inner: M,
    sink: Arc<Sink>,
}

impl<M: Model> RecordingModel<M> {
    /// Creates (or truncates) the cassette at `path`, writes its header with
    /// `note` and the inner model's capabilities, and wraps `inner`.
    pub fn create(
        inner: M,
        path: impl AsRef<Path>,
        note: impl Into<String>,
    ) -> Result<Self, CassetteError> {
        let path = path.as_ref().to_owned();
        let io = |source| CassetteError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io)?;
        let header = CassetteHeader {
            weft_cassette: CASSETTE_VERSION,
            note: note.into(),
            capabilities: Some(inner.capabilities()),
        };
        file.write_all(json_line(&header).as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self {
            inner,
            sink: Arc::new(Sink {
                path,
                file: Mutex::new(file),
            }),
        })
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The cassette's path.
    pub fn path(&self) -> &Path {
        &self.sink.path
    }
}

impl<M: Model> Model for RecordingModel<M> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        Box::pin(async move {
            let result = self.inner.chat(request).await;
            let (response, error) = match &result {
                Ok(r) => (Some(r.clone()), None),
                Err(e) => (None, Some(e.clone())),
            };
            self.sink.write(&CassetteEntry {
                kind: EntryKind::Chat,
                request: request.clone(),
                response,
                events: None,
                error,
            })?;
            result
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        Box::pin(async move {
            match self.inner.chat_stream(request).await {
                Ok(inner) => Ok(Box::pin(RecordingStream {
                    inner,
                    sink: self.sink.clone(),
                    request: Some(request.clone()),
                    events: Vec::new(),
                }) as EventStream),
                Err(e) => {
                    self.sink.write(&CassetteEntry {
                        kind: EntryKind::Stream,
                        request: request.clone(),
                        response: None,
                        events: Some(Vec::new()),
                        error: Some(e.clone()),
                    })?;
                    Err(e)
                }
            }
        })
    }
}

/// A stream passing events through while recording them.
struct RecordingStream {
    inner: EventStream,
    sink: Arc<Sink>,
    /// `None` once the entry is written.
    request: Option<ChatRequest>,
    events: Vec<StreamEvent>,
}

impl RecordingStream {
    fn record(&mut self, error: Option<ModelError>) -> Result<(), ModelError> {
        let Some(request) = self.request.take() else {
            return Ok(());
        };
        self.sink.write(&CassetteEntry {
            kind: EntryKind::Stream,
            request,
            response: None,
            events: Some(std::mem::take(&mut self.events)),
            error,
        })
    }
}

impl Stream for RecordingStream {
    type Item = Result<StreamEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.request.is_none() {
            return Poll::Ready(None);
        }
        let item = match self.inner.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            Some(Ok(event)) => {
                let done = matches!(event, StreamEvent::Done(_));
                self.events.push(event.clone());
                if done {
                    // Nothing follows `done`: record now, since consumers
                    // usually stop polling here.
                    match self.record(None) {
                        Ok(()) => Some(Ok(event)),
                        Err(e) => Some(Err(e)),
                    }
                } else {
                    Some(Ok(event))
                }
            }
            Some(Err(error)) => match self.record(Some(error.clone())) {
                Ok(()) => Some(Err(error)),
                Err(e) => Some(Err(e)),
            },
            None => {
                let error = ModelError::Transport("the stream ended without a `done` event".into());
                match self.record(Some(error)) {
                    Ok(()) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        })
    }
}

impl Drop for RecordingStream {
    fn drop(&mut self) {
        if self.request.is_some() {
            let error = ModelError::Transport(
                "recording: the caller dropped the stream before it ended".into(),
            );
            if let Err(e) = self.record(Some(error)) {
                tracing::error!("{e}");
            }
        }
    }
}

/// A [`Model`] that answers from a cassette; see the [module docs](self).
///
/// Entries are served strictly in order. Unless [`ReplayModel::lenient`] is
/// set, each request must equal the recorded one in canonical form (every
/// field compared; JSON text such as tool arguments and schemas compared as
/// JSON, so key order and whitespace do not matter). A mismatch, or a call
/// past the last entry, fails with [`ModelError::Unsupported`] (this model
/// cannot answer that request; callers do not retry it) and does not advance
/// the cassette. A `chat` call may consume a `stream` entry (it gets the
/// `done` answer) and a `chat_stream` call a `chat` entry (it gets the
/// answer as events).
#[derive(Debug)]
pub struct ReplayModel {
    name: String,
    header: CassetteHeader,
    entries: Vec<CassetteEntry>,
    next: Mutex<usize>,
    lenient: bool,
}

impl ReplayModel {
    /// Loads the cassette at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let cassette = Cassette::load(path)?;
        Ok(Self::from_cassette(cassette).named(path.display().to_string()))
    }

    /// Replays an in-memory cassette.
    pub fn from_cassette(cassette: Cassette) -> Self {
        Self {
            name: "cassette".into(),
            header: cassette.header,
            entries: cassette.entries,
            next: Mutex::new(0),
            lenient: false,
        }
    }

    fn named(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// This model without request comparison: every call takes the next
    /// entry whatever it asks (for hand-edited fixtures).
    pub fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// How many entries are left to serve.
    pub fn remaining(&self) -> usize {
        self.entries.len().saturating_sub(*self.cursor())
    }

    fn cursor(&self) -> MutexGuard<'_, usize> {
        self.next.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the next entry for `request`, checking it matches.
    fn take(&self, request: &ChatRequest) -> Result<&CassetteEntry, ModelError> {
        let mut next = self.cursor();
        let n = *next;
        let entry = self.entries.get(n).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "cassette {} exhausted: call {} was made but the cassette holds only {} entries",
                self.name,
                n + 1,
                self.entries.len()
            ))
        })?;
        if !self.lenient {
            let diffs = request_diff(&entry.request, request);
            if !diffs.is_empty() {
                return Err(ModelError::Unsupported(format!(
                    "cassette mismatch at call {} of {}: the request differs from the recorded one: {}",
                    n + 1,
                    self.name,
                    diffs.join("; ")
                )));
            }
        }
        *next += 1;
        Ok(entry)
    }
}

impl Model for ReplayModel {
    fn capabilities(&self) -> Capabilities {
        self.header
            .capabilities
            .clone()
            .unwrap_or_else(|| Capabilities {
                tools: true,
                parallel_tool_calls: true,
                streaming: true,
                json_object: true,
                json_schema: true,
                reasoning: true,
                ..Capabilities::new("cassette", "cassette")
            })
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        let result = self.take(request).and_then(CassetteEntry::chat_result);
        Box::pin(futures::future::ready(result))
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        let result = self.take(request).and_then(CassetteEntry::stream_result);
        Box::pin(futures::future::ready(result))
    }
}

/// How many differences a mismatch message lists.
const MAX_DIFFS: usize = 3;

/// The request as JSON, with JSON-text fields (tool arguments and results,
/// schemas, provider options) parsed so that formatting does not matter.
fn canonical(request: &ChatRequest) -> Value {
    let mut v = serde_json::to_value(request).unwrap_or(Value::Null);
    fn parse_in_place(v: Option<&mut Value>) {
        if let Some(slot) = v
            && let Some(text) = slot.as_str()
            && let Ok(parsed) = serde_json::from_str::<Value>(text)
        {
            *slot = serde_json::json!({ "json": parsed });
        }
    }
    fn each(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
        v.and_then(Value::as_array_mut).into_iter().flatten()
    }
    for message in each(v.get_mut("messages")) {
        for part in each(message.get_mut("parts")) {
            parse_in_place(
                part.get_mut("tool_call")
                    .and_then(|c| c.get_mut("arguments")),
            );
            parse_in_place(
                part.get_mut("tool_result")
                    .and_then(|r| r.get_mut("content")),
            );
        }
    }
    for tool in each(v.get_mut("tools")) {
        parse_in_place(tool.get_mut("input_schema"));
        parse_in_place(tool.get_mut("output_schema"));
    }
    parse_in_place(
        v.get_mut("response_format")
            .and_then(|f| f.get_mut("json_schema"))
            .and_then(|s| s.get_mut("schema")),
    );
    for option in each(v.get_mut("provider_options")) {
        parse_in_place(option.get_mut("json"));
    }
    v
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated, {} bytes in all]", &s[..end], s.len())
}

fn diff_values(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    if out.len() >= MAX_DIFFS || expected == got {
        return;
    }
    match (expected, got) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_values(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: expected {}, got nothing", short(x))),
                    (None, Some(y)) => out.push(format!("{p}: expected nothing, got {}", short(y))),
                    (None, None) => {}
                }
                if out.len() >= MAX_DIFFS {
                    return;
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!(
                    "{path}: expected {} items, got {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(expected),
            short(got)
        )),
    }
}

/// Differences between a recorded and an incoming request, at most
/// three, as `path: expected X, got Y`.
pub fn request_diff(expected: &ChatRequest, got: &ChatRequest) -> Vec<String> {
    let mut out = Vec::new();
    diff_values("", &canonical(expected), &canonical(got), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, ToolCall};

    #[test]
    fn canonical_ignores_json_formatting_only() {
        let mut a = ChatRequest::new(vec![Message::user("hi")]);
        a.messages.push(Message::new(
            crate::types::Role::Assistant,
            vec![crate::types::Part::ToolCall(ToolCall::new(
                "1",
                "f",
                r#"{"a":1,"b":2}"#,
            ))],
        ));
        let mut b = a.clone();
        if let crate::types::Part::ToolCall(c) = &mut b.messages[1].parts[0] {
            c.arguments = "{ \"b\": 2, \"a\": 1 }".into();
        }
        assert!(request_diff(&a, &b).is_empty());
        b.messages[0] = Message::user("ho");
        b.sampling.temperature = Some(0.5);
        let d = request_diff(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(
            d[0],
            r#"messages[0].parts[0].text: expected "hi", got "ho""#
        );
        assert!(d[1].starts_with("sampling.temperature: expected nothing"));
    }

    #[test]
    fn validation() {
        let text = "{\"weft_cassette\":1}\n{\"kind\":\"stream\",\"request\":{\"messages\":[]},\"events\":[{\"text_delta\":\"x\"}]}\n";
        let err = Cassette::parse(text, "t.jsonl").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Cassette::parse("{\"weft_cassette\":2}\n", "t.jsonl").unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
