//! Fault injection against a loopback server on 127.0.0.1, for each wire
//! format (OpenAI-compatible, Anthropic, Gemini): every failure ends in a
//! clear error, never a hang. Retrying and falling back are the router's
//! job. Also: recorded cassettes replay identically. (Secrets are tested in
//! `secrets.rs`, alone in its binary so it can capture all logs.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use weft_model::{
    ChatRequest, EventStream, Message, Model, ModelError, StreamEvent, ToolCall, ToolSpec,
};
use weft_providers::http_cassette::HttpCassette;
use weft_providers::{
    Provider, ProviderConfig, RecordingTransport, ReplayTransport, ReqwestTransport,
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

fn model(wire: Wire, addr: std::net::SocketAddr) -> Provider {
    config(wire, addr, 400).build().unwrap()
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

async fn stream_error(p: &Provider) -> (Vec<StreamEvent>, ModelError) {
    let s = tokio::time::timeout(Duration::from_secs(5), p.chat_stream(&request()))
        .await
        .expect("no hang");
    let items = match s {
        Err(e) => return (Vec::new(), e),
        Ok(s) => drain(s).await,
    };
    let mut ok = Vec::new();
    for i in items {
        match i {
            Ok(e) => ok.push(e),
            Err(e) => return (ok, e),
        }
    }
    panic!("the stream ended without an error: {ok:?}")
}

#[tokio::test]
async fn rate_limit_with_retry_after() {
    for wire in WIRES {
        let body = match wire {
            Wire::OpenAi => json!({"error": {"message": "Rate limit reached"}}),
            Wire::Anthropic => {
                json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
            }
            Wire::Gemini => {
                json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
            }
        };
        let server = LoopbackServer::script(vec![
            Reply::json(429, body.to_string()).header("retry-after", "3"),
            Reply::json(429, body.to_string()).header("retry-after", "1.5"),
        ]);
        let p = model(wire, server.addr());
        let err = p.chat(&request()).await.unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::RateLimited {
                    retry_after_ms: Some(3000),
                    ..
                }
            ),
            "{wire:?}: {err:?}"
        );
        assert!(err.is_retryable());
        let (events, err) = stream_error(&p).await;
        assert!(events.is_empty());
        assert_eq!(
            err.retry_after(),
            Some(Duration::from_millis(1500)),
            "{wire:?}"
        );
    }
}

#[tokio::test]
async fn server_errors() {
    for wire in WIRES {
        let server = LoopbackServer::script(vec![
            Reply::json(500, "<html><body>Internal Server Error</body></html>"),
            Reply::json(502, "bad gateway"),
        ]);
        let p = model(wire, server.addr());
        match p.chat(&request()).await.unwrap_err() {
            ModelError::Provider { status: 500, body } => assert!(body.contains("Internal")),
            other => panic!("{wire:?}: {other:?}"),
        }
        let (events, err) = stream_error(&p).await;
        assert!(events.is_empty());
        assert!(
            matches!(err, ModelError::Provider { status: 502, .. }),
            "{wire:?}: {err:?}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn timeouts_never_hang() {
    for wire in WIRES {
        let server = LoopbackServer::script(vec![
            Reply::hang(),
            Reply::sse(stream_start(wire)).then_stall(),
        ]);
        let p = model(wire, server.addr());
        let started = Instant::now();
        let err = p.chat(&request()).await.unwrap_err();
        assert!(matches!(err, ModelError::Timeout(_)), "{wire:?}: {err:?}");
        let (events, err) = stream_error(&p).await;
        assert_eq!(
            events,
            vec![StreamEvent::TextDelta("Hi".into())],
            "{wire:?}"
        );
        assert!(matches!(err, ModelError::Timeout(_)), "{wire:?}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{wire:?}");
    }
}

#[tokio::test]
async fn truncated_sse_is_a_clear_error() {
    for wire in WIRES {
        let mut half = stream_start(wire);
        let cut = b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"x".to_vec();
        half.push(cut);
        let server = LoopbackServer::script(vec![
            Reply::sse(stream_start(wire)).then_cut(),
            Reply::sse(stream_start(wire)),
            Reply::sse(half).then_cut(),
        ]);
        let p = model(wire, server.addr());
        for round in 0..3 {
            let (events, err) = stream_error(&p).await;
            assert_eq!(
                events,
                vec![StreamEvent::TextDelta("Hi".into())],
                "{wire:?}"
            );
            match err {
                ModelError::Transport(m) => assert!(
                    m.contains("truncated") || m.contains("invalid stream chunk"),
                    "{wire:?} round {round}: {m}"
                ),
                other => panic!("{wire:?} round {round}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn invalid_json_is_a_clear_error() {
    for wire in WIRES {
        let server = LoopbackServer::script(vec![
            Reply::json(200, "{\"choices\": [oops"),
            Reply::sse(vec![b"data: {oops}\n\n".to_vec()]),
            Reply::json(200, "[]"),
        ]);
        let p = model(wire, server.addr());
        match p.chat(&request()).await.unwrap_err() {
            ModelError::Transport(m) => assert!(m.contains("not JSON"), "{wire:?}: {m}"),
            other => panic!("{wire:?}: {other:?}"),
        }
        let (_, err) = stream_error(&p).await;
        match err {
            ModelError::Transport(m) => assert!(m.contains("invalid stream chunk"), "{m}"),
            other => panic!("{wire:?}: {other:?}"),
        }
        // Valid JSON of the wrong shape.
        assert!(
            matches!(
                p.chat(&request()).await.unwrap_err(),
                ModelError::Transport(_)
            ),
            "{wire:?}"
        );
    }
}

fn tool_delta(fragment: serde_json::Value) -> Vec<u8> {
    sse_event(
        None,
        &json!({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}),
    )
}

#[tokio::test]
async fn shuffled_tool_call_indices() {
    let finish = sse_event(
        None,
        &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    );
    let shuffled = vec![
        tool_delta(
            json!({"index": 9, "id": "c", "function": {"name": "h", "arguments": "{\"z\""}}),
        ),
        tool_delta(json!({"index": 2, "id": "a", "function": {"name": "f", "arguments": ""}})),
        tool_delta(
            json!({"index": 5, "id": "b", "function": {"name": "g", "arguments": "{\"y\":"}}),
        ),
        tool_delta(json!({"index": 2, "function": {"arguments": "{\"x\":1}"}})),
        tool_delta(json!({"index": 9, "function": {"arguments": ":3}"}})),
        tool_delta(json!({"index": 5, "function": {"arguments": "2}"}})),
        finish.clone(),
        b"data: [DONE]\n\n".to_vec(),
    ];
    // A fragment at an index no call ever started, with no id or name.
    let orphan = vec![
        tool_delta(json!({"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}})),
        tool_delta(json!({"index": 4, "function": {"arguments": "{\"lost\":true}"}})),
        finish,
        b"data: [DONE]\n\n".to_vec(),
    ];
    let server = LoopbackServer::script(vec![Reply::sse(shuffled), Reply::sse(orphan)]);
    let p = model(Wire::OpenAi, server.addr());
    let items = drain(p.chat_stream(&request()).await.unwrap()).await;
    let Some(Ok(StreamEvent::Done(done))) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("c", "h", r#"{"z":3}"#),
            &ToolCall::new("a", "f", r#"{"x":1}"#),
            &ToolCall::new("b", "g", r#"{"y":2}"#),
        ]
    );
    let (_, err) = stream_error(&p).await;
    match err {
        ModelError::Transport(m) => assert!(m.contains("has no name"), "{m}"),
        other => panic!("{other:?}"),
    }

    // Anthropic: deltas of two tool blocks interleaved, then a delta for a
    // block that never started.
    let ev = |e: &str, d: serde_json::Value| sse_event(Some(e), &d);
    let blocks = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t0", "name": "g", "input": {}}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"b\":2}"}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ];
    let stray = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 1}}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{"}}),
        ),
    ];
    let server = LoopbackServer::script(vec![Reply::sse(blocks), Reply::sse(stray)]);
    let p = model(Wire::Anthropic, server.addr());
    let items = drain(p.chat_stream(&request()).await.unwrap()).await;
    let Some(Ok(StreamEvent::Done(done))) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("t0", "g", r#"{"b":2}"#),
            &ToolCall::new("t1", "f", r#"{"a":1}"#),
        ]
    );
    let (_, err) = stream_error(&p).await;
    assert!(
        matches!(&err, ModelError::Transport(m) if m.contains("never started")),
        "{err:?}"
    );
}

#[tokio::test]
async fn record_then_replay_identically_with_timing() {
    let chunk = |d: serde_json::Value| sse_event(None, &d);
    let timed = vec![
        (
            0,
            chunk(
                json!({"model": "m", "choices": [{"index": 0, "delta": {"reasoning_content": "Hm."}}]}),
            ),
        ),
        (
            60,
            chunk(json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}]})),
        ),
        (
            60,
            chunk(
                json!({"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
            ),
        ),
        (0, b"data: [DONE]\n\n".to_vec()),
    ];
    let server = LoopbackServer::script(vec![
        Reply::sse_timed(timed),
        Reply::json(
            200,
            json!({"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "ok"}}]}).to_string(),
        ),
        Reply::json(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "2"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deepseek.cassette");
    let recorder = Arc::new(
        RecordingTransport::create(
            ReqwestTransport::new(Some(Duration::from_secs(5))).unwrap(),
            &path,
            "recorded against a loopback server",
        )
        .unwrap(),
    );
    let req = ChatRequest::new(vec![Message::user("hi")]);
    let live = config(Wire::OpenAi, server.addr(), 5000)
        .with_transport(recorder.clone())
        .build()
        .unwrap();
    let streamed = drain(live.chat_stream(&req).await.unwrap()).await;
    let answered = live.chat(&req).await.unwrap();
    let failed = live.chat(&req).await.unwrap_err();
    assert_eq!(recorder.recorded().len(), 3);

    let cassette = HttpCassette::load(&path).unwrap();
    let first = cassette.interactions[0].response.as_ref().unwrap();
    let chunks = first.chunks.as_ref().unwrap();
    let total: u64 = chunks.iter().map(|c| c.after_ms).sum();
    assert!(total >= 100, "timing recorded: {chunks:?}");
    assert_eq!(
        cassette.interactions[0].request.headers["authorization"],
        "[REDACTED]"
    );

    for paced in [false, true] {
        let replay = ReplayTransport::open(&path).unwrap();
        let replay = if paced { replay.paced(1.0) } else { replay };
        let offline = config(Wire::OpenAi, server.addr(), 5000)
            .with_transport(Arc::new(replay.clone()))
            .build()
            .unwrap();
        let started = Instant::now();
        assert_eq!(
            drain(offline.chat_stream(&req).await.unwrap()).await,
            streamed
        );
        if paced {
            assert!(started.elapsed() >= Duration::from_millis(100));
        }
        assert_eq!(offline.chat(&req).await.unwrap(), answered);
        assert_eq!(offline.chat(&req).await.unwrap_err(), failed);
        assert_eq!(replay.remaining(), 0);
        // Exhausted: a clear error, not a hang.
        assert!(matches!(
            offline.chat(&req).await.unwrap_err(),
            ModelError::Unsupported(m) if m.contains("exhausted")
        ));
    }
    // A request the cassette did not record is refused with a diff.
    let replay = ReplayTransport::open(&path).unwrap();
    let offline = config(Wire::OpenAi, server.addr(), 5000)
        .with_transport(Arc::new(replay))
        .build()
        .unwrap();
    let other = ChatRequest::new(vec![Message::user("something else")]);
    match offline.chat_stream(&other).await.err().unwrap() {
        ModelError::Unsupported(m) => {
            assert!(m.contains("mismatch") && m.contains("messages[0]"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
