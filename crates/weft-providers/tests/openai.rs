//! The OpenAI-compatible backend and cassettes against a loopback server.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use weft_model::{
    ChatRequest, ChatResponse, EventStream, FinishReason, Message, Model, ModelError, Part,
    RecordingModel, ReplayModel, Role, StreamEvent, ToolCall, ToolSpec, Usage, collect_stream,
};
use weft_providers::{OpenAiCompatible, OpenAiConfig};
use weft_test_utils::{LoopbackServer, Reply};

const KEY: &str = "sk-test-very-secret-key";

fn model(base_url: &str) -> OpenAiCompatible {
    OpenAiCompatible::new(
        OpenAiConfig::new(base_url, "test-model")
            .with_api_key(KEY)
            .with_provider_name("deepseek")
            .with_timeout(Some(Duration::from_secs(5))),
    )
    .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![
        Message::system("Be brief."),
        Message::user("Weather in Paris and time?"),
    ])
    .with_tools(vec![
        ToolSpec {
            name: "weather".into(),
            description: "Weather for a city".into(),
            input_schema: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#.into(),
            output_schema: None,
        },
        ToolSpec {
            name: "time".into(),
            description: "Time in a zone".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: None,
        },
    ])
}

fn sse(chunks: &[serde_json::Value]) -> String {
    let mut s = String::from(": keep-alive\r\n\r\n");
    for c in chunks {
        s.push_str(&format!("data: {c}\n\n"));
    }
    s
}

fn delta(d: serde_json::Value) -> serde_json::Value {
    json!({"id": "x", "model": "m-1", "choices": [{"index": 0, "delta": d, "finish_reason": null}]})
}

fn tool_delta(fragment: serde_json::Value) -> serde_json::Value {
    delta(json!({"tool_calls": [fragment]}))
}

/// Reasoning, text and two parallel tool calls whose fragments interleave,
/// with ids only on the first fragments.
fn parallel_stream() -> String {
    let mut s = sse(&[
        delta(json!({"role": "assistant", "reasoning_content": "Let me "})),
        delta(json!({"reasoning_content": "think."})),
        delta(json!({"content": "Checking "})),
        delta(json!({"content": "both."})),
        tool_delta(
            json!({"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}),
        ),
        tool_delta(
            json!({"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{\"tz\":"}}),
        ),
        tool_delta(json!({"index": 0, "function": {"arguments": "{\"city\":"}})),
        tool_delta(json!({"index": 1, "function": {"arguments": "\"UTC\"}"}})),
        tool_delta(json!({"index": 0, "function": {"arguments": "\"Paris\"}"}})),
        json!({"id": "x", "model": "m-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "x", "model": "m-1", "choices": [], "usage": {
            "prompt_tokens": 20, "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 4}}}),
    ]);
    s.push_str("data: [DONE]\r\n\r\n");
    s
}

/// The same answer as `parallel_stream`, unstreamed.
fn parallel_json() -> String {
    json!({
        "id": "x", "model": "m-1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking both.", "reasoning_content": "Let me think.",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{\"tz\":\"UTC\"}"}},
            ]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 4}},
    })
    .to_string()
}

fn expected_response() -> ChatResponse {
    ChatResponse {
        message: Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning(weft_model::Reasoning {
                    text: "Let me think.".into(),
                    signature: None,
                    provider: Some("deepseek".into()),
                    redacted: false,
                }),
                Part::Text("Checking both.".into()),
                Part::ToolCall(ToolCall::new("call_a", "weather", r#"{"city":"Paris"}"#)),
                Part::ToolCall(ToolCall::new("call_b", "time", r#"{"tz":"UTC"}"#)),
            ],
        ),
        finish_reason: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: 20,
            output_tokens: 10,
            cache_read_tokens: 5,
            cache_write_tokens: 0,
            reasoning_tokens: 4,
            charge: None,
        },
        model: "m-1".into(),
    }
}

async fn drain(stream: EventStream) -> Vec<Result<StreamEvent, ModelError>> {
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .expect("the stream must end, not hang")
}

async fn stream_events(reply: Reply) -> Vec<Result<StreamEvent, ModelError>> {
    let server = LoopbackServer::script(vec![reply]);
    let m = model(&server.url_for("/v1"));
    let stream = m.chat_stream(&request()).await.unwrap();
    drain(stream).await
}

#[tokio::test]
async fn chat_with_tool_calls_and_wire_format() {
    let server = LoopbackServer::script(vec![Reply::json(200, parallel_json())]);
    let m = model(&server.url_for("/v1"));
    let response = m.chat(&request()).await.unwrap();
    assert_eq!(response, expected_response());

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].head.starts_with("POST /v1/chat/completions "),
        "{}",
        seen[0].head
    );
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let body = seen[0].json();
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Weather in Paris and time?"})
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "weather");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert!(body.get("stream").is_none());
    assert!(body.get("tool_choice").is_none());

    // The key appears on the wire only, never in Debug output.
    let debug = format!("{m:?} {:?}", m.config());
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("***"));
    let cfg = OpenAiConfig::new("http://x", "m").with_header("api-key", "azure-secret-123");
    assert!(!format!("{cfg:?}").contains("azure-secret-123"));
}

#[tokio::test]
async fn stream_assembles_interleaved_parallel_tool_calls() {
    let server = LoopbackServer::script(vec![Reply::sse_chunked(&parallel_stream(), 1 << 20)]);
    let m = model(&server.url_for("/v1"));
    let events: Vec<StreamEvent> = drain(m.chat_stream(&request()).await.unwrap())
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = expected_response();
    assert_eq!(
        events,
        vec![
            StreamEvent::ReasoningDelta("Let me ".into()),
            StreamEvent::ReasoningDelta("think.".into()),
            StreamEvent::TextDelta("Checking ".into()),
            StreamEvent::TextDelta("both.".into()),
            StreamEvent::ToolCall(ToolCall::new("call_a", "weather", r#"{"city":"Paris"}"#)),
            StreamEvent::ToolCall(ToolCall::new("call_b", "time", r#"{"tz":"UTC"}"#)),
            StreamEvent::Done(expected.clone()),
        ]
    );
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        server.requests()[0].header("accept").as_deref(),
        Some("text/event-stream")
    );

    // `Done` is exactly what `chat` returns for the same answer.
    let server = LoopbackServer::script(vec![Reply::json(200, parallel_json())]);
    assert_eq!(
        model(&server.url_for("/v1"))
            .chat(&request())
            .await
            .unwrap(),
        expected
    );
}

#[tokio::test]
async fn sse_split_across_arbitrary_chunk_boundaries() {
    for size in [1, 3, 7, 64] {
        let events = stream_events(Reply::sse_chunked(&parallel_stream(), size)).await;
        let last = events.last().unwrap().as_ref().unwrap();
        assert_eq!(
            last,
            &StreamEvent::Done(expected_response()),
            "chunk size {size}"
        );
        assert_eq!(events.len(), 7, "chunk size {size}");
    }
}

#[tokio::test]
async fn ollama_style_index_zero_for_every_call() {
    let mut text = sse(&[
        tool_delta(
            json!({"index": 0, "id": "call_1", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}),
        ),
        tool_delta(
            json!({"index": 0, "id": "call_2", "function": {"name": "time", "arguments": "{\"tz\":"}}),
        ),
        tool_delta(json!({"index": 0, "function": {"arguments": "\"UTC\"}"}})),
        tool_delta(
            json!({"index": 0, "id": "call_3", "function": {"name": "time", "arguments": ""}}),
        ),
        json!({"model": "llama", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]);
    text.push_str("data: [DONE]\n\n");
    let events = stream_events(Reply::sse_chunked(&text, 5)).await;
    let Some(Ok(StreamEvent::Done(done))) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("call_1", "weather", r#"{"city":"Paris"}"#),
            &ToolCall::new("call_2", "time", r#"{"tz":"UTC"}"#),
            &ToolCall::new("call_3", "time", "{}"),
        ]
    );
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert_eq!(done.model, "llama");
    assert_eq!(events.len(), 4);
}

#[tokio::test]
async fn stream_without_done_marker_but_with_finish_reason_completes() {
    let text = sse(&[
        delta(json!({"content": "Hi"})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]);
    let events = stream_events(Reply::sse_chunked(&text, 16)).await;
    let Some(Ok(StreamEvent::Done(done))) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(done.text(), "Hi");
    assert_eq!(done.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn truncated_stream_is_an_error_not_a_hang() {
    let text = sse(&[
        delta(json!({"content": "Hel"})),
        delta(json!({"content": "lo"})),
    ]);
    let events = stream_events(Reply::sse_chunked(&text, 10)).await;
    assert_eq!(events.len(), 3, "{events:?}");
    match &events[2] {
        Err(ModelError::Transport(m)) => assert!(m.contains("truncated"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Half an event, then the connection ends.
    let text = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x";
    let events = stream_events(Reply::sse_chunked(text, 10)).await;
    assert!(
        matches!(events.last(), Some(Err(ModelError::Transport(_)))),
        "{events:?}"
    );
}

#[tokio::test]
async fn invalid_tool_arguments_are_a_clear_error() {
    let mut text = sse(&[
        tool_delta(
            json!({"index": 0, "id": "call_x", "function": {"name": "weather", "arguments": "{\"city\": \"Par"}}),
        ),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ]);
    text.push_str("data: [DONE]\n\n");
    let events = stream_events(Reply::sse_chunked(&text, 32)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let Err(ModelError::Transport(msg)) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(
        msg.contains("`weather`") && msg.contains("`call_x`") && msg.contains("not valid JSON"),
        "{msg}"
    );

    let body = json!({"choices": [{"finish_reason": "tool_calls", "message": {"tool_calls": [
        {"id": "c9", "type": "function", "function": {"name": "time", "arguments": "{nope"}}]}}]});
    let server = LoopbackServer::script(vec![Reply::json(200, body.to_string())]);
    let err = model(&server.url_for("/v1"))
        .chat(&request())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`time`") && err.to_string().contains("`c9`"),
        "{err}"
    );
}

#[tokio::test]
async fn http_errors_map_to_cases() {
    let server = LoopbackServer::script(vec![
        Reply::json(401, r#"{"error":{"message":"Invalid API key"}}"#),
        Reply::json(429, r#"{"error":{"message":"Rate limit reached"}}"#)
            .header("retry-after", "2"),
        Reply::json(429, r#"{"error":{"message":"slow down"}}"#)
            .header("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT"),
        Reply::json(
            429,
            r#"{"error":{"code":"1113","message":"余额不足或无可用资源包,请充值。"}}"#,
        ),
        Reply::json(500, "internal kaboom"),
        Reply::json(503, r#"{"error":{"message":"busy"}}"#),
        Reply::json(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
        ),
    ]);
    let m = model(&server.url_for("/v1"));
    let req = request();
    match m.chat(&req).await.unwrap_err() {
        ModelError::Auth(msg) => {
            assert!(
                msg.contains("Invalid API key") && msg.contains("401"),
                "{msg}"
            );
            assert!(!msg.contains(KEY));
        }
        other => panic!("{other:?}"),
    }
    match m.chat(&req).await.unwrap_err() {
        ModelError::RateLimited {
            retry_after_ms,
            message,
        } => {
            assert_eq!(retry_after_ms, Some(2000));
            assert!(message.contains("Rate limit reached"));
        }
        other => panic!("{other:?}"),
    }
    match m.chat(&req).await.unwrap_err() {
        ModelError::RateLimited {
            retry_after_ms: Some(ms),
            ..
        } => assert!(ms > 1_000_000_000, "{ms}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        m.chat(&req).await.unwrap_err(),
        ModelError::InsufficientBalance(_)
    ));
    assert_eq!(
        m.chat(&req).await.unwrap_err(),
        ModelError::Provider {
            status: 500,
            body: "internal kaboom".into()
        }
    );
    // Errors on a stream request are returned before any event.
    assert!(matches!(
        m.chat_stream(&req).await.err().unwrap(),
        ModelError::Overloaded(_)
    ));
    assert!(matches!(
        m.chat(&req).await.unwrap_err(),
        ModelError::ContextTooLong(_)
    ));
}

#[tokio::test]
async fn timeouts_and_connection_errors() {
    let server = LoopbackServer::script(vec![
        Reply::hang(),
        Reply::sse(vec![sse(&[delta(json!({"content": "Hi"}))]).into_bytes()]).then_stall(),
    ]);
    let m = OpenAiCompatible::new(
        OpenAiConfig::new(server.url_for("/v1"), "m")
            .with_timeout(Some(Duration::from_millis(200))),
    )
    .unwrap();
    let req = request();
    let started = std::time::Instant::now();
    let err = m.chat(&req).await.unwrap_err();
    assert!(matches!(err, ModelError::Timeout(_)), "{err:?}");
    let events = drain(m.chat_stream(&req).await.unwrap()).await;
    assert!(
        matches!(events[0], Ok(StreamEvent::TextDelta(_))),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Err(ModelError::Timeout(_)))),
        "{events:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.requests()[0].header("authorization").is_none());

    // Nothing listens on this port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let m = model(&format!("http://{addr}/v1"));
    assert!(matches!(
        m.chat(&req).await.unwrap_err(),
        ModelError::Transport(_)
    ));
}

#[tokio::test]
async fn cassette_record_then_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.jsonl");
    let server = LoopbackServer::script(vec![
        Reply::json(200, parallel_json()),
        Reply::sse_chunked(&parallel_stream(), 9),
        Reply::json(429, r#"{"error":{"message":"slow"}}"#).header("retry-after", "1"),
    ]);
    let req = request();
    let follow_up = {
        let mut r = request();
        r.messages.push(expected_response().message);
        r.messages.push(Message::tool_results([
            weft_model::ToolResult::ok("call_a", r#"{"temp": 21}"#),
            weft_model::ToolResult::ok("call_b", r#""12:00""#),
        ]));
        r
    };
    let recorded_chat;
    let recorded_events;
    let recorded_error;
    {
        let rec =
            RecordingModel::create(model(&server.url_for("/v1")), &path, "test recording").unwrap();
        recorded_chat = rec.chat(&req).await.unwrap();
        recorded_events = drain(rec.chat_stream(&follow_up).await.unwrap()).await;
        recorded_error = rec.chat(&req).await.unwrap_err();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY));
    assert!(
        text.starts_with(r#"{"weft_cassette":1,"note":"test recording""#),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4);

    let replay = ReplayModel::open(&path).unwrap();
    assert_eq!(replay.capabilities().provider, "deepseek");
    assert_eq!(replay.chat(&req).await.unwrap(), recorded_chat);
    assert_eq!(
        drain(replay.chat_stream(&follow_up).await.unwrap()).await,
        recorded_events
    );
    assert_eq!(replay.chat(&req).await.unwrap_err(), recorded_error);
    match replay.chat(&req).await.unwrap_err() {
        ModelError::Unsupported(m) => {
            assert!(m.contains("exhausted") && m.contains("call 4"), "{m}")
        }
        other => panic!("{other:?}"),
    }

    // Replaying twice gives the same; a stream entry serves `chat` too.
    let replay = ReplayModel::open(&path).unwrap();
    assert_eq!(replay.chat(&req).await.unwrap(), recorded_chat);
    let via_chat = replay.chat(&follow_up).await.unwrap();
    assert_eq!(
        Some(&Ok(StreamEvent::Done(via_chat))),
        recorded_events.last()
    );
    // ... and a chat entry serves a stream.
    let replay = ReplayModel::open(&path).unwrap();
    let events = drain(replay.chat_stream(&req).await.unwrap()).await;
    assert_eq!(
        collect_stream(weft_model::model::stream_of(events))
            .await
            .unwrap(),
        recorded_chat
    );
}

#[tokio::test]
async fn cassette_mismatch_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.jsonl");
    let server = LoopbackServer::script(vec![Reply::json(200, parallel_json())]);
    let req = request();
    RecordingModel::create(model(&server.url_for("/v1")), &path, "")
        .unwrap()
        .chat(&req)
        .await
        .unwrap();

    let replay = ReplayModel::open(&path).unwrap();
    let mut other = req.clone();
    other.messages[1] = Message::user("Weather in Rome?");
    match replay.chat(&other).await.unwrap_err() {
        ModelError::Unsupported(m) => {
            assert!(m.contains("cassette mismatch at call 1"), "{m}");
            assert!(m.contains("messages[1].parts[0].text"), "{m}");
            assert!(
                m.contains("Weather in Rome?") && m.contains("Weather in Paris and time?"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The cassette did not advance, so the right request still replays.
    assert_eq!(replay.remaining(), 1);
    assert_eq!(replay.chat(&req).await.unwrap(), expected_response());

    let lenient = ReplayModel::open(&path).unwrap().lenient();
    assert_eq!(lenient.chat(&other).await.unwrap(), expected_response());
}
