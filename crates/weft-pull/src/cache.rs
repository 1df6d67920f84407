//! The model cache: where it is, how a cached file is known to be whole (a
//! `.sha256` stamp beside it), and which of a model's sources is already
//! complete there.
//!
//! A model lives in `{cache}/{name}/`: its GGUF file as `{cache}/{name}/{file}`,
//! a hub directory layout as `{cache}/{name}/{owner}--{repo}/`. A cached file
//! is hashed once; the hash, size and modification time go to a
//! `{file}.sha256` stamp beside it, so later checks only compare size and time.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::catalog::{ModelEntry, Source, SourceKind};
use crate::error::PullError;
use crate::options::PullOptions;
use crate::progress::{Progress, ProgressEvent, Task};
use crate::pulled::{ModelFormat, PulledModel, SourceUsed};

/// The cache directory pulls use by default: `$WEFT_CACHE_DIR`, else the
/// platform cache directory's `weft/models` (`~/.cache/weft/models` on
/// Linux).
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("WEFT_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|d| d.join("weft").join("models")),
    }
}

pub(crate) fn cache_dir(options: &PullOptions) -> Result<PathBuf, PullError> {
    options
        .cache_dir
        .clone()
        .or_else(default_cache_dir)
        .ok_or(PullError::NoCacheDir)
}

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
pub(crate) fn write_stamp(path: &Path, sha256: &str) {
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
pub(crate) fn check_cached_file(
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
pub(crate) fn find_cached(
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
pub(crate) fn remove_stale_parts(dir: &Path) {
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
