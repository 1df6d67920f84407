//! Weft's model factory: it builds any [`weft_model::Model`] from
//! configuration, with nothing of the sandbox around it, so everything that
//! needs a model builds it the same way: the wasmtime host for an agent's
//! `model` import, `weft serve`, and the browser copilot.
//!
//! - [`ModelSpec`]: the `[model]` table of a `weft.toml`, a tagged enum on
//!   `type`: `provider` and `openai-compatible` (`weft-providers`),
//!   `router` (`weft-router`, feature `router`), `local` (`weft-local` on
//!   burn, feature `local`), `cassette` and `record` (offline replay and
//!   recording), and `plugin`, which only a host can run.
//! - [`ModelChoice`]: a spec from plain settings, as the command line's
//!   model flags give them.
//! - [`build`] turns a spec into a [`ModelStack`] (one shared model, or a
//!   router specialised per run); [`build_model`] builds one model with
//!   its API keys read from the environment.
//! - [`secrets`]: named secret values and where they come from.
//! - [`ModelFile`]: just the `[model]` and `[secrets]` of a `weft.toml`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = weft_models::ModelFile::load("examples/triage/weft.toml".as_ref())?;
//! let spec = file.model.expect("a [model] table");
//! let model = weft_models::build_model(&spec, &file.secrets)?;
//! println!("{}", model.capabilities().model);
//! # Ok(()) }
//! ```

// On wasm32 models are neither `Send` nor `Sync` (see `weft_model::MaybeSend`);
// the `Arc`s are shared within one thread there.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod build;
mod file;
pub mod secrets;
mod spec;

#[cfg(feature = "local")]
pub use build::local;
pub use build::{ModelStack, ModelsError, build, build_model};
pub use file::ModelFile;
pub use secrets::{SecretSource, SecretStore, SecretValue};
pub use spec::{ForeignReasoningRule, LocalBackend, ModelChoice, ModelSpec, NoPlugin, join};
