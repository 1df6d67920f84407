//! Loading, validating and calling components through the host.

use weft_host::cache::{CacheOutcome, ComponentCache};
use weft_host::{AppConfig, Host, HostError, Policy, ToolError};
use weft_tests::{all_tools, app, artifacts, scripted};

fn host_with_tools(tools: &[&str], policy: Policy) -> Host {
    let dir = weft_tests::cache_dir();
    Host::builder()
        .cache_dir(Some(dir.path().to_path_buf()))
        .model(scripted([]))
        .build(&app(artifacts::TOOL_LOOP_AGENT, tools, policy))
        .expect("host builds")
}

#[test]
fn tool_call_goes_through_the_host_into_the_sandbox() {
    let host = host_with_tools(&[artifacts::TEXT_TOOLS, artifacts::KV_MEMORY], all_tools());
    let names: Vec<String> = host.tool_specs().into_iter().map(|s| s.name).collect();
    for expected in [
        "count_words",
        "extract_entities",
        "split_chunks",
        "memory_set",
        "memory_get",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let session = host.session();
    let out = session
        .call_tool("count_words", r#"{"text": "one two three\nfour"}"#)
        .expect("count_words runs");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["words"], 4, "{v}");
    assert_eq!(v["lines"], 2, "{v}");

    let out = session
        .call_tool(
            "extract_entities",
            r#"{"text": "Mail ana@example.com or see https://example.org/x on 2026-11-29."}"#,
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["emails"][0], "ana@example.com", "{v}");
    assert_eq!(v["urls"][0], "https://example.org/x", "{v}");
    let dates: Vec<&serde_json::Value> = v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "date")
        .collect();
    assert_eq!(dates.len(), 1, "{v}");
    assert_eq!(dates[0]["normalized"], "2026-11-29", "{v}");

    // Key-value memory lives for the session.
    session
        .call_tool("memory_set", r#"{"key": "k", "value": "v1"}"#)
        .unwrap();
    let got = session.call_tool("memory_get", r#"{"key": "k"}"#).unwrap();
    assert!(got.contains("v1"), "{got}");
}

#[test]
fn tool_specs_carry_doc_comments_and_schemas() {
    let host = host_with_tools(&[artifacts::TEXT_TOOLS], all_tools());
    let spec = host
        .tool_specs()
        .into_iter()
        .find(|s| s.name == "count_words")
        .unwrap();
    assert!(
        spec.description.len() > 10,
        "description from the doc comment: {spec:?}"
    );
    let schema: serde_json::Value = serde_json::from_str(&spec.input_schema).unwrap();
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["text"].is_object(), "{schema}");
}

#[test]
fn second_load_comes_from_the_compile_cache() {
    let dir = weft_tests::cache_dir();
    let keys = weft_tests::cache_dir();
    let key = Some(keys.path().join("compile-cache.key"));
    let engine = weft_host::engine::WeftEngine::new(Default::default()).unwrap();
    let path = std::path::Path::new(artifacts::TEXT_TOOLS);
    let first = ComponentCache::new(engine.engine(), Some(dir.path().to_path_buf()), key.clone());
    let (_, outcome) = first.load(engine.engine(), path).unwrap();
    assert_eq!(outcome, CacheOutcome::Compiled);
    let (_, outcome) = first.load(engine.engine(), path).unwrap();
    assert_eq!(outcome, CacheOutcome::Memory);
    // A new process (a new cache object) finds the compiled artifact on disk.
    let second = ComponentCache::new(engine.engine(), Some(dir.path().to_path_buf()), key.clone());
    let (_, outcome) = second.load(engine.engine(), path).unwrap();
    assert_eq!(outcome, CacheOutcome::Disk);
    // A corrupt cache entry is ignored and recompiled, never trusted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = ComponentCache::new(engine.engine(), Some(dir.path().to_path_buf()), key);
    let (_, outcome) = third.load(engine.engine(), path).unwrap();
    assert_eq!(outcome, CacheOutcome::Compiled);
}

fn build_err(config: &AppConfig) -> String {
    match Host::builder()
        .cache_dir(None)
        .model(scripted([]))
        .build(config)
    {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_wasm_is_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm").unwrap();
    let err = build_err(&app(junk.to_str().unwrap(), &[], all_tools()));
    assert!(
        err.contains("junk.wasm") && err.contains("not a valid WebAssembly component"),
        "{err}"
    );

    // A core module (not a component) gets a specific hint.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = build_err(&app(core.to_str().unwrap(), &[], all_tools()));
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );

    // A truncated component.
    let bytes = std::fs::read(artifacts::TEXT_TOOLS).unwrap();
    let cut = dir.path().join("cut.wasm");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = build_err(&app(cut.to_str().unwrap(), &[], all_tools()));
    assert!(
        err.contains("cut.wasm") && err.contains("not a valid WebAssembly component"),
        "{err}"
    );

    let err = build_err(&app("/no/such/agent.wasm", &[], all_tools()));
    assert!(err.contains("/no/such/agent.wasm"), "{err}");
}

#[test]
fn component_of_the_wrong_world_is_named() {
    // A tool plugin given as the agent.
    let err = build_err(&app(artifacts::TEXT_TOOLS, &[], all_tools()));
    assert!(err.contains("text_tools.wasm"), "{err}");
    assert!(err.contains("is not a Weft agent"), "{err}");
    assert!(err.contains("it is a tool plugin"), "{err}");
    // An agent given as a tool.
    let err = build_err(&app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::BENCH_AGENT],
        all_tools(),
    ));
    assert!(
        err.contains("bench_agent.wasm") && err.contains("is not a Weft tool plugin"),
        "{err}"
    );
}

#[test]
fn unknown_tool_and_invalid_arguments_get_clear_errors() {
    let host = host_with_tools(&[artifacts::TEXT_TOOLS], all_tools());
    let session = host.session();
    match session.call_tool("no_such_tool", "{}") {
        Err(ToolError::NotFound(msg)) => assert!(
            msg.contains("no_such_tool") && msg.contains("count_words"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    match session.call_tool("count_words", "{not json") {
        Err(ToolError::InvalidArguments(msg)) => assert!(msg.contains("not valid JSON"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Schema validation names the field, before the tool runs.
    match session.call_tool("count_words", r#"{"text": 42}"#) {
        Err(ToolError::InvalidArguments(msg)) => assert!(msg.contains("/text"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match session.call_tool("count_words", r#"{}"#) {
        Err(ToolError::InvalidArguments(msg)) => assert!(msg.contains("text"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // The host keeps serving.
    assert!(
        session
            .call_tool("count_words", r#"{"text": "still fine"}"#)
            .is_ok()
    );
}

#[test]
fn agent_policy_limits_which_tools_it_may_call() {
    let policy = Policy {
        tools: vec!["count_words".into()],
        ..Default::default()
    };
    let host = host_with_tools(&[artifacts::TEXT_TOOLS], policy);
    let session = host.session();
    match session.call_tool("extract_entities", r#"{"text": "x"}"#) {
        Err(ToolError::Denied(msg)) => assert!(
            msg.contains("does not allow the tool `extract_entities`"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(session.call_tool("count_words", r#"{"text": "x"}"#).is_ok());
}

#[test]
fn two_tools_with_one_name_are_refused() {
    let err = build_err(&app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::HTTP_FETCH, artifacts::HOSTILE],
        all_tools(),
    ));
    assert!(err.contains("tool `fetch` is exported by both"), "{err}");
}

#[test]
fn broken_policy_and_config_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[components.agent]\nhttp = \"not-a-list\"\n").unwrap();
    let err = weft_host::PolicyFile::load(&policy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy.toml") && err.contains("http"), "{err}");

    std::fs::write(
        &policy,
        "[components.agent]\nhttp = [\"https://x.com/path\"]\n",
    )
    .unwrap();
    let err = weft_host::PolicyFile::load(&policy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a host pattern"), "{err}");

    let config = dir.path().join("weft.toml");
    std::fs::write(&config, "[agent]\ncomponent = 'a.wasm'\npolicy = { tool = ['*'] }\n[model]\ntype='cassette'\npath='c'\n").unwrap();
    let err = AppConfig::load(&config).unwrap_err().to_string();
    assert!(
        err.contains("weft.toml") && err.contains("unknown field `tool`"),
        "{err}"
    );
}

#[test]
fn inspect_reports_world_and_tool_specs() {
    let rt = weft_tests::runtime();
    let _guard = rt.enter();
    let info = weft_host::inspect(std::path::Path::new(artifacts::TEXT_TOOLS)).unwrap();
    assert_eq!(info.summary.role, Some(weft_host::ComponentRole::Tool));
    assert!(
        info.summary
            .exports
            .iter()
            .any(|e| e == "weft:plugins/tool@0.1.0")
    );
    let tools = info.tools.expect("tool specs");
    assert!(tools.iter().any(|t| t.name == "split_chunks"));
    let agent = weft_host::inspect(std::path::Path::new(artifacts::TOOL_LOOP_AGENT)).unwrap();
    assert_eq!(agent.summary.role, Some(weft_host::ComponentRole::Agent));
    assert!(
        agent
            .summary
            .imports
            .iter()
            .any(|i| i == "weft:plugins/model@0.1.0")
    );
    assert!(agent.tools.is_none());
}

#[test]
fn host_error_type_is_matchable() {
    let err = Host::builder()
        .cache_dir(None)
        .model(weft_tests::scripted([]))
        .build(&app("/missing.wasm", &[], all_tools()));
    assert!(matches!(err, Err(HostError::Io { .. })));
}
