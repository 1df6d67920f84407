//! [`ProviderConfig`]: what every provider is built from.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_model::Secret;

use crate::catalog::{ModelCaps, catalog};
use crate::redact;
use crate::transport::Transport;

/// What happens to reasoning produced by another provider when a
/// conversation moves to this one.
///
/// Foreign reasoning can never be replayed (signatures do not verify across
/// providers), so it is either dropped or kept as visible text. Either way
/// the request stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignReasoning {
    /// Remove it from the request (the default).
    #[default]
    Drop,
    /// Send its readable text as a text part, wrapped in
    /// `<reasoning provider="...">...</reasoning>`; redacted reasoning is
    /// still dropped.
    AsText,
}

/// Configuration of any provider in this crate.
///
/// Its `Debug` output hides the API key and the values of sensitive extra
/// headers. [`OpenAiConfig`] is the same type under the name the
/// OpenAI-compatible backend has always used.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The API root, such as `https://api.openai.com/v1`. Each provider
    /// appends its endpoint (`/chat/completions`, `/messages`,
    /// `/models/{model}:generateContent`) unless it is already there.
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// The API key, sent the way the provider's profile says and nowhere
    /// else.
    pub api_key: Option<Secret>,
    /// More headers for every request. Values of headers whose name
    /// mentions a key, token or auth are treated as secrets.
    pub extra_headers: Vec<(String, String)>,
    /// For `chat`, the limit on the whole call; for `chat_stream`, on
    /// connecting and on every silence between chunks. `None` waits
    /// forever.
    pub timeout: Option<Duration>,
    /// The provider's name: selects its profile in `data/providers.toml`
    /// (unknown names get the `generic` OpenAI-compatible profile), tags
    /// reasoning parts, selects provider options, and is reported in
    /// capabilities and errors.
    pub provider_name: String,
    /// What to do with reasoning produced by other providers.
    pub foreign_reasoning: ForeignReasoning,
    /// Capabilities to use instead of the catalog's entry for the model.
    pub capabilities: Option<ModelCaps>,
    /// The transport requests go through; `None` builds a
    /// [`crate::ReqwestTransport`] with [`ProviderConfig::timeout`].
    pub transport: Option<Arc<dyn Transport>>,
}

/// The configuration of an [`crate::OpenAiCompatible`] backend.
pub type OpenAiConfig = ProviderConfig;

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .extra_headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if redact::is_sensitive_header(k) {
                        redact::REDACTED
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("ProviderConfig")
            .field("base_url", &redact::url(&self.base_url))
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("extra_headers", &headers)
            .field("timeout", &self.timeout)
            .field("provider_name", &self.provider_name)
            .field("foreign_reasoning", &self.foreign_reasoning)
            .field(
                "capabilities",
                &self.capabilities.as_ref().map(|c| &c.model),
            )
            .field("transport", &self.transport)
            .finish()
    }
}

/// Why a provider could not be built.
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
    /// No profile has that name.
    #[error("unknown provider `{name}`; known: {known}")]
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The known profile names.
        known: String,
    },
    /// The profile has no such region.
    #[error("provider `{provider}` has no region `{region}`; known: {known}")]
    UnknownRegion {
        /// The provider.
        provider: String,
        /// The region asked for.
        region: String,
        /// Its regions.
        known: String,
    },
    /// The HTTP client could not be created.
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

impl ProviderConfig {
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
            foreign_reasoning: ForeignReasoning::Drop,
            capabilities: None,
            transport: None,
        }
    }

    /// A configuration for `model` at the provider named `provider` (a
    /// profile name or alias from `data/providers.toml`: `openai`,
    /// `deepseek`, `qwen`, `kimi`, `glm`, `minimax`, `doubao`, `ollama`,
    /// `vllm`, `llamacpp`, `generic`, `anthropic`, `gemini`), at the
    /// profile's default base URL.
    pub fn for_provider(
        provider: impl AsRef<str>,
        model: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let name = provider.as_ref();
        let profile = catalog()
            .profile(name)
            .ok_or_else(|| ConfigError::UnknownProvider {
                name: name.to_owned(),
                known: catalog()
                    .profiles()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Self::new(profile.base_url.clone(), model).with_provider_name(name.trim()))
    }

    /// This configuration at the provider's API root for `region` (`cn`,
    /// `intl`), as its profile lists them.
    pub fn with_region(mut self, region: &str) -> Result<Self, ConfigError> {
        let profile = catalog().profile_or_generic(&self.provider_name);
        match profile.regions.get(region) {
            Some(url) => {
                self.base_url = url.clone();
                Ok(self)
            }
            None => Err(ConfigError::UnknownRegion {
                provider: self.provider_name.clone(),
                region: region.to_owned(),
                known: profile
                    .regions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// This configuration with an API key.
    pub fn with_api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// This configuration with another base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
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

    /// This configuration with another rule for foreign reasoning.
    pub fn with_foreign_reasoning(mut self, rule: ForeignReasoning) -> Self {
        self.foreign_reasoning = rule;
        self
    }

    /// This configuration with capabilities overriding the catalog's.
    pub fn with_capabilities(mut self, caps: ModelCaps) -> Self {
        self.capabilities = Some(caps);
        self
    }

    /// This configuration sending its requests through `transport` (a
    /// recorder, a replayer, a test double).
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The capabilities the provider will use: the override, or the
    /// catalog's entry for this provider and model.
    pub fn resolved_capabilities(&self) -> ModelCaps {
        self.capabilities
            .clone()
            .unwrap_or_else(|| catalog().lookup(&self.provider_name, &self.model))
    }
}
