//! Instantiates the built components under wasmtime with minimal fake host
//! interfaces and exercises them end to end.

use std::collections::BTreeMap;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod tool {
    wasmtime::component::bindgen!({
        path: "../../../wit",
        world: "weft:plugins/tool-plugin",
        additional_derives: [PartialEq],
    });
}

mod model {
    wasmtime::component::bindgen!({
        path: "../../../wit",
        world: "weft:plugins/model-plugin",
        additional_derives: [PartialEq],
    });
}

mod agent {
    wasmtime::component::bindgen!({
        path: "../../../wit",
        world: "weft:plugins/agent-plugin",
        additional_derives: [PartialEq],
    });
}

/// Host state shared by all worlds' fakes.
struct Fake {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    state: BTreeMap<String, String>,
    config: BTreeMap<String, String>,
    logs: Vec<String>,
    /// Requests the fake model received (as debug text).
    model_seen: Vec<String>,
    /// Scripted answers of the fake model (agent tests).
    agent_replies: Vec<agent::weft::plugins::types::ChatResponse>,
    tool_calls: Vec<String>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            state: BTreeMap::new(),
            config: BTreeMap::new(),
            logs: Vec::new(),
            model_seen: Vec::new(),
            agent_replies: Vec::new(),
            tool_calls: Vec::new(),
        }
    }
}

impl WasiView for Fake {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Fake {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

macro_rules! common_hosts {
    ($m:ident) => {
        impl $m::weft::plugins::types::Host for Fake {}
        impl $m::weft::plugins::logging::Host for Fake {
            fn log(&mut self, _level: $m::weft::plugins::logging::Level, message: String) {
                self.logs.push(message);
            }
        }
        impl $m::weft::plugins::config::Host for Fake {
            fn get(&mut self, key: String) -> Option<String> {
                self.config.get(&key).cloned()
            }
        }
    };
}

common_hosts!(tool);
common_hosts!(model);
common_hosts!(agent);

macro_rules! state_host {
    ($m:ident) => {
        impl $m::weft::plugins::state::Host for Fake {
            fn get(&mut self, key: String) -> Option<String> {
                self.state.get(&key).cloned()
            }
            fn set(&mut self, key: String, value: String) -> Result<(), String> {
                if value.len() > 1024 {
                    return Err("state limit exceeded".into());
                }
                self.state.insert(key, value);
                Ok(())
            }
            fn delete(&mut self, key: String) -> bool {
                self.state.remove(&key).is_some()
            }
            fn keys(&mut self, prefix: String) -> Vec<String> {
                self.state
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect()
            }
        }
    };
}

state_host!(tool);
state_host!(agent);

// The model-plugin's imported model: echoes what it was sent, so the test
// can see what the provider would have seen.
impl model::weft::plugins::model::Host for Fake {
    fn chat(
        &mut self,
        request: model::weft::plugins::types::ChatRequest,
    ) -> Result<model::weft::plugins::types::ChatResponse, model::weft::plugins::types::ModelError>
    {
        use model::weft::plugins::types::*;
        let text: String = request
            .messages
            .iter()
            .flat_map(|m| m.parts.iter())
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" | ");
        self.model_seen.push(text.clone());
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Text(format!("echo: {text}")),
                    Part::ToolCall(ToolCall {
                        id: "1".into(),
                        name: "send".into(),
                        arguments: r#"{"to":"<EMAIL_1>"}"#.into(),
                    }),
                ],
            },
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
            },
            model: "echo".into(),
        })
    }

    fn chat_stream(
        &mut self,
        _: model::weft::plugins::types::ChatRequest,
    ) -> Result<
        wasmtime::component::Resource<model::weft::plugins::model::ResponseStream>,
        model::weft::plugins::types::ModelError,
    > {
        Err(model::weft::plugins::types::ModelError::Unsupported(
            "stream".into(),
        ))
    }

    fn capabilities(&mut self) -> model::weft::plugins::types::Capabilities {
        model::weft::plugins::types::Capabilities {
            provider: "fake".into(),
            model: "echo".into(),
            tools: true,
            parallel_tool_calls: false,
            streaming: false,
            json_object: false,
            json_schema: false,
            reasoning: false,
            context_window: Some(1000),
            max_output_tokens: None,
        }
    }
}

impl model::weft::plugins::model::HostResponseStream for Fake {
    fn next(
        &mut self,
        _: wasmtime::component::Resource<model::weft::plugins::model::ResponseStream>,
    ) -> Result<
        Option<model::weft::plugins::types::StreamEvent>,
        model::weft::plugins::types::ModelError,
    > {
        unreachable!()
    }
    fn drop(
        &mut self,
        _: wasmtime::component::Resource<model::weft::plugins::model::ResponseStream>,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
}

// The agent's imports: a scripted model and an echoing toolbox.
impl agent::weft::plugins::model::Host for Fake {
    fn chat(
        &mut self,
        request: agent::weft::plugins::types::ChatRequest,
    ) -> Result<agent::weft::plugins::types::ChatResponse, agent::weft::plugins::types::ModelError>
    {
        self.model_seen.push(format!(
            "{} messages, {} tools",
            request.messages.len(),
            request.tools.len()
        ));
        if self.agent_replies.is_empty() {
            return Err(agent::weft::plugins::types::ModelError::Timeout(
                "no reply".into(),
            ));
        }
        Ok(self.agent_replies.remove(0))
    }

    fn chat_stream(
        &mut self,
        _: agent::weft::plugins::types::ChatRequest,
    ) -> Result<
        wasmtime::component::Resource<agent::weft::plugins::model::ResponseStream>,
        agent::weft::plugins::types::ModelError,
    > {
        Err(agent::weft::plugins::types::ModelError::Unsupported(
            "stream".into(),
        ))
    }

    fn capabilities(&mut self) -> agent::weft::plugins::types::Capabilities {
        unreachable!()
    }
}

impl agent::weft::plugins::model::HostResponseStream for Fake {
    fn next(
        &mut self,
        _: wasmtime::component::Resource<agent::weft::plugins::model::ResponseStream>,
    ) -> Result<
        Option<agent::weft::plugins::types::StreamEvent>,
        agent::weft::plugins::types::ModelError,
    > {
        unreachable!()
    }
    fn drop(
        &mut self,
        _: wasmtime::component::Resource<agent::weft::plugins::model::ResponseStream>,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl agent::weft::plugins::toolbox::Host for Fake {
    fn list(&mut self) -> Vec<agent::weft::plugins::types::ToolSpec> {
        vec![agent::weft::plugins::types::ToolSpec {
            name: "echo".into(),
            description: "Echoes.".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: None,
        }]
    }

    fn call(
        &mut self,
        call: agent::weft::plugins::types::ToolCall,
    ) -> Result<String, agent::weft::plugins::types::ToolError> {
        self.tool_calls.push(call.name.clone());
        match call.name.as_str() {
            "echo" => Ok(call.arguments),
            other => Err(agent::weft::plugins::types::ToolError::NotFound(
                other.into(),
            )),
        }
    }
}

impl agent::weft::plugins::approval::Host for Fake {
    fn request(&mut self, _: agent::weft::plugins::types::ToolCall, _: String) -> bool {
        false
    }
}

impl agent::weft::plugins::clock::Host for Fake {
    fn now_ms(&mut self) -> u64 {
        1_700_000_000_000
    }
}

fn engine() -> Engine {
    Engine::new(&Config::new()).unwrap()
}

fn linker(engine: &Engine) -> Linker<Fake> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).unwrap();
    linker
}

#[test]
fn every_component_has_its_world() {
    let engine = engine();
    for (name, path) in test_programs_artifacts::ALL {
        let component = Component::from_file(&engine, path).unwrap();
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
        let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
        let expected = match *name {
            "tool-loop-agent" | "bench-agent" => "weft:plugins/agent@0.1.0",
            "redact-model" => "weft:plugins/model@0.1.0",
            _ => "weft:plugins/tool@0.1.0",
        };
        assert_eq!(exports, [expected], "{name}");
        eprintln!(
            "{name}: {} bytes, imports {imports:?}",
            std::fs::metadata(path).unwrap().len()
        );
    }
}

fn tool_instance(path: &str) -> (Store<Fake>, tool::ToolPlugin) {
    let engine = engine();
    let mut linker = linker(&engine);
    tool::ToolPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h).unwrap();
    let component = Component::from_file(&engine, path).unwrap();
    let mut store = Store::new(&engine, Fake::new());
    let plugin = tool::ToolPlugin::instantiate(&mut store, &component, &linker).unwrap();
    (store, plugin)
}

#[test]
fn text_tools_list_and_call() {
    let (mut store, plugin) = tool_instance(test_programs_artifacts::TEXT_TOOLS);
    let t = plugin.weft_plugins_tool();
    let tools = t.call_list_tools(&mut store).unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["split_chunks", "count_words", "extract_entities"]);
    let schema: serde_json::Value = serde_json::from_str(&tools[0].input_schema).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(
        tools[1]
            .output_schema
            .as_deref()
            .unwrap()
            .contains("18446744073709551615")
    );

    let out = t
        .call_call(&mut store, "count_words", r#"{"text": "one two three"}"#)
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["words"], 3);
    assert_eq!(v["estimated_tokens"], 4);

    let err = t
        .call_call(
            &mut store,
            "split_chunks",
            r#"{"text": "x", "max_chars": "big"}"#,
        )
        .unwrap()
        .unwrap_err();
    match err {
        tool::weft::plugins::types::ToolError::InvalidArguments(m) => {
            assert_eq!(
                m,
                "`.max_chars`: invalid type: string \"big\", expected u32"
            )
        }
        other => panic!("{other:?}"),
    }
    let err = t.call_call(&mut store, "nope", "{}").unwrap().unwrap_err();
    assert!(matches!(
        err,
        tool::weft::plugins::types::ToolError::NotFound(_)
    ));
}

#[test]
fn kv_memory_uses_state() {
    let (mut store, plugin) = tool_instance(test_programs_artifacts::KV_MEMORY);
    let t = plugin.weft_plugins_tool();
    let set = t
        .call_call(&mut store, "memory_set", r#"{"key": "a", "value": "1"}"#)
        .unwrap()
        .unwrap();
    assert_eq!(set, r#"{"key":"a","replaced":false}"#);
    let get = t
        .call_call(&mut store, "memory_get", r#"{"key": "a"}"#)
        .unwrap()
        .unwrap();
    assert_eq!(get, r#"{"key":"a","found":true,"value":"1"}"#);
    assert_eq!(store.data().state.get("a").map(String::as_str), Some("1"));
    let big = format!(r#"{{"key": "b", "value": "{}"}}"#, "x".repeat(2000));
    let err = t
        .call_call(&mut store, "memory_set", &big)
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, tool::weft::plugins::types::ToolError::Failed(m) if m.contains("limit")));
    let list = t
        .call_call(&mut store, "memory_list", "{}")
        .unwrap()
        .unwrap();
    assert_eq!(list, r#"{"keys":["a"]}"#);
}

#[test]
fn hostile_echo_and_trap() {
    let (mut store, plugin) = tool_instance(test_programs_artifacts::HOSTILE);
    let t = plugin.weft_plugins_tool();
    let out = t
        .call_call(
            &mut store,
            "echo",
            r#"{"value": {"n": 18446744073709551615, "s": [1, "x"]}}"#,
        )
        .unwrap()
        .unwrap();
    assert_eq!(out, r#"{"n":18446744073709551615,"s":[1,"x"]}"#);
    let env = t
        .call_call(&mut store, "env", r#"{"name": "HOME"}"#)
        .unwrap()
        .unwrap();
    assert_eq!(env, "null");
    let file = t
        .call_call(&mut store, "read_file", r#"{"path": "/etc/passwd"}"#)
        .unwrap();
    assert!(file.is_err());
    assert!(t.call_call(&mut store, "trap", "{}").is_err());
}

#[test]
fn fetch_errors_name_the_host() {
    use tool::weft::plugins::types::ToolError;
    for path in [
        test_programs_artifacts::HTTP_FETCH,
        test_programs_artifacts::HOSTILE,
    ] {
        let (mut store, plugin) = tool_instance(path);
        let t = plugin.weft_plugins_tool();
        let err = t
            .call_call(&mut store, "fetch", r#"{"url": "http://127.0.0.1:9/x"}"#)
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.starts_with("request to host `127.0.0.1` failed")),
            "{err:?}"
        );
        let err = t
            .call_call(&mut store, "fetch", r#"{"url": "file:///etc/passwd"}"#)
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)), "{err:?}");
    }
}

#[test]
fn redact_model_hides_and_restores() {
    use model::weft::plugins::types::*;
    let engine = engine();
    let mut linker = linker(&engine);
    model::ModelPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h).unwrap();
    let component = Component::from_file(&engine, test_programs_artifacts::REDACT_MODEL).unwrap();
    let mut store = Store::new(&engine, Fake::new());
    let plugin = model::ModelPlugin::instantiate(&mut store, &component, &linker).unwrap();
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Text("Write to bob@x.com or +1 415 555 0100".into())],
        }],
        tools: vec![],
        tool_choice: ToolChoice::Auto,
        response_format: ResponseFormat::Text,
        sampling: Sampling {
            temperature: None,
            top_p: None,
            top_k: None,
            seed: None,
            frequency_penalty: None,
            presence_penalty: None,
        },
        max_output_tokens: None,
        stop: vec![],
        provider_options: vec![],
    };
    let m = plugin.weft_plugins_model();
    let response = m.call_chat(&mut store, &request).unwrap().unwrap();
    assert_eq!(store.data().model_seen, ["Write to <EMAIL_1> or <PHONE_1>"]);
    assert_eq!(
        response.message.parts[0],
        Part::Text("echo: Write to bob@x.com or +1 415 555 0100".into())
    );
    assert_eq!(
        response.message.parts[1],
        Part::ToolCall(ToolCall {
            id: "1".into(),
            name: "send".into(),
            arguments: r#"{"to":"bob@x.com"}"#.into()
        })
    );
    assert_eq!(m.call_capabilities(&mut store).unwrap().model, "echo");
    assert!(m.call_chat_stream(&mut store, &request).unwrap().is_err());
}

fn agent_instance(path: &str) -> (Store<Fake>, agent::AgentPlugin) {
    let engine = engine();
    let mut linker = linker(&engine);
    agent::AgentPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h).unwrap();
    let component = Component::from_file(&engine, path).unwrap();
    let mut store = Store::new(&engine, Fake::new());
    let plugin = agent::AgentPlugin::instantiate(&mut store, &component, &linker).unwrap();
    (store, plugin)
}

#[test]
fn tool_loop_agent_runs_the_loop() {
    use agent::weft::plugins::types::*;
    let reply = |parts: Vec<Part>| ChatResponse {
        message: Message {
            role: Role::Assistant,
            parts,
        },
        finish_reason: FinishReason::Stop,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        },
        model: "fake".into(),
    };
    let (mut store, plugin) = agent_instance(test_programs_artifacts::TOOL_LOOP_AGENT);
    store.data_mut().config.insert(
        "system-prompt".into(),
        "Tools: {% for t in tools %}{{ t.name }}{% endfor %}; who={{ vars.who }}".into(),
    );
    store.data_mut().agent_replies = vec![
        reply(vec![
            Part::ToolCall(ToolCall {
                id: "a".into(),
                name: "echo".into(),
                arguments: r#"{"x":1}"#.into(),
            }),
            Part::ToolCall(ToolCall {
                id: "b".into(),
                name: "missing".into(),
                arguments: "{}".into(),
            }),
        ]),
        reply(vec![Part::Text("All ".into()), Part::Text("done.".into())]),
    ];
    let out = plugin
        .weft_plugins_agent()
        .call_run(&mut store, r#"{"task": "go", "vars": {"who": "Ada"}}"#)
        .unwrap()
        .unwrap();
    assert_eq!(out.answer, "All done.");
    assert_eq!(out.steps, 2);
    assert_eq!(out.usage.input_tokens, 20);
    assert_eq!(out.transcript.len(), 5);
    assert_eq!(
        out.transcript[0].parts,
        [Part::Text("Tools: echo; who=Ada".into())]
    );
    assert_eq!(
        out.transcript[3].parts,
        [
            Part::ToolResult(ToolResult {
                call_id: "a".into(),
                content: r#"{"x":1}"#.into(),
                is_error: false
            }),
            Part::ToolResult(ToolResult {
                call_id: "b".into(),
                content: "tool not found: missing".into(),
                is_error: true
            }),
        ]
    );
    assert_eq!(store.data().tool_calls, ["echo", "missing"]);
    assert_eq!(
        store.data().model_seen,
        ["2 messages, 1 tools", "4 messages, 1 tools"]
    );
    assert!(store.data().logs.iter().any(|l| l.starts_with("step 1/8")));

    // Step limit, then a bad config value.
    let (mut store, plugin) = agent_instance(test_programs_artifacts::TOOL_LOOP_AGENT);
    store
        .data_mut()
        .config
        .insert("max-steps".into(), "1".into());
    store.data_mut().agent_replies = vec![reply(vec![Part::ToolCall(ToolCall {
        id: "a".into(),
        name: "echo".into(),
        arguments: "{}".into(),
    })])];
    let err = plugin
        .weft_plugins_agent()
        .call_run(&mut store, "hi")
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        err,
        agent::exports::weft::plugins::agent::RunError::StepLimit(1)
    ));
    store
        .data_mut()
        .config
        .insert("max-steps".into(), "many".into());
    let err = plugin
        .weft_plugins_agent()
        .call_run(&mut store, "hi")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, agent::exports::weft::plugins::agent::RunError::InvalidInput(m) if m.contains("max-steps"))
    );
}

#[test]
fn bench_agent_calls_n_times() {
    let (mut store, plugin) = agent_instance(test_programs_artifacts::BENCH_AGENT);
    let out = plugin
        .weft_plugins_agent()
        .call_run(
            &mut store,
            r#"{"tool": "echo", "args": {"v": 1}, "times": 5}"#,
        )
        .unwrap()
        .unwrap();
    assert_eq!(out.answer, r#"{"v":1}"#);
    assert_eq!(store.data().tool_calls.len(), 5);
}
