//! The router's policy file (TOML).
//!
//! Every table rejects unknown fields, and errors name the field (with its
//! line and column for syntax and type errors, with its path for values out
//! of range). Every table but `[[models]]` is optional.
//!
//! ```toml
//! [routing]
//! min_tier = 2                    # quality floor (higher is better)
//! expected_output_tokens = 1024   # for cost estimates when a request sets no limit
//! bytes_per_token = 4.0           # prompt-size estimate
//! fallback_on = ["rate_limited", "overloaded", "timeout", "transport",
//!                "server_error", "insufficient_balance", "auth",
//!                "context_too_long", "unsupported", "provider"]
//! decision_log_limit = 1000       # decisions kept for reading back
//!
//! [sovereignty]
//! local_only = false
//! allow_providers = ["deepseek", "qwen", "local"]   # omit: any
//! deny_providers = ["openai"]
//! allow_jurisdictions = ["cn", "eu", "local"]       # omit: any
//! deny_jurisdictions = ["us"]
//!
//! [budget]
//! per_run_usd = 0.50
//! default_per_key_usd = 20.0      # keys not listed below
//! on_exhausted = "local"          # "fail" (default) | "local" | "cheapest"
//! overdraft_usd = 0.10            # with "cheapest": hard stop at limit + this
//! [budget.per_key_usd]
//! team-a = 5.0
//!
//! [retry]
//! max_attempts = 3
//! base_delay_ms = 250
//! max_delay_ms = 8000
//! multiplier = 2.0
//! jitter = 0.2
//! max_retry_after_ms = 60000
//!
//! [cooldown]
//! failures = 5                    # consecutive retryable failures (0 = off)
//! cooldown_ms = 30000
//!
//! [cost]
//! cny_per_usd = 7.10              # overrides the catalog's rate
//!
//! [[models]]
//! name = "flash"                  # key in the map of models given to the router
//! provider = "deepseek"           # default: the model's capabilities().provider
//! price = "deepseek-flash"        # price catalog key; default: capabilities().model
//! tier = 2
//! jurisdiction = "cn"
//! tools = true                    # default: from capabilities()
//! json = true                     # default: from capabilities() (json_object or json_schema)
//! context_window = 1000000        # default: from capabilities()
//!
//! [[models]]
//! name = "llama"
//! tier = 1
//! local = true                    # free unless the catalog prices it; jurisdiction "local" by default
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::retry::{CooldownPolicy, RetryPolicy, default_fallback};
use weft_model::ErrorKind;

/// A router policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How models are picked.
    #[serde(default)]
    pub routing: RoutingPolicy,
    /// Which models may be used at all.
    #[serde(default)]
    pub sovereignty: SovereigntyPolicy,
    /// Money budgets.
    #[serde(default)]
    pub budget: BudgetPolicy,
    /// Retries of one model.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-provider cooldowns.
    #[serde(default)]
    pub cooldown: CooldownConfig,
    /// Cost settings.
    #[serde(default)]
    pub cost: CostConfig,
    /// The models the router may use, in order of preference at equal cost.
    #[serde(default)]
    pub models: Vec<ModelPolicy>,
}

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingPolicy {
    /// The minimum quality tier (a request may set its own with the
    /// `min_tier` option).
    pub min_tier: u32,
    /// Output tokens assumed in cost estimates when the request sets no
    /// `max_output_tokens`.
    pub expected_output_tokens: u32,
    /// Prompt bytes per token, to estimate a request's size.
    pub bytes_per_token: f64,
    /// Error kinds that move on to the next model.
    pub fallback_on: Vec<ErrorKind>,
    /// How many decisions are kept for reading back (oldest dropped first).
    pub decision_log_limit: usize,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            min_tier: 0,
            expected_output_tokens: 1024,
            bytes_per_token: 4.0,
            fallback_on: default_fallback(),
            decision_log_limit: 1000,
        }
    }
}

/// `[sovereignty]`: where requests may go. Names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SovereigntyPolicy {
    /// Only local models.
    pub local_only: bool,
    /// Only these providers (absent: any).
    pub allow_providers: Option<Vec<String>>,
    /// Never these providers.
    pub deny_providers: Vec<String>,
    /// Only models tagged with one of these jurisdictions (absent: any;
    /// untagged models are then rejected).
    pub allow_jurisdictions: Option<Vec<String>>,
    /// Never models tagged with these jurisdictions.
    pub deny_jurisdictions: Vec<String>,
}

/// What to do when a budget is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// Refuse with `ModelError::Denied("budget ... exhausted: spent X of Y")`.
    #[default]
    Fail,
    /// Go on with local models only (whatever their tier); refuse when
    /// there are none.
    Local,
    /// Go on with the cheapest eligible model (whatever its tier) until
    /// `overdraft_usd` more is spent; then refuse.
    Cheapest,
}

/// `[budget]`: money limits in USD, spent from each call's cost.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetPolicy {
    /// The limit per run.
    pub per_run_usd: Option<f64>,
    /// Limits per key.
    pub per_key_usd: BTreeMap<String, f64>,
    /// The limit for keys not in `per_key_usd` (absent: unlimited).
    pub default_per_key_usd: Option<f64>,
    /// What happens when a budget runs out.
    pub on_exhausted: OnExhausted,
    /// With `cheapest`: how far past the limit calls may go.
    pub overdraft_usd: f64,
}

/// `[retry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Calls per model in all (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff, in milliseconds.
    pub base_delay_ms: u64,
    /// The longest backoff, in milliseconds.
    pub max_delay_ms: u64,
    /// Backoff growth per retry.
    pub multiplier: f64,
    /// Fraction of each backoff taken off at random (0 to 1).
    pub jitter: f64,
    /// The longest Retry-After waited for, in milliseconds; longer ones cool
    /// the provider down instead.
    pub max_retry_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        let d = RetryPolicy::default();
        Self {
            max_attempts: d.max_attempts,
            base_delay_ms: millis(d.base_delay),
            max_delay_ms: millis(d.max_delay),
            multiplier: d.multiplier,
            jitter: d.jitter,
            max_retry_after_ms: millis(d.max_retry_after),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RetryConfig {
    /// As a [`RetryPolicy`].
    pub fn to_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base_delay: Duration::from_millis(self.base_delay_ms),
            max_delay: Duration::from_millis(self.max_delay_ms),
            multiplier: self.multiplier,
            jitter: self.jitter,
            max_retry_after: Duration::from_millis(self.max_retry_after_ms),
        }
    }
}

/// `[cooldown]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CooldownConfig {
    /// Consecutive retryable failures that cool a provider down (0 = never).
    pub failures: u32,
    /// How long, in milliseconds.
    pub cooldown_ms: u64,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        let d = CooldownPolicy::default();
        Self {
            failures: d.failure_threshold,
            cooldown_ms: millis(d.cooldown),
        }
    }
}

impl CooldownConfig {
    /// As a [`CooldownPolicy`].
    pub fn to_policy(&self) -> CooldownPolicy {
        CooldownPolicy {
            failure_threshold: self.failures,
            cooldown: Duration::from_millis(self.cooldown_ms),
        }
    }
}

/// `[cost]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// 1 USD in CNY; overrides the price catalog's rate.
    pub cny_per_usd: Option<f64>,
}

/// One `[[models]]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPolicy {
    /// The model's key in the map given to the router.
    pub name: String,
    /// Its provider (default: `capabilities().provider`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Its price catalog key (default: `capabilities().model`).
    #[serde(default)]
    pub price: Option<String>,
    /// Its quality tier, assigned by you (higher is better).
    #[serde(default)]
    pub tier: u32,
    /// Its jurisdiction tag (`cn`, `eu`, `us`, ...; local models default to
    /// `local`).
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// It runs locally: free unless priced, and allowed under local-only.
    #[serde(default)]
    pub local: bool,
    /// It takes tools (default: from its capabilities).
    #[serde(default)]
    pub tools: Option<bool>,
    /// It can answer in JSON (default: from its capabilities).
    #[serde(default)]
    pub json: Option<bool>,
    /// Its context window in tokens (default: from its capabilities).
    #[serde(default)]
    pub context_window: Option<u32>,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_usd(field: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a number >= 0, not {value}"),
        ))
    }
}

impl Policy {
    /// Reads and checks a policy.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| ConfigError::Policy(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks value ranges; errors name the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.routing;
        if !(r.bytes_per_token.is_finite() && r.bytes_per_token > 0.0) {
            return Err(invalid("routing.bytes_per_token", "must be > 0"));
        }
        if let Some(v) = self.budget.per_run_usd {
            check_usd("budget.per_run_usd", v)?;
        }
        if let Some(v) = self.budget.default_per_key_usd {
            check_usd("budget.default_per_key_usd", v)?;
        }
        for (k, v) in &self.budget.per_key_usd {
            check_usd(&format!("budget.per_key_usd.{k}"), *v)?;
        }
        check_usd("budget.overdraft_usd", self.budget.overdraft_usd)?;
        let t = &self.retry;
        if t.max_attempts == 0 {
            return Err(invalid(
                "retry.max_attempts",
                "must be at least 1 (1 = no retries)",
            ));
        }
        if !(t.multiplier.is_finite() && t.multiplier >= 1.0) {
            return Err(invalid("retry.multiplier", "must be >= 1"));
        }
        if !(t.jitter.is_finite() && (0.0..=1.0).contains(&t.jitter)) {
            return Err(invalid("retry.jitter", "must be between 0 and 1"));
        }
        if t.base_delay_ms > t.max_delay_ms {
            return Err(invalid(
                "retry.base_delay_ms",
                "must not exceed retry.max_delay_ms",
            ));
        }
        if let Some(rate) = self.cost.cny_per_usd
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(invalid("cost.cny_per_usd", "must be > 0"));
        }
        if self.models.is_empty() {
            return Err(invalid("models", "a policy needs at least one [[models]]"));
        }
        for (i, m) in self.models.iter().enumerate() {
            if m.name.trim().is_empty() {
                return Err(invalid(format!("models[{i}].name"), "must not be empty"));
            }
            if self.models[..i].iter().any(|o| o.name == m.name) {
                return Err(invalid(
                    format!("models[{i}].name"),
                    format!("`{}` is listed twice", m.name),
                ));
            }
        }
        Ok(())
    }
}

/// Per-request router options, sent as a provider option for the provider
/// [`ROUTER_OPTION`]:
///
/// ```
/// # use weft_model::{ChatRequest, Message};
/// let request = ChatRequest::new(vec![Message::user("hi")])
///     .with_provider_option("weft-router", r#"{"min_tier": 3, "local_only": true}"#);
/// ```
///
/// Options can only tighten sovereignty (`local_only` adds to the policy,
/// never lifts it); budgets are scoped by the host ([`Router::for_run`],
/// [`Router::with_key`]), never by the request. The router strips the
/// option before calling a model.
///
/// [`Router::for_run`]: crate::Router::for_run
/// [`Router::with_key`]: crate::Router::with_key
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestOptions {
    /// The minimum quality tier for this request (replaces the policy's).
    pub min_tier: Option<u32>,
    /// Only local models for this request.
    pub local_only: bool,
    /// Output tokens to assume in cost estimates.
    pub expected_output_tokens: Option<u32>,
}

/// The provider name of the router's per-request option.
pub const ROUTER_OPTION: &str = "weft-router";
