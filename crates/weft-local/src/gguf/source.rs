//! Where a model file's bytes come from when they are not all in memory: a
//! [`ByteSource`] (a file on disk, or a file in a browser's storage).

use std::path::{Path, PathBuf};

use weft_model::model::{MaybeSend, MaybeSync};

use crate::LoadError;

/// Random access to the bytes of a model file that is not (all) in memory:
/// a file on disk, or a file in a browser's storage.
pub trait ByteSource: MaybeSend + MaybeSync {
    /// The file's length in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `len` bytes starting at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;

    /// What the bytes are (a path or a URL), for error messages.
    fn name(&self) -> String;
}

/// A file on disk, read at offsets.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
    len: u64,
}

impl FileSource {
    /// Opens the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| LoadError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Self {
            file: std::sync::Mutex::new(file),
            len,
            path,
        })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("an earlier read of this file panicked"))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = vec![0u8; len];
        file.read_exact(&mut out)?;
        Ok(out)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// An I/O error reading `source`.
pub(super) fn source_error(source: &dyn ByteSource, e: std::io::Error) -> LoadError {
    LoadError::Io {
        path: PathBuf::from(source.name()),
        source: e,
    }
}
