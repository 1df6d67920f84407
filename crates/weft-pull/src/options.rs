//! [`PullOptions`]: where the cache is, which sources to use, where progress
//! goes.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::catalog::{Catalog, SourceKind};
use crate::progress::{NoProgress, Progress};

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
    /// [`DEFAULT_HF_ENDPOINT`](crate::DEFAULT_HF_ENDPOINT), when `None`.
    pub hf_endpoint: Option<String>,
    /// The PyPI simple index's base URL; `$WEFT_PYPI_INDEX`, else
    /// [`DEFAULT_PYPI_INDEX`](crate::DEFAULT_PYPI_INDEX), when `None`.
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

impl PullOptions {
    /// The catalogue to look names up in: [`PullOptions::catalog`], else the
    /// built-in one.
    pub(crate) fn catalog(&self) -> Cow<'_, Catalog> {
        match &self.catalog {
            Some(catalog) => Cow::Borrowed(catalog),
            None => Cow::Owned(Catalog::builtin()),
        }
    }
}
