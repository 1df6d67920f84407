//! Chat Completions answers: a `chat.completion` object, or a stream of
//! `chat.completion.chunk` objects. A server writes them; a client reads
//! them.
//!
//! Reading is lenient, as compatible servers differ: a field of an
//! unexpected JSON type counts as absent, a `content` may be an array of
//! parts, tool-call arguments may arrive as an object. Usage is generic:
//! `U = Value` when reading, because servers name their counters
//! differently (DeepSeek's `prompt_cache_hit_tokens`, Kimi's
//! `cached_tokens`) and the provider profile says which to read, and
//! [`Usage`] (the standard counters) when writing.
//!
//! A body may also carry an error despite a success status: `error`
//! (non-null), or MiniMax's `base_resp` with a non-zero status. Those are
//! read, never written.

use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Arguments;
use crate::de::lenient;

/// A whole answer (`object: chat.completion`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion<U = Value> {
    /// The answer's id (`chatcmpl-...`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// `chat.completion`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<String>,
    /// When it was made, in Unix seconds.
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<u64>,
    /// The model that answered.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<String>,
    /// The choices (Weft asks for one).
    #[serde(
        default,
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub choices: Option<Vec<Choice>>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<U>,
    /// An error reported with a success status; only read.
    #[serde(default, skip_serializing)]
    pub error: Option<IgnoredAny>,
    /// MiniMax's status; only read.
    #[serde(default, deserialize_with = "lenient::object", skip_serializing)]
    pub base_resp: Option<BaseResp>,
}

/// One choice of a [`ChatCompletion`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Its position.
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub index: Option<u64>,
    /// The assistant's message.
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<AssistantMessage>,
    /// Always `null`: no log-probabilities are written, and they are not
    /// read.
    #[serde(skip_deserializing)]
    pub logprobs: (),
    /// Why generation ended (`stop`, `length`, `tool_calls`, ...).
    #[serde(default, deserialize_with = "lenient::string")]
    pub finish_reason: Option<String>,
}

/// The assistant message of a [`Choice`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// `assistant`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub role: Option<String>,
    /// The text; `null` when the turn only calls tools.
    #[serde(default)]
    pub content: Option<Text>,
    /// Reasoning (DeepSeek, Kimi, GLM, vLLM, Weft's server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Text>,
    /// Reasoning, as vLLM, Ollama and OpenRouter name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Text>,
    /// MiniMax's split-out reasoning: objects with `text` and opaque
    /// metadata, kept as JSON to be replayed verbatim.
    #[serde(
        default,
        deserialize_with = "json_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_details: Option<Vec<Value>>,
    /// The tool calls.
    #[serde(
        default,
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// A whole-answer or streamed tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's position (streamed calls only).
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub index: Option<u64>,
    /// The call's id (on the first fragment of a streamed call).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// `function`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// The function called.
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub function: Option<FunctionCall>,
}

/// The function of a [`ToolCall`] (or a fragment of it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The arguments (or the next piece of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
}

/// One streamed chunk (`object: chat.completion.chunk`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "U: Deserialize<'de> + Default"))]
pub struct ChatCompletionChunk<U = Value> {
    /// The stream's id.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// `chat.completion.chunk`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<String>,
    /// When the stream started, in Unix seconds.
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<u64>,
    /// The model that answers.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<String>,
    /// The choices' deltas (empty in the final usage chunk).
    #[serde(
        default,
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub choices: Option<Vec<ChunkChoice<U>>>,
    /// Token counts (the final chunk, with `include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<U>,
    /// An error reported mid-stream; only read.
    #[serde(default, skip_serializing)]
    pub error: Option<IgnoredAny>,
    /// MiniMax's status; only read.
    #[serde(default, deserialize_with = "lenient::object", skip_serializing)]
    pub base_resp: Option<BaseResp>,
}

/// One choice of a [`ChatCompletionChunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice<U = Value> {
    /// Its position (absent means 0).
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub index: Option<u64>,
    /// What this chunk adds.
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub delta: Option<Delta>,
    /// Always `null`: no log-probabilities are written, and they are not
    /// read.
    #[serde(skip_deserializing)]
    pub logprobs: (),
    /// Why generation ended, on the last content chunk; `null` before.
    #[serde(default, deserialize_with = "lenient::string")]
    pub finish_reason: Option<String>,
    /// Token counts inside the final choice (Kimi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<U>,
}

/// The content a chunk adds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub role: Option<String>,
    /// More text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Text>,
    /// More reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Text>,
    /// More reasoning, under vLLM's, Ollama's and OpenRouter's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Text>,
    /// MiniMax's split-out reasoning fragments (see
    /// [`AssistantMessage::reasoning_details`]).
    #[serde(
        default,
        deserialize_with = "json_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_details: Option<Vec<Value>>,
    /// Tool-call fragments.
    #[serde(
        default,
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// The standard token counters, as Weft's server writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens, cache hits included.
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
    /// The prompt's cache buckets.
    pub prompt_tokens_details: PromptTokensDetails,
    /// The completion's reasoning bucket.
    pub completion_tokens_details: CompletionTokensDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to cache.
    pub cache_write_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionTokensDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
}

/// MiniMax's `base_resp`: a non-zero `status_code` is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BaseResp {
    /// The status; 0 is success.
    #[serde(default, deserialize_with = "lenient::i64")]
    pub status_code: Option<i64>,
}

/// True when a body that came with a success status reports an error: a
/// non-null `error`, or a non-zero MiniMax status.
pub(crate) fn has_inline_error(error: Option<IgnoredAny>, base_resp: Option<&BaseResp>) -> bool {
    error.is_some()
        || base_resp
            .and_then(|b| b.status_code)
            .is_some_and(|c| c != 0)
}

/// A JSON array of anything, or `None` for any other value.
fn json_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Value>>, D::Error> {
    Ok(match lenient::value(d)? {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    })
}

/// Message text. Written as a string; read from a string or an array of
/// parts (`{"type": "text", "text": ...}` objects or strings, others
/// skipped), and any other value reads as no text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut text = String::new();
                while let Some(piece) = seq.next_element::<TextPiece>()? {
                    if let Some(t) = piece.0 {
                        text.push_str(&t);
                    }
                }
                Ok(Text(text))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text::default())
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
                Ok(Text::default())
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
                Ok(Text::default())
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
                Ok(Text::default())
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Ok(Text::default())
            }

            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of a content array: its text, if it has any.
struct TextPiece(Option<String>);

/// The `text` of a part object.
#[derive(Deserialize)]
struct PartText {
    #[serde(default, deserialize_with = "lenient::string")]
    text: Option<String>,
}

impl<'de> Deserialize<'de> for TextPiece {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextPiece;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text part")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextPiece, E> {
                Ok(TextPiece(Some(v.to_owned())))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<TextPiece, A::Error> {
                let part = PartText::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(TextPiece(part.text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextPiece, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TextPiece(None))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TextPiece, E> {
                Ok(TextPiece(None))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<TextPiece, E> {
                Ok(TextPiece(None))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<TextPiece, E> {
                Ok(TextPiece(None))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<TextPiece, E> {
                Ok(TextPiece(None))
            }

            fn visit_unit<E: de::Error>(self) -> Result<TextPiece, E> {
                Ok(TextPiece(None))
            }
        }
        d.deserialize_any(V)
    }
}
