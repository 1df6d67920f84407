//! Helpers for the router's tests: the shared fake model, errors, clocks.
#![allow(dead_code, unused_imports)]

use std::time::{Duration, SystemTime};

use weft_model::{ChatRequest, Message, ModelError};
use weft_router::ManualClock;

/// The scripted fake model of every crate's tests, under the name these
/// tests know it by: `Fake::new(provider, model)` takes tools, JSON output
/// and streams, and answers `answer from {model}` once its script is used up.
pub use weft_test_utils::{ScriptedModel as Fake, Step};

pub fn rate_limited(ms: Option<u64>) -> ModelError {
    ModelError::RateLimited {
        retry_after_ms: ms,
        message: "slow down".into(),
    }
}

pub fn overloaded() -> ModelError {
    ModelError::Overloaded("busy".into())
}

/// Monday 2026-11-02 at `hour`:`minute` UTC.
pub fn monday(hour: u32, minute: u32) -> SystemTime {
    weft_router::time::utc(2026, 11, 2, hour, minute).unwrap()
}

/// A manual clock at a peak hour (Monday 03:00 UTC).
pub fn clock() -> ManualClock {
    ManualClock::new(monday(3, 0))
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

pub fn user(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}
