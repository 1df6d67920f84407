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
        /// Its cost in USD from the price catalog, when the model is priced
        /// (and the call is billed here rather than inside a model plugin).
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

/// Keeps every event in memory, for tests and transcripts.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    events: Mutex<Vec<Event>>,
}

impl RecordingObserver {
    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Observer for RecordingObserver {
    fn event(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
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
