//! OTLP export (feature `otlp`): spans reach a loopback collector as
//! OTLP/HTTP protobuf, with the GenAI attributes and the cost.
#![cfg(feature = "otlp")]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use support::*;
use tracing_subscriber::layer::SubscriberExt;
use weft_model::{Model, Secret};
use weft_router::otlp::{OtlpConfig, layer};
use weft_router::{Policy, Router};
use weft_test_utils::{LoopbackServer, Reply};

/// Answers each OTLP export with an empty protobuf response.
fn collector() -> LoopbackServer {
    LoopbackServer::start(|_| Reply::new(200).header("content-type", "application/x-protobuf"))
}

#[test]
fn spans_are_exported_over_otlp_http_protobuf() {
    let collector = collector();
    let mut config = OtlpConfig::new(collector.url_for("/v1/traces"));
    config.service_name = "weft-test".into();
    config.headers = vec![("x-collector-key".into(), Secret::new("k-123"))];
    let (otel, guard) = layer(&config).unwrap();
    let subscriber = tracing_subscriber::registry().with(otel);

    let gpt: Arc<dyn Model> = Fake::new("openai", "gpt-5.5").arc();
    let mut models: HashMap<String, Arc<dyn Model>> = HashMap::new();
    models.insert("gpt".into(), gpt);
    let clock = clock();
    let router = Router::builder(
        Policy::from_toml_str("[[models]]\nname = \"gpt\"").unwrap(),
        models,
    )
    .clock(Arc::new(clock.clone()))
    .sleeper(Arc::new(clock))
    .build()
    .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        block_on(router.chat(&user("hi"))).unwrap();
    });
    guard.shutdown().unwrap();

    let request = collector
        .wait_for_requests(1, Duration::from_secs(20))
        .remove(0);
    let headers: Vec<String> = request
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let (line, body) = (request.line, request.body);
    assert_eq!(line, "POST /v1/traces HTTP/1.1");
    let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    assert!(
        lower.contains(&"content-type: application/x-protobuf".to_owned()),
        "{headers:?}"
    );
    assert!(
        lower.contains(&"x-collector-key: k-123".to_owned()),
        "{headers:?}"
    );
    let text = String::from_utf8_lossy(&body);
    for needle in [
        "weft-test",
        "chat gpt-5.5",
        "gen_ai.provider.name",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "weft.cost.usd",
        "weft.route",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}
