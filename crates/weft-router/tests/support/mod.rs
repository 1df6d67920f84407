//! In-memory fake models and helpers for the router's tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, FinishReason, Message, Model,
    ModelError, StreamEvent, Usage, collect_stream, events_from_response, stream_of,
};
use weft_router::ManualClock;

/// One scripted outcome.
#[derive(Clone)]
pub enum Step {
    /// Answer with this usage.
    Answer(Usage),
    /// Fail (at `chat`, or when opening a stream).
    Fail(ModelError),
    /// Stream exactly these items.
    Items(Vec<Result<StreamEvent, ModelError>>),
}

/// A model that plays a script, then answers with its default usage.
pub struct Fake {
    caps: Capabilities,
    script: Mutex<VecDeque<Step>>,
    usage: Usage,
    calls: AtomicUsize,
    requests: Mutex<Vec<ChatRequest>>,
}

impl Fake {
    pub fn new(provider: &str, model: &str) -> Self {
        let mut caps = Capabilities::new(provider, model);
        caps.tools = true;
        caps.json_object = true;
        caps.streaming = true;
        Self {
            caps,
            script: Mutex::new(VecDeque::new()),
            usage: Usage {
                input_tokens: 1000,
                output_tokens: 100,
                ..Usage::default()
            },
            calls: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    pub fn no_tools(mut self) -> Self {
        self.caps.tools = false;
        self
    }

    pub fn no_json(mut self) -> Self {
        self.caps.json_object = false;
        self
    }

    pub fn context(mut self, window: u32) -> Self {
        self.caps.context_window = Some(window);
        self
    }

    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    pub fn then(self, step: Step) -> Self {
        self.script.lock().unwrap().push_back(step);
        self
    }

    pub fn fail(self, error: ModelError) -> Self {
        self.then(Step::Fail(error))
    }

    pub fn failing_times(self, n: usize, error: ModelError) -> Self {
        (0..n).fold(self, |f, _| f.fail(error.clone()))
    }

    pub fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().unwrap().clone()
    }

    fn next(&self, request: &ChatRequest) -> Step {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(request.clone());
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Answer(self.usage))
    }

    fn answer(&self, usage: Usage) -> ChatResponse {
        answer(&self.caps.model, usage)
    }
}

pub fn answer(model: &str, usage: Usage) -> ChatResponse {
    ChatResponse {
        message: Message::assistant(format!("answer from {model}")),
        finish_reason: FinishReason::Stop,
        usage,
        model: model.to_owned(),
    }
}

impl Model for Fake {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        let step = self.next(request);
        Box::pin(async move {
            match step {
                Step::Answer(u) => Ok(self.answer(u)),
                Step::Fail(e) => Err(e),
                Step::Items(items) => collect_stream(stream_of(items)).await,
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        let step = self.next(request);
        Box::pin(async move {
            match step {
                Step::Answer(u) => Ok(stream_of(
                    events_from_response(&self.answer(u))
                        .into_iter()
                        .map(Ok)
                        .collect(),
                )),
                Step::Fail(e) => Err(e),
                Step::Items(items) => Ok(stream_of(items)),
            }
        })
    }
}

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
