//! The call loop shared by [`Resilient`](crate::Resilient) and
//! [`Router`](crate::Router): retries, fallback, breakers, spans, and a
//! stream wrapper that settles costs when the stream ends.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use tracing::{Instrument, Span};
use weft_model::{
    BoxFuture, ChatRequest, ChatResponse, ErrorKind, EventStream, Model, ModelError, StreamEvent,
    Usage,
};

use crate::cost::{Cost, PriceCatalog};
use crate::decision::{Attempt, AttemptOutcome};
use crate::retry::{Breakers, RetryPolicy};
use crate::telemetry::{CallInfo, call_span, record_error, record_response, redact};
use crate::time::{Clock, Sleeper, unix_millis};

/// One model the engine may call.
pub(crate) struct Target {
    /// The name records and spans use.
    pub name: String,
    /// The provider (the breaker key).
    pub provider: String,
    /// The provider's model name, for spans.
    pub model_id: String,
    /// The model.
    pub model: Arc<dyn Model>,
    /// The price catalog key.
    pub price: Option<String>,
    /// Free when the catalog has no price.
    pub local: bool,
    /// The context window, if known.
    pub context_window: Option<u32>,
}

/// The retry/fallback machinery with its policies.
pub(crate) struct Engine {
    pub retry: RetryPolicy,
    pub breakers: Arc<Breakers>,
    pub fallback_on: Vec<ErrorKind>,
    pub clock: Arc<dyn Clock>,
    pub sleeper: Arc<dyn Sleeper>,
    pub catalog: Option<Arc<PriceCatalog>>,
    rng: Mutex<u64>,
}

/// A successful `chat` through the engine.
pub(crate) struct ChatWon {
    pub response: ChatResponse,
    pub index: usize,
    pub cost: Option<Cost>,
}

/// A stream whose first event has arrived.
pub(crate) struct Opened {
    pub first: StreamEvent,
    pub rest: EventStream,
    pub span: Span,
    pub target: Arc<Target>,
}

/// How a tracked stream ended.
#[derive(Default)]
pub(crate) struct StreamResult {
    pub usage: Option<Usage>,
    pub cost: Option<Cost>,
    pub error: Option<ModelError>,
    pub completed: bool,
}

/// Called once when a tracked stream ends (or is dropped).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type AfterFn = Box<dyn FnOnce(StreamResult) + Send>;
/// Called once when a tracked stream ends (or is dropped).
#[cfg(target_arch = "wasm32")]
pub(crate) type AfterFn = Box<dyn FnOnce(StreamResult)>;

enum StreamEnd<'r> {
    Done(&'r ChatResponse),
    Failed(&'r ModelError),
    Incomplete,
}

#[cfg(not(target_arch = "wasm32"))]
type FinishFn = Box<dyn for<'r> FnOnce(StreamEnd<'r>) + Send>;
#[cfg(target_arch = "wasm32")]
type FinishFn = Box<dyn for<'r> FnOnce(StreamEnd<'r>)>;

impl Engine {
    pub fn new(
        retry: RetryPolicy,
        breakers: Arc<Breakers>,
        fallback_on: Vec<ErrorKind>,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
        catalog: Option<Arc<PriceCatalog>>,
        seed: Option<u64>,
    ) -> Self {
        let seed = seed.unwrap_or_else(|| {
            clock
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x5eed)
        });
        Self {
            retry,
            breakers,
            fallback_on,
            clock,
            sleeper,
            catalog,
            rng: Mutex::new(seed),
        }
    }

    /// A random number in `[0, 1)` (SplitMix64).
    fn unit(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The cost of `usage` on `target` at `at`: from the catalog, zero for a
    /// local model without a price, unknown otherwise.
    pub fn price(&self, target: &Target, usage: &Usage, at: SystemTime) -> Option<Cost> {
        if let (Some(catalog), Some(key)) = (&self.catalog, &target.price)
            && let Ok(cost) = catalog.cost(usage, key, at)
        {
            return Some(cost);
        }
        target.local.then(Cost::zero)
    }

    /// Tries `targets` in order with retries; `call` makes one attempt.
    async fn run<'a, T, F>(
        &'a self,
        targets: &'a [Arc<Target>],
        request: &'a ChatRequest,
        stream: bool,
        attempts: &mut Vec<Attempt>,
        call: F,
    ) -> Result<(T, usize, Span), ModelError>
    where
        F: Fn(Arc<Target>) -> BoxFuture<'a, Result<T, ModelError>>,
    {
        // The last real error, and the context window of the model that gave
        // it (to skip models no larger after `context_too_long`).
        let mut last: Option<(ModelError, Option<u32>)> = None;
        for (index, target) in targets.iter().enumerate() {
            if let Some((ModelError::ContextTooLong(_), Some(failed))) = &last
                && target.context_window.is_some_and(|w| w <= *failed)
            {
                attempts.push(Attempt::skipped(
                    target,
                    format!("its context window is not larger than {failed} tokens"),
                ));
                continue;
            }
            let now = self.clock.now();
            if let Some(until) = self.breakers.open_until(&target.provider, now) {
                let ms = until.duration_since(now).unwrap_or_default().as_millis();
                attempts.push(Attempt::skipped(
                    target,
                    format!(
                        "provider `{}` is cooling down for {ms} ms more",
                        target.provider
                    ),
                ));
                continue;
            }
            let info = CallInfo {
                name: &target.name,
                provider: &target.provider,
                model: &target.model_id,
            };
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let span = call_span(&info, request, attempt, stream);
                let result = call(target.clone()).instrument(span.clone()).await;
                let error = match result {
                    Ok(value) => {
                        self.breakers.record_success(&target.provider);
                        attempts.push(Attempt {
                            model: target.name.clone(),
                            provider: target.provider.clone(),
                            attempt,
                            outcome: AttemptOutcome::Ok,
                            retry_in_ms: None,
                        });
                        return Ok((value, index, span));
                    }
                    Err(error) => error,
                };
                record_error(&span, &error);
                let kind = error.kind();
                let now = self.clock.now();
                let mut retry_in: Option<Duration> = None;
                if kind.is_retryable() {
                    self.breakers.record_failure(&target.provider, now);
                    match error.retry_after() {
                        Some(wait) if wait > self.retry.max_retry_after => {
                            // Too long to wait here: honour it by cooling the
                            // provider down, and move on.
                            self.breakers.trip(&target.provider, now + wait);
                        }
                        wait => {
                            if attempt < self.retry.max_attempts
                                && self.breakers.open_until(&target.provider, now).is_none()
                            {
                                let backoff = self.retry.backoff(attempt, self.unit());
                                retry_in = Some(wait.map_or(backoff, |w| w.max(backoff)));
                            }
                        }
                    }
                }
                attempts.push(Attempt {
                    model: target.name.clone(),
                    provider: target.provider.clone(),
                    attempt,
                    outcome: AttemptOutcome::Failed {
                        kind,
                        message: redact(&error.to_string()),
                    },
                    retry_in_ms: retry_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                });
                if let Some(wait) = retry_in {
                    self.sleeper.sleep(wait).await;
                    continue;
                }
                let fall_back = self.fallback_on.contains(&kind);
                if !fall_back {
                    return Err(error);
                }
                last = Some((error, target.context_window));
                break;
            }
        }
        Err(match last {
            Some((error, _)) => error,
            None => ModelError::Overloaded(
                "no model could be tried: every provider in the chain is cooling down".into(),
            ),
        })
    }

    /// A complete answer from the first model of `targets` that gives one.
    pub async fn chat<'a>(
        &'a self,
        targets: &'a [Arc<Target>],
        request: &'a ChatRequest,
        attempts: &mut Vec<Attempt>,
    ) -> Result<ChatWon, ModelError> {
        let (response, index, span) = self
            .run(targets, request, false, attempts, |t: Arc<Target>| {
                Box::pin(async move { t.model.chat(request).await })
            })
            .await?;
        let cost = self.price(&targets[index], &response.usage, self.clock.now());
        record_response(&span, &response, cost.as_ref());
        Ok(ChatWon {
            response,
            index,
            cost,
        })
    }

    /// Opens a stream on the first model of `targets` that delivers a first
    /// event; errors before it are retried and fall back like `chat`.
    pub async fn open_stream<'a>(
        &'a self,
        targets: &'a [Arc<Target>],
        request: &'a ChatRequest,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Opened, ModelError> {
        let ((first, rest), index, span) = self
            .run(targets, request, true, attempts, |t: Arc<Target>| {
                Box::pin(async move {
                    let mut stream = t.model.chat_stream(request).await?;
                    match stream.next().await {
                        Some(Ok(event)) => Ok((event, stream)),
                        Some(Err(error)) => Err(error),
                        None => Err(ModelError::Transport(
                            "the stream ended before its first event".into(),
                        )),
                    }
                })
            })
            .await?;
        Ok(Opened {
            first,
            rest,
            span,
            target: targets[index].clone(),
        })
    }

    /// Wraps an opened stream: it yields the first event and then the rest,
    /// records usage and cost on the call's span when `done` arrives, and
    /// calls `after` once when the stream ends or is dropped.
    pub fn track(self: Arc<Self>, opened: Opened, after: Option<AfterFn>) -> EventStream {
        let Opened {
            first,
            rest,
            span,
            target,
            ..
        } = opened;
        let settle_span = span.clone();
        let finish: FinishFn = Box::new(move |end: StreamEnd<'_>| {
            let result = self.settle(&target, &settle_span, end);
            if let Some(after) = after {
                after(result);
            }
        });
        Box::pin(Tracked {
            first: Some(first),
            rest,
            span,
            finish: Some(finish),
        })
    }

    fn settle(&self, target: &Target, span: &Span, end: StreamEnd<'_>) -> StreamResult {
        match end {
            StreamEnd::Done(response) => {
                let cost = self.price(target, &response.usage, self.clock.now());
                record_response(span, response, cost.as_ref());
                StreamResult {
                    usage: Some(response.usage),
                    cost,
                    error: None,
                    completed: true,
                }
            }
            StreamEnd::Failed(error) => {
                record_error(span, error);
                if error.kind().is_retryable() {
                    self.breakers
                        .record_failure(&target.provider, self.clock.now());
                }
                StreamResult {
                    error: Some(error.clone()),
                    ..StreamResult::default()
                }
            }
            StreamEnd::Incomplete => StreamResult::default(),
        }
    }
}

impl Attempt {
    fn skipped(target: &Target, reason: String) -> Self {
        Attempt {
            model: target.name.clone(),
            provider: target.provider.clone(),
            attempt: 0,
            outcome: AttemptOutcome::Skipped { reason },
            retry_in_ms: None,
        }
    }
}

/// Milliseconds since the epoch of the engine's clock.
pub(crate) fn now_ms(clock: &dyn Clock) -> u64 {
    unix_millis(clock.now())
}

struct Tracked {
    first: Option<StreamEvent>,
    rest: EventStream,
    span: Span,
    finish: Option<FinishFn>,
}

impl Tracked {
    fn end(&mut self, end: StreamEnd<'_>) {
        if let Some(finish) = self.finish.take() {
            finish(end);
        }
    }
}

impl Stream for Tracked {
    type Item = Result<StreamEvent, ModelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finish.is_none() {
            // Ended: `done`, an error, or the end of the inner stream.
            return Poll::Ready(None);
        }
        let item = match this.first.take() {
            Some(event) => Some(Ok(event)),
            None => {
                let _entered = this.span.enter();
                match this.rest.as_mut().poll_next(cx) {
                    Poll::Ready(item) => item,
                    Poll::Pending => return Poll::Pending,
                }
            }
        };
        match &item {
            Some(Ok(StreamEvent::Done(response))) => this.end(StreamEnd::Done(response)),
            Some(Err(error)) => this.end(StreamEnd::Failed(error)),
            Some(Ok(_)) => {}
            None => {
                let error =
                    ModelError::Transport("the stream ended without a final `done` event".into());
                this.end(StreamEnd::Failed(&error));
                return Poll::Ready(Some(Err(error)));
            }
        }
        Poll::Ready(item)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.end(StreamEnd::Incomplete);
    }
}
