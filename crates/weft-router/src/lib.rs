//! Weft's model router: it composes any [`weft_model::Model`]s into one
//! that knows what calls cost, survives provider hiccups, obeys a policy
//! and says why it did what it did.
//!
//! It needs no provider code: it works on `Arc<dyn Model>`s (remote
//! providers, local models, cassettes, other routers). It compiles for
//! `wasm32-unknown-unknown` too; time and sleeping go through the
//! injectable [`Clock`] and [`Sleeper`].
//!
//! - [`cost`]: a versioned, dated [`PriceCatalog`] (bundled as
//!   `data/prices.toml`) with cache-read and cache-write prices, DeepSeek's
//!   peak/off-peak schedule, context-length tiers and CNY prices;
//!   [`PriceCatalog::cost`] turns a call's usage into a [`Cost`].
//! - [`resilience`]: [`Resilient`], a model wrapper with jittered
//!   exponential backoff honouring Retry-After, fallback chains by
//!   [`ErrorKind`] and per-provider cooldowns ([`Breakers`]).
//! - [`policy`] and [`Router`]: a TOML [`Policy`] picks, per request, the
//!   cheapest model that meets the request's needs and a quality tier,
//!   under sovereignty rules and money budgets, and records every
//!   [`Decision`]. The choice is made by named passes applied in order
//!   (`select`: needs, budget gate, one check per rejection reason,
//!   ranking, the error when nothing is eligible).
//! - [`telemetry`]: a `tracing` span per model call with the OpenTelemetry
//!   GenAI attributes and the call's cost; with the `otlp` feature,
//!   `otlp` exports them over OTLP/HTTP.
//!
//! ```
//! use std::{collections::HashMap, sync::Arc};
//! use weft_model::Model;
//! # use weft_model::*;
//! # struct Echo(&'static str);
//! # impl Model for Echo {
//! #     fn capabilities(&self) -> Capabilities { Capabilities::new("deepseek", self.0) }
//! #     fn chat<'a>(&'a self, _: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
//! #         Box::pin(async { Ok(ChatResponse { message: Message::assistant("hi"),
//! #             finish_reason: FinishReason::Stop, usage: Usage::default(), model: self.0.into() }) })
//! #     }
//! #     fn chat_stream<'a>(&'a self, r: &'a ChatRequest) -> BoxFuture<'a, Result<EventStream, ModelError>> {
//! #         stream_from_chat(self, r)
//! #     }
//! # }
//! let policy = r#"
//!     [budget]
//!     per_run_usd = 1.0
//!
//!     [[models]]
//!     name = "flash"
//!     price = "deepseek-flash"
//!     tier = 1
//!
//!     [[models]]
//!     name = "pro"
//!     price = "deepseek-v4-pro"
//!     tier = 2
//! "#;
//! let mut models: HashMap<String, Arc<dyn Model>> = HashMap::new();
//! models.insert("flash".into(), Arc::new(Echo("deepseek-flash")));
//! models.insert("pro".into(), Arc::new(Echo("deepseek-v4-pro")));
//! let router = weft_router::Router::from_policy_str(policy, models)?.for_run("run-1");
//! # let request = ChatRequest::new(vec![Message::user("hi")]);
//! # let answer = futures::executor::block_on(router.chat(&request))?;
//! # assert_eq!(router.last_decision().unwrap().chosen.as_deref(), Some("flash"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// On wasm32 models are neither `Send` nor `Sync` (see `weft_model::MaybeSend`);
// the `Arc`s are shared within one thread there.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod cost;
pub mod decision;
mod engine;
#[cfg(all(feature = "otlp", not(target_arch = "wasm32")))]
pub mod otlp;
pub mod policy;
pub mod resilience;
mod retry;
pub mod router;
mod select;
pub mod telemetry;
pub mod time;

pub use cost::{
    BUNDLED_PRICES, CatalogError, Cost, CostBreakdown, CostError, Currency, LineItem, ModelPrice,
    PriceCatalog, Rates, Schedule, Tier,
};
pub use decision::{
    Attempt, AttemptOutcome, CandidateVerdict, Decision, Needs, Rejection, RunTotals,
};
pub use policy::{
    BudgetPolicy, CooldownConfig, CostConfig, ModelPolicy, OnExhausted, Policy, ROUTER_OPTION,
    RequestOptions, RetryConfig, RoutingPolicy, SovereigntyPolicy,
};
pub use resilience::{
    BreakerState, Breakers, ChainEntry, CooldownPolicy, Resilient, ResilientBuilder, RetryPolicy,
    default_fallback,
};
/// The kind of a model error, as fallback rules and decisions name it.
pub use weft_model::ErrorKind;
pub use router::{DEFAULT_RUN, Router, RouterBuilder, estimate_input_tokens};
pub use telemetry::redact;
pub use time::{Clock, DefaultSleeper, ManualClock, Sleeper, SystemClock};

/// Why a router, a resilient chain or a policy could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The policy TOML is malformed or has an unknown or mistyped field
    /// (the message names it, with its line and column).
    #[error("router policy: {0}")]
    Policy(String),
    /// A value is out of range or inconsistent; `field` is its path (e.g.
    /// `models[2].price`).
    #[error("router policy: `{field}`: {reason}")]
    Invalid {
        /// The path of the offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The price catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}
