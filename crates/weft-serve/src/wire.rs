//! The Chat Completions wire format, server side: request JSON to a
//! [`ChatRequest`], and a [`ChatResponse`] or a stream of [`StreamEvent`]s
//! back to response JSON and SSE chunks.
//!
//! This is the inverse of the client mapping in `weft-providers`
//! (`openai/wire.rs`), so a conversation survives a round trip through
//! Weft's own OpenAI client and this server unchanged, with two documented
//! exceptions that follow from the wire format itself:
//!
//! - reasoning arrives as `reasoning_content` (or `reasoning`) text on
//!   assistant messages and becomes a [`Part::Reasoning`] tagged with the
//!   served model's provider (the client got it from this server, so it is
//!   that model's own reasoning); signatures do not travel;
//! - a tool result is a `tool` message's text, kept verbatim with
//!   `is_error: false` (the client writes a failed result as `Error: ...`
//!   text, and that text is what the model should read). Consecutive `tool`
//!   messages become one [`Role::Tool`] message, as Weft groups the results
//!   of one assistant turn.
//!
//! Accepted request fields: `model`, `messages` (roles `system`,
//! `developer`, `user`, `assistant`, `tool`; `content` a string or an array
//! of text parts; assistant `tool_calls` and `reasoning_content`; tool
//! `tool_call_id`), `tools`, `tool_choice`, `response_format` (`text`,
//! `json_object`, `json_schema`), `temperature`, `top_p`, `top_k`, `seed`,
//! `frequency_penalty`, `presence_penalty`, `max_tokens`,
//! `max_completion_tokens`, `stop` (a string or a list), `stream`,
//! `stream_options.include_usage`, `n` (1 only), and the vLLM extensions
//! `min_p` and `repetition_penalty` (passed on as a provider option for the
//! served model's provider). Other fields (`user`, `metadata`,
//! `parallel_tool_calls`, `logprobs`, ...) are ignored; `null` counts as
//! absent everywhere.

use serde_json::{Map, Value, json};
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, JsonSchemaFormat, Message, Part, ProviderOption,
    Reasoning, ResponseFormat, Role, StreamEvent, ToolCall, ToolChoice, ToolResult, ToolSpec,
    Usage,
};

/// A request field that is missing, has the wrong type or a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    /// The offending field as a path (`messages[2].tool_call_id`); empty
    /// when the body as a whole is wrong.
    pub param: String,
    /// What is wrong, naming the field.
    pub message: String,
    /// The OpenAI-style error code: `missing_required_parameter`,
    /// `invalid_type` or `invalid_value`.
    pub code: &'static str,
}

impl InvalidRequest {
    fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        Self {
            message: format!("Missing required parameter: '{param}'."),
            param,
            code: "missing_required_parameter",
        }
    }

    fn wrong_type(param: impl Into<String>, expected: &str, got: &Value) -> Self {
        let param = param.into();
        Self {
            message: format!(
                "Invalid type for '{param}': expected {expected}, but got {}.",
                kind(got)
            ),
            param,
            code: "invalid_type",
        }
    }

    fn bad_value(param: impl Into<String>, why: impl std::fmt::Display) -> Self {
        let param = param.into();
        Self {
            message: format!("Invalid value for '{param}': {why}"),
            param,
            code: "invalid_value",
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A parsed Chat Completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    /// The served model's name, as the client asked for it.
    pub model: String,
    /// `stream: true`: answer with Server-Sent Events.
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
    /// The request for the model.
    pub chat: ChatRequest,
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, InvalidRequest> {
    body.as_object().ok_or_else(|| InvalidRequest {
        param: String::new(),
        message: format!(
            "The request body must be a JSON object, but it is {}.",
            kind(body)
        ),
        code: "invalid_type",
    })
}

/// The `model` a request body names (read first, to pick the model before
/// the rest of the body is checked).
pub fn requested_model(body: &Value) -> Result<&str, InvalidRequest> {
    let obj = body_object(body)?;
    match field(obj, "model") {
        None => Err(InvalidRequest::missing("model")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        Some(Value::String(_)) => Err(InvalidRequest::bad_value(
            "model",
            "the model name is empty.",
        )),
        Some(other) => Err(InvalidRequest::wrong_type("model", "a string", other)),
    }
}

/// A field of `obj`, with `null` counted as absent.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'a str>, InvalidRequest> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(InvalidRequest::wrong_type(
            join(path, key),
            "a string",
            other,
        )),
    }
}

fn opt_bool(obj: &Map<String, Value>, path: &str, key: &str) -> Result<bool, InvalidRequest> {
    match field(obj, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(InvalidRequest::wrong_type(
            join(path, key),
            "a boolean",
            other,
        )),
    }
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, InvalidRequest> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| InvalidRequest::wrong_type(key, "a number", v)),
    }
}

fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, InvalidRequest> {
    match field(obj, key) {
        None => Ok(None),
        Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            InvalidRequest::bad_value(key, format!("expected a non-negative integer, got {v}."))
        }),
        Some(other) => Err(InvalidRequest::wrong_type(key, "an integer", other)),
    }
}

fn opt_u32(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, InvalidRequest> {
    match opt_u64(obj, key)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            InvalidRequest::bad_value(key, format!("{n} is larger than {}.", u32::MAX))
        }),
    }
}

/// The text of a `content` (or reasoning) value: a string, or an array of
/// strings and `{"type": "text", "text": ...}` parts. `None` when absent.
fn content_text(value: Option<&Value>, path: &str) -> Result<Option<String>, InvalidRequest> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => {
            let mut text = String::new();
            for (j, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{j}]");
                match item {
                    Value::String(s) => text.push_str(s),
                    Value::Object(o) => {
                        let ty = opt_str(o, &item_path, "type")?.unwrap_or("text");
                        if ty != "text" {
                            return Err(InvalidRequest::bad_value(
                                join(&item_path, "type"),
                                format!(
                                    "content parts of type `{ty}` are not supported: this server takes text only."
                                ),
                            ));
                        }
                        match field(o, "text") {
                            Some(Value::String(s)) => text.push_str(s),
                            None => return Err(InvalidRequest::missing(join(&item_path, "text"))),
                            Some(other) => {
                                return Err(InvalidRequest::wrong_type(
                                    join(&item_path, "text"),
                                    "a string",
                                    other,
                                ));
                            }
                        }
                    }
                    other => {
                        return Err(InvalidRequest::wrong_type(item_path, "a text part", other));
                    }
                }
            }
            Ok(Some(text))
        }
        Some(other) => Err(InvalidRequest::wrong_type(
            path,
            "a string or an array of text parts",
            other,
        )),
    }
}

fn required_content(obj: &Map<String, Value>, path: &str) -> Result<String, InvalidRequest> {
    let path = join(path, "content");
    content_text(field(obj, "content"), &path)?.ok_or_else(|| InvalidRequest::missing(path))
}

fn nonempty_str(obj: &Map<String, Value>, path: &str, key: &str) -> Result<String, InvalidRequest> {
    match opt_str(obj, path, key)? {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        Some(_) => Err(InvalidRequest::bad_value(join(path, key), "it is empty.")),
        None => Err(InvalidRequest::missing(join(path, key))),
    }
}

fn tool_call(v: &Value, path: &str) -> Result<ToolCall, InvalidRequest> {
    let obj = v
        .as_object()
        .ok_or_else(|| InvalidRequest::wrong_type(path, "an object", v))?;
    if let Some(ty) = opt_str(obj, path, "type")?
        && ty != "function"
    {
        return Err(InvalidRequest::bad_value(
            join(path, "type"),
            format!("only `function` tool calls are supported, not `{ty}`."),
        ));
    }
    let id = nonempty_str(obj, path, "id")?;
    let fpath = join(path, "function");
    let function = match field(obj, "function") {
        Some(Value::Object(f)) => f,
        Some(other) => return Err(InvalidRequest::wrong_type(fpath, "an object", other)),
        None => return Err(InvalidRequest::missing(fpath)),
    };
    let name = nonempty_str(function, &fpath, "name")?;
    let apath = join(&fpath, "arguments");
    let arguments = match field(function, "arguments") {
        None => "{}".to_owned(),
        Some(Value::String(s)) if s.trim().is_empty() => "{}".to_owned(),
        Some(Value::String(s)) => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(s) {
                return Err(InvalidRequest::bad_value(
                    apath,
                    format!("the arguments are not valid JSON ({e})."),
                ));
            }
            s.clone()
        }
        // Some clients send the arguments as an object.
        Some(other @ Value::Object(_)) => other.to_string(),
        Some(other) => return Err(InvalidRequest::wrong_type(apath, "a JSON string", other)),
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

fn assistant_message(
    obj: &Map<String, Value>,
    path: &str,
    provider: &str,
) -> Result<Message, InvalidRequest> {
    let mut parts = Vec::new();
    let reasoning = match content_text(
        field(obj, "reasoning_content"),
        &join(path, "reasoning_content"),
    )? {
        Some(r) => Some(r),
        None => content_text(field(obj, "reasoning"), &join(path, "reasoning"))?,
    };
    if let Some(text) = reasoning.filter(|r| !r.is_empty()) {
        parts.push(Part::Reasoning(Reasoning {
            text,
            signature: None,
            provider: Some(provider.to_owned()),
            redacted: false,
        }));
    }
    let content = content_text(field(obj, "content"), &join(path, "content"))?;
    let calls_path = join(path, "tool_calls");
    let calls = match field(obj, "tool_calls") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, c)| tool_call(c, &format!("{calls_path}[{j}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(InvalidRequest::wrong_type(calls_path, "an array", other)),
    };
    if let Some(text) = content.filter(|t| !t.is_empty() || calls.is_empty()) {
        parts.push(Part::Text(text));
    }
    parts.extend(calls.into_iter().map(Part::ToolCall));
    Ok(Message::new(Role::Assistant, parts))
}

fn messages(v: Option<&Value>, provider: &str) -> Result<Vec<Message>, InvalidRequest> {
    let items = match v {
        None => return Err(InvalidRequest::missing("messages")),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(InvalidRequest::wrong_type("messages", "an array", other)),
    };
    if items.is_empty() {
        return Err(InvalidRequest::bad_value(
            "messages",
            "at least one message is required.",
        ));
    }
    let mut out: Vec<Message> = Vec::with_capacity(items.len());
    for (i, m) in items.iter().enumerate() {
        let path = format!("messages[{i}]");
        let obj = m
            .as_object()
            .ok_or_else(|| InvalidRequest::wrong_type(&path, "an object", m))?;
        let role_path = join(&path, "role");
        let role = match field(obj, "role") {
            Some(Value::String(r)) => r.as_str(),
            Some(other) => return Err(InvalidRequest::wrong_type(role_path, "a string", other)),
            None => return Err(InvalidRequest::missing(role_path)),
        };
        match role {
            "system" | "developer" => out.push(Message::system(required_content(obj, &path)?)),
            "user" => out.push(Message::user(required_content(obj, &path)?)),
            "assistant" => out.push(assistant_message(obj, &path, provider)?),
            "tool" => {
                let call_id = nonempty_str(obj, &path, "tool_call_id")?;
                let content = content_text(field(obj, "content"), &join(&path, "content"))?
                    .unwrap_or_default();
                let result = Part::ToolResult(ToolResult::ok(call_id, content));
                match out.last_mut() {
                    Some(last) if last.role == Role::Tool => last.parts.push(result),
                    _ => out.push(Message::new(Role::Tool, vec![result])),
                }
            }
            "function" => {
                return Err(InvalidRequest::bad_value(
                    role_path,
                    "the legacy `function` role is not supported; send tool results as `tool` messages.",
                ));
            }
            other => {
                return Err(InvalidRequest::bad_value(
                    role_path,
                    format!(
                        "unknown role `{other}`: expected system, developer, user, assistant or tool."
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn tools(v: Option<&Value>) -> Result<Vec<ToolSpec>, InvalidRequest> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(InvalidRequest::wrong_type("tools", "an array", other)),
    };
    let mut out: Vec<ToolSpec> = Vec::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        let path = format!("tools[{i}]");
        let obj = t
            .as_object()
            .ok_or_else(|| InvalidRequest::wrong_type(&path, "an object", t))?;
        if let Some(ty) = opt_str(obj, &path, "type")?
            && ty != "function"
        {
            return Err(InvalidRequest::bad_value(
                join(&path, "type"),
                format!("only `function` tools are supported, not `{ty}`."),
            ));
        }
        let fpath = join(&path, "function");
        let function = match field(obj, "function") {
            Some(Value::Object(f)) => f,
            Some(other) => return Err(InvalidRequest::wrong_type(fpath, "an object", other)),
            None => return Err(InvalidRequest::missing(fpath)),
        };
        let name = nonempty_str(function, &fpath, "name")?;
        if out.iter().any(|t| t.name == name) {
            return Err(InvalidRequest::bad_value(
                join(&fpath, "name"),
                format!("the tool name `{name}` is used twice."),
            ));
        }
        let description = opt_str(function, &fpath, "description")?
            .unwrap_or_default()
            .to_owned();
        let input_schema = match field(function, "parameters") {
            None => json!({"type": "object", "properties": {}}).to_string(),
            Some(p @ Value::Object(_)) => p.to_string(),
            Some(other) => {
                return Err(InvalidRequest::wrong_type(
                    join(&fpath, "parameters"),
                    "a JSON Schema object",
                    other,
                ));
            }
        };
        out.push(ToolSpec {
            name,
            description,
            input_schema,
            output_schema: None,
        });
    }
    Ok(out)
}

fn tool_choice(v: Option<&Value>, tools: &[ToolSpec]) -> Result<ToolChoice, InvalidRequest> {
    let choice = match v {
        None => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(InvalidRequest::bad_value(
                    "tool_choice",
                    format!(
                        "`{other}` is not one of `auto`, `none`, `required` or a named function."
                    ),
                ));
            }
        },
        Some(Value::Object(o)) => {
            if let Some(ty) = opt_str(o, "tool_choice", "type")?
                && ty != "function"
            {
                return Err(InvalidRequest::bad_value(
                    "tool_choice.type",
                    format!("only `function` can be named, not `{ty}`."),
                ));
            }
            let function = match field(o, "function") {
                Some(Value::Object(f)) => f,
                Some(other) => {
                    return Err(InvalidRequest::wrong_type(
                        "tool_choice.function",
                        "an object",
                        other,
                    ));
                }
                None => return Err(InvalidRequest::missing("tool_choice.function")),
            };
            let name = nonempty_str(function, "tool_choice.function", "name")?;
            if !tools.iter().any(|t| t.name == name) {
                return Err(InvalidRequest::bad_value(
                    "tool_choice.function.name",
                    format!("the tool `{name}` is not among the request's `tools`."),
                ));
            }
            ToolChoice::Named(name)
        }
        Some(other) => {
            return Err(InvalidRequest::wrong_type(
                "tool_choice",
                "a string or an object",
                other,
            ));
        }
    };
    if choice == ToolChoice::Required && tools.is_empty() {
        return Err(InvalidRequest::bad_value(
            "tool_choice",
            "`required` needs at least one tool in `tools`.",
        ));
    }
    Ok(choice)
}

fn response_format(v: Option<&Value>) -> Result<ResponseFormat, InvalidRequest> {
    let obj = match v {
        None => return Ok(ResponseFormat::Text),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(InvalidRequest::wrong_type(
                "response_format",
                "an object",
                other,
            ));
        }
    };
    match opt_str(obj, "response_format", "type")? {
        None => Err(InvalidRequest::missing("response_format.type")),
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let path = "response_format.json_schema";
            let f = match field(obj, "json_schema") {
                Some(Value::Object(f)) => f,
                Some(other) => return Err(InvalidRequest::wrong_type(path, "an object", other)),
                None => return Err(InvalidRequest::missing(path)),
            };
            let schema = match field(f, "schema") {
                Some(s @ Value::Object(_)) => s.to_string(),
                Some(other) => {
                    return Err(InvalidRequest::wrong_type(
                        join(path, "schema"),
                        "a JSON Schema object",
                        other,
                    ));
                }
                None => return Err(InvalidRequest::missing(join(path, "schema"))),
            };
            Ok(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: opt_str(f, path, "name")?.unwrap_or("response").to_owned(),
                schema,
                strict: opt_bool(f, path, "strict")?,
            }))
        }
        Some(other) => Err(InvalidRequest::bad_value(
            "response_format.type",
            format!("`{other}` is not one of `text`, `json_object` or `json_schema`."),
        )),
    }
}

fn stop(v: Option<&Value>) -> Result<Vec<String>, InvalidRequest> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone()).into_iter().collect()),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, s) in items.iter().enumerate() {
                match s {
                    Value::String(s) if s.is_empty() => {}
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        return Err(InvalidRequest::wrong_type(
                            format!("stop[{i}]"),
                            "a string",
                            other,
                        ));
                    }
                }
            }
            Ok(out)
        }
        Some(other) => Err(InvalidRequest::wrong_type(
            "stop",
            "a string or an array of strings",
            other,
        )),
    }
}

fn sampling_value(
    obj: &Map<String, Value>,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<f32>, InvalidRequest> {
    match opt_f64(obj, key)? {
        None => Ok(None),
        Some(v) if range.contains(&v) => Ok(Some(v as f32)),
        Some(v) => Err(InvalidRequest::bad_value(
            key,
            format!(
                "{v} is outside the accepted range {} to {}.",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Reads a Chat Completions request body. `provider` is the served model's
/// provider name ([`weft_model::Capabilities::provider`]): it tags the
/// reasoning replayed on assistant messages and receives the `min_p` /
/// `repetition_penalty` extensions as a provider option.
pub fn parse_request(body: &Value, provider: &str) -> Result<CompletionRequest, InvalidRequest> {
    let model = requested_model(body)?.to_owned();
    let obj = body_object(body)?;
    let messages = messages(field(obj, "messages"), provider)?;
    let tools = tools(field(obj, "tools"))?;
    let tool_choice = tool_choice(field(obj, "tool_choice"), &tools)?;
    let response_format = response_format(field(obj, "response_format"))?;

    let mut chat = ChatRequest::new(messages)
        .with_tools(tools)
        .with_tool_choice(tool_choice)
        .with_response_format(response_format);
    let s = &mut chat.sampling;
    s.temperature = sampling_value(obj, "temperature", 0.0..=f64::MAX)?;
    s.top_p = sampling_value(obj, "top_p", 0.0..=1.0)?;
    s.frequency_penalty = sampling_value(obj, "frequency_penalty", f64::MIN..=f64::MAX)?;
    s.presence_penalty = sampling_value(obj, "presence_penalty", f64::MIN..=f64::MAX)?;
    s.top_k = opt_u32(obj, "top_k")?;
    s.seed = opt_u64(obj, "seed")?;
    let max_key = if field(obj, "max_completion_tokens").is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    chat.max_output_tokens = match opt_u32(obj, max_key)? {
        Some(0) => return Err(InvalidRequest::bad_value(max_key, "it must be at least 1.")),
        max => max,
    };
    chat.stop = stop(field(obj, "stop"))?;

    let mut extensions = Map::new();
    for key in ["min_p", "repetition_penalty"] {
        if let Some(v) = opt_f64(obj, key)? {
            extensions.insert(key.into(), v.into());
        }
    }
    if !extensions.is_empty() {
        chat.provider_options.push(ProviderOption {
            provider: provider.to_owned(),
            json: Value::Object(extensions).to_string(),
        });
    }

    if let Some(n) = opt_u64(obj, "n")?
        && n != 1
    {
        return Err(InvalidRequest::bad_value(
            "n",
            format!("only one choice per request is supported, not {n}."),
        ));
    }
    let stream = opt_bool(obj, "", "stream")?;
    let include_usage = match field(obj, "stream_options") {
        None => false,
        Some(Value::Object(o)) => opt_bool(o, "stream_options", "include_usage")?,
        Some(other) => {
            return Err(InvalidRequest::wrong_type(
                "stream_options",
                "an object",
                other,
            ));
        }
    };
    Ok(CompletionRequest {
        model,
        stream,
        include_usage,
        chat,
    })
}

/// The wire `finish_reason`. [`FinishReason::Other`] becomes `stop`: clients
/// with a closed set of reasons would reject anything else.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// The wire `usage` object, with the cache and reasoning buckets in
/// `prompt_tokens_details` and `completion_tokens_details`.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens(),
        "prompt_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

fn tool_call_json(index: usize, c: &ToolCall, with_index: bool) -> Value {
    let id = if c.id.is_empty() {
        format!("call_{index}")
    } else {
        c.id.clone()
    };
    let mut v = json!({
        "id": id,
        "type": "function",
        "function": {"name": c.name, "arguments": c.arguments},
    });
    if with_index {
        v["index"] = index.into();
    }
    v
}

/// The wire assistant `message` of an answer: text parts joined into
/// `content` (`null` when the turn only calls tools), reasoning text joined
/// into `reasoning_content`, and `tool_calls`.
pub fn message_json(m: &Message) -> Value {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in &m.parts {
        match part {
            Part::Text(t) => content.push_str(t),
            Part::Reasoning(r) => reasoning.push_str(&r.text),
            Part::ToolCall(c) => calls.push(tool_call_json(calls.len(), c, false)),
            Part::ToolResult(_) => {}
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), "assistant".into());
    msg.insert(
        "content".into(),
        if content.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            content.into()
        },
    );
    if !reasoning.is_empty() {
        msg.insert("reasoning_content".into(), reasoning.into());
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), calls.into());
    }
    Value::Object(msg)
}

/// The model name an answer reports: the backend's own name when it gave
/// one (a router names the model that answered), else the served name.
fn reported_model<'a>(served: &'a str, response: &'a ChatResponse) -> &'a str {
    if response.model.is_empty() {
        served
    } else {
        &response.model
    }
}

/// The `chat.completion` object for an unstreamed answer.
pub fn completion_json(id: &str, created: u64, served: &str, response: &ChatResponse) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": reported_model(served, response),
        "choices": [{
            "index": 0,
            "message": message_json(&response.message),
            "logprobs": null,
            "finish_reason": finish_reason(response.finish_reason),
        }],
        "usage": usage_json(&response.usage),
    })
}

/// One Server-Sent Events frame: `data: {json}` and a blank line.
pub fn sse_frame(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The frame that ends every stream.
pub const DONE_FRAME: &str = "data: [DONE]\n\n";

/// Turns a model's [`StreamEvent`]s into `chat.completion.chunk` frames.
///
/// The first frame carries the assistant role; text and reasoning deltas
/// become `content` and `reasoning_content` deltas; each complete tool call
/// becomes one `tool_calls` delta with its `index`, `id`, `type` and
/// `function` (name and the whole arguments). The final answer in
/// [`StreamEvent::Done`] is authoritative: text, reasoning or tool calls it
/// holds that were not streamed are sent before the finishing frame, which
/// carries `finish_reason`; with `include_usage` a usage frame
/// (`choices: []`) follows. [`DONE_FRAME`] is the caller's to send.
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    text: String,
    reasoning: String,
    sent_calls: Vec<ToolCall>,
    next_index: usize,
    finished: bool,
}

impl ChunkEncoder {
    /// An encoder for the stream `id` (`chatcmpl-...`), created at `created`
    /// (Unix seconds), for the served model `model`.
    pub fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        Self {
            id,
            created,
            model,
            include_usage,
            text: String::new(),
            reasoning: String::new(),
            sent_calls: Vec::new(),
            next_index: 0,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        sse_frame(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        }))
    }

    /// The opening frame: the assistant role with empty content.
    pub fn start(&self) -> String {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    /// True once [`StreamEvent::Done`] was encoded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn call_frame(&mut self, call: &ToolCall) -> String {
        let delta = json!({"tool_calls": [tool_call_json(self.next_index, call, true)]});
        self.next_index += 1;
        self.chunk(delta, None)
    }

    /// The frames for one event (none for empty deltas or after `Done`).
    pub fn event(&mut self, event: StreamEvent) -> Vec<String> {
        if self.finished {
            return Vec::new();
        }
        match event {
            StreamEvent::TextDelta(t) if t.is_empty() => Vec::new(),
            StreamEvent::TextDelta(t) => {
                let frame = self.chunk(json!({"content": t}), None);
                self.text.push_str(&t);
                vec![frame]
            }
            StreamEvent::ReasoningDelta(r) if r.is_empty() => Vec::new(),
            StreamEvent::ReasoningDelta(r) => {
                let frame = self.chunk(json!({"reasoning_content": r}), None);
                self.reasoning.push_str(&r);
                vec![frame]
            }
            StreamEvent::ToolCall(c) => {
                let frame = self.call_frame(&c);
                self.sent_calls.push(c);
                vec![frame]
            }
            StreamEvent::Done(response) => self.done(&response),
        }
    }

    fn done(&mut self, response: &ChatResponse) -> Vec<String> {
        let mut frames = Vec::new();
        // What the answer holds beyond what was streamed.
        let reasoning = response.reasoning_text();
        if let Some(rest) = reasoning.strip_prefix(self.reasoning.as_str())
            && !rest.is_empty()
        {
            frames.push(self.chunk(json!({"reasoning_content": rest}), None));
        }
        let text = response.text();
        if let Some(rest) = text.strip_prefix(self.text.as_str())
            && !rest.is_empty()
        {
            frames.push(self.chunk(json!({"content": rest}), None));
        }
        let mut sent = std::mem::take(&mut self.sent_calls);
        for call in response.tool_calls() {
            match sent.iter().position(|c| c == call) {
                Some(i) => {
                    sent.remove(i);
                }
                None => frames.push(self.call_frame(call)),
            }
        }
        let model = reported_model(&self.model, response).to_owned();
        self.model = model;
        frames.push(self.chunk(json!({}), Some(finish_reason(response.finish_reason))));
        if self.include_usage {
            frames.push(sse_frame(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(&response.usage),
            })));
        }
        self.finished = true;
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<CompletionRequest, InvalidRequest> {
        parse_request(&body, "local")
    }

    #[test]
    fn maps_every_field() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be "}, "brief"]},
                {"role": "user", "content": "hi", "name": "ann"},
                {"role": "assistant", "content": null, "reasoning_content": "think",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "f", "arguments": "{\"a\":1}"}},
                                {"id": "c2", "function": {"name": "g", "arguments": {"b": 2}}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "one"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "done", "reasoning": "r2"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
                      {"type": "function", "function": {"name": "g", "description": "G"}}],
            "tool_choice": "required",
            "response_format": {"type": "json_object"},
            "temperature": 0.5, "top_p": 0.25, "top_k": 40, "seed": 7,
            "max_tokens": 10, "max_completion_tokens": 20,
            "stop": "END", "min_p": 0.5,
            "stream": true, "stream_options": {"include_usage": true},
            "user": "ignored", "parallel_tool_calls": false, "logprobs": null,
        });
        let r = parse(body).unwrap();
        assert!(r.stream && r.include_usage);
        assert_eq!(r.model, "m");
        let c = r.chat;
        let own = |text: &str| {
            Part::Reasoning(Reasoning {
                text: text.into(),
                provider: Some("local".into()),
                ..Default::default()
            })
        };
        assert_eq!(
            c.messages,
            vec![
                Message::system("be brief"),
                Message::user("hi"),
                Message::new(
                    Role::Assistant,
                    vec![
                        own("think"),
                        Part::ToolCall(ToolCall::new("c1", "f", r#"{"a":1}"#)),
                        Part::ToolCall(ToolCall::new("c2", "g", r#"{"b":2}"#)),
                    ]
                ),
                Message::tool_results([ToolResult::ok("c1", "one"), ToolResult::ok("c2", "two")]),
                Message::new(Role::Assistant, vec![own("r2"), Part::Text("done".into())]),
            ]
        );
        assert_eq!(c.tools[0].input_schema, r#"{"type":"object"}"#);
        assert_eq!(c.tools[1].description, "G");
        assert_eq!(
            c.tools[1].input_schema,
            json!({"type": "object", "properties": {}}).to_string()
        );
        assert_eq!(c.tool_choice, ToolChoice::Required);
        assert_eq!(c.response_format, ResponseFormat::JsonObject);
        assert_eq!(c.sampling.temperature, Some(0.5));
        assert_eq!(c.sampling.top_p, Some(0.25));
        assert_eq!(c.sampling.top_k, Some(40));
        assert_eq!(c.sampling.seed, Some(7));
        assert_eq!(c.max_output_tokens, Some(20));
        assert_eq!(c.stop, vec!["END".to_owned()]);
        assert_eq!(
            c.provider_options,
            vec![ProviderOption {
                provider: "local".into(),
                json: r#"{"min_p":0.5}"#.into()
            }]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let base = || json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"messages": []}), "model"),
            (json!({"model": "m"}), "messages"),
            (json!({"model": "m", "messages": {}}), "messages"),
            (json!({"model": "m", "messages": []}), "messages"),
            (
                json!({"model": "m", "messages": [{"content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user"}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{"}}]}]}),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]}),
                "messages[0].tool_calls[0].id",
            ),
        ];
        for (body, param) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert_eq!(err.param, param, "{body}: {err:?}");
            assert!(err.message.contains(param), "{err:?}");
        }
        let with = |key: &str, v: Value| {
            let mut b = base();
            b[key] = v;
            parse(b).unwrap_err().param
        };
        assert_eq!(with("temperature", json!("hot")), "temperature");
        assert_eq!(with("temperature", json!(-1)), "temperature");
        assert_eq!(with("top_p", json!(2)), "top_p");
        assert_eq!(with("seed", json!(-3)), "seed");
        assert_eq!(with("max_tokens", json!(0)), "max_tokens");
        assert_eq!(
            with("max_completion_tokens", json!(1.5)),
            "max_completion_tokens"
        );
        assert_eq!(with("stop", json!([1])), "stop[0]");
        assert_eq!(with("n", json!(2)), "n");
        assert_eq!(with("stream", json!("yes")), "stream");
        assert_eq!(with("tool_choice", json!("required")), "tool_choice");
        assert_eq!(
            with(
                "tool_choice",
                json!({"type": "function", "function": {"name": "x"}})
            ),
            "tool_choice.function.name"
        );
        assert_eq!(with("tools", json!([{"type": "web"}])), "tools[0].type");
        assert_eq!(
            with("tools", json!([{"type": "function"}])),
            "tools[0].function"
        );
        assert_eq!(
            with("response_format", json!({"type": "yaml"})),
            "response_format.type"
        );
        assert_eq!(
            with("response_format", json!({"type": "json_schema"})),
            "response_format.json_schema"
        );
        assert_eq!(requested_model(&json!([])).unwrap_err().param, "");
    }

    #[test]
    fn answers_map_back() {
        let response = ChatResponse {
            message: Message::new(
                Role::Assistant,
                vec![
                    Part::Reasoning(Reasoning {
                        text: "hm".into(),
                        ..Default::default()
                    }),
                    Part::ToolCall(ToolCall::new("", "f", "{}")),
                ],
            ),
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                cache_read_tokens: 1,
                cache_write_tokens: 0,
                reasoning_tokens: 1,
            },
            model: String::new(),
        };
        let v = completion_json("chatcmpl-1", 5, "served", &response);
        assert_eq!(v["model"], "served");
        assert_eq!(v["usage"]["total_tokens"], 5);
        let m = &v["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null);
        assert_eq!(m["reasoning_content"], "hm");
        assert_eq!(m["tool_calls"][0]["id"], "call_0");
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(finish_reason(FinishReason::Other), "stop");
    }

    #[test]
    fn encoder_fills_in_what_was_not_streamed() {
        let mut e = ChunkEncoder::new("id".into(), 1, "served".into(), true);
        let data = |frame: &str| -> Value {
            serde_json::from_str(frame.strip_prefix("data: ").unwrap().trim()).unwrap()
        };
        assert_eq!(data(&e.start())["choices"][0]["delta"]["role"], "assistant");
        assert!(e.event(StreamEvent::TextDelta(String::new())).is_empty());
        let f = e.event(StreamEvent::TextDelta("Hel".into()));
        assert_eq!(data(&f[0])["choices"][0]["delta"]["content"], "Hel");
        let first = ToolCall::new("a", "f", "{}");
        e.event(StreamEvent::ToolCall(first.clone()));
        let response = ChatResponse {
            message: Message::new(
                Role::Assistant,
                vec![
                    Part::Text("Hello".into()),
                    Part::ToolCall(first),
                    Part::ToolCall(ToolCall::new("b", "g", r#"{"x":1}"#)),
                ],
            ),
            finish_reason: FinishReason::ToolCalls,
            usage: Usage::default(),
            model: "real".into(),
        };
        let frames: Vec<Value> = e
            .event(StreamEvent::Done(response))
            .iter()
            .map(|f| data(f))
            .collect();
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert_eq!(frames[0]["choices"][0]["delta"]["content"], "lo");
        let call = &frames[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["index"], 1);
        assert_eq!(call["id"], "b");
        assert_eq!(frames[2]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(frames[2]["model"], "real");
        assert_eq!(frames[3]["choices"], json!([]));
        assert!(e.is_finished());
        assert!(e.event(StreamEvent::TextDelta("late".into())).is_empty());
    }
}
