//! Resilience: retries with jittered exponential backoff that honour
//! Retry-After, fallback chains by error kind, and per-provider cooldowns
//! (circuit breakers), as the [`Resilient`] model wrapper.
//!
//! Rules, shared with the [`Router`](crate::Router):
//!
//! - **Retry** the same model only for retryable errors
//!   ([`ModelError::is_retryable`]: rate limited, overloaded, timeout,
//!   transport, HTTP 5xx), never for auth, insufficient balance, context too
//!   long, content filtered or a policy denial. The n-th retry waits
//!   `min(max_delay, base_delay × multiplier^(n-1))`, less up to `jitter` of
//!   it at random. A Retry-After the provider names is honoured (the wait is
//!   at least that long); one above [`RetryPolicy::max_retry_after`] is not
//!   waited for: the provider is put in cooldown until then and the chain
//!   moves on.
//! - **Fall back** to the next model of the chain when the last error's
//!   [`ErrorKind`] is in the fallback set (by default every kind except
//!   `denied` and `content_filtered`). After `context_too_long`, only models
//!   with a larger known context window are tried.
//! - **Cool down** a provider after [`CooldownPolicy::failure_threshold`]
//!   consecutive retryable failures: its models are skipped for
//!   [`CooldownPolicy::cooldown`]; then one trial call is let through
//!   (half-open): success closes the breaker, failure reopens it.
//! - **Streams** are retried and fall back only until their first event:
//!   once an event has been delivered, a later error ends the stream.

use std::sync::Arc;

use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, ErrorKind, EventStream, Model, ModelError,
};

use crate::ConfigError;
use crate::cost::PriceCatalog;
use crate::engine::{Engine, Target};
pub use crate::retry::{BreakerState, Breakers, CooldownPolicy, RetryPolicy, default_fallback};
use crate::time::{Clock, DefaultSleeper, Sleeper, SystemClock};

/// One model of a [`Resilient`] chain.
#[derive(Clone)]
pub struct ChainEntry {
    /// A name for records and spans.
    pub name: String,
    /// The model.
    pub model: Arc<dyn Model>,
    /// The provider whose breaker it shares; defaults to
    /// `capabilities().provider`.
    pub provider: Option<String>,
    /// The price catalog key; defaults to `capabilities().model`.
    pub price: Option<String>,
    /// A local model: free when the catalog has no price for it.
    pub local: bool,
}

impl ChainEntry {
    /// An entry with defaults from the model's capabilities.
    pub fn new(name: impl Into<String>, model: Arc<dyn Model>) -> Self {
        Self {
            name: name.into(),
            model,
            provider: None,
            price: None,
            local: false,
        }
    }
}

/// Builds a [`Resilient`].
pub struct ResilientBuilder {
    entries: Vec<ChainEntry>,
    retry: RetryPolicy,
    cooldown: CooldownPolicy,
    breakers: Option<Arc<Breakers>>,
    fallback_on: Vec<ErrorKind>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    catalog: Option<Arc<PriceCatalog>>,
    seed: Option<u64>,
}

impl ResilientBuilder {
    /// Appends a model to the chain (the first is the primary).
    pub fn model(mut self, name: impl Into<String>, model: Arc<dyn Model>) -> Self {
        self.entries.push(ChainEntry::new(name, model));
        self
    }

    /// Appends a fully described model to the chain.
    pub fn entry(mut self, entry: ChainEntry) -> Self {
        self.entries.push(entry);
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The cooldown policy for breakers this builder creates.
    pub fn cooldown(mut self, cooldown: CooldownPolicy) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Shares existing breakers (their own policy applies).
    pub fn breakers(mut self, breakers: Arc<Breakers>) -> Self {
        self.breakers = Some(breakers);
        self
    }

    /// The error kinds that move on to the next model.
    pub fn fallback_on(mut self, kinds: impl IntoIterator<Item = ErrorKind>) -> Self {
        self.fallback_on = kinds.into_iter().collect();
        self
    }

    /// The clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sleeper (default [`DefaultSleeper`]).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// A price catalog, to put each call's cost on its span.
    pub fn catalog(mut self, catalog: Arc<PriceCatalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Seeds the jitter's random numbers (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The wrapper; fails on an empty chain.
    pub fn build(self) -> Result<Resilient, ConfigError> {
        if self.entries.is_empty() {
            return Err(ConfigError::Invalid {
                field: "chain".into(),
                reason: "a resilient chain needs at least one model".into(),
            });
        }
        let targets = self
            .entries
            .into_iter()
            .map(|e| {
                let caps = e.model.capabilities();
                Arc::new(Target {
                    name: e.name,
                    provider: e.provider.unwrap_or_else(|| caps.provider.clone()),
                    model_id: caps.model.clone(),
                    price: Some(e.price.unwrap_or_else(|| caps.model.clone())),
                    local: e.local,
                    context_window: caps.context_window,
                    model: e.model,
                })
            })
            .collect::<Vec<_>>();
        let breakers = self
            .breakers
            .unwrap_or_else(|| Arc::new(Breakers::new(self.cooldown)));
        let engine = Engine::new(
            self.retry,
            breakers,
            self.fallback_on,
            self.clock,
            self.sleeper,
            self.catalog,
            self.seed,
        );
        Ok(Resilient {
            engine: Arc::new(engine),
            targets,
        })
    }
}

/// A [`Model`] that retries, falls back along a chain and cools down failing
/// providers (rules in the [module docs](self)).
#[derive(Clone)]
pub struct Resilient {
    engine: Arc<Engine>,
    targets: Vec<Arc<Target>>,
}

impl Resilient {
    /// A builder with default policies, the system clock and the platform
    /// sleeper.
    pub fn builder() -> ResilientBuilder {
        ResilientBuilder {
            entries: Vec::new(),
            retry: RetryPolicy::default(),
            cooldown: CooldownPolicy::default(),
            breakers: None,
            fallback_on: default_fallback(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(DefaultSleeper),
            catalog: None,
            seed: None,
        }
    }

    /// The breakers this wrapper uses.
    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.engine.breakers
    }
}

impl Model for Resilient {
    fn capabilities(&self) -> Capabilities {
        self.targets[0].model.capabilities()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        Box::pin(async move {
            let mut attempts = Vec::new();
            self.engine
                .chat(&self.targets, request, &mut attempts)
                .await
                .map(|won| won.response)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        Box::pin(async move {
            let mut attempts = Vec::new();
            let opened = self
                .engine
                .open_stream(&self.targets, request, &mut attempts)
                .await?;
            Ok(self.engine.clone().track(opened, None))
        })
    }
}
