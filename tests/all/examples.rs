//! The runnable examples under `examples/` keep working: each replays its
//! cassette through the real components.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_host::{AppConfig, Host, ModelSpec};
use weft_model as m;
use weft_tests::{answer, artifacts, scripted, tool_calls};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The example's configuration, with its components taken from the test
/// build (the same sources and profile as `scripts/build-plugins.sh`).
fn triage_config() -> AppConfig {
    let mut config = AppConfig::load(&repo().join("examples/triage/weft.toml")).unwrap();
    let built = |p: &Path| -> PathBuf {
        let name = p.file_name().unwrap().to_str().unwrap();
        artifacts::ALL
            .iter()
            .map(|(_, path)| PathBuf::from(path))
            .find(|path| path.file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("no test artifact named {name}"))
    };
    config.agent.component = built(&config.agent.component);
    for t in &mut config.tools {
        t.component = built(&t.component);
    }
    config
}

fn ticket() -> String {
    std::fs::read_to_string(repo().join("examples/triage/ticket.txt")).unwrap()
}

#[test]
fn triage_example_replays_its_cassette() {
    let host = Host::builder()
        .cache_dir(None)
        .build(&triage_config())
        .unwrap();
    let report = host.run(&ticket()).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&report.answer).expect("the answer is JSON");
    assert_eq!(value["category"], "billing");
    assert_eq!(value["priority"], "P2");
    assert_eq!(
        value["customer"]["email"],
        "dana.whitfield@northwind-labs.com"
    );
    assert_eq!(value["customer"]["account_id"], "ACME-20931");
    assert!(value["reply"].as_str().unwrap().contains("refund"));
    assert_eq!(report.steps, 3);
    // The tool results in the transcript are real outputs of the plugins.
    let tool_text = serde_json::to_string(&report.transcript).unwrap();
    assert!(tool_text.contains("dana.whitfield@northwind-labs.com"));
    assert!(tool_text.contains("https://billing.acme.example/invoices/INV-88412"));
}

/// The model's three answers for the triage demo.
fn triage_script() -> Vec<m::ChatResponse> {
    let ticket = ticket();
    let extract = serde_json::json!({ "text": ticket }).to_string();
    let final_answer = serde_json::json!({
        "category": "billing",
        "priority": "P2",
        "customer": {
            "name": "Dana Whitfield",
            "email": "dana.whitfield@northwind-labs.com",
            "account_id": "ACME-20931"
        },
        "summary": "Duplicate charge of $1,240.00 for invoice INV-88412 on 2026-11-03; refund needed before 2026-12-01.",
        "reply": "Hi Dana, thanks for flagging this. I can see invoice INV-88412 was charged twice on 2026-11-03. We've opened a refund for the duplicate $1,240.00 charge; it should reach your card within 5 business days, well before your 2026-12-01 close. Sorry for the trouble! — Acme Cloud Support"
    });
    let mut steps = vec![
        tool_calls(&[("call_extract", "extract_entities", &extract)]),
        tool_calls(&[(
            "call_memory",
            "memory_set",
            r#"{"key": "category", "value": "billing"}"#,
        )]),
        answer(&final_answer.to_string()),
    ];
    let usage = [(612, 58), (803, 31), (861, 164)];
    for (step, (input, output)) in steps.iter_mut().zip(usage) {
        step.usage = m::Usage {
            input_tokens: input,
            output_tokens: output,
            ..Default::default()
        };
        step.model = "scripted-demo".into();
    }
    steps
}

#[test]
#[ignore = "rewrites examples/triage/cassette.jsonl; run by hand after changing the example"]
fn record_triage_cassette() {
    let path = repo().join("examples/triage/cassette.jsonl");
    let _ = std::fs::remove_file(&path);
    let recorder = m::cassette::RecordingModel::create(
        scripted(triage_script()),
        &path,
        "examples/triage: recorded from a scripted in-memory model whose three answers were written for this demo; tool results are real",
    ).unwrap();
    let mut config = triage_config();
    config.model = ModelSpec::Cassette {
        path: path.clone(),
        lenient: false,
    };
    let host = Host::builder()
        .cache_dir(None)
        .model(Arc::new(recorder))
        .build(&config)
        .unwrap();
    let report = host.run(&ticket()).unwrap();
    assert_eq!(report.steps, 3);
}
