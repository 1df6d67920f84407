//! The portable model layer through the host: provider profiles with
//! reasoning replay, routing with fallback and decisions, and cost.

use weft_host::{AppConfig, Host, ModelSpec, RunError};
use weft_tests::{LoopbackServer, Reply, all_tools, app, artifacts};

fn agent_app(model: ModelSpec) -> AppConfig {
    let mut config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::TEXT_TOOLS],
        all_tools(),
    );
    config.model = model;
    config
}

fn provider(name: &str, model: &str, base_url: String) -> ModelSpec {
    ModelSpec::Provider {
        provider: name.into(),
        model: model.into(),
        api_key_secret: None,
        base_url: Some(base_url),
        region: None,
        timeout_ms: Some(10_000),
        foreign_reasoning: None,
        http_record: None,
        http_replay: None,
    }
}

fn completion(model: &str, message: serde_json::Value, finish: &str, usage: (u64, u64)) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "id": "x", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}
        }),
    )
}

fn run(
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
                .build(&config)?;
            Ok(host.run(input))
        })
        .await
        .unwrap()
    })
    .map_err(|e: weft_host::HostError| panic!("host: {e}"))
    .unwrap()
}

#[test]
fn deepseek_reasoning_round_trips_through_the_wasm_agent() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![
        completion(
            "deepseek-flash",
            serde_json::json!({
                "role": "assistant", "content": "",
                "reasoning_content": "The user wants a word count; call the tool.",
                "tool_calls": [{"id": "call_r", "type": "function",
                    "function": {"name": "count_words", "arguments": "{\"text\":\"one two\"}"}}]
            }),
            "tool_calls",
            (1000, 100),
        ),
        completion(
            "deepseek-flash",
            serde_json::json!({"role": "assistant", "content": "Two words.", "reasoning_content": "Done."}),
            "stop",
            (1200, 20),
        ),
    ]);
    let report = run(
        &rt,
        agent_app(provider("deepseek", "deepseek-flash", server.url())),
        "count: one two",
    )
    .expect("run succeeds");
    assert_eq!(report.answer, "Two words.");

    // The reasoning crossed the WIT boundary into the agent and back out,
    // verbatim, as DeepSeek's thinking mode requires in a tool loop.
    let seen = server.requests();
    let second: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    let assistant = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("assistant turn replayed")
        .clone();
    assert_eq!(
        assistant["reasoning_content"], "The user wants a word count; call the tool.",
        "{assistant}"
    );
    assert_eq!(assistant["tool_calls"][0]["id"], "call_r");

    // Each call was priced from the dated catalog and summed for the run.
    let catalog = weft_router::PriceCatalog::bundled();
    let expected: f64 = [(1000, 100), (1200, 20)]
        .iter()
        .map(|&(i, o)| {
            let usage = weft_model::Usage {
                input_tokens: i,
                output_tokens: o,
                ..Default::default()
            };
            catalog
                .cost(&usage, "deepseek-flash", std::time::SystemTime::now())
                .unwrap()
                .usd
        })
        .sum();
    assert_eq!(report.spend.priced_calls, 2);
    assert!(expected > 0.0);
    assert!(
        (report.spend.usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        report.spend.usd
    );
}

#[test]
fn router_falls_back_and_records_its_decisions() {
    let rt = weft_tests::runtime();
    let failing = LoopbackServer::repeating(vec![Reply::json(
        401,
        r#"{"error": {"message": "invalid key"}}"#,
    )]);
    let working = LoopbackServer::repeating(vec![completion(
        "kimi-k2.6",
        serde_json::json!({"role": "assistant", "content": "Answered by the fallback."}),
        "stop",
        (500, 10),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("routing.toml");
    std::fs::write(
        &policy,
        r#"
        [routing]
        min_tier = 1
        [[models]]
        name = "cheap"
        provider = "deepseek"
        price = "deepseek-flash"
        tier = 2
        [[models]]
        name = "backup"
        provider = "kimi"
        price = "kimi-k2.6"
        tier = 2
        "#,
    )
    .unwrap();
    let model = ModelSpec::Router {
        policy,
        models: [
            (
                "cheap".to_string(),
                provider("deepseek", "deepseek-flash", failing.url()),
            ),
            (
                "backup".to_string(),
                provider("kimi", "kimi-k2.6", working.url()),
            ),
        ]
        .into_iter()
        .collect(),
        key: None,
    };
    let report = run(&rt, agent_app(model), "hello").expect("the fallback answers");
    assert_eq!(report.answer, "Answered by the fallback.");
    assert_eq!(
        failing.requests().len(),
        1,
        "the cheapest model was tried first"
    );
    let routing = report.routing.expect("a routed run reports its decisions");
    assert_eq!(routing.decisions.len(), 1);
    let decision = serde_json::to_string(&routing.decisions[0]).unwrap();
    assert!(
        decision.contains("cheap") && decision.contains("backup"),
        "{decision}"
    );
    assert!(report.spend.usd > 0.0);
}

#[test]
fn router_sovereignty_refuses_with_a_clear_error() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("routing.toml");
    std::fs::write(
        &policy,
        r#"
        [sovereignty]
        local_only = true
        [[models]]
        name = "remote"
        provider = "deepseek"
        price = "deepseek-flash"
        tier = 2
        "#,
    )
    .unwrap();
    let model = ModelSpec::Router {
        policy,
        models: [(
            "remote".to_string(),
            provider("deepseek", "deepseek-flash", server.url()),
        )]
        .into_iter()
        .collect(),
        key: None,
    };
    match run(&rt, agent_app(model), "hello") {
        Err(RunError::Model(e)) => assert!(e.to_string().contains("local"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(server.requests().is_empty(), "nothing left the machine");
}

#[test]
fn broken_router_policy_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("routing.toml");
    std::fs::write(&policy, "[[models]]\nname = \"a\"\ntier = \"high\"\n").unwrap();
    let model = ModelSpec::Router {
        policy: policy.clone(),
        models: [(
            "a".to_string(),
            provider("deepseek", "deepseek-flash", "http://127.0.0.1:9".into()),
        )]
        .into_iter()
        .collect(),
        key: None,
    };
    let rt = weft_tests::runtime();
    let _g = rt.enter();
    let err = match Host::builder().cache_dir(None).build(&agent_app(model)) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("routing.toml") && err.contains("tier"),
        "{err}"
    );
}

#[test]
fn per_key_budget_spans_runs_and_refuses_when_spent() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![completion(
        "deepseek-flash",
        serde_json::json!({"role": "assistant", "content": "ok"}),
        "stop",
        (100_000, 1000),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("routing.toml");
    std::fs::write(
        &policy,
        r#"
        [budget]
        on_exhausted = "fail"
        [budget.per_key_usd]
        team-a = 0.001
        [[models]]
        name = "flash"
        provider = "deepseek"
        price = "deepseek-flash"
        tier = 2
        "#,
    )
    .unwrap();
    let config = agent_app(ModelSpec::Router {
        policy,
        models: [(
            "flash".to_string(),
            provider("deepseek", "deepseek-flash", server.url()),
        )]
        .into_iter()
        .collect(),
        key: Some("team-a".into()),
    });
    let handle = rt.handle().clone();
    let (first, second) = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let host = Host::builder()
                .cache_dir(None)
                .runtime(handle)
                .build(&config)
                .unwrap();
            (host.run("one"), host.run("two"))
        })
        .await
        .unwrap()
    });
    let first = first.expect("the first run fits the key's budget");
    assert!(
        first.spend.usd > 0.001,
        "the first call used up the key: {:?}",
        first.spend
    );
    match second {
        Err(RunError::Model(e)) => assert!(e.to_string().contains("team-a"), "{e}"),
        other => panic!("the key's budget is spent across runs: {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "the refused run sent nothing");
}
