//! The Anthropic Messages API (`POST /v1/messages`).
//!
//! - System messages become the top-level `system` (one text block each).
//! - An assistant turn becomes one message of content blocks in the order
//!   of its parts: `thinking` (text and `signature`) and `redacted_thinking`
//!   (`data`, kept in [`weft_model::Reasoning::signature`] with `redacted`
//!   set) round-trip verbatim; text; `tool_use` with the parsed arguments.
//!   Empty text is left out (the API rejects empty text blocks).
//! - Tool results become `tool_result` blocks at the start of the following
//!   user message (`is_error` kept); consecutive messages of one role are
//!   merged, as the API expects alternating roles.
//! - `max_tokens` is required: the request's limit, else the model's
//!   output limit capped at 8192.
//! - Sampling: `temperature` (clamped to [0, 1] by the capability table),
//!   `top_p`, `top_k`, `stop_sequences`. Thinking is a provider option
//!   (`{"thinking": {"type": "enabled", "budget_tokens": N}}`).
//! - Streaming events: `message_start`, `content_block_start`,
//!   `content_block_delta` (`text_delta`, `input_json_delta`,
//!   `thinking_delta`, `signature_delta`), `content_block_stop`,
//!   `message_delta`, `message_stop`, `ping`, `error`.
//! - Usage: `input_tokens` here counts cache reads and writes too
//!   (Anthropic reports them apart); `cache_read_tokens` and
//!   `cache_write_tokens` are `cache_read_input_tokens` and
//!   `cache_creation_input_tokens`.
//! - The wire format is a set of serde structs (`anthropic/wire.rs`): a
//!   typed request, and responses and stream events read leniently.
//! - Errors by `error.type`: `overloaded_error` (529), `rate_limit_error`
//!   (with `retry-after`; a spend-limit one is an empty balance),
//!   `authentication_error`, `permission_error`, `billing_error`,
//!   `request_too_large`, and a too-long prompt.

mod wire;

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value, json};
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, Role,
    StreamEvent, ToolCall, ToolChoice, Usage,
};

use crate::adapt::Plan;
use crate::catalog::Profile;
use crate::engine::{Core, Wire, provider_type};
use crate::http_error::{classify_inline_for, truncate};
use crate::streaming::{Flow, Frame, StreamDecoder};
use crate::wire_util::{
    apply_provider_options, f32_wire, finish_arguments, input_schema, invalid, is_own,
    parse_json_text, read_body, to_object,
};

/// The default `max_tokens` when neither the request nor the capability
/// table gives one.
const DEFAULT_MAX_TOKENS: u32 = 8192;

/// Appends `blocks` as a message of `role`, merging with the previous
/// message when it has the same role (tool results first).
fn push_blocks(out: &mut Vec<wire::Message>, role: wire::Role, blocks: Vec<wire::Block>) {
    if blocks.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(last) if last.role == role => {
            let (mut results, mut rest): (Vec<_>, Vec<_>) = std::mem::take(&mut last.content)
                .into_iter()
                .chain(blocks)
                .partition(|b| matches!(b, wire::Block::ToolResult { .. }));
            results.append(&mut rest);
            last.content = results;
        }
        _ => out.push(wire::Message {
            role,
            content: blocks,
        }),
    }
}

fn text_block(text: &str) -> wire::Block {
    wire::Block::Text {
        text: text.to_owned(),
    }
}

fn tool_result_block(call_id: &str, content: &str, is_error: bool) -> wire::Block {
    wire::Block::ToolResult {
        tool_use_id: call_id.to_owned(),
        content: content.to_owned(),
        is_error,
    }
}

fn tool_use_block(index: usize, c: &ToolCall) -> Result<wire::Block, ModelError> {
    let input = if c.arguments.trim().is_empty() {
        json!({})
    } else {
        parse_json_text(
            &format!("the arguments of tool call `{}`", c.id),
            &c.arguments,
        )?
    };
    if !input.is_object() {
        return Err(invalid(format!(
            "message {index}: the arguments of tool call `{}` are not a JSON object",
            c.id
        )));
    }
    Ok(wire::Block::ToolUse {
        id: c.id.clone(),
        name: c.name.clone(),
        input,
    })
}

fn tools(req: &ChatRequest) -> Result<Vec<wire::Tool>, ModelError> {
    req.tools
        .iter()
        .map(|t| {
            Ok(wire::Tool {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: input_schema(t)?,
            })
        })
        .collect()
}

pub(crate) fn build_body(
    req: &ChatRequest,
    model: &str,
    provider: &str,
    max_tokens: u32,
    stream: bool,
) -> Result<Value, ModelError> {
    let mut system = Vec::new();
    let mut messages: Vec<wire::Message> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let wrong = |kind: &str| {
            invalid(format!(
                "message {i}: a {:?} message cannot hold a {kind} part",
                m.role
            ))
        };
        match m.role {
            Role::System => {
                let text = m.text();
                if !text.is_empty() {
                    system.push(wire::Block::Text { text });
                }
                if m.parts.iter().any(|p| !matches!(p, Part::Text(_))) {
                    return Err(wrong("non-text"));
                }
            }
            Role::User | Role::Tool => {
                let mut blocks = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::Text(t) if m.role == Role::User => {
                            if !t.is_empty() {
                                blocks.push(text_block(t));
                            }
                        }
                        Part::ToolResult(r) => {
                            blocks.push(tool_result_block(&r.call_id, &r.content, r.is_error))
                        }
                        Part::Text(_) => return Err(wrong("text")),
                        Part::Reasoning(_) => return Err(wrong("reasoning")),
                        Part::ToolCall(_) => return Err(wrong("tool_call")),
                    }
                }
                push_blocks(&mut messages, wire::Role::User, blocks);
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::Text(t) => {
                            if !t.is_empty() {
                                blocks.push(text_block(t));
                            }
                        }
                        Part::Reasoning(r) if !is_own(r, provider) => {}
                        Part::Reasoning(r) => match (&r.signature, r.redacted) {
                            (Some(data), true) => {
                                blocks.push(wire::Block::RedactedThinking { data: data.clone() })
                            }
                            (Some(sig), false) => blocks.push(wire::Block::Thinking {
                                thinking: r.text.clone(),
                                signature: sig.clone(),
                            }),
                            (None, _) => {}
                        },
                        Part::ToolCall(c) => blocks.push(tool_use_block(i, c)?),
                        Part::ToolResult(_) => return Err(wrong("tool_result")),
                    }
                }
                push_blocks(&mut messages, wire::Role::Assistant, blocks);
            }
        }
    }

    let mut body = wire::MessagesRequest {
        model: model.to_owned(),
        max_tokens: req.max_output_tokens.unwrap_or(max_tokens),
        system,
        messages,
        tools: None,
        tool_choice: None,
        temperature: req.sampling.temperature.and_then(f32_wire),
        top_p: req.sampling.top_p.and_then(f32_wire),
        top_k: req.sampling.top_k,
        stop_sequences: (!req.stop.is_empty()).then(|| req.stop.clone()),
        stream: stream.then_some(true),
    };
    if !req.tools.is_empty() {
        body.tools = Some(tools(req)?);
        body.tool_choice = match &req.tool_choice {
            ToolChoice::Auto => None,
            ToolChoice::None => Some(wire::ToolChoice::None),
            ToolChoice::Required => Some(wire::ToolChoice::Any),
            ToolChoice::Named(name) => Some(wire::ToolChoice::Tool { name: name.clone() }),
        };
    }
    let mut body = to_object(&body)?;
    apply_provider_options(&mut body, req, provider)?;
    Ok(Value::Object(body))
}

fn finish_reason(raw: Option<&str>, has_calls: bool) -> FinishReason {
    match raw {
        Some("tool_use") => FinishReason::ToolCalls,
        _ if has_calls => FinishReason::ToolCalls,
        None | Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}

/// Anthropic usage (input excludes cache buckets) as portable usage.
fn usage_of(u: &wire::Usage, into: &mut Usage) {
    let base = u.input_tokens;
    let write = u.cache_creation_input_tokens;
    let read = u.cache_read_input_tokens;
    if base.is_some() || write.is_some() || read.is_some() {
        if let Some(w) = write {
            into.cache_write_tokens = w;
        }
        if let Some(r) = read {
            into.cache_read_tokens = r;
        }
        let base = base.unwrap_or_else(|| {
            into.input_tokens
                .saturating_sub(into.cache_write_tokens + into.cache_read_tokens)
        });
        into.input_tokens = base + into.cache_write_tokens + into.cache_read_tokens;
    }
    if let Some(o) = u.output_tokens {
        into.output_tokens = o;
    }
}

fn block_to_part(
    provider: &str,
    block: wire::ResponseBlock,
    raw_stop: Option<&str>,
) -> Result<Option<Part>, ModelError> {
    Ok(match block.kind.as_deref().unwrap_or_default() {
        "text" => Some(Part::Text(block.text.unwrap_or_default())),
        "thinking" => Some(Part::Reasoning(Reasoning {
            text: block.thinking.unwrap_or_default(),
            signature: block.signature,
            provider: Some(provider.to_owned()),
            redacted: false,
        })),
        "redacted_thinking" => Some(Part::Reasoning(Reasoning {
            text: String::new(),
            signature: Some(block.data.unwrap_or_default()),
            provider: Some(provider.to_owned()),
            redacted: true,
        })),
        "tool_use" => {
            let id = block.id.unwrap_or_default();
            let name = block.name.unwrap_or_default();
            if name.is_empty() {
                return Err(ModelError::Transport(format!(
                    "{provider}: invalid response: tool_use `{id}` has no name"
                )));
            }
            let input = block.input.unwrap_or_else(|| Value::Object(Map::new()));
            let arguments = finish_arguments(
                provider,
                &id,
                &name,
                input.to_string(),
                raw_stop == Some("max_tokens"),
            )?;
            Some(Part::ToolCall(ToolCall {
                id,
                name,
                arguments,
            }))
        }
        _ => None,
    })
}

pub(crate) fn parse_response(
    body: &str,
    provider: &str,
    profile: &Profile,
    fallback_model: &str,
) -> Result<ChatResponse, ModelError> {
    let v: wire::MessagesResponse = read_body(provider, body)?;
    if v.kind.as_deref() == Some("error") || v.error {
        return Err(classify_inline_for(profile, provider, body));
    }
    let content = v.content.ok_or_else(|| {
        ModelError::Transport(format!(
            "{provider}: invalid response: no `content`: {}",
            truncate(body, 500)
        ))
    })?;
    let raw_stop = v.stop_reason.as_deref();
    let mut parts = Vec::new();
    for block in content {
        if let Some(p) = block_to_part(provider, block, raw_stop)? {
            parts.push(p);
        }
    }
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let mut usage = Usage::default();
    if let Some(u) = &v.usage {
        usage_of(u, &mut usage);
    }
    Ok(ChatResponse {
        message: Message::new(Role::Assistant, parts),
        finish_reason: finish_reason(raw_stop, has_calls),
        usage,
        model: v
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| fallback_model.to_owned()),
    })
}

/// One content block being streamed.
#[derive(Debug)]
enum Block {
    /// Index into the parts.
    Part(usize),
    /// A tool call: id, name, JSON so far.
    Tool {
        id: String,
        name: String,
        json: String,
    },
    /// Something this crate does not model (server tools, citations...).
    Other,
}

#[derive(Debug)]
pub(crate) struct Decoder {
    provider: String,
    profile: Profile,
    model: String,
    parts: Vec<Part>,
    blocks: HashMap<u64, Block>,
    stop: Option<String>,
    usage: Usage,
    started: bool,
}

impl Decoder {
    fn bad(&self, what: &str, data: &str) -> ModelError {
        ModelError::Transport(format!(
            "{}: invalid stream: {what}: {}",
            self.provider,
            truncate(data, 300)
        ))
    }

    fn block_start(
        &mut self,
        v: wire::StreamEvent,
        data: &str,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        let index = v
            .index
            .ok_or_else(|| self.bad("content_block_start without an index", data))?;
        let cb = v.content_block.unwrap_or_default();
        let block = match cb.kind.as_deref().unwrap_or_default() {
            "tool_use" => Block::Tool {
                id: cb.id.unwrap_or_default(),
                name: cb.name.unwrap_or_default(),
                json: String::new(),
            },
            "text" | "thinking" | "redacted_thinking" => {
                match block_to_part(&self.provider, cb, None)? {
                    Some(p) => {
                        if let Part::Text(t) = &p
                            && !t.is_empty()
                        {
                            out.push_back(StreamEvent::TextDelta(t.clone()));
                        }
                        if let Part::Reasoning(r) = &p
                            && !r.text.is_empty()
                        {
                            out.push_back(StreamEvent::ReasoningDelta(r.text.clone()));
                        }
                        self.parts.push(p);
                        Block::Part(self.parts.len() - 1)
                    }
                    None => Block::Other,
                }
            }
            _ => Block::Other,
        };
        self.blocks.insert(index, block);
        Ok(())
    }

    fn block_delta(
        &mut self,
        v: wire::StreamEvent,
        data: &str,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        let index = v
            .index
            .ok_or_else(|| self.bad("content_block_delta without an index", data))?;
        let delta = v.delta.unwrap_or_default();
        let Some(block) = self.blocks.get_mut(&index) else {
            return Err(self.bad("a delta for a block that never started", data));
        };
        match (delta.kind.as_deref().unwrap_or_default(), block) {
            ("text_delta", Block::Part(i)) => {
                let t = delta.text.unwrap_or_default();
                if let Some(Part::Text(text)) = self.parts.get_mut(*i) {
                    text.push_str(&t);
                }
                if !t.is_empty() {
                    out.push_back(StreamEvent::TextDelta(t));
                }
            }
            ("thinking_delta", Block::Part(i)) => {
                let t = delta.thinking.unwrap_or_default();
                if let Some(Part::Reasoning(r)) = self.parts.get_mut(*i) {
                    r.text.push_str(&t);
                }
                if !t.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(t));
                }
            }
            ("signature_delta", Block::Part(i)) => {
                if let Some(Part::Reasoning(r)) = self.parts.get_mut(*i) {
                    r.signature
                        .get_or_insert_with(String::new)
                        .push_str(delta.signature.as_deref().unwrap_or_default());
                }
            }
            ("input_json_delta", Block::Tool { json, .. }) => {
                json.push_str(delta.partial_json.as_deref().unwrap_or_default());
            }
            (_, _) => {}
        }
        Ok(())
    }

    fn block_stop(
        &mut self,
        v: wire::StreamEvent,
        data: &str,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        let index = v.index.unwrap_or(u64::MAX);
        if let Some(Block::Tool { id, name, json }) = self.blocks.get_mut(&index) {
            if name.is_empty() {
                return Err(self.bad("a tool_use block without a name", data));
            }
            let call = ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: finish_arguments(&self.provider, id, name, std::mem::take(json), false)?,
            };
            out.push_back(StreamEvent::ToolCall(call.clone()));
            self.parts.push(Part::ToolCall(call));
            self.blocks.insert(index, Block::Other);
        }
        Ok(())
    }
}

impl StreamDecoder for Decoder {
    type Chunk = wire::StreamEvent;

    fn provider(&self) -> &str {
        &self.provider
    }

    fn finished(&self) -> bool {
        self.stop.is_some()
    }

    fn chunk(
        &mut self,
        v: wire::StreamEvent,
        frame: &Frame<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let kind = v
            .kind
            .clone()
            .or_else(|| frame.event.map(str::to_owned))
            .unwrap_or_default();
        match kind.as_str() {
            "message_start" => {
                self.started = true;
                let m = v.message.unwrap_or_default();
                if let Some(model) = m.model {
                    self.model = model;
                }
                if let Some(u) = &m.usage {
                    usage_of(u, &mut self.usage);
                }
            }
            "content_block_start" => self.block_start(v, frame.data, out)?,
            "content_block_delta" => self.block_delta(v, frame.data, out)?,
            "content_block_stop" => self.block_stop(v, frame.data, out)?,
            "message_delta" => {
                if let Some(reason) = v.delta.and_then(|d| d.stop_reason) {
                    self.stop = Some(reason);
                }
                if let Some(u) = &v.usage {
                    usage_of(u, &mut self.usage);
                }
            }
            "message_stop" => return Ok(Flow::End),
            "error" => {
                return Err(classify_inline_for(
                    &self.profile,
                    &self.provider,
                    frame.data,
                ));
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ModelError> {
        if !self.started {
            return Err(ModelError::Transport(format!(
                "{}: invalid stream: it ended before `message_start`",
                self.provider
            )));
        }
        // A tool block that never saw `content_block_stop`.
        let mut open: Vec<(u64, String, String, String)> = self
            .blocks
            .iter_mut()
            .filter_map(|(i, b)| match b {
                Block::Tool { id, name, json } => {
                    Some((*i, id.clone(), name.clone(), std::mem::take(json)))
                }
                _ => None,
            })
            .collect();
        open.sort_by_key(|(i, ..)| *i);
        for (_, id, name, json) in open {
            let arguments = finish_arguments(
                &self.provider,
                &id,
                &name,
                json,
                self.stop.as_deref() == Some("max_tokens"),
            )?;
            let call = ToolCall {
                id,
                name,
                arguments,
            };
            out.push_back(StreamEvent::ToolCall(call.clone()));
            self.parts.push(Part::ToolCall(call));
        }
        let parts = std::mem::take(&mut self.parts);
        let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
        out.push_back(StreamEvent::Done(ChatResponse {
            message: Message::new(Role::Assistant, parts),
            finish_reason: finish_reason(self.stop.as_deref(), has_calls),
            usage: self.usage,
            model: std::mem::take(&mut self.model),
        }));
        Ok(())
    }
}

/// The Messages wire format.
pub(crate) struct AnthropicWire;

impl Wire for AnthropicWire {
    fn url(&self, core: &Core, _stream: bool) -> String {
        if core.base.ends_with("/messages") {
            core.base.clone()
        } else {
            format!("{}/messages", core.base)
        }
    }

    fn body(&self, core: &Core, plan: &Plan, stream: bool) -> Result<Value, ModelError> {
        let default_max = core
            .caps
            .max_output_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .min(DEFAULT_MAX_TOKENS);
        build_body(
            &plan.request,
            core.model(),
            &core.provider,
            default_max,
            stream,
        )
    }

    fn parse(&self, core: &Core, body: &str) -> Result<ChatResponse, ModelError> {
        parse_response(body, &core.provider, &core.profile, core.model())
    }

    type Decoder = Decoder;

    fn decoder(&self, core: &Core) -> Decoder {
        Decoder {
            provider: core.provider.clone(),
            profile: core.profile.clone(),
            model: core.model().to_owned(),
            parts: Vec::new(),
            blocks: HashMap::new(),
            stop: None,
            usage: Usage::default(),
            started: false,
        }
    }
}

provider_type!(
    /// The Anthropic Messages API; see the [module docs](self).
    Anthropic,
    AnthropicWire
);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::types::{ToolResult, ToolSpec};

    #[test]
    fn body_keeps_blocks_in_order_and_merges_roles() {
        let req = ChatRequest::new(vec![
            Message::system("Be brief."),
            Message::user("Weather?"),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Reasoning(Reasoning {
                        text: "Let me check.".into(),
                        signature: Some("sig-1".into()),
                        provider: Some("anthropic".into()),
                        redacted: false,
                    }),
                    Part::Reasoning(Reasoning {
                        text: String::new(),
                        signature: Some("opaque".into()),
                        provider: Some("anthropic".into()),
                        redacted: true,
                    }),
                    Part::Text(String::new()),
                    Part::ToolCall(ToolCall::new("toolu_1", "weather", r#"{"city":"Paris"}"#)),
                ],
            ),
            Message::tool_results([ToolResult::error("toolu_1", "down")]),
            Message::user("Try again."),
        ])
        .with_tools(vec![ToolSpec {
            name: "weather".into(),
            description: "Weather".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: None,
        }])
        .with_tool_choice(ToolChoice::Required);
        let body = build_body(&req, "claude-x", "anthropic", 1024, true).unwrap();
        assert_eq!(
            body["system"],
            json!([{"type": "text", "text": "Be brief."}])
        );
        assert_eq!(body["max_tokens"], 1024);
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        assert_eq!(
            body["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "Let me check.", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            ])
        );
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "down", "is_error": true},
                {"type": "text", "text": "Try again."},
            ]})
        );
        assert_eq!(body["messages"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn usage_counts_cache_buckets_into_input() {
        let mut u = Usage::default();
        let usage = |v: Value| serde_json::from_value::<wire::Usage>(v).unwrap();
        usage_of(
            &usage(
                json!({"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 1}),
            ),
            &mut u,
        );
        usage_of(&usage(json!({"output_tokens": 42})), &mut u);
        assert_eq!(
            u,
            Usage {
                input_tokens: 1110,
                output_tokens: 42,
                cache_read_tokens: 1000,
                cache_write_tokens: 100,
                reasoning_tokens: 0,
                charge: None,
            }
        );
    }
}
