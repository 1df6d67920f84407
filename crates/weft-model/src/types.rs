//! Portable chat types, one for one with `wit/types.wit`.
//!
//! Field and case names match the WIT contract (in `snake_case`) so the host's
//! conversions between these types and the generated bindings stay
//! mechanical. In JSON every enum is externally tagged: unit cases are plain
//! strings (`"auto"`, `"stop"`) and cases with data are one-key objects
//! (`{"text": "hi"}`, `{"named": "search"}`).
//!
//! JSON payloads (tool arguments, schemas, provider options) stay JSON *text*
//! (`String`), never parsed numbers, so 64-bit integers survive unchanged.

use serde::{Deserialize, Serialize};

/// Who authored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions from the application.
    System,
    /// The human (or calling program).
    User,
    /// The model.
    Assistant,
    /// Results of tool calls, answering an assistant turn.
    Tool,
}

/// Reasoning ("thinking") the model produced, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reasoning {
    /// The readable reasoning text; empty when the provider redacted it.
    #[serde(default)]
    pub text: String,
    /// Provider-opaque data that must be sent back unchanged on the next turn
    /// (an Anthropic thinking `signature`, a Gemini `thoughtSignature`, an
    /// encrypted `redacted_thinking` blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The provider that produced this reasoning (`anthropic`, `deepseek`,
    /// ...). Foreign reasoning is dropped or turned into text when a
    /// conversation moves between providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// True when the provider redacted the reasoning (`signature` then holds
    /// the opaque payload).
    #[serde(default)]
    pub redacted: bool,
}

/// A request from the model to run one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id; tool results refer to it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as a JSON object, complete and syntactically valid (JSON
    /// text).
    pub arguments: String,
}

impl ToolCall {
    /// A tool call from its id, name and JSON arguments text.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// The outcome of one tool call, sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::id`] this answers.
    pub call_id: String,
    /// The result: JSON text on success, a human-readable message on error.
    pub content: String,
    /// True when the tool failed; the model sees the error and may retry.
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result for `call_id`.
    pub fn ok(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            call_id: call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }

    /// A failed result for `call_id`, with a human-readable message.
    pub fn error(call_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            call_id: call_id.into(),
            content: message.into(),
            is_error: true,
        }
    }
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Plain text.
    Text(String),
    /// Model reasoning, replayed verbatim under each provider's rules.
    Reasoning(Reasoning),
    /// A tool call made by the assistant.
    ToolCall(ToolCall),
    /// A tool result, in a `tool` message.
    ToolResult(ToolResult),
}

/// A message: a role plus ordered parts.
///
/// One assistant turn is exactly one message whose parts keep the order in
/// which the model produced them (reasoning, text, tool calls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The author.
    pub role: Role,
    /// The content, in the order it was produced.
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Message {
    /// A message with the given role and parts.
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Self { role, parts }
    }

    /// A system message holding one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, vec![Part::Text(text.into())])
    }

    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, vec![Part::Text(text.into())])
    }

    /// An assistant message holding one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, vec![Part::Text(text.into())])
    }

    /// A tool message answering one or more tool calls.
    pub fn tool_results(results: impl IntoIterator<Item = ToolResult>) -> Self {
        Self::new(
            Role::Tool,
            results.into_iter().map(Part::ToolResult).collect(),
        )
    }

    /// The text parts joined in order (no separator); empty when there are
    /// none.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The readable reasoning text of all reasoning parts, joined in order.
    pub fn reasoning_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Reasoning(r) => Some(r.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls, in order.
    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The tool results, in order.
    pub fn tool_results_iter(&self) -> impl Iterator<Item = &ToolResult> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolResult(r) => Some(r),
            _ => None,
        })
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique name, `[a-zA-Z0-9_-]{1,64}`.
    pub name: String,
    /// What the tool does; the model reads this to decide when to call it.
    #[serde(default)]
    pub description: String,
    /// JSON Schema (draft 2020-12) of the arguments object, as JSON text.
    pub input_schema: String,
    /// JSON Schema (draft 2020-12) of a successful result, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<String>,
}

/// Whether and how the model must call tools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call at least one tool.
    Required,
    /// The model must call the named tool.
    Named(String),
}

/// A JSON Schema the answer must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// A short name for the schema (providers require one).
    pub name: String,
    /// The JSON Schema (draft 2020-12), as JSON text.
    pub schema: String,
    /// Ask the provider for strict schema adherence where supported.
    #[serde(default)]
    pub strict: bool,
}

/// The shape of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema(JsonSchemaFormat),
}

/// Sampling parameters; `None` leaves the provider's default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sampling {
    /// Softmax temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Keep only the k most likely tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Seed for repeatable sampling where the provider supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Penalise tokens by how often they already appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Penalise tokens that already appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
}

/// Provider-specific request fields: an explicit escape hatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderOption {
    /// The provider these apply to (`deepseek`, `anthropic`, ...) or `*`.
    pub provider: String,
    /// A JSON object merged into that provider's request body, as JSON text.
    pub json: String,
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// Whether the model must call tools.
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// The answer's shape.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Sampling parameters.
    #[serde(default)]
    pub sampling: Sampling,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sequences that end generation.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Provider-specific fields.
    #[serde(default)]
    pub provider_options: Vec<ProviderOption>,
}

impl ChatRequest {
    /// A request for `messages` with defaults everywhere else: no tools,
    /// [`ToolChoice::Auto`], [`ResponseFormat::Text`], provider-default
    /// sampling, no token limit, no stop sequences, no provider options.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            response_format: ResponseFormat::Text,
            sampling: Sampling::default(),
            max_output_tokens: None,
            stop: Vec::new(),
            provider_options: Vec::new(),
        }
    }

    /// This request with `tools` offered to the model.
    pub fn with_tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }

    /// This request with the given tool choice.
    pub fn with_tool_choice(mut self, tool_choice: ToolChoice) -> Self {
        self.tool_choice = tool_choice;
        self
    }

    /// This request with the given response format.
    pub fn with_response_format(mut self, response_format: ResponseFormat) -> Self {
        self.response_format = response_format;
        self
    }

    /// This request with an output token limit.
    pub fn with_max_output_tokens(mut self, max: u32) -> Self {
        self.max_output_tokens = Some(max);
        self
    }

    /// This request with a provider option added (`json` is a JSON object as
    /// text).
    pub fn with_provider_option(
        mut self,
        provider: impl Into<String>,
        json: impl Into<String>,
    ) -> Self {
        self.provider_options.push(ProviderOption {
            provider: provider.into(),
            json: json.into(),
        });
        self
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end of the answer, or a stop sequence.
    Stop,
    /// The output token limit was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// The provider filtered the content.
    ContentFilter,
    /// Anything else the provider reported.
    Other,
}

/// Token accounting for one call.
///
/// Buckets are disjoint from `input_tokens` only where the provider reports
/// them so; `input_tokens` includes cache hits and `output_tokens` includes
/// reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens, cache hits included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// What the call was billed, when a metering layer (`weft-meter`'s
    /// `Metered`, which the model factory puts around every model) priced
    /// it; `None` for a model nothing meters. One call's charge: [`add`]
    /// leaves it as it is.
    ///
    /// [`add`]: Usage::add
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge: Option<Charge>,
}

/// What one model call was billed, as a metering layer reports it on the
/// call's final [`Usage`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charge {
    /// Not billed: a local model costs nothing per call.
    Free,
    /// Billed at this many US dollars, from the price catalog.
    Usd(f64),
    /// Billed, but the price catalog has no price for the model.
    Unpriced,
}

impl Charge {
    /// The amount in US dollars: zero when free, `None` when unpriced.
    pub fn usd(self) -> Option<f64> {
        match self {
            Charge::Free => Some(0.0),
            Charge::Usd(usd) => Some(usd),
            Charge::Unpriced => None,
        }
    }
}

/// Charges are equal when they are the same case with the same amount, bit
/// for bit (so [`Usage`] and the types holding it stay `Eq`).
impl PartialEq for Charge {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Charge::Usd(a), Charge::Usd(b)) => a.to_bits() == b.to_bits(),
            (Charge::Free, Charge::Free) | (Charge::Unpriced, Charge::Unpriced) => true,
            _ => false,
        }
    }
}

impl Eq for Charge {}

impl Usage {
    /// Adds `other` into `self`, bucket by bucket (saturating).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

impl std::ops::AddAssign<&Usage> for Usage {
    fn add_assign(&mut self, other: &Usage) {
        Usage::add(self, other);
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        Usage::add(self, &other);
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The assistant turn: one message with ordered parts.
    pub message: Message,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Token accounting.
    #[serde(default)]
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    #[serde(default)]
    pub model: String,
}

impl ChatResponse {
    /// The answer's text parts joined in order.
    pub fn text(&self) -> String {
        self.message.text()
    }

    /// The answer's reasoning text joined in order.
    pub fn reasoning_text(&self) -> String {
        self.message.reasoning_text()
    }

    /// The tool calls the model made, in order.
    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        self.message.tool_calls()
    }

    /// True when the model called at least one tool.
    pub fn has_tool_calls(&self) -> bool {
        self.message
            .parts
            .iter()
            .any(|p| matches!(p, Part::ToolCall(_)))
    }
}

/// One event of a streamed answer.
///
/// A stream yields text and reasoning deltas, [`StreamEvent::ToolCall`] only
/// once a call is complete with valid JSON arguments, then exactly one
/// [`StreamEvent::Done`] with the whole assembled answer, then ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    /// More answer text.
    TextDelta(String),
    /// More reasoning text.
    ReasoningDelta(String),
    /// A tool call, complete with valid JSON arguments.
    ToolCall(ToolCall),
    /// The end: the whole answer, exactly as `chat` would have returned it.
    Done(ChatResponse),
}

/// What a model can do, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The provider (`openai`, `deepseek`, `local`, `cassette`, ...).
    pub provider: String,
    /// The model's name.
    pub model: String,
    /// It accepts tools.
    pub tools: bool,
    /// It may call several tools in one turn.
    pub parallel_tool_calls: bool,
    /// It streams.
    pub streaming: bool,
    /// It supports [`ResponseFormat::JsonObject`].
    pub json_object: bool,
    /// It supports [`ResponseFormat::JsonSchema`].
    pub json_schema: bool,
    /// It produces reasoning parts.
    pub reasoning: bool,
    /// Context window in tokens, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Output token limit, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}

impl Capabilities {
    /// Capabilities for `provider`/`model` with every feature off and no
    /// known limits; switch on what the backend supports.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            tools: false,
            parallel_tool_calls: false,
            streaming: false,
            json_object: false,
            json_schema: false,
            reasoning: false,
            context_window: None,
            max_output_tokens: None,
        }
    }
}

/// Why a model call failed.
///
/// Callers branch on the case: retry a [`ModelError::RateLimited`] or
/// [`ModelError::Overloaded`] call later, fall back on
/// [`ModelError::Timeout`] or [`ModelError::Transport`], never retry
/// [`ModelError::Auth`] or [`ModelError::InsufficientBalance`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelError {
    /// Too many requests; retry after the given delay.
    #[error("rate limited{}: {message}", match retry_after_ms {
        Some(ms) => format!(" (retry after {ms} ms)"),
        None => String::new(),
    })]
    RateLimited {
        /// How long the provider asked us to wait, if it said.
        #[serde(default)]
        retry_after_ms: Option<u64>,
        /// The provider's message.
        message: String,
    },
    /// The credentials were missing, wrong or for another region.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The account has no balance or quota left (not a rate limit).
    #[error("insufficient balance or quota: {0}")]
    InsufficientBalance(String),
    /// The request does not fit the model's context window.
    #[error("context too long: {0}")]
    ContextTooLong(String),
    /// The model lacks a capability the request needs; names it.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The provider refused or filtered the content.
    #[error("content filtered: {0}")]
    ContentFiltered(String),
    /// The provider is temporarily overloaded.
    #[error("provider overloaded: {0}")]
    Overloaded(String),
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection failed or the response could not be read.
    #[error("transport error: {0}")]
    Transport(String),
    /// The host's policy or a money budget refused the call.
    #[error("denied: {0}")]
    Denied(String),
    /// Any other provider error.
    #[error("provider error (HTTP {status}): {body}")]
    Provider {
        /// The HTTP status code.
        status: u16,
        /// The response body, truncated to a few KiB.
        body: String,
    },
}

impl ModelError {
    /// True for failures that may succeed if the same call is retried later
    /// (rate limits, overload, timeouts, transport failures).
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// The delay the provider asked for, for a rate limit that named one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ModelError::RateLimited {
                retry_after_ms: Some(ms),
                ..
            } => Some(std::time::Duration::from_millis(*ms)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_read_well() {
        let m = Message {
            role: Role::Assistant,
            parts: vec![
                Part::Text("hi".into()),
                Part::ToolCall(ToolCall::new("c1", "f", "{}")),
            ],
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(
            j,
            r#"{"role":"assistant","parts":[{"text":"hi"},{"tool_call":{"id":"c1","name":"f","arguments":"{}"}}]}"#
        );
        assert_eq!(
            serde_json::to_string(&ToolChoice::Auto).unwrap(),
            r#""auto""#
        );
        assert_eq!(
            serde_json::to_string(&ToolChoice::Named("x".into())).unwrap(),
            r#"{"named":"x"}"#
        );
        let e = ModelError::RateLimited {
            retry_after_ms: Some(5),
            message: "slow".into(),
        };
        let j = serde_json::to_string(&e).unwrap();
        assert_eq!(
            j,
            r#"{"rate_limited":{"retry_after_ms":5,"message":"slow"}}"#
        );
        assert_eq!(serde_json::from_str::<ModelError>(&j).unwrap(), e);
        assert_eq!(e.to_string(), "rate limited (retry after 5 ms): slow");
    }

    #[test]
    fn request_defaults_and_roundtrip() {
        let r: ChatRequest = serde_json::from_str(r#"{"messages":[]}"#).unwrap();
        assert_eq!(r, ChatRequest::new(vec![]));
        let mut r = ChatRequest::new(vec![Message::system("s"), Message::user("u")]);
        r.sampling.temperature = Some(0.7);
        r.sampling.seed = Some(u64::MAX);
        let back: ChatRequest = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn helpers() {
        let m = Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning(Reasoning {
                    text: "think".into(),
                    ..Default::default()
                }),
                Part::Text("a".into()),
                Part::ToolCall(ToolCall::new("1", "f", "{}")),
                Part::Text("b".into()),
            ],
        );
        assert_eq!(m.text(), "ab");
        assert_eq!(m.reasoning_text(), "think");
        assert_eq!(m.tool_calls().len(), 1);
        let mut u = Usage {
            input_tokens: 1,
            output_tokens: 2,
            ..Default::default()
        };
        u.add(&Usage {
            input_tokens: 10,
            reasoning_tokens: 3,
            ..Default::default()
        });
        u += Usage {
            cache_read_tokens: 4,
            ..Default::default()
        };
        assert_eq!(
            u,
            Usage {
                input_tokens: 11,
                output_tokens: 2,
                cache_read_tokens: 4,
                cache_write_tokens: 0,
                reasoning_tokens: 3,
                charge: None,
            }
        );
    }
}
