//! Chat Completions request bodies: an adapted [`ChatRequest`] as a
//! [`wire::ChatCompletionRequest`], under a provider profile.

use serde_json::{Map, Value};
use weft_model::types::{ChatRequest, Message, ModelError, Part, ResponseFormat, Role, ToolChoice};

use super::wire::Arguments;
use super::wire::request::{self as wire, Content};
use crate::catalog::{ModelCaps, Profile, ReasoningReplay};
use crate::wire_util::{
    apply_provider_options, f32_wire, input_schema, invalid, is_own, parse_json_text, to_object,
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

fn part_kind(part: &Part) -> &'static str {
    match part {
        Part::Text(_) => "text",
        Part::Reasoning(_) => "reasoning",
        Part::ToolCall(_) => "tool_call",
        Part::ToolResult(_) => "tool_result",
    }
}

fn text_message(role: wire::Role, text: String) -> wire::Message {
    wire::Message {
        role: Some(role),
        content: Some(Content::Text(text)),
        ..Default::default()
    }
}

fn tool_message(call_id: &str, content: &str, is_error: bool) -> wire::Message {
    let content = if is_error {
        format!("Error: {content}")
    } else {
        content.to_owned()
    };
    wire::Message {
        tool_call_id: Some(call_id.to_owned()),
        ..text_message(wire::Role::Tool, content)
    }
}

/// Split-out reasoning (`reasoning_details`) as MiniMax sent it: its
/// metadata travels in the part's `signature`, its text beside it.
fn reasoning_detail(meta: &str, text: &str) -> Value {
    let mut d = match serde_json::from_str::<Value>(meta) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    d.insert("text".into(), text.into());
    Value::Object(d)
}

fn tool_call(c: &weft_model::types::ToolCall) -> wire::ToolCall {
    wire::ToolCall {
        id: Some(c.id.clone()),
        kind: Some("function".into()),
        function: Some(wire::FunctionCall {
            name: Some(c.name.clone()),
            arguments: Some(Arguments::Text(c.arguments.clone())),
        }),
    }
}

fn assistant_message(
    m: &Message,
    target: &Target<'_>,
    wrong: impl Fn(&Part) -> ModelError,
) -> Result<wire::Message, ModelError> {
    let mut content = String::new();
    let mut reasoning: Option<String> = None;
    let mut details = Vec::new();
    let mut calls = Vec::new();
    for p in &m.parts {
        match p {
            Part::Text(t) => content.push_str(t),
            // Only this provider's own reasoning is replayed, under the
            // model's rule (foreign reasoning was handled by the
            // adaptation).
            Part::Reasoning(r) if !is_own(r, target.provider) || r.redacted => {}
            Part::Reasoning(r) => match target.caps.reasoning_replay {
                ReasoningReplay::ReasoningContent => {
                    reasoning.get_or_insert_with(String::new).push_str(&r.text)
                }
                ReasoningReplay::ThinkTags => match &r.signature {
                    Some(meta) => details.push(reasoning_detail(meta, &r.text)),
                    None => {
                        content.push_str("<think>");
                        content.push_str(&r.text);
                        content.push_str("</think>");
                    }
                },
                _ => {}
            },
            Part::ToolCall(c) => calls.push(tool_call(c)),
            other => return Err(wrong(other)),
        }
    }
    Ok(wire::Message {
        role: Some(wire::Role::Assistant),
        content: (!content.is_empty() || calls.is_empty()).then_some(Content::Text(content)),
        reasoning_content: reasoning.map(Content::Text),
        reasoning_details: (!details.is_empty()).then_some(details),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Default::default()
    })
}

fn push_message(
    out: &mut Vec<wire::Message>,
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
            let (role, name) = if m.role == Role::System {
                (wire::Role::System, "system")
            } else {
                (wire::Role::User, "user")
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
                    other => return Err(wrong(other, name)),
                }
            }
            if !text.is_empty() || results == 0 {
                out.push(text_message(role, text));
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
        Role::Assistant => out.push(assistant_message(m, target, |p| wrong(p, "assistant"))?),
    }
    Ok(())
}

fn tools(req: &ChatRequest) -> Result<Vec<wire::Tool>, ModelError> {
    req.tools
        .iter()
        .map(|t| {
            Ok(wire::Tool {
                kind: Some("function".into()),
                function: Some(wire::FunctionDefinition {
                    name: Some(t.name.clone()),
                    description: Some(t.description.clone()),
                    parameters: Some(input_schema(t)?),
                }),
            })
        })
        .collect()
}

fn tool_choice(req: &ChatRequest) -> Result<Option<wire::ToolChoice>, ModelError> {
    let mode = |m: &str| Ok(Some(wire::ToolChoice::Mode(m.into())));
    match &req.tool_choice {
        ToolChoice::Auto => Ok(None),
        ToolChoice::None if req.tools.is_empty() => Ok(None),
        ToolChoice::None => mode("none"),
        ToolChoice::Required if req.tools.is_empty() => Err(invalid(
            "tool_choice `required` needs at least one tool".into(),
        )),
        ToolChoice::Required => mode("required"),
        ToolChoice::Named(name) => {
            if !req.tools.iter().any(|t| &t.name == name) {
                return Err(invalid(format!(
                    "tool_choice names tool `{name}`, which is not among the request's tools"
                )));
            }
            Ok(Some(wire::ToolChoice::Named(wire::NamedToolChoice {
                kind: Some("function".into()),
                function: Some(wire::FunctionName {
                    name: Some(name.clone()),
                }),
            })))
        }
    }
}

fn response_format(format: &ResponseFormat) -> Result<Option<wire::ResponseFormat>, ModelError> {
    let kind = |k: &str| Some(k.to_owned());
    Ok(match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(wire::ResponseFormat {
            kind: kind("json_object"),
            json_schema: None,
        }),
        ResponseFormat::JsonSchema(f) => {
            let schema = parse_json_text(&format!("the response schema `{}`", f.name), &f.schema)?;
            Some(wire::ResponseFormat {
                kind: kind("json_schema"),
                json_schema: Some(wire::JsonSchema {
                    name: Some(f.name.clone()),
                    schema: Some(schema),
                    strict: Some(f.strict),
                }),
            })
        }
    })
}

/// The Chat Completions request body for an adapted request.
pub(crate) fn build_body(
    req: &ChatRequest,
    target: &Target<'_>,
    stream: bool,
) -> Result<Value, ModelError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        push_message(&mut messages, i, m, target)?;
    }
    let mut body = wire::ChatCompletionRequest {
        model: Some(target.model.into()),
        messages: Some(messages),
        ..Default::default()
    };
    if !req.tools.is_empty() {
        body.tools = Some(tools(req)?);
        if target.profile.parallel_tool_calls_param && target.caps.parallel_tools {
            body.parallel_tool_calls = Some(true);
        }
        if stream && target.profile.tool_stream {
            body.tool_stream = Some(true);
        }
    }
    body.tool_choice = tool_choice(req)?;
    body.response_format = response_format(&req.response_format)?;

    let s = &req.sampling;
    body.temperature = s.temperature.and_then(f32_wire);
    body.top_p = s.top_p.and_then(f32_wire);
    body.frequency_penalty = s.frequency_penalty.and_then(f32_wire);
    body.presence_penalty = s.presence_penalty.and_then(f32_wire);
    body.top_k = s.top_k;
    body.seed = s.seed;
    // The profile names the field; any name other than the two standard
    // ones is added to the JSON below.
    let mut max_elsewhere = None;
    match target.profile.max_tokens_field.as_str() {
        "max_tokens" => body.max_tokens = req.max_output_tokens,
        "max_completion_tokens" => body.max_completion_tokens = req.max_output_tokens,
        other => max_elsewhere = req.max_output_tokens.map(|max| (other, max)),
    }
    if !req.stop.is_empty() {
        body.stop = Some(wire::Stop::Many(req.stop.clone()));
    }
    if stream {
        body.stream = Some(true);
        if target.profile.stream_usage {
            body.stream_options = Some(wire::StreamOptions {
                include_usage: Some(true),
            });
        }
    }
    let mut body = to_object(&body)?;
    if let Some((field, max)) = max_elsewhere {
        body.insert(field.to_owned(), max.into());
    }
    apply_provider_options(&mut body, req, target.provider)?;
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;
    use crate::openai::read::{parse_response, reasoning_part};
    use serde_json::json;
    use weft_model::types::Reasoning;
    use weft_model::types::{JsonSchemaFormat, ProviderOption, ToolCall, ToolResult, ToolSpec};

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
    fn a_profile_may_name_another_token_limit_field() {
        let mut profile = catalog().profile_or_generic("ollama").clone();
        profile.max_tokens_field = "num_predict".into();
        let caps = catalog().lookup("ollama", "m");
        let target = Target {
            model: "m",
            provider: "ollama",
            profile: &profile,
            caps: &caps,
        };
        let req = ChatRequest::new(vec![Message::user("x")]).with_max_output_tokens(7);
        let body = build_body(&req, &target, false).unwrap();
        assert_eq!(body["num_predict"], 7);
        assert!(body.get("max_tokens").is_none());
    }
}
