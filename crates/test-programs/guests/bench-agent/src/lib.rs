//! **bench-agent** — a minimal agent for benchmarks: `run(input)` takes
//! `{"tool": NAME, "args": JSON, "times": N}`, calls `toolbox.call` N times
//! (N ≥ 1) and answers with the last result. It never calls the model; the
//! output's transcript is empty, usage zero and steps 0. A tool error ends
//! the run with `failed`.

use weft_sdk::agent::{Guest, RunError, RunOutput};
use weft_sdk::serde_json::{self, Value};
use weft_sdk::{ToolCall, Toolbox, Usage};

weft_sdk::json_types! {
    /// The benchmark's input.
    struct BenchInput {
        /// The tool to call.
        tool: String,
        /// Its arguments (any JSON, usually an object).
        #[serde(default = "empty_object")]
        args: Value,
        /// How many calls (default 1).
        #[serde(default = "one")]
        times: u32,
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn one() -> u32 {
    1
}

struct Bench;

impl Guest for Bench {
    fn run(input: String) -> Result<RunOutput, RunError> {
        let input: BenchInput = serde_json::from_str(&input)
            .map_err(|e| RunError::InvalidInput(format!("expected {{tool, args, times}}: {e}")))?;
        let call = ToolCall {
            id: "bench".to_string(),
            name: input.tool,
            arguments: input.args.to_string(),
        };
        let toolbox = Toolbox;
        let mut answer = String::new();
        for _ in 0..input.times.max(1) {
            answer = toolbox
                .call(&call)
                .map_err(|e| RunError::Failed(e.describe()))?;
        }
        Ok(RunOutput {
            answer,
            transcript: Vec::new(),
            usage: Usage::default(),
            steps: 0,
        })
    }
}

weft_sdk::export_agent!(Bench);
