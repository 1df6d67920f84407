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

/// How a guest call ended abnormally, classified from wasmtime's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// The epoch deadline passed.
    Timeout {
        /// The limit that was exceeded.
        limit_ms: u64,
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
            Abort::Memory { limit_mb } => write!(f, "exceeded its memory limit of {limit_mb} MiB"),
            Abort::Fuel { fuel } => write!(f, "ran out of fuel (budget {fuel})"),
            Abort::Trap { detail } => write!(f, "trapped: {detail}"),
        }
    }
}
