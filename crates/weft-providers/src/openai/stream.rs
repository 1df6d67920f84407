//! Streamed Chat Completions: SSE chunks to [`StreamEvent`]s, with robust
//! assembly of tool-call fragments.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;
use weft_model::types::{
    ChatResponse, Message, ModelError, Part, Reasoning, Role, StreamEvent, ToolCall, Usage,
};

use super::read::{
    arguments_of, detail_meta, detail_text, finish_reason, parse_usage, reasoning_of,
    reasoning_part, text_of,
};
use super::think::{Piece, ThinkSplitter};
use super::wire::response::{self as wire, has_inline_error};
use crate::catalog::Profile;
use crate::http_error::classify_inline_for;
use crate::streaming::{Flow, Frame, StreamDecoder};
use crate::wire_util::finish_arguments;

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
    pub(crate) fn push(&mut self, mut fragment: wire::ToolCall) {
        let index = fragment.index;
        let id = fragment.id.as_deref().filter(|s| !s.is_empty());
        let name = fragment
            .function
            .as_mut()
            .and_then(|f| f.name.take())
            .unwrap_or_default();
        let pos = self.target(index, id, &name);
        if let Some(i) = index {
            self.by_index.insert(i, pos);
        }
        let call = &mut self.calls[pos];
        if !name.is_empty() && call.name != name {
            // Either the first name, or a name streamed in pieces.
            call.name.push_str(&name);
        }
        call.arguments
            .push_str(&arguments_of(fragment.function.as_mut()));
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
        let cut = raw_finish == Some("length");
        let mut out = Vec::with_capacity(self.calls.len());
        for (i, c) in self.calls.into_iter().enumerate() {
            let id = c.id.unwrap_or_else(|| format!("call_{i}"));
            if c.name.is_empty() {
                return Err(ModelError::Transport(format!(
                    "{provider}: invalid stream: tool call {i} (id `{id}`) has no name"
                )));
            }
            let arguments = finish_arguments(provider, &id, &c.name, c.arguments, cut)?;
            out.push(ToolCall {
                id,
                name: c.name,
                arguments,
            });
        }
        Ok(out)
    }
}

/// Decodes Chat Completions chunks and assembles the final answer.
#[derive(Debug)]
pub(crate) struct Decoder {
    provider: String,
    profile: Profile,
    model: String,
    parts: Vec<Part>,
    calls: ToolCallAssembler,
    think: Option<ThinkSplitter>,
    raw_finish: Option<String>,
    usage: Option<Usage>,
}

impl Decoder {
    pub(crate) fn new(provider: &str, profile: &Profile, fallback_model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            profile: profile.clone(),
            model: fallback_model.to_owned(),
            parts: Vec::new(),
            calls: ToolCallAssembler::default(),
            think: profile.think_tags.then(ThinkSplitter::default),
            raw_finish: None,
            usage: None,
        }
    }

    fn push_text(&mut self, reasoning: bool, delta: String, out: &mut VecDeque<StreamEvent>) {
        if delta.is_empty() {
            return;
        }
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

    fn push_pieces(&mut self, pieces: Vec<Piece>, out: &mut VecDeque<StreamEvent>) {
        for piece in pieces {
            match piece {
                Piece::Open => self
                    .parts
                    .push(reasoning_part(&self.provider, String::new())),
                Piece::Close => {}
                Piece::Text { reasoning, text } => self.push_text(reasoning, text, out),
            }
        }
    }

    fn push_content(&mut self, text: String, out: &mut VecDeque<StreamEvent>) {
        match self.think.as_mut() {
            Some(splitter) => {
                let pieces = splitter.feed(&text);
                self.push_pieces(pieces, out);
            }
            None => self.push_text(false, text, out),
        }
    }

    /// MiniMax's split reasoning: `reasoning_details` fragments, the first
    /// of each carrying its metadata.
    fn push_details(&mut self, details: &[Value], out: &mut VecDeque<StreamEvent>) {
        for d in details {
            let text = detail_text(d);
            let meta = detail_meta(d);
            // A fragment continues the current split-out reasoning when it
            // carries no metadata of its own, or the same metadata.
            let continues = matches!(self.parts.last(), Some(Part::Reasoning(r))
                if r.signature.as_deref().is_some_and(|s| meta == "{}" || s == meta));
            if continues {
                if let Some(Part::Reasoning(r)) = self.parts.last_mut() {
                    r.text.push_str(text);
                }
            } else {
                self.parts.push(Part::Reasoning(Reasoning {
                    text: text.to_owned(),
                    signature: Some(meta),
                    provider: Some(self.provider.clone()),
                    redacted: false,
                }));
            }
            if !text.is_empty() {
                out.push_back(StreamEvent::ReasoningDelta(text.to_owned()));
            }
        }
    }
}

impl StreamDecoder for Decoder {
    type Chunk = wire::ChatCompletionChunk;
    const END_MARKER: Option<&'static str> = Some("[DONE]");

    fn provider(&self) -> &str {
        &self.provider
    }

    fn finished(&self) -> bool {
        self.raw_finish.is_some()
    }

    fn chunk(
        &mut self,
        chunk: wire::ChatCompletionChunk,
        frame: &Frame<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        if frame.event == Some("error") || has_inline_error(chunk.error, chunk.base_resp.as_ref()) {
            return Err(classify_inline_for(
                &self.profile,
                &self.provider,
                frame.data,
            ));
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if let Some(usage) = parse_usage(chunk.usage.as_ref(), &self.profile.usage) {
            self.usage = Some(usage);
        }
        for choice in chunk.choices.into_iter().flatten() {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                let reasoning = reasoning_of(delta.reasoning_content, delta.reasoning);
                self.push_text(true, reasoning, out);
                if let Some(details) = &delta.reasoning_details {
                    self.push_details(details, out);
                }
                let text = text_of(delta.content);
                if !text.is_empty() {
                    self.push_content(text, out);
                }
                for fragment in delta.tool_calls.into_iter().flatten() {
                    self.calls.push(fragment);
                }
            }
            // Kimi reports usage inside the final choice.
            if let Some(usage) = parse_usage(choice.usage.as_ref(), &self.profile.usage) {
                self.usage = Some(usage);
            }
            if let Some(reason) = choice.finish_reason {
                self.raw_finish = Some(reason);
            }
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ModelError> {
        if let Some(mut splitter) = self.think.take() {
            let pieces = splitter.flush();
            self.push_pieces(pieces, out);
        }
        let has_calls = !self.calls.is_empty();
        let calls =
            std::mem::take(&mut self.calls).finish(&self.provider, self.raw_finish.as_deref())?;
        let mut parts = std::mem::take(&mut self.parts);
        for c in calls {
            out.push_back(StreamEvent::ToolCall(c.clone()));
            parts.push(Part::ToolCall(c));
        }
        out.push_back(StreamEvent::Done(ChatResponse {
            message: Message::new(Role::Assistant, parts),
            finish_reason: finish_reason(self.raw_finish.as_deref(), has_calls),
            usage: self.usage.unwrap_or_default(),
            model: std::mem::take(&mut self.model),
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_model::sse::SseEvent;

    fn assemble(fragments: Vec<Value>) -> Result<Vec<ToolCall>, ModelError> {
        let mut a = ToolCallAssembler::default();
        for f in fragments {
            a.push(serde_json::from_value(f).unwrap());
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

    fn decode(provider: &str, chunks: &[Value]) -> ChatResponse {
        let profile = crate::catalog::catalog()
            .profile_or_generic(provider)
            .clone();
        let mut d = Decoder::new(provider, &profile, "m");
        let mut out = VecDeque::new();
        for c in chunks {
            let event = SseEvent {
                event: None,
                data: c.to_string(),
            };
            assert_eq!(d.handle(&event, &mut out).unwrap(), Flow::Continue);
        }
        d.finish(&mut out).unwrap();
        match out.pop_back() {
            Some(StreamEvent::Done(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn delta(d: Value) -> Value {
        json!({"choices": [{"index": 0, "delta": d}]})
    }

    #[test]
    fn minimax_split_reasoning_streams_into_one_part_per_detail() {
        let meta = json!({"type": "reasoning.text", "id": "r1", "format": "MiniMax-response-v1", "index": 0});
        let mut first = meta.clone();
        first["text"] = "I will ".into();
        let r = decode(
            "minimax",
            &[
                delta(json!({"reasoning_details": [first]})),
                delta(json!({"reasoning_details": [{"text": "call it."}]})),
                delta(json!({"content": "Done."})),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ],
        );
        assert_eq!(r.reasoning_text(), "I will call it.");
        assert_eq!(r.text(), "Done.");
        match &r.message.parts[0] {
            Part::Reasoning(p) => {
                let sig: Value = serde_json::from_str(p.signature.as_deref().unwrap()).unwrap();
                assert_eq!(sig, meta);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unclosed_think_block_at_the_end_is_kept() {
        let r = decode(
            "minimax",
            &[
                delta(json!({"content": "<think>still thin"})),
                delta(json!({"content": "king</"})),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
            ],
        );
        assert_eq!(r.reasoning_text(), "still thinking</");
        assert_eq!(r.text(), "");
        assert_eq!(r.finish_reason, weft_model::FinishReason::Length);
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
