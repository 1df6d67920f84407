//! [`GgufFile`]: a parsed header over the file's data section, which stays
//! in memory or behind a [`ByteSource`] and is read one tensor at a time.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::header::{Header, TensorInfo, gguf_err};
use super::metadata::{MetaArray, MetaValue};
use super::source::{ByteSource, FileSource, source_error};
use crate::LoadError;
use crate::quant::{self, QuantError, QuantizedMatrix};
use crate::weights::F32Tensor;

/// A parsed GGUF file: its header in memory, its tensor data in memory or
/// behind a [`ByteSource`].
#[derive(Debug, Clone)]
pub struct GgufFile {
    header: Header,
    storage: Storage,
}

/// Where a parsed file's data section lives.
#[derive(Clone)]
enum Storage {
    /// The whole file, in memory.
    Memory(Vec<u8>),
    /// Read tensor by tensor when loaded.
    Source(Arc<dyn ByteSource>),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Memory(bytes) => write!(f, "Memory({} bytes)", bytes.len()),
            Storage::Source(source) => write!(f, "Source({})", source.name()),
        }
    }
}

/// How much of a file [`GgufFile::from_source`] reads first when looking for
/// the end of the header; it doubles until the header fits.
const FIRST_HEADER_READ: usize = 1 << 20;

impl GgufFile {
    /// Opens and parses the file at `path`. Only the header is read now;
    /// each tensor is read from the file when it is loaded.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::from_source(Arc::new(FileSource::open(path)?))
    }

    /// Parses a GGUF file from its bytes, all in memory.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, LoadError> {
        let file_len = bytes.len() as u64;
        let header = Header::parse(&bytes, file_len)?;
        Ok(GgufFile {
            header,
            storage: Storage::Memory(bytes),
        })
    }

    /// Parses the header of the file behind `source`, reading a growing
    /// prefix until the whole header is in it; tensor data is read from
    /// `source` later, one tensor at a time.
    pub fn from_source(source: Arc<dyn ByteSource>) -> Result<Self, LoadError> {
        let file_len = source.len();
        let mut want = FIRST_HEADER_READ;
        loop {
            let len = usize::try_from(file_len).unwrap_or(usize::MAX).min(want);
            let prefix = source
                .read_at(0, len)
                .map_err(|e| source_error(source.as_ref(), e))?;
            match Header::parse(&prefix, file_len) {
                Ok(header) => {
                    return Ok(GgufFile {
                        header,
                        storage: Storage::Source(source),
                    });
                }
                // The header may simply run past the prefix: read more,
                // until the prefix is the whole file.
                Err(_) if (len as u64) < file_len => want = want.saturating_mul(2),
                Err(e) => return Err(e),
            }
        }
    }
}

impl GgufFile {
    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// The data-section alignment.
    pub fn alignment(&self) -> usize {
        self.header.alignment
    }

    /// Absolute byte offset of the data section (tensor offsets count from
    /// here).
    pub fn data_offset(&self) -> usize {
        self.header.data_start
    }

    /// Every metadata entry in file order.
    pub fn metadata_entries(&self) -> impl Iterator<Item = (&str, &MetaValue)> {
        self.header.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The metadata value under `key`.
    pub fn metadata(&self, key: &str) -> Option<&MetaValue> {
        self.header
            .metadata_index
            .get(key)
            .map(|&i| &self.header.metadata[i].1)
    }

    /// An integer value under `key` that fits a `u32`, whatever integer type
    /// the file used.
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        self.get_u64(key).and_then(|v| u32::try_from(v).ok())
    }

    /// A non-negative integer value under `key`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.metadata(key).and_then(MetaValue::as_u64)
    }

    /// An integer value under `key` that fits an `i64`.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.metadata(key).and_then(MetaValue::as_i64)
    }

    /// A float value under `key` (`f32`, or `f64` narrowed).
    pub fn get_f32(&self, key: &str) -> Option<f32> {
        self.metadata(key)
            .and_then(MetaValue::as_f64)
            .map(|v| v as f32)
    }

    /// A bool value under `key`.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.metadata(key).and_then(MetaValue::as_bool)
    }

    /// A string value under `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.metadata(key).and_then(MetaValue::as_str)
    }

    /// An array value under `key`.
    pub fn get_array(&self, key: &str) -> Option<&MetaArray> {
        self.metadata(key).and_then(MetaValue::as_array)
    }

    /// An array of strings under `key` (e.g. `tokenizer.ggml.tokens`).
    pub fn get_str_array(&self, key: &str) -> Option<&[String]> {
        match self.get_array(key)? {
            MetaArray::String(v) => Some(v),
            _ => None,
        }
    }

    /// An array of `f32` under `key` (e.g. `tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Option<&[f32]> {
        match self.get_array(key)? {
            MetaArray::F32(v) => Some(v),
            _ => None,
        }
    }

    /// An array of `i32` under `key` (e.g. `tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Option<&[i32]> {
        match self.get_array(key)? {
            MetaArray::I32(v) => Some(v),
            _ => None,
        }
    }

    /// An array of `u32` under `key`.
    pub fn get_u32_array(&self, key: &str) -> Option<&[u32]> {
        match self.get_array(key)? {
            MetaArray::U32(v) => Some(v),
            _ => None,
        }
    }

    /// Every tensor in directory order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    /// The directory entry of the tensor named `name`.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.header
            .tensor_index
            .get(name)
            .map(|&i| &self.header.tensors[i])
    }

    /// The raw encoded bytes of a tensor: borrowed from a file in memory,
    /// read from the file's source otherwise.
    pub fn tensor_bytes(&self, name: &str) -> Result<Cow<'_, [u8]>, LoadError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        // Bounds were checked by `parse`; `get` keeps this panic-free anyway.
        let start = self.header.data_start + info.offset;
        match &self.storage {
            Storage::Memory(bytes) => bytes
                .get(start..start + info.n_bytes)
                .map(Cow::Borrowed)
                .ok_or_else(|| gguf_err(format!("tensor data out of bounds for tensor `{name}`"))),
            Storage::Source(source) => source
                .read_at(start as u64, info.n_bytes)
                .map(Cow::Owned)
                .map_err(|e| source_error(source.as_ref(), e)),
        }
    }

    /// A tensor decoded to f32, shaped outermost first.
    pub fn tensor_f32(&self, name: &str) -> Result<F32Tensor, LoadError> {
        let bytes = self.tensor_bytes(name)?;
        let info = self
            .tensor_info(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        let data = quant::dequantize(info.ty, &bytes, info.n_elements())
            .map_err(|e| quant_err(name, e))?;
        Ok(F32Tensor {
            shape: info.shape(),
            data,
        })
    }

    /// A tensor kept in its encoding, as a matrix of `ne[0]` columns and as
    /// many rows as the outer dimensions hold (1 for a vector).
    pub fn quantized(&self, name: &str) -> Result<QuantizedMatrix, LoadError> {
        let bytes = self.tensor_bytes(name)?;
        let info = self
            .tensor_info(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        let cols = info.ne.first().copied().unwrap_or(1);
        let rows = info.ne.iter().skip(1).product();
        QuantizedMatrix::new(info.ty, rows, cols, bytes.into_owned())
            .map_err(|e| quant_err(name, e))
    }
}

/// A [`QuantError`] about tensor `name` as a [`LoadError`].
pub(super) fn quant_err(name: &str, e: QuantError) -> LoadError {
    match e {
        QuantError::Unsupported(ty) => LoadError::UnsupportedTensorType {
            tensor: name.to_string(),
            dtype: ty.name().to_string(),
        },
        e => gguf_err(format!("tensor `{name}`: {e}")),
    }
}
