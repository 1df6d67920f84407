//! Streamed Chat Completions: SSE chunks to [`StreamEvent`]s, with robust
//! assembly of tool-call fragments.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use super::wire::{
    arguments_of, finish_arguments, finish_reason, parse_usage, reasoning_of, reasoning_part,
    text_of,
};
use crate::http_error::{classify_inline, from_reqwest, truncate};
use crate::model::{BoxStream, EventStream};
use crate::sse::{SseEvent, SseParser};
use crate::types::{ChatResponse, Message, ModelError, Part, Role, StreamEvent, ToolCall, Usage};

/// One tool call being assembled.
#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

impl PartialCall {
    fn arguments_complete(&self) -> bool {
        !self.arguments.trim().is_empty()
            && serde_json::from_str::<serde::de::IgnoredAny>(&self.arguments).is_ok()
    }
}

/// Assembles streamed `tool_calls` fragments into complete calls.
///
/// A fragment joins a call by `id` when it has one (a new id always starts a
/// new call, even at an index already in use: Ollama sends `index: 0` for
/// every call, Grok reuses indices), otherwise by `index` (the latest call
/// seen at that index), otherwise (no index at all) the latest call. An
/// id-less fragment carrying a name while its target already has a name and
/// complete JSON arguments starts a new call too.
#[derive(Debug, Default)]
pub(crate) struct ToolCallAssembler {
    calls: Vec<PartialCall>,
    by_index: HashMap<u64, usize>,
}

impl ToolCallAssembler {
    /// Adds one element of a delta's `tool_calls` array.
    pub(crate) fn push(&mut self, fragment: &Value) {
        let index = fragment.get("index").and_then(Value::as_u64);
        let id = fragment
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = fragment.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pos = self.target(index, id, name);
        if let Some(i) = index {
            self.by_index.insert(i, pos);
        }
        let call = &mut self.calls[pos];
        if !name.is_empty() && call.name != name {
            // Either the first name, or a name streamed in pieces.
            call.name.push_str(name);
        }
        call.arguments.push_str(&arguments_of(function));
    }

    fn target(&mut self, index: Option<u64>, id: Option<&str>, name: &str) -> usize {
        let latest = match index {
            Some(i) => self.by_index.get(&i).copied(),
            None => self.calls.len().checked_sub(1),
        };
        if let Some(id) = id {
            if let Some(pos) = self.calls.iter().position(|c| c.id.as_deref() == Some(id)) {
                return pos;
            }
            // The id arriving after an id-less first fragment.
            if let Some(pos) = latest
                .filter(|&p| self.calls[p].id.is_none() && !self.calls[p].arguments_complete())
            {
                self.calls[pos].id = Some(id.to_owned());
                return pos;
            }
            self.calls.push(PartialCall {
                id: Some(id.to_owned()),
                ..Default::default()
            });
            return self.calls.len() - 1;
        }
        if let Some(pos) = latest {
            let c = &self.calls[pos];
            let starts_new = !name.is_empty() && !c.name.is_empty() && c.arguments_complete();
            if !starts_new {
                return pos;
            }
        }
        self.calls.push(PartialCall::default());
        self.calls.len() - 1
    }

    /// True when no fragment has arrived.
    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The complete calls, in order of first appearance. Missing ids become
    /// `call_N`; empty arguments become `{}`; a call without a name or with
    /// arguments that do not parse as JSON is an error naming it.
    pub(crate) fn finish(
        self,
        provider: &str,
        raw_finish: Option<&str>,
    ) -> Result<Vec<ToolCall>, ModelError> {
        let mut out = Vec::with_capacity(self.calls.len());
        for (i, c) in self.calls.into_iter().enumerate() {
            let id = c.id.unwrap_or_else(|| format!("call_{i}"));
            if c.name.is_empty() {
                return Err(ModelError::Transport(format!(
                    "{provider}: invalid stream: tool call {i} (id `{id}`) has no name"
                )));
            }
            let arguments =
                finish_arguments(&id, &c.name, c.arguments, raw_finish).map_err(|e| match e {
                    ModelError::Transport(m) => ModelError::Transport(format!("{provider}: {m}")),
                    other => other,
                })?;
            out.push(ToolCall {
                id,
                name: c.name,
                arguments,
            });
        }
        Ok(out)
    }
}

/// What the stream decoder should do after one SSE event.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

/// Decodes Chat Completions chunks and assembles the final answer.
#[derive(Debug)]
pub(crate) struct Decoder {
    provider: String,
    model: String,
    parts: Vec<Part>,
    calls: ToolCallAssembler,
    raw_finish: Option<String>,
    usage: Option<Usage>,
}

impl Decoder {
    pub(crate) fn new(provider: &str, fallback_model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: fallback_model.to_owned(),
            parts: Vec::new(),
            calls: ToolCallAssembler::default(),
            raw_finish: None,
            usage: None,
        }
    }

    /// True once the provider reported why generation ended.
    fn finished(&self) -> bool {
        self.raw_finish.is_some()
    }

    fn push_text(&mut self, reasoning: bool, delta: String, out: &mut VecDeque<StreamEvent>) {
        match (self.parts.last_mut(), reasoning) {
            (Some(Part::Text(t)), false) => t.push_str(&delta),
            (Some(Part::Reasoning(r)), true) => r.text.push_str(&delta),
            (_, false) => self.parts.push(Part::Text(delta.clone())),
            (_, true) => self
                .parts
                .push(reasoning_part(&self.provider, delta.clone())),
        }
        out.push_back(if reasoning {
            StreamEvent::ReasoningDelta(delta)
        } else {
            StreamEvent::TextDelta(delta)
        });
    }

    /// Handles one SSE event, queueing the stream events it produced.
    fn handle(
        &mut self,
        event: &SseEvent,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::End);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            ModelError::Transport(format!(
                "{}: invalid stream chunk ({e}): {}",
                self.provider,
                truncate(data, 500)
            ))
        })?;
        if event.event.as_deref() == Some("error")
            || chunk.get("error").is_some_and(|e| !e.is_null())
        {
            return Err(classify_inline(&self.provider, data));
        }
        if let Some(model) = chunk
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            model.clone_into(&mut self.model);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(parse_usage(usage));
        }
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for choice in choices {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta") {
                let reasoning = reasoning_of(delta);
                if !reasoning.is_empty() {
                    self.push_text(true, reasoning, out);
                }
                let text = text_of(delta.get("content"));
                if !text.is_empty() {
                    self.push_text(false, text, out);
                }
                if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                    for fragment in calls {
                        self.calls.push(fragment);
                    }
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.raw_finish = Some(reason.to_owned());
            }
        }
        Ok(Flow::Continue)
    }

    /// Completes the answer: the tool-call events, then `Done`.
    fn finish(self, out: &mut VecDeque<StreamEvent>) -> Result<(), ModelError> {
        let has_calls = !self.calls.is_empty();
        let calls = self
            .calls
            .finish(&self.provider, self.raw_finish.as_deref())?;
        let mut parts = self.parts;
        for c in calls {
            out.push_back(StreamEvent::ToolCall(c.clone()));
            parts.push(Part::ToolCall(c));
        }
        out.push_back(StreamEvent::Done(ChatResponse {
            message: Message::new(Role::Assistant, parts),
            finish_reason: finish_reason(self.raw_finish.as_deref(), has_calls),
            usage: self.usage.unwrap_or_default(),
            model: self.model,
        }));
        Ok(())
    }
}

/// The raw body of a streamed response.
pub(crate) type ByteStream = BoxStream<'static, Result<Bytes, reqwest::Error>>;

struct Driver {
    body: ByteStream,
    parser: SseParser,
    decoder: Option<Decoder>,
    queue: VecDeque<StreamEvent>,
    error: Option<ModelError>,
    received: usize,
}

impl Driver {
    /// Feeds SSE events to the decoder; `true` once the stream is over.
    fn process(&mut self, events: Vec<SseEvent>) -> bool {
        for event in events {
            let Some(decoder) = self.decoder.as_mut() else {
                return true;
            };
            match decoder.handle(&event, &mut self.queue) {
                Ok(Flow::Continue) => {}
                Ok(Flow::End) => {
                    self.end();
                    return true;
                }
                Err(e) => {
                    self.decoder = None;
                    self.error = Some(e);
                    return true;
                }
            }
        }
        false
    }

    fn end(&mut self) {
        if let Some(decoder) = self.decoder.take()
            && let Err(e) = decoder.finish(&mut self.queue)
        {
            self.error = Some(e);
        }
    }

    async fn next(&mut self) -> Option<Result<StreamEvent, ModelError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            let decoder = self.decoder.as_ref()?;
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    self.received += bytes.len();
                    let events = self.parser.feed(&bytes);
                    self.process(events);
                }
                Some(Err(e)) => {
                    let provider = decoder.provider.clone();
                    self.decoder = None;
                    self.error = Some(from_reqwest(&provider, &e));
                }
                None => {
                    let last: Vec<SseEvent> = self.parser.finish().into_iter().collect();
                    if self.process(last) {
                        continue;
                    }
                    match self.decoder.as_ref() {
                        Some(d) if d.finished() => self.end(),
                        Some(d) => {
                            self.error = Some(ModelError::Transport(format!(
                                "{}: stream truncated: the connection closed after {} bytes without `[DONE]` or a finish_reason",
                                d.provider, self.received
                            )));
                            self.decoder = None;
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// Turns a streamed Chat Completions body into an [`EventStream`].
pub(crate) fn event_stream(body: ByteStream, provider: &str, fallback_model: &str) -> EventStream {
    let driver = Driver {
        body,
        parser: SseParser::new(),
        decoder: Some(Decoder::new(provider, fallback_model)),
        queue: VecDeque::new(),
        error: None,
        received: 0,
    };
    Box::pin(futures::stream::unfold(driver, |mut d| async move {
        let item = d.next().await?;
        Some((item, d))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assemble(fragments: Vec<Value>) -> Result<Vec<ToolCall>, ModelError> {
        let mut a = ToolCallAssembler::default();
        for f in &fragments {
            a.push(f);
        }
        a.finish("p", None)
    }

    #[test]
    fn interleaved_by_index() {
        let calls = assemble(vec![
            json!({"index":0,"id":"a","function":{"name":"f","arguments":""}}),
            json!({"index":1,"id":"b","function":{"name":"g","arguments":"{\"y\""}}),
            json!({"index":0,"function":{"arguments":"{\"x\":"}}),
            json!({"index":1,"function":{"arguments":":2}"}}),
            json!({"index":0,"function":{"arguments":"1}"}}),
        ])
        .unwrap();
        assert_eq!(
            calls,
            vec![
                ToolCall::new("a", "f", r#"{"x":1}"#),
                ToolCall::new("b", "g", r#"{"y":2}"#)
            ]
        );
    }

    #[test]
    fn ollama_index_zero_and_reused_indices() {
        let calls = assemble(vec![
            json!({"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":1}"}}),
            json!({"index":0,"id":"b","function":{"name":"g","arguments":"{}"}}),
            json!({"index":0,"id":"c","function":{"name":"h","arguments":"{\"z\""}}),
            json!({"index":0,"function":{"arguments":":3}"}}),
        ])
        .unwrap();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2], ToolCall::new("c", "h", r#"{"z":3}"#));
    }

    #[test]
    fn no_index_no_id() {
        let calls = assemble(vec![
            json!({"function":{"name":"f","arguments":"{\"a\":"}}),
            json!({"function":{"arguments":"1}"}}),
            json!({"function":{"name":"g","arguments":""}}),
            json!({"id":"late","function":{"arguments":""}}),
        ])
        .unwrap();
        assert_eq!(
            calls,
            vec![
                ToolCall::new("call_0", "f", r#"{"a":1}"#),
                ToolCall::new("late", "g", "{}")
            ]
        );
    }

    #[test]
    fn repeated_id_and_name_on_every_fragment() {
        let calls = assemble(vec![
            json!({"index":0,"id":"a","function":{"name":"f","arguments":"{\"a\""}}),
            json!({"index":0,"id":"a","function":{"name":"f","arguments":":1}"}}),
        ])
        .unwrap();
        assert_eq!(calls, vec![ToolCall::new("a", "f", r#"{"a":1}"#)]);
    }

    #[test]
    fn invalid_arguments_name_the_call() {
        let err = assemble(vec![
            json!({"index":0,"id":"a","function":{"name":"f","arguments":"{\"a\":"}}),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`f`") && msg.contains("`a`") && msg.contains("not valid JSON"),
            "{msg}"
        );
    }
}
