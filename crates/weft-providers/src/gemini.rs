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
//! - Errors by `error.status` and `error.details[].reason`
//!   (`RESOURCE_EXHAUSTED` with `RetryInfo.retryDelay`, `UNAVAILABLE`,
//!   `API_KEY_INVALID`, ...).

use std::collections::VecDeque;

use serde_json::{Map, Value, json};
use weft_model::sse::SseEvent;
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, ResponseFormat,
    Role, StreamEvent, ToolCall, ToolChoice, Usage,
};

use crate::adapt::Plan;
use crate::catalog::Profile;
use crate::engine::{Core, Wire, provider_type};
use crate::http_error::{body_has_error, classify_inline_for, truncate};
use crate::streaming::{Flow, StreamDecoder};
use crate::wire_util::{apply_provider_options, f32_json, parse_json_text};

/// The prefix of call ids this crate made up (never sent back).
const GENERATED_ID: &str = "weft_call_";

fn invalid(msg: String) -> ModelError {
    ModelError::Unsupported(msg)
}

fn is_own(r: &Reasoning, provider: &str) -> bool {
    r.provider
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(provider))
}

fn push_content(out: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(last) if last["role"] == role => {
            if let Some(existing) = last.get_mut("parts").and_then(Value::as_array_mut) {
                existing.extend(parts);
            }
        }
        _ => out.push(json!({"role": role, "parts": parts})),
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

fn function_response(id: &str, name: &str, content: &str, is_error: bool) -> Value {
    let parsed: Option<Value> = serde_json::from_str(content).ok();
    let response = match (is_error, parsed) {
        (true, Some(v)) => json!({"error": v}),
        (true, None) => json!({"error": content}),
        (false, Some(Value::Object(o))) => Value::Object(o),
        (false, Some(v)) => json!({"output": v}),
        (false, None) => json!({"output": content}),
    };
    let mut fr = json!({"name": name, "response": response});
    if !id.starts_with(GENERATED_ID) && !id.is_empty() {
        fr["id"] = id.into();
    }
    json!({"functionResponse": fr})
}

fn with_signature(mut part: Value, signature: Option<String>) -> Value {
    if let Some(sig) = signature {
        part["thoughtSignature"] = sig.into();
    }
    part
}

pub(crate) fn build_body(
    req: &ChatRequest,
    provider: &str,
    stream: bool,
) -> Result<Value, ModelError> {
    let _ = stream;
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
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
                        Part::Text(t) if !t.is_empty() => system.push(json!({"text": t})),
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
                                parts.push(json!({"text": t}));
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
                push_content(&mut contents, "user", parts);
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                let mut pending: Option<String> = None;
                for p in &m.parts {
                    match p {
                        Part::Reasoning(r) if !is_own(r, provider) || r.redacted => {}
                        Part::Reasoning(r) if r.text.is_empty() => {
                            if let Some(old) = pending.take() {
                                parts.push(with_signature(json!({"text": ""}), Some(old)));
                            }
                            pending = r.signature.clone();
                        }
                        Part::Reasoning(r) => {
                            if let Some(old) = pending.take() {
                                parts.push(with_signature(json!({"text": ""}), Some(old)));
                            }
                            parts.push(with_signature(
                                json!({"text": r.text, "thought": true}),
                                r.signature.clone(),
                            ));
                        }
                        Part::Text(t) => {
                            if t.is_empty() && pending.is_none() {
                                continue;
                            }
                            parts.push(with_signature(json!({"text": t}), pending.take()));
                        }
                        Part::ToolCall(c) => {
                            let args = if c.arguments.trim().is_empty() {
                                json!({})
                            } else {
                                parse_json_text(
                                    &format!("the arguments of tool call `{}`", c.id),
                                    &c.arguments,
                                )?
                            };
                            let mut fc = json!({"name": c.name, "args": args});
                            if !c.id.starts_with(GENERATED_ID) && !c.id.is_empty() {
                                fc["id"] = c.id.clone().into();
                            }
                            parts.push(with_signature(json!({"functionCall": fc}), pending.take()));
                        }
                        Part::ToolResult(_) => return Err(wrong("tool_result")),
                    }
                }
                if let Some(sig) = pending.take() {
                    parts.push(with_signature(json!({"text": ""}), Some(sig)));
                }
                push_content(&mut contents, "model", parts);
            }
        }
    }

    let mut body = Map::new();
    body.insert("contents".into(), contents.into());
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !req.tools.is_empty() {
        let mut decls = Vec::new();
        for t in &req.tools {
            let mut decl = json!({"name": t.name, "description": t.description});
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
                    decl["parameters"] = schema;
                }
            }
            decls.push(decl);
        }
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        let config = match &req.tool_choice {
            ToolChoice::Auto => None,
            ToolChoice::None => Some(json!({"mode": "NONE"})),
            ToolChoice::Required => Some(json!({"mode": "ANY"})),
            ToolChoice::Named(name) => Some(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
        };
        if let Some(c) = config {
            body.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
        }
    }
    let mut generation = Map::new();
    let s = &req.sampling;
    for (key, value) in [
        ("temperature", s.temperature),
        ("topP", s.top_p),
        ("presencePenalty", s.presence_penalty),
        ("frequencyPenalty", s.frequency_penalty),
    ] {
        if let Some(v) = value.and_then(f32_json) {
            generation.insert(key.into(), v);
        }
    }
    if let Some(k) = s.top_k {
        generation.insert("topK".into(), k.into());
    }
    if let Some(seed) = s.seed {
        // Gemini's seed is an int32.
        generation.insert("seed".into(), (seed as u32 as i32).into());
    }
    if let Some(max) = req.max_output_tokens {
        generation.insert("maxOutputTokens".into(), max.into());
    }
    if !req.stop.is_empty() {
        generation.insert("stopSequences".into(), req.stop.clone().into());
    }
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            generation.insert("responseMimeType".into(), "application/json".into());
        }
        ResponseFormat::JsonSchema(f) => {
            generation.insert("responseMimeType".into(), "application/json".into());
            let schema = parse_json_text(&format!("the response schema `{}`", f.name), &f.schema)?;
            generation.insert("responseSchema".into(), schema);
        }
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
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

fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("promptTokenCount") + n("toolUsePromptTokenCount"),
        output_tokens: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cache_read_tokens: n("cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: n("thoughtsTokenCount"),
    }
}

/// Accumulates candidate parts, from one response or many stream chunks.
#[derive(Debug)]
struct Assembler {
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

    fn signature(&mut self, sig: Option<&str>) {
        if let Some(sig) = sig {
            self.parts.push(Part::Reasoning(Reasoning {
                text: String::new(),
                signature: Some(sig.to_owned()),
                provider: Some(self.provider.clone()),
                redacted: false,
            }));
        }
    }

    /// Reads one `GenerateContentResponse` (a whole answer or a chunk).
    fn absorb(
        &mut self,
        v: &Value,
        raw: &str,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ModelError> {
        if body_has_error(v) {
            return Err(classify_inline_for(&self.profile, &self.provider, raw));
        }
        if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
            m.clone_into(&mut self.model);
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(usage_of(u));
        }
        let candidate = v.get("candidates").and_then(|c| c.get(0));
        if let Some(reason) = v
            .get("promptFeedback")
            .and_then(|f| f.get("blockReason"))
            .and_then(Value::as_str)
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
        let empty = Vec::new();
        let parts = candidate
            .get("content")
            .and_then(|c| c.get("parts"))
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for p in parts {
            let sig = p.get("thoughtSignature").and_then(Value::as_str);
            let text = p.get("text").and_then(Value::as_str);
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                let text = text.unwrap_or_default();
                match self.parts.last_mut() {
                    Some(Part::Reasoning(r)) if r.signature.is_none() && !r.text.is_empty() => {
                        r.text.push_str(text);
                        r.signature = sig.map(str::to_owned);
                    }
                    _ => self.parts.push(Part::Reasoning(Reasoning {
                        text: text.to_owned(),
                        signature: sig.map(str::to_owned),
                        provider: Some(self.provider.clone()),
                        redacted: false,
                    })),
                }
                if !text.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(text.to_owned()));
                }
            } else if let Some(fc) = p.get("functionCall") {
                let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() {
                    return Err(ModelError::Transport(format!(
                        "{}: invalid response: a functionCall has no name",
                        self.provider
                    )));
                }
                let id = fc
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{GENERATED_ID}{}", self.calls));
                self.calls += 1;
                let args = match fc.get("args") {
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
            } else if let Some(text) = text {
                self.signature(sig);
                if !text.is_empty() {
                    match self.parts.last_mut() {
                        Some(Part::Text(t)) => t.push_str(text),
                        _ => self.parts.push(Part::Text(text.to_owned())),
                    }
                    out.push_back(StreamEvent::TextDelta(text.to_owned()));
                }
            } else {
                // Parts this crate does not model (inline data, code
                // execution): their signature still goes back.
                self.signature(sig);
            }
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            self.finish = Some(reason.to_owned());
            let has_content = self
                .parts
                .iter()
                .any(|p| matches!(p, Part::Text(_) | Part::ToolCall(_)));
            if SAFETY.contains(&reason) && !has_content {
                return Err(ModelError::ContentFiltered(format!(
                    "{}: the answer was blocked ({reason})",
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
    let v: Value = serde_json::from_str(body).map_err(|e| {
        ModelError::Transport(format!(
            "{provider}: invalid response: not JSON ({e}): {}",
            truncate(body, 500)
        ))
    })?;
    let mut a = Assembler::new(provider, profile, fallback_model);
    a.absorb(&v, body, &mut VecDeque::new())?;
    if v.get("candidates").and_then(|c| c.get(0)).is_none() {
        return Err(ModelError::Transport(format!(
            "{provider}: invalid response: no `candidates`: {}",
            truncate(body, 500)
        )));
    }
    Ok(a.response())
}

impl StreamDecoder for Assembler {
    fn provider(&self) -> &str {
        &self.provider
    }

    fn finished(&self) -> bool {
        self.finish.is_some()
    }

    fn handle(
        &mut self,
        event: &SseEvent,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            ModelError::Transport(format!(
                "{}: invalid stream chunk ({e}): {}",
                self.provider,
                truncate(data, 500)
            ))
        })?;
        self.absorb(&v, data, out)?;
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

    fn decoder(&self, core: &Core) -> Box<dyn StreamDecoder> {
        Box::new(Assembler::new(&core.provider, &core.profile, core.model()))
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
