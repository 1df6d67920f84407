//! Chat Completions requests (`POST /chat/completions`): what a client
//! sends and a server reads.
//!
//! Every field is an `Option`, and `null` reads as `None`: a server maps
//! the request and names a missing field itself. Reading is strict: a value
//! of the wrong JSON type fails with an error that says what was expected
//! (`expected a string or an array of text parts`), and a path-tracking
//! reader such as `serde_path_to_error` gives the field's path
//! (`messages[2].content`). A struct must be a JSON object (serde alone
//! would also take an array). The fields Weft's server does not use
//! (`parallel_tool_calls`, `tool_stream`, `reasoning_details`) are read
//! leniently, so a client's odd value there is ignored.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::Arguments;
use crate::de::{self as wire_de, lenient};

/// A Chat Completions request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation.
    #[serde(
        default,
        deserialize_with = "wire_de::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub messages: Option<Vec<Message>>,
    /// Functions the model may call.
    #[serde(
        default,
        deserialize_with = "wire_de::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one turn (Qwen, llama.cpp want it said).
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub parallel_tool_calls: Option<bool>,
    /// GLM: stream tool-call arguments.
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_stream: Option<bool>,
    /// The answer's shape.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_format: Option<ResponseFormat>,
    /// Sampling temperature.
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_p: Option<f64>,
    /// Penalty on token frequency.
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f64>,
    /// Penalty on tokens already present.
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f64>,
    /// Top-k sampling (an extension many servers accept).
    #[serde(
        default,
        deserialize_with = "wire_de::count_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_k: Option<u32>,
    /// Min-p sampling (vLLM).
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_p: Option<f64>,
    /// Repetition penalty (vLLM).
    #[serde(
        default,
        deserialize_with = "wire_de::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub repetition_penalty: Option<f64>,
    /// Seed for reproducible sampling.
    #[serde(
        default,
        deserialize_with = "wire_de::count_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub seed: Option<u64>,
    /// How many choices to generate.
    #[serde(
        default,
        deserialize_with = "wire_de::count_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub n: Option<u64>,
    /// The output token limit (the older name).
    #[serde(
        default,
        deserialize_with = "wire_de::count_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u32>,
    /// The output token limit (OpenAI's current name).
    #[serde(
        default,
        deserialize_with = "wire_de::count_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_completion_tokens: Option<u32>,
    /// Sequences that end generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Answer with Server-Sent Events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// End the stream with a usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// Instructions (OpenAI's newer name for `system`).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// The legacy function-result role.
    Function,
    /// A role this format does not define, as written.
    #[serde(untagged)]
    Other(String),
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(match name.as_str() {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            "function" => Role::Function,
            _ => Role::Other(name),
        })
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The text; `null` when absent (an assistant turn that only calls
    /// tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// Assistant reasoning replayed (DeepSeek, Kimi, GLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Content>,
    /// Assistant reasoning under the name vLLM, Ollama and OpenRouter use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Content>,
    /// MiniMax's split-out reasoning, replayed verbatim.
    #[serde(
        default,
        deserialize_with = "lenient_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_details: Option<Vec<Value>>,
    /// The assistant's tool calls.
    #[serde(
        default,
        deserialize_with = "wire_de::objects",
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A JSON array of anything, or `None` for any other value.
fn lenient_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Value>>, D::Error> {
    Ok(match lenient::value(d)? {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    })
}

/// Message text: a string, or an array of text parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// The text.
    Text(String),
    /// Parts, concatenated.
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of text parts")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of a `content` array: a string, or a typed part.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ContentPart {
    /// A bare string.
    Text(String),
    /// `{"type": "text", "text": ...}` or another kind of part.
    Part(TypedPart),
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ContentPart;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text part")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ContentPart, E> {
                Ok(ContentPart::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<ContentPart, E> {
                Ok(ContentPart::Text(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ContentPart, A::Error> {
                TypedPart::deserialize(MapAccessDeserializer::new(map)).map(ContentPart::Part)
            }
        }
        d.deserialize_any(V)
    }
}

/// A typed content part. Only `text` parts carry text; Weft's server
/// refuses the others (images, audio, files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TypedPart {
    /// `text` (the default), `image_url`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A tool call on an assistant message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, which the tool result names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function called.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub function: Option<FunctionCall>,
}

/// The function of a [`ToolCall`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
}

/// A tool offered to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub function: Option<FunctionDefinition>,
}

/// The function of a [`Tool`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its parameters, a JSON Schema (any JSON value when read: the mapping
    /// checks that it is an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `tool_choice`: a mode or a named function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `auto`, `none` or `required` (any string when read: the mapping
    /// checks it).
    Mode(String),
    /// `{"type": "function", "function": {"name": ...}}`.
    Named(NamedToolChoice),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ToolChoice;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an object")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ToolChoice, E> {
                Ok(ToolChoice::Mode(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ToolChoice, A::Error> {
                NamedToolChoice::deserialize(MapAccessDeserializer::new(map)).map(ToolChoice::Named)
            }
        }
        d.deserialize_any(V)
    }
}

/// A `tool_choice` that names the function to call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    /// Always `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub function: Option<FunctionName>,
}

/// `{"name": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    /// The function's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `response_format`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The schema, for `json_schema`.
    #[serde(
        default,
        deserialize_with = "wire_de::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub json_schema: Option<JsonSchema>,
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// The format's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The JSON Schema (any JSON value when read: the mapping checks that
    /// it is an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Constrain decoding to the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Stop;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Stop, E> {
                Ok(Stop::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stop, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element()? {
                    all.push(s);
                }
                Ok(Stop::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}
