//! The imported chat model (`weft:plugins/model`).
//!
//! The host binds the import to a provider, a local model or a model plugin
//! chosen by configuration, so code written against [`Model`] runs unchanged
//! against any of them.

use crate::bindings::weft::plugins::model as raw;
use crate::{Capabilities, ChatRequest, ChatResponse, ModelError, StreamEvent};

pub use raw::ResponseStream as RawResponseStream;

/// Handle to the imported model. It is a zero-sized value: write
/// `Model.chat(&request)` or keep one in a struct.
#[derive(Debug, Clone, Copy, Default)]
pub struct Model;

impl Model {
    /// Generates a complete answer.
    pub fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        raw::chat(request)
    }

    /// Starts a streamed answer; iterate the returned [`ChatStream`] for
    /// events. The last event is [`StreamEvent::Done`] with the whole answer.
    pub fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, ModelError> {
        raw::chat_stream(request).map(ChatStream::new)
    }

    /// What the bound model can do.
    pub fn capabilities(&self) -> Capabilities {
        raw::capabilities()
    }
}

/// A streamed answer: an iterator of events that ends after
/// [`StreamEvent::Done`] or after the first error.
#[derive(Debug)]
pub struct ChatStream {
    inner: Option<raw::ResponseStream>,
}

impl ChatStream {
    /// Wraps a raw stream resource.
    pub fn new(stream: raw::ResponseStream) -> Self {
        Self {
            inner: Some(stream),
        }
    }

    /// Drains the stream and returns the final response (the `done`
    /// event), calling `on_event` for every event before it.
    pub fn finish_with(
        mut self,
        mut on_event: impl FnMut(&StreamEvent),
    ) -> Result<ChatResponse, ModelError> {
        for event in self.by_ref() {
            match event? {
                StreamEvent::Done(response) => return Ok(response),
                other => on_event(&other),
            }
        }
        Err(ModelError::Transport(
            "the model's stream ended without a `done` event".to_string(),
        ))
    }

    /// Drains the stream and returns the final response.
    pub fn finish(self) -> Result<ChatResponse, ModelError> {
        self.finish_with(|_| {})
    }
}

impl Iterator for ChatStream {
    type Item = Result<StreamEvent, ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = self.inner.as_ref()?;
        match stream.next() {
            Ok(Some(event)) => {
                if matches!(event, StreamEvent::Done(_)) {
                    self.inner = None;
                }
                Some(Ok(event))
            }
            Ok(None) => {
                self.inner = None;
                None
            }
            Err(e) => {
                self.inner = None;
                Some(Err(e))
            }
        }
    }
}
