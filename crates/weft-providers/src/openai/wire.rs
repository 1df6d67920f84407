//! Chat Completions wire format: building request bodies and reading
//! (non-streamed) responses.

use serde_json::{Map, Value, json};

use crate::http_error::{classify_inline, truncate};
use crate::types::{
    ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, ResponseFormat,
    Role, ToolCall, ToolChoice, Usage,
};

/// What the body builder needs to know about the backend.
pub(crate) struct Target<'a> {
    /// The model name sent as `model`.
    pub model: &'a str,
    /// The provider name: selects provider options and replayed reasoning.
    pub provider: &'a str,
}

fn invalid(msg: String) -> ModelError {
    ModelError::Unsupported(msg)
}

fn parse_json_text(what: &str, text: &str) -> Result<Value, ModelError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what} is not valid JSON: {e}")))
}

/// An `f32` as the JSON number a person would write (`0.7`, not
/// `0.699999988079071`).
fn f32_json(x: f32) -> Option<Value> {
    let f: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    serde_json::Number::from_f64(f).map(Value::Number)
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

fn push_message(
    out: &mut Vec<Value>,
    index: usize,
    m: &Message,
    provider: &str,
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
            let mut text = String::new();
            let mut reasoning = String::new();
            let mut calls = Vec::new();
            for p in &m.parts {
                match p {
                    Part::Text(t) => text.push_str(t),
                    // Only this provider's own, readable reasoning is
                    // replayed; foreign or redacted reasoning is dropped.
                    Part::Reasoning(r) => {
                        if !r.redacted && r.provider.as_deref() == Some(provider) {
                            reasoning.push_str(&r.text);
                        }
                    }
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
            let content = if text.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            };
            msg.insert("content".into(), content);
            if !reasoning.is_empty() {
                msg.insert("reasoning_content".into(), reasoning.into());
            }
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), calls.into());
            }
            out.push(Value::Object(msg));
        }
    }
    Ok(())
}

/// Merges `patch` into `base`: objects merge recursively, `null` removes a
/// key, anything else replaces.
fn merge(base: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                base.remove(&k);
            }
            Value::Object(p) => match base.get_mut(&k) {
                Some(Value::Object(b)) => merge(b, p),
                _ => {
                    base.insert(k, Value::Object(p));
                }
            },
            v => {
                base.insert(k, v);
            }
        }
    }
}

/// The Chat Completions request body for `req`.
pub(crate) fn build_body(
    req: &ChatRequest,
    target: &Target<'_>,
    stream: bool,
) -> Result<Value, ModelError> {
    let mut body = Map::new();
    body.insert("model".into(), target.model.into());

    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        push_message(&mut messages, i, m, target.provider)?;
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
        // OpenAI's reasoning models reject `max_tokens`; most compatible
        // servers know only `max_tokens`. A provider option can override.
        let key = if target.provider == "openai" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body.insert(key.into(), max.into());
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), req.stop.clone().into());
    }
    if stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }

    // Provider options: `*` first, then this provider's, each merged in.
    let applicable = req
        .provider_options
        .iter()
        .filter(|o| o.provider == "*")
        .chain(
            req.provider_options
                .iter()
                .filter(|o| o.provider != "*" && o.provider.eq_ignore_ascii_case(target.provider)),
        );
    for opt in applicable {
        match parse_json_text(
            &format!("the provider option for `{}`", opt.provider),
            &opt.json,
        )? {
            Value::Object(patch) => merge(&mut body, patch),
            _ => {
                return Err(invalid(format!(
                    "the provider option for `{}` is not a JSON object",
                    opt.provider
                )));
            }
        }
    }
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

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_u64()
}

/// Reads a wire `usage` object (absent fields count as zero).
pub(crate) fn parse_usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(u, &["prompt_tokens"]).unwrap_or(0),
        output_tokens: u64_at(u, &["completion_tokens"]).unwrap_or(0),
        cache_read_tokens: u64_at(u, &["prompt_tokens_details", "cached_tokens"])
            .or_else(|| u64_at(u, &["prompt_cache_hit_tokens"]))
            .unwrap_or(0),
        cache_write_tokens: u64_at(u, &["prompt_tokens_details", "cache_write_tokens"])
            .or_else(|| u64_at(u, &["prompt_tokens_details", "cache_creation_tokens"]))
            .unwrap_or(0),
        reasoning_tokens: u64_at(u, &["completion_tokens_details", "reasoning_tokens"])
            .unwrap_or(0),
    }
}

/// Tool-call arguments as they go into a [`ToolCall`]: empty becomes `{}`,
/// anything else must parse as JSON.
pub(crate) fn finish_arguments(
    id: &str,
    name: &str,
    arguments: String,
    finish: Option<&str>,
) -> Result<String, ModelError> {
    if arguments.trim().is_empty() {
        return Ok("{}".into());
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&arguments) {
        Ok(_) => Ok(arguments),
        Err(e) => {
            let hint = if finish == Some("length") {
                " (generation stopped at the token limit)"
            } else {
                ""
            };
            Err(ModelError::Transport(format!(
                "invalid response: tool call `{name}` (id `{id}`) has arguments that are not valid JSON{hint}: {e}; arguments: {}",
                truncate(&arguments, 300)
            )))
        }
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
/// `reasoning` as vLLM and OpenRouter name it).
pub(crate) fn reasoning_of(v: &Value) -> String {
    let r = text_of(v.get("reasoning_content"));
    if r.is_empty() {
        text_of(v.get("reasoning"))
    } else {
        r
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

/// Reads a non-streamed Chat Completions response.
pub(crate) fn parse_response(
    body: &str,
    provider: &str,
    fallback_model: &str,
) -> Result<ChatResponse, ModelError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        ModelError::Transport(format!(
            "{provider}: invalid response: not JSON ({e}): {}",
            truncate(body, 500)
        ))
    })?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(classify_inline(provider, body));
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
    let text = text_of(message.get("content"));
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
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
            let arguments = finish_arguments(&id, &name, arguments_of(function), raw_finish)?;
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
        usage: v.get("usage").map(parse_usage).unwrap_or_default(),
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
    use crate::types::{JsonSchemaFormat, ProviderOption, ToolResult, ToolSpec};

    fn target() -> Target<'static> {
        Target {
            model: "m",
            provider: "deepseek",
        }
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
        let body = build_body(&req, &target(), true).unwrap();
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
    }

    #[test]
    fn body_rejects_bad_requests() {
        let req = ChatRequest::new(vec![]).with_tool_choice(ToolChoice::Required);
        assert!(matches!(
            build_body(&req, &target(), false),
            Err(ModelError::Unsupported(_))
        ));
        let req = ChatRequest::new(vec![Message::new(
            Role::User,
            vec![Part::ToolCall(ToolCall::new("a", "b", "{}"))],
        )]);
        let err = build_body(&req, &target(), false).unwrap_err();
        assert!(err.to_string().contains("message 0"), "{err}");
        let req = ChatRequest::new(vec![]).with_provider_option("*", "[1]");
        assert!(build_body(&req, &target(), false).is_err());
    }

    #[test]
    fn response_usage_buckets() {
        let body = r#"{"model":"deepseek-v4","choices":[{"message":{"content":"hi","reasoning_content":"r"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_cache_hit_tokens":4,"completion_tokens_details":{"reasoning_tokens":2}}}"#;
        let r = parse_response(body, "deepseek", "fallback").unwrap();
        assert_eq!(r.model, "deepseek-v4");
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
        assert!(parse_response("nope", "p", "m").is_err());
        assert!(parse_response(r#"{"choices":[]}"#, "p", "m").is_err());
    }
}
