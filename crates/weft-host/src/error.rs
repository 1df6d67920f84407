//! Errors the host reports to its embedder.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running components.
///
/// Each case names the file or component at fault, so a user can act on the
/// message alone.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    InvalidComponent {
        /// The file.
        path: PathBuf,
        /// What the validator said.
        reason: String,
    },
    /// A component targets a different world than the role it was given.
    #[error("{path} is not a Weft {expected}: {reason}")]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// The world that was expected (`agent`, `tool plugin`, `model plugin`).
        expected: &'static str,
        /// What is missing or extra.
        reason: String,
    },
    /// A configuration or policy file is malformed.
    #[error("invalid configuration in {path}: {reason}")]
    Config {
        /// The file (or `<inline>`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two tool plugins export a tool of the same name.
    #[error("tool `{tool}` is exported by both `{first}` and `{second}`; rename one")]
    DuplicateTool {
        /// The tool's name.
        tool: String,
        /// The first component exporting it.
        first: String,
        /// The second component exporting it.
        second: String,
    },
    /// A tool plugin published a tool spec the host cannot use.
    #[error("component `{component}` publishes an invalid tool `{tool}`: {reason}")]
    InvalidToolSpec {
        /// The component.
        component: String,
        /// The tool's name.
        tool: String,
        /// What is wrong (usually an invalid JSON Schema).
        reason: String,
    },
    /// A component trapped, ran out of time, fuel or memory while the host was
    /// setting it up.
    #[error("component `{component}` failed: {reason}")]
    Component {
        /// The component's name.
        component: String,
        /// What happened.
        reason: String,
    },
    /// An error from wasmtime that fits no other case.
    #[error("{context}: {source}")]
    Wasmtime {
        /// What the host was doing.
        context: String,
        /// wasmtime's error, with its cause chain.
        source: wasmtime::Error,
    },
}

impl From<weft_models::ModelsError> for HostError {
    fn from(e: weft_models::ModelsError) -> Self {
        match e {
            weft_models::ModelsError::Config { path, reason } => HostError::Config { path, reason },
            weft_models::ModelsError::Io { path, source } => HostError::Io { path, source },
        }
    }
}

impl HostError {
    pub(crate) fn wasmtime(context: impl Into<String>, source: wasmtime::Error) -> Self {
        HostError::Wasmtime {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        HostError::Config {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Why a tool call failed; mirrors the WIT `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum ToolError {
    /// No tool of that name is installed.
    #[error("not found: {0}")]
    NotFound(String),
    /// The policy, or a human, refused the call.
    #[error("denied: {0}")]
    Denied(String),
    /// The arguments did not match the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and reported a failure.
    #[error("failed: {0}")]
    Failed(String),
    /// The tool's component trapped, timed out or hit a limit.
    #[error("crashed: {0}")]
    Crashed(String),
}

/// A host-side limit a guest ran into inside a host call; raised as a trap
/// so the call ends, and classified as [`Abort::Limit`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitHit {
    /// Its linear memories together would exceed the cap.
    #[error("exceeded its memory limit of {limit_mb} MiB")]
    Memory {
        /// The cap.
        limit_mb: u32,
    },
    /// It logged more than its log budget for the session.
    #[error("exceeded its log limit of {limit_kb} KiB for this run")]
    Log {
        /// The budget.
        limit_kb: u32,
    },
    /// It held more resource-table entries than allowed.
    #[error(
        "exceeded its limit of {limit} open resources (streams, pollables, HTTP objects); raise limits.max-resources if it needs more"
    )]
    Resources {
        /// The cap.
        limit: u32,
    },
    /// It held more HTTP header bytes than allowed.
    #[error("exceeded its limit of {limit_kb} KiB of HTTP headers held at once")]
    HttpHeaders {
        /// The cap.
        limit_kb: u32,
    },
}

/// How a guest call ended abnormally, classified from wasmtime's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// The call's wall-clock deadline passed, in wasm code or while it
    /// waited in a host call.
    Timeout {
        /// The limit that was exceeded.
        limit_ms: u64,
    },
    /// A host-side limit other than time, memory or fuel (logs, resources,
    /// HTTP headers).
    Limit {
        /// What was exceeded, as a phrase ("exceeded its log limit of ...").
        what: String,
    },
    /// The store's memory cap refused a `memory.grow`.
    Memory {
        /// The cap that was exceeded.
        limit_mb: u32,
    },
    /// The fuel budget ran out.
    Fuel {
        /// The budget that was used up.
        fuel: u64,
    },
    /// Any other trap (a panic, `unreachable`, an out-of-bounds access).
    Trap {
        /// wasmtime's description, with the guest's last stderr lines.
        detail: String,
    },
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abort::Timeout { limit_ms } => write!(f, "exceeded its time limit of {limit_ms} ms"),
            Abort::Limit { what } => f.write_str(what),
            Abort::Memory { limit_mb } => write!(f, "exceeded its memory limit of {limit_mb} MiB"),
            Abort::Fuel { fuel } => write!(f, "ran out of fuel (budget {fuel})"),
            Abort::Trap { detail } => write!(f, "trapped: {detail}"),
        }
    }
}
