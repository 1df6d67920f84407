//! Gemini's native API: `models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`.
//!
//! - System messages become `systemInstruction`; user text and tool results
//!   become `user` contents (`functionResponse` with the call's name, looked
//!   up from the assistant turn that made the call, and its `id`); an
//!   assistant turn becomes one `model` content whose parts keep their
//!   order.
//! - Thought signatures round-trip on the part they came with: a signature
//!   on a text or `functionCall` part is kept as a reasoning part with empty
//!   text and the signature, placed right before that part, and goes back
//!   on it; thought parts (`thought: true`) are reasoning parts with their
//!   text (and signature, if any). Gemini 3 rejects a function call without
//!   a signature, so calls made by another provider get the value Google
//!   documents for that case ([`crate::adapt::GEMINI_SKIP_SIGNATURE`]; the
//!   adaptation reports it).
//! - Call ids: Gemini's own when it sends one; otherwise `weft_call_N`,
//!   which is never sent back (the call is matched by name).
//! - Tools become `functionDeclarations` with schemas lowered to Gemini's
//!   OpenAPI 3.0 subset (by the adaptation, which reports what it dropped);
//!   `tool_choice` becomes `toolConfig.functionCallingConfig`
//!   (`AUTO`/`NONE`/`ANY`, `allowedFunctionNames`).
//! - JSON answers: `responseMimeType: application/json` and a lowered
//!   `responseSchema`.
//! - Usage: `promptTokenCount` (plus `toolUsePromptTokenCount`),
//!   `candidatesTokenCount` plus `thoughtsTokenCount` as output,
//!   `cachedContentTokenCount`, `thoughtsTokenCount` as reasoning.
//! - A blocked prompt (`promptFeedback.blockReason`) or a candidate stopped
//!   for safety with no content is [`ModelError::ContentFiltered`]; a
//!   candidate stopped for safety after some content ends with
//!   [`FinishReason::ContentFilter`].
//! - The wire format is a set of serde structs (`gemini/wire.rs`): a typed
//!   request, and responses (whole or streamed) read leniently.
//! - Errors by `error.status` and `error.details[].reason`
//!   (`RESOURCE_EXHAUSTED` with `RetryInfo.retryDelay`, `UNAVAILABLE`,
//!   `API_KEY_INVALID`, ...).

mod wire;

use std::collections::VecDeque;

use serde_json::{Value, json};
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, ResponseFormat,
    Role, StreamEvent, ToolCall, ToolChoice, Usage,
};

use crate::adapt::Plan;
use crate::catalog::Profile;
use crate::engine::{Core, Wire, provider_type};
use crate::http_error::{classify_inline_for, truncate};
use crate::openai::wire::response::has_inline_error;
use crate::streaming::{Flow, Frame, StreamDecoder};
use crate::wire_util::{
    apply_provider_options, f32_wire, invalid, is_own, parse_json_text, read_body, to_object,
};

/// The prefix of call ids this crate made up (never sent back).
const GENERATED_ID: &str = "weft_call_";

fn push_content(out: &mut Vec<wire::Content>, role: wire::Role, parts: Vec<wire::Part>) {
    if parts.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => out.push(wire::Content { role, parts }),
    }
}

/// The function name of call `id`, from the nearest assistant turn before
/// message `before`.
fn call_name<'a>(req: &'a ChatRequest, before: usize, id: &str) -> Option<&'a str> {
    req.messages[..before]
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .find_map(|m| {
            m.parts.iter().find_map(|p| match p {
                Part::ToolCall(c) if c.id == id => Some(c.name.as_str()),
                _ => None,
            })
        })
}

/// A call id Gemini gave (one this crate made up is never sent back).
fn sent_id(id: &str) -> Option<String> {
    (!id.starts_with(GENERATED_ID) && !id.is_empty()).then(|| id.to_owned())
}

fn text_part(text: &str, signature: Option<String>) -> wire::Part {
    wire::Part {
        text: Some(text.to_owned()),
        thought_signature: signature,
        ..Default::default()
    }
}

fn function_response(id: &str, name: &str, content: &str, is_error: bool) -> wire::Part {
    let parsed: Option<Value> = serde_json::from_str(content).ok();
    let response = match (is_error, parsed) {
        (true, Some(v)) => json!({"error": v}),
        (true, None) => json!({"error": content}),
        (false, Some(Value::Object(o))) => Value::Object(o),
        (false, Some(v)) => json!({"output": v}),
        (false, None) => json!({"output": content}),
    };
    wire::Part {
        function_response: Some(wire::FunctionResponse {
            id: sent_id(id),
            name: name.to_owned(),
            response,
        }),
        ..Default::default()
    }
}

fn function_call(c: &ToolCall, signature: Option<String>) -> Result<wire::Part, ModelError> {
    let args = if c.arguments.trim().is_empty() {
        json!({})
    } else {
        parse_json_text(
            &format!("the arguments of tool call `{}`", c.id),
            &c.arguments,
        )?
    };
    Ok(wire::Part {
        function_call: Some(wire::FunctionCall {
            id: sent_id(&c.id),
            name: c.name.clone(),
            args,
        }),
        thought_signature: signature,
        ..Default::default()
    })
}

/// An assistant turn's parts. A signature-only reasoning part goes back on
/// the part that follows it (or on an empty text part).
fn model_parts(
    m: &Message,
    provider: &str,
    wrong: impl Fn(&str) -> ModelError,
) -> Result<Vec<wire::Part>, ModelError> {
    let mut parts = Vec::new();
    let mut pending: Option<String> = None;
    for p in &m.parts {
        match p {
            Part::Reasoning(r) if !is_own(r, provider) || r.redacted => {}
            Part::Reasoning(r) if r.text.is_empty() => {
                if let Some(old) = pending.take() {
                    parts.push(text_part("", Some(old)));
                }
                pending = r.signature.clone();
            }
            Part::Reasoning(r) => {
                if let Some(old) = pending.take() {
                    parts.push(text_part("", Some(old)));
                }
                parts.push(wire::Part {
                    thought: Some(true),
                    ..text_part(&r.text, r.signature.clone())
                });
            }
            Part::Text(t) => {
                if t.is_empty() && pending.is_none() {
                    continue;
                }
                parts.push(text_part(t, pending.take()));
            }
            Part::ToolCall(c) => parts.push(function_call(c, pending.take())?),
            Part::ToolResult(_) => return Err(wrong("tool_result")),
        }
    }
    if let Some(sig) = pending.take() {
        parts.push(text_part("", Some(sig)));
    }
    Ok(parts)
}

fn tools(req: &ChatRequest) -> Result<Vec<wire::FunctionDeclaration>, ModelError> {
    let mut decls = Vec::new();
    for t in &req.tools {
        let mut parameters = None;
        if !t.input_schema.trim().is_empty() {
            let schema = parse_json_text(
                &format!("the input schema of tool `{}`", t.name),
                &t.input_schema,
            )?;
            // Gemini rejects an OBJECT schema with no properties: a tool
            // without parameters simply has none.
            let empty = schema
                .get("properties")
                .and_then(Value::as_object)
                .is_none_or(|p| p.is_empty());
            if !empty {
                parameters = Some(schema);
            }
        }
        decls.push(wire::FunctionDeclaration {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters,
        });
    }
    Ok(decls)
}

fn tool_config(choice: &ToolChoice) -> Option<wire::ToolConfig> {
    let (mode, allowed) = match choice {
        ToolChoice::Auto => return None,
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Named(name) => ("ANY", Some(vec![name.clone()])),
    };
    Some(wire::ToolConfig {
        function_calling_config: wire::FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    })
}

fn generation_config(req: &ChatRequest) -> Result<wire::GenerationConfig, ModelError> {
    let s = &req.sampling;
    let mut g = wire::GenerationConfig {
        temperature: s.temperature.and_then(f32_wire),
        top_p: s.top_p.and_then(f32_wire),
        presence_penalty: s.presence_penalty.and_then(f32_wire),
        frequency_penalty: s.frequency_penalty.and_then(f32_wire),
        top_k: s.top_k,
        // Gemini's seed is an int32.
        seed: s.seed.map(|seed| seed as u32 as i32),
        max_output_tokens: req.max_output_tokens,
        stop_sequences: (!req.stop.is_empty()).then(|| req.stop.clone()),
        ..Default::default()
    };
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => g.response_mime_type = Some("application/json"),
        ResponseFormat::JsonSchema(f) => {
            g.response_mime_type = Some("application/json");
            g.response_schema = Some(parse_json_text(
                &format!("the response schema `{}`", f.name),
                &f.schema,
            )?);
        }
    }
    Ok(g)
}

pub(crate) fn build_body(
    req: &ChatRequest,
    provider: &str,
    stream: bool,
) -> Result<Value, ModelError> {
    let _ = stream;
    let mut system = Vec::new();
    let mut contents: Vec<wire::Content> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let wrong = |kind: &str| {
            invalid(format!(
                "message {i}: a {:?} message cannot hold a {kind} part",
                m.role
            ))
        };
        match m.role {
            Role::System => {
                for p in &m.parts {
                    match p {
                        Part::Text(t) if !t.is_empty() => system.push(text_part(t, None)),
                        Part::Text(_) => {}
                        _ => return Err(wrong("non-text")),
                    }
                }
            }
            Role::User | Role::Tool => {
                let mut parts = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::Text(t) if m.role == Role::User => {
                            if !t.is_empty() {
                                parts.push(text_part(t, None));
                            }
                        }
                        Part::ToolResult(r) => {
                            let name = call_name(req, i, &r.call_id).ok_or_else(|| {
                                invalid(format!(
                                    "message {i}: the tool result for call `{}` answers no earlier tool call (Gemini needs the function's name)",
                                    r.call_id
                                ))
                            })?;
                            parts.push(function_response(&r.call_id, name, &r.content, r.is_error));
                        }
                        Part::Text(_) => return Err(wrong("text")),
                        Part::Reasoning(_) => return Err(wrong("reasoning")),
                        Part::ToolCall(_) => return Err(wrong("tool_call")),
                    }
                }
                push_content(&mut contents, wire::Role::User, parts);
            }
            Role::Assistant => {
                let parts = model_parts(m, provider, wrong)?;
                push_content(&mut contents, wire::Role::Model, parts);
            }
        }
    }

    let mut body = wire::GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty())
            .then_some(wire::SystemInstruction { parts: system }),
        tools: None,
        tool_config: None,
        generation_config: None,
    };
    if !req.tools.is_empty() {
        body.tools = Some(vec![wire::Tool {
            function_declarations: tools(req)?,
        }]);
        body.tool_config = tool_config(&req.tool_choice);
    }
    let generation = generation_config(req)?;
    if generation != wire::GenerationConfig::default() {
        body.generation_config = Some(generation);
    }
    let mut body = to_object(&body)?;
    apply_provider_options(&mut body, req, provider)?;
    Ok(Value::Object(body))
}

const SAFETY: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

fn finish_reason(raw: Option<&str>, has_calls: bool) -> FinishReason {
    match raw {
        Some(r) if SAFETY.contains(&r) => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        None | Some("STOP") | Some("FINISH_REASON_UNSPECIFIED") => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(_) => FinishReason::Other,
    }
}

fn usage_of(u: &wire::UsageMetadata) -> Usage {
    let n = |v: Option<u64>| v.unwrap_or(0);
    Usage {
        input_tokens: n(u.prompt_token_count) + n(u.tool_use_prompt_token_count),
        output_tokens: n(u.candidates_token_count) + n(u.thoughts_token_count),
        cache_read_tokens: n(u.cached_content_token_count),
        cache_write_tokens: 0,
        reasoning_tokens: n(u.thoughts_token_count),
        charge: None,
    }
}

/// Accumulates candidate parts, from one response or many stream chunks.
#[derive(Debug)]
pub(crate) struct Assembler {
    provider: String,
    profile: Profile,
    model: String,
    parts: Vec<Part>,
    calls: usize,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl Assembler {
    fn new(provider: &str, profile: &Profile, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            profile: profile.clone(),
            model: model.to_owned(),
            parts: Vec::new(),
            calls: 0,
            finish: None,
            usage: None,
        }
    }

    fn signature(&mut self, sig: Option<String>) {
        if let Some(sig) = sig {
            self.parts.push(Part::Reasoning(Reasoning {
                text: String::new(),
                signature: Some(sig),
                provider: Some(self.provider.clone()),
                redacted: false,
            }));
        }
    }

    fn thought(&mut self, text: String, sig: Option<String>, out: &mut VecDeque<StreamEvent>) {
        match self.parts.last_mut() {
            Some(Part::Reasoning(r)) if r.signature.is_none() && !r.text.is_empty() => {
                r.text.push_str(&text);
                r.signature = sig;
            }
            _ => self.parts.push(Part::Reasoning(Reasoning {
                text: text.clone(),
                signature: sig,
                provider: Some(self.provider.clone()),
                redacted: false,
            })),
        }
        if !text.is_empty() {
            out.push_back(StreamEvent::ReasoningDelta(text));
        }
    }

    fn function_call(
        &mut self,
        fc: wire::FunctionCallReceived,
        sig: Option<String>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        let name = fc.name.unwrap_or_default();
        if name.is_empty() {
            return Err(ModelError::Transport(format!(
                "{}: invalid response: a functionCall has no name",
                self.provider
            )));
        }
        let id = fc
            .id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{GENERATED_ID}{}", self.calls));
        self.calls += 1;
        let args = match fc.args {
            Some(a @ Value::Object(_)) => a.to_string(),
            None | Some(Value::Null) => "{}".into(),
            Some(other) => {
                return Err(ModelError::Transport(format!(
                    "{}: invalid response: the arguments of `{name}` are not an object: {}",
                    self.provider,
                    truncate(&other.to_string(), 200)
                )));
            }
        };
        self.signature(sig);
        let call = ToolCall::new(id, name, args);
        out.push_back(StreamEvent::ToolCall(call.clone()));
        self.parts.push(Part::ToolCall(call));
        Ok(())
    }

    fn text(&mut self, text: String, sig: Option<String>, out: &mut VecDeque<StreamEvent>) {
        self.signature(sig);
        if !text.is_empty() {
            match self.parts.last_mut() {
                Some(Part::Text(t)) => t.push_str(&text),
                _ => self.parts.push(Part::Text(text.clone())),
            }
            out.push_back(StreamEvent::TextDelta(text));
        }
    }

    /// Reads one `GenerateContentResponse` (a whole answer or a chunk).
    fn absorb(
        &mut self,
        v: wire::GenerateContentResponse,
        raw: &str,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        if has_inline_error(v.error, v.base_resp.as_ref()) {
            return Err(classify_inline_for(&self.profile, &self.provider, raw));
        }
        if let Some(m) = v.model_version {
            self.model = m;
        }
        if let Some(u) = &v.usage_metadata {
            self.usage = Some(usage_of(u));
        }
        let candidate = v.candidates.and_then(|c| c.into_iter().next());
        if let Some(reason) = v.prompt_feedback.and_then(|f| f.block_reason)
            && candidate.is_none()
        {
            return Err(ModelError::ContentFiltered(format!(
                "{}: the prompt was blocked ({reason})",
                self.provider
            )));
        }
        let Some(candidate) = candidate else {
            return Ok(());
        };
        let parts = candidate.content.and_then(|c| c.parts).unwrap_or_default();
        for p in parts {
            let sig = p.thought_signature;
            if p.thought == Some(true) {
                self.thought(p.text.unwrap_or_default(), sig, out);
            } else if let Some(fc) = p.function_call {
                self.function_call(fc, sig, out)?;
            } else if let Some(text) = p.text {
                self.text(text, sig, out);
            } else {
                // Parts this crate does not model (inline data, code
                // execution): their signature still goes back.
                self.signature(sig);
            }
        }
        if let Some(reason) = candidate.finish_reason {
            let has_content = self
                .parts
                .iter()
                .any(|p| matches!(p, Part::Text(_) | Part::ToolCall(_)));
            let blocked = SAFETY.contains(&reason.as_str()) && !has_content;
            let finish = self.finish.insert(reason);
            if blocked {
                return Err(ModelError::ContentFiltered(format!(
                    "{}: the answer was blocked ({finish})",
                    self.provider
                )));
            }
        }
        Ok(())
    }

    fn response(&mut self) -> ChatResponse {
        let parts = std::mem::take(&mut self.parts);
        let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
        ChatResponse {
            message: Message::new(Role::Assistant, parts),
            finish_reason: finish_reason(self.finish.as_deref(), has_calls),
            usage: self.usage.unwrap_or_default(),
            model: std::mem::take(&mut self.model),
        }
    }
}

pub(crate) fn parse_response(
    body: &str,
    provider: &str,
    profile: &Profile,
    fallback_model: &str,
) -> Result<ChatResponse, ModelError> {
    let v: wire::GenerateContentResponse = read_body(provider, body)?;
    let has_candidate = v.candidates.as_ref().is_some_and(|c| !c.is_empty());
    let mut a = Assembler::new(provider, profile, fallback_model);
    a.absorb(v, body, &mut VecDeque::new())?;
    if !has_candidate {
        return Err(ModelError::Transport(format!(
            "{provider}: invalid response: no `candidates`: {}",
            truncate(body, 500)
        )));
    }
    Ok(a.response())
}

impl StreamDecoder for Assembler {
    type Chunk = wire::GenerateContentResponse;

    fn provider(&self) -> &str {
        &self.provider
    }

    fn finished(&self) -> bool {
        self.finish.is_some()
    }

    fn chunk(
        &mut self,
        v: wire::GenerateContentResponse,
        frame: &Frame<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        self.absorb(v, frame.data, out)?;
        Ok(Flow::Continue)
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ModelError> {
        out.push_back(StreamEvent::Done(self.response()));
        Ok(())
    }
}

/// The `generateContent` wire format.
pub(crate) struct GeminiWire;

impl Wire for GeminiWire {
    fn url(&self, core: &Core, stream: bool) -> String {
        let model = core.model().trim_start_matches("models/");
        if stream {
            format!("{}/models/{model}:streamGenerateContent?alt=sse", core.base)
        } else {
            format!("{}/models/{model}:generateContent", core.base)
        }
    }

    fn body(&self, core: &Core, plan: &Plan, stream: bool) -> Result<Value, ModelError> {
        build_body(&plan.request, &core.provider, stream)
    }

    fn parse(&self, core: &Core, body: &str) -> Result<ChatResponse, ModelError> {
        parse_response(body, &core.provider, &core.profile, core.model())
    }

    type Decoder = Assembler;

    fn decoder(&self, core: &Core) -> Assembler {
        Assembler::new(&core.provider, &core.profile, core.model())
    }
}

provider_type!(
    /// Gemini's native `generateContent` API; see the [module docs](self).
    Gemini,
    GeminiWire
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;
    use weft_model::types::ToolResult;

    #[test]
    fn signatures_roundtrip_on_their_parts() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Thinking about it", "thought": true},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG_A"},
                {"functionCall": {"name": "time", "args": {}}},
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "cachedContentTokenCount": 4},
            "modelVersion": "gemini-3.1-pro",
        })
        .to_string();
        let profile = catalog().profile("gemini").unwrap().clone();
        let r = parse_response(&body, "gemini", &profile, "m").unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage.output_tokens, 12);
        assert_eq!(r.usage.reasoning_tokens, 7);
        assert_eq!(r.usage.cache_read_tokens, 4);
        let calls = r.tool_calls();
        assert_eq!(calls[0].id, "weft_call_0");
        assert_eq!(calls[1].id, "weft_call_1");
        let req = ChatRequest::new(vec![
            Message::user("q"),
            r.message.clone(),
            Message::tool_results([
                ToolResult::ok("weft_call_0", r#"{"temp":21}"#),
                ToolResult::ok("weft_call_1", "\"12:00\""),
            ]),
        ]);
        let out = build_body(&req, "gemini", false).unwrap();
        assert_eq!(
            out["contents"][1]["parts"],
            json!([
                {"text": "Thinking about it", "thought": true},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG_A"},
                {"functionCall": {"name": "time", "args": {}}},
            ])
        );
        assert_eq!(
            out["contents"][2]["parts"],
            json!([
                {"functionResponse": {"name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "time", "response": {"output": "12:00"}}},
            ])
        );
    }

    #[test]
    fn safety_blocks_are_content_filtered() {
        let profile = catalog().profile("gemini").unwrap().clone();
        let err = parse_response(
            r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#,
            "gemini",
            &profile,
            "m",
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::ContentFiltered(_)), "{err:?}");
        let err = parse_response(
            r#"{"candidates":[{"finishReason":"SAFETY","safetyRatings":[]}]}"#,
            "gemini",
            &profile,
            "m",
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::ContentFiltered(_)), "{err:?}");
    }
}
