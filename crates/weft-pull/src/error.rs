//! Why a pull fails: [`PullError`] for the pull as a whole, [`FetchError`]
//! for one source, each naming the URL, file or hash at fault.

use std::fmt;
use std::path::PathBuf;

use crate::catalog::SourceKind;

/// A source that could not provide the model, and why.
#[derive(Debug)]
pub struct SourceFailure {
    /// The source, described (`hf owner/repo@main`, `pypi pkg==1.0`).
    pub source: String,
    /// Why it failed.
    pub error: FetchError,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.error)
    }
}

/// Why one source could not provide the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request could not be sent or answered (DNS, connection, TLS,
    /// timeout).
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("HTTP {status} from {url}")]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection failed in the middle of a download.
    #[error("download of {url} failed after {received} bytes: {reason} (partial file deleted)")]
    Interrupted {
        /// The URL.
        url: String,
        /// Bytes received before the failure.
        received: u64,
        /// What failed.
        reason: String,
    },
    /// The body ended before its announced length.
    #[error("download of {url} ended after {received} of {expected} bytes (partial file deleted)")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced (`Content-Length`).
        expected: u64,
    },
    /// A file's SHA-256 is not the expected one.
    #[error(
        "SHA-256 mismatch for {what} from {url}: expected {expected}, got {got} (file deleted)"
    )]
    Sha256Mismatch {
        /// The file.
        what: String,
        /// Where it came from.
        url: String,
        /// The expected hash.
        expected: String,
        /// The hash of what was received.
        got: String,
    },
    /// A file's size is not the expected one.
    #[error("{what} from {url} is {got} bytes, expected {expected} (file deleted)")]
    SizeMismatch {
        /// The file.
        what: String,
        /// Where it came from.
        url: String,
        /// The expected size.
        expected: u64,
        /// The actual size.
        got: u64,
    },
    /// The index lists the file with a hash other than the catalogue's.
    #[error("the index {url} lists {file} with SHA-256 {listed}, but the catalogue pins {pinned}")]
    IndexHashMismatch {
        /// The index page.
        url: String,
        /// The file.
        file: String,
        /// The index's hash.
        listed: String,
        /// The catalogue's hash.
        pinned: String,
    },
    /// The index does not list the file.
    #[error("the index {url} does not list {file}")]
    NotInIndex {
        /// The index page.
        url: String,
        /// The file looked for.
        file: String,
    },
    /// The index page could not be understood.
    #[error("cannot read the index {url}: {reason}")]
    BadIndex {
        /// The index page.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The wheel lacks the model file.
    #[error("{member} is not in the wheel {url}")]
    MemberNotInWheel {
        /// The wheel's URL.
        url: String,
        /// The member looked for.
        member: String,
    },
    /// The wheel is not a readable zip archive.
    #[error("cannot read the wheel {url}: {reason}")]
    BadWheel {
        /// The wheel's URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A URL could not be formed.
    #[error("bad URL {url}: {reason}")]
    BadUrl {
        /// The URL (or base) at fault.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A local file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The name is neither a catalogue model nor a path.
    #[error(
        "unknown model `{name}`; known models: {}; or give the path of a GGUF file or model directory",
        known.join(", ")
    )]
    UnknownModel {
        /// The name given.
        name: String,
        /// The catalogue's names.
        known: Vec<String>,
    },
    /// A path was given and does not exist.
    #[error("{} does not exist (and `{spec}` is not a known model: {})", path.display(), known.join(", "))]
    LocalNotFound {
        /// The spec as given.
        spec: String,
        /// The path it names.
        path: PathBuf,
        /// The catalogue's names.
        known: Vec<String>,
    },
    /// Offline, and the model is not in the cache.
    #[error("model `{model}` is not in the cache {} and offline mode forbids downloading it", cache_dir.display())]
    NotCached {
        /// The model.
        model: String,
        /// The cache directory looked in.
        cache_dir: PathBuf,
    },
    /// The model has no source of the requested kind.
    #[error("model `{model}` has no {kind} source (it has: {})", available.join(", "))]
    NoSuchSource {
        /// The model.
        model: String,
        /// The kind asked for.
        kind: SourceKind,
        /// The sources it has.
        available: Vec<String>,
    },
    /// No cache directory could be determined.
    #[error("cannot determine a cache directory; set WEFT_CACHE_DIR")]
    NoCacheDir,
    /// Every source failed.
    #[error(
        "cannot pull model `{model}`: every source failed:{}",
        list_failures(failures)
    )]
    AllSourcesFailed {
        /// The model.
        model: String,
        /// Each source tried, and why it failed.
        failures: Vec<SourceFailure>,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up HTTP: {0}")]
    Client(String),
    /// The cache directory could not be used.
    #[error("cannot use the cache directory {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn list_failures(failures: &[SourceFailure]) -> String {
    failures.iter().map(|f| format!("\n  - {f}")).collect()
}
