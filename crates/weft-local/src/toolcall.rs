//! Tool calls (and reasoning) parsed back out of generated text.
//!
//! Each template family teaches its model one way of writing calls:
//!
//! * [`ToolCallFormat::QwenXml`] (Qwen2.5, Qwen3, Hermes, the built-in
//!   ChatML): one JSON object per `<tool_call>` block, anywhere in the
//!   answer, possibly several:
//!   `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`.
//! * [`ToolCallFormat::Llama3Json`] (Llama 3.1, 3.2, 3.3): the whole answer
//!   is `{"name": "f", "parameters": {...}}`, optionally after
//!   `<|python_tag|>`, several separated by `;`.
//!
//! A `<think>...</think>` block (Qwen3, DeepSeek-R1 distills) becomes the
//! reasoning, whatever the format. Calls get deterministic ids (`call_0`,
//! `call_1`, ... in order) and their arguments are re-serialised as compact
//! JSON text, keys and numbers exactly as the model wrote them. A block whose
//! JSON does not parse stays in the text, so nothing is lost, and is reported
//! in [`Parsed::malformed`].

use weft_model::ToolCall;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const PYTHON_TAG: &str = "<|python_tag|>";

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolCallFormat {
    /// `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks
    /// (Qwen, Hermes, ChatML).
    QwenXml,
    /// The whole answer is `{"name": ..., "parameters": {...}}`, optionally
    /// after `<|python_tag|>`, several separated by `;` (Llama 3.x).
    Llama3Json,
    /// The template teaches no tool calls.
    #[default]
    None,
}

/// A call the model tried to write whose JSON is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedCall {
    /// The text of the attempted call (kept in [`Parsed::text`] as well).
    pub raw: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Generated text split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The answer's text, without the reasoning and the well-formed calls.
    pub text: String,
    /// The `<think>` block's content, if there was one.
    pub reasoning: Option<String>,
    /// The well-formed calls, in order, with ids `call_0`, `call_1`, ...
    pub tool_calls: Vec<ToolCall>,
    /// Attempted calls that could not be read; their text stays in `text`.
    pub malformed: Vec<MalformedCall>,
}

impl ToolCallFormat {
    /// The format a chat template teaches: `<tool_call>` blocks, or
    /// Llama 3's JSON answers (the template mentions `<|python_tag|>`, or
    /// `"parameters"` in a Llama 3 header layout), or none.
    pub fn detect(template: &str) -> Self {
        if template.contains(OPEN) {
            ToolCallFormat::QwenXml
        } else if template.contains(PYTHON_TAG)
            || (template.contains("\"parameters\"") && template.contains("<|start_header_id|>"))
        {
            ToolCallFormat::Llama3Json
        } else {
            ToolCallFormat::None
        }
    }

    /// Splits generated text into reasoning, text and tool calls.
    pub fn parse(self, generated: &str) -> Parsed {
        let (reasoning, rest) = split_reasoning(generated);
        let mut parsed = match self {
            ToolCallFormat::QwenXml => parse_xml(rest),
            ToolCallFormat::Llama3Json => parse_llama(rest),
            ToolCallFormat::None => Parsed {
                text: rest.to_string(),
                ..Parsed::default()
            },
        };
        parsed.reasoning = reasoning;
        for (i, call) in parsed.tool_calls.iter_mut().enumerate() {
            call.id = format!("call_{i}");
        }
        parsed
    }

    /// Whether `text`, everything generated so far, may be or contain the
    /// start of a tool call, so a streamer should hold it back rather than
    /// send it as answer text. Once true it stays true as text is appended,
    /// except when a partial `<tool_call>` opening turns out to be something
    /// else; [`ToolCallFormat::streamable_len`] says exactly how much is safe.
    pub fn may_be_call_prefix(self, text: &str) -> bool {
        self.streamable_len(text) < text.len()
            || (self == ToolCallFormat::Llama3Json && text.trim().is_empty())
    }

    /// How many bytes at the start of `text` (everything generated so far)
    /// are answer text whatever comes next: everything before a
    /// `<tool_call>` or before a trailing partial `<tool_call`; for Llama 3,
    /// all of it unless the answer (so far) starts like a JSON call.
    pub fn streamable_len(self, text: &str) -> usize {
        match self {
            ToolCallFormat::None => text.len(),
            ToolCallFormat::QwenXml => {
                if let Some(at) = text.find(OPEN) {
                    return at;
                }
                text.len() - partial_suffix(text, OPEN)
            }
            ToolCallFormat::Llama3Json => {
                let trimmed = text.trim_start();
                if trimmed.is_empty()
                    || trimmed.starts_with('{')
                    || trimmed.starts_with(PYTHON_TAG)
                    || PYTHON_TAG.starts_with(trimmed)
                {
                    0
                } else {
                    text.len()
                }
            }
        }
    }
}

/// The length of the longest proper prefix of `marker` that `text` ends
/// with.
fn partial_suffix(text: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&n| text.ends_with(&marker[..n]))
        .unwrap_or(0)
}

/// `<think>...</think>` at the start becomes reasoning (the opening tag may
/// be missing when the prompt ended with it); a `<think>` never closed makes
/// all that follows reasoning.
fn split_reasoning(text: &str) -> (Option<String>, &str) {
    if let Some(close) = text.find(THINK_CLOSE) {
        let before = &text[..close];
        let inner = match before.rfind(THINK_OPEN) {
            Some(open) => &before[open + THINK_OPEN.len()..],
            None => before,
        };
        let after = &text[close + THINK_CLOSE.len()..];
        return (
            Some(inner.trim_matches('\n').to_string()),
            after.trim_start_matches('\n'),
        );
    }
    let trimmed = text.trim_start();
    if let Some(inner) = trimmed.strip_prefix(THINK_OPEN) {
        return (Some(inner.trim_matches('\n').to_string()), "");
    }
    (None, text)
}

fn parse_xml(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut kept = String::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        kept.push_str(&rest[..open]);
        let after_open = &rest[open + OPEN.len()..];
        let (inner, block_len, closed) = match after_open.find(CLOSE) {
            Some(close) => (&after_open[..close], OPEN.len() + close + CLOSE.len(), true),
            None => (after_open, OPEN.len() + after_open.len(), false),
        };
        let block = &rest[open..open + block_len];
        match read_call(inner.trim(), &["arguments", "parameters"]) {
            Ok(call) => parsed.tool_calls.push(call),
            Err(reason) => {
                let reason = if closed {
                    reason
                } else {
                    format!("unclosed <tool_call>: {reason}")
                };
                parsed.malformed.push(MalformedCall {
                    raw: block.to_string(),
                    reason,
                });
                kept.push_str(block);
            }
        }
        rest = &rest[open + block_len..];
    }
    kept.push_str(rest);
    parsed.text = if parsed.tool_calls.is_empty() {
        kept
    } else {
        kept.trim().to_string()
    };
    parsed
}

fn parse_llama(text: &str) -> Parsed {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix(PYTHON_TAG)
        .unwrap_or(trimmed)
        .trim_start();
    let plain = || Parsed {
        text: text.to_string(),
        ..Parsed::default()
    };
    if !body.starts_with('{') {
        return plain();
    }
    let mut calls = Vec::new();
    let mut rest = body;
    loop {
        let mut stream =
            serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
        let end = match stream.next() {
            Some(Ok(_)) => stream.byte_offset(),
            Some(Err(e)) => return malformed(text, format!("not JSON: {e}"), body),
            None => return malformed(text, "no JSON object".into(), body),
        };
        match read_call(&rest[..end], &["parameters", "arguments"]) {
            Ok(call) => calls.push(call),
            // An answer that is JSON but not a call (JSON mode) is text.
            Err(_) if calls.is_empty() && !looks_like_call(&rest[..end]) => return plain(),
            Err(reason) => return malformed(text, reason, body),
        }
        let after = rest[end..].trim_start();
        if after.is_empty() {
            break;
        }
        match after.strip_prefix(';') {
            Some(next) if !next.trim().is_empty() => rest = next.trim_start(),
            Some(_) => break,
            None => return malformed(text, "text after the call".into(), body),
        }
    }
    Parsed {
        text: String::new(),
        tool_calls: calls,
        ..Parsed::default()
    }
}

fn malformed(text: &str, reason: String, raw: &str) -> Parsed {
    Parsed {
        text: text.to_string(),
        malformed: vec![MalformedCall {
            raw: raw.to_string(),
            reason,
        }],
        ..Parsed::default()
    }
}

/// Whether a JSON object has a `name` and an arguments key, as a call would.
fn looks_like_call(json: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => {
            map.contains_key("name")
                && (map.contains_key("parameters") || map.contains_key("arguments"))
        }
        _ => false,
    }
}

/// Reads `{"name": "...", "<arguments key>": {...}}`. The arguments may
/// also be a string holding a JSON object; missing arguments are `{}`.
fn read_call(json: &str, argument_keys: &[&str]) -> Result<ToolCall, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = &value else {
        return Err("not a JSON object".into());
    };
    let name = match map.get("name") {
        Some(serde_json::Value::String(name)) if !name.is_empty() => name.clone(),
        Some(_) => return Err("`name` is not a non-empty string".into()),
        None => return Err("no `name`".into()),
    };
    let fields = top_level_fields(json).ok_or("unreadable JSON object")?;
    let raw = argument_keys
        .iter()
        .find_map(|key| fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v));
    let arguments = match raw {
        None => "{}".to_string(),
        Some(raw) if raw.starts_with('{') => compact_json(raw),
        Some(raw) if raw.starts_with('"') => {
            let inner: String = serde_json::from_str(raw).map_err(|e| format!("arguments: {e}"))?;
            let inner = inner.trim();
            match serde_json::from_str::<serde_json::Value>(inner) {
                Ok(serde_json::Value::Object(_)) => compact_json(inner),
                _ => return Err("the arguments string is not a JSON object".into()),
            }
        }
        Some(_) => return Err("the arguments are not a JSON object".into()),
    };
    Ok(ToolCall::new(String::new(), name, arguments))
}

/// The top-level fields of a valid JSON object: each key (decoded) and the
/// raw text of its value.
fn top_level_fields(json: &str) -> Option<Vec<(String, &str)>> {
    let bytes = json.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(bytes, i + 1);
    let mut fields = Vec::new();
    if bytes.get(i) == Some(&b'}') {
        return Some(fields);
    }
    loop {
        let key_end = skip_value(bytes, i)?;
        let key: String = serde_json::from_str(json.get(i..key_end)?).ok()?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(bytes, i + 1);
        let end = skip_value(bytes, start)?;
        fields.push((key, json.get(start..end)?));
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Some(fields),
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i` (the input is known valid).
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                match bytes.get(j)? {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = skip_value(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(b) = bytes.get(j) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            Some(j)
        }
    }
}

/// Valid JSON without the whitespace between tokens; strings and numbers
/// unchanged.
fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}
