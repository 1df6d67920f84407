//! The `generateContent` wire format as serde structs: the request this
//! crate writes, and the response (whole, or one stream chunk) it reads
//! leniently (a field of an unexpected JSON type counts as absent).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::lenient;
use crate::openai::wire::response::BaseResp;

/// `models/{model}:generateContent` (and `:streamGenerateContent`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentRequest {
    /// The conversation.
    pub contents: Vec<Content>,
    /// The system text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<SystemInstruction>,
    /// The tools offered (one entry holding every declaration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which function must be called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling, limits and the answer's shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// Who wrote a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The user (function responses included).
    User,
    /// The model.
    Model,
}

/// One turn: parts of one role.
#[derive(Debug, Serialize)]
pub(crate) struct Content {
    /// Its role.
    pub role: Role,
    /// Its parts, in order.
    pub parts: Vec<Part>,
}

/// `systemInstruction`.
#[derive(Debug, Serialize)]
pub(crate) struct SystemInstruction {
    /// Text parts.
    pub parts: Vec<Part>,
}

/// One part sent: text (a thought when `thought` is set), a function call
/// or a function response, with the thought signature it came with.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Set on reasoning text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// The opaque signature Gemini gave this part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// A function call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// A function's result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
}

/// `functionCall` sent back.
#[derive(Debug, Serialize)]
pub(crate) struct FunctionCall {
    /// Gemini's own call id, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// The arguments, a JSON value.
    pub args: Value,
}

/// `functionResponse`.
#[derive(Debug, Serialize)]
pub(crate) struct FunctionResponse {
    /// The call's id, when Gemini gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// The result (`{"output": ...}`, `{"error": ...}` or the tool's own
    /// object), kept as the tool's JSON.
    pub response: Value,
}

/// One `tools` entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tool {
    /// The functions.
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A function offered.
#[derive(Debug, Serialize)]
pub(crate) struct FunctionDeclaration {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters: a schema in Gemini's OpenAPI subset; absent for a
    /// function without any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig {
    /// The calling mode.
    pub function_calling_config: FunctionCallingConfig,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCallingConfig {
    /// `NONE` or `ANY`.
    pub mode: &'static str,
    /// The only function that may be called, for a named choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `generationConfig`.
#[derive(Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Penalty on tokens already present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty on token frequency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Seed (an int32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i32>,
    /// The output token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sequences that end generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// `application/json` for JSON answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
    /// The answer's schema, lowered to Gemini's subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
}

/// A `GenerateContentResponse`: a whole answer, or one stream chunk.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    /// The candidates (Weft reads the first).
    #[serde(default, deserialize_with = "lenient::objects")]
    pub candidates: Option<Vec<Candidate>>,
    /// Why the prompt was blocked, if it was.
    #[serde(default, deserialize_with = "lenient::object")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts.
    #[serde(default, deserialize_with = "lenient::object")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(default, deserialize_with = "lenient::string")]
    pub model_version: Option<String>,
    /// An error reported with a success status.
    #[serde(default)]
    pub error: Option<IgnoredAny>,
    /// MiniMax's status field, checked for every compatible body.
    #[serde(default, rename = "base_resp", deserialize_with = "lenient::object")]
    pub base_resp: Option<BaseResp>,
}

/// One candidate answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    /// Its content.
    #[serde(default, deserialize_with = "lenient::object")]
    pub content: Option<CandidateContent>,
    /// Why generation ended (`STOP`, `MAX_TOKENS`, `SAFETY`, ...).
    #[serde(default, deserialize_with = "lenient::string")]
    pub finish_reason: Option<String>,
}

/// A candidate's content.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CandidateContent {
    /// Its parts.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub parts: Option<Vec<ResponsePart>>,
}

/// One part received.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponsePart {
    /// Text.
    #[serde(default, deserialize_with = "lenient::string")]
    pub text: Option<String>,
    /// True for reasoning text.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub thought: Option<bool>,
    /// The signature to send back on this part.
    #[serde(default, deserialize_with = "lenient::string")]
    pub thought_signature: Option<String>,
    /// A function call (`Some` whenever the field is there).
    #[serde(default, deserialize_with = "lenient::object")]
    pub function_call: Option<FunctionCallReceived>,
}

/// A `functionCall` received.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionCallReceived {
    /// The function.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    /// Gemini's call id, when it gives one.
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// The arguments, kept as JSON (`null` included) to be written as
    /// text.
    #[serde(default, deserialize_with = "lenient::value")]
    pub args: Option<Value>,
}

/// `promptFeedback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default, deserialize_with = "lenient::string")]
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub prompt_token_count: Option<u64>,
    /// Prompt tokens of tool use.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub tool_use_prompt_token_count: Option<u64>,
    /// Answer tokens, thoughts excluded.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub candidates_token_count: Option<u64>,
    /// Thought tokens.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub thoughts_token_count: Option<u64>,
    /// Prompt tokens served from the cache.
    #[serde(default, deserialize_with = "lenient::u64")]
    pub cached_content_token_count: Option<u64>,
}
