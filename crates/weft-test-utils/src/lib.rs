//! Test helpers shared by Weft's crates, written once: a scripted HTTP/1.1
//! server on 127.0.0.1 ([`LoopbackServer`]) and a scripted fake model
//! ([`ScriptedModel`]).
//!
//! Dev-only (`publish = false`): crates list it under `[dev-dependencies]`.
//! It depends on `weft-model`, tokio and little else, never on wasmtime or
//! burn, so depending on it costs a test build almost nothing.

pub mod http;
pub mod model;

pub use http::{LoopbackServer, Reply, Request};
pub use model::{AfterScript, ScriptedModel, Step};
