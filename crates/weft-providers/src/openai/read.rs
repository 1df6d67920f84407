//! Reading Chat Completions answers: a whole [`wire::ChatCompletion`] as a
//! [`ChatResponse`], and the pieces the stream decoder shares with it.

use serde_json::Value;
use weft_model::types::{
    ChatResponse, FinishReason, Message, ModelError, Part, Reasoning, Role, ToolCall, Usage,
};

use super::think::{Piece, ThinkSplitter};
use super::wire::Arguments;
use super::wire::response::{self as wire, Text, has_inline_error};
use crate::catalog::{Profile, UsageFields};
use crate::http_error::{classify_inline_for, truncate};
use crate::wire_util::{finish_arguments, first_u64, read_body};

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
/// fields count as zero); anything but an object is no usage.
pub(crate) fn parse_usage(u: Option<&Value>, fields: &UsageFields) -> Option<Usage> {
    let u = u.filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: first_u64(u, &fields.input).unwrap_or(0),
        output_tokens: first_u64(u, &fields.output).unwrap_or(0),
        cache_read_tokens: first_u64(u, &fields.cache_read).unwrap_or(0),
        cache_write_tokens: first_u64(u, &fields.cache_write).unwrap_or(0),
        reasoning_tokens: first_u64(u, &fields.reasoning).unwrap_or(0),
        charge: None,
    })
}

/// The text of a `content` or reasoning field (empty when absent).
pub(crate) fn text_of(t: Option<Text>) -> String {
    t.map(|t| t.0).unwrap_or_default()
}

/// The reasoning text of a message or delta: `reasoning_content`, or
/// `reasoning` as vLLM, Ollama and OpenRouter name it.
pub(crate) fn reasoning_of(reasoning_content: Option<Text>, reasoning: Option<Text>) -> String {
    let r = text_of(reasoning_content);
    if r.is_empty() { text_of(reasoning) } else { r }
}

/// The text of a `reasoning_details` element.
pub(crate) fn detail_text(d: &Value) -> &str {
    d.get("text").and_then(Value::as_str).unwrap_or_default()
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

/// Tool-call arguments as text: a string as it is, an object (some
/// servers) as JSON, nothing as empty.
pub(crate) fn arguments_of(function: Option<&mut wire::FunctionCall>) -> String {
    function
        .and_then(|f| f.arguments.take())
        .map(Arguments::into_text)
        .unwrap_or_default()
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
    let v: wire::ChatCompletion = read_body(provider, body)?;
    if has_inline_error(v.error, v.base_resp.as_ref()) {
        return Err(classify_inline_for(profile, provider, body));
    }
    let choice = v
        .choices
        .and_then(|c| c.into_iter().next())
        .ok_or_else(|| {
            ModelError::Transport(format!(
                "{provider}: invalid response: no `choices`: {}",
                truncate(body, 500)
            ))
        })?;
    let message = choice.message.unwrap_or_default();
    let raw_finish = choice.finish_reason.as_deref();

    let mut parts = Vec::new();
    let reasoning = reasoning_of(message.reasoning_content, message.reasoning);
    if !reasoning.is_empty() {
        parts.push(reasoning_part(provider, reasoning));
    }
    for d in message.reasoning_details.iter().flatten() {
        parts.push(Part::Reasoning(Reasoning {
            text: detail_text(d).to_owned(),
            signature: Some(detail_meta(d)),
            provider: Some(provider.to_owned()),
            redacted: false,
        }));
    }
    push_content(
        &mut parts,
        text_of(message.content),
        profile.think_tags,
        provider,
    );
    let mut has_calls = false;
    for (i, mut c) in message.tool_calls.into_iter().flatten().enumerate() {
        let id =
            c.id.filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("call_{i}"));
        let name = c
            .function
            .as_mut()
            .and_then(|f| f.name.take())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(ModelError::Transport(format!(
                "{provider}: invalid response: tool call {i} (id `{id}`) has no name"
            )));
        }
        let arguments = finish_arguments(
            provider,
            &id,
            &name,
            arguments_of(c.function.as_mut()),
            raw_finish == Some("length"),
        )?;
        parts.push(Part::ToolCall(ToolCall {
            id,
            name,
            arguments,
        }));
        has_calls = true;
    }
    Ok(ChatResponse {
        message: Message::new(Role::Assistant, parts),
        finish_reason: finish_reason(raw_finish, has_calls),
        usage: parse_usage(v.usage.as_ref(), &profile.usage).unwrap_or_default(),
        model: v
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| fallback_model.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;
    use serde_json::json;

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
                reasoning_tokens: 2,
                charge: None,
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

    #[test]
    fn fields_of_unexpected_types_count_as_absent() {
        let profile = catalog().profile_or_generic("vllm").clone();
        let body = json!({"model": 5, "usage": "none", "choices": [{"finish_reason": 7, "message": {
            "content": [{"type": "text", "text": "a"}, "b", {"text": 5}, 3],
            "reasoning_content": {"x": 1}, "reasoning": [{"text": "r"}],
            "tool_calls": [{"id": 9, "function": {"name": "f", "arguments": {"b": 1, "a": [2]}}}],
        }}]})
        .to_string();
        let r = parse_response(&body, "vllm", &profile, "fallback").unwrap();
        assert_eq!(r.model, "fallback");
        assert_eq!(r.text(), "ab");
        assert_eq!(r.reasoning_text(), "r");
        assert_eq!(
            r.tool_calls(),
            vec![&ToolCall::new("call_0", "f", r#"{"a":[2],"b":1}"#)]
        );
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage, Usage::default());
    }
}
