//! The host side of the `response-stream` resource: a model's streamed
//! answer as a guest reads it, with what its final report needs.

use std::time::Instant;
use weft_model as m;

/// A stream handed to a guest through the `response-stream` resource.
pub struct HostStream {
    /// The model's events.
    pub(crate) events: m::EventStream,
    /// When the call started.
    pub(crate) started: Instant,
    /// The model's name, for reports before its final response.
    pub(crate) model: String,
    /// Whether the final response (or an error) was handed over.
    pub(crate) finished: bool,
}
