//! The Chat Completions wire format, server side: request JSON to a
//! [`ChatRequest`], and a [`ChatResponse`] or a stream of [`StreamEvent`]s
//! back to response JSON and SSE chunks.
//!
//! The wire types are the ones Weft's own OpenAI client uses
//! ([`weft_providers::openai::wire`]): a request is read into
//! [`request::ChatCompletionRequest`] (a value of the wrong JSON type is a
//! 400 naming its path, through `serde_path_to_error`), then mapped and
//! checked here (missing fields, values out of range, roles, tool names);
//! answers are written as [`response::ChatCompletion`] and
//! [`response::ChatCompletionChunk`] with the standard [`response::Usage`].
//!
//! This is the inverse of the client mapping in `weft-providers`, so a
//! conversation survives a round trip through Weft's own OpenAI client and
//! this server unchanged, with two documented exceptions that follow from
//! the wire format itself:
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

use response::Text;
use serde::Serialize;
use serde_json::{Map, Value, json};
use serde_path_to_error::Segment;
use weft_model::types::{
    ChatRequest, ChatResponse, FinishReason, JsonSchemaFormat, Message, Part, ProviderOption,
    Reasoning, ResponseFormat, Role, StreamEvent, ToolCall, ToolChoice, ToolResult, ToolSpec,
    Usage,
};
use weft_providers::openai::wire::Arguments;
pub use weft_providers::openai::wire::{request, response};

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

    fn wrong_type(param: impl Into<String>, expected: &str, got: &str) -> Self {
        let param = param.into();
        Self {
            message: format!("Invalid type for '{param}': expected {expected}, but got {got}."),
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

    /// The error of the typed read of `body`, at the path it names. The
    /// readers say what they expected (`expected an array`); what was
    /// found is looked up in `body`.
    fn from_read(e: &serde_path_to_error::Error<serde_json::Error>, body: &Value) -> Self {
        let path = e.path();
        let param = if path.iter().next().is_none() {
            String::new()
        } else {
            path.to_string()
        };
        let found = path.iter().try_fold(body, |v, segment| match segment {
            Segment::Seq { index } => v.get(*index),
            Segment::Map { key } => v.get(key.as_str()),
            _ => None,
        });
        let inner = e.inner().to_string();
        let expected = |rest: &str| {
            rest.rsplit_once(", expected ")
                .map_or_else(|| rest.to_owned(), |(_, x)| x.to_owned())
        };
        if let Some(rest) = inner.strip_prefix("invalid type: ") {
            let got = found.map_or("something else", kind);
            Self::wrong_type(param, &expected(rest), got)
        } else if let Some(rest) = inner.strip_prefix("invalid value: ") {
            let got = found.map_or_else(|| "something else".to_owned(), Value::to_string);
            Self::bad_value(param, format!("expected {}, got {got}.", expected(rest)))
        } else {
            Self::bad_value(param, inner)
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

/// The `model` a request body names (read first, to pick the model before
/// the rest of the body is checked).
pub fn requested_model(body: &Value) -> Result<&str, InvalidRequest> {
    let obj = body.as_object().ok_or_else(|| InvalidRequest {
        param: String::new(),
        message: format!(
            "The request body must be a JSON object, but it is {}.",
            kind(body)
        ),
        code: "invalid_type",
    })?;
    match obj.get("model").filter(|v| !v.is_null()) {
        None => Err(InvalidRequest::missing("model")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        Some(Value::String(_)) => Err(InvalidRequest::bad_value(
            "model",
            "the model name is empty.",
        )),
        Some(other) => Err(InvalidRequest::wrong_type("model", "a string", kind(other))),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A string that must be there and not be empty.
fn nonempty(value: Option<String>, path: String) -> Result<String, InvalidRequest> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(InvalidRequest::bad_value(path, "it is empty.")),
        None => Err(InvalidRequest::missing(path)),
    }
}

/// A JSON Schema, which must be an object, as text.
fn schema_text(schema: Value, path: String) -> Result<String, InvalidRequest> {
    match schema {
        s @ Value::Object(_) => Ok(s.to_string()),
        other => Err(InvalidRequest::wrong_type(
            path,
            "a JSON Schema object",
            kind(&other),
        )),
    }
}

/// The text of a `content` (or reasoning) value: the string, or the text
/// parts joined. `None` when absent.
fn content_text(
    content: Option<request::Content>,
    path: &str,
) -> Result<Option<String>, InvalidRequest> {
    let parts = match content {
        None => return Ok(None),
        Some(request::Content::Text(s)) => return Ok(Some(s)),
        Some(request::Content::Parts(parts)) => parts,
    };
    let mut text = String::new();
    for (j, part) in parts.into_iter().enumerate() {
        let part = match part {
            request::ContentPart::Text(s) => {
                text.push_str(&s);
                continue;
            }
            request::ContentPart::Part(p) => p,
        };
        let item_path = format!("{path}[{j}]");
        let ty = part.kind.as_deref().unwrap_or("text");
        if ty != "text" {
            return Err(InvalidRequest::bad_value(
                join(&item_path, "type"),
                format!(
                    "content parts of type `{ty}` are not supported: this server takes text only."
                ),
            ));
        }
        match part.text {
            Some(s) => text.push_str(&s),
            None => return Err(InvalidRequest::missing(join(&item_path, "text"))),
        }
    }
    Ok(Some(text))
}

fn required_content(
    content: Option<request::Content>,
    path: &str,
) -> Result<String, InvalidRequest> {
    let path = join(path, "content");
    content_text(content, &path)?.ok_or_else(|| InvalidRequest::missing(path))
}

fn tool_call(c: request::ToolCall, path: &str) -> Result<ToolCall, InvalidRequest> {
    if let Some(ty) = &c.kind
        && ty != "function"
    {
        return Err(InvalidRequest::bad_value(
            join(path, "type"),
            format!("only `function` tool calls are supported, not `{ty}`."),
        ));
    }
    let id = nonempty(c.id, join(path, "id"))?;
    let fpath = join(path, "function");
    let function = c.function.ok_or_else(|| InvalidRequest::missing(&fpath))?;
    let name = nonempty(function.name, join(&fpath, "name"))?;
    let apath = join(&fpath, "arguments");
    let arguments = match function.arguments {
        None => "{}".to_owned(),
        Some(Arguments::Text(s)) if s.trim().is_empty() => "{}".to_owned(),
        Some(Arguments::Text(s)) => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&s) {
                return Err(InvalidRequest::bad_value(
                    apath,
                    format!("the arguments are not valid JSON ({e})."),
                ));
            }
            s
        }
        // Some clients send the arguments as an object.
        Some(Arguments::Json(v @ Value::Object(_))) => v.to_string(),
        Some(Arguments::Json(other)) => {
            return Err(InvalidRequest::wrong_type(
                apath,
                "a JSON string",
                kind(&other),
            ));
        }
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

fn assistant_message(
    m: request::Message,
    path: &str,
    provider: &str,
) -> Result<Message, InvalidRequest> {
    let mut parts = Vec::new();
    let reasoning = match content_text(m.reasoning_content, &join(path, "reasoning_content"))? {
        Some(r) => Some(r),
        None => content_text(m.reasoning, &join(path, "reasoning"))?,
    };
    if let Some(text) = reasoning.filter(|r| !r.is_empty()) {
        parts.push(Part::Reasoning(Reasoning {
            text,
            signature: None,
            provider: Some(provider.to_owned()),
            redacted: false,
        }));
    }
    let content = content_text(m.content, &join(path, "content"))?;
    let calls_path = join(path, "tool_calls");
    let calls = m
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(j, c)| tool_call(c, &format!("{calls_path}[{j}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(text) = content.filter(|t| !t.is_empty() || calls.is_empty()) {
        parts.push(Part::Text(text));
    }
    parts.extend(calls.into_iter().map(Part::ToolCall));
    Ok(Message::new(Role::Assistant, parts))
}

fn messages(
    items: Option<Vec<request::Message>>,
    provider: &str,
) -> Result<Vec<Message>, InvalidRequest> {
    let items = items.ok_or_else(|| InvalidRequest::missing("messages"))?;
    if items.is_empty() {
        return Err(InvalidRequest::bad_value(
            "messages",
            "at least one message is required.",
        ));
    }
    let mut out: Vec<Message> = Vec::with_capacity(items.len());
    for (i, mut m) in items.into_iter().enumerate() {
        let path = format!("messages[{i}]");
        let role_path = join(&path, "role");
        let role = m
            .role
            .take()
            .ok_or_else(|| InvalidRequest::missing(&role_path))?;
        match role {
            request::Role::System | request::Role::Developer => {
                out.push(Message::system(required_content(m.content, &path)?))
            }
            request::Role::User => out.push(Message::user(required_content(m.content, &path)?)),
            request::Role::Assistant => out.push(assistant_message(m, &path, provider)?),
            request::Role::Tool => {
                let call_id = nonempty(m.tool_call_id, join(&path, "tool_call_id"))?;
                let content = content_text(m.content, &join(&path, "content"))?.unwrap_or_default();
                let result = Part::ToolResult(ToolResult::ok(call_id, content));
                match out.last_mut() {
                    Some(last) if last.role == Role::Tool => last.parts.push(result),
                    _ => out.push(Message::new(Role::Tool, vec![result])),
                }
            }
            request::Role::Function => {
                return Err(InvalidRequest::bad_value(
                    role_path,
                    "the legacy `function` role is not supported; send tool results as `tool` messages.",
                ));
            }
            request::Role::Other(other) => {
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

fn tools(items: Option<Vec<request::Tool>>) -> Result<Vec<ToolSpec>, InvalidRequest> {
    let items = items.unwrap_or_default();
    let mut out: Vec<ToolSpec> = Vec::with_capacity(items.len());
    for (i, t) in items.into_iter().enumerate() {
        let path = format!("tools[{i}]");
        if let Some(ty) = &t.kind
            && ty != "function"
        {
            return Err(InvalidRequest::bad_value(
                join(&path, "type"),
                format!("only `function` tools are supported, not `{ty}`."),
            ));
        }
        let fpath = join(&path, "function");
        let function = t.function.ok_or_else(|| InvalidRequest::missing(&fpath))?;
        let name = nonempty(function.name, join(&fpath, "name"))?;
        if out.iter().any(|t| t.name == name) {
            return Err(InvalidRequest::bad_value(
                join(&fpath, "name"),
                format!("the tool name `{name}` is used twice."),
            ));
        }
        let input_schema = match function.parameters {
            None => json!({"type": "object", "properties": {}}).to_string(),
            Some(p) => schema_text(p, join(&fpath, "parameters"))?,
        };
        out.push(ToolSpec {
            name,
            description: function.description.unwrap_or_default(),
            input_schema,
            output_schema: None,
        });
    }
    Ok(out)
}

fn tool_choice(
    choice: Option<request::ToolChoice>,
    tools: &[ToolSpec],
) -> Result<ToolChoice, InvalidRequest> {
    let choice = match choice {
        None => ToolChoice::Auto,
        Some(request::ToolChoice::Mode(s)) => match s.as_str() {
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
        Some(request::ToolChoice::Named(named)) => {
            if let Some(ty) = &named.kind
                && ty != "function"
            {
                return Err(InvalidRequest::bad_value(
                    "tool_choice.type",
                    format!("only `function` can be named, not `{ty}`."),
                ));
            }
            let function = named
                .function
                .ok_or_else(|| InvalidRequest::missing("tool_choice.function"))?;
            let name = nonempty(function.name, "tool_choice.function.name".into())?;
            if !tools.iter().any(|t| t.name == name) {
                return Err(InvalidRequest::bad_value(
                    "tool_choice.function.name",
                    format!("the tool `{name}` is not among the request's `tools`."),
                ));
            }
            ToolChoice::Named(name)
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

fn response_format(
    format: Option<request::ResponseFormat>,
) -> Result<ResponseFormat, InvalidRequest> {
    let Some(format) = format else {
        return Ok(ResponseFormat::Text);
    };
    match format.kind.as_deref() {
        None => Err(InvalidRequest::missing("response_format.type")),
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let path = "response_format.json_schema";
            let f = format
                .json_schema
                .ok_or_else(|| InvalidRequest::missing(path))?;
            let schema = match f.schema {
                Some(s) => schema_text(s, join(path, "schema"))?,
                None => return Err(InvalidRequest::missing(join(path, "schema"))),
            };
            Ok(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: f.name.unwrap_or_else(|| "response".into()),
                schema,
                strict: f.strict.unwrap_or(false),
            }))
        }
        Some(other) => Err(InvalidRequest::bad_value(
            "response_format.type",
            format!("`{other}` is not one of `text`, `json_object` or `json_schema`."),
        )),
    }
}

fn stop(stop: Option<request::Stop>) -> Vec<String> {
    match stop {
        None => Vec::new(),
        Some(request::Stop::One(s)) => (!s.is_empty()).then_some(s).into_iter().collect(),
        Some(request::Stop::Many(all)) => all.into_iter().filter(|s| !s.is_empty()).collect(),
    }
}

fn sampling_value(
    value: Option<f64>,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<f32>, InvalidRequest> {
    match value {
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
    let wire: request::ChatCompletionRequest =
        serde_path_to_error::deserialize(body).map_err(|e| InvalidRequest::from_read(&e, body))?;
    let messages = messages(wire.messages, provider)?;
    let tools = tools(wire.tools)?;
    let tool_choice = tool_choice(wire.tool_choice, &tools)?;
    let response_format = response_format(wire.response_format)?;

    let mut chat = ChatRequest::new(messages)
        .with_tools(tools)
        .with_tool_choice(tool_choice)
        .with_response_format(response_format);
    let s = &mut chat.sampling;
    s.temperature = sampling_value(wire.temperature, "temperature", 0.0..=f64::MAX)?;
    s.top_p = sampling_value(wire.top_p, "top_p", 0.0..=1.0)?;
    s.frequency_penalty = sampling_value(
        wire.frequency_penalty,
        "frequency_penalty",
        f64::MIN..=f64::MAX,
    )?;
    s.presence_penalty = sampling_value(
        wire.presence_penalty,
        "presence_penalty",
        f64::MIN..=f64::MAX,
    )?;
    s.top_k = wire.top_k;
    s.seed = wire.seed;
    let (max_key, max) = match wire.max_completion_tokens {
        Some(max) => ("max_completion_tokens", Some(max)),
        None => ("max_tokens", wire.max_tokens),
    };
    chat.max_output_tokens = match max {
        Some(0) => return Err(InvalidRequest::bad_value(max_key, "it must be at least 1.")),
        max => max,
    };
    chat.stop = stop(wire.stop);

    let mut extensions = Map::new();
    for (key, value) in [
        ("min_p", wire.min_p),
        ("repetition_penalty", wire.repetition_penalty),
    ] {
        if let Some(v) = value {
            extensions.insert(key.into(), v.into());
        }
    }
    if !extensions.is_empty() {
        chat.provider_options.push(ProviderOption {
            provider: provider.to_owned(),
            json: Value::Object(extensions).to_string(),
        });
    }

    if let Some(n) = wire.n
        && n != 1
    {
        return Err(InvalidRequest::bad_value(
            "n",
            format!("only one choice per request is supported, not {n}."),
        ));
    }
    Ok(CompletionRequest {
        model,
        stream: wire.stream.unwrap_or(false),
        include_usage: wire
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
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

/// The wire `usage`, with the cache and reasoning buckets in
/// `prompt_tokens_details` and `completion_tokens_details`.
pub fn usage(u: &Usage) -> response::Usage {
    response::Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.total_tokens(),
        prompt_tokens_details: response::PromptTokensDetails {
            cached_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
        },
        completion_tokens_details: response::CompletionTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
    }
}

fn wire_tool_call(index: usize, c: &ToolCall, with_index: bool) -> response::ToolCall {
    let id = if c.id.is_empty() {
        format!("call_{index}")
    } else {
        c.id.clone()
    };
    response::ToolCall {
        index: with_index.then_some(index as u64),
        id: Some(id),
        kind: Some("function".into()),
        function: Some(response::FunctionCall {
            name: Some(c.name.clone()),
            arguments: Some(Arguments::Text(c.arguments.clone())),
        }),
    }
}

/// The wire assistant `message` of an answer: text parts joined into
/// `content` (`null` when the turn only calls tools), reasoning text joined
/// into `reasoning_content`, and `tool_calls`.
pub fn message(m: &Message) -> response::AssistantMessage {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in &m.parts {
        match part {
            Part::Text(t) => content.push_str(t),
            Part::Reasoning(r) => reasoning.push_str(&r.text),
            Part::ToolCall(c) => calls.push(wire_tool_call(calls.len(), c, false)),
            Part::ToolResult(_) => {}
        }
    }
    response::AssistantMessage {
        role: Some("assistant".into()),
        content: (!content.is_empty() || calls.is_empty()).then_some(Text(content)),
        reasoning_content: (!reasoning.is_empty()).then_some(Text(reasoning)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Default::default()
    }
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
pub fn completion_json(
    id: &str,
    created: u64,
    served: &str,
    response: &ChatResponse,
) -> response::ChatCompletion<response::Usage> {
    response::ChatCompletion {
        id: Some(id.to_owned()),
        object: Some("chat.completion".into()),
        created: Some(created),
        model: Some(reported_model(served, response).to_owned()),
        choices: Some(vec![response::Choice {
            index: Some(0),
            message: Some(message(&response.message)),
            logprobs: (),
            finish_reason: Some(finish_reason(response.finish_reason).into()),
        }]),
        usage: Some(usage(&response.usage)),
        ..Default::default()
    }
}

/// One Server-Sent Events frame: `data: {json}` and a blank line.
pub fn sse_frame<T: Serialize + ?Sized>(data: &T) -> String {
    // Plain data structs and `Value`s always serialize; should one not,
    // the frame still reports an error instead of breaking the stream.
    let json = serde_json::to_string(data).unwrap_or_else(|e| {
        json!({"error": {"message": format!("the server could not write this frame: {e}"), "type": "server_error"}})
            .to_string()
    });
    format!("data: {json}\n\n")
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

    fn frame(
        &self,
        choices: Vec<response::ChunkChoice<response::Usage>>,
        usage: Option<response::Usage>,
    ) -> String {
        sse_frame(&response::ChatCompletionChunk {
            id: Some(self.id.clone()),
            object: Some("chat.completion.chunk".into()),
            created: Some(self.created),
            model: Some(self.model.clone()),
            choices: Some(choices),
            usage,
            ..Default::default()
        })
    }

    fn chunk(&self, delta: response::Delta, finish: Option<&str>) -> String {
        let choice = response::ChunkChoice {
            index: Some(0),
            delta: Some(delta),
            logprobs: (),
            finish_reason: finish.map(str::to_owned),
            usage: None,
        };
        self.frame(vec![choice], None)
    }

    fn text_chunk(&self, text: &str) -> String {
        self.chunk(
            response::Delta {
                content: Some(Text(text.to_owned())),
                ..Default::default()
            },
            None,
        )
    }

    fn reasoning_chunk(&self, reasoning: &str) -> String {
        self.chunk(
            response::Delta {
                reasoning_content: Some(Text(reasoning.to_owned())),
                ..Default::default()
            },
            None,
        )
    }

    /// The opening frame: the assistant role with empty content.
    pub fn start(&self) -> String {
        self.chunk(
            response::Delta {
                role: Some("assistant".into()),
                content: Some(Text::default()),
                ..Default::default()
            },
            None,
        )
    }

    /// True once [`StreamEvent::Done`] was encoded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn call_frame(&mut self, call: &ToolCall) -> String {
        let delta = response::Delta {
            tool_calls: Some(vec![wire_tool_call(self.next_index, call, true)]),
            ..Default::default()
        };
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
                let frame = self.text_chunk(&t);
                self.text.push_str(&t);
                vec![frame]
            }
            StreamEvent::ReasoningDelta(r) if r.is_empty() => Vec::new(),
            StreamEvent::ReasoningDelta(r) => {
                let frame = self.reasoning_chunk(&r);
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
            frames.push(self.reasoning_chunk(rest));
        }
        let text = response.text();
        if let Some(rest) = text.strip_prefix(self.text.as_str())
            && !rest.is_empty()
        {
            frames.push(self.text_chunk(rest));
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
        frames.push(self.chunk(
            response::Delta::default(),
            Some(finish_reason(response.finish_reason)),
        ));
        if self.include_usage {
            frames.push(self.frame(Vec::new(), Some(usage(&response.usage))));
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
    fn type_errors_say_what_was_expected_and_found() {
        let with = |key: &str, v: Value| {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            b[key] = v;
            parse(b).unwrap_err()
        };
        let cases = [
            (
                with("messages", json!([["user", "hi"]])),
                "Invalid type for 'messages[0]': expected an object, but got an array.",
                "invalid_type",
            ),
            (
                with("messages", json!([{"role": "user", "content": 5}])),
                "Invalid type for 'messages[0].content': expected a string or an array of text parts, but got a number.",
                "invalid_type",
            ),
            (
                with("messages", json!([{"role": "user", "content": [null]}])),
                "Invalid type for 'messages[0].content[0]': expected a text part, but got null.",
                "invalid_type",
            ),
            (
                with("temperature", json!("hot")),
                "Invalid type for 'temperature': expected a number, but got a string.",
                "invalid_type",
            ),
            (
                with("stop", json!([1])),
                "Invalid type for 'stop[0]': expected a string, but got a number.",
                "invalid_type",
            ),
            (
                with("seed", json!(-3)),
                "Invalid value for 'seed': expected a non-negative integer, got -3.",
                "invalid_value",
            ),
            (
                with("max_tokens", json!(1.5)),
                "Invalid value for 'max_tokens': expected a non-negative integer, got 1.5.",
                "invalid_value",
            ),
            (
                with("top_k", json!(5_000_000_000u64)),
                "Invalid value for 'top_k': 5000000000 is larger than 4294967295.",
                "invalid_value",
            ),
            (
                with("tool_choice", json!(5)),
                "Invalid type for 'tool_choice': expected a string or an object, but got a number.",
                "invalid_type",
            ),
        ];
        for (err, message, code) in cases {
            assert_eq!((err.message.as_str(), err.code), (message, code), "{err:?}");
        }
        // Fields this server does not use are not checked.
        let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "hi",
            "reasoning_details": 5}]});
        b["parallel_tool_calls"] = json!("yes");
        b["tool_stream"] = json!([]);
        b["user"] = json!(5);
        assert!(parse(b).is_ok());
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
                charge: None,
            },
            model: String::new(),
        };
        let v =
            serde_json::to_value(completion_json("chatcmpl-1", 5, "served", &response)).unwrap();
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
