//! The generic tool-loop agent end to end: model calls, tool calls,
//! limits, cassettes, the OpenAI-compatible backend over loopback HTTP
//! (plain and streaming), and a model plugin wrapping another model.

use std::sync::Arc;
use weft_host::{AppConfig, FixedApprover, Host, ModelSpec, Policy, RunError};
use weft_model as m;
use weft_tests::{
    LoopbackServer, Reply, ScriptedModel, all_tools, answer, app, artifacts, scripted, tool_calls,
};

fn triage_app() -> AppConfig {
    let mut config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::TEXT_TOOLS, artifacts::KV_MEMORY],
        all_tools(),
    );
    config.agent.config.insert(
        "system-prompt".into(),
        "You triage tickets. Tools: {% for t in tools %}{{ t.name }} {% endfor %}".into(),
    );
    config
}

fn run_with(
    model: Arc<ScriptedModel>,
    config: &AppConfig,
    input: &str,
) -> Result<weft_host::RunReport, RunError> {
    let host = Host::builder()
        .cache_dir(None)
        .model(model)
        .build(config)
        .expect("host builds");
    host.run(input)
}

fn tool_message(request: &m::ChatRequest) -> &m::Message {
    request
        .messages
        .iter()
        .rev()
        .find(|msg| msg.role == m::Role::Tool)
        .expect("a tool message")
}

fn results(msg: &m::Message) -> Vec<&m::ToolResult> {
    msg.parts
        .iter()
        .filter_map(|p| match p {
            m::Part::ToolResult(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn agent_loops_model_and_tool_calls_to_a_final_answer() {
    let model = scripted([
        tool_calls(&[
            (
                "call_1",
                "count_words",
                r#"{"text": "my invoice is wrong"}"#,
            ),
            (
                "call_2",
                "memory_set",
                r#"{"key": "category", "value": "billing"}"#,
            ),
        ]),
        answer("Category: billing. 4 words."),
    ]);
    let report = run_with(model.clone(), &triage_app(), "my invoice is wrong").unwrap();
    assert_eq!(report.answer, "Category: billing. 4 words.");
    assert_eq!(report.steps, 2);
    assert_eq!(report.usage.input_tokens, 200);
    assert_eq!(report.usage.output_tokens, 40);

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    // The system prompt was rendered by minijinja with the tool list.
    let system = requests[0].messages[0].text();
    assert!(
        system.starts_with("You triage tickets.") && system.contains("count_words"),
        "{system}"
    );
    assert_eq!(requests[0].messages[1].text(), "my invoice is wrong");
    assert!(
        requests[0]
            .tools
            .iter()
            .any(|t| t.name == "extract_entities")
    );

    // One assistant turn stays one message; one tool message answers it.
    let second = &requests[1];
    let assistant = &second.messages[2];
    assert_eq!(assistant.role, m::Role::Assistant);
    assert_eq!(assistant.tool_calls().len(), 2);
    let results = results(tool_message(second));
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].call_id, "call_1");
    assert!(!results[0].is_error);
    let counted: serde_json::Value = serde_json::from_str(&results[0].content).unwrap();
    assert_eq!(counted["words"], 4);

    // The transcript holds the whole run in order.
    let roles: Vec<m::Role> = report.transcript.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            m::Role::System,
            m::Role::User,
            m::Role::Assistant,
            m::Role::Tool,
            m::Role::Assistant
        ]
    );
}

#[test]
fn tool_errors_go_back_to_the_model_which_can_recover() {
    let model = scripted([
        tool_calls(&[
            ("a", "no_such_tool", "{}"),
            ("b", "count_words", r#"{"text": 5}"#),
        ]),
        answer("Recovered."),
    ]);
    let report = run_with(model.clone(), &triage_app(), "go").unwrap();
    assert_eq!(report.answer, "Recovered.");
    let requests = model.requests();
    let results = results(tool_message(&requests[1]));
    assert!(
        results[0].is_error && results[0].content.contains("no tool named `no_such_tool`"),
        "{:?}",
        results[0]
    );
    assert!(
        results[1].is_error && results[1].content.contains("/text"),
        "{:?}",
        results[1]
    );
}

#[test]
fn step_limit_and_token_budget_end_the_run() {
    let looping = || {
        scripted(
            (0..10)
                .map(|i| tool_calls(&[(&format!("c{i}"), "count_words", r#"{"text": "again"}"#)])),
        )
    };
    let mut config = triage_app();
    config.agent.config.insert("max-steps".into(), "3".into());
    assert_eq!(
        run_with(looping(), &config, "loop").unwrap_err(),
        RunError::StepLimit(3)
    );

    let mut config = triage_app();
    config
        .agent
        .config
        .insert("max-total-tokens".into(), "250".into());
    match run_with(looping(), &config, "loop").unwrap_err() {
        RunError::BudgetExceeded(msg) => assert!(msg.contains("250"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn approval_gates_tool_calls_the_policy_marks() {
    let mut config = triage_app();
    config.agent.policy.approve = vec!["memory_set".into()];
    let script = || {
        scripted([
            tool_calls(&[("x", "memory_set", r#"{"key": "k", "value": "v"}"#)]),
            answer("done"),
        ])
    };
    for (approve, expect_error) in [(false, true), (true, false)] {
        let model = script();
        let host = Host::builder()
            .cache_dir(None)
            .approver(Arc::new(FixedApprover(approve)))
            .model(model.clone())
            .build(&config)
            .unwrap();
        host.run("remember").unwrap();
        let requests = model.requests();
        let r = results(tool_message(&requests[1]))[0].clone();
        assert_eq!(r.is_error, expect_error, "{r:?}");
        if expect_error {
            assert!(r.content.contains("declined"), "{r:?}");
        }
    }
}

#[test]
fn cassette_records_a_run_and_replays_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("run.jsonl");
    let model = scripted([
        tool_calls(&[(
            "c1",
            "extract_entities",
            r#"{"text": "write to bob@example.com"}"#,
        )]),
        answer("Bob's address is bob@example.com."),
    ]);
    let recorder = m::cassette::RecordingModel::create(model, &cassette, "test recording").unwrap();
    let config = triage_app();
    let host = Host::builder()
        .cache_dir(None)
        .model(Arc::new(recorder))
        .build(&config)
        .unwrap();
    let recorded = host.run("who do I write to? bob@example.com").unwrap();

    let mut replay = config.clone();
    replay.model = ModelSpec::Cassette {
        path: cassette.clone(),
        lenient: false,
    };
    for _ in 0..2 {
        let host = Host::builder().cache_dir(None).build(&replay).unwrap();
        let replayed = host.run("who do I write to? bob@example.com").unwrap();
        assert_eq!(replayed.answer, recorded.answer);
        assert_eq!(replayed.transcript, recorded.transcript);
        assert_eq!(replayed.usage, recorded.usage);
    }

    // A run that diverges from the recording is a clear error, not a wrong answer.
    let host = Host::builder().cache_dir(None).build(&replay).unwrap();
    match host.run("a different question").unwrap_err() {
        RunError::Model(e) => assert!(e.to_string().contains("cassette"), "{e}"),
        other => panic!("{other:?}"),
    }
}

fn openai_app(base_url: String, stream: bool) -> AppConfig {
    let mut config = triage_app();
    config.model = ModelSpec::OpenaiCompatible {
        base_url,
        model: "loopback-model".into(),
        api_key_secret: None,
        timeout_ms: Some(10_000),
        provider: None,
    };
    config
        .agent
        .config
        .insert("stream".into(), stream.to_string());
    config
}

fn run_blocking(
    rt: &tokio::runtime::Runtime,
    config: AppConfig,
    input: &'static str,
) -> Result<weft_host::RunReport, RunError> {
    let handle = rt.handle().clone();
    rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let host = Host::builder()
                .cache_dir(None)
                .runtime(handle)
                .build(&config)
                .unwrap();
            host.run(input)
        })
        .await
        .unwrap()
    })
}

#[test]
fn openai_compatible_backend_over_loopback_with_tool_calls() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![
        Reply::json(
            200,
            serde_json::json!({
                "id": "r1", "object": "chat.completion", "model": "loopback-model",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_9", "type": "function",
                        "function": {"name": "count_words", "arguments": "{\"text\":\"a b c\"}"}}]}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
            }),
        ),
        Reply::json(
            200,
            serde_json::json!({
                "id": "r2", "object": "chat.completion", "model": "loopback-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Three words."}}],
                "usage": {"prompt_tokens": 70, "completion_tokens": 5, "total_tokens": 75}
            }),
        ),
    ]);
    let report = run_blocking(
        &rt,
        openai_app(format!("{}/v1", server.url()), false),
        "count a b c",
    )
    .unwrap();
    assert_eq!(report.answer, "Three words.");
    assert_eq!(report.usage.input_tokens, 120);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].line.starts_with("POST /v1/chat/completions"),
        "{}",
        seen[0].line
    );
    let second: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    let messages = second["messages"].as_array().unwrap();
    let tool = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result sent back");
    assert_eq!(tool["tool_call_id"], "call_9");
    assert!(
        tool["content"].as_str().unwrap().contains("\"words\":3"),
        "{tool}"
    );
}

#[test]
fn openai_compatible_streaming_assembles_fragmented_tool_calls() {
    let rt = weft_tests::runtime();
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({"id": "s", "object": "chat.completion.chunk", "model": "loopback-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let server = LoopbackServer::repeating(vec![
        Reply::sse_data(&[
            chunk(
                serde_json::json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_s", "type": "function",
                "function": {"name": "count_words", "arguments": ""}}]}),
                None,
            ),
            chunk(
                serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"text\":"}}]}),
                None,
            ),
            chunk(
                serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"x y\"}"}}]}),
                None,
            ),
            chunk(serde_json::json!({}), Some("tool_calls")),
            serde_json::json!({"id": "s", "object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48}}),
        ]),
        Reply::sse_data(&[
            chunk(
                serde_json::json!({"role": "assistant", "content": "Two "}),
                None,
            ),
            chunk(serde_json::json!({"content": "words."}), None),
            chunk(serde_json::json!({}), Some("stop")),
        ]),
    ]);
    let report = run_blocking(
        &rt,
        openai_app(format!("{}/v1", server.url()), true),
        "count x y",
    )
    .unwrap();
    assert_eq!(report.answer, "Two words.");
    let seen = server.requests();
    let first: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(first["stream"], true);
    let second: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    let tool = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()
        .clone();
    assert!(
        tool["content"].as_str().unwrap().contains("\"words\":2"),
        "{tool}"
    );
}

#[test]
fn provider_errors_reach_the_caller_typed() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![Reply::json(
        401,
        r#"{"error": {"message": "Incorrect API key provided"}}"#,
    )]);
    match run_blocking(&rt, openai_app(format!("{}/v1", server.url()), false), "hi").unwrap_err() {
        RunError::Model(m::ModelError::Auth(msg)) => {
            assert!(msg.contains("Incorrect API key"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn redacting_model_plugin_wraps_another_model() {
    let inner = scripted([answer("I will write to <EMAIL_1> and call <PHONE_1>.")]);
    let mut config = triage_app();
    config.model = ModelSpec::Plugin {
        plugin: weft_host::ComponentConfig::new(artifacts::REDACT_MODEL),
        inner: Box::new(config.model.clone()),
    };
    let report = run_with(
        inner.clone(),
        &config,
        "Reach me at ana@example.com or +1 415 555 0134.",
    )
    .unwrap();
    assert_eq!(
        report.answer,
        "I will write to ana@example.com and call +1 415 555 0134."
    );
    let seen = serde_json::to_string(&inner.requests()).unwrap();
    assert!(
        !seen.contains("ana@example.com"),
        "the email never left: {seen}"
    );
    assert!(!seen.contains("555 0134"), "the phone never left: {seen}");
    assert!(
        seen.contains("<EMAIL_1>") && seen.contains("<PHONE_1>"),
        "{seen}"
    );
}

#[test]
fn agent_with_no_tools_granted_sees_none() {
    let model = scripted([answer("ok")]);
    let config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::TEXT_TOOLS],
        Policy::default(),
    );
    run_with(model.clone(), &config, "hi").unwrap();
    assert!(model.requests()[0].tools.is_empty());
}
