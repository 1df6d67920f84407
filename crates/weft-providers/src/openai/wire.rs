//! Chat Completions wire format: building request bodies and reading
//! (unstreamed) responses, under a provider profile.

use serde_json::{Map, Value, json};
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, ResponseFormat,
    Role, ToolCall, ToolChoice, Usage,
};

use super::think::{Piece, ThinkSplitter};
use crate::catalog::{ModelCaps, Profile, ReasoningReplay, UsageFields};
use crate::http_error::{body_has_error, classify_inline_for, truncate};
use crate::wire_util::{
    apply_provider_options, f32_json, finish_arguments, first_u64, parse_json_text,
};

/// What the body builder needs to know about the backend.
pub(crate) struct Target<'a> {
    /// The model name sent as `model`.
    pub model: &'a str,
    /// The provider name: selects provider options and own reasoning.
    pub provider: &'a str,
    /// Wire quirks.
    pub profile: &'a Profile,
    /// What the model accepts.
    pub caps: &'a ModelCaps,
}

fn invalid(msg: String) -> ModelError {
    ModelError::Unsupported(msg)
}

fn part_kind(part: &Part) -> &'static str {
    match part {
        Part::Text(_) => "text",
        Part::Reasoning(_) => "reasoning",
        Part::ToolCall(_) => "tool_call",
        Part::ToolResult(_) => "tool_result",
    }
}

fn tool_message(call_id: &str, content: &str, is_error: bool) -> Value {
    let content = if is_error {
        format!("Error: {content}")
    } else {
        content.to_owned()
    };
    json!({"role": "tool", "tool_call_id": call_id, "content": content})
}

fn is_own(r: &Reasoning, provider: &str) -> bool {
    r.provider
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(provider))
}

fn push_message(
    out: &mut Vec<Value>,
    index: usize,
    m: &Message,
    target: &Target<'_>,
) -> Result<(), ModelError> {
    let wrong = |p: &Part, role: &str| {
        invalid(format!(
            "message {index}: a {role} message cannot hold a {} part",
            part_kind(p)
        ))
    };
    match m.role {
        Role::System | Role::User => {
            let role = if m.role == Role::System {
                "system"
            } else {
                "user"
            };
            let mut text = String::new();
            let mut results = 0;
            for p in &m.parts {
                match p {
                    Part::Text(t) => text.push_str(t),
                    // Tool results inside a user message (Anthropic style)
                    // become tool messages, which must come first.
                    Part::ToolResult(r) if m.role == Role::User => {
                        out.push(tool_message(&r.call_id, &r.content, r.is_error));
                        results += 1;
                    }
                    other => return Err(wrong(other, role)),
                }
            }
            if !text.is_empty() || results == 0 {
                out.push(json!({"role": role, "content": text}));
            }
        }
        Role::Tool => {
            for p in &m.parts {
                match p {
                    Part::ToolResult(r) => {
                        out.push(tool_message(&r.call_id, &r.content, r.is_error))
                    }
                    other => return Err(wrong(other, "tool")),
                }
            }
        }
        Role::Assistant => {
            let replay = target.caps.reasoning_replay;
            let mut content = String::new();
            let mut reasoning: Option<String> = None;
            let mut details = Vec::new();
            let mut calls = Vec::new();
            for p in &m.parts {
                match p {
                    Part::Text(t) => content.push_str(t),
                    // Only this provider's own reasoning is replayed, under
                    // the model's rule (foreign reasoning was handled by
                    // the adaptation).
                    Part::Reasoning(r) if !is_own(r, target.provider) || r.redacted => {}
                    Part::Reasoning(r) => match replay {
                        ReasoningReplay::ReasoningContent => {
                            reasoning.get_or_insert_with(String::new).push_str(&r.text)
                        }
                        ReasoningReplay::ThinkTags => match &r.signature {
                            // Split-out reasoning (`reasoning_details`): its
                            // metadata travels in `signature`.
                            Some(meta) => {
                                let mut d = match serde_json::from_str::<Value>(meta) {
                                    Ok(Value::Object(o)) => o,
                                    _ => Map::new(),
                                };
                                d.insert("text".into(), r.text.clone().into());
                                details.push(Value::Object(d));
                            }
                            None => {
                                content.push_str("<think>");
                                content.push_str(&r.text);
                                content.push_str("</think>");
                            }
                        },
                        _ => {}
                    },
                    Part::ToolCall(c) => calls.push(json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    })),
                    other => return Err(wrong(other, "assistant")),
                }
            }
            let mut msg = Map::new();
            msg.insert("role".into(), "assistant".into());
            let content = if content.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                Value::String(content)
            };
            msg.insert("content".into(), content);
            if let Some(r) = reasoning {
                msg.insert("reasoning_content".into(), r.into());
            }
            if !details.is_empty() {
                msg.insert("reasoning_details".into(), details.into());
            }
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), calls.into());
            }
            out.push(Value::Object(msg));
        }
    }
    Ok(())
}

/// The Chat Completions request body for an adapted request.
pub(crate) fn build_body(
    req: &ChatRequest,
    target: &Target<'_>,
    stream: bool,
) -> Result<Value, ModelError> {
    let mut body = Map::new();
    body.insert("model".into(), target.model.into());

    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        push_message(&mut messages, i, m, target)?;
    }
    body.insert("messages".into(), messages.into());

    if !req.tools.is_empty() {
        let mut tools = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            let parameters = if t.input_schema.trim().is_empty() {
                json!({"type": "object", "properties": {}})
            } else {
                parse_json_text(
                    &format!("the input schema of tool `{}`", t.name),
                    &t.input_schema,
                )?
            };
            tools.push(json!({
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": parameters},
            }));
        }
        body.insert("tools".into(), tools.into());
        if target.profile.parallel_tool_calls_param && target.caps.parallel_tools {
            body.insert("parallel_tool_calls".into(), true.into());
        }
        if stream && target.profile.tool_stream {
            body.insert("tool_stream".into(), true.into());
        }
    }
    match &req.tool_choice {
        ToolChoice::Auto => {}
        ToolChoice::None if req.tools.is_empty() => {}
        ToolChoice::None => {
            body.insert("tool_choice".into(), "none".into());
        }
        ToolChoice::Required if req.tools.is_empty() => {
            return Err(invalid(
                "tool_choice `required` needs at least one tool".into(),
            ));
        }
        ToolChoice::Required => {
            body.insert("tool_choice".into(), "required".into());
        }
        ToolChoice::Named(name) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(invalid(format!(
                    "tool_choice names tool `{name}`, which is not among the request's tools"
                )));
            }
            body.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
    }
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        ResponseFormat::JsonSchema(f) => {
            let schema = parse_json_text(&format!("the response schema `{}`", f.name), &f.schema)?;
            body.insert(
                "response_format".into(),
                json!({
                    "type": "json_schema",
                    "json_schema": {"name": f.name, "schema": schema, "strict": f.strict},
                }),
            );
        }
    }

    let s = &req.sampling;
    for (key, value) in [
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("frequency_penalty", s.frequency_penalty),
        ("presence_penalty", s.presence_penalty),
    ] {
        if let Some(v) = value.and_then(f32_json) {
            body.insert(key.into(), v);
        }
    }
    if let Some(k) = s.top_k {
        body.insert("top_k".into(), k.into());
    }
    if let Some(seed) = s.seed {
        body.insert("seed".into(), seed.into());
    }
    if let Some(max) = req.max_output_tokens {
        body.insert(target.profile.max_tokens_field.clone(), max.into());
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), req.stop.clone().into());
    }
    if stream {
        body.insert("stream".into(), true.into());
        if target.profile.stream_usage {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    apply_provider_options(&mut body, req, target.provider)?;
    Ok(Value::Object(body))
}

/// Maps a wire `finish_reason`. A plain `stop` (or none) with tool calls
/// becomes [`FinishReason::ToolCalls`]: Ollama and others report `stop`.
pub(crate) fn finish_reason(raw: Option<&str>, has_calls: bool) -> FinishReason {
    match raw {
        None | Some("stop") | Some("eos") | Some("end_turn") if has_calls => {
            FinishReason::ToolCalls
        }
        None | Some("stop") | Some("eos") | Some("end_turn") => FinishReason::Stop,
        Some("length") | Some("max_tokens") => FinishReason::Length,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        Some("content_filter") | Some("sensitive") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}

/// Reads a wire `usage` object through the profile's field names (absent
/// fields count as zero).
pub(crate) fn parse_usage(u: &Value, fields: &UsageFields) -> Usage {
    Usage {
        input_tokens: first_u64(u, &fields.input).unwrap_or(0),
        output_tokens: first_u64(u, &fields.output).unwrap_or(0),
        cache_read_tokens: first_u64(u, &fields.cache_read).unwrap_or(0),
        cache_write_tokens: first_u64(u, &fields.cache_write).unwrap_or(0),
        reasoning_tokens: first_u64(u, &fields.reasoning).unwrap_or(0),
    }
}

/// Text of a `content` or reasoning field: a string, or an array of
/// `{"type": "text", "text": ...}` parts.
pub(crate) fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str).or_else(|| i.as_str()))
            .collect(),
        _ => String::new(),
    }
}

/// The reasoning text of a message or delta (`reasoning_content`, or
/// `reasoning` as vLLM, Ollama and OpenRouter name it).
pub(crate) fn reasoning_of(v: &Value) -> String {
    let r = text_of(v.get("reasoning_content"));
    if r.is_empty() {
        text_of(v.get("reasoning"))
    } else {
        r
    }
}

/// The metadata of a `reasoning_details` element (everything but `text`),
/// as JSON text.
pub(crate) fn detail_meta(d: &Value) -> String {
    match d {
        Value::Object(o) => {
            let mut m = o.clone();
            m.remove("text");
            Value::Object(m).to_string()
        }
        _ => "{}".into(),
    }
}

/// Tool-call arguments on the wire: a string, or (some servers) an object.
pub(crate) fn arguments_of(function: Option<&Value>) -> String {
    match function.and_then(|f| f.get("arguments")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A reasoning part produced by `provider`.
pub(crate) fn reasoning_part(provider: &str, text: String) -> Part {
    Part::Reasoning(Reasoning {
        text,
        signature: None,
        provider: Some(provider.to_owned()),
        redacted: false,
    })
}

/// Appends `content` to `parts`, splitting `<think>` blocks out into
/// reasoning parts when the profile says reasoning arrives that way.
fn push_content(parts: &mut Vec<Part>, content: String, think_tags: bool, provider: &str) {
    if content.is_empty() {
        return;
    }
    if !think_tags {
        parts.push(Part::Text(content));
        return;
    }
    let mut splitter = ThinkSplitter::default();
    let mut pieces = splitter.feed(&content);
    pieces.extend(splitter.flush());
    for piece in pieces {
        match piece {
            Piece::Open => parts.push(reasoning_part(provider, String::new())),
            Piece::Close => {}
            Piece::Text {
                reasoning: true,
                text,
            } => match parts.last_mut() {
                Some(Part::Reasoning(r)) => r.text.push_str(&text),
                _ => parts.push(reasoning_part(provider, text)),
            },
            Piece::Text {
                reasoning: false,
                text,
            } => match parts.last_mut() {
                Some(Part::Text(t)) => t.push_str(&text),
                _ => parts.push(Part::Text(text)),
            },
        }
    }
}

/// Reads an unstreamed Chat Completions response.
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
    if body_has_error(&v) {
        return Err(classify_inline_for(profile, provider, body));
    }
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| {
        ModelError::Transport(format!(
            "{provider}: invalid response: no `choices`: {}",
            truncate(body, 500)
        ))
    })?;
    let empty = Value::Null;
    let message = choice.get("message").unwrap_or(&empty);
    let raw_finish = choice.get("finish_reason").and_then(Value::as_str);

    let mut parts = Vec::new();
    let reasoning = reasoning_of(message);
    if !reasoning.is_empty() {
        parts.push(reasoning_part(provider, reasoning));
    }
    if let Some(details) = message.get("reasoning_details").and_then(Value::as_array) {
        for d in details {
            let text = d.get("text").and_then(Value::as_str).unwrap_or_default();
            parts.push(Part::Reasoning(Reasoning {
                text: text.to_owned(),
                signature: Some(detail_meta(d)),
                provider: Some(provider.to_owned()),
                redacted: false,
            }));
        }
    }
    push_content(
        &mut parts,
        text_of(message.get("content")),
        profile.think_tags,
        provider,
    );
    let mut has_calls = false;
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            let function = c.get("function");
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("call_{i}"));
            let name = function
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if name.is_empty() {
                return Err(ModelError::Transport(format!(
                    "{provider}: invalid response: tool call {i} (id `{id}`) has no name"
                )));
            }
            let arguments = finish_arguments(
                provider,
                &id,
                &name,
                arguments_of(function),
                raw_finish == Some("length"),
            )?;
            parts.push(Part::ToolCall(ToolCall {
                id,
                name,
                arguments,
            }));
            has_calls = true;
        }
    }
    Ok(ChatResponse {
        message: Message::new(Role::Assistant, parts),
        finish_reason: finish_reason(raw_finish, has_calls),
        usage: v
            .get("usage")
            .filter(|u| u.is_object())
            .map(|u| parse_usage(u, &profile.usage))
            .unwrap_or_default(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(fallback_model)
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;
    use weft_model::types::{JsonSchemaFormat, ProviderOption, ToolResult, ToolSpec};

    fn with_target<T>(provider: &str, f: impl FnOnce(&Target<'_>) -> T) -> T {
        let profile = catalog().profile_or_generic(provider).clone();
        let caps = catalog().lookup(provider, "m");
        f(&Target {
            model: "m",
            provider,
            profile: &profile,
            caps: &caps,
        })
    }

    #[test]
    fn body_maps_everything() {
        let mut req = ChatRequest::new(vec![
            Message::system("sys"),
            Message::user("hi"),
            Message::new(
                Role::Assistant,
                vec![
                    reasoning_part("deepseek", "mine".into()),
                    Part::Reasoning(Reasoning {
                        text: "foreign".into(),
                        provider: Some("anthropic".into()),
                        ..Default::default()
                    }),
                    Part::ToolCall(ToolCall::new("c1", "search", r#"{"q":"x"}"#)),
                ],
            ),
            Message::tool_results([ToolResult::ok("c1", "[]"), ToolResult::error("c2", "boom")]),
        ])
        .with_tools(vec![ToolSpec {
            name: "search".into(),
            description: "Search".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: None,
        }])
        .with_tool_choice(ToolChoice::Named("search".into()))
        .with_response_format(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "out".into(),
            schema: r#"{"type":"object"}"#.into(),
            strict: true,
        }))
        .with_max_output_tokens(100);
        req.sampling.temperature = Some(0.7);
        req.sampling.seed = Some(u64::MAX);
        req.stop = vec!["END".into()];
        req.provider_options = vec![
            ProviderOption {
                provider: "deepseek".into(),
                json: r#"{"thinking":{"type":"enabled"},"stream_options":{"x":1}}"#.into(),
            },
            ProviderOption {
                provider: "*".into(),
                json: r#"{"thinking":{"budget":5},"max_tokens":null}"#.into(),
            },
            ProviderOption {
                provider: "other".into(),
                json: r#"{"nope":1}"#.into(),
            },
        ];
        let body = with_target("deepseek", |t| build_body(&req, t, true)).unwrap();
        let expected = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "reasoning_content": "mine",
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"q\":\"x\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "[]"},
                {"role": "tool", "tool_call_id": "c2", "content": "Error: boom"},
            ],
            "tools": [{"type": "function", "function": {"name": "search", "description": "Search", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "search"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}},
            "temperature": 0.7,
            "seed": u64::MAX,
            "stop": ["END"],
            "stream": true,
            "stream_options": {"include_usage": true, "x": 1},
            "thinking": {"type": "enabled", "budget": 5},
        });
        assert_eq!(body, expected);
        // `max_tokens` was removed by the `*` option; OpenAI names it
        // differently.
        let body = with_target("openai", |t| {
            build_body(
                &ChatRequest::new(vec![]).with_max_output_tokens(9),
                t,
                false,
            )
        })
        .unwrap();
        assert_eq!(body["max_completion_tokens"], 9);
    }

    #[test]
    fn minimax_think_tags_roundtrip_exactly() {
        let content = "<think>\nLet me see.\n</think>\n\nThe answer.";
        let body = json!({"model": "MiniMax-M3", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": content}}]})
        .to_string();
        let profile = catalog().profile("minimax").unwrap().clone();
        let r = parse_response(&body, "minimax", &profile, "m").unwrap();
        assert_eq!(r.reasoning_text(), "\nLet me see.\n");
        assert_eq!(r.text(), "\n\nThe answer.");
        let req = ChatRequest::new(vec![Message::user("q"), r.message]);
        let out = with_target("minimax", |t| build_body(&req, t, false)).unwrap();
        assert_eq!(out["messages"][1]["content"], content);
    }

    #[test]
    fn parses_reasoning_usage_and_errors() {
        let body = json!({
            "model": "deepseek-v4-pro",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi", "reasoning_content": "r"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_cache_hit_tokens": 4,
                "prompt_cache_miss_tokens": 6, "completion_tokens_details": {"reasoning_tokens": 2}},
        })
        .to_string();
        let profile = catalog().profile("deepseek").unwrap().clone();
        let r = parse_response(&body, "deepseek", &profile, "m").unwrap();
        assert_eq!(r.text(), "hi");
        assert_eq!(r.message.parts[0], reasoning_part("deepseek", "r".into()));
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                cache_read_tokens: 4,
                cache_write_tokens: 0,
                reasoning_tokens: 2
            }
        );
        assert!(parse_response("nope", "p", &profile, "m").is_err());
        assert!(parse_response(r#"{"choices":[]}"#, "p", &profile, "m").is_err());
        let minimax = catalog().profile("minimax").unwrap().clone();
        let err = parse_response(
            r#"{"choices":null,"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}"#,
            "minimax",
            &minimax,
            "m",
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::InsufficientBalance(_)), "{err:?}");
    }
}
