//! The Messages wire format as serde structs: the request this crate
//! writes, and the response and stream events it reads (leniently: a field
//! of an unexpected JSON type counts as absent).
//!
//! Responses are read as flat structs that hold the fields of every block
//! and event type, keyed by their `type`: a stream event's type may come
//! from the SSE `event:` name instead of the data, and unknown block types
//! (server tools, citations) must be skipped, not refused.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::lenient;

/// `POST /v1/messages`.
#[derive(Debug, Serialize)]
pub(crate) struct MessagesRequest {
    /// The model.
    pub model: String,
    /// The output token limit (required).
    pub max_tokens: u32,
    /// System text blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<Block>,
    /// The conversation, in alternating roles.
    pub messages: Vec<Message>,
    /// The tools offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool must be called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Sequences that end generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Stream Server-Sent Events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The user (tool results included).
    User,
    /// The model.
    Assistant,
}

/// One message: content blocks of one role.
#[derive(Debug, Serialize)]
pub(crate) struct Message {
    /// Its role.
    pub role: Role,
    /// Its blocks, in order.
    pub content: Vec<Block>,
}

/// A content block sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// Signed thinking, replayed verbatim.
    Thinking {
        /// The thinking text.
        thinking: String,
        /// Its signature.
        signature: String,
    },
    /// Redacted thinking, replayed verbatim.
    RedactedThinking {
        /// The opaque data.
        data: String,
    },
    /// A tool call.
    ToolUse {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object.
        input: Value,
    },
    /// A tool result.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// The result's text.
        content: String,
        /// Set when the tool failed.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// A tool offered.
#[derive(Debug, Serialize)]
pub(crate) struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters, a JSON Schema.
    pub input_schema: Value,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToolChoice {
    /// No tool may be called.
    None,
    /// Some tool must be called.
    Any,
    /// This tool must be called.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// A whole answer, or the `message` of a `message_start` event.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessagesResponse {
    /// `message`, or `error` for an error body.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    /// True when the body has an `error` field, whatever its value.
    #[serde(default, deserialize_with = "lenient::present")]
    pub error: bool,
    /// The content blocks.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub content: Option<Vec<ResponseBlock>>,
    /// Why generation ended.
    #[serde(default, deserialize_with = "lenient::string")]
    pub stop_reason: Option<String>,
    /// Token counts.
    #[serde(default, deserialize_with = "lenient::object")]
    pub usage: Option<Usage>,
    /// The model that answered.
    #[serde(default, deserialize_with = "lenient::string")]
    pub model: Option<String>,
}

/// A content block received, whole or as a `content_block_start`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResponseBlock {
    /// `text`, `thinking`, `redacted_thinking`, `tool_use`, ...
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    /// A text block's text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub text: Option<String>,
    /// A thinking block's text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub thinking: Option<String>,
    /// A thinking block's signature.
    #[serde(default, deserialize_with = "lenient::string")]
    pub signature: Option<String>,
    /// A redacted thinking block's data.
    #[serde(default, deserialize_with = "lenient::string")]
    pub data: Option<String>,
    /// A tool call's id.
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// A tool call's tool.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// A tool call's arguments, kept as JSON (`null` included) to be
    /// written back as text.
    #[serde(default, deserialize_with = "lenient::value")]
    pub input: Option<Value>,
}

/// Token counts (input excludes the cache buckets).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Usage {
    /// Uncached input tokens.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub input_tokens: Option<u64>,
    /// Input tokens written to the cache.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub cache_read_input_tokens: Option<u64>,
    /// Generated tokens.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub output_tokens: Option<u64>,
}

/// One streamed event, of any type.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamEvent {
    /// The event type, when the data names it.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    /// `message_start`: the message so far (model, usage).
    #[serde(default, deserialize_with = "lenient::object")]
    pub message: Option<MessagesResponse>,
    /// The block a `content_block_*` event is about.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub index: Option<u64>,
    /// `content_block_start`: the block.
    #[serde(default, deserialize_with = "lenient::object")]
    pub content_block: Option<ResponseBlock>,
    /// `content_block_delta` and `message_delta`: what changes.
    #[serde(default, deserialize_with = "lenient::object")]
    pub delta: Option<Delta>,
    /// `message_delta`: usage so far.
    #[serde(default, deserialize_with = "lenient::object")]
    pub usage: Option<Usage>,
}

/// The `delta` of a `content_block_delta` or `message_delta` event.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Delta {
    /// `text_delta`, `thinking_delta`, `signature_delta`,
    /// `input_json_delta`, ...
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    /// More text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub text: Option<String>,
    /// More thinking.
    #[serde(default, deserialize_with = "lenient::string")]
    pub thinking: Option<String>,
    /// More signature.
    #[serde(default, deserialize_with = "lenient::string")]
    pub signature: Option<String>,
    /// More tool-call arguments, as JSON text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub partial_json: Option<String>,
    /// `message_delta`: why generation ended.
    #[serde(default, deserialize_with = "lenient::string")]
    pub stop_reason: Option<String>,
}
