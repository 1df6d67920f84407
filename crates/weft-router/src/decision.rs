//! The router's decision records: what a request needed, which models were
//! considered and why each was rejected, every attempt, what answered, what
//! it cost and what the run and key have spent so far.
//!
//! All types serialize to JSON (for transcripts). Error messages are kept
//! only after [`redact`](crate::redact).

use std::fmt;

use serde::{Deserialize, Serialize};
use weft_model::Usage;

use crate::cost::Cost;
use weft_model::ErrorKind;

/// What a request needs from a model, as the router estimated it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Needs {
    /// The request offers tools (and does not forbid calling them).
    pub tools: bool,
    /// The request asks for a JSON answer (object or schema).
    pub json: bool,
    /// Estimated prompt tokens.
    pub estimated_input_tokens: u64,
    /// Output tokens assumed for the cost estimate (the request's limit, a
    /// request option or the policy's default).
    pub expected_output_tokens: u64,
    /// Tokens the context window must hold: the prompt plus the request's
    /// output limit, if it set one.
    pub context_tokens: u64,
    /// The minimum quality tier.
    pub min_tier: u32,
    /// Only local models may answer.
    pub local_only: bool,
}

/// Why a model was not chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    /// The policy or the request allows only local models.
    LocalOnly,
    /// The provider is not on the policy's allow list.
    ProviderNotAllowed {
        /// The model's provider.
        provider: String,
    },
    /// The provider is on the policy's deny list.
    ProviderDenied {
        /// The model's provider.
        provider: String,
    },
    /// The model's jurisdiction is not on the allow list (or it has none).
    JurisdictionNotAllowed {
        /// The model's jurisdiction tag, if any.
        jurisdiction: Option<String>,
    },
    /// The model's jurisdiction is on the deny list.
    JurisdictionDenied {
        /// The model's jurisdiction tag.
        jurisdiction: String,
    },
    /// The request has tools; the model does not take them.
    NoTools,
    /// The request wants JSON; the model cannot produce it.
    NoJson,
    /// The request does not fit the model's context window.
    ContextTooSmall {
        /// Tokens needed.
        needed: u64,
        /// The model's window.
        window: u32,
    },
    /// The model's quality tier is below the minimum.
    TierTooLow {
        /// The model's tier.
        tier: u32,
        /// The minimum asked for.
        min: u32,
    },
    /// The model's provider is cooling down after repeated failures.
    CoolingDown {
        /// When the cooldown ends (milliseconds since the Unix epoch).
        until_unix_ms: u64,
    },
    /// A budget is exhausted and the policy falls back to local models only.
    BudgetLocalOnly,
}

impl Rejection {
    /// True for rejections by a sovereignty rule or a budget (as opposed
    /// to a missing capability, a tier or a cooldown).
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            Rejection::LocalOnly
                | Rejection::ProviderNotAllowed { .. }
                | Rejection::ProviderDenied { .. }
                | Rejection::JurisdictionNotAllowed { .. }
                | Rejection::JurisdictionDenied { .. }
                | Rejection::BudgetLocalOnly
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::LocalOnly => write!(f, "not local (local-only)"),
            Rejection::ProviderNotAllowed { provider } => {
                write!(f, "provider `{provider}` is not allowed")
            }
            Rejection::ProviderDenied { provider } => write!(f, "provider `{provider}` is denied"),
            Rejection::JurisdictionNotAllowed { jurisdiction } => match jurisdiction {
                Some(j) => write!(f, "jurisdiction `{j}` is not allowed"),
                None => write!(f, "no jurisdiction tag (an allow list is set)"),
            },
            Rejection::JurisdictionDenied { jurisdiction } => {
                write!(f, "jurisdiction `{jurisdiction}` is denied")
            }
            Rejection::NoTools => write!(f, "does not take tools"),
            Rejection::NoJson => write!(f, "cannot answer in JSON"),
            Rejection::ContextTooSmall { needed, window } => {
                write!(f, "needs ~{needed} tokens, context window {window}")
            }
            Rejection::TierTooLow { tier, min } => write!(f, "tier {tier} < minimum {min}"),
            Rejection::CoolingDown { .. } => write!(f, "provider cooling down"),
            Rejection::BudgetLocalOnly => write!(f, "not local (budget exhausted)"),
        }
    }
}

/// How the router judged one model for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateVerdict {
    /// The model's name in the policy.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Its quality tier.
    pub tier: u32,
    /// The estimated cost of this request on it, in USD.
    pub estimated_cost_usd: Option<f64>,
    /// Why it was rejected; empty when it was eligible.
    pub rejected: Vec<Rejection>,
}

/// What happened on one attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// It answered (or, for a stream, delivered its first event).
    Ok,
    /// It failed.
    Failed {
        /// The error's kind.
        kind: ErrorKind,
        /// The error's message, redacted.
        message: String,
    },
    /// It was not called.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One call (or skip) of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The model's name.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// 1 for the first call to this model, 2 for its first retry, ...; 0
    /// when skipped.
    pub attempt: u32,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// The wait before the next retry of the same model, if one followed.
    pub retry_in_ms: Option<u64>,
}

/// One routing decision, from request to outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Its number, from 1, per router.
    pub seq: u64,
    /// When the request arrived (milliseconds since the Unix epoch).
    pub at_unix_ms: u64,
    /// The run it was made for.
    pub run: String,
    /// The budget key, if any.
    pub key: Option<String>,
    /// Whether the request streamed.
    pub stream: bool,
    /// What the request needed.
    pub needs: Needs,
    /// Every model of the policy and its verdict, in policy order.
    pub candidates: Vec<CandidateVerdict>,
    /// The eligible models in the order they would be tried (cheapest
    /// first).
    pub chain: Vec<String>,
    /// A budget that was exhausted, and what the policy did about it.
    pub budget: Option<String>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The model that answered.
    pub chosen: Option<String>,
    /// Why that model, in a sentence (or why none).
    pub reason: String,
    /// What the call cost, when it finished.
    pub cost: Option<Cost>,
    /// Token usage of the call, when it finished.
    pub usage: Option<Usage>,
    /// The error the request ended with, redacted.
    pub error: Option<String>,
    /// The run's spending after this call, in USD.
    pub run_spent_usd: f64,
    /// The key's spending after this call, in USD.
    pub key_spent_usd: Option<f64>,
}

/// A run's totals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunTotals {
    /// Calls that finished with an answer.
    pub calls: u64,
    /// Their usage, summed.
    pub usage: Usage,
    /// Their cost in USD, summed.
    pub usd: f64,
}
