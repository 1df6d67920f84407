//! One `tracing` span per model call, with the OpenTelemetry GenAI
//! attributes, and redaction of anything secret-looking.
//!
//! Each call (each attempt, behind a router) gets a span named `gen_ai.chat`
//! carrying:
//!
//! | field | value |
//! | --- | --- |
//! | `otel.name` | `chat {request model}` |
//! | `otel.kind` | `client` |
//! | `gen_ai.operation.name` | `chat` |
//! | `gen_ai.system`, `gen_ai.provider.name` | the provider (`deepseek`, ...) |
//! | `gen_ai.request.model` | the model asked for |
//! | `gen_ai.request.max_tokens` | the output limit, when set |
//! | `gen_ai.response.model` | the model that answered |
//! | `gen_ai.response.finish_reasons` | why it stopped |
//! | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` | usage |
//! | `gen_ai.usage.cache_read.input_tokens` | prompt tokens read from cache |
//! | `gen_ai.usage.cache_creation.input_tokens` | prompt tokens written to cache |
//! | `gen_ai.usage.reasoning.output_tokens` | output tokens spent reasoning |
//! | `weft.cost.usd`, `weft.cost.amount`, `weft.cost.currency` | the call's cost |
//! | `weft.model` | the caller's name for the model (the router's, or the model's own) |
//! | `weft.attempt` | 1 for the first try, 2 for the first retry, ... |
//! | `weft.stream` | whether the call streamed |
//! | `error.type` | the [`weft_model::ErrorKind`] of a failure |
//!
//! Spans never carry prompts, answers, provider options or error messages
//! (which can echo credentials): only names, counts, costs and error kinds.
//! With the `otlp` feature, `weft_meter::otlp` exports them.

use tracing::Span;
use tracing::field::Empty;
use weft_model::{ChatRequest, ChatResponse, FinishReason, ModelError};

use crate::cost::Cost;

/// What a span needs to know about the model being called.
pub struct CallInfo<'a> {
    /// The model's name in the caller's configuration.
    pub name: &'a str,
    /// The provider (`gen_ai.provider.name`).
    pub provider: &'a str,
    /// The requested model (`gen_ai.request.model`).
    pub model: &'a str,
}

/// Opens the `gen_ai.chat` span for one model call (one attempt).
pub fn call_span(info: &CallInfo<'_>, request: &ChatRequest, attempt: u32, stream: bool) -> Span {
    let span = tracing::info_span!(
        "gen_ai.chat",
        otel.name = %format_args!("chat {}", info.model),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.system = %info.provider,
        gen_ai.provider.name = %info.provider,
        gen_ai.request.model = %info.model,
        gen_ai.request.max_tokens = Empty,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.usage.reasoning.output_tokens = Empty,
        weft.cost.usd = Empty,
        weft.cost.amount = Empty,
        weft.cost.currency = Empty,
        weft.model = %info.name,
        weft.attempt = attempt,
        weft.stream = stream,
        error.type = Empty,
    );
    if let Some(max) = request.max_output_tokens {
        span.record("gen_ai.request.max_tokens", max);
    }
    span
}

fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Other => "other",
    }
}

/// Records a finished answer (and its cost, when known) on a call span.
pub fn record_response(span: &Span, response: &ChatResponse, cost: Option<&Cost>) {
    let u = &response.usage;
    span.record("gen_ai.response.model", response.model.as_str());
    span.record(
        "gen_ai.response.finish_reasons",
        finish_reason(response.finish_reason),
    );
    span.record("gen_ai.usage.input_tokens", u.input_tokens);
    span.record("gen_ai.usage.output_tokens", u.output_tokens);
    span.record("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens);
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        u.cache_write_tokens,
    );
    span.record("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens);
    if let Some(c) = cost {
        span.record("weft.cost.usd", c.usd);
        span.record("weft.cost.amount", c.amount);
        span.record("weft.cost.currency", c.currency.to_string().as_str());
    }
}

/// Records a failure on a call span: its kind only, never its message.
pub fn record_error(span: &Span, error: &ModelError) {
    span.record("error.type", error.kind().as_str());
    span.record("otel.status_code", "ERROR");
}

/// Masks anything in `text` that looks like a credential: words starting
/// with a common key prefix (`sk-`, `sk_`, `pk-`, `xai-`, `ghp_`, `AIza`,
/// `Bearer`'s argument, `api_key=`...) and any run of 32 or more
/// key-like characters. Used on error messages before they are kept in a
/// router's decision record.
pub fn redact(text: &str) -> String {
    const PREFIXES: [&str; 9] = [
        "sk-", "sk_", "pk-", "pk_", "xai-", "ghp_", "AIza", "ak-", "rk-",
    ];
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_matches(|c: char| "\"'`,;.()[]{}<>".contains(c));
        let lower = core.to_ascii_lowercase();
        let keyish = |s: &str| {
            s.len() >= 32
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.=+/".contains(c))
        };
        let (label, value) = match core.split_once(['=', ':']) {
            Some((k, v)) if !v.is_empty() => (Some(k), v),
            _ => (None, core),
        };
        let secret_label = label.is_some_and(|k| {
            let k = k.to_ascii_lowercase();
            k.contains("key") || k.contains("token") || k.contains("secret") || k == "password"
        });
        let masked = mask_next
            || secret_label
            || PREFIXES
                .iter()
                .any(|p| value.starts_with(p) && value.len() > p.len() + 3)
            || keyish(value);
        mask_next = lower == "bearer";
        if masked && !core.is_empty() {
            out.push_str(&word.replace(core, "[redacted]"));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_credentials() {
        let s = redact("Incorrect API key provided: sk-abcdef123456. See docs");
        assert_eq!(s, "Incorrect API key provided: [redacted]. See docs");
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(redact("api_key=hunter2 bad"), "[redacted] bad");
        assert_eq!(
            redact("token 0123456789abcdef0123456789abcdef0 expired"),
            "token [redacted] expired"
        );
        assert_eq!(redact("rate limited, slow down"), "rate limited, slow down");
    }
}
