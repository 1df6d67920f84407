//! Weft's host runtime: loads agent, tool and model components into
//! sandboxed wasmtime stores and wires them together.
//!
//! - **Worlds.** Agents (`agent-plugin`), tools (`tool-plugin`) and model
//!   plugins (`model-plugin`) are WebAssembly components built against
//!   `wit/`. Loading checks each against its world and names what is off.
//! - **Compile cache.** Components are compiled once and cached on disk by
//!   content hash ([`cache`]); later loads deserialize in milliseconds.
//! - **Sandbox.** Every component gets its own store with a memory cap
//!   over all its memories, a wall-clock deadline per call that holds
//!   whatever the guest waits on (a sleep, HTTP, a model, a nested tool),
//!   optional fuel, bounds on everything it makes the host hold (logs,
//!   state, resources, HTTP headers, open requests; see [`Limits`]), and a
//!   deny-by-default [`Policy`]: tools, outbound HTTP hosts, env vars,
//!   preopened directories and named secrets. Secrets are substituted into
//!   outgoing requests by the host, never enter guest memory, and are
//!   redacted from what comes back.
//! - **Faults.** A trap, timeout or limit hit becomes a typed error for the
//!   caller ([`ToolError::Crashed`], [`RunError::Crashed`]), the instance is
//!   discarded and the next call gets a fresh one.
//! - **Models.** The agent's `model` import is bound to a backend chosen by
//!   configuration ([`ModelSpec`]) and built by the model factory,
//!   [`weft_models`]: any provider (the OpenAI-compatible family,
//!   Anthropic, Gemini), a router over several of them with budgets and
//!   fallback, a local model (feature `local`), a cassette, or a model
//!   plugin wrapping another backend.
//!   The factory meters every native model (`weft_meter::Metered`): each
//!   answer carries its charge from the dated price catalog, which the host
//!   sums per run ([`RunReport::spend`]) without pricing or tracing itself.
//!
//! Guest calls run asynchronously on a tokio runtime, so a guest waiting
//! on the host holds no thread and its deadline can cut the wait off.
//! [`Host::run`] blocks the calling thread for the length of a run (call it
//! from `spawn_blocking` in async code, or use [`Host::run_async`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use weft_host::{AppConfig, Host};
//! let config = AppConfig::load("examples/triage/weft.toml".as_ref())?;
//! let host = Host::builder().build(&config)?;
//! let report = host.run("My invoice is wrong, please help")?;
//! println!("{}", report.answer);
//! # Ok(()) }
//! ```

mod bindings;
mod builder;
pub mod cache;
pub mod config;
mod convert;
pub mod engine;
mod error;
mod host;
mod http;
mod inspect;
mod limits;
mod linker;
mod loader;
mod model_binding;
mod model_plugin;
pub mod observe;
pub mod policy;
pub mod secrets;
mod services;
mod store;
mod stream;
mod toolbox;
mod tools;
mod world;

pub use builder::HostBuilder;
pub use config::{AppConfig, ComponentConfig, ModelSpec, PolicyFile};
pub use engine::EngineOptions;
pub use error::{Abort, HostError, ToolError};
pub use host::{Host, RoutingReport, RunError, RunReport, Session};
pub use inspect::{Inspection, inspect, inspect_async};
pub use limits::ResourceUsage;
pub use observe::{
    Approver, Clock, Event, FixedApprover, FixedClock, Observer, RecordingObserver, SystemClock,
};
pub use policy::{Limits, Policy};
pub use store::Spend;
pub use tools::Toolbox;
pub use weft_model as model;
pub use world::{ComponentRole, ComponentSummary, WIT_PACKAGE, WIT_VERSION};
