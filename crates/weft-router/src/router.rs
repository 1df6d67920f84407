//! The policy-driven [`Router`]: per request, the cheapest model that meets
//! the request's needs and the quality floor, within the sovereignty rules
//! and money budgets, with fallback by error kind; every decision recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{Instrument, field::Empty};
use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, Model, ModelError, Usage,
};

use crate::ConfigError;
use crate::cost::{Cost, PriceCatalog};
use crate::decision::{Attempt, AttemptOutcome, Decision, RunTotals};
use crate::engine::{AfterFn, Engine, StreamResult, Target, now_ms};
use crate::policy::{Policy, ROUTER_OPTION, RequestOptions};
use crate::retry::Breakers;
use crate::select::{self, Candidate, Exhausted, Judging, Selection};
use crate::telemetry::redact;
use crate::time::{Clock, DefaultSleeper, Sleeper, SystemClock};

pub use crate::select::estimate_input_tokens;

/// The run used when none was named.
pub const DEFAULT_RUN: &str = "default";

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

fn lock(m: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Picks the models for `request` by the passes of [`crate::select`],
    /// in their order: needs, budget gate, each candidate judged, ranking,
    /// and the error when nothing is eligible.
    fn select(&self, request: &ChatRequest, options: &RequestOptions) -> Selection {
        let shared = &self.shared;
        let policy = &shared.policy;
        let now = shared.engine.clock.now();
        let needs = select::needs(request, options, policy);
        let gate = select::budget_gate(&policy.budget, |extra| self.exhausted(extra));
        let judging = Judging {
            needs: &needs,
            sovereignty: &policy.sovereignty,
            budget_mode: gate.mode,
            breakers: &shared.engine.breakers,
            now,
        };
        let usage = select::estimate_usage(&needs);
        let (verdicts, eligible) = select::judge(&shared.candidates, &judging, |target| {
            shared
                .engine
                .price(target, &usage, now)
                .map(|cost| cost.usd)
        });
        let chain = select::rank(eligible, &shared.candidates);
        let error = match gate.error {
            Some(error) => Some(error),
            None if chain.is_empty() => {
                Some(select::nothing_eligible(&verdicts, gate.note.as_deref()))
            }
            None => None,
        };
        Selection {
            needs,
            verdicts,
            chain,
            budget: gate.note,
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
