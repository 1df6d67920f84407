//! **tool-loop-agent** — Weft's generic agent: it asks the model, runs the
//! tools the model calls, feeds the results back, and repeats until the
//! model answers without calling a tool.
//!
//! # Input
//!
//! Plain text is the user message. A JSON object with a `vars` field is
//! structured input: its `task` field (a string) is the user message and
//! `vars` is made available to the system-prompt template:
//! `{"task": "Summarise the report", "vars": {"audience": "executives"}}`.
//!
//! # Configuration keys
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `system-prompt` | a short generic prompt | a [minijinja] template; context: `tools` (list of `{name, description}`), `input` (the user message), `now_ms` (host clock, ms since the epoch), `vars` (only with structured input). Renders to the system message (omitted when empty). |
//! | `max-steps` | `8` | the most model calls; reaching it without a final answer fails with `step-limit(n)` |
//! | `max-total-tokens` | none | token budget: when the summed input + output tokens of all model calls pass it, the run fails with `budget-exceeded` (checked after every call, including the last) |
//! | `max-output-tokens` | provider default | per-call output limit |
//! | `temperature` | provider default | sampling temperature |
//! | `response-format` | `text` | `text`, or `json` for any JSON object |
//! | `json-schema` | none | a JSON Schema (text); the answer must match it (`response-format::json-schema`, strict); overrides `response-format` |
//! | `json-schema-name` | `answer` | the schema's name, for providers that require one |
//! | `stream` | `false` | `true` uses `chat-stream` (same result, streamed from the provider) |
//!
//! # The loop
//!
//! The run starts with the system message (if any) and the user message.
//! Each step calls the model with every tool of `toolbox.list()`, then
//! appends the assistant turn whole (one turn = one message: reasoning,
//! text and tool calls in order). If the turn calls tools, each call goes
//! through `toolbox.call` and all results are appended as **one** `tool`
//! message; a failed call (unknown tool, invalid arguments, denied,
//! crashed) becomes an `is-error` result carrying the error's message, so
//! the model can recover. A turn without tool calls ends the run with
//! `run-output { answer: its text parts joined, transcript, usage summed,
//! steps }`. Each step is logged at `info`.
//!
//! [minijinja]: https://docs.rs/minijinja

use weft_sdk::agent::{Guest, RunError, RunOutput};
use weft_sdk::log::Level;
use weft_sdk::serde_json::{self, Value as Json};
use weft_sdk::{
    ChatRequest, ChatResponse, JsonSchemaFormat, Message, Model, ResponseFormat, Sampling,
    ToolCall, ToolChoice, ToolError, ToolResult, Toolbox, Usage, clock, config,
};

/// The system prompt used when `system-prompt` is not configured.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant. \
{%- if tools %} Use the available tools when they help; you may call several at once.{% endif %} \
When you are done, answer the user directly.";

/// The agent's settings, read from configuration.
#[derive(Debug, Clone)]
struct Settings {
    system_prompt: String,
    max_steps: u32,
    max_total_tokens: Option<u64>,
    max_output_tokens: Option<u32>,
    temperature: Option<f32>,
    response_format: ResponseFormat,
    stream: bool,
}

fn invalid(e: impl std::fmt::Display) -> RunError {
    RunError::InvalidInput(e.to_string())
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, RunError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(invalid(format!(
            "config key `{key}`: expected true or false, got {other:?}"
        ))),
    }
}

fn settings() -> Result<Settings, RunError> {
    let max_steps: u32 = config::get_or("max-steps", 8).map_err(invalid)?;
    if max_steps == 0 {
        return Err(invalid("config key `max-steps`: must be at least 1"));
    }
    let response_format = if let Some(schema) = config::get("json-schema") {
        serde_json::from_str::<Json>(&schema)
            .map_err(|e| invalid(format!("config key `json-schema`: not valid JSON: {e}")))?;
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: config::get("json-schema-name").unwrap_or_else(|| "answer".to_string()),
            schema,
            strict: true,
        })
    } else {
        match config::get("response-format").as_deref().map(str::trim) {
            None | Some("text") | Some("") => ResponseFormat::Text,
            Some("json") => ResponseFormat::JsonObject,
            Some(other) => {
                return Err(invalid(format!(
                    "config key `response-format`: expected `text` or `json`, got {other:?}"
                )));
            }
        }
    };
    Ok(Settings {
        system_prompt: config::get("system-prompt")
            .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_string()),
        max_steps,
        max_total_tokens: config::get_parsed("max-total-tokens").map_err(invalid)?,
        max_output_tokens: config::get_parsed("max-output-tokens").map_err(invalid)?,
        temperature: config::get_parsed("temperature").map_err(invalid)?,
        response_format,
        stream: match config::get("stream") {
            Some(raw) => parse_bool("stream", &raw)?,
            None => false,
        },
    })
}

/// The user message and the template variables of a run's input.
#[derive(Debug, Clone, PartialEq)]
struct Input {
    task: String,
    vars: Option<Json>,
}

fn parse_input(input: &str) -> Result<Input, RunError> {
    if let Ok(Json::Object(mut obj)) = serde_json::from_str::<Json>(input)
        && let Some(vars) = obj.remove("vars")
    {
        let task = match obj.remove("task") {
            Some(Json::String(task)) => task,
            _ => {
                return Err(invalid(
                    "structured input has `vars` but no string `task` field",
                ));
            }
        };
        return Ok(Input {
            task,
            vars: Some(vars),
        });
    }
    Ok(Input {
        task: input.to_string(),
        vars: None,
    })
}

/// Renders the system-prompt template.
fn render_system(
    template: &str,
    tools: &[weft_sdk::ToolSpec],
    input: &Input,
    now_ms: u64,
) -> Result<String, RunError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    let tools: Vec<Json> = tools
        .iter()
        .map(|t| serde_json::json!({"name": t.name, "description": t.description}))
        .collect();
    let mut ctx = serde_json::Map::new();
    ctx.insert("tools".into(), Json::Array(tools));
    ctx.insert("input".into(), Json::String(input.task.clone()));
    ctx.insert("now_ms".into(), Json::from(now_ms));
    if let Some(vars) = &input.vars {
        ctx.insert("vars".into(), vars.clone());
    }
    env.render_str(template, minijinja::Value::from_serialize(&ctx))
        .map_err(|e| invalid(format!("config key `system-prompt`: template error: {e:#}")))
}

struct ToolLoop;

impl Guest for ToolLoop {
    fn run(input: String) -> Result<RunOutput, RunError> {
        let settings = settings()?;
        let input = parse_input(&input)?;
        let toolbox = Toolbox;
        let tools = toolbox.list();
        let system = render_system(&settings.system_prompt, &tools, &input, clock::now_ms())?;

        let mut messages = Vec::new();
        if !system.trim().is_empty() {
            messages.push(Message::system(system));
        }
        messages.push(Message::user(input.task));
        let mut request = ChatRequest {
            messages,
            tools,
            tool_choice: ToolChoice::Auto,
            response_format: settings.response_format.clone(),
            sampling: Sampling {
                temperature: settings.temperature,
                ..Sampling::default()
            },
            max_output_tokens: settings.max_output_tokens,
            stop: Vec::new(),
            provider_options: Vec::new(),
        };
        run_loop(&mut Host, &settings, &mut request)
    }
}

/// What the loop needs from the host; a trait so the loop is unit-tested
/// natively with a scripted fake.
trait Env {
    /// One model call.
    fn chat(&mut self, stream: bool, request: &ChatRequest) -> Result<ChatResponse, RunError>;
    /// One tool call.
    fn call_tool(&mut self, call: &ToolCall) -> Result<String, ToolError>;
    /// One log line.
    fn log(&mut self, level: Level, message: &str);
}

/// The real host imports.
struct Host;

impl Env for Host {
    fn chat(&mut self, stream: bool, request: &ChatRequest) -> Result<ChatResponse, RunError> {
        if stream {
            let mut events = 0u32;
            let response = Model.chat_stream(request)?.finish_with(|_| events += 1)?;
            weft_sdk::debug!("streamed {events} events before `done`");
            Ok(response)
        } else {
            Ok(Model.chat(request)?)
        }
    }

    fn call_tool(&mut self, call: &ToolCall) -> Result<String, ToolError> {
        Toolbox.call(call)
    }

    fn log(&mut self, level: Level, message: &str) {
        weft_sdk::log::log(level, message);
    }
}

fn run_loop(
    env: &mut impl Env,
    settings: &Settings,
    request: &mut ChatRequest,
) -> Result<RunOutput, RunError> {
    let mut usage = Usage::default();
    for step in 1..=settings.max_steps {
        let response = env.chat(settings.stream, request)?;
        usage.add(&response.usage);
        let calls: Vec<ToolCall> = response.message.tool_calls().cloned().collect();
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        env.log(
            Level::Info,
            &format!(
                "step {step}/{}: {} tool call(s) {names:?}; tokens in {} out {}, run total {}",
                settings.max_steps,
                calls.len(),
                response.usage.input_tokens,
                response.usage.output_tokens,
                usage.total()
            ),
        );
        let answer = response.message.joined_text();
        request.messages.push(response.message);

        if let Some(budget) = settings.max_total_tokens
            && usage.total() > budget
        {
            return Err(RunError::BudgetExceeded(format!(
                "{} tokens used after {step} step(s), budget {budget}",
                usage.total()
            )));
        }

        if calls.is_empty() {
            return Ok(RunOutput {
                answer,
                transcript: std::mem::take(&mut request.messages),
                usage,
                steps: step,
            });
        }

        let mut results = Vec::with_capacity(calls.len());
        for call in &calls {
            let outcome = env.call_tool(call);
            if let Err(e) = &outcome {
                env.log(
                    Level::Warn,
                    &format!("tool `{}` failed: {}", call.name, e.describe()),
                );
            }
            results.push(ToolResult::from_outcome(call.id.clone(), outcome));
        }
        request.messages.push(Message::tool_results(results));
    }
    Err(RunError::StepLimit(settings.max_steps))
}

weft_sdk::export_agent!(ToolLoop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_structured_input() {
        assert_eq!(
            parse_input("hello").unwrap(),
            Input {
                task: "hello".into(),
                vars: None
            }
        );
        assert_eq!(
            parse_input(r#"{"task": "x"}"#).unwrap().task,
            r#"{"task": "x"}"#
        );
        let i = parse_input(r#"{"task": "t", "vars": {"n": 18446744073709551615}}"#).unwrap();
        assert_eq!(i.task, "t");
        assert_eq!(i.vars.unwrap()["n"].as_u64(), Some(u64::MAX));
        assert!(parse_input(r#"{"vars": {}}"#).is_err());
    }

    #[test]
    fn renders_templates() {
        let tools = vec![weft_sdk::ToolSpec {
            name: "count_words".into(),
            description: "Counts.".into(),
            input_schema: "{}".into(),
            output_schema: None,
        }];
        let input =
            parse_input(r#"{"task": "go", "vars": {"who": "Ada", "big": 9007199254740993}}"#)
                .unwrap();
        let out = render_system(
            "Hi {{ vars.who }} ({{ vars.big }}) at {{ now_ms }}: {{ input }}; \
             {% for t in tools %}{{ t.name }}={{ t.description }}{% endfor %}{{ vars.missing.x }}",
            &tools,
            &input,
            1_700_000_000_000,
        )
        .unwrap();
        assert_eq!(
            out,
            "Hi Ada (9007199254740993) at 1700000000000: go; count_words=Counts."
        );
        let d = render_system(DEFAULT_SYSTEM_PROMPT, &tools, &input, 0).unwrap();
        assert!(d.contains("Use the available tools"), "{d}");
        let d = render_system(DEFAULT_SYSTEM_PROMPT, &[], &input, 0).unwrap();
        assert!(!d.contains("tools"), "{d}");
        assert!(render_system("{% if %}", &tools, &input, 0).is_err());
    }

    use weft_sdk::{FinishReason, Part, Role};

    struct Fake {
        replies: Vec<ChatResponse>,
        seen: Vec<usize>,
        logs: Vec<String>,
    }

    impl Env for Fake {
        fn chat(&mut self, _: bool, request: &ChatRequest) -> Result<ChatResponse, RunError> {
            self.seen.push(request.messages.len());
            if self.replies.is_empty() {
                return Err(RunError::Model(weft_sdk::ModelError::Timeout(
                    "no more".into(),
                )));
            }
            Ok(self.replies.remove(0))
        }
        fn call_tool(&mut self, call: &ToolCall) -> Result<String, ToolError> {
            match call.name.as_str() {
                "echo" => Ok(call.arguments.clone()),
                other => Err(ToolError::NotFound(format!("no tool `{other}`"))),
            }
        }
        fn log(&mut self, _: Level, message: &str) {
            self.logs.push(message.to_string());
        }
    }

    fn reply(parts: Vec<Part>, input: u64, output: u64) -> ChatResponse {
        ChatResponse {
            message: Message {
                role: Role::Assistant,
                parts,
            },
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                ..Usage::default()
            },
            model: "fake".into(),
        }
    }

    fn call(id: &str, name: &str) -> Part {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: "{\"a\":1}".into(),
        })
    }

    fn settings(max_steps: u32, budget: Option<u64>) -> Settings {
        Settings {
            system_prompt: String::new(),
            max_steps,
            max_total_tokens: budget,
            max_output_tokens: None,
            temperature: None,
            response_format: ResponseFormat::Text,
            stream: false,
        }
    }

    fn request() -> ChatRequest {
        ChatRequest::new(vec![Message::system("s"), Message::user("u")])
    }

    #[test]
    fn loops_until_an_answer() {
        let mut fake = Fake {
            replies: vec![
                reply(
                    vec![
                        Part::Text("let me".into()),
                        call("1", "echo"),
                        call("2", "nope"),
                    ],
                    10,
                    5,
                ),
                reply(
                    vec![Part::Text("Done".into()), Part::Text("!".into())],
                    20,
                    3,
                ),
            ],
            seen: vec![],
            logs: vec![],
        };
        let out = run_loop(&mut fake, &settings(8, None), &mut request()).unwrap();
        assert_eq!(out.answer, "Done!");
        assert_eq!(out.steps, 2);
        assert_eq!(out.usage.input_tokens, 30);
        assert_eq!(out.usage.output_tokens, 8);
        assert_eq!(fake.seen, [2, 4]);
        // system, user, assistant, ONE tool message, assistant
        assert_eq!(out.transcript.len(), 5);
        let tool_msg = &out.transcript[3];
        assert_eq!(tool_msg.role, Role::Tool);
        assert_eq!(
            tool_msg.parts,
            vec![
                Part::ToolResult(ToolResult::ok("1", "{\"a\":1}")),
                Part::ToolResult(ToolResult::error("2", "tool not found: no tool `nope`")),
            ]
        );
        // The assistant turn is kept whole.
        assert_eq!(out.transcript[2].parts.len(), 3);
        assert_eq!(fake.logs.len(), 3);
    }

    #[test]
    fn step_limit_and_budget() {
        let looping = || Fake {
            replies: (0..5)
                .map(|i| reply(vec![call(&i.to_string(), "echo")], 100, 10))
                .collect(),
            seen: vec![],
            logs: vec![],
        };
        assert_eq!(
            run_loop(&mut looping(), &settings(3, None), &mut request()).unwrap_err(),
            RunError::StepLimit(3)
        );
        let err = run_loop(&mut looping(), &settings(8, Some(250)), &mut request()).unwrap_err();
        assert!(
            matches!(err, RunError::BudgetExceeded(m) if m.starts_with("330 tokens used after 3 step(s)"))
        );
    }

    #[test]
    fn model_errors_end_the_run() {
        let mut fake = Fake {
            replies: vec![],
            seen: vec![],
            logs: vec![],
        };
        assert!(matches!(
            run_loop(&mut fake, &settings(2, None), &mut request()),
            Err(RunError::Model(_))
        ));
    }

    #[test]
    fn bools() {
        assert!(parse_bool("stream", " TRUE ").unwrap());
        assert!(!parse_bool("stream", "0").unwrap());
        assert!(parse_bool("stream", "maybe").is_err());
    }
}
