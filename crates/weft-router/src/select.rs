//! How the [`Router`](crate::Router) picks the models for one request:
//! named passes over the policy's candidates, applied in this order.
//!
//! 1. [`needs`]: what the request needs (tools, JSON, prompt and context
//!    size, the tier floor, local-only), from the request, its router
//!    option and the policy.
//! 2. [`budget_gate`]: whether a budget has run out, and what the policy
//!    does then (fail, local models only, or the cheapest model within the
//!    overdraft).
//! 3. [`judge`]: every candidate goes through each of [`CHECKS`], in order;
//!    a check that fails adds one [`Rejection`] to the candidate's verdict,
//!    and every candidate gets a cost estimate for this request.
//! 4. [`rank`]: the eligible candidates by estimated cost (catalog prices at
//!    the current time), then higher tier, then policy order; the first is
//!    called, the rest are its fallback chain.
//! 5. [`nothing_eligible`]: when no candidate is left, the error that says
//!    why (cooldowns, a budget, the policy, or the request's needs).

use std::sync::Arc;
use std::time::SystemTime;

use weft_model::{ChatRequest, ModelError, Part, ResponseFormat, ToolChoice, Usage};

use crate::decision::{CandidateVerdict, Needs, Rejection};
use crate::engine::Target;
use crate::policy::{BudgetPolicy, OnExhausted, Policy, RequestOptions, SovereigntyPolicy};
use crate::retry::{BreakerState, Breakers};
use crate::time::unix_millis;

/// A model as the router sees it.
pub(crate) struct Candidate {
    pub(crate) target: Arc<Target>,
    pub(crate) tier: u32,
    /// Lowercased.
    pub(crate) jurisdiction: Option<String>,
    pub(crate) local: bool,
    pub(crate) tools: bool,
    pub(crate) json: bool,
}

/// The budget that ran out.
pub(crate) struct Exhausted {
    pub(crate) what: String,
    pub(crate) spent: f64,
    pub(crate) limit: f64,
}

/// What the passes decided for one request.
pub(crate) struct Selection {
    pub(crate) needs: Needs,
    pub(crate) verdicts: Vec<CandidateVerdict>,
    /// The eligible models, best first.
    pub(crate) chain: Vec<Arc<Target>>,
    /// The budget note for the decision, when a budget has run out.
    pub(crate) budget: Option<String>,
    /// Why the request is refused, when it is.
    pub(crate) error: Option<ModelError>,
}

// ---------------------------------------------------------------------------
// 1. Needs.

/// Estimated prompt tokens of a request: its bytes (text, reasoning, tool
/// calls and results, tool specs, response schema) over `bytes_per_token`,
/// plus 4 tokens per message.
pub fn estimate_input_tokens(request: &ChatRequest, bytes_per_token: f64) -> u64 {
    let mut bytes = 0usize;
    for m in &request.messages {
        for p in &m.parts {
            bytes += match p {
                Part::Text(t) => t.len(),
                Part::Reasoning(r) => r.text.len(),
                Part::ToolCall(c) => c.name.len() + c.arguments.len() + c.id.len(),
                Part::ToolResult(r) => r.content.len() + r.call_id.len(),
            };
        }
    }
    for t in &request.tools {
        bytes += t.name.len() + t.description.len() + t.input_schema.len();
    }
    if let ResponseFormat::JsonSchema(s) = &request.response_format {
        bytes += s.schema.len() + s.name.len();
    }
    let per_message = 4 * request.messages.len() as u64;
    (bytes as f64 / bytes_per_token).ceil() as u64 + per_message
}

/// Pass 1: what `request` needs from a model. Tools count when offered and
/// not `tool_choice: none`; the output estimate is the request's limit, else
/// the router option's, else the policy's; the tier floor is the router
/// option's, else the policy's.
pub(crate) fn needs(request: &ChatRequest, options: &RequestOptions, policy: &Policy) -> Needs {
    let estimated_input_tokens = estimate_input_tokens(request, policy.routing.bytes_per_token);
    let expected_output_tokens = u64::from(
        request
            .max_output_tokens
            .or(options.expected_output_tokens)
            .unwrap_or(policy.routing.expected_output_tokens),
    );
    Needs {
        tools: !request.tools.is_empty() && request.tool_choice != ToolChoice::None,
        json: request.response_format != ResponseFormat::Text,
        estimated_input_tokens,
        expected_output_tokens,
        context_tokens: estimated_input_tokens + u64::from(request.max_output_tokens.unwrap_or(0)),
        min_tier: options.min_tier.unwrap_or(policy.routing.min_tier),
        local_only: policy.sovereignty.local_only || options.local_only,
    }
}

// ---------------------------------------------------------------------------
// 2. The budget gate.

/// What an exhausted budget means for this request.
#[derive(Default)]
pub(crate) struct BudgetGate {
    /// What the policy does now that a budget has run out; `None` while no
    /// budget has.
    pub(crate) mode: Option<OnExhausted>,
    /// The note the decision records.
    pub(crate) note: Option<String>,
    /// The refusal, when the policy fails the request.
    pub(crate) error: Option<ModelError>,
}

/// Pass 2: `exhausted(extra)` is the first budget whose spending has
/// reached its limit plus `extra` (run, then key), if any.
pub(crate) fn budget_gate(
    budget: &BudgetPolicy,
    exhausted: impl Fn(f64) -> Option<Exhausted>,
) -> BudgetGate {
    let Some(x) = exhausted(0.0) else {
        return BudgetGate::default();
    };
    let mut gate = BudgetGate {
        mode: Some(budget.on_exhausted),
        ..BudgetGate::default()
    };
    let base = format!(
        "budget {} exhausted: spent ${:.6} of ${:.6}",
        x.what, x.spent, x.limit
    );
    match budget.on_exhausted {
        OnExhausted::Fail => {
            gate.note = Some(format!("{base}; failing"));
            gate.error = Some(ModelError::Denied(base));
        }
        OnExhausted::Local => {
            gate.note = Some(format!("{base}; falling back to local models"));
        }
        OnExhausted::Cheapest => {
            if let Some(hard) = exhausted(budget.overdraft_usd) {
                let msg = format!(
                    "budget {} exhausted: spent ${:.6} of ${:.6} (overdraft of ${:.6} used up)",
                    hard.what, hard.spent, hard.limit, budget.overdraft_usd
                );
                gate.note = Some(format!("{msg}; failing"));
                gate.error = Some(ModelError::Denied(msg));
            } else {
                gate.note = Some(format!(
                    "{base}; falling back to the cheapest eligible model"
                ));
            }
        }
    }
    gate
}

// ---------------------------------------------------------------------------
// 3. Judging each candidate.

/// What every check of a candidate reads.
pub(crate) struct Judging<'a> {
    pub(crate) needs: &'a Needs,
    pub(crate) sovereignty: &'a SovereigntyPolicy,
    /// From the [`BudgetGate`].
    pub(crate) budget_mode: Option<OnExhausted>,
    pub(crate) breakers: &'a Breakers,
    pub(crate) now: SystemTime,
}

/// One rule a candidate must pass: the rejection when it does not.
type Check = fn(&Candidate, &Judging<'_>) -> Option<Rejection>;

/// Every check, in the order a verdict lists its rejections: sovereignty,
/// capabilities, size, tier, budget, cooldown.
pub(crate) const CHECKS: [Check; 11] = [
    local_only,
    provider_allowed,
    provider_not_denied,
    jurisdiction_allowed,
    jurisdiction_not_denied,
    takes_tools,
    gives_json,
    context_fits,
    tier_high_enough,
    local_while_budget_exhausted,
    not_cooling_down,
];

fn contains_ci(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(value))
}

/// The policy or the request allows only local models.
fn local_only(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    (j.needs.local_only && !c.local).then_some(Rejection::LocalOnly)
}

/// A provider allow list is set and does not name the provider.
fn provider_allowed(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    let allow = j.sovereignty.allow_providers.as_ref()?;
    (!contains_ci(allow, &c.target.provider)).then(|| Rejection::ProviderNotAllowed {
        provider: c.target.provider.clone(),
    })
}

/// The provider deny list names the provider.
fn provider_not_denied(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    contains_ci(&j.sovereignty.deny_providers, &c.target.provider).then(|| {
        Rejection::ProviderDenied {
            provider: c.target.provider.clone(),
        }
    })
}

/// A jurisdiction allow list is set and the model's tag is absent or not on
/// it.
fn jurisdiction_allowed(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    let allow = j.sovereignty.allow_jurisdictions.as_ref()?;
    let allowed = c
        .jurisdiction
        .as_deref()
        .is_some_and(|tag| contains_ci(allow, tag));
    (!allowed).then(|| Rejection::JurisdictionNotAllowed {
        jurisdiction: c.jurisdiction.clone(),
    })
}

/// The jurisdiction deny list names the model's tag.
fn jurisdiction_not_denied(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    let tag = c.jurisdiction.as_ref()?;
    contains_ci(&j.sovereignty.deny_jurisdictions, tag).then(|| Rejection::JurisdictionDenied {
        jurisdiction: tag.clone(),
    })
}

/// The request has tools; the model does not take them.
fn takes_tools(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    (j.needs.tools && !c.tools).then_some(Rejection::NoTools)
}

/// The request wants JSON; the model cannot produce it.
fn gives_json(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    (j.needs.json && !c.json).then_some(Rejection::NoJson)
}

/// The prompt plus the output limit exceed the model's known window.
fn context_fits(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    let window = c.target.context_window?;
    (j.needs.context_tokens > u64::from(window)).then_some(Rejection::ContextTooSmall {
        needed: j.needs.context_tokens,
        window,
    })
}

/// The model's tier is below the floor. Once a budget has run out and the
/// policy falls back, the floor no longer applies: cheaper or local beats
/// nothing.
fn tier_high_enough(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    (c.tier < j.needs.min_tier && j.budget_mode.is_none()).then_some(Rejection::TierTooLow {
        tier: c.tier,
        min: j.needs.min_tier,
    })
}

/// A budget has run out, the policy falls back to local models, and this
/// one is not local.
fn local_while_budget_exhausted(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    (j.budget_mode == Some(OnExhausted::Local) && !c.local).then_some(Rejection::BudgetLocalOnly)
}

/// The provider's breaker is open.
fn not_cooling_down(c: &Candidate, j: &Judging<'_>) -> Option<Rejection> {
    match j.breakers.state(&c.target.provider, j.now) {
        BreakerState::Open { until } => Some(Rejection::CoolingDown {
            until_unix_ms: unix_millis(until),
        }),
        _ => None,
    }
}

/// A candidate that passed every check.
pub(crate) struct Eligible {
    /// The estimated cost in USD (`f64::MAX` when unknown).
    estimate: f64,
    tier: u32,
    /// Its place in the policy.
    index: usize,
}

/// Pass 3: each candidate's verdict (its rejections, in [`CHECKS`] order,
/// and `estimate(target)`, this request's estimated cost in USD), and the
/// candidates that passed every check.
pub(crate) fn judge(
    candidates: &[Candidate],
    judging: &Judging<'_>,
    estimate: impl Fn(&Target) -> Option<f64>,
) -> (Vec<CandidateVerdict>, Vec<Eligible>) {
    let mut verdicts = Vec::with_capacity(candidates.len());
    let mut eligible = Vec::new();
    for (index, c) in candidates.iter().enumerate() {
        let rejected: Vec<Rejection> = CHECKS
            .iter()
            .filter_map(|check| check(c, judging))
            .collect();
        let estimated_cost_usd = estimate(&c.target);
        if rejected.is_empty() {
            eligible.push(Eligible {
                estimate: estimated_cost_usd.unwrap_or(f64::MAX),
                tier: c.tier,
                index,
            });
        }
        verdicts.push(CandidateVerdict {
            model: c.target.name.clone(),
            provider: c.target.provider.clone(),
            tier: c.tier,
            estimated_cost_usd,
            rejected,
        });
    }
    (verdicts, eligible)
}

/// The usage a cost estimate assumes: the needs' input and output tokens.
pub(crate) fn estimate_usage(needs: &Needs) -> Usage {
    Usage {
        input_tokens: needs.estimated_input_tokens,
        output_tokens: needs.expected_output_tokens,
        ..Usage::default()
    }
}

// ---------------------------------------------------------------------------
// 4. Ranking.

/// Pass 4: the eligible candidates' targets, cheapest first, then higher
/// tier, then policy order.
pub(crate) fn rank(mut eligible: Vec<Eligible>, candidates: &[Candidate]) -> Vec<Arc<Target>> {
    eligible.sort_by(|a, b| {
        a.estimate
            .total_cmp(&b.estimate)
            .then(b.tier.cmp(&a.tier))
            .then(a.index.cmp(&b.index))
    });
    eligible
        .iter()
        .map(|e| candidates[e.index].target.clone())
        .collect()
}

// ---------------------------------------------------------------------------
// 5. When nothing is eligible.

/// Pass 5: why no model is eligible: every provider cooling down
/// (overloaded), a budget (denied), the policy (denied), or the request's
/// needs (unsupported); with each candidate's rejections.
pub(crate) fn nothing_eligible(
    verdicts: &[CandidateVerdict],
    budget_note: Option<&str>,
) -> ModelError {
    let summary = verdicts
        .iter()
        .map(|v| {
            let reasons: Vec<String> = v.rejected.iter().map(|r| r.to_string()).collect();
            format!("{}: {}", v.model, reasons.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let all_cooling = verdicts.iter().all(|v| {
        v.rejected
            .iter()
            .all(|r| matches!(r, Rejection::CoolingDown { .. }))
    });
    let by_policy = verdicts
        .iter()
        .all(|v| v.rejected.iter().any(Rejection::is_policy));
    if all_cooling {
        ModelError::Overloaded(format!(
            "every eligible model's provider is cooling down ({summary})"
        ))
    } else if let Some(note) = budget_note {
        ModelError::Denied(format!("{note}, but no model is eligible ({summary})"))
    } else if by_policy {
        ModelError::Denied(format!("no model is allowed for this request ({summary})"))
    } else {
        ModelError::Unsupported(format!("no model meets this request's needs ({summary})"))
    }
}
