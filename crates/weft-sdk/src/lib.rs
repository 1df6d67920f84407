//! **weft-sdk** — the Rust guest SDK for Weft components.
//!
//! This crate is what a tool, model or agent plugin depends on (and nothing
//! else: it re-exports [`serde`], [`serde_json`] and [`schemars`]). It
//! generates the guest bindings of Weft's WIT worlds and wraps them in
//! typed, documented helpers.
//!
//! # Choosing a world
//!
//! Enable the cargo feature of the plugin's world — `tool`, `model` or
//! `agent` — and export it with [`tools!`] (or [`export_tool!`]),
//! [`export_model!`] or [`export_agent!`]. The features only decide which
//! helpers and traits are compiled: the `component-type` custom section
//! that declares a world's **exports** is emitted by the export macro in
//! the plugin crate itself, while the SDK links only import-only sections
//! (wit-component drops imports a component does not call). So a
//! component demands exactly the exports it defines, even when cargo
//! unifies the features of several plugins built together (verified:
//! `cargo build --workspace` in `plugins/` yields one world per
//! component). The `http` feature adds an HTTP client over
//! `wasi:http/outgoing-handler` usable in any world.
//!
//! The imports ([`log`](mod@log), [`config`], `state`, `clock`, `Toolbox`,
//! `approval`, `Model`) share one set of generated types, re-exported at
//! the crate root. A helper is compiled only under the features of the
//! worlds that import its interface (`state`: tool, agent; `Model`: model,
//! agent; `Toolbox`, `clock`, `approval`: agent), so a plugin cannot call
//! an import its world lacks by accident.
//!
//! # A tool plugin
//!
//! ```ignore
//! weft_sdk::json_types! {
//!     struct CountArgs {
//!         /// The text to count words in.
//!         text: String,
//!     }
//!     struct Counts {
//!         words: u64,
//!     }
//! }
//!
//! weft_sdk::tools! {
//!     /// Counts the words of a text.
//!     fn count_words(args: CountArgs) -> Result<Counts, String> {
//!         Ok(Counts { words: args.text.split_whitespace().count() as u64 })
//!     }
//! }
//! ```
//!
//! # Exact 64-bit integers
//!
//! JSON crosses every boundary as text and is parsed by `serde_json`
//! straight into typed values, so `u64`/`i64` are never rounded through
//! `f64`; generated schemas carry exact `minimum`/`maximum` bounds. See
//! [`schema`] for the details.

#![deny(unsafe_code)]

pub mod bindings;
pub mod config;
mod derive;
mod error;
pub mod log;
pub mod schema;
mod types_ext;

#[cfg(any(feature = "tool", feature = "agent"))]
pub mod state;

#[cfg(feature = "agent")]
pub mod approval;
#[cfg(feature = "agent")]
pub mod clock;
#[cfg(feature = "agent")]
mod toolbox;

#[cfg(any(feature = "model", feature = "agent"))]
pub mod model;

#[cfg(feature = "tool")]
pub mod tool;

#[cfg(feature = "model")]
pub mod model_plugin;

#[cfg(feature = "agent")]
pub mod agent;

#[cfg(feature = "http")]
pub mod http;

pub use error::SdkError;

pub use bindings::weft::plugins::types::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, JsonSchemaFormat, Message, ModelError,
    Part, ProviderFailure, ProviderOption, RateLimit, Reasoning, ResponseFormat, Role, Sampling,
    StreamEvent, ToolCall, ToolChoice, ToolError, ToolResult, ToolSpec, Usage,
};

#[cfg(any(feature = "model", feature = "agent"))]
pub use model::{ChatStream, Model};
#[cfg(feature = "agent")]
pub use toolbox::Toolbox;

pub use schemars::{self, JsonSchema};
pub use serde::{self, Deserialize, Serialize};
pub use serde_json;
