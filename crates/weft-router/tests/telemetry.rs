//! Spans: GenAI attributes and cost on every call; secrets never recorded.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use weft_model::{Model, ModelError, Usage, collect_stream};
use weft_router::{AttemptOutcome, PriceCatalog, Resilient, Router};

/// (span or event target, field, value) for everything recorded.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String, String)>>>);

struct Collect<'a> {
    owner: String,
    out: &'a Mutex<Vec<(String, String, String)>>,
}

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.out.lock().unwrap().push((
            self.owner.clone(),
            field.name().to_owned(),
            format!("{value:?}"),
        ));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.out.lock().unwrap().push((
            self.owner.clone(),
            field.name().to_owned(),
            value.to_owned(),
        ));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        attrs.record(&mut Collect {
            owner: attrs.metadata().name().to_owned(),
            out: &self.0,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let owner = ctx
            .span(id)
            .map(|s| s.name().to_owned())
            .unwrap_or_default();
        values.record(&mut Collect {
            owner,
            out: &self.0,
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        event.record(&mut Collect {
            owner: event.metadata().target().to_owned(),
            out: &self.0,
        });
    }
}

impl Capture {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }

    fn all(&self) -> Vec<(String, String, String)> {
        self.0.lock().unwrap().clone()
    }

    /// The last value of `field` on spans named `span`.
    fn field(&self, span: &str, field: &str) -> Option<String> {
        self.all()
            .into_iter()
            .rev()
            .find(|(s, f, _)| s == span && f == field)
            .map(|(_, _, v)| v)
    }
}

fn models(m: &[(&str, Arc<dyn Model>)]) -> HashMap<String, Arc<dyn Model>> {
    m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn each_call_has_a_genai_span_with_usage_and_cost() {
    let usage = Usage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_read_tokens: 600,
        cache_write_tokens: 0,
        reasoning_tokens: 50,
        charge: None,
    };
    let gpt: Arc<dyn Model> = Fake::new("openai", "gpt-5.5").usage(usage).arc();
    let clock = clock();
    let router = Router::builder(
        weft_router::Policy::from_toml_str("[[models]]\nname = \"gpt\"\ntier = 1").unwrap(),
        models(&[("gpt", gpt)]),
    )
    .clock(Arc::new(clock.clone()))
    .sleeper(Arc::new(clock))
    .build()
    .unwrap();
    let capture = Capture::default();
    capture.run(|| block_on(router.chat(&user("hi")))).unwrap();
    let f = |name: &str| capture.field("gen_ai.chat", name);
    assert_eq!(f("gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(f("gen_ai.system").as_deref(), Some("openai"));
    assert_eq!(f("gen_ai.provider.name").as_deref(), Some("openai"));
    assert_eq!(f("gen_ai.request.model").as_deref(), Some("gpt-5.5"));
    assert_eq!(f("gen_ai.response.model").as_deref(), Some("gpt-5.5"));
    assert_eq!(f("gen_ai.response.finish_reasons").as_deref(), Some("stop"));
    assert_eq!(f("gen_ai.usage.input_tokens").as_deref(), Some("1000"));
    assert_eq!(f("gen_ai.usage.output_tokens").as_deref(), Some("200"));
    assert_eq!(
        f("gen_ai.usage.cache_read.input_tokens").as_deref(),
        Some("600")
    );
    assert_eq!(
        f("gen_ai.usage.cache_creation.input_tokens").as_deref(),
        Some("0")
    );
    assert_eq!(
        f("gen_ai.usage.reasoning.output_tokens").as_deref(),
        Some("50")
    );
    assert_eq!(f("weft.attempt").as_deref(), Some("1"));
    assert_eq!(f("weft.cost.currency").as_deref(), Some("USD"));
    // 400 misses × $5 + 600 hits × $0.50 + 200 out × $30, per million.
    let usd: f64 = f("weft.cost.usd").unwrap().parse().unwrap();
    assert!((usd - 0.0083).abs() < 1e-12, "{usd}");
    // The router's own span, and a decision event.
    assert_eq!(
        capture.field("weft.route", "weft.route.chosen").as_deref(),
        Some("gpt")
    );
    assert!(
        capture
            .all()
            .iter()
            .any(|(t, f, _)| t == "weft_router::decision" && f == "reason")
    );
}

#[test]
fn streams_and_wrappers_record_spans_too() {
    let usage = Usage {
        input_tokens: 10_000,
        output_tokens: 1_000,
        ..Usage::default()
    };
    let flash: Arc<dyn Model> = Fake::new("deepseek", "deepseek-flash")
        .fail(overloaded())
        .usage(usage)
        .arc();
    let clock = clock();
    let r = Resilient::builder()
        .model("flash", flash)
        .catalog(Arc::new(PriceCatalog::bundled()))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock))
        .build()
        .unwrap();
    let capture = Capture::default();
    capture.run(|| {
        let stream = block_on(r.chat_stream(&user("hi"))).unwrap();
        block_on(collect_stream(stream)).unwrap();
    });
    let spans: Vec<_> = capture
        .all()
        .into_iter()
        .filter(|(s, f, _)| s == "gen_ai.chat" && f == "weft.attempt")
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(spans, vec!["1", "2"]);
    assert_eq!(
        capture.field("gen_ai.chat", "error.type").as_deref(),
        Some("overloaded")
    );
    assert_eq!(
        capture.field("gen_ai.chat", "weft.stream").as_deref(),
        Some("true")
    );
    // Peak DeepSeek Flash: 10k × $0.30 + 1k × $1.20, per million.
    let usd: f64 = capture
        .field("gen_ai.chat", "weft.cost.usd")
        .unwrap()
        .parse()
        .unwrap();
    assert!((usd - 0.0042).abs() < 1e-12, "{usd}");
}

#[test]
fn secrets_never_appear_in_spans_events_or_decisions() {
    const SECRET: &str = "sk-live-SECRET0123456789abcdef";
    // Tried cheapest first: pro (leaks in an auth error), kimi (leaks in a
    // 401 body), then gpt answers.
    let leaky: Arc<dyn Model> = Fake::new("deepseek", "deepseek-v4-pro")
        .fail(ModelError::Auth(format!(
            "Incorrect API key provided: {SECRET}. You can find your API key at ..."
        )))
        .arc();
    let backup: Arc<dyn Model> = Fake::new("kimi", "kimi-k2.6")
        .fail(ModelError::Provider {
            status: 401,
            body: format!("{{\"error\":\"bad header Authorization: Bearer {SECRET}\"}}"),
        })
        .arc();
    let last: Arc<dyn Model> = Fake::new("openai", "gpt-5.5").arc();
    let policy = r#"
        [[models]]
        name = "gpt"
        [[models]]
        name = "pro"
        [[models]]
        name = "kimi"
    "#;
    let clock = clock();
    let router = Router::builder(
        weft_router::Policy::from_toml_str(policy).unwrap(),
        models(&[("pro", leaky), ("kimi", backup), ("gpt", last)]),
    )
    .clock(Arc::new(clock.clone()))
    .sleeper(Arc::new(clock))
    .build()
    .unwrap();
    let request = user(&format!("my key is {SECRET}, keep it safe"))
        .with_provider_option("openai", format!("{{\"api_key\": \"{SECRET}\"}}"));
    let capture = Capture::default();
    capture.run(|| block_on(router.chat(&request)).unwrap());
    let all = capture.all();
    assert!(!all.is_empty());
    for (owner, field, value) in &all {
        assert!(!value.contains("SECRET"), "{owner}.{field} leaked: {value}");
    }
    let d = router.last_decision().unwrap();
    assert_eq!(d.chosen.as_deref(), Some("gpt"));
    let failures: Vec<&str> = d
        .attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            AttemptOutcome::Failed { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 2, "{:?}", d.attempts);
    assert!(
        failures.iter().all(|m| m.contains("[redacted]")),
        "{failures:?}"
    );
    let json = serde_json::to_string(&router.decisions()).unwrap();
    assert!(!json.contains("SECRET"), "{json}");
}
