//! The [`Model`] trait every backend implements, and stream helpers.
//!
//! On native targets futures and streams are `Send` so a multi-threaded
//! runtime can drive them; on `wasm32` (where `reqwest`'s futures are not
//! `Send`) the bounds disappear. [`MaybeSend`], [`MaybeSync`],
//! [`BoxFuture`], [`BoxStream`] and [`EventStream`] encode that difference.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};

use crate::types::{Capabilities, ChatRequest, ChatResponse, ModelError, Part, StreamEvent};

/// `Send` on native targets; no bound on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on native targets; no bound on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets; no bound on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// `Sync` on native targets; no bound on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future, `Send` on native targets.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future, `Send` on native targets.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A boxed stream, `Send` on native targets.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;
/// A boxed stream, `Send` on native targets.
#[cfg(target_arch = "wasm32")]
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + 'a>>;

/// A streamed answer: see [`Model::chat_stream`] for the contract.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ModelError>>;

/// A chat model: a remote provider, a local model, a recording, a router.
///
/// # Stream contract
///
/// The stream returned by [`Model::chat_stream`] yields
/// [`StreamEvent::TextDelta`] and [`StreamEvent::ReasoningDelta`] as the
/// answer arrives, a [`StreamEvent::ToolCall`] only once that call is
/// complete with valid JSON arguments, then exactly one
/// [`StreamEvent::Done`] holding the whole assembled answer (identical to
/// what [`Model::chat`] returns for the same provider output), and then ends.
/// An error item also ends the stream. Use [`collect_stream`] to turn a
/// stream back into a [`ChatResponse`], and [`stream_from_chat`] for
/// backends that cannot stream.
pub trait Model: MaybeSend + MaybeSync {
    /// What this model can do.
    fn capabilities(&self) -> Capabilities;

    /// Generates a complete answer.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ModelError>>;

    /// Starts a streamed answer.
    fn chat_stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ModelError>>;
}

macro_rules! forward_model {
    ($($ty:ty),*) => {$(
        impl<M: Model + ?Sized> Model for $ty {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            fn chat<'a>(
                &'a self,
                request: &'a ChatRequest,
            ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
                (**self).chat(request)
            }
            fn chat_stream<'a>(
                &'a self,
                request: &'a ChatRequest,
            ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
                (**self).chat_stream(request)
            }
        }
    )*};
}

forward_model!(Box<M>, Arc<M>, &M);

/// Drains a stream into the answer its [`StreamEvent::Done`] event carries.
///
/// Returns the first error item, or a [`ModelError::Transport`] error when the
/// stream ends without `Done`. Events after `Done` are not read.
pub async fn collect_stream(mut stream: EventStream) -> Result<ChatResponse, ModelError> {
    while let Some(item) = stream.next().await {
        if let StreamEvent::Done(response) = item? {
            return Ok(response);
        }
    }
    Err(ModelError::Transport(
        "the stream ended without a final `done` event".into(),
    ))
}

/// Runs `model.chat_stream(request)` and collects the result with
/// [`collect_stream`]: a `chat` for backends that only stream.
pub fn chat_via_stream<'a, M: Model + ?Sized>(
    model: &'a M,
    request: &'a ChatRequest,
) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
    Box::pin(async move { collect_stream(model.chat_stream(request).await?).await })
}

/// The events a stream would have produced for a finished answer: reasoning
/// and text deltas and tool calls in the order of the message's parts, then
/// [`StreamEvent::Done`]. Parts that are neither (tool results, redacted
/// reasoning with no text) produce no delta.
pub fn events_from_response(response: &ChatResponse) -> Vec<StreamEvent> {
    let mut events = Vec::with_capacity(response.message.parts.len() + 1);
    for part in &response.message.parts {
        match part {
            Part::Text(t) if !t.is_empty() => events.push(StreamEvent::TextDelta(t.clone())),
            Part::Reasoning(r) if !r.text.is_empty() => {
                events.push(StreamEvent::ReasoningDelta(r.text.clone()))
            }
            Part::ToolCall(c) => events.push(StreamEvent::ToolCall(c.clone())),
            _ => {}
        }
    }
    events.push(StreamEvent::Done(response.clone()));
    events
}

/// An [`EventStream`] that yields `items` in order and ends.
pub fn stream_of(items: Vec<Result<StreamEvent, ModelError>>) -> EventStream {
    Box::pin(futures::stream::iter(items))
}

/// Runs `model.chat(request)` and replays the answer as a stream (see
/// [`events_from_response`]): a `chat_stream` for backends that cannot
/// stream.
pub fn stream_from_chat<'a, M: Model + ?Sized>(
    model: &'a M,
    request: &'a ChatRequest,
) -> BoxFuture<'a, Result<EventStream, ModelError>> {
    Box::pin(async move {
        let response = model.chat(request).await?;
        Ok(stream_of(
            events_from_response(&response)
                .into_iter()
                .map(Ok)
                .collect(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FinishReason, Message, Reasoning, Role, ToolCall, Usage};

    struct Fixed(ChatResponse);

    impl Model for Fixed {
        fn capabilities(&self) -> Capabilities {
            Capabilities::new("test", "fixed")
        }
        fn chat<'a>(
            &'a self,
            _request: &'a ChatRequest,
        ) -> BoxFuture<'a, Result<ChatResponse, ModelError>> {
            Box::pin(async move { Ok(self.0.clone()) })
        }
        fn chat_stream<'a>(
            &'a self,
            request: &'a ChatRequest,
        ) -> BoxFuture<'a, Result<EventStream, ModelError>> {
            stream_from_chat(self, request)
        }
    }

    #[test]
    fn stream_from_chat_roundtrips() {
        let response = ChatResponse {
            message: Message::new(
                Role::Assistant,
                vec![
                    Part::Reasoning(Reasoning {
                        text: "hm".into(),
                        ..Default::default()
                    }),
                    Part::Text("hello".into()),
                    Part::ToolCall(ToolCall::new("c", "f", "{}")),
                ],
            ),
            finish_reason: FinishReason::ToolCalls,
            usage: Usage::default(),
            model: "fixed".into(),
        };
        let model: Arc<dyn Model> = Arc::new(Fixed(response.clone()));
        let request = ChatRequest::new(vec![Message::user("hi")]);
        let got = futures::executor::block_on(chat_via_stream(&model, &request)).unwrap();
        assert_eq!(got, response);
        let events = events_from_response(&response);
        assert_eq!(events.len(), 4);
        assert!(matches!(events[0], StreamEvent::ReasoningDelta(_)));
        let err = futures::executor::block_on(collect_stream(stream_of(vec![Ok(
            StreamEvent::TextDelta("x".into()),
        )])))
        .unwrap_err();
        assert!(matches!(err, ModelError::Transport(_)));
    }
}
