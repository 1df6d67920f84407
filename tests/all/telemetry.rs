//! Every billed model call gets a `gen_ai.chat` span with the OpenTelemetry
//! GenAI usage attributes and its cost, whatever the backend.

use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use weft_host::Host;
use weft_tests::{all_tools, answer, app, artifacts, scripted};

#[derive(Clone, Default)]
struct Fields(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

struct Capture(Fields);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut v = self.0.clone();
        v.0.lock()
            .unwrap()
            .push(("span".into(), attrs.metadata().name().to_string()));
        attrs.record(&mut v);
    }
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        let mut v = self.0.clone();
        values.record(&mut v);
    }
}

#[test]
fn model_calls_are_traced_with_gen_ai_usage_and_cost() {
    let fields = Fields::default();
    let subscriber = tracing_subscriber::registry().with(Capture(fields.clone()));
    let mut reply = answer("ok");
    reply.model = "deepseek-flash".into();
    reply.usage.input_tokens = 2000;
    reply.usage.output_tokens = 300;
    let host = Host::builder()
        .cache_dir(None)
        .model(scripted([reply]))
        .build(&app(artifacts::TOOL_LOOP_AGENT, &[], all_tools()))
        .unwrap();
    let report = tracing::subscriber::with_default(subscriber, || host.run("hi").unwrap());
    let seen = fields.0.lock().unwrap().clone();
    let get = |name: &str| seen.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert!(
        seen.iter().any(|(k, v)| k == "span" && v == "gen_ai.chat"),
        "{seen:?}"
    );
    assert_eq!(get("gen_ai.operation.name").as_deref(), Some("\"chat\""));
    assert_eq!(
        get("gen_ai.response.model").as_deref(),
        Some("\"deepseek-flash\"")
    );
    assert_eq!(get("gen_ai.usage.input_tokens").as_deref(), Some("2000"));
    assert_eq!(get("gen_ai.usage.output_tokens").as_deref(), Some("300"));
    let cost: f64 = get("weft.cost.usd")
        .expect("a cost attribute")
        .parse()
        .unwrap();
    assert!(
        (cost - report.spend.usd).abs() < 1e-12 && cost > 0.0,
        "{cost} vs {:?}",
        report.spend
    );
}
