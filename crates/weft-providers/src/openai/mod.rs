//! An OpenAI-compatible Chat Completions backend over `reqwest`.
//!
//! It speaks the `/chat/completions` dialect that OpenAI, DeepSeek, Qwen,
//! Kimi, GLM, MiniMax, Doubao, Ollama, vLLM and llama.cpp all accept, with
//! the common extensions: `reasoning_content` (read, and replayed on
//! assistant turns that came from the same provider), DeepSeek's
//! `prompt_cache_hit_tokens`, and streamed tool calls assembled robustly (see
//! `/work/shared/providers.md`). Per-provider adjustments beyond that belong
//! in provider profiles; [`crate::types::ProviderOption`]s are merged into the
//! body as an escape hatch (objects merge recursively; `null` removes a
//! field).
//!
//! Mapping notes: only text parts go into system and user messages; tool
//! results (in `tool` messages, or in `user` messages Anthropic-style) become
//! `tool` messages, prefixed with `Error: ` when `is_error` is set;
//! reasoning is replayed as `reasoning_content` only when it came from the
//! same provider and is not redacted. `max_output_tokens` is sent as
//! `max_completion_tokens` to provider `openai` and as `max_tokens`
//! elsewhere. A request that cannot be expressed (a tool call in a user
//! message, schema text that is not JSON, `tool_choice` naming an unknown
//! tool) fails with [`ModelError::Unsupported`] before anything is sent.

mod stream;
mod wire;

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::http_error::{classify, from_reqwest, retry_after_ms};
use crate::model::{BoxFuture, EventStream, Model, stream_of};
use crate::secret::Secret;
use crate::types::{Capabilities, ChatRequest, ChatResponse, ModelError, StreamEvent};

/// Configuration of an [`OpenAiCompatible`] backend.
///
/// Its `Debug` output hides the API key and the values of sensitive extra
/// headers.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root, such as `https://api.openai.com/v1`;
    /// `/chat/completions` is appended unless already there.
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when present, and nowhere else.
    pub api_key: Option<Secret>,
    /// More headers for every request (`OpenAI-Organization`, `api-key`,
    /// ...). Values of headers whose name mentions a key, token or auth are
    /// marked sensitive.
    pub extra_headers: Vec<(String, String)>,
    /// For `chat`, the limit on the whole call; for `chat_stream`, on
    /// connecting, on the wait for the first byte and on every silence
    /// between chunks (so a long answer that keeps flowing is not cut).
    /// `None` waits forever.
    pub timeout: Option<Duration>,
    /// The provider's name (`openai`, `deepseek`, ...): reported in
    /// capabilities and errors, tags reasoning parts, and selects
    /// [`crate::types::ProviderOption`]s.
    pub provider_name: String,
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .extra_headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if sensitive_name(k) { "***" } else { v.as_str() },
                )
            })
            .collect();
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("extra_headers", &headers)
            .field("timeout", &self.timeout)
            .field("provider_name", &self.provider_name)
            .finish()
    }
}

impl OpenAiConfig {
    /// A configuration for `model` at `base_url`: no key, no extra headers,
    /// a 120 s timeout, provider name `openai`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            extra_headers: Vec::new(),
            timeout: Some(Duration::from_secs(120)),
            provider_name: "openai".into(),
        }
    }

    /// This configuration with an API key.
    pub fn with_api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// This configuration with another provider name.
    pub fn with_provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider_name = name.into();
        self
    }

    /// This configuration with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// This configuration with another timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Why an [`OpenAiCompatible`] backend could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A header name or value is not valid HTTP.
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The base URL is empty or not http(s).
    #[error("invalid base URL `{0}`: expected an http:// or https:// URL")]
    InvalidBaseUrl(String),
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

/// An OpenAI-compatible Chat Completions backend; see the [module
/// docs](self).
pub struct OpenAiCompatible {
    config: OpenAiConfig,
    url: String,
    headers: HeaderMap,
    client: reqwest::Client,
    capabilities: Capabilities,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("config", &self.config)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "token", "auth", "secret", "cookie"]
        .iter()
        .any(|s| n.contains(s))
}

impl OpenAiCompatible {
    /// A backend for `config`. Its capabilities claim tools, parallel tool
    /// calls, streaming and both JSON modes, and no reasoning or limits;
    /// adjust them with [`OpenAiCompatible::with_capabilities`].
    pub fn new(config: OpenAiConfig) -> Result<Self, ConfigError> {
        let base = config.base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConfigError::InvalidBaseUrl(config.base_url.clone()));
        }
        let url = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        };

        let mut headers = HeaderMap::new();
        for (name, value) in &config.extra_headers {
            let invalid = |reason: String| ConfigError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let header =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            let mut v = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
            v.set_sensitive(sensitive_name(name));
            headers.append(header, v);
        }
        if let Some(key) = &config.api_key {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    ConfigError::InvalidHeader {
                        name: "authorization".into(),
                        reason: "the API key holds characters not allowed in a header".into(),
                    }
                })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }

        let builder = reqwest::Client::builder();
        #[cfg(not(target_arch = "wasm32"))]
        let builder = match config.timeout {
            Some(t) => builder.connect_timeout(t).read_timeout(t),
            None => builder,
        };
        let client = builder
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;

        let mut capabilities =
            Capabilities::new(config.provider_name.clone(), config.model.clone());
        capabilities.tools = true;
        capabilities.parallel_tool_calls = true;
        capabilities.streaming = true;
        capabilities.json_object = true;
        capabilities.json_schema = true;
        Ok(Self {
            config,
            url,
            headers,
            client,
            capabilities,
        })
    }

    /// This backend reporting `capabilities` instead of the defaults.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The configuration this backend was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The request body this backend would send for `request` (useful for
    /// debugging and tests; it never holds the API key).
    pub fn request_body(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<serde_json::Value, ModelError> {
        wire::build_body(
            request,
            &wire::Target {
                model: &self.config.model,
                provider: &self.config.provider_name,
            },
            stream,
        )
    }

    fn provider(&self) -> &str {
        &self.config.provider_name
    }

    /// Sends `body`; a non-success status becomes the matching error.
    async fn send(
        &self,
        body: &serde_json::Value,
        stream: bool,
    ) -> Result<reqwest::Response, ModelError> {
        let mut builder = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .json(body);
        if stream {
            builder = builder.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        // Natively a stream is bounded by the client's read timeout; on
        // wasm32 only a total timeout exists.
        if let Some(t) = self.config.timeout
            && (!stream || cfg!(target_arch = "wasm32"))
        {
            builder = builder.timeout(t);
        }
        tracing::debug!(provider = self.provider(), url = %self.url, stream, "chat completions request");
        let response = builder
            .send()
            .await
            .map_err(|e| from_reqwest(self.provider(), &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after_ms(response.headers());
        let body = response.text().await.unwrap_or_default();
        Err(classify(
            self.provider(),
            status.as_u16(),
            retry_after,
            &body,
        ))
    }
}

impl Model for OpenAiCompatible {
    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        Box::pin(async move {
            let body = self.request_body(request, false)?;
            let response = self.send(&body, false).await?;
            let text = response
                .text()
                .await
                .map_err(|e| from_reqwest(self.provider(), &e))?;
            wire::parse_response(&text, self.provider(), &self.config.model)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        Box::pin(async move {
            let body = self.request_body(request, true)?;
            let response = self.send(&body, true).await?;
            let is_json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("application/json"));
            if is_json {
                // A server that ignored `stream: true` answered in one piece.
                let text = response
                    .text()
                    .await
                    .map_err(|e| from_reqwest(self.provider(), &e))?;
                let answer = wire::parse_response(&text, self.provider(), &self.config.model)?;
                let events: Vec<Result<StreamEvent, ModelError>> =
                    crate::model::events_from_response(&answer)
                        .into_iter()
                        .map(Ok)
                        .collect();
                return Ok(stream_of(events));
            }
            Ok(stream::event_stream(
                Box::pin(response.bytes_stream()),
                self.provider(),
                &self.config.model,
            ))
        })
    }
}
