//! Constructors and helpers on the generated chat types.

use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, Message, ModelError, Part,
    ResponseFormat, Role, Sampling, ToolCall, ToolChoice, ToolError, ToolResult, ToolSpec, Usage,
};

impl Message {
    /// A message of `role` with one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![Part::Text(text.into())],
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text(Role::System, text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }

    /// An assistant message with one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(Role::Assistant, text)
    }

    /// One `tool` message carrying all results of an assistant turn.
    pub fn tool_results(results: impl IntoIterator<Item = ToolResult>) -> Self {
        Message {
            role: Role::Tool,
            parts: results.into_iter().map(Part::ToolResult).collect(),
        }
    }

    /// The text parts joined (no separator), reasoning excluded.
    pub fn joined_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls of this message, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolCall(c) => Some(c),
            _ => None,
        })
    }
}

impl ToolCall {
    /// Parses the arguments into `T`.
    pub fn parse_arguments<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.arguments)
    }
}

impl ToolResult {
    /// A successful result.
    pub fn ok(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ToolResult {
            call_id: call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }

    /// A failed result; the model sees `message` and may retry.
    pub fn error(call_id: impl Into<String>, message: impl Into<String>) -> Self {
        ToolResult {
            call_id: call_id.into(),
            content: message.into(),
            is_error: true,
        }
    }

    /// The result of a toolbox call: errors become `is-error` results whose
    /// content is the error's message.
    pub fn from_outcome(call_id: impl Into<String>, outcome: Result<String, ToolError>) -> Self {
        match outcome {
            Ok(content) => Self::ok(call_id, content),
            Err(e) => Self::error(call_id, e.describe()),
        }
    }
}

impl ToolError {
    /// A one-line human-readable message: the case followed by its text.
    pub fn describe(&self) -> String {
        match self {
            ToolError::NotFound(m) => format!("tool not found: {m}"),
            ToolError::Denied(m) => format!("denied: {m}"),
            ToolError::InvalidArguments(m) => format!("invalid arguments: {m}"),
            ToolError::Failed(m) => format!("failed: {m}"),
            ToolError::Crashed(m) => format!("crashed: {m}"),
        }
    }
}

impl From<String> for ToolError {
    /// A message becomes [`ToolError::Failed`].
    fn from(message: String) -> Self {
        ToolError::Failed(message)
    }
}

impl From<&str> for ToolError {
    /// A message becomes [`ToolError::Failed`].
    fn from(message: &str) -> Self {
        ToolError::Failed(message.to_string())
    }
}

impl From<std::io::Error> for ToolError {
    /// An I/O error becomes [`ToolError::Failed`].
    fn from(e: std::io::Error) -> Self {
        ToolError::Failed(e.to_string())
    }
}

impl From<crate::SdkError> for ToolError {
    /// An SDK error becomes [`ToolError::Failed`].
    fn from(e: crate::SdkError) -> Self {
        ToolError::Failed(e.to_string())
    }
}

impl From<std::convert::Infallible> for ToolError {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

impl ModelError {
    /// A one-line human-readable message.
    pub fn describe(&self) -> String {
        match self {
            ModelError::RateLimited(r) => match r.retry_after_ms {
                Some(ms) => format!("rate limited (retry after {ms} ms): {}", r.message),
                None => format!("rate limited: {}", r.message),
            },
            ModelError::Auth(m) => format!("authentication failed: {m}"),
            ModelError::InsufficientBalance(m) => format!("insufficient balance: {m}"),
            ModelError::ContextTooLong(m) => format!("context too long: {m}"),
            ModelError::Unsupported(m) => format!("unsupported: {m}"),
            ModelError::ContentFiltered(m) => format!("content filtered: {m}"),
            ModelError::Overloaded(m) => format!("overloaded: {m}"),
            ModelError::Timeout(m) => format!("timeout: {m}"),
            ModelError::Transport(m) => format!("transport: {m}"),
            ModelError::Denied(m) => format!("denied: {m}"),
            ModelError::Provider(p) => format!("provider error (HTTP {}): {}", p.status, p.body),
        }
    }
}

// Generated types cannot take a `#[derive]`.
#[allow(clippy::derivable_impls)]
impl Default for Usage {
    fn default() -> Self {
        Usage {
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        }
    }
}

impl Usage {
    /// Adds `other` to `self`, bucket by bucket (saturating).
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
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: None,
            top_p: None,
            top_k: None,
            seed: None,
            frequency_penalty: None,
            presence_penalty: None,
        }
    }
}

impl Default for ChatRequest {
    fn default() -> Self {
        ChatRequest {
            messages: Vec::new(),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            response_format: ResponseFormat::Text,
            sampling: Sampling::default(),
            max_output_tokens: None,
            stop: Vec::new(),
            provider_options: Vec::new(),
        }
    }
}

impl ChatRequest {
    /// A request with `messages` and defaults elsewhere (no tools, automatic
    /// tool choice, free text, provider sampling defaults).
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }

    /// Sets the tools the model may call.
    pub fn with_tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }
}

impl ChatResponse {
    /// A response with one assistant text part; handy in tests and fakes.
    pub fn from_text(text: impl Into<String>) -> Self {
        ChatResponse {
            message: Message::assistant(text),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            model: String::new(),
        }
    }
}

impl Capabilities {
    /// Capabilities with everything off and the given provider and model.
    pub fn minimal(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Capabilities {
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
