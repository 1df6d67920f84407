//! Weft's model providers: one module per provider behind the one
//! [`weft_model::Model`] trait, so the same agent runs against any provider,
//! switched by configuration.
//!
//! - [`openai`]: OpenAI Chat Completions and the OpenAI-compatible family
//!   (DeepSeek, Qwen, Kimi, GLM, MiniMax, Doubao, Ollama, vLLM, llama.cpp,
//!   any base URL), each a *profile* of data; its serde wire types
//!   ([`openai::wire`]) are shared with Weft's OpenAI-compatible server;
//! - [`anthropic`]: the Anthropic Messages API;
//! - [`gemini`]: Gemini's native `generateContent`.
//!
//! Every provider streams, keeps one assistant turn as one message of
//! ordered parts, replays its own reasoning verbatim under its rule, and
//! drops or converts foreign reasoning ([`ForeignReasoning`]). What a model
//! can do is data ([`mod@catalog`]: `data/providers.toml`, `data/models.toml`);
//! requests are adapted to it rather than rejected, and [`check`] reports
//! the adaptation without sending anything ([`adapt`]). Errors are
//! normalised into [`weft_model::ModelError`]. Every request goes through a
//! [`Transport`] ([`transport`]), so raw HTTP exchanges can be recorded and
//! replayed offline ([`http_cassette`]).
//!
//! Build a provider from a name, a model and a key:
//!
//! ```no_run
//! use weft_providers::{connect, ProviderConfig};
//! let deepseek = connect("deepseek", "deepseek-v4-pro", Some("sk-...".into()))?;
//! let local = ProviderConfig::for_provider("ollama", "qwen3:8b")?.build()?;
//! # Ok::<(), weft_providers::ConfigError>(())
//! ```
//!
//! Retries, fallback chains, budgets and routing are not here: they belong
//! to the router, which consumes the errors and capabilities this crate
//! reports. The crate compiles for `wasm32-unknown-unknown` (the browser's
//! `fetch` carries the requests).

pub mod adapt;
pub mod anthropic;
pub mod catalog;
pub mod config;
mod de;
mod engine;
pub mod gemini;
pub mod http_cassette;
mod http_error;
pub mod openai;
pub mod redact;
pub mod schema;
mod streaming;
pub mod transport;
mod wire_util;

use weft_model::Secret;
use weft_model::model::{BoxFuture, EventStream, Model};
use weft_model::types::{Capabilities, ChatRequest, ChatResponse, ModelError};

pub use adapt::{Action, Adaptation, Adjustment, check, check_with};
pub use anthropic::Anthropic;
pub use catalog::{Catalog, ModelCaps, Profile, WireKind, catalog};
pub use config::{ConfigError, ForeignReasoning, OpenAiConfig, ProviderConfig};
pub use gemini::Gemini;
pub use http_cassette::{HttpCassette, RecordingTransport, ReplayTransport};
pub use openai::OpenAiCompatible;
pub use transport::{Header, HttpRequest, HttpResponse, ReqwestTransport, Transport};

/// Any provider of this crate, chosen by its profile's wire kind.
#[derive(Debug)]
pub enum Provider {
    /// OpenAI Chat Completions or a compatible server.
    OpenAi(OpenAiCompatible),
    /// Anthropic Messages.
    Anthropic(Anthropic),
    /// Gemini `generateContent`.
    Gemini(Gemini),
}

impl Provider {
    /// What would be changed in `request` before sending it.
    pub fn adaptation(&self, request: &ChatRequest) -> Adaptation {
        match self {
            Provider::OpenAi(p) => p.adaptation(request),
            Provider::Anthropic(p) => p.adaptation(request),
            Provider::Gemini(p) => p.adaptation(request),
        }
    }

    /// The request body that would be sent for `request`.
    pub fn request_body(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<serde_json::Value, ModelError> {
        match self {
            Provider::OpenAi(p) => p.request_body(request, stream),
            Provider::Anthropic(p) => p.request_body(request, stream),
            Provider::Gemini(p) => p.request_body(request, stream),
        }
    }

    /// The capability-table entry requests are adapted to.
    pub fn model_caps(&self) -> &ModelCaps {
        match self {
            Provider::OpenAi(p) => p.model_caps(),
            Provider::Anthropic(p) => p.model_caps(),
            Provider::Gemini(p) => p.model_caps(),
        }
    }
}

impl Model for Provider {
    fn capabilities(&self) -> Capabilities {
        match self {
            Provider::OpenAi(p) => p.capabilities(),
            Provider::Anthropic(p) => p.capabilities(),
            Provider::Gemini(p) => p.capabilities(),
        }
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        match self {
            Provider::OpenAi(p) => p.chat(request),
            Provider::Anthropic(p) => p.chat(request),
            Provider::Gemini(p) => p.chat(request),
        }
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        match self {
            Provider::OpenAi(p) => p.chat_stream(request),
            Provider::Anthropic(p) => p.chat_stream(request),
            Provider::Gemini(p) => p.chat_stream(request),
        }
    }
}

impl ProviderConfig {
    /// Builds the provider this configuration names: Anthropic or Gemini
    /// for those profiles, the OpenAI-compatible backend for every other
    /// name (unknown names get the `generic` profile).
    pub fn build(self) -> Result<Provider, ConfigError> {
        match catalog().profile_or_generic(&self.provider_name).kind {
            WireKind::Openai => OpenAiCompatible::new(self).map(Provider::OpenAi),
            WireKind::Anthropic => Anthropic::new(self).map(Provider::Anthropic),
            WireKind::Gemini => Gemini::new(self).map(Provider::Gemini),
        }
    }
}

/// The provider named `provider` (a profile name or alias: `openai`,
/// `deepseek`, `qwen`, `kimi`, `glm`, `minimax`, `doubao`, `ollama`,
/// `vllm`, `llamacpp`, `generic`, `anthropic`, `gemini`) for `model`, at
/// the profile's default base URL, with `api_key` and the default
/// settings. Use [`ProviderConfig::for_provider`] for more control.
pub fn connect(
    provider: &str,
    model: &str,
    api_key: Option<Secret>,
) -> Result<Provider, ConfigError> {
    let mut config = ProviderConfig::for_provider(provider, model)?;
    config.api_key = api_key;
    config.build()
}
