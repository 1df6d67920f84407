//! The on-disk compile cache: compiled components keyed by the SHA-256 of
//! the component's bytes and the engine's compatibility hash, so a second
//! load deserializes in milliseconds instead of recompiling.

use crate::error::HostError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on its last load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already loaded in this process.
    Memory,
    /// Deserialized from the disk cache.
    Disk,
    /// Compiled (and written to the disk cache, if there is one).
    Compiled,
}

/// Compiles components once and remembers them in memory and on disk.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
    loaded: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    /// A cache in `dir` (created on first write); `None` keeps it in memory only.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The default location: `$XDG_CACHE_HOME/weft/components` or the platform equivalent.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("weft").join("components"))
    }

    /// Loads the component at `path`.
    pub fn load(
        &self,
        engine: &Engine,
        path: &Path,
    ) -> Result<(Component, CacheOutcome), HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_bytes(engine, &bytes, path)
    }

    /// Loads a component from bytes; `origin` names it in errors.
    pub fn load_bytes(
        &self,
        engine: &Engine,
        bytes: &[u8],
        origin: &Path,
    ) -> Result<(Component, CacheOutcome), HostError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(c) = self.lock().get(&digest) {
            return Ok((c.clone(), CacheOutcome::Memory));
        }
        let cached = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_key)));
        if let Some(file) = &cached
            && file.exists()
            && let Some(component) = deserialize(engine, file)
        {
            self.lock().insert(digest, component.clone());
            return Ok((component, CacheOutcome::Disk));
        }
        check_is_component(bytes, origin)?;
        let compiled =
            engine
                .precompile_component(bytes)
                .map_err(|e| HostError::InvalidComponent {
                    path: origin.to_path_buf(),
                    reason: format!("{e:#}"),
                })?;
        if let Some(file) = &cached {
            // The cache is an optimisation: failing to write it is only logged.
            if let Err(e) = write_atomically(file, &compiled) {
                tracing::warn!(path = %file.display(), error = %e, "cannot write the compile cache");
            }
        }
        #[allow(unsafe_code)]
        // SAFETY: `compiled` was produced just now by `precompile_component`
        // on this very engine, which is exactly what deserialize requires.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| HostError::wasmtime(format!("cannot load {}", origin.display()), e))?;
        self.lock().insert(digest, component.clone());
        Ok((component, CacheOutcome::Compiled))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Component>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn deserialize(engine: &Engine, file: &Path) -> Option<Component> {
    // Read into memory rather than `deserialize_file`, which maps the file:
    // a mapped cache file truncated by another process would crash the host
    // with SIGBUS, while a copy is immune to it.
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "cannot read a compile cache entry");
            return None;
        }
    };
    #[allow(unsafe_code)]
    // SAFETY: files in the cache directory are written only by
    // `write_atomically` from `precompile_component` output, and their name
    // carries the engine's compatibility hash. wasmtime additionally checks
    // the header and refuses artifacts from another engine configuration.
    // The cache directory must be writable only by the user, as with any
    // compile cache.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "ignoring an unusable compile cache entry");
            None
        }
    }
}

fn check_is_component(bytes: &[u8], origin: &Path) -> Result<(), HostError> {
    const MAGIC: &[u8] = b"\0asm";
    let reason = if bytes.len() < 8 || &bytes[..4] != MAGIC {
        Some("the file does not start with the WebAssembly magic bytes")
    } else if bytes[4..8] == [1, 0, 0, 0] {
        Some(
            "it is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`",
        )
    } else {
        None
    };
    match reason {
        Some(r) => Err(HostError::InvalidComponent {
            path: origin.to_path_buf(),
            reason: r.to_string(),
        }),
        None => Ok(()),
    }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}
