//! Specs that are not catalogue names: the path of a GGUF file or model
//! directory, returned as it is once it is known to exist.

use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::PullError;
use crate::pulled::{ModelFormat, PulledModel, SourceUsed};

pub(crate) fn expand_tilde(spec: &str) -> PathBuf {
    match spec.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(spec)),
        None => PathBuf::from(spec),
    }
}

/// A spec that is not a catalogue name: a path, which must exist.
pub(crate) fn local_spec(spec: &str, catalog: &Catalog) -> Result<PulledModel, PullError> {
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
