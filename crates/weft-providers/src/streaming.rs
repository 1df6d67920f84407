//! The generic Server-Sent Events driver: body chunks → SSE events →
//! a provider's [`StreamDecoder`] → [`StreamEvent`]s.
//!
//! It guarantees the stream contract for every provider: events in order,
//! exactly one `Done` at the end or one error item, and a clear
//! [`ModelError::Transport`] (never a hang or a silent end) when the
//! connection closes before the provider said the answer was complete.

use std::collections::VecDeque;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use weft_model::model::{EventStream, MaybeSend};
use weft_model::sse::{SseEvent, SseParser};
use weft_model::types::{ModelError, StreamEvent};

use crate::de::from_str_lenient;
use crate::http_error::truncate;
use crate::transport::ByteStream;

/// What the driver should do after one SSE event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// The provider marked the end (`[DONE]`, `message_stop`).
    End,
}

/// One data frame, as a decoder sees it next to its parsed chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    /// The SSE `event:` name, if the frame has one.
    pub event: Option<&'a str>,
    /// The `data:` text, trimmed (what an inline error is classified from).
    pub data: &'a str,
}

/// A provider's stream decoder.
///
/// The part every provider shares is [`StreamDecoder::handle`]: an empty
/// data frame is skipped, the provider's end marker (`[DONE]`) ends the
/// stream, anything else must be JSON (an error naming the provider and
/// quoting the frame otherwise) and is read leniently into the provider's
/// chunk type. The decoder only maps chunks.
pub(crate) trait StreamDecoder: MaybeSend + 'static {
    /// One data frame's JSON.
    type Chunk: DeserializeOwned + Default;
    /// A data frame that ends the stream and is not JSON (`[DONE]`).
    const END_MARKER: Option<&'static str> = None;
    /// The provider's name, for messages.
    fn provider(&self) -> &str;
    /// Handles one parsed data frame, queueing the events it produced.
    fn chunk(
        &mut self,
        chunk: Self::Chunk,
        frame: &Frame<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError>;
    /// True once the provider reported why generation ended, so a close of
    /// the connection without an end marker still completes the answer.
    fn finished(&self) -> bool;
    /// Completes the answer: the remaining events, then `Done`.
    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ModelError>;

    /// Handles one SSE event: the shared JSON preamble, then
    /// [`StreamDecoder::chunk`].
    fn handle(
        &mut self,
        event: &SseEvent,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<Flow, ModelError> {
        let data = event.data.trim();
        if Self::END_MARKER == Some(data) {
            return Ok(Flow::End);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk = from_str_lenient(data).map_err(|e| {
            ModelError::Transport(format!(
                "{}: invalid stream chunk ({e}): {}",
                self.provider(),
                truncate(data, 500)
            ))
        })?;
        let frame = Frame {
            event: event.event.as_deref(),
            data,
        };
        self.chunk(chunk, &frame, out)
    }
}

struct Driver<D> {
    body: ByteStream,
    parser: SseParser,
    decoder: Option<D>,
    queue: VecDeque<StreamEvent>,
    error: Option<ModelError>,
    received: usize,
}

impl<D: StreamDecoder> Driver<D> {
    /// Feeds SSE events to the decoder; `true` once the stream is over.
    fn process(&mut self, events: Vec<SseEvent>) -> bool {
        for event in events {
            let Some(decoder) = self.decoder.as_mut() else {
                return true;
            };
            match decoder.handle(&event, &mut self.queue) {
                Ok(Flow::Continue) => {}
                Ok(Flow::End) => {
                    self.end();
                    return true;
                }
                Err(e) => {
                    self.decoder = None;
                    self.error = Some(e);
                    return true;
                }
            }
        }
        false
    }

    fn end(&mut self) {
        if let Some(mut decoder) = self.decoder.take()
            && let Err(e) = decoder.finish(&mut self.queue)
        {
            self.error = Some(e);
        }
    }

    async fn next(&mut self) -> Option<Result<StreamEvent, ModelError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            self.decoder.as_ref()?;
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    self.received += bytes.len();
                    let events = self.parser.feed(&bytes);
                    self.process(events);
                }
                Some(Err(e)) => {
                    let provider = self.decoder.as_ref().map(|d| d.provider().to_owned());
                    self.decoder = None;
                    self.error = Some(match (e, provider) {
                        (ModelError::Transport(m), Some(p)) => ModelError::Transport(format!(
                            "{p}: stream truncated: the connection broke after {} bytes: {m}",
                            self.received
                        )),
                        (e, _) => e,
                    });
                }
                None => {
                    let last: Vec<SseEvent> = self.parser.finish().into_iter().collect();
                    if self.process(last) {
                        continue;
                    }
                    match self.decoder.as_ref() {
                        Some(d) if d.finished() => self.end(),
                        Some(d) => {
                            self.error = Some(ModelError::Transport(format!(
                                "{}: stream truncated: the connection closed after {} bytes before the answer was complete",
                                d.provider(),
                                self.received
                            )));
                            self.decoder = None;
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// Turns a streamed body into an [`EventStream`] decoded by `decoder`.
pub(crate) fn event_stream<D: StreamDecoder>(body: ByteStream, decoder: D) -> EventStream {
    let driver = Driver {
        body,
        parser: SseParser::new(),
        decoder: Some(decoder),
        queue: VecDeque::new(),
        error: None,
        received: 0,
    };
    Box::pin(futures::stream::unfold(driver, |mut d| async move {
        let item = d.next().await?;
        Some((item, d))
    }))
}
