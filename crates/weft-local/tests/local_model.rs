//! The local model behind the `Model` trait, on the SmolLM2 fixture: chat,
//! streaming, JSON mode, prompt-prefix reuse and bad input.

mod support;

use std::sync::{Mutex, MutexGuard, OnceLock};

use futures::StreamExt;
use futures::executor::block_on;
use weft_local::{LoadOptions, LocalModel};
use weft_model::{
    ChatRequest, FinishReason, Message, Model, ModelError, ResponseFormat, StreamEvent,
};

/// The tests share one loaded model and its single prompt cache, so they
/// take turns: one test's calls must not evict another's cached prefix.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn model() -> &'static LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let options = LoadOptions {
            context: 512,
            ..LoadOptions::default()
        };
        LocalModel::load(&support::smollm2_path(), &options).expect("load SmolLM2")
    })
}

fn ask(question: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(question)]).with_max_output_tokens(24)
}

#[test]
fn answers_through_its_own_chat_template() {
    let _turn = serial();
    let response = block_on(model().chat(&ask("What is the capital of France?"))).expect("chat");
    assert!(
        response.text().contains("Paris"),
        "answer: {:?}",
        response.text()
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert!(response.usage.input_tokens > 10);
    assert!(response.usage.output_tokens > 0 && response.usage.output_tokens <= 24);
    assert_eq!(model().capabilities().provider, "local");
}

#[test]
fn streamed_deltas_add_up_to_the_final_answer() {
    let _turn = serial();
    let request = ask("Name three colours.");
    let events: Vec<_> = block_on(async {
        model()
            .chat_stream(&request)
            .await
            .expect("stream")
            .collect::<Vec<_>>()
            .await
    });
    let mut text = String::new();
    let mut done = None;
    for event in events {
        match event.expect("event") {
            StreamEvent::TextDelta(delta) => text.push_str(&delta),
            StreamEvent::Done(response) => done = Some(response),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let done = done.expect("a Done event");
    assert!(!text.is_empty());
    assert_eq!(text, done.text());
    // Greedy decoding is deterministic: the same request gives the same answer.
    let again = block_on(model().chat(&request)).expect("chat");
    assert_eq!(again.text(), done.text());
}

#[test]
fn json_mode_always_yields_valid_json() {
    let _turn = serial();
    for question in ["Describe Paris in JSON.", "Say hello.", "List two numbers."] {
        let request = ask(question)
            .with_response_format(ResponseFormat::JsonObject)
            .with_max_output_tokens(64);
        let response = block_on(model().chat(&request)).expect("chat");
        if response.finish_reason == FinishReason::Stop {
            let value: serde_json::Value = serde_json::from_str(response.text().trim())
                .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", response.text()));
            assert!(value.is_object(), "{value}");
        } else {
            // Cut by the token limit: still a valid JSON prefix.
            assert_eq!(response.finish_reason, FinishReason::Length);
            let mut prefix = weft_local::json::JsonPrefix::new(true);
            assert!(
                prefix.feed(response.text().as_bytes()),
                "{:?}",
                response.text()
            );
        }
    }
}

#[test]
fn a_repeated_prompt_prefix_is_served_from_the_cache() {
    let _turn = serial();
    let first = ask("What is 2 + 2?");
    let r1 = block_on(model().chat(&first)).expect("chat");
    let mut second = first.clone();
    second.messages.push(r1.message.clone());
    second.messages.push(Message::user("And 3 + 3?"));
    let r2 = block_on(model().chat(&second)).expect("chat");
    assert!(
        r2.usage.cache_read_tokens >= r1.usage.input_tokens,
        "cached {} of {} (first prompt {})",
        r2.usage.cache_read_tokens,
        r2.usage.input_tokens,
        r1.usage.input_tokens
    );
}

#[test]
fn a_prompt_longer_than_the_context_is_a_clear_error() {
    let _turn = serial();
    let long = "word ".repeat(2000);
    let error = block_on(model().chat(&ask(&long))).expect_err("too long");
    match error {
        ModelError::ContextTooLong(message) => assert!(message.contains("512"), "{message}"),
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
    // The model keeps serving.
    assert!(block_on(model().chat(&ask("Hi"))).is_ok());
}

#[test]
fn stop_sequences_cut_the_answer() {
    let _turn = serial();
    let mut request = ask("Count from 1 to 10, separated by commas.");
    request.max_output_tokens = Some(40);
    let full = block_on(model().chat(&request)).expect("chat").text();
    let Some(cut) = full.find('5') else {
        panic!("the model did not count: {full:?}");
    };
    request.stop = vec!["5".into()];
    let stopped = block_on(model().chat(&request)).expect("chat");
    assert_eq!(stopped.text(), full[..cut]);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
}

#[test]
fn a_missing_file_and_a_corrupt_file_are_named() {
    let _turn = serial();
    let error = LocalModel::load(
        std::path::Path::new("/nonexistent/model.gguf"),
        &LoadOptions::default(),
    )
    .expect_err("missing");
    assert!(
        error.to_string().contains("/nonexistent/model.gguf"),
        "{error}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00garbage").expect("write");
    let error = LocalModel::load(&bad, &LoadOptions::default()).expect_err("corrupt");
    assert!(error.to_string().to_lowercase().contains("gguf"), "{error}");
    let empty_dir = tempfile::tempdir().expect("dir");
    let error = LocalModel::load(empty_dir.path(), &LoadOptions::default()).expect_err("empty dir");
    assert!(error.to_string().contains("config.json"), "{error}");
}
