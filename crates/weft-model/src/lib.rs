//! Weft's model layer: the portable chat vocabulary, the [`Model`] trait
//! every backend implements, and Model-level cassettes.
//!
//! The HTTP providers (OpenAI and its compatible family, Anthropic, Gemini)
//! live in the `weft-providers` crate, which builds on this one.
//!
//! The host binds an agent's `model` import (`wit/model.wit`) to a [`Model`]
//! chosen by configuration. This crate holds everything on the Rust side of
//! that binding:
//!
//! - [`types`]: plain data types mirroring `wit/types.wit` one for one
//!   ([`ChatRequest`], [`ChatResponse`], [`StreamEvent`], [`ModelError`], ...);
//! - [`model`]: the [`Model`] trait, its stream contract and helpers
//!   ([`collect_stream`], [`stream_from_chat`]);
//! - [`cassette`]: record and replay of model calls for deterministic tests;
//! - [`ErrorKind`]: the kind of a [`ModelError`] as data ([`ModelError::kind`]);
//! - [`sse`]: a small Server-Sent Events parser;
//! - [`Secret`]: an API key that never prints.
//!
//! The crate is written to also compile for `wasm32-unknown-unknown`:
//! futures are `Send` only on native targets (see [`MaybeSend`]).

pub mod cassette;
mod error_kind;
pub mod model;
pub mod secret;
pub mod sse;
pub mod types;

pub use cassette::{Cassette, CassetteEntry, CassetteError, RecordingModel, ReplayModel};
pub use error_kind::ErrorKind;
pub use model::{
    BoxFuture, BoxStream, EventStream, MaybeSend, MaybeSync, Model, chat_via_stream,
    collect_stream, events_from_response, stream_from_chat, stream_of,
};
pub use secret::Secret;
pub use types::*;
