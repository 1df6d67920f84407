//! OpenAI Chat Completions and the OpenAI-compatible family.
//!
//! One backend, [`OpenAiCompatible`], speaks the `/chat/completions`
//! dialect; the provider's *profile* (`data/providers.toml`, selected by
//! [`crate::ProviderConfig::provider_name`]) and the model's capability
//! entry (`data/models.toml`) carry everything that differs between OpenAI,
//! DeepSeek, Qwen, Kimi, GLM, MiniMax, Doubao, Ollama, vLLM, llama.cpp and
//! any other compatible server (the `generic` profile):
//!
//! - `max_tokens` or `max_completion_tokens`;
//! - reasoning: read from `reasoning_content` / `reasoning` /
//!   `reasoning_details`, or split out of `content` where it arrives as
//!   `<think>...</think>` (MiniMax); replayed on later turns under the
//!   model's rule (`reasoning_content` for DeepSeek, Kimi and GLM, the
//!   original `<think>` text or `reasoning_details` for MiniMax, nothing for
//!   OpenAI and Qwen), with an empty `reasoning_content` added where
//!   DeepSeek or Kimi require the field on a tool-call turn from elsewhere;
//! - `tool_stream` (GLM), `parallel_tool_calls` (Qwen, llama.cpp),
//!   `stream_options.include_usage`;
//! - usage field names (DeepSeek's `prompt_cache_hit_tokens`, Kimi's
//!   `cached_tokens`);
//! - error codes (GLM's 1113 under HTTP 429 is an empty balance, Kimi's 403
//!   too; MiniMax's `base_resp.status_code` in a 200 body).
//!
//! Streamed tool calls are assembled by id and index: ids only on the first
//! fragment, Ollama's `index: 0` for every call, indices reused for
//! different ids, indices in any order. The agent receives a call only once
//! its arguments are complete and valid JSON.
//!
//! The format is typed: [`wire`] holds the request, answer and chunk
//! structs, shared with Weft's own server (`weft-serve`). Building a body
//! from a [`weft_model::ChatRequest`], reading an answer and decoding a
//! stream are separate steps on those types.
//!
//! Mapping notes: only text parts go into system and user messages; tool
//! results (in `tool` messages, or in `user` messages Anthropic-style) become
//! `tool` messages, prefixed with `Error: ` when `is_error` is set.
//! [`weft_model::ProviderOption`]s are merged into the body as an escape
//! hatch (objects merge recursively; `null` removes a field).

mod build;
mod read;
mod stream;
mod think;
pub mod wire;

use serde_json::Value;
use weft_model::types::{ChatResponse, ModelError};

use crate::adapt::Plan;
pub use crate::config::{ConfigError, OpenAiConfig};
use crate::engine::{Core, Wire, provider_type};

/// The Chat Completions wire format.
pub(crate) struct OpenAiWire;

impl Wire for OpenAiWire {
    fn url(&self, core: &Core, _stream: bool) -> String {
        if core.base.ends_with("/chat/completions") {
            core.base.clone()
        } else {
            format!("{}/chat/completions", core.base)
        }
    }

    fn body(&self, core: &Core, plan: &Plan, stream: bool) -> Result<Value, ModelError> {
        build::build_body(
            &plan.request,
            &build::Target {
                model: core.model(),
                provider: &core.provider,
                profile: &core.profile,
                caps: &core.caps,
            },
            stream,
        )
    }

    fn parse(&self, core: &Core, body: &str) -> Result<ChatResponse, ModelError> {
        read::parse_response(body, &core.provider, &core.profile, core.model())
    }

    type Decoder = stream::Decoder;

    fn decoder(&self, core: &Core) -> stream::Decoder {
        stream::Decoder::new(&core.provider, &core.profile, core.model())
    }
}

provider_type!(
    /// An OpenAI Chat Completions or OpenAI-compatible backend; see the
    /// [module docs](self).
    OpenAiCompatible,
    OpenAiWire
);
