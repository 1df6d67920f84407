//! A scripted fake [`Model`] for tests.
//!
//! [`ScriptedModel`] plays a script of [`Step`]s (answers, raw stream items,
//! failures), one per call, streamed or not; once the script is used up it
//! does what its [`AfterScript`] says. It counts its calls, keeps the
//! requests it received, and can hold calls at a gate, answer slowly, or
//! stream without end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use weft_model::{
    BoxFuture, Capabilities, ChatRequest, ChatResponse, EventStream, FinishReason, Message, Model,
    ModelError, StreamEvent, Usage, collect_stream, events_from_response, stream_of,
};

/// One scripted outcome of a call.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this (streamed: its events, as `events_from_response`).
    Reply(ChatResponse),
    /// Stream exactly these items (unstreamed: collect them).
    Items(Vec<Result<StreamEvent, ModelError>>),
    /// Fail (at `chat`, or when opening a stream).
    Fail(ModelError),
}

/// What a [`ScriptedModel`] does once its script is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterScript {
    /// Gives its default answer, every time (see [`ScriptedModel::answering`]).
    Answer,
    /// Fails with a `500` provider error saying the script is used up.
    Fail,
    /// Starts its script over, and keeps no requests (for benchmarks).
    Cycle,
}

/// A model that plays a script; see the [module docs](self).
pub struct ScriptedModel {
    caps: Capabilities,
    script: Mutex<VecDeque<Step>>,
    default_answer: ChatResponse,
    after_script: AfterScript,
    gate: Option<Arc<Semaphore>>,
    delay: Duration,
    endless_streams: bool,
    calls: AtomicUsize,
    requests: Mutex<Vec<ChatRequest>>,
}

/// Locks `mutex`, whether or not a panicking test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An assistant text answer `answer from {model}` with this usage.
pub fn answer_from(model: &str, usage: Usage) -> ChatResponse {
    ChatResponse {
        message: Message::assistant(format!("answer from {model}")),
        finish_reason: FinishReason::Stop,
        usage,
        model: model.to_owned(),
    }
}

impl ScriptedModel {
    /// A model `provider`/`model` that takes tools, JSON output and streams,
    /// with an empty script; it answers `answer from {model}` (1000 tokens
    /// in, 100 out) once the script is used up.
    pub fn new(provider: &str, model: &str) -> Self {
        let mut caps = Capabilities::new(provider, model);
        caps.tools = true;
        caps.json_object = true;
        caps.streaming = true;
        let usage = Usage {
            input_tokens: 1000,
            output_tokens: 100,
            ..Usage::default()
        };
        ScriptedModel {
            caps,
            script: Mutex::new(VecDeque::new()),
            default_answer: answer_from(model, usage),
            after_script: AfterScript::Answer,
            gate: None,
            delay: Duration::ZERO,
            endless_streams: false,
            calls: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Without tools.
    pub fn no_tools(mut self) -> Self {
        self.caps.tools = false;
        self
    }

    /// Without JSON output.
    pub fn no_json(mut self) -> Self {
        self.caps.json_object = false;
        self
    }

    /// With this context window.
    pub fn context(mut self, window: u32) -> Self {
        self.caps.context_window = Some(window);
        self
    }

    /// With its capabilities changed by `change`.
    pub fn with_capabilities(mut self, change: impl FnOnce(&mut Capabilities)) -> Self {
        change(&mut self.caps);
        self
    }

    /// With this usage in its default answer.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.default_answer.usage = usage;
        self
    }

    /// With this default answer, given once the script is used up under
    /// [`AfterScript::Answer`].
    pub fn answering(mut self, answer: ChatResponse) -> Self {
        self.default_answer = answer;
        self
    }

    /// Doing `after` once the script is used up.
    pub fn after_script(mut self, after: AfterScript) -> Self {
        self.after_script = after;
        self
    }

    /// With `step` added to the script.
    pub fn then(self, step: Step) -> Self {
        lock(&self.script).push_back(step);
        self
    }

    /// With these steps added to the script.
    pub fn steps(self, steps: impl IntoIterator<Item = Step>) -> Self {
        lock(&self.script).extend(steps);
        self
    }

    /// With these answers added to the script.
    pub fn replies(self, answers: impl IntoIterator<Item = ChatResponse>) -> Self {
        self.steps(answers.into_iter().map(Step::Reply))
    }

    /// With a failure added to the script.
    pub fn fail(self, error: ModelError) -> Self {
        self.then(Step::Fail(error))
    }

    /// With `n` failures added to the script.
    pub fn failing_times(self, n: usize, error: ModelError) -> Self {
        (0..n).fold(self, |f, _| f.fail(error.clone()))
    }

    /// Each call (streamed or not) waits for one permit of `gate` first.
    pub fn gated(mut self, gate: Arc<Semaphore>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Each call (streamed or not) takes `delay` before its step plays out.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Streamed answers never end: 64 KiB text deltas as fast as they are
    /// taken, whatever the script says.
    pub fn endless_streams(mut self) -> Self {
        self.endless_streams = true;
        self
    }

    /// Shared.
    pub fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// The calls so far, streamed or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The requests received so far (none under [`AfterScript::Cycle`]).
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.requests).clone()
    }

    /// Waits (up to 10 s, or panics) until `n` calls have reached the model.
    pub async fn wait_for_calls(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.calls() < n {
            assert!(Instant::now() < deadline, "only {} calls", self.calls());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Counts and records a call and takes its step.
    fn next(&self, request: &ChatRequest) -> Step {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut script = lock(&self.script);
        let next = script.pop_front();
        match self.after_script {
            AfterScript::Cycle => {
                if let Some(step) = &next {
                    script.push_back(step.clone());
                }
            }
            AfterScript::Answer | AfterScript::Fail => lock(&self.requests).push(request.clone()),
        }
        next.unwrap_or_else(|| match self.after_script {
            AfterScript::Answer => Step::Reply(self.default_answer.clone()),
            AfterScript::Fail | AfterScript::Cycle => Step::Fail(ModelError::Provider {
                status: 500,
                body: "the script has no more steps".into(),
            }),
        })
    }

    /// Waits at the gate, if there is one, then for the delay.
    async fn pass_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

impl Model for ScriptedModel {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
        let step = self.next(request);
        Box::pin(async move {
            self.pass_gate().await;
            match step {
                Step::Reply(r) => Ok(r),
                Step::Items(items) => collect_stream(stream_of(items)).await,
                Step::Fail(e) => Err(e),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
        let step = self.next(request);
        Box::pin(async move {
            self.pass_gate().await;
            if self.endless_streams {
                let delta = "x".repeat(64 * 1024);
                let stream =
                    futures::stream::repeat_with(move || Ok(StreamEvent::TextDelta(delta.clone())));
                return Ok(Box::pin(stream) as EventStream);
            }
            match step {
                Step::Reply(r) => Ok(stream_of(
                    events_from_response(&r).into_iter().map(Ok).collect(),
                )),
                Step::Items(items) => Ok(stream_of(items)),
                Step::Fail(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use futures::executor::block_on;

    fn hi() -> ChatRequest {
        ChatRequest::new(vec![Message::user("hi")])
    }

    #[test]
    fn plays_its_script_then_its_default_answer() {
        let model = ScriptedModel::new("p", "m")
            .fail(ModelError::Overloaded("busy".into()))
            .then(Step::Items(vec![Ok(StreamEvent::TextDelta("x".into()))]));
        assert!(matches!(
            block_on(model.chat(&hi())),
            Err(ModelError::Overloaded(_))
        ));
        let items: Vec<_> = block_on(block_on(model.chat_stream(&hi())).unwrap().collect());
        assert_eq!(items.len(), 1);
        let answer = block_on(model.chat(&hi())).unwrap();
        assert_eq!(answer.message.text(), "answer from m");
        assert_eq!(answer.usage.input_tokens, 1000);
        assert_eq!((model.calls(), model.requests().len()), (3, 3));
    }

    #[test]
    fn fails_or_cycles_after_its_script_as_told() {
        let reply = answer_from("m", Usage::default());
        let failing = ScriptedModel::new("p", "m")
            .after_script(AfterScript::Fail)
            .replies([reply.clone()]);
        assert!(block_on(failing.chat(&hi())).is_ok());
        assert!(matches!(
            block_on(failing.chat(&hi())),
            Err(ModelError::Provider { status: 500, .. })
        ));
        let cycling = ScriptedModel::new("p", "m")
            .after_script(AfterScript::Cycle)
            .replies([reply]);
        for _ in 0..3 {
            assert!(block_on(cycling.chat(&hi())).is_ok());
        }
        assert!(cycling.requests().is_empty(), "no history when cycling");
    }
}
