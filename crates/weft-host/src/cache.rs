//! The on-disk compile cache: compiled components keyed by the SHA-256 of
//! the component's bytes and the engine's compatibility hash, so a second
//! load deserializes in milliseconds instead of recompiling.
//!
//! A compiled artifact is native code the host will run, so the cache does
//! not trust file names or file contents:
//!
//! - every entry carries an HMAC-SHA256 over the component's digest, the
//!   engine's key and the artifact, keyed by a per-user secret kept outside
//!   the cache (`compile-cache.key` in the user's configuration directory,
//!   created 0600 on first use). An entry is authenticated before it is
//!   deserialized; a swapped, truncated or tampered entry is recompiled and
//!   rewritten, with a warning;
//! - the cache directory is created 0700; one owned by another user, or
//!   writable by group or others, is not used (components are compiled in
//!   memory instead), and neither is a key file that others can read;
//! - the host refuses to preopen a directory that covers the cache or its
//!   key for a component ([`ComponentCache::guarded_paths`]).

use crate::error::HostError;
use hmac::Mac;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every cache entry.
const MAGIC: &[u8; 8] = b"WEFTCC1\0";
/// Bytes of the entry's MAC.
const MAC_LEN: usize = 32;
/// Bytes of the cache key.
const KEY_LEN: usize = 32;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Where a component came from on its last load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already loaded in this process.
    Memory,
    /// Deserialized from the disk cache, after its MAC was checked.
    Disk,
    /// Compiled (and written to the disk cache, if there is one).
    Compiled,
}

/// The disk half of the cache: a checked directory and its key.
struct DiskCache {
    dir: PathBuf,
    key_file: PathBuf,
    key: [u8; KEY_LEN],
}

/// Compiles components once and remembers them in memory and on disk.
pub struct ComponentCache {
    disk: Option<DiskCache>,
    engine_key: String,
    loaded: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    /// A cache in `dir`, its entries authenticated with the key in
    /// `key_file`; `None` for either keeps it in memory only. A directory or
    /// key that fails its ownership and permission checks disables the disk
    /// cache, with a warning.
    pub fn new(engine: &Engine, dir: Option<PathBuf>, key_file: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let disk = match (dir, key_file) {
            (Some(dir), Some(key_file)) => match open_disk(&dir, &key_file) {
                Ok(disk) => Some(disk),
                Err(reason) => {
                    tracing::warn!(dir = %dir.display(), %reason, "not using the compile cache on disk");
                    None
                }
            },
            _ => None,
        };
        ComponentCache {
            disk,
            engine_key: format!("{:016x}", hasher.finish()),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The default location: `$XDG_CACHE_HOME/weft/components` or the platform equivalent.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("weft").join("components"))
    }

    /// The default key file: `compile-cache.key` in the user's
    /// configuration directory (`$XDG_CONFIG_HOME/weft`), outside the cache.
    pub fn default_key_file() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("weft").join("compile-cache.key"))
    }

    /// Whether entries are read from and written to disk.
    pub fn uses_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// The paths no component may be given access to: the cache directory
    /// and the key file (canonical where they exist).
    pub fn guarded_paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(disk) = &self.disk {
            for p in [&disk.dir, &disk.key_file] {
                paths.push(p.canonicalize().unwrap_or_else(|_| p.clone()));
            }
        }
        paths
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
        let entry = self.disk.as_ref().map(|disk| {
            let file = disk
                .dir
                .join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_key));
            (disk, file)
        });
        if let Some((disk, file)) = &entry
            && let Some(component) = self.read_entry(engine, disk, file, &digest)
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
        if let Some((disk, file)) = &entry {
            let mac: [u8; MAC_LEN] = self
                .mac(disk, &digest, &compiled)
                .finalize()
                .into_bytes()
                .into();
            // The cache is an optimisation: failing to write it is only logged.
            if let Err(e) = write_entry(file, &mac, &compiled) {
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

    /// The MAC over an artifact compiled from the component with `digest`
    /// on this engine, ready to finalize or verify.
    fn mac(&self, disk: &DiskCache, digest: &[u8; 32], artifact: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&disk.key).expect("HMAC takes keys of any size");
        mac.update(b"weft compile cache v1\0");
        mac.update(digest);
        mac.update(self.engine_key.as_bytes());
        mac.update(artifact);
        mac
    }

    /// Reads, authenticates and deserializes one entry; `None` (with a
    /// warning unless the entry is simply absent) when it is unusable.
    fn read_entry(
        &self,
        engine: &Engine,
        disk: &DiskCache,
        file: &Path,
        digest: &[u8; 32],
    ) -> Option<Component> {
        // Read into memory rather than `deserialize_file`, which maps the
        // file: a mapped file truncated by another process would crash the
        // host with SIGBUS, while a copy is immune to it.
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %file.display(), error = %e, "cannot read a compile cache entry; recompiling");
                return None;
            }
        };
        let header = MAGIC.len() + MAC_LEN;
        let authentic = bytes.len() > header
            && bytes[..MAGIC.len()] == MAGIC[..]
            && self
                .mac(disk, digest, &bytes[header..])
                .verify_slice(&bytes[MAGIC.len()..header])
                .is_ok();
        if !authentic {
            tracing::warn!(
                path = %file.display(),
                "a compile cache entry failed authentication (tampered, swapped or from another key); recompiling"
            );
            return None;
        }
        #[allow(unsafe_code)]
        // SAFETY: the artifact carries a valid MAC under the user's secret
        // key over this component's digest and this engine's key: it was
        // written by `write_entry` from `precompile_component` output of
        // this very component on a compatible engine. wasmtime additionally
        // checks the header and refuses artifacts from another engine
        // configuration.
        match unsafe { Component::deserialize(engine, &bytes[header..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %file.display(), error = %e, "ignoring an unusable compile cache entry; recompiling");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Component>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates (0700) or checks the cache directory and reads (or creates,
/// 0600) the key.
fn open_disk(dir: &Path, key_file: &Path) -> Result<DiskCache, String> {
    create_private_dir(dir)?;
    check_private(dir, 0o022, "the cache directory")?;
    if let Some(parent) = key_file.parent() {
        create_private_dir(parent)?;
    }
    let key = read_or_create_key(key_file)?;
    check_private(key_file, 0o077, "the cache key")?;
    if key_file.starts_with(dir) {
        return Err("the cache key may not live inside the cache directory".into());
    }
    Ok(DiskCache {
        dir: dir.to_path_buf(),
        key_file: key_file.to_path_buf(),
        key,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Checks that `path` is owned by this user and has none of `forbidden`
/// mode bits.
#[cfg(unix)]
fn check_private(path: &Path, forbidden: u32, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{what} {} is owned by uid {}, not by this user (uid {me})",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & forbidden != 0 {
        return Err(format!(
            "{what} {} has mode {:o}; it must not be {} by others (chmod {} it)",
            path.display(),
            meta.mode() & 0o777,
            if forbidden == 0o022 {
                "writable"
            } else {
                "readable or writable"
            },
            if forbidden == 0o022 { "go-w" } else { "go-rwx" },
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _forbidden: u32, _what: &str) -> Result<(), String> {
    Ok(())
}

fn read_or_create_key(file: &Path) -> Result<[u8; KEY_LEN], String> {
    match std::fs::read(file) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| format!("the cache key {} is not {KEY_LEN} bytes", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            getrandom::fill(&mut key)
                .map_err(|e| format!("no randomness for the cache key: {e}"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(file) {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, &key).map_err(|e| {
                        format!("cannot write the cache key {}: {e}", file.display())
                    })?;
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_create_key(file),
                Err(e) => Err(format!(
                    "cannot create the cache key {}: {e}",
                    file.display()
                )),
            }
        }
        Err(e) => Err(format!("cannot read the cache key {}: {e}", file.display())),
    }
}

fn check_is_component(bytes: &[u8], origin: &Path) -> Result<(), HostError> {
    const WASM_MAGIC: &[u8] = b"\0asm";
    let reason = if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
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

/// Writes an entry (magic, MAC, artifact) atomically, readable only by
/// this user.
fn write_entry(file: &Path, mac: &[u8; MAC_LEN], artifact: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    {
        let mut f = options.open(&tmp)?;
        std::io::Write::write_all(&mut f, MAGIC)?;
        std::io::Write::write_all(&mut f, mac)?;
        std::io::Write::write_all(&mut f, artifact)?;
    }
    std::fs::rename(&tmp, file)
}
