//! OTLP export (feature `otlp`): spans reach a loopback collector as
//! OTLP/HTTP protobuf, with the GenAI attributes and the cost.
#![cfg(feature = "otlp")]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use support::*;
use tracing_subscriber::layer::SubscriberExt;
use weft_model::{Model, Secret};
use weft_router::otlp::{OtlpConfig, layer};
use weft_router::{Policy, Router};

/// A received request: its request line, headers and body.
type Received = (String, Vec<String>, Vec<u8>);

/// Accepts one HTTP request and sends it back over the channel.
fn collector() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_owned();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            headers.push(h);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut out = stream;
        out.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap();
        tx.send((line.trim_end().to_owned(), headers, body)).ok();
    });
    (url, rx)
}

#[test]
fn spans_are_exported_over_otlp_http_protobuf() {
    let (url, rx) = collector();
    let mut config = OtlpConfig::new(url);
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

    let (line, headers, body) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
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
