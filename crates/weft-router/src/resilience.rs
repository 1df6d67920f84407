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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, Model, ModelError,
};

use crate::ConfigError;
use crate::cost::PriceCatalog;
use crate::engine::{Engine, Target};
use crate::time::{Clock, DefaultSleeper, Sleeper, SystemClock};

/// The kind of a [`ModelError`], as data: what fallback rules and decision
/// records name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`ModelError::RateLimited`].
    RateLimited,
    /// [`ModelError::Auth`].
    Auth,
    /// [`ModelError::InsufficientBalance`].
    InsufficientBalance,
    /// [`ModelError::ContextTooLong`].
    ContextTooLong,
    /// [`ModelError::Unsupported`].
    Unsupported,
    /// [`ModelError::ContentFiltered`].
    ContentFiltered,
    /// [`ModelError::Overloaded`].
    Overloaded,
    /// [`ModelError::Timeout`].
    Timeout,
    /// [`ModelError::Transport`].
    Transport,
    /// [`ModelError::Denied`].
    Denied,
    /// [`ModelError::Provider`] with an HTTP status of 500 or more.
    ServerError,
    /// [`ModelError::Provider`] with any other status.
    Provider,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::RateLimited,
        ErrorKind::Auth,
        ErrorKind::InsufficientBalance,
        ErrorKind::ContextTooLong,
        ErrorKind::Unsupported,
        ErrorKind::ContentFiltered,
        ErrorKind::Overloaded,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::Denied,
        ErrorKind::ServerError,
        ErrorKind::Provider,
    ];

    /// The kind of an error.
    pub fn of(error: &ModelError) -> Self {
        match error {
            ModelError::RateLimited { .. } => ErrorKind::RateLimited,
            ModelError::Auth(_) => ErrorKind::Auth,
            ModelError::InsufficientBalance(_) => ErrorKind::InsufficientBalance,
            ModelError::ContextTooLong(_) => ErrorKind::ContextTooLong,
            ModelError::Unsupported(_) => ErrorKind::Unsupported,
            ModelError::ContentFiltered(_) => ErrorKind::ContentFiltered,
            ModelError::Overloaded(_) => ErrorKind::Overloaded,
            ModelError::Timeout(_) => ErrorKind::Timeout,
            ModelError::Transport(_) => ErrorKind::Transport,
            ModelError::Denied(_) => ErrorKind::Denied,
            ModelError::Provider { status, .. } if *status >= 500 => ErrorKind::ServerError,
            ModelError::Provider { .. } => ErrorKind::Provider,
        }
    }

    /// The snake_case name (`rate_limited`, ...), as in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Auth => "auth",
            ErrorKind::InsufficientBalance => "insufficient_balance",
            ErrorKind::ContextTooLong => "context_too_long",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Denied => "denied",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Provider => "provider",
        }
    }

    /// True for the kinds worth retrying on the same model (and counted
    /// against a provider's breaker).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Timeout
                | ErrorKind::Transport
                | ErrorKind::ServerError
        )
    }

    /// The default fallback set: every kind except `denied` (a policy said
    /// no) and `content_filtered` (another model is not a way around a
    /// content filter).
    pub fn default_fallback() -> Vec<ErrorKind> {
        Self::ALL
            .into_iter()
            .filter(|k| !matches!(k, ErrorKind::Denied | ErrorKind::ContentFiltered))
            .collect()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to retry one model.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls per model in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The wait before the first retry.
    pub base_delay: Duration,
    /// The longest backoff wait.
    pub max_delay: Duration,
    /// Growth factor of the wait per retry.
    pub multiplier: f64,
    /// Up to this fraction of each wait is taken off at random (0 = none,
    /// 1 = "full jitter").
    pub jitter: f64,
    /// The longest Retry-After honoured by waiting; a longer one puts the
    /// provider in cooldown instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 250 ms doubling to at most 8 s, 20% jitter, Retry-After
    /// honoured up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            multiplier: 2.0,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (1 for the first retry), with
    /// `unit` a random number in `[0, 1)` for the jitter.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.multiplier.max(1.0).powi(exp);
        let base = self.base_delay.as_secs_f64() * factor;
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(capped * (1.0 - jitter)).unwrap_or(self.max_delay)
    }
}

/// When to put a provider in cooldown.
#[derive(Debug, Clone, PartialEq)]
pub struct CooldownPolicy {
    /// Consecutive retryable failures that open the breaker (0 = never).
    pub failure_threshold: u32,
    /// How long the provider is skipped once open.
    pub cooldown: Duration,
}

impl Default for CooldownPolicy {
    /// 5 consecutive failures, 30 s.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// The state of one provider's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; this many consecutive failures so far.
    Closed {
        /// Consecutive retryable failures.
        consecutive_failures: u32,
    },
    /// Calls are skipped until then.
    Open {
        /// When the cooldown ends.
        until: SystemTime,
    },
    /// The cooldown is over; the next call is a trial.
    HalfOpen,
}

#[derive(Debug, Default)]
struct BreakerEntry {
    failures: u32,
    open_until: Option<SystemTime>,
    half_open: bool,
}

/// Per-provider circuit breakers, shared by every model of a provider (and
/// between wrappers that share the `Arc`).
#[derive(Debug)]
pub struct Breakers {
    policy: CooldownPolicy,
    entries: Mutex<HashMap<String, BreakerEntry>>,
}

impl Breakers {
    /// Breakers following `policy`.
    pub fn new(policy: CooldownPolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BreakerEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state of `provider`'s breaker at `now`.
    pub fn state(&self, provider: &str, now: SystemTime) -> BreakerState {
        let entries = self.lock();
        match entries.get(provider) {
            None => BreakerState::Closed {
                consecutive_failures: 0,
            },
            Some(e) => match e.open_until {
                Some(until) if now < until => BreakerState::Open { until },
                Some(_) => BreakerState::HalfOpen,
                None if e.half_open => BreakerState::HalfOpen,
                None => BreakerState::Closed {
                    consecutive_failures: e.failures,
                },
            },
        }
    }

    /// `Some(until)` while `provider` is cooling down; moves an expired
    /// breaker to half-open.
    pub(crate) fn open_until(&self, provider: &str, now: SystemTime) -> Option<SystemTime> {
        let mut entries = self.lock();
        let e = entries.get_mut(provider)?;
        match e.open_until {
            Some(until) if now < until => Some(until),
            Some(_) => {
                e.open_until = None;
                e.half_open = true;
                None
            }
            None => None,
        }
    }

    /// A call to `provider` succeeded: the breaker closes.
    pub fn record_success(&self, provider: &str) {
        let mut entries = self.lock();
        if let Some(e) = entries.get_mut(provider) {
            *e = BreakerEntry::default();
        }
    }

    /// A call to `provider` failed with a retryable error; returns true when
    /// this opened the breaker.
    pub fn record_failure(&self, provider: &str, now: SystemTime) -> bool {
        if self.policy.failure_threshold == 0 {
            return false;
        }
        let mut entries = self.lock();
        let e = entries.entry(provider.to_owned()).or_default();
        e.failures += 1;
        if e.half_open || e.failures >= self.policy.failure_threshold {
            e.open_until = Some(now + self.policy.cooldown);
            e.failures = 0;
            e.half_open = false;
            true
        } else {
            false
        }
    }

    /// Opens `provider`'s breaker until `until` (a long Retry-After).
    pub fn trip(&self, provider: &str, until: SystemTime) {
        let mut entries = self.lock();
        let e = entries.entry(provider.to_owned()).or_default();
        if e.open_until.is_none_or(|u| u < until) {
            e.open_until = Some(until);
        }
        e.failures = 0;
        e.half_open = false;
    }
}

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
            fallback_on: ErrorKind::default_fallback(),
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
