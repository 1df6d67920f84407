//! The policy-driven [`Router`]: per request, the cheapest model that meets
//! the request's needs and the quality floor, within the sovereignty rules
//! and money budgets, with fallback by error kind; every decision recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{Instrument, field::Empty};
use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, Model, ModelError, Part,
    ResponseFormat, ToolChoice, Usage,
};

use crate::ConfigError;
use crate::cost::{Cost, PriceCatalog};
use crate::decision::{
    Attempt, AttemptOutcome, CandidateVerdict, Decision, Needs, Rejection, RunTotals,
};
use crate::engine::{AfterFn, Engine, StreamResult, Target, now_ms};
use crate::policy::{OnExhausted, Policy, ROUTER_OPTION, RequestOptions};
use crate::resilience::{BreakerState, Breakers};
use crate::telemetry::redact;
use crate::time::{Clock, DefaultSleeper, Sleeper, SystemClock, unix_millis};

/// The run used when none was named.
pub const DEFAULT_RUN: &str = "default";

/// A model as the router sees it.
struct Candidate {
    target: Arc<Target>,
    tier: u32,
    /// Lowercased.
    jurisdiction: Option<String>,
    local: bool,
    tools: bool,
    json: bool,
}

#[derive(Default)]
struct Ledger {
    runs: HashMap<String, RunTotals>,
    keys: HashMap<String, f64>,
    decisions: VecDeque<Decision>,
    seq: u64,
}

struct Shared {
    policy: Policy,
    candidates: Vec<Candidate>,
    engine: Arc<Engine>,
    capabilities: Capabilities,
    ledger: Mutex<Ledger>,
}

/// Builds a [`Router`] from a policy and named models.
pub struct RouterBuilder {
    policy: Policy,
    models: HashMap<String, Arc<dyn Model>>,
    catalog: Option<PriceCatalog>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    seed: Option<u64>,
}

impl RouterBuilder {
    /// The price catalog (default: [`PriceCatalog::bundled`]).
    pub fn catalog(mut self, catalog: PriceCatalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The sleeper for retry backoff (default [`DefaultSleeper`]).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Seeds the backoff jitter (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the policy against the models and the catalog, and builds the
    /// router. Fails, naming the field, when a policy model is missing from
    /// the map or a non-local model has no price.
    pub fn build(self) -> Result<Router, ConfigError> {
        self.policy.validate()?;
        let mut catalog = self.catalog.unwrap_or_else(PriceCatalog::bundled);
        if let Some(rate) = self.policy.cost.cny_per_usd {
            catalog = catalog.with_cny_per_usd(rate);
        }
        let mut candidates = Vec::with_capacity(self.policy.models.len());
        for (i, m) in self.policy.models.iter().enumerate() {
            let Some(model) = self.models.get(&m.name) else {
                let mut known: Vec<&str> = self.models.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(ConfigError::Invalid {
                    field: format!("models[{i}].name"),
                    reason: format!(
                        "no model named `{}` was given to the router (given: {})",
                        m.name,
                        known.join(", ")
                    ),
                });
            };
            let caps = model.capabilities();
            let price = m.price.clone().unwrap_or_else(|| caps.model.clone());
            let priced = catalog.get(&price).is_some();
            if !priced && !m.local {
                return Err(ConfigError::Invalid {
                    field: format!("models[{i}].price"),
                    reason: format!(
                        "no price for `{price}` in price catalog {}; add it to the catalog, \
                         set `price` to a catalog entry, or mark the model `local = true`",
                        catalog.version
                    ),
                });
            }
            let jurisdiction = m
                .jurisdiction
                .clone()
                .or_else(|| m.local.then(|| "local".to_owned()))
                .map(|j| j.to_ascii_lowercase());
            candidates.push(Candidate {
                target: Arc::new(Target {
                    name: m.name.clone(),
                    provider: m.provider.clone().unwrap_or_else(|| caps.provider.clone()),
                    model_id: caps.model.clone(),
                    model: model.clone(),
                    price: priced.then_some(price),
                    local: m.local,
                    context_window: m.context_window.or(caps.context_window),
                }),
                tier: m.tier,
                jurisdiction,
                local: m.local,
                tools: m.tools.unwrap_or(caps.tools),
                json: m.json.unwrap_or(caps.json_object || caps.json_schema),
            });
        }
        let mut capabilities = Capabilities::new("weft-router", "router");
        capabilities.tools = candidates.iter().any(|c| c.tools);
        capabilities.json_object = candidates.iter().any(|c| c.json);
        capabilities.streaming = true;
        capabilities.context_window = candidates
            .iter()
            .filter_map(|c| c.target.context_window)
            .max();
        for c in &candidates {
            let caps = c.target.model.capabilities();
            capabilities.parallel_tool_calls |= caps.parallel_tool_calls;
            capabilities.json_schema |= caps.json_schema;
            capabilities.reasoning |= caps.reasoning;
        }
        let engine = Engine::new(
            self.policy.retry.to_policy(),
            Arc::new(Breakers::new(self.policy.cooldown.to_policy())),
            self.policy.routing.fallback_on.clone(),
            self.clock,
            self.sleeper,
            Some(Arc::new(catalog)),
            self.seed,
        );
        Ok(Router {
            shared: Arc::new(Shared {
                policy: self.policy,
                candidates,
                engine: Arc::new(engine),
                capabilities,
                ledger: Mutex::new(Ledger::default()),
            }),
            run: DEFAULT_RUN.to_owned(),
            key: None,
        })
    }
}

/// A [`Model`] that routes each request to the cheapest model meeting its
/// needs under a [`Policy`], with retries, fallback, cooldowns, sovereignty
/// rules, money budgets and a [`Decision`] log.
///
/// Clones share everything (breakers, spending, decisions);
/// [`Router::for_run`] and [`Router::with_key`] make clones that charge
/// another run or budget key.
///
/// How a request is routed:
///
/// 1. Its needs are estimated: tools (offered and not `tool_choice: none`),
///    JSON (`json_object` or `json_schema`), prompt size (bytes / the
///    policy's `bytes_per_token`), the output limit, the tier floor
///    (policy, or the request's `min_tier` option).
/// 2. Every policy model is judged: sovereignty (local-only, provider and
///    jurisdiction allow/deny lists), capabilities, context window, tier,
///    cooldown, exhausted budgets. Rejections are recorded with reasons.
/// 3. The eligible models are ordered by the estimated cost of this request
///    (catalog prices at the current time, so DeepSeek's off-peak hours
///    count), then by higher tier, then by policy order; the first is
///    called, the rest are its fallback chain.
/// 4. The call's cost is added to the run's and key's spending, and the
///    decision is stored ([`Router::decisions`]) and logged as a `tracing`
///    event on target `weft_router::decision`.
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
    run: String,
    key: Option<String>,
}

/// The budget that ran out.
struct Exhausted {
    what: String,
    spent: f64,
    limit: f64,
}

struct Selection {
    needs: Needs,
    verdicts: Vec<CandidateVerdict>,
    chain: Vec<Arc<Target>>,
    budget: Option<String>,
    error: Option<ModelError>,
}

fn lock(m: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// Splits the router's own option out of a request: the parsed options, and
/// a copy of the request without it (only when it had one).
fn take_options(
    request: &ChatRequest,
) -> Result<(RequestOptions, Option<ChatRequest>), ModelError> {
    if !request
        .provider_options
        .iter()
        .any(|o| o.provider == ROUTER_OPTION)
    {
        return Ok((RequestOptions::default(), None));
    }
    let mut options = RequestOptions::default();
    let mut stripped = request.clone();
    stripped.provider_options.retain(|o| {
        if o.provider != ROUTER_OPTION {
            return true;
        }
        // Parse errors are reported below; keep going to strip them all.
        if let Ok(parsed) = serde_json::from_str::<RequestOptions>(&o.json) {
            options.min_tier = parsed.min_tier.or(options.min_tier);
            options.local_only |= parsed.local_only;
            options.expected_output_tokens = parsed
                .expected_output_tokens
                .or(options.expected_output_tokens);
        }
        false
    });
    for o in &request.provider_options {
        if o.provider == ROUTER_OPTION
            && let Err(e) = serde_json::from_str::<RequestOptions>(&o.json)
        {
            return Err(ModelError::Unsupported(format!(
                "invalid `{ROUTER_OPTION}` provider option: {e}"
            )));
        }
    }
    Ok((options, Some(stripped)))
}

fn contains_ci(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(value))
}

impl Router {
    /// A builder for `policy` over `models` (keyed by the names the policy
    /// uses), with the bundled price catalog, the system clock and the
    /// platform sleeper.
    pub fn builder(policy: Policy, models: HashMap<String, Arc<dyn Model>>) -> RouterBuilder {
        RouterBuilder {
            policy,
            models,
            catalog: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(DefaultSleeper),
            seed: None,
        }
    }

    /// Reads a policy file's text and builds a router with the defaults of
    /// [`Router::builder`].
    pub fn from_policy_str(
        policy_toml: &str,
        models: HashMap<String, Arc<dyn Model>>,
    ) -> Result<Router, ConfigError> {
        Self::builder(Policy::from_toml_str(policy_toml)?, models).build()
    }

    /// A router sharing this one's state that charges run `run`.
    pub fn for_run(&self, run: impl Into<String>) -> Router {
        Router {
            shared: self.shared.clone(),
            run: run.into(),
            key: self.key.clone(),
        }
    }

    /// A router sharing this one's state that charges budget key `key`.
    pub fn with_key(&self, key: impl Into<String>) -> Router {
        Router {
            shared: self.shared.clone(),
            run: self.run.clone(),
            key: Some(key.into()),
        }
    }

    /// The run this router charges.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// The per-provider breakers.
    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.shared.engine.breakers
    }

    /// The price catalog in use.
    pub fn catalog(&self) -> Option<&PriceCatalog> {
        self.shared.engine.catalog.as_deref()
    }

    /// The decisions kept so far, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        lock(&self.shared.ledger)
            .decisions
            .iter()
            .cloned()
            .collect()
    }

    /// The most recent decision.
    pub fn last_decision(&self) -> Option<Decision> {
        lock(&self.shared.ledger).decisions.back().cloned()
    }

    /// A run's totals (zero for an unknown run).
    pub fn run_totals(&self, run: &str) -> RunTotals {
        lock(&self.shared.ledger)
            .runs
            .get(run)
            .cloned()
            .unwrap_or_default()
    }

    /// What a budget key has spent, in USD.
    pub fn key_spent_usd(&self, key: &str) -> f64 {
        lock(&self.shared.ledger)
            .keys
            .get(key)
            .copied()
            .unwrap_or(0.0)
    }

    fn key_limit(&self) -> Option<(String, f64)> {
        let key = self.key.as_ref()?;
        let b = &self.shared.policy.budget;
        let limit = b.per_key_usd.get(key).copied().or(b.default_per_key_usd)?;
        Some((key.clone(), limit))
    }

    /// The first exhausted budget (run, then key), or none.
    fn exhausted(&self, extra: f64) -> Option<Exhausted> {
        let ledger = lock(&self.shared.ledger);
        if let Some(limit) = self.shared.policy.budget.per_run_usd {
            let spent = ledger.runs.get(&self.run).map_or(0.0, |r| r.usd);
            if spent >= limit + extra {
                return Some(Exhausted {
                    what: format!("run `{}`", self.run),
                    spent,
                    limit,
                });
            }
        }
        if let Some((key, limit)) = self.key_limit() {
            let spent = ledger.keys.get(&key).copied().unwrap_or(0.0);
            if spent >= limit + extra {
                return Some(Exhausted {
                    what: format!("key `{key}`"),
                    spent,
                    limit,
                });
            }
        }
        None
    }

    fn select(&self, request: &ChatRequest, options: &RequestOptions) -> Selection {
        let shared = &self.shared;
        let policy = &shared.policy;
        let now = shared.engine.clock.now();
        let estimated_input_tokens = estimate_input_tokens(request, policy.routing.bytes_per_token);
        let expected_output_tokens = u64::from(
            request
                .max_output_tokens
                .or(options.expected_output_tokens)
                .unwrap_or(policy.routing.expected_output_tokens),
        );
        let needs = Needs {
            tools: !request.tools.is_empty() && request.tool_choice != ToolChoice::None,
            json: request.response_format != ResponseFormat::Text,
            estimated_input_tokens,
            expected_output_tokens,
            context_tokens: estimated_input_tokens
                + u64::from(request.max_output_tokens.unwrap_or(0)),
            min_tier: options.min_tier.unwrap_or(policy.routing.min_tier),
            local_only: policy.sovereignty.local_only || options.local_only,
        };
        let budget = &policy.budget;
        let exhausted = self.exhausted(0.0);
        let mode = exhausted.as_ref().map(|_| budget.on_exhausted);
        let mut error = None;
        let mut budget_note = None;
        if let Some(x) = &exhausted {
            let base = format!(
                "budget {} exhausted: spent ${:.6} of ${:.6}",
                x.what, x.spent, x.limit
            );
            match budget.on_exhausted {
                OnExhausted::Fail => {
                    budget_note = Some(format!("{base}; failing"));
                    error = Some(ModelError::Denied(base));
                }
                OnExhausted::Local => {
                    budget_note = Some(format!("{base}; falling back to local models"));
                }
                OnExhausted::Cheapest => {
                    if let Some(hard) = self.exhausted(budget.overdraft_usd) {
                        let msg = format!(
                            "budget {} exhausted: spent ${:.6} of ${:.6} (overdraft of ${:.6} used up)",
                            hard.what, hard.spent, hard.limit, budget.overdraft_usd
                        );
                        budget_note = Some(format!("{msg}; failing"));
                        error = Some(ModelError::Denied(msg));
                    } else {
                        budget_note = Some(format!(
                            "{base}; falling back to the cheapest eligible model"
                        ));
                    }
                }
            }
        }
        let sov = &policy.sovereignty;
        let estimate_usage = Usage {
            input_tokens: estimated_input_tokens,
            output_tokens: expected_output_tokens,
            ..Usage::default()
        };
        let mut verdicts = Vec::with_capacity(shared.candidates.len());
        let mut eligible: Vec<(f64, u32, usize)> = Vec::new();
        for (i, c) in shared.candidates.iter().enumerate() {
            let t = &c.target;
            let mut rejected = Vec::new();
            if needs.local_only && !c.local {
                rejected.push(Rejection::LocalOnly);
            }
            if let Some(allow) = &sov.allow_providers
                && !contains_ci(allow, &t.provider)
            {
                rejected.push(Rejection::ProviderNotAllowed {
                    provider: t.provider.clone(),
                });
            }
            if contains_ci(&sov.deny_providers, &t.provider) {
                rejected.push(Rejection::ProviderDenied {
                    provider: t.provider.clone(),
                });
            }
            if let Some(allow) = &sov.allow_jurisdictions
                && !c
                    .jurisdiction
                    .as_deref()
                    .is_some_and(|j| contains_ci(allow, j))
            {
                rejected.push(Rejection::JurisdictionNotAllowed {
                    jurisdiction: c.jurisdiction.clone(),
                });
            }
            if let Some(j) = &c.jurisdiction
                && contains_ci(&sov.deny_jurisdictions, j)
            {
                rejected.push(Rejection::JurisdictionDenied {
                    jurisdiction: j.clone(),
                });
            }
            if needs.tools && !c.tools {
                rejected.push(Rejection::NoTools);
            }
            if needs.json && !c.json {
                rejected.push(Rejection::NoJson);
            }
            if let Some(window) = t.context_window
                && needs.context_tokens > u64::from(window)
            {
                rejected.push(Rejection::ContextTooSmall {
                    needed: needs.context_tokens,
                    window,
                });
            }
            // Once a budget has run out and the policy falls back, the tier
            // floor no longer applies: cheaper or local beats nothing.
            if c.tier < needs.min_tier && mode.is_none() {
                rejected.push(Rejection::TierTooLow {
                    tier: c.tier,
                    min: needs.min_tier,
                });
            }
            if mode == Some(OnExhausted::Local) && !c.local {
                rejected.push(Rejection::BudgetLocalOnly);
            }
            if let BreakerState::Open { until } = shared.engine.breakers.state(&t.provider, now) {
                rejected.push(Rejection::CoolingDown {
                    until_unix_ms: unix_millis(until),
                });
            }
            let estimate = shared
                .engine
                .price(t, &estimate_usage, now)
                .map(|cost| cost.usd);
            if rejected.is_empty() {
                eligible.push((estimate.unwrap_or(f64::MAX), c.tier, i));
            }
            verdicts.push(CandidateVerdict {
                model: t.name.clone(),
                provider: t.provider.clone(),
                tier: c.tier,
                estimated_cost_usd: estimate,
                rejected,
            });
        }
        eligible.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let chain: Vec<Arc<Target>> = eligible
            .iter()
            .map(|&(_, _, i)| shared.candidates[i].target.clone())
            .collect();
        if error.is_none() && chain.is_empty() {
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
            error = Some(if all_cooling {
                ModelError::Overloaded(format!(
                    "every eligible model's provider is cooling down ({summary})"
                ))
            } else if let Some(note) = &budget_note {
                ModelError::Denied(format!("{note}, but no model is eligible ({summary})"))
            } else if by_policy {
                ModelError::Denied(format!("no model is allowed for this request ({summary})"))
            } else {
                ModelError::Unsupported(format!("no model meets this request's needs ({summary})"))
            });
        }
        Selection {
            needs,
            verdicts,
            chain,
            budget: budget_note,
            error,
        }
    }

    fn new_decision(&self, selection: &Selection, stream: bool) -> Decision {
        Decision {
            seq: 0,
            at_unix_ms: now_ms(self.shared.engine.clock.as_ref()),
            run: self.run.clone(),
            key: self.key.clone(),
            stream,
            needs: selection.needs.clone(),
            candidates: selection.verdicts.clone(),
            chain: selection.chain.iter().map(|t| t.name.clone()).collect(),
            budget: selection.budget.clone(),
            attempts: Vec::new(),
            chosen: None,
            reason: String::new(),
            cost: None,
            usage: None,
            error: None,
            run_spent_usd: 0.0,
            key_spent_usd: None,
        }
    }

    /// Charges a finished call (or records a failure) and stores the
    /// decision.
    fn settle(
        shared: &Shared,
        mut decision: Decision,
        chosen: Option<String>,
        outcome: Result<(Option<Cost>, Usage), ModelError>,
    ) -> Decision {
        let mut ledger = lock(&shared.ledger);
        match &outcome {
            Ok((cost, usage)) => {
                let usd = cost.as_ref().map_or(0.0, |c| c.usd);
                let run = ledger.runs.entry(decision.run.clone()).or_default();
                run.calls += 1;
                run.usd += usd;
                run.usage += usage;
                if let Some(key) = &decision.key {
                    *ledger.keys.entry(key.clone()).or_default() += usd;
                }
                decision.cost = cost.clone();
                decision.usage = Some(*usage);
            }
            Err(e) => decision.error = Some(redact(&e.to_string())),
        }
        decision.run_spent_usd = ledger.runs.get(&decision.run).map_or(0.0, |r| r.usd);
        decision.key_spent_usd = decision
            .key
            .as_ref()
            .map(|k| ledger.keys.get(k).copied().unwrap_or(0.0));
        decision.reason = reason(&decision, chosen.as_deref(), outcome.is_ok());
        decision.chosen = chosen;
        ledger.seq += 1;
        decision.seq = ledger.seq;
        tracing::info!(
            target: "weft_router::decision",
            seq = decision.seq,
            run = %decision.run,
            chosen = decision.chosen.as_deref().unwrap_or(""),
            cost_usd = decision.cost.as_ref().map_or(0.0, |c| c.usd),
            run_spent_usd = decision.run_spent_usd,
            reason = %decision.reason,
        );
        let limit = shared.policy.routing.decision_log_limit;
        if limit > 0 {
            while ledger.decisions.len() >= limit {
                ledger.decisions.pop_front();
            }
            ledger.decisions.push_back(decision.clone());
        }
        decision
    }

    fn route_span(&self, stream: bool) -> tracing::Span {
        tracing::info_span!(
            "weft.route",
            weft.run = %self.run,
            weft.stream = stream,
            weft.route.chosen = Empty,
            weft.cost.usd = Empty,
        )
    }
}

fn reason(d: &Decision, chosen: Option<&str>, ok: bool) -> String {
    let eligible = d.chain.len();
    let mut out = match (chosen, ok) {
        (Some(c), true) if d.chain.first().map(String::as_str) == Some(c) => format!(
            "`{c}`: the cheapest of {eligible} eligible model{} (tier >= {}{}{}, ~{} input tokens)",
            if eligible == 1 { "" } else { "s" },
            d.needs.min_tier,
            if d.needs.tools { ", tools" } else { "" },
            if d.needs.json { ", json" } else { "" },
            d.needs.estimated_input_tokens
        ),
        (Some(c), true) => {
            let failed: Vec<String> = d
                .attempts
                .iter()
                .filter_map(|a| match &a.outcome {
                    AttemptOutcome::Failed { kind, .. } => Some(format!("{} {kind}", a.model)),
                    AttemptOutcome::Skipped { .. } => Some(format!("{} skipped", a.model)),
                    AttemptOutcome::Ok => None,
                })
                .collect();
            format!(
                "`{c}`: fallback after {} (of {eligible} eligible)",
                failed.join(", ")
            )
        }
        (Some(c), false) => format!("`{c}` started streaming, then failed"),
        (None, _) if eligible == 0 => "no model was eligible".to_owned(),
        (None, _) => format!("all {eligible} eligible models failed"),
    };
    if let Some(b) = &d.budget {
        out.push_str("; ");
        out.push_str(b);
    }
    out
}

impl Model for Router {
    fn capabilities(&self) -> Capabilities {
        self.shared.capabilities.clone()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        let span = self.route_span(false);
        let fut_span = span.clone();
        Box::pin(
            async move {
                let (options, stripped) = take_options(request)?;
                let request = stripped.as_ref().unwrap_or(request);
                let selection = self.select(request, &options);
                let mut decision = self.new_decision(&selection, false);
                if let Some(error) = selection.error {
                    Self::settle(&self.shared, decision, None, Err(error.clone()));
                    return Err(error);
                }
                let mut attempts: Vec<Attempt> = Vec::new();
                let result = self
                    .shared
                    .engine
                    .chat(&selection.chain, request, &mut attempts)
                    .await;
                decision.attempts = attempts;
                match result {
                    Ok(won) => {
                        let chosen = selection.chain[won.index].name.clone();
                        span.record("weft.route.chosen", chosen.as_str());
                        if let Some(c) = &won.cost {
                            span.record("weft.cost.usd", c.usd);
                        }
                        Self::settle(
                            &self.shared,
                            decision,
                            Some(chosen),
                            Ok((won.cost, won.response.usage)),
                        );
                        Ok(won.response)
                    }
                    Err(error) => {
                        Self::settle(&self.shared, decision, None, Err(error.clone()));
                        Err(error)
                    }
                }
            }
            .instrument(fut_span),
        )
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        let span = self.route_span(true);
        let fut_span = span.clone();
        Box::pin(
            async move {
                let (options, stripped) = take_options(request)?;
                let request = stripped.as_ref().unwrap_or(request);
                let selection = self.select(request, &options);
                let mut decision = self.new_decision(&selection, true);
                if let Some(error) = selection.error {
                    Self::settle(&self.shared, decision, None, Err(error.clone()));
                    return Err(error);
                }
                let mut attempts: Vec<Attempt> = Vec::new();
                let opened = self
                    .shared
                    .engine
                    .open_stream(&selection.chain, request, &mut attempts)
                    .await;
                decision.attempts = attempts;
                let opened = match opened {
                    Ok(opened) => opened,
                    Err(error) => {
                        Self::settle(&self.shared, decision, None, Err(error.clone()));
                        return Err(error);
                    }
                };
                let chosen = opened.target.name.clone();
                span.record("weft.route.chosen", chosen.as_str());
                let shared = self.shared.clone();
                let after: AfterFn = Box::new(move |result: StreamResult| {
                    let outcome = match (result.completed, result.error) {
                        (true, _) => Ok((result.cost, result.usage.unwrap_or_default())),
                        (false, Some(error)) => Err(error),
                        (false, None) => Err(ModelError::Transport(
                            "the stream was dropped before its final `done` event".into(),
                        )),
                    };
                    if let Ok((Some(c), _)) = &outcome {
                        span.record("weft.cost.usd", c.usd);
                    }
                    Self::settle(&shared, decision, Some(chosen), outcome);
                });
                Ok(self.shared.engine.clone().track(opened, Some(after)))
            }
            .instrument(fut_span),
        )
    }
}
