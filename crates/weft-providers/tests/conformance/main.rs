//! The conformance suite: every provider against HTTP cassettes written to
//! follow its documented wire format (each file's header says which docs;
//! none was recorded from a live API).
//!
//! Each cassette holds, in order, the success exchanges the test below
//! drives (tool calls and parallel tool calls, streamed tool deltas,
//! reasoning replay — the replayer checks every outgoing request against the
//! recorded one, so a second request must carry the reasoning exactly), then
//! error exchanges named `error:<kind>[;stream][;retry=<ms>][;status=<n>]`,
//! which [`errors`] drives generically: each must end in that
//! [`ModelError`] case.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use weft_model::{
    ChatRequest, ChatResponse, EventStream, FinishReason, JsonSchemaFormat, Message, Model,
    ModelError, Part, Reasoning, ResponseFormat, Role, StreamEvent, ToolCall, ToolChoice,
    ToolResult, ToolSpec, Usage, collect_stream,
};
use weft_providers::http_cassette::HttpCassette;
use weft_providers::{ForeignReasoning, Provider, ProviderConfig, ReplayTransport};

const KEY: &str = "sk-conformance-secret-0123456789";

fn load(name: &str) -> HttpCassette {
    let path = format!(
        "{}/tests/conformance/{name}.cassette",
        env!("CARGO_MANIFEST_DIR")
    );
    HttpCassette::load(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn provider(name: &str, model: &str, replay: &ReplayTransport) -> Provider {
    provider_with(name, model, replay, ForeignReasoning::Drop)
}

fn provider_with(
    name: &str,
    model: &str,
    replay: &ReplayTransport,
    foreign: ForeignReasoning,
) -> Provider {
    ProviderConfig::for_provider(name, model)
        .unwrap()
        .with_api_key(KEY)
        .with_foreign_reasoning(foreign)
        .with_transport(Arc::new(replay.clone()))
        .build()
        .unwrap()
}

fn tool(name: &str, schema: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("The {name} tool"),
        input_schema: schema.to_string(),
        output_schema: None,
    }
}

fn weather() -> ToolSpec {
    tool(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn time() -> ToolSpec {
    tool(
        "get_time",
        json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
    )
}

async fn drain(stream: EventStream) -> Vec<Result<StreamEvent, ModelError>> {
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .expect("the stream must end, not hang")
}

/// Streams `req`, checks the contract (tool calls only complete, one `Done`
/// last and equal to the assembled deltas), and returns events and answer.
async fn stream_ok(p: &Provider, req: &ChatRequest) -> (Vec<StreamEvent>, ChatResponse) {
    let events: Vec<StreamEvent> = drain(p.chat_stream(req).await.unwrap())
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let Some(StreamEvent::Done(done)) = events.last().cloned() else {
        panic!("no final Done: {events:?}")
    };
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Done(_)))
            .count(),
        1
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, done.text());
    let reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ReasoningDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasoning, done.reasoning_text());
    let calls: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls, done.tool_calls());
    for c in &calls {
        serde_json::from_str::<Value>(&c.arguments).expect("complete JSON arguments");
    }
    (events, done)
}

fn kind(e: &ModelError) -> &'static str {
    match e {
        ModelError::RateLimited { .. } => "rate_limited",
        ModelError::Auth(_) => "auth",
        ModelError::InsufficientBalance(_) => "insufficient_balance",
        ModelError::ContextTooLong(_) => "context_too_long",
        ModelError::Unsupported(_) => "unsupported",
        ModelError::ContentFiltered(_) => "content_filtered",
        ModelError::Overloaded(_) => "overloaded",
        ModelError::Timeout(_) => "timeout",
        ModelError::Transport(_) => "transport",
        ModelError::Denied(_) => "denied",
        ModelError::Provider { .. } => "provider",
    }
}

/// Drives the cassette's `error:` exchanges from `from` on; returns the
/// kinds seen.
async fn errors(p: &Provider, cassette: &HttpCassette, from: usize) -> Vec<&'static str> {
    let req = ChatRequest::new(vec![Message::user("hi")]);
    let mut seen = Vec::new();
    for x in &cassette.interactions[from..] {
        let name = x.name.as_deref().unwrap_or_default();
        let spec = name
            .strip_prefix("error:")
            .unwrap_or_else(|| panic!("not an error exchange: {name}"));
        let mut fields = spec.split(';');
        let want = fields.next().unwrap_or_default();
        let mut stream = false;
        let mut retry = None;
        let mut status = None;
        for f in fields {
            match f.split_once('=') {
                Some(("retry", v)) => retry = Some(v.parse::<u64>().unwrap()),
                Some(("status", v)) => status = Some(v.parse::<u16>().unwrap()),
                _ if f == "stream" => stream = true,
                _ => {}
            }
        }
        let err = if stream {
            match p.chat_stream(&req).await {
                Err(e) => e,
                Ok(s) => {
                    let items = drain(s).await;
                    assert!(
                        !items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))),
                        "{name}: {items:?}"
                    );
                    match items.into_iter().last() {
                        Some(Err(e)) => e,
                        other => panic!("{name}: the stream ended with {other:?}"),
                    }
                }
            }
        } else {
            p.chat(&req).await.unwrap_err()
        };
        assert_eq!(kind(&err), want, "{name}: {err:?}");
        if let Some(ms) = retry {
            assert_eq!(err.retry_after(), Some(Duration::from_millis(ms)), "{name}");
        }
        if let (Some(s), ModelError::Provider { status, .. }) = (status, &err) {
            assert_eq!(*status, s, "{name}");
        }
        assert!(!err.to_string().contains(KEY), "{name}: {err}");
        seen.push(kind(&err));
    }
    seen
}

fn assert_done(replay: &ReplayTransport) {
    assert_eq!(replay.remaining(), 0, "every exchange is exercised");
    let sent = serde_json::to_string(&replay.requests()).unwrap();
    assert!(!sent.contains(KEY), "credentials never reach a cassette");
}

fn all_kinds(seen: &[&str], want: &[&str]) {
    for k in want {
        assert!(seen.contains(k), "error kind {k} not exercised: {seen:?}");
    }
}

#[tokio::test]
async fn openai() {
    let cassette = load("openai");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("openai", "gpt-5.5", &replay);
    let mut req = ChatRequest::new(vec![Message::user("Weather and time in Paris?")])
        .with_tools(vec![weather(), time()])
        .with_tool_choice(ToolChoice::Required)
        .with_max_output_tokens(1000);
    req.sampling.temperature = Some(0.2);
    let (events, done) = stream_ok(&p, &req).await;
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("call_w1", "get_weather", r#"{"city":"Paris"}"#),
            &ToolCall::new("call_t1", "get_time", r#"{"tz":"Europe/Paris"}"#),
        ]
    );
    assert!(matches!(events[0], StreamEvent::ToolCall(_)));
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        done.usage,
        Usage {
            input_tokens: 120,
            output_tokens: 40,
            cache_read_tokens: 64,
            cache_write_tokens: 0,
            reasoning_tokens: 16,
            charge: None,
        }
    );
    // GPT-5 rejects sampling parameters: dropped, and reported.
    assert!(replay.requests()[0].body.get("temperature").is_none());
    assert!(
        p.adaptation(&req)
            .adjustments
            .iter()
            .any(|a| a.target == "sampling.temperature")
    );

    let mut follow = ChatRequest::new(vec![
        Message::user("Weather and time in Paris?"),
        done.message.clone(),
        Message::tool_results([
            ToolResult::ok("call_w1", r#"{"temp_c":18}"#),
            ToolResult::ok("call_t1", "\"14:05\""),
        ]),
    ])
    .with_tools(vec![weather(), time()]);
    follow.response_format = ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "report".into(),
        schema: json!({"type": "object", "properties": {"summary": {"type": "string"}},
            "required": ["summary"], "additionalProperties": false})
        .to_string(),
        strict: true,
    });
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), r#"{"summary":"18°C at 14:05"}"#);
    assert_eq!(answer.usage.cache_read_tokens, 128);

    let seen = errors(&p, &cassette, 2).await;
    all_kinds(
        &seen,
        &[
            "auth",
            "insufficient_balance",
            "rate_limited",
            "context_too_long",
            "content_filtered",
            "overloaded",
            "timeout",
            "transport",
            "provider",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn deepseek_reasoning_replay_and_json_repair() {
    let cassette = load("deepseek");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("deepseek", "deepseek-v4-pro", &replay);
    let mut req = ChatRequest::new(vec![
        Message::system("You are a travel assistant."),
        Message::user("Is it raining in Hangzhou?"),
    ])
    .with_tools(vec![weather()]);
    req.sampling.temperature = Some(0.7);
    let (_, done) = stream_ok(&p, &req).await;
    let reasoning = "The user asks about rain in Hangzhou. I should call get_weather.";
    assert_eq!(
        done.message.parts,
        vec![
            Part::Reasoning(Reasoning {
                text: reasoning.into(),
                signature: None,
                provider: Some("deepseek".into()),
                redacted: false
            }),
            Part::ToolCall(ToolCall::new(
                "call_00_x",
                "get_weather",
                r#"{"city": "Hangzhou"}"#
            )),
        ]
    );
    assert_eq!(done.usage.cache_read_tokens, 64);
    assert_eq!(done.usage.reasoning_tokens, 30);
    // Ignored in thinking mode: dropped and reported.
    assert!(replay.requests()[0].body.get("temperature").is_none());

    let mut follow = req.clone();
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "call_00_x",
        r#"{"rain_mm": 2.5}"#,
    )]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "Yes, light rain (2.5 mm).");
    // The second request carries the reasoning exactly.
    assert_eq!(
        replay.requests()[1].body["messages"][2]["reasoning_content"],
        reasoning
    );

    // json_schema → json_object + validation; the first answer lacks
    // `rain`, the one repair attempt fixes it, both calls are billed.
    let json_req = ChatRequest::new(vec![Message::user("Forecast as JSON")]).with_response_format(
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "forecast".into(),
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
                "required": ["city", "rain"]})
            .to_string(),
            strict: true,
        }),
    );
    let a = p.adaptation(&json_req);
    assert!(a.client_validation, "{a}");
    let (_, answer) = stream_ok(&p, &json_req).await;
    assert_eq!(answer.text(), r#"{"city": "Hangzhou", "rain": true}"#);
    assert_eq!(answer.usage.input_tokens, 200);
    let repair = &replay.requests()[3].body;
    let messages = repair["messages"].as_array().unwrap();
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("JSON Schema")
    );
    assert_eq!(messages[2]["content"], r#"{"city": "Hangzhou"}"#);
    assert!(
        messages[3]["content"].as_str().unwrap().contains("`/rain`")
            || messages[3]["content"].as_str().unwrap().contains("rain"),
        "{}",
        messages[3]
    );

    let seen = errors(&p, &cassette, 4).await;
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "overloaded",
            "auth",
            "rate_limited",
            "context_too_long",
            "provider",
            "transport",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn kimi_fixed_params_and_required_tool_choice() {
    let cassette = load("kimi");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("kimi", "kimi-k2.6", &replay);
    let mut req = ChatRequest::new(vec![
        Message::system("You are Kimi."),
        Message::user("Weather in Beijing?"),
    ])
    .with_tools(vec![weather()])
    .with_tool_choice(ToolChoice::Required);
    req.sampling.temperature = Some(0.3);
    req.sampling.top_p = Some(0.9);
    let (_, done) = stream_ok(&p, &req).await;
    let body = &replay.requests()[0].body;
    for absent in ["tool_choice", "temperature", "top_p"] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
    assert_eq!(done.usage.cache_read_tokens, 32);
    assert_eq!(done.tool_calls()[0].id, "get_weather:0");

    let mut follow = req.clone();
    follow.tool_choice = ToolChoice::Auto;
    follow.sampling = Default::default();
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "get_weather:0",
        r#"{"sky":"clear"}"#,
    )]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "Clear skies in Beijing.");
    assert_eq!(
        replay.requests()[1].body["messages"][2]["reasoning_content"],
        "The user needs the weather; I must call the tool."
    );
    let seen = errors(&p, &cassette, 2).await;
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "overloaded",
            "rate_limited",
            "content_filtered",
            "context_too_long",
            "auth",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn glm_tool_stream_and_code_1113() {
    let cassette = load("glm");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("glm", "glm-5.3", &replay);
    let req =
        ChatRequest::new(vec![Message::user("Weather in Shenzhen?")]).with_tools(vec![weather()]);
    let (_, done) = stream_ok(&p, &req).await;
    assert_eq!(
        done.tool_calls(),
        vec![&ToolCall::new(
            "call_glm_1",
            "get_weather",
            r#"{"city":"Shenzhen"}"#
        )]
    );
    let mut follow = req.clone().with_tool_choice(ToolChoice::None);
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "call_glm_1",
        r#"{"temp_c":29}"#,
    )]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "29°C in Shenzhen.");
    assert!(replay.requests()[1].body.get("tool_choice").is_none());
    let seen = errors(&p, &cassette, 2).await;
    assert_eq!(seen[0], "insufficient_balance", "1113 under HTTP 429");
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "rate_limited",
            "content_filtered",
            "auth",
            "context_too_long",
            "provider",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn minimax_think_tags_and_reasoning_details() {
    let cassette = load("minimax");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("minimax", "MiniMax-M3", &replay);
    let mut req = ChatRequest::new(vec![Message::user("Weather in Shanghai?")])
        .with_tools(vec![weather()])
        .with_max_output_tokens(512);
    req.sampling.temperature = Some(0.0);
    let (_, done) = stream_ok(&p, &req).await;
    assert_eq!(done.reasoning_text(), "\nThe user wants the weather.\n");
    assert_eq!(done.text(), "\n\nLet me check.");
    let mut follow = req.clone();
    follow.sampling = Default::default();
    follow.max_output_tokens = None;
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "call_mm_1",
        r#"{"sky":"cloudy"}"#,
    )]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "\n\nIt is cloudy.");
    assert_eq!(
        replay.requests()[1].body["messages"][1]["content"],
        "<think>\nThe user wants the weather.\n</think>\n\nLet me check."
    );

    // reasoning_split: the reasoning arrives and goes back as
    // `reasoning_details`.
    let split = ChatRequest::new(vec![Message::user("Weather in Shanghai?")])
        .with_tools(vec![weather()])
        .with_provider_option("minimax", r#"{"reasoning_split": true}"#);
    let first = p.chat(&split).await.unwrap();
    assert_eq!(first.reasoning_text(), "I will call the tool.");
    let mut follow = split.clone();
    follow.messages.push(first.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "call_mm_2",
        r#"{"sky":"cloudy"}"#,
    )]));
    assert_eq!(p.chat(&follow).await.unwrap().text(), "Cloudy.");

    let seen = errors(&p, &cassette, 4).await;
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "rate_limited",
            "auth",
            "content_filtered",
            "context_too_long",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn qwen_parallel_calls_and_no_reasoning_replay() {
    let cassette = load("qwen");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("qwen", "qwen3.8-max", &replay);
    let req = ChatRequest::new(vec![Message::user("Weather and time in Paris?")])
        .with_tools(vec![weather(), time()])
        .with_provider_option("qwen", r#"{"enable_thinking": true}"#);
    let (_, done) = stream_ok(&p, &req).await;
    assert_eq!(done.tool_calls().len(), 2);
    assert_eq!(done.reasoning_text(), "Two lookups.");
    let mut follow = req.clone();
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([
        ToolResult::ok("call_q1", r#"{"temp_c":18}"#),
        ToolResult::ok("call_q2", "\"14:05\""),
    ]));
    p.chat(&follow).await.unwrap();
    assert!(
        replay.requests()[1].body["messages"][1]
            .get("reasoning_content")
            .is_none()
    );
    let seen = errors(&p, &cassette, 2).await;
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "content_filtered",
            "rate_limited",
            "auth",
            "context_too_long",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn ollama_index_zero_and_no_key() {
    let cassette = load("ollama");
    let replay = ReplayTransport::new(cassette.clone());
    let p = ProviderConfig::for_provider("ollama", "qwen3:8b")
        .unwrap()
        .with_transport(Arc::new(replay.clone()))
        .build()
        .unwrap();
    let req = ChatRequest::new(vec![Message::user("Weather and time in Paris?")])
        .with_tools(vec![weather(), time()]);
    let (_, done) = stream_ok(&p, &req).await;
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("call_abc1", "get_weather", r#"{"city":"Paris"}"#),
            &ToolCall::new("call_abc2", "get_time", r#"{"tz":"Europe/Paris"}"#),
        ]
    );
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert!(!replay.requests()[0].headers.contains_key("authorization"));
    errors(&p, &cassette, 1).await;
    assert_done(&replay);
}

#[tokio::test]
async fn doubao_endpoint_ids_and_errors() {
    let cassette = load("doubao");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("doubao", "ep-20261101123456-abcde", &replay);
    let req =
        ChatRequest::new(vec![Message::user("Weather in Chengdu?")]).with_tools(vec![weather()]);
    let answer = p.chat(&req).await.unwrap();
    assert_eq!(answer.model, "doubao-seed-2-0-pro-261015");
    assert_eq!(answer.usage.reasoning_tokens, 8);
    assert_eq!(answer.tool_calls().len(), 1);
    let seen = errors(&p, &cassette, 1).await;
    all_kinds(
        &seen,
        &[
            "insufficient_balance",
            "overloaded",
            "rate_limited",
            "content_filtered",
            "auth",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn llamacpp_and_vllm() {
    let cassette = load("llamacpp");
    let replay = ReplayTransport::new(cassette.clone());
    let p = ProviderConfig::for_provider("llamacpp", "qwen3-8b-q4")
        .unwrap()
        .with_transport(Arc::new(replay.clone()))
        .build()
        .unwrap();
    let req = ChatRequest::new(vec![Message::user("Weather and time?")])
        .with_tools(vec![weather(), time()]);
    let (_, done) = stream_ok(&p, &req).await;
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("call_0", "get_weather", r#"{"city":"Paris"}"#),
            &ToolCall::new("call_1", "get_time", "{}"),
        ]
    );
    errors(&p, &cassette, 1).await;
    assert_done(&replay);

    let cassette = load("vllm");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("vllm", "Qwen/Qwen3-32B", &replay);
    let req = ChatRequest::new(vec![Message::user("Weather in Lyon?")]).with_tools(vec![weather()]);
    let first = p.chat(&req).await.unwrap();
    let mut follow = req.clone();
    follow.messages.push(first.message.clone());
    follow.messages.push(Message::tool_results([ToolResult::ok(
        "chatcmpl-tool-1",
        r#"{"temp_c":21}"#,
    )]));
    assert_eq!(p.chat(&follow).await.unwrap().text(), "21°C.");
    errors(&p, &cassette, 2).await;
    assert_done(&replay);
}

#[tokio::test]
async fn anthropic_signed_thinking_roundtrip() {
    let cassette = load("anthropic");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("anthropic", "claude-opus-4-5", &replay);
    let thinking = r#"{"thinking": {"type": "enabled", "budget_tokens": 2048}}"#;
    let req = ChatRequest::new(vec![
        Message::system("You are a travel assistant."),
        Message::user("Weather and time in Paris?"),
    ])
    .with_tools(vec![weather(), time()])
    .with_max_output_tokens(4096)
    .with_provider_option("anthropic", thinking);
    let (events, done) = stream_ok(&p, &req).await;
    assert!(matches!(events[0], StreamEvent::ReasoningDelta(_)));
    let parts = &done.message.parts;
    assert_eq!(parts.len(), 5, "{parts:?}");
    match (&parts[0], &parts[1]) {
        (Part::Reasoning(a), Part::Reasoning(b)) => {
            assert_eq!(
                a.text,
                "The user wants weather and time in Paris. I can call both tools at once."
            );
            assert!(a.signature.as_deref().unwrap().starts_with("EqQBCgIYAhIM"));
            assert!(!a.redacted);
            assert!(b.redacted && b.text.is_empty());
            assert!(b.signature.as_deref().unwrap().starts_with("EmwKAhgBEgy3"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(parts[2], Part::Text("I'll check both.".into()));
    assert_eq!(
        done.tool_calls(),
        vec![
            &ToolCall::new("toolu_01A", "get_weather", r#"{"city": "Paris"}"#),
            &ToolCall::new("toolu_01B", "get_time", r#"{"tz": "Europe/Paris"}"#),
        ]
    );
    assert_eq!(
        done.usage,
        Usage {
            input_tokens: 3124,
            output_tokens: 180,
            cache_read_tokens: 2048,
            cache_write_tokens: 1024,
            reasoning_tokens: 0,
            charge: None,
        }
    );

    let mut follow = req.clone();
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([
        ToolResult::ok("toolu_01A", r#"{"temp_c":18}"#),
        ToolResult::ok("toolu_01B", "\"14:05\""),
    ]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "It's 18°C and 14:05 in Paris.");
    assert_eq!(answer.usage.input_tokens, 3300);

    // The conversation arrives from DeepSeek: its reasoning is dropped and
    // thinking is turned off for this request instead of a 400.
    let foreign = ChatRequest::new(vec![
        Message::user("Weather in Paris?"),
        Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning(Reasoning {
                    text: "I should call get_weather.".into(),
                    provider: Some("deepseek".into()),
                    ..Default::default()
                }),
                Part::ToolCall(ToolCall::new(
                    "call_ds_1",
                    "get_weather",
                    r#"{"city":"Paris"}"#,
                )),
            ],
        ),
        Message::tool_results([ToolResult::ok("call_ds_1", r#"{"temp_c":18}"#)]),
    ])
    .with_tools(vec![weather()])
    .with_provider_option("anthropic", thinking);
    assert_eq!(p.chat(&foreign).await.unwrap().text(), "18°C.");
    assert!(replay.requests()[2].body.get("thinking").is_none());

    let seen = errors(&p, &cassette, 3).await;
    all_kinds(
        &seen,
        &[
            "overloaded",
            "rate_limited",
            "insufficient_balance",
            "auth",
            "context_too_long",
            "provider",
            "timeout",
            "transport",
        ],
    );
    assert_done(&replay);
}

#[tokio::test]
async fn gemini_thought_signatures_and_lowering() {
    let cassette = load("gemini");
    let replay = ReplayTransport::new(cassette.clone());
    let p = provider("gemini", "gemini-3.1-pro-preview", &replay);
    let rich_weather = tool(
        "get_weather",
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"city": {"type": "string", "minLength": 1}},
            "properties": {
                "city": {"$ref": "#/$defs/city", "description": "City name"},
                "days": {"type": "integer", "exclusiveMinimum": 0, "maximum": 14},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            },
            "required": ["city"],
            "additionalProperties": false,
        }),
    );
    let req = ChatRequest::new(vec![
        Message::system("You are a travel assistant."),
        Message::user("Weather and time in Paris?"),
    ])
    .with_tools(vec![rich_weather, time()])
    .with_provider_option(
        "gemini",
        r#"{"generationConfig": {"thinkingConfig": {"includeThoughts": true}}}"#,
    );
    let adaptation = p.adaptation(&req);
    for dropped in [
        "$schema",
        "uniqueItems",
        "exclusiveMinimum",
        "additionalProperties",
    ] {
        assert!(
            adaptation
                .adjustments
                .iter()
                .any(|a| a.target.ends_with(dropped)),
            "{dropped} not reported:\n{adaptation}"
        );
    }
    let (_, done) = stream_ok(&p, &req).await;
    let sent = replay.requests()[0].body.to_string();
    for banned in [
        "$ref",
        "$schema",
        "uniqueItems",
        "exclusiveMinimum",
        "additionalProperties",
    ] {
        assert!(!sent.contains(banned), "{banned} sent to Gemini");
    }
    assert_eq!(done.tool_calls().len(), 2);
    assert_eq!(done.usage.output_tokens, 130);
    assert_eq!(done.usage.reasoning_tokens, 100);

    let mut follow = req.clone();
    follow.messages.push(done.message.clone());
    follow.messages.push(Message::tool_results([
        ToolResult::ok("weft_call_0", r#"{"temp_c":18}"#),
        ToolResult::ok("weft_call_1", "\"14:05\""),
    ]));
    let answer = p.chat(&follow).await.unwrap();
    assert_eq!(answer.text(), "It is 18°C and 14:05 in Paris.");
    // The signature on the final empty part is kept for the next turn.
    assert!(
        matches!(answer.message.parts.last(), Some(Part::Reasoning(r)) if r.signature.is_some())
    );

    // A conversation from DeepSeek, its reasoning kept as text.
    let p2 = provider_with(
        "gemini",
        "gemini-3.1-pro-preview",
        &replay,
        ForeignReasoning::AsText,
    );
    let foreign = ChatRequest::new(vec![
        Message::user("Weather in Paris?"),
        Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning(Reasoning {
                    text: "I should call get_weather.".into(),
                    provider: Some("deepseek".into()),
                    ..Default::default()
                }),
                Part::ToolCall(ToolCall::new(
                    "call_ds_1",
                    "get_weather",
                    r#"{"city":"Paris"}"#,
                )),
            ],
        ),
        Message::tool_results([ToolResult::ok("call_ds_1", r#"{"temp_c":18}"#)]),
    ])
    .with_tools(vec![weather()]);
    assert_eq!(p2.chat(&foreign).await.unwrap().text(), "18°C.");

    let json_req = ChatRequest::new(vec![Message::user("Forecast")]).with_response_format(
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "forecast".into(),
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
                "required": ["city", "rain"], "additionalProperties": false})
            .to_string(),
            strict: false,
        }),
    );
    let answer = collect_stream(p.chat_stream(&json_req).await.unwrap())
        .await
        .unwrap();
    assert_eq!(answer.text(), r#"{"city": "Paris", "rain": false}"#);

    let seen = errors(&p, &cassette, 4).await;
    all_kinds(
        &seen,
        &[
            "rate_limited",
            "insufficient_balance",
            "auth",
            "overloaded",
            "context_too_long",
            "content_filtered",
            "timeout",
            "provider",
            "transport",
        ],
    );
    assert_done(&replay);
}

#[test]
fn every_cassette_parses_and_says_it_is_hand_written() {
    let dir = format!("{}/tests/conformance", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("cassette") {
            continue;
        }
        let c = HttpCassette::load(&path).unwrap();
        assert!(c.note.starts_with("Hand-written"), "{}", path.display());
        assert!(!c.interactions.is_empty());
        n += 1;
    }
    assert!(n >= 12, "{n} cassettes");
}
