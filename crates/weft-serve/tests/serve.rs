//! weft-serve end to end on loopback: Weft's own OpenAI client against the
//! server, and raw HTTP for the error paths.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};
use weft_model::{
    ChatRequest, ChatResponse, FinishReason, JsonSchemaFormat, Message, Model, ModelError, Part,
    Reasoning, ResponseFormat, Role, StreamEvent, ToolCall, ToolChoice, ToolResult, ToolSpec,
    Usage,
};
use weft_serve::Server;
use weft_test_utils::{AfterScript, ScriptedModel, Step};

/// A model that plays `steps` (streamed or not), records the requests it
/// receives, and fails once the script is used up.
fn scripted(steps: impl IntoIterator<Item = Step>) -> Arc<ScriptedModel> {
    ScriptedModel::new("scripted", "scripted-1")
        .with_capabilities(|c| {
            c.json_schema = true;
            c.reasoning = true;
        })
        .after_script(AfterScript::Fail)
        .steps(steps)
        .arc()
}

async fn start(models: Vec<(&str, Arc<dyn Model>)>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let models: BTreeMap<String, Arc<dyn Model>> =
        models.into_iter().map(|(n, m)| (n.to_owned(), m)).collect();
    tokio::spawn(Server::new(models).serve_with_shutdown(listener, std::future::pending()));
    addr
}

fn reasoning(text: &str, provider: &str) -> Part {
    Part::Reasoning(Reasoning {
        text: text.into(),
        signature: None,
        provider: Some(provider.into()),
        redacted: false,
    })
}

/// What the scripted model answers: reasoning, text, two tool calls.
fn tool_answer(reasoning_provider: &str) -> ChatResponse {
    ChatResponse {
        message: Message::new(
            Role::Assistant,
            vec![
                reasoning("Need to search first.", reasoning_provider),
                Part::Text("Let me look that up.".into()),
                Part::ToolCall(ToolCall::new(
                    "call_a",
                    "search",
                    r#"{"query":"weft \"loom\"","limit":3,"big":18446744073709551615}"#,
                )),
                Part::ToolCall(ToolCall::new("call_b", "lookup", r#"{"id":42}"#)),
            ],
        ),
        finish_reason: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: 120,
            output_tokens: 45,
            cache_read_tokens: 20,
            cache_write_tokens: 7,
            reasoning_tokens: 12,
            charge: None,
        },
        model: "scripted-1".into(),
    }
}

fn tool_spec(name: &str, schema: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("The {name} tool."),
        input_schema: schema.to_string(),
        output_schema: None,
    }
}

/// A request using every mapped feature, as Weft's client would send it
/// (the earlier assistant turn's reasoning is the client provider's own).
fn full_request() -> ChatRequest {
    let mut request = ChatRequest::new(vec![
        Message::system("You are terse."),
        Message::user("Find the weft docs."),
        Message::new(
            Role::Assistant,
            vec![
                reasoning("Earlier thought.", "generic"),
                Part::Text("Searching.".into()),
                Part::ToolCall(ToolCall::new("c0", "search", r#"{"query":"weft"}"#)),
                Part::ToolCall(ToolCall::new("c1", "lookup", r#"{"id":1}"#)),
            ],
        ),
        Message::tool_results([
            ToolResult::ok("c0", r#"["https://weft.example"]"#),
            ToolResult::ok("c1", "{}"),
        ]),
        Message::user("And the API?"),
    ])
    .with_tools(vec![
        tool_spec(
            "search",
            json!({"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}),
        ),
        tool_spec("lookup", json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
    ])
    .with_tool_choice(ToolChoice::Named("search".into()))
    .with_response_format(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "answer".into(),
        schema: json!({"type": "object", "properties": {"url": {"type": "string"}}}).to_string(),
        strict: false,
    }))
    .with_max_output_tokens(256);
    request.sampling.temperature = Some(0.25);
    request.sampling.top_p = Some(0.5);
    request.sampling.top_k = Some(20);
    request.sampling.seed = Some(u64::MAX);
    request.sampling.frequency_penalty = Some(0.5);
    request.sampling.presence_penalty = Some(-0.5);
    request.stop = vec!["END".into(), "STOP".into()];
    request
}

/// `request` with the client provider's reasoning re-tagged as the served
/// model's own: what the server hands the model.
fn as_received(request: &ChatRequest) -> ChatRequest {
    let mut r = request.clone();
    for m in &mut r.messages {
        for p in &mut m.parts {
            if let Part::Reasoning(reasoning) = p {
                reasoning.provider = Some("scripted".into());
            }
        }
    }
    r
}

fn client(addr: SocketAddr, model: &str) -> weft_providers::Provider {
    weft_providers::ProviderConfig::for_provider("generic", model)
        .unwrap()
        .with_base_url(format!("http://{addr}/v1"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn weft_client_round_trip() {
    let answer = tool_answer("scripted");
    let streamed = vec![
        Ok(StreamEvent::ReasoningDelta("Need to ".into())),
        Ok(StreamEvent::ReasoningDelta("search first.".into())),
        Ok(StreamEvent::TextDelta("Let me ".into())),
        Ok(StreamEvent::TextDelta("look that up.".into())),
        Ok(StreamEvent::ToolCall(answer.tool_calls()[0].clone())),
        Ok(StreamEvent::ToolCall(answer.tool_calls()[1].clone())),
        Ok(StreamEvent::Done(answer.clone())),
    ];
    let model = scripted([Step::Reply(answer.clone()), Step::Items(streamed)]);
    let addr = start(vec![("local-test", model.clone() as Arc<dyn Model>)]).await;
    let client = client(addr, "local-test");
    let request = full_request();
    // The client reads reasoning from its server as its own provider's.
    let expected = tool_answer("generic");

    let got = client.chat(&request).await.unwrap();
    assert_eq!(got, expected);

    let stream = client.chat_stream(&request).await.unwrap();
    let events: Vec<StreamEvent> = stream.map(Result::unwrap).collect().await;
    let (mut text, mut thought, mut calls, mut done) = (String::new(), String::new(), vec![], None);
    for e in events {
        assert!(done.is_none(), "an event after `done`: {e:?}");
        match e {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::ReasoningDelta(r) => thought.push_str(&r),
            StreamEvent::ToolCall(c) => calls.push(c),
            StreamEvent::Done(r) => done = Some(r),
        }
    }
    assert_eq!(text, "Let me look that up.");
    assert_eq!(thought, "Need to search first.");
    assert_eq!(
        calls,
        expected
            .tool_calls()
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(done, Some(expected));

    let seen = model.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], as_received(&request));
    assert_eq!(seen[1], as_received(&request));
}

#[tokio::test]
async fn weft_client_reads_the_same_error_kinds_back() {
    let model = scripted([
        Step::Fail(ModelError::ContextTooLong(
            "the prompt is 9000 tokens and the model's context is 4096".into(),
        )),
        Step::Fail(ModelError::RateLimited {
            retry_after_ms: Some(1500),
            message: "busy".into(),
        }),
        Step::Items(vec![
            Ok(StreamEvent::TextDelta("partial".into())),
            Err(ModelError::Overloaded("the GPU melted".into())),
        ]),
    ]);
    let addr = start(vec![("m", model.clone() as Arc<dyn Model>)]).await;
    let client = client(addr, "m");
    let request = ChatRequest::new(vec![Message::user("hi")]);

    let err = client.chat(&request).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::ContextTooLong(m) if m.contains("4096")),
        "{err:?}"
    );
    let err = client.chat(&request).await.unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::RateLimited {
                retry_after_ms: Some(1500),
                ..
            }
        ),
        "{err:?}"
    );
    let items: Vec<_> = client.chat_stream(&request).await.unwrap().collect().await;
    assert_eq!(items[0], Ok(StreamEvent::TextDelta("partial".into())));
    assert!(
        matches!(items.last(), Some(Err(ModelError::Overloaded(m))) if m.contains("melted")),
        "{items:?}"
    );
}

/// The `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            f.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data frame: {f:?}"))
                .to_owned()
        })
        .collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(
    addr: SocketAddr,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = http()
        .post(format!("http://{addr}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

async fn post_json(addr: SocketAddr, body: Value) -> (u16, Value) {
    let (status, _, text) = post(addr, body.to_string()).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn assert_error(v: &Value, kind: &str, code: &str) {
    let e = &v["error"];
    assert_eq!(e["type"], kind, "{v}");
    assert_eq!(e["code"], code, "{v}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test]
async fn raw_http_shapes_and_request_mapping() {
    let answer = tool_answer("scripted");
    let model = scripted([Step::Reply(answer.clone()), Step::Reply(answer.clone())]);
    let other = scripted([]);
    let addr = start(vec![
        ("alpha", model.clone() as Arc<dyn Model>),
        ("beta", other as Arc<dyn Model>),
    ])
    .await;

    let models: Value = http()
        .get(format!("http://{addr}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(models["data"][0]["owned_by"], "scripted");
    let one = http()
        .get(format!("http://{addr}/v1/models/beta"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);

    // Unstreamed, with the fields a client may send in other shapes.
    let body = json!({
        "model": "alpha",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "reasoning_content": "hm",
             "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"x\"}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "Error: offline"},
        ],
        "tools": [{"type": "function", "function": {"name": "search", "description": "Search.", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "response_format": {"type": "json_object"},
        "stop": "END",
        "max_tokens": 10,
        "max_completion_tokens": 64,
        "temperature": null,
        "user": "someone",
    });
    let (status, v) = post_json(addr, body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "scripted-1");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Let me look that up.");
    assert_eq!(
        choice["message"]["reasoning_content"],
        "Need to search first."
    );
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_a");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "search");
    assert_eq!(
        call["function"]["arguments"],
        answer.tool_calls()[0].arguments.as_str()
    );
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 120, "completion_tokens": 45, "total_tokens": 165,
               "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 7},
               "completion_tokens_details": {"reasoning_tokens": 12}})
    );

    let seen = &model.requests()[0];
    let mut expected = ChatRequest::new(vec![
        Message::system("Be brief."),
        Message::user("q"),
        Message::new(
            Role::Assistant,
            vec![
                reasoning("hm", "scripted"),
                Part::ToolCall(ToolCall::new("t1", "search", r#"{"query":"x"}"#)),
            ],
        ),
        Message::tool_results([ToolResult::ok("t1", "Error: offline")]),
    ])
    .with_tools(vec![ToolSpec {
        name: "search".into(),
        description: "Search.".into(),
        input_schema: r#"{"type":"object"}"#.into(),
        output_schema: None,
    }])
    .with_tool_choice(ToolChoice::Required)
    .with_response_format(ResponseFormat::JsonObject)
    .with_max_output_tokens(64);
    expected.stop = vec!["END".into()];
    assert_eq!(seen, &expected);

    // Streamed with usage: role, deltas, whole tool calls, finish, usage,
    // [DONE].
    let (status, headers, text) = post(
        addr,
        json!({"model": "alpha", "messages": [{"role": "user", "content": "q"}],
               "stream": true, "stream_options": {"include_usage": true}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    let delta = |i: usize| &chunks[i]["choices"][0]["delta"];
    assert_eq!(delta(0)["role"], "assistant");
    assert_eq!(delta(1)["reasoning_content"], "Need to search first.");
    assert_eq!(delta(2)["content"], "Let me look that up.");
    for (i, c) in answer.tool_calls().iter().enumerate() {
        let call = &delta(3 + i)["tool_calls"][0];
        assert_eq!(call["index"], i);
        assert_eq!(call["id"], c.id.as_str());
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], c.name.as_str());
        assert_eq!(call["function"]["arguments"], c.arguments.as_str());
    }
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[6]["choices"], json!([]));
    assert_eq!(chunks[6]["usage"]["total_tokens"], 165);
    assert_eq!(chunks.len(), 7);
}

#[tokio::test]
async fn errors_are_openai_shaped_and_the_server_keeps_serving() {
    let model = scripted([
        Step::Fail(ModelError::ContextTooLong(
            "prompt of 9000 tokens, context 4096".into(),
        )),
        Step::Fail(ModelError::RateLimited {
            retry_after_ms: Some(1500),
            message: "busy".into(),
        }),
        Step::Fail(ModelError::Transport("the backend hung up".into())),
        // Streamed: fails midway.
        Step::Items(vec![
            Ok(StreamEvent::TextDelta("partial".into())),
            Err(ModelError::Provider {
                status: 500,
                body: "generation crashed".into(),
            }),
        ]),
        // Streamed: ends without `done`.
        Step::Items(vec![Ok(StreamEvent::TextDelta("cut".into()))]),
        // Streamed: fails before the first event.
        Step::Fail(ModelError::ContextTooLong("too long to stream".into())),
        Step::Reply(tool_answer("scripted")),
    ]);
    let addr = start(vec![("m", model.clone() as Arc<dyn Model>)]).await;

    let (status, v) = post_json(addr, hello("nope")).await;
    assert_eq!(status, 404);
    assert_error(&v, "invalid_request_error", "model_not_found");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`nope`"),
        "{v}"
    );
    assert_eq!(v["error"]["param"], "model");

    let (status, _, text) = post(addr, r#"{"model": "m", "messages": ["#).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_error(&v, "invalid_request_error", "invalid_json");

    let (status, v) = post_json(addr, json!([1, 2])).await;
    assert_eq!(status, 400);
    assert_error(&v, "invalid_request_error", "invalid_type");

    let (status, v) = post_json(addr, json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert_error(&v, "invalid_request_error", "missing_required_parameter");
    assert_eq!(v["error"]["param"], "messages");
    assert!(v["error"]["message"].as_str().unwrap().contains("messages"));

    let (status, v) = post_json(
        addr,
        json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "content": "result"},
        ]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "messages[1].tool_call_id", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[1].tool_call_id")
    );

    let (status, v) = post_json(addr, json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "warm"})).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "temperature");
    // Nothing invalid reached the model.
    assert!(model.requests().is_empty());

    let (status, v) = post_json(addr, hello("m")).await;
    assert_eq!(status, 400);
    assert_error(&v, "invalid_request_error", "context_length_exceeded");
    assert!(v["error"]["message"].as_str().unwrap().contains("4096"));

    let (status, headers, text) = post(addr, hello("m").to_string()).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["retry-after-ms"], "1500");
    assert_error(
        &serde_json::from_str(&text).unwrap(),
        "rate_limit_error",
        "rate_limit_exceeded",
    );

    let (status, v) = post_json(addr, hello("m")).await;
    assert_eq!(status, 500);
    assert_error(&v, "server_error", "backend_error");

    let mut streaming = hello("m");
    streaming["stream"] = true.into();
    // Midway failure: the text so far, an error frame, [DONE]; the body
    // ends normally.
    let (status, _, text) = post(addr, streaming.to_string()).await;
    assert_eq!(status, 200);
    let data = sse_data(&text);
    assert_eq!(data.len(), 4, "{data:?}");
    let content: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(content["choices"][0]["delta"]["content"], "partial");
    let error: Value = serde_json::from_str(&data[2]).unwrap();
    assert_error(&error, "server_error", "backend_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("generation crashed")
    );
    assert_eq!(data[3], "[DONE]");

    let (status, _, text) = post(addr, streaming.to_string()).await;
    assert_eq!(status, 200);
    let data = sse_data(&text);
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("without a final answer")
    );
    assert_eq!(data.last().unwrap(), "[DONE]");

    let (status, headers, text) = post(addr, streaming.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_error(
        &serde_json::from_str(&text).unwrap(),
        "invalid_request_error",
        "context_length_exceeded",
    );

    let r = http()
        .get(format!("http://{addr}/v2/things"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_error(
        &r.json().await.unwrap(),
        "invalid_request_error",
        "unknown_url",
    );
    let r = http()
        .get(format!("http://{addr}/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // Still serving.
    let (status, v) = post_json(addr, hello("m")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Let me look that up."
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let models = BTreeMap::from([("m".to_owned(), scripted([]) as Arc<dyn Model>)]);
    let server = Server::new(models).with_body_limit(1024);
    tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (status, _, text) = post(addr, big.to_string()).await;
    assert_eq!(status, 413, "{text}");
    assert_error(
        &serde_json::from_str(&text).unwrap(),
        "invalid_request_error",
        "request_too_large",
    );
}

#[tokio::test]
async fn shuts_down_gracefully_on_signal() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let model = scripted([Step::Reply(tool_answer("scripted"))]);
    let models = BTreeMap::from([("m".to_owned(), model as Arc<dyn Model>)]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Server::new(models).serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    let (status, _) = post_json(addr, hello("m")).await;
    assert_eq!(status, 200);
    stop.send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops after the signal")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
