//! Shared fixtures for Weft's integration tests (`tests/all`): the scripted
//! model they use, answers for it, and helpers to build hosts from the test
//! components built by `test-programs-artifacts`. The fake model and the
//! loopback HTTP server themselves live in `weft-test-utils`, shared with
//! the crates' own tests, and are re-exported here.

use std::path::PathBuf;
use std::sync::Arc;
use weft_model as m;

pub use test_programs_artifacts as artifacts;
pub use weft_test_utils::{AfterScript, LoopbackServer, Reply, ScriptedModel};

/// The scripted model of these tests (`scripted`/`scripted-1`, tools,
/// streaming): it gives these answers, in order, then fails.
pub fn scripted(answers: impl IntoIterator<Item = m::ChatResponse>) -> Arc<ScriptedModel> {
    ScriptedModel::new("scripted", "scripted-1")
        .no_json()
        .after_script(AfterScript::Fail)
        .replies(answers)
        .arc()
}

/// Like [`scripted`], repeating these answers forever and keeping no
/// history (for benchmarks).
pub fn cycling(answers: impl IntoIterator<Item = m::ChatResponse>) -> Arc<ScriptedModel> {
    ScriptedModel::new("scripted", "scripted-1")
        .no_json()
        .after_script(AfterScript::Cycle)
        .replies(answers)
        .arc()
}

/// An assistant answer with text only.
pub fn answer(text: &str) -> m::ChatResponse {
    response(vec![m::Part::Text(text.into())], m::FinishReason::Stop)
}

/// An assistant answer calling tools: `(id, name, arguments JSON)`.
pub fn tool_calls(calls: &[(&str, &str, &str)]) -> m::ChatResponse {
    let parts = calls
        .iter()
        .map(|(id, name, args)| m::Part::ToolCall(m::ToolCall::new(*id, *name, *args)))
        .collect();
    response(parts, m::FinishReason::ToolCalls)
}

fn response(parts: Vec<m::Part>, finish_reason: m::FinishReason) -> m::ChatResponse {
    m::ChatResponse {
        message: m::Message::new(m::Role::Assistant, parts),
        finish_reason,
        usage: m::Usage {
            input_tokens: 100,
            output_tokens: 20,
            ..Default::default()
        },
        model: "scripted-1".into(),
    }
}

/// A path to a built test component.
pub fn component(path: &str) -> PathBuf {
    PathBuf::from(path)
}

/// A fresh, empty compile-cache directory for one test.
pub fn cache_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A run configuration with this agent, these tools, and the given agent
/// policy. The model spec is a placeholder for hosts built with
/// [`weft_host::HostBuilder::model`].
pub fn app(agent: &str, tools: &[&str], agent_policy: weft_host::Policy) -> weft_host::AppConfig {
    let mut agent = weft_host::ComponentConfig::new(agent);
    agent.policy = agent_policy;
    weft_host::AppConfig {
        agent,
        tools: tools
            .iter()
            .map(|t| weft_host::ComponentConfig::new(*t))
            .collect(),
        model: weft_host::ModelSpec::Cassette {
            path: PathBuf::from("unused.jsonl"),
            lenient: false,
        },
        secrets: Default::default(),
    }
}

/// The tool-loop agent over the hostile test tool, which runs under
/// `tool_policy`; the agent is granted every tool.
pub fn hostile_app(tool_policy: weft_host::Policy) -> weft_host::AppConfig {
    let mut config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::HOSTILE],
        all_tools(),
    );
    config.tools[0].policy = tool_policy;
    config
}

/// A policy granting every tool.
pub fn all_tools() -> weft_host::Policy {
    weft_host::Policy {
        tools: vec!["*".into()],
        ..Default::default()
    }
}

/// Sets an environment variable of the test process.
pub fn unsafe_set_env(key: &str, value: &str) {
    // Edition 2024 makes set_var unsafe; these tests only set variables
    // that nothing else reads concurrently, each test its own names.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(key, value)
    };
}

/// A multi-threaded runtime for tests that need loopback servers or
/// native models; run the host inside `spawn_blocking`.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
