//! The retry, fallback and cooldown rules the engine applies (see
//! [`crate::resilience`]): [`RetryPolicy`], [`CooldownPolicy`], the default
//! fallback set and the per-provider [`Breakers`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use weft_model::ErrorKind;

/// The default fallback set: every kind except `denied` (a policy said
/// no) and `content_filtered` (another model is not a way around a content
/// filter).
pub fn default_fallback() -> Vec<ErrorKind> {
    ErrorKind::ALL
        .into_iter()
        .filter(|k| !matches!(k, ErrorKind::Denied | ErrorKind::ContentFiltered))
        .collect()
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
