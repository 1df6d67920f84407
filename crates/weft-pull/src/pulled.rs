//! [`PulledModel`]: what a pull returns, a model on disk and where it came
//! from.

use std::fmt;
use std::path::PathBuf;

use crate::catalog::SourceKind;
use crate::error::SourceFailure;

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
