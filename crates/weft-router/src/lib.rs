//! Weft's model router: it composes any [`weft_model::Model`]s into one
//! that knows what calls cost, survives provider hiccups, obeys a policy
//! and says why it did what it did.
//!
//! It needs no provider code: it works on `Arc<dyn Model>`s (remote
//! providers, local models, cassettes, other routers). It compiles for
//! `wasm32-unknown-unknown` too; time and sleeping go through the
//! injectable [`Clock`] and [`Sleeper`].
//!
//! - [`cost`]: `weft-meter`'s versioned, dated [`PriceCatalog`], which
//!   the router ranks models by and prices each attempt with.
//! - [`resilience`]: [`Resilient`], a model wrapper with jittered
//!   exponential backoff honouring Retry-After, fallback chains by
//!   [`ErrorKind`] and per-provider cooldowns ([`Breakers`]).
//! - [`policy`] and [`Router`]: a TOML [`Policy`] picks, per request, the
//!   cheapest model that meets the request's needs and a quality tier,
//!   under sovereignty rules and money budgets, and records every
//!   [`Decision`]. The choice is made by named passes applied in order
//!   (`select`: needs, budget gate, one check per rejection reason,
//!   ranking, the error when nothing is eligible).
//! - [`telemetry`]: `weft-meter`'s `gen_ai.chat` span, one per attempt,
//!   with the OpenTelemetry GenAI attributes and the attempt's cost (so
//!   the model factory meters a router's answers without tracing them
//!   again); with the `otlp` feature, `otlp` exports them over OTLP/HTTP.
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

pub mod decision;
mod engine;
pub mod policy;
pub mod resilience;
mod retry;
pub mod router;
mod select;
pub mod time;

/// The price catalog and costs (`weft_meter::cost`).
pub use weft_meter::cost;
/// OTLP export of the spans (`weft_meter::otlp`).
#[cfg(all(feature = "otlp", not(target_arch = "wasm32")))]
pub use weft_meter::otlp;
/// The `gen_ai.chat` spans (`weft_meter::telemetry`).
pub use weft_meter::telemetry;

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
pub use router::{DEFAULT_RUN, Router, RouterBuilder, estimate_input_tokens};
pub use time::{Clock, DefaultSleeper, ManualClock, Sleeper, SystemClock};
pub use weft_meter::cost::{
    BUNDLED_PRICES, CatalogError, Cost, CostBreakdown, CostError, Currency, LineItem, ModelPrice,
    PriceCatalog, Rates, Schedule, Tier,
};
pub use weft_meter::redact;
/// The kind of a model error, as fallback rules and decisions name it.
pub use weft_model::ErrorKind;

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
