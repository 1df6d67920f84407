//! Secrets never appear in logs, `Debug` output, errors or HTTP cassettes,
//! for each wire format, while they do reach the server in the provider's
//! auth header. Alone in its test binary so that every log line of the run
//! is captured.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use weft_model::{ChatRequest, EventStream, Message, Model, ModelError, StreamEvent, ToolSpec};
use weft_providers::http_cassette::HttpCassette;
use weft_providers::{
    Header, HttpRequest, ProviderConfig, RecordingTransport, ReqwestTransport, Transport,
};
use weft_test_utils::{LoopbackServer, Reply};

const KEY: &str = "sk-fault-secret-7f3a9c2e5b";

#[derive(Clone, Copy, Debug)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

const WIRES: [Wire; 3] = [Wire::OpenAi, Wire::Anthropic, Wire::Gemini];

fn config(wire: Wire, addr: std::net::SocketAddr, timeout_ms: u64) -> ProviderConfig {
    let (provider, model, base) = match wire {
        Wire::OpenAi => ("deepseek", "deepseek-v4-pro", format!("http://{addr}/v1")),
        Wire::Anthropic => ("anthropic", "claude-opus-4-5", format!("http://{addr}/v1")),
        Wire::Gemini => ("gemini", "gemini-3.1-pro", format!("http://{addr}/v1beta")),
    };
    ProviderConfig::for_provider(provider, model)
        .unwrap()
        .with_base_url(base)
        .with_api_key(KEY)
        .with_timeout(Some(Duration::from_millis(timeout_ms)))
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")]).with_tools(vec![ToolSpec {
        name: "f".into(),
        description: "F".into(),
        input_schema: r#"{"type":"object","properties":{"x":{"type":"integer"}}}"#.into(),
        output_schema: None,
    }])
}

fn sse_event(event: Option<&str>, data: &serde_json::Value) -> Vec<u8> {
    let mut s = String::new();
    if let Some(e) = event {
        s.push_str(&format!("event: {e}\n"));
    }
    s.push_str(&format!("data: {data}\n\n"));
    s.into_bytes()
}

/// The start of a valid streamed answer ("Hi"), without its end.
fn stream_start(wire: Wire) -> Vec<Vec<u8>> {
    match wire {
        Wire::OpenAi => vec![sse_event(
            None,
            &json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
        )],
        Wire::Anthropic => vec![
            sse_event(
                Some("message_start"),
                &json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 1}}}),
            ),
            sse_event(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            sse_event(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            ),
        ],
        Wire::Gemini => vec![sse_event(
            None,
            &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}]}),
        )],
    }
}

async fn drain(stream: EventStream) -> Vec<Result<StreamEvent, ModelError>> {
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .expect("the stream must end, not hang")
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn secrets_never_leak() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            for wire in WIRES {
                let echo = format!(
                    r#"{{"error": {{"message": "Incorrect API key provided: {KEY}", "type": "authentication_error"}}}}"#
                );
                let mut ok = stream_start(wire);
                ok.extend(match wire {
                    Wire::OpenAi => vec![b"data: [DONE]\n\n".to_vec()],
                    Wire::Anthropic => vec![sse_event(
                        Some("message_stop"),
                        &json!({"type": "message_stop"}),
                    )],
                    Wire::Gemini => vec![sse_event(
                        None,
                        &json!({"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]}),
                    )],
                });
                let server = LoopbackServer::script(vec![Reply::json(401, &echo), Reply::sse(ok)]);
                let path = dir.path().join(format!("{wire:?}.cassette"));
                let recorder = Arc::new(
                    RecordingTransport::create(
                        ReqwestTransport::new(Some(Duration::from_secs(5))).unwrap(),
                        &path,
                        "secrets test",
                    )
                    .unwrap(),
                );
                let cfg = config(wire, server.addr(), 5000).with_transport(recorder.clone());
                let debug_cfg = format!("{cfg:?}");
                let p = cfg.build().unwrap();
                let err = p.chat(&request()).await.unwrap_err();
                assert!(matches!(err, ModelError::Auth(_)), "{wire:?}: {err:?}");
                let events = drain(p.chat_stream(&request()).await.unwrap()).await;
                assert!(matches!(events.last(), Some(Ok(StreamEvent::Done(_)))));
                drop(events);

                // The key went on the wire, in the provider's header...
                let seen = server.requests();
                let (header, value) = match wire {
                    Wire::OpenAi => ("authorization", format!("Bearer {KEY}")),
                    Wire::Anthropic => ("x-api-key", KEY.to_owned()),
                    Wire::Gemini => ("x-goog-api-key", KEY.to_owned()),
                };
                assert_eq!(seen[0].header(header).as_deref(), Some(value.as_str()));
                // ...and nowhere else.
                let cassette = std::fs::read_to_string(&path).unwrap();
                for (what, text) in [
                    ("error", err.to_string()),
                    ("Debug of the config", debug_cfg),
                    ("Debug of the provider", format!("{p:?}")),
                    ("cassette", cassette.clone()),
                ] {
                    assert!(!text.contains(KEY), "{wire:?}: the key is in the {what}: {text}");
                }
                assert!(cassette.contains("[REDACTED]"), "{cassette}");
                assert_eq!(HttpCassette::parse(&cassette).unwrap().interactions.len(), 2);
            }

            // Gemini's query-parameter auth, through the recorder.
            let server = LoopbackServer::script(vec![Reply::json(200, "{}")]);
            let path = dir.path().join("query.cassette");
            let recorder = RecordingTransport::create(
                ReqwestTransport::new(None).unwrap(),
                &path,
                "query key",
            )
            .unwrap();
            let response = recorder
                .send(HttpRequest {
                    provider: "gemini".into(),
                    method: "POST".into(),
                    url: format!(
                        "http://{}/v1beta/models/m:generateContent?key={KEY}",
                        server.addr()
                    ),
                    headers: vec![Header::new("content-type", "application/json")],
                    body: bytes::Bytes::from_static(b"{}"),
                    stream: false,
                    timeout: None,
                })
                .await
                .unwrap();
            response.text().await.unwrap();
            let cassette = std::fs::read_to_string(&path).unwrap();
            assert!(!cassette.contains(KEY), "{cassette}");
            assert!(cassette.contains("key=[REDACTED]"), "{cassette}");
        });
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("model request"),
        "logging was captured: {logs}"
    );
    assert!(!logs.contains(KEY), "the key is in the logs:\n{logs}");
}
