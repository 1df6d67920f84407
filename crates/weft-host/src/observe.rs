//! What the host tells its embedder while a run goes on, and the hooks an
//! embedder plugs in: an [`Observer`] for events, an [`Approver`] for human
//! approval, a [`Clock`] for time.

use std::sync::Mutex;
use std::time::Duration;

/// Severity of a guest log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A component logged a line.
    Log {
        /// The component.
        component: String,
        /// Severity.
        level: LogLevel,
        /// The line.
        message: String,
    },
    /// A model call finished.
    ModelCall {
        /// The component that called (the agent or a model plugin).
        component: String,
        /// The model that answered.
        model: String,
        /// Whether it streamed.
        streamed: bool,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Its cost in USD, as its metered model charged it, when the model
        /// is priced (and the call is billed here rather than inside a
        /// model plugin).
        cost_usd: Option<f64>,
        /// How long it took.
        #[serde(with = "millis")]
        duration: Duration,
        /// The error, if it failed.
        error: Option<String>,
    },
    /// Streamed answer text, as it arrives.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A tool call finished.
    ToolCall {
        /// The calling agent.
        component: String,
        /// The tool.
        tool: String,
        /// The arguments (JSON).
        arguments: String,
        /// How long it took.
        #[serde(with = "millis")]
        duration: Duration,
        /// The error, if it failed.
        error: Option<String>,
    },
    /// The policy refused something.
    Denied {
        /// The component.
        component: String,
        /// What and why.
        reason: String,
    },
    /// A component trapped or hit a limit; its instance was discarded.
    Crashed {
        /// The component.
        component: String,
        /// What happened.
        reason: String,
    },
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

/// Receives run events. Implementations must be cheap: they run inline.
pub trait Observer: Send + Sync {
    /// Called for each event.
    fn event(&self, event: &Event);

    /// Whether [`Observer::event`] does anything; when `false`, the host may
    /// skip building events on hot paths (tool calls). Defaults to `true`.
    fn wants_events(&self) -> bool {
        true
    }
}

/// Ignores every event (tracing still logs them).
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn event(&self, _event: &Event) {}

    fn wants_events(&self) -> bool {
        false
    }
}

/// Keeps events in memory, for tests and transcripts, up to a bound: the
/// first [`RecordingObserver::DEFAULT_MAX_EVENTS`] events (or as many as
/// [`RecordingObserver::bounded`] says) and
/// [`RecordingObserver::DEFAULT_MAX_BYTES`] of their text; later ones are
/// counted in [`RecordingObserver::dropped`], not kept. Consecutive text
/// deltas are merged into one event.
#[derive(Debug)]
pub struct RecordingObserver {
    max_events: usize,
    max_bytes: usize,
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    events: Vec<Event>,
    bytes: usize,
    dropped: u64,
}

impl Default for RecordingObserver {
    fn default() -> Self {
        Self::bounded(Self::DEFAULT_MAX_EVENTS, Self::DEFAULT_MAX_BYTES)
    }
}

impl RecordingObserver {
    /// Events kept by default.
    pub const DEFAULT_MAX_EVENTS: usize = 100_000;
    /// Bytes of event text kept by default.
    pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

    /// A recorder that keeps at most `max_events` events and `max_bytes`
    /// bytes of their text.
    pub fn bounded(max_events: usize, max_bytes: usize) -> Self {
        RecordingObserver {
            max_events,
            max_bytes,
            inner: Mutex::new(Recorded::default()),
        }
    }

    /// A copy of the events kept so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// How many events were not kept because the bound was reached.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Event {
    /// Roughly how many bytes of text the event holds.
    fn text_len(&self) -> usize {
        match self {
            Event::Log {
                component, message, ..
            } => component.len() + message.len(),
            Event::ModelCall {
                component,
                model,
                error,
                ..
            } => component.len() + model.len() + error.as_ref().map_or(0, String::len),
            Event::TextDelta { text } => text.len(),
            Event::ToolCall {
                component,
                tool,
                arguments,
                error,
                ..
            } => {
                component.len()
                    + tool.len()
                    + arguments.len()
                    + error.as_ref().map_or(0, String::len)
            }
            Event::Denied { component, reason } | Event::Crashed { component, reason } => {
                component.len() + reason.len()
            }
        }
    }
}

impl Observer for RecordingObserver {
    fn event(&self, event: &Event) {
        let mut kept = self.lock();
        let len = event.text_len();
        if kept.bytes + len > self.max_bytes {
            kept.dropped += 1;
            return;
        }
        if let (Event::TextDelta { text }, Some(Event::TextDelta { text: last })) =
            (event, kept.events.last_mut())
        {
            last.push_str(text);
            kept.bytes += len;
            return;
        }
        if kept.events.len() >= self.max_events {
            kept.dropped += 1;
            return;
        }
        kept.bytes += len;
        kept.events.push(event.clone());
    }
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// Decides whether a tool call that needs approval may run.
pub trait Approver: Send + Sync {
    /// `component` asks to run `tool` with `arguments` because of `reason`.
    fn approve(&self, component: &str, tool: &str, arguments: &str, reason: &str) -> bool;
}

/// Approves or declines everything.
#[derive(Debug, Clone, Copy)]
pub struct FixedApprover(pub bool);

impl Approver for FixedApprover {
    fn approve(&self, _: &str, _: &str, _: &str, _: &str) -> bool {
        self.0
    }
}

/// The host's notion of "now".
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock stopped at one instant, for deterministic replays.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}
