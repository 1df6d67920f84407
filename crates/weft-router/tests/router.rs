//! Router: cheapest capable model, tiers, sovereignty, budgets, fallback,
//! decisions, policy errors.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use support::*;
use weft_model::{
    ChatRequest, Message, Model, ModelError, ResponseFormat, StreamEvent, ToolSpec, Usage,
    collect_stream,
};
use weft_router::{
    AttemptOutcome, ConfigError, ManualClock, OnExhausted, Policy, Rejection, Router,
};

const MODELS: &str = r#"
[retry]
max_attempts = 1

[[models]]
name = "gpt"
tier = 3
jurisdiction = "us"

[[models]]
name = "pro"
tier = 2
jurisdiction = "cn"

[[models]]
name = "kimi"
tier = 2
jurisdiction = "cn"

[[models]]
name = "glm-free"
tier = 1
jurisdiction = "cn"
tools = false

[[models]]
name = "llama"
tier = 1
local = true
json = false
context_window = 8192
"#;

struct Fleet {
    gpt: Arc<Fake>,
    pro: Arc<Fake>,
    kimi: Arc<Fake>,
    glm: Arc<Fake>,
    llama: Arc<Fake>,
}

impl Fleet {
    fn new() -> Self {
        Self {
            gpt: Fake::new("openai", "gpt-5.5").arc(),
            pro: Fake::new("deepseek", "deepseek-v4-pro").arc(),
            kimi: Fake::new("kimi", "kimi-k2.6").arc(),
            glm: Fake::new("glm", "glm-4.7-flash").arc(),
            llama: Fake::new("ollama", "llama3").arc(),
        }
    }

    fn map(&self) -> HashMap<String, Arc<dyn Model>> {
        let mut m: HashMap<String, Arc<dyn Model>> = HashMap::new();
        m.insert("gpt".into(), self.gpt.clone());
        m.insert("pro".into(), self.pro.clone());
        m.insert("kimi".into(), self.kimi.clone());
        m.insert("glm-free".into(), self.glm.clone());
        m.insert("llama".into(), self.llama.clone());
        m
    }
}

fn router_at(policy: &str, fleet: &Fleet, clock: &ManualClock) -> Router {
    Router::builder(Policy::from_toml_str(policy).unwrap(), fleet.map())
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .seed(1)
        .build()
        .unwrap()
}

fn router(extra: &str, fleet: &Fleet) -> Router {
    router_at(&format!("{extra}\n{MODELS}"), fleet, &clock())
}

fn tool() -> ToolSpec {
    ToolSpec {
        name: "search".into(),
        description: "Search the web".into(),
        input_schema: r#"{"type":"object"}"#.into(),
        output_schema: None,
    }
}

fn with_tools(text: &str) -> ChatRequest {
    user(text).with_tools(vec![tool()])
}

fn json_tools(text: &str) -> ChatRequest {
    with_tools(text).with_response_format(ResponseFormat::JsonObject)
}

fn chosen(r: &Router, request: &ChatRequest) -> String {
    block_on(r.chat(request)).unwrap();
    r.last_decision().unwrap().chosen.unwrap()
}

#[test]
fn picks_the_cheapest_model_that_meets_the_needs() {
    let fleet = Fleet::new();
    let r = router("", &fleet);
    // Free models tie: the higher tier, then policy order, wins.
    assert_eq!(chosen(&r, &user("hi")), "glm-free");
    let d = r.last_decision().unwrap();
    assert_eq!(d.chain[..2], ["glm-free".to_string(), "llama".to_string()]);
    assert!(d.reason.contains("cheapest"), "{}", d.reason);
    // Tools: GLM-free takes none.
    assert_eq!(chosen(&r, &with_tools("hi")), "llama");
    let d = r.last_decision().unwrap();
    let glm = d.candidates.iter().find(|c| c.model == "glm-free").unwrap();
    assert_eq!(glm.rejected, vec![Rejection::NoTools]);
    assert!(d.needs.tools);
    // JSON too: the local model cannot; DeepSeek Pro is the cheapest left
    // (output-heavy estimate at peak: 3.96 vs Kimi's 4.00 vs GPT's 30).
    assert_eq!(chosen(&r, &json_tools("hi")), "pro");
    let d = r.last_decision().unwrap();
    assert_eq!(d.chain, vec!["pro", "kimi", "gpt"]);
    let est: Vec<f64> = d
        .candidates
        .iter()
        .filter_map(|c| c.estimated_cost_usd)
        .collect();
    assert_eq!(est.len(), 5);
    // `tool_choice: none` does not need tools.
    let req = with_tools("hi").with_tool_choice(weft_model::ToolChoice::None);
    assert_eq!(chosen(&r, &req), "glm-free");
}

#[test]
fn context_size_is_estimated_from_the_request() {
    let fleet = Fleet::new();
    let r = router("", &fleet);
    // ~10k tokens of prompt: more than the local model's 8192.
    let long = with_tools(&"word ".repeat(8_000));
    // Input-heavy now: Kimi's input price beats DeepSeek Pro's at peak.
    assert_eq!(chosen(&r, &long), "kimi");
    let d = r.last_decision().unwrap();
    assert!(d.needs.estimated_input_tokens >= 10_000);
    let llama = d.candidates.iter().find(|c| c.model == "llama").unwrap();
    assert!(matches!(
        llama.rejected[..],
        [Rejection::ContextTooSmall { window: 8192, .. }]
    ));
    // The output limit counts towards the window.
    let req = with_tools("short").with_max_output_tokens(9000);
    assert_eq!(chosen(&r, &req), "pro");
}

#[test]
fn off_peak_prices_change_the_choice() {
    let fleet = Fleet::new();
    let clock = clock();
    let r = router_at(
        &format!("[routing]\nmin_tier = 2\n{MODELS}"),
        &fleet,
        &clock,
    );
    // ~50k prompt tokens, 100 output tokens: input-heavy.
    let req = json_tools(&"x".repeat(200_000))
        .with_provider_option("weft-router", r#"{"expected_output_tokens": 100}"#);
    // Peak: Kimi's input (0.95) beats DeepSeek Pro's (1.32).
    assert_eq!(chosen(&r, &req), "kimi");
    // Off-peak, DeepSeek is half price (0.66).
    clock.set(monday(12, 0));
    assert_eq!(chosen(&r, &req), "pro");
}

#[test]
fn quality_tier_from_policy_and_per_request() {
    let fleet = Fleet::new();
    let r = router("[routing]\nmin_tier = 2", &fleet);
    assert_eq!(chosen(&r, &user("hi")), "pro");
    let d = r.last_decision().unwrap();
    let glm = d.candidates.iter().find(|c| c.model == "glm-free").unwrap();
    assert_eq!(
        glm.rejected,
        vec![Rejection::TierTooLow { tier: 1, min: 2 }]
    );
    let req = user("hi").with_provider_option("weft-router", r#"{"min_tier": 3}"#);
    assert_eq!(chosen(&r, &req), "gpt");
    assert_eq!(r.last_decision().unwrap().needs.min_tier, 3);
    // The router's option never reaches the model; others do.
    let req = user("hi")
        .with_provider_option("weft-router", r#"{"min_tier": 0}"#)
        .with_provider_option("glm", r#"{"thinking": {"type": "disabled"}}"#);
    assert_eq!(chosen(&r, &req), "glm-free");
    let seen = fleet.glm.requests().pop().unwrap();
    assert_eq!(seen.provider_options.len(), 1);
    assert_eq!(seen.provider_options[0].provider, "glm");
}

#[test]
fn invalid_router_options_are_refused() {
    let fleet = Fleet::new();
    let r = router("", &fleet);
    let req = user("hi").with_provider_option("weft-router", r#"{"budget_key": "other"}"#);
    let e = block_on(r.chat(&req)).unwrap_err();
    assert!(
        matches!(&e, ModelError::Unsupported(m) if m.contains("budget_key")),
        "{e}"
    );
}

#[test]
fn sovereignty_provider_allow_and_deny() {
    let fleet = Fleet::new();
    let r = router(
        "[routing]\nmin_tier = 3\n[sovereignty]\ndeny_providers = [\"OpenAI\"]",
        &fleet,
    );
    let e = block_on(r.chat(&user("hi"))).unwrap_err();
    assert!(
        matches!(&e, ModelError::Unsupported(m) | ModelError::Denied(m) if m.contains("provider `openai` is denied")),
        "{e}"
    );
    let d = r.last_decision().unwrap();
    assert!(d.chosen.is_none());
    assert!(d.error.is_some());
    assert_eq!(fleet.gpt.calls(), 0);

    let r = router(
        "[sovereignty]\nallow_providers = [\"kimi\", \"ollama\"]",
        &fleet,
    );
    assert_eq!(chosen(&r, &with_tools("hi")), "llama");
    assert_eq!(chosen(&r, &json_tools("hi")), "kimi");
    let d = r.last_decision().unwrap();
    let pro = d.candidates.iter().find(|c| c.model == "pro").unwrap();
    assert_eq!(
        pro.rejected,
        vec![Rejection::ProviderNotAllowed {
            provider: "deepseek".into()
        }]
    );
}

#[test]
fn sovereignty_jurisdictions() {
    let fleet = Fleet::new();
    let r = router("[sovereignty]\nallow_jurisdictions = [\"us\"]", &fleet);
    assert_eq!(chosen(&r, &user("hi")), "gpt");
    let d = r.last_decision().unwrap();
    let llama = d.candidates.iter().find(|c| c.model == "llama").unwrap();
    assert_eq!(
        llama.rejected,
        vec![Rejection::JurisdictionNotAllowed {
            jurisdiction: Some("local".into())
        }]
    );
    let r = router("[sovereignty]\ndeny_jurisdictions = [\"CN\"]", &fleet);
    assert_eq!(chosen(&r, &user("hi")), "llama");
    assert_eq!(chosen(&r, &json_tools("hi")), "gpt");
    let e = block_on(
        r.chat(&json_tools("hi").with_provider_option("weft-router", r#"{"local_only": true}"#)),
    )
    .unwrap_err();
    // Llama lacks JSON, the rest are not local: a capability is missing.
    assert!(matches!(e, ModelError::Unsupported(_)), "{e}");
}

#[test]
fn local_only_from_policy_or_request() {
    let fleet = Fleet::new();
    let r = router("[sovereignty]\nlocal_only = true", &fleet);
    assert_eq!(chosen(&r, &user("hi")), "llama");
    // A request cannot lift it.
    let req = user("hi").with_provider_option("weft-router", r#"{"local_only": false}"#);
    assert_eq!(chosen(&r, &req), "llama");
    let e = block_on(r.chat(&user("hi").with_max_output_tokens(10_000))).unwrap_err();
    assert!(matches!(e, ModelError::Unsupported(_)), "{e}");

    let r = router("", &fleet);
    let req = user("hi").with_provider_option("weft-router", r#"{"local_only": true}"#);
    assert_eq!(chosen(&r, &req), "llama");
    let d = r.last_decision().unwrap();
    assert!(d.needs.local_only);
    let glm = d.candidates.iter().find(|c| c.model == "glm-free").unwrap();
    assert_eq!(glm.rejected, vec![Rejection::LocalOnly]);
    // Nothing local can answer at all: denied by policy.
    let r = router(
        "[sovereignty]\nlocal_only = true\ndeny_providers = [\"ollama\"]",
        &fleet,
    );
    assert!(matches!(
        block_on(r.chat(&user("hi"))),
        Err(ModelError::Denied(_))
    ));
}

/// gpt-5.5 at 1000 input + 100 output tokens: $0.008 a call.
const GPT_CALL: f64 = 0.008;

#[test]
fn run_budget_fails_clearly_when_exhausted() {
    let fleet = Fleet::new();
    let r = router(
        "[routing]\nmin_tier = 3\n[budget]\nper_run_usd = 0.01",
        &fleet,
    )
    .for_run("r1");
    block_on(r.chat(&user("1"))).unwrap();
    assert!((r.run_totals("r1").usd - GPT_CALL).abs() < 1e-12);
    block_on(r.chat(&user("2"))).unwrap();
    let e = block_on(r.chat(&user("3"))).unwrap_err();
    assert_eq!(
        e,
        ModelError::Denied("budget run `r1` exhausted: spent $0.016000 of $0.010000".into())
    );
    assert_eq!(fleet.gpt.calls(), 2);
    let d = r.last_decision().unwrap();
    assert!(d.budget.as_deref().unwrap().contains("failing"));
    assert!((d.run_spent_usd - 2.0 * GPT_CALL).abs() < 1e-12);
    let totals = r.run_totals("r1");
    assert_eq!(totals.calls, 2);
    assert_eq!(totals.usage.input_tokens, 2000);
    // Another run has its own budget.
    let r2 = r.for_run("r2");
    block_on(r2.chat(&user("1"))).unwrap();
    assert_eq!(r2.run_id(), "r2");
}

#[test]
fn key_budget_falls_back_to_local_models() {
    let fleet = Fleet::new();
    let policy = r#"
        [routing]
        min_tier = 3
        [budget]
        on_exhausted = "local"
        [budget.per_key_usd]
        team-a = 0.01
    "#;
    let r = router(policy, &fleet).with_key("team-a");
    assert_eq!(chosen(&r, &user("1")), "gpt");
    assert_eq!(chosen(&r, &user("2")), "gpt");
    assert!((r.key_spent_usd("team-a") - 2.0 * GPT_CALL).abs() < 1e-12);
    // Exhausted: local, whatever its tier.
    assert_eq!(chosen(&r, &user("3")), "llama");
    let d = r.last_decision().unwrap();
    let b = d.budget.as_deref().unwrap();
    assert!(
        b.contains("key `team-a` exhausted") && b.contains("local"),
        "{b}"
    );
    assert!(d.reason.contains("local"));
    let pro = d.candidates.iter().find(|c| c.model == "pro").unwrap();
    assert_eq!(pro.rejected, vec![Rejection::BudgetLocalOnly]);
    assert!((d.key_spent_usd.unwrap() - 2.0 * GPT_CALL).abs() < 1e-12);
    // Runs across the key share it; other keys do not.
    assert_eq!(chosen(&r.for_run("other"), &user("4")), "llama");
    assert_eq!(chosen(&r.with_key("team-b"), &user("5")), "gpt");
    // Nothing local can do the job: a clear denial.
    let e = block_on(r.chat(&json_tools("6"))).unwrap_err();
    assert!(
        matches!(&e, ModelError::Denied(m) if m.contains("budget key `team-a` exhausted")),
        "{e}"
    );
}

#[test]
fn exhausted_budget_can_fall_back_to_the_cheapest_model_within_an_overdraft() {
    let fleet = Fleet::new();
    let policy = r#"
        [routing]
        min_tier = 3
        [budget]
        per_run_usd = 0.01
        default_per_key_usd = 100.0
        on_exhausted = "cheapest"
        overdraft_usd = 0.007
    "#;
    let r = router(policy, &fleet).with_key("anyone");
    assert_eq!(chosen(&r, &json_tools("1")), "gpt");
    assert_eq!(chosen(&r, &json_tools("2")), "gpt");
    // Over the limit: the cheapest eligible model, tier floor or not.
    assert_eq!(chosen(&r, &json_tools("3")), "pro");
    assert_eq!(r.policy().budget.on_exhausted, OnExhausted::Cheapest);
    // Past the overdraft too: refused.
    let e = block_on(r.chat(&json_tools("4"))).unwrap_err();
    assert!(
        matches!(&e, ModelError::Denied(m) if m.starts_with("budget run `default` exhausted") && m.contains("overdraft")),
        "{e}"
    );
}

#[test]
fn falls_back_by_error_kind_and_records_why() {
    let fleet = Fleet {
        pro: Fake::new("deepseek", "deepseek-v4-pro")
            .fail(rate_limited(None))
            .arc(),
        ..Fleet::new()
    };
    let r = router("", &fleet);
    assert_eq!(chosen(&r, &json_tools("hi")), "kimi");
    let d = r.last_decision().unwrap();
    assert_eq!(d.attempts.len(), 2);
    assert!(matches!(
        d.attempts[0].outcome,
        AttemptOutcome::Failed {
            kind: weft_router::ErrorKind::RateLimited,
            ..
        }
    ));
    assert_eq!(d.attempts[1].outcome, AttemptOutcome::Ok);
    assert!(
        d.reason.contains("fallback after pro rate_limited"),
        "{}",
        d.reason
    );

    // With a narrower fallback set, the error comes back.
    let fleet = Fleet {
        pro: Fake::new("deepseek", "deepseek-v4-pro")
            .fail(rate_limited(None))
            .arc(),
        ..Fleet::new()
    };
    let r = router("[routing]\nfallback_on = [\"overloaded\"]", &fleet);
    assert!(matches!(
        block_on(r.chat(&json_tools("hi"))),
        Err(ModelError::RateLimited { .. })
    ));
    assert_eq!(fleet.kimi.calls(), 0);
    let d = r.last_decision().unwrap();
    assert!(d.error.as_deref().unwrap().contains("rate limited"));
}

#[test]
fn cooling_providers_are_rejected_with_a_reason() {
    let fleet = Fleet {
        pro: Fake::new("deepseek", "deepseek-v4-pro")
            .failing_times(2, overloaded())
            .arc(),
        ..Fleet::new()
    };
    let r = router("[cooldown]\nfailures = 2\ncooldown_ms = 60000", &fleet);
    assert_eq!(chosen(&r, &json_tools("1")), "kimi");
    assert_eq!(chosen(&r, &json_tools("2")), "kimi");
    assert_eq!(chosen(&r, &json_tools("3")), "kimi");
    assert_eq!(fleet.pro.calls(), 2);
    let d = r.last_decision().unwrap();
    let pro = d.candidates.iter().find(|c| c.model == "pro").unwrap();
    assert!(matches!(pro.rejected[..], [Rejection::CoolingDown { .. }]));
}

#[test]
fn streams_are_routed_charged_and_recorded() {
    let fleet = Fleet::new();
    let r = router("[routing]\nmin_tier = 3", &fleet).for_run("s");
    let stream = block_on(r.chat_stream(&user("hi"))).unwrap();
    // Not settled until the stream ends.
    assert!(r.last_decision().is_none());
    let answer = block_on(collect_stream(stream)).unwrap();
    assert_eq!(answer.model, "gpt-5.5");
    let d = r.last_decision().unwrap();
    assert!(d.stream);
    assert_eq!(d.chosen.as_deref(), Some("gpt"));
    assert!((d.cost.unwrap().usd - GPT_CALL).abs() < 1e-12);
    assert!((r.run_totals("s").usd - GPT_CALL).abs() < 1e-12);

    // Fallback before the first event, not after.
    let fleet = Fleet {
        pro: Fake::new("deepseek", "deepseek-v4-pro")
            .then(Step::Items(vec![Err(overloaded())]))
            .then(Step::Items(vec![
                Ok(StreamEvent::TextDelta("partial".into())),
                Err(ModelError::Transport("reset".into())),
            ]))
            .arc(),
        ..Fleet::new()
    };
    let r = router("", &fleet);
    let answer = block_on(collect_stream(
        block_on(r.chat_stream(&json_tools("1"))).unwrap(),
    ))
    .unwrap();
    assert_eq!(answer.model, "kimi-k2.6");
    let e = block_on(collect_stream(
        block_on(r.chat_stream(&json_tools("2"))).unwrap(),
    ))
    .unwrap_err();
    assert!(matches!(e, ModelError::Transport(_)));
    assert_eq!(fleet.kimi.calls(), 1);
    let d = r.last_decision().unwrap();
    assert_eq!(d.chosen.as_deref(), Some("pro"));
    assert!(d.error.is_some() && d.cost.is_none());
    assert!(d.reason.contains("then failed"), "{}", d.reason);

    // A stream dropped early still leaves a decision.
    let r = router("", &fleet).for_run("dropped");
    drop(block_on(r.chat_stream(&user("hi"))).unwrap());
    let d = r.last_decision().unwrap();
    assert!(d.error.as_deref().unwrap().contains("dropped"));
    assert_eq!(r.run_totals("dropped").calls, 0);
}

#[test]
fn decisions_are_kept_in_order_up_to_the_limit() {
    let fleet = Fleet::new();
    let r = router("[routing]\ndecision_log_limit = 2", &fleet);
    for i in 0..3 {
        block_on(r.chat(&user(&i.to_string()))).unwrap();
    }
    let ds = r.decisions();
    assert_eq!(ds.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![2, 3]);
    // Decisions serialize for transcripts.
    let json = serde_json::to_string(&ds[0]).unwrap();
    assert!(json.contains("\"chosen\":\"glm-free\""));
}

#[test]
fn policy_errors_name_the_field() {
    let err = |text: &str| Policy::from_toml_str(text).unwrap_err().to_string();
    let e = err("[budget]\nper_run = 1.0\n[[models]]\nname = \"a\"");
    assert!(e.contains("unknown field `per_run`"), "{e}");
    let e = err("[[models]]\nname = \"a\"\ntier = \"high\"");
    assert!(e.contains("tier"), "{e}");
    let e = err("[[models]]\nname = \"a\"\nlocal = true\ncolour = \"red\"");
    assert!(e.contains("colour"), "{e}");
    let e = err("[routing]\nfallback_on = [\"gremlins\"]\n[[models]]\nname = \"a\"");
    assert!(e.contains("gremlins"), "{e}");
    let e = err("[retry]\njitter = 2.0\n[[models]]\nname = \"a\"");
    assert!(e.contains("`retry.jitter`"), "{e}");
    let e = err("[budget]\nper_key_usd = { k = -1.0 }\n[[models]]\nname = \"a\"");
    assert!(e.contains("`budget.per_key_usd.k`"), "{e}");
    let e = err("[routing]\nmin_tier = 1");
    assert!(e.contains("`models`"), "{e}");

    let fleet = Fleet::new();
    let build = |text: &str| Router::from_policy_str(text, fleet.map()).err().unwrap();
    let e = build("[[models]]\nname = \"gpt\"\n[[models]]\nname = \"claude\"");
    assert!(
        matches!(&e, ConfigError::Invalid { field, .. } if field == "models[1].name"),
        "{e}"
    );
    let e = build("[[models]]\nname = \"llama\"");
    assert!(
        matches!(&e, ConfigError::Invalid { field, reason } if field == "models[0].price" && reason.contains("llama3")),
        "{e}"
    );
    let e = build("[[models]]\nname = \"gpt\"\nprice = \"gpt-9\"");
    assert!(e.to_string().contains("gpt-9"), "{e}");
    // The price key may differ from the model's name.
    assert!(
        Router::from_policy_str(
            "[[models]]\nname = \"llama\"\nprice = \"glm-4.7-flash\"",
            fleet.map()
        )
        .is_ok()
    );
}

#[test]
fn the_router_is_a_model_with_merged_capabilities() {
    let fleet = Fleet::new();
    let r = router("", &fleet);
    let caps = r.capabilities();
    assert!(caps.tools && caps.json_object && caps.streaming);
    assert_eq!(caps.provider, "weft-router");
    assert_eq!(caps.context_window, Some(8192));
    // It can sit inside another router or wrapper.
    let inner: Arc<dyn Model> = Arc::new(r);
    let answer = block_on(inner.chat(&ChatRequest::new(vec![Message::user("x")]))).unwrap();
    assert_eq!(
        answer.usage,
        Usage {
            input_tokens: 1000,
            output_tokens: 100,
            ..Usage::default()
        }
    );
}
