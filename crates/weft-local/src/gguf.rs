//! GGUF files: metadata, tensor directory, and weights.
//!
//! A GGUF file (versions 2 and 3, little-endian) is laid out as:
//!
//! 1. a header: the magic `"GGUF"`, a `u32` version, a `u64` tensor count and
//!    a `u64` metadata count;
//! 2. the metadata: each a string key, a `u32` value type and the value
//!    (integers, floats, bools, strings, and arrays of any of them, arrays
//!    included); a string is a `u64` byte length and UTF-8 bytes;
//! 3. the tensor directory: each a name, a `u32` dimension count, that many
//!    `u64` dimensions (ggml's `ne`, innermost first), a `u32` ggml type and
//!    a `u64` offset into the data section;
//! 4. padding to `general.alignment` (default 32), then the data section.
//!
//! [`GgufFile`] reads the header and checks every count, length and offset
//! against the file before using it, so a truncated or corrupt file is a
//! [`LoadError::Gguf`] naming what was being read and where, never a panic or
//! a huge allocation. The data section stays where it is: a file opened with
//! [`GgufFile::read`] or [`GgufFile::from_source`] reads each tensor's bytes
//! only when that tensor is loaded, so loading never holds the whole file and
//! the model's copy of it at once (a [`ByteSource`] is how a browser hands
//! over a file kept in its storage). [`GgufWeights`] puts a [`WeightSource`] over a model
//! file: it builds the [`ModelConfig`] from the metadata and serves tensors
//! under their canonical Hugging Face names.
//!
//! # RoPE row order in Llama files
//!
//! llama.cpp's converter permutes the rows of the q and k projections (weights
//! and biases) of `llama`-architecture models, per head, from Hugging Face's
//! half-split RoPE layout (dimension `i` pairs with `i + head_dim / 2`) to
//! the interleaved layout (`2i` pairs with `2i + 1`): in numpy terms
//! `w.reshape(n_head, 2, head_dim / 2, ...).swapaxes(1, 2).reshape(w.shape)`,
//! with `n_head` the query heads for q and the key/value heads for k. That
//! is, GGUF row `h * head_dim + 2i + s` is Hugging Face row
//! `h * head_dim + s * head_dim / 2 + i`. [`GgufWeights`] applies the inverse
//! ([`unpermute_rope_rows`]) on load, so every source hands the model the
//! half-split layout. `qwen2` and `qwen3` files are converted without the
//! permutation and are served as stored.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_model::model::{MaybeSend, MaybeSync};

use crate::quant::{self, GgmlType, QuantError, QuantizedMatrix};
use crate::weights::{F32Tensor, WeightSource};
use crate::{Architecture, LoadError, ModelConfig};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// Data-section alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;

/// ggml's limit on tensor dimensions.
pub const MAX_DIMS: usize = 4;

/// How deeply arrays may nest in metadata before the file is rejected.
const MAX_ARRAY_DEPTH: usize = 16;

/// The type of a metadata value, by its GGUF id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaType {
    /// `u8` (id 0).
    U8,
    /// `i8` (id 1).
    I8,
    /// `u16` (id 2).
    U16,
    /// `i16` (id 3).
    I16,
    /// `u32` (id 4).
    U32,
    /// `i32` (id 5).
    I32,
    /// `f32` (id 6).
    F32,
    /// One byte, 0 or 1 (id 7).
    Bool,
    /// A UTF-8 string (id 8).
    String,
    /// An array (id 9).
    Array,
    /// `u64` (id 10).
    U64,
    /// `i64` (id 11).
    I64,
    /// `f64` (id 12).
    F64,
}

impl MetaType {
    /// The type with this GGUF id.
    pub fn from_id(id: u32) -> Option<Self> {
        use MetaType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// A lowercase name for messages, e.g. `"u32"`.
    pub fn name(self) -> &'static str {
        use MetaType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// The fewest bytes a value of this type takes in the file; used to
    /// reject counts the rest of the file cannot possibly hold.
    fn min_size(self) -> usize {
        use MetaType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// A string.
    String(String),
    /// An array.
    Array(MetaArray),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f64`.
    F64(f64),
}

impl MetaValue {
    /// The value's type.
    pub fn meta_type(&self) -> MetaType {
        match self {
            MetaValue::U8(_) => MetaType::U8,
            MetaValue::I8(_) => MetaType::I8,
            MetaValue::U16(_) => MetaType::U16,
            MetaValue::I16(_) => MetaType::I16,
            MetaValue::U32(_) => MetaType::U32,
            MetaValue::I32(_) => MetaType::I32,
            MetaValue::F32(_) => MetaType::F32,
            MetaValue::Bool(_) => MetaType::Bool,
            MetaValue::String(_) => MetaType::String,
            MetaValue::Array(_) => MetaType::Array,
            MetaValue::U64(_) => MetaType::U64,
            MetaValue::I64(_) => MetaType::I64,
            MetaValue::F64(_) => MetaType::F64,
        }
    }

    /// Any integer value that is non-negative, widened to `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            MetaValue::I64(v) => Some(v),
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A float value (`f32` or `f64`) as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v.into()),
            MetaValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// A bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// An array value.
    pub fn as_array(&self) -> Option<&MetaArray> {
        match self {
            MetaValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// A metadata array: every item has the same type, stored unboxed.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaArray {
    /// `u8` items.
    U8(Vec<u8>),
    /// `i8` items.
    I8(Vec<i8>),
    /// `u16` items.
    U16(Vec<u16>),
    /// `i16` items.
    I16(Vec<i16>),
    /// `u32` items.
    U32(Vec<u32>),
    /// `i32` items.
    I32(Vec<i32>),
    /// `f32` items.
    F32(Vec<f32>),
    /// `bool` items.
    Bool(Vec<bool>),
    /// String items.
    String(Vec<String>),
    /// Nested arrays (each may have its own item type).
    Array(Vec<MetaArray>),
    /// `u64` items.
    U64(Vec<u64>),
    /// `i64` items.
    I64(Vec<i64>),
    /// `f64` items.
    F64(Vec<f64>),
}

impl MetaArray {
    /// The items' type.
    pub fn item_type(&self) -> MetaType {
        match self {
            MetaArray::U8(_) => MetaType::U8,
            MetaArray::I8(_) => MetaType::I8,
            MetaArray::U16(_) => MetaType::U16,
            MetaArray::I16(_) => MetaType::I16,
            MetaArray::U32(_) => MetaType::U32,
            MetaArray::I32(_) => MetaType::I32,
            MetaArray::F32(_) => MetaType::F32,
            MetaArray::Bool(_) => MetaType::Bool,
            MetaArray::String(_) => MetaType::String,
            MetaArray::Array(_) => MetaType::Array,
            MetaArray::U64(_) => MetaType::U64,
            MetaArray::I64(_) => MetaType::I64,
            MetaArray::F64(_) => MetaType::F64,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            MetaArray::U8(v) => v.len(),
            MetaArray::I8(v) => v.len(),
            MetaArray::U16(v) => v.len(),
            MetaArray::I16(v) => v.len(),
            MetaArray::U32(v) => v.len(),
            MetaArray::I32(v) => v.len(),
            MetaArray::F32(v) => v.len(),
            MetaArray::Bool(v) => v.len(),
            MetaArray::String(v) => v.len(),
            MetaArray::Array(v) => v.len(),
            MetaArray::U64(v) => v.len(),
            MetaArray::I64(v) => v.len(),
            MetaArray::F64(v) => v.len(),
        }
    }

    /// Whether the array has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's GGUF name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// ggml's `ne`: the dimensions innermost (contiguous) first.
    pub ne: Vec<usize>,
    /// The element encoding.
    pub ty: GgmlType,
    /// Byte offset of the data from the start of the data section.
    pub offset: usize,
    /// Bytes of data.
    pub n_bytes: usize,
}

impl TensorInfo {
    /// The shape outermost first (ggml's `ne` reversed), as PyTorch would
    /// give it: `[out_features, in_features]` for a projection.
    pub fn shape(&self) -> Vec<usize> {
        self.ne.iter().rev().copied().collect()
    }

    /// Number of elements.
    pub fn n_elements(&self) -> usize {
        // Checked when the directory was read.
        self.ne.iter().product()
    }
}

/// A parsed GGUF file: its header in memory, its tensor data in memory or
/// behind a [`ByteSource`].
#[derive(Debug, Clone)]
pub struct GgufFile {
    header: Header,
    storage: Storage,
}

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
        Ok(header.into_file(Storage::Memory(bytes)))
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
                Ok(header) => return Ok(header.into_file(Storage::Source(source))),
                // The header may simply run past the prefix: read more,
                // until the prefix is the whole file.
                Err(_) if (len as u64) < file_len => want = want.saturating_mul(2),
                Err(e) => return Err(e),
            }
        }
    }
}

/// An I/O error reading `source`.
fn source_error(source: &dyn ByteSource, e: std::io::Error) -> LoadError {
    LoadError::Io {
        path: PathBuf::from(source.name()),
        source: e,
    }
}

/// Everything in a GGUF file before its data section.
#[derive(Debug, Clone)]
struct Header {
    version: u32,
    alignment: usize,
    metadata: Vec<(String, MetaValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    data_start: usize,
}

impl Header {
    fn into_file(self, storage: Storage) -> GgufFile {
        GgufFile {
            header: self,
            storage,
        }
    }

    /// Parses the header from `bytes`, a prefix of a file of `file_len`
    /// bytes, checking every tensor's extent against the whole file.
    fn parse(bytes: &[u8], file_len: u64) -> Result<Self, LoadError> {
        let mut r = Reader::new(bytes);

        let magic = r.bytes(4, || "the magic number".into())?;
        if magic != GGUF_MAGIC {
            return Err(gguf_err(format!(
                "bad magic {magic:02x?} ({:?}) at byte 0, expected \"GGUF\": not a GGUF file",
                String::from_utf8_lossy(magic)
            )));
        }
        let version = r.u32(|| "the version".into())?;
        match version {
            2 | 3 => {}
            1 => {
                return Err(gguf_err(
                    "GGUF version 1 is not supported (only versions 2 and 3)".into(),
                ));
            }
            v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                return Err(gguf_err(format!(
                    "big-endian GGUF (version {}) is not supported",
                    v.swap_bytes()
                )));
            }
            v => {
                return Err(gguf_err(format!(
                    "unsupported GGUF version {v} (only versions 2 and 3)"
                )));
            }
        }
        let tensor_count = r.u64(|| "the tensor count".into())?;
        let kv_count = r.u64(|| "the metadata count".into())?;
        // A tensor entry takes at least 24 bytes (empty name, no dims), a
        // metadata entry at least 13 (empty key, type, one-byte value).
        let tensor_count = r.plausible_count(tensor_count, 24, "tensors")?;
        let kv_count = r.plausible_count(kv_count, 13, "metadata entries")?;

        let mut metadata = Vec::with_capacity(kv_count);
        let mut metadata_index = HashMap::with_capacity(kv_count);
        for i in 0..kv_count {
            let key = r.string(|| format!("the key of metadata entry {i}"))?;
            let ty_id = r.u32(|| format!("the type of metadata `{key}`"))?;
            let Some(ty) = MetaType::from_id(ty_id) else {
                return Err(gguf_err(format!(
                    "metadata `{key}` has unknown value type {ty_id} (at byte {})",
                    r.pos - 4
                )));
            };
            let value = r.value(ty, &key, 0)?;
            if metadata_index.insert(key.clone(), metadata.len()).is_some() {
                return Err(gguf_err(format!("metadata key `{key}` appears twice")));
            }
            metadata.push((key, value));
        }

        let alignment = match metadata_index.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(&i) => {
                let value = &metadata[i].1;
                match value.as_u64().and_then(|a| usize::try_from(a).ok()) {
                    Some(a) if a.is_power_of_two() && a <= 1 << 24 => a,
                    _ => {
                        return Err(gguf_err(format!(
                            "general.alignment must be a power of two, found {value:?}"
                        )));
                    }
                }
            }
        };

        let mut tensors = Vec::with_capacity(tensor_count);
        let mut tensor_index = HashMap::with_capacity(tensor_count);
        for i in 0..tensor_count {
            let info = r.tensor_info(i, alignment)?;
            if tensor_index
                .insert(info.name.clone(), tensors.len())
                .is_some()
            {
                return Err(gguf_err(format!("tensor `{}` appears twice", info.name)));
            }
            tensors.push(info);
        }

        let data_start = r.pos.next_multiple_of(alignment);
        let data_len = usize::try_from(file_len)
            .unwrap_or(usize::MAX)
            .saturating_sub(data_start);
        for t in &tensors {
            let end = t.offset.checked_add(t.n_bytes);
            if end.is_none_or(|end| end > data_len) {
                return Err(gguf_err(format!(
                    "tensor data out of bounds for tensor `{}`: bytes {}..{} of the data \
                     section (which starts at byte {data_start}), but the file leaves \
                     only {data_len} bytes there",
                    t.name,
                    t.offset,
                    t.offset as u128 + t.n_bytes as u128,
                )));
            }
        }

        Ok(Self {
            version,
            alignment,
            metadata,
            metadata_index,
            tensors,
            tensor_index,
            data_start,
        })
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
fn quant_err(name: &str, e: QuantError) -> LoadError {
    match e {
        QuantError::Unsupported(ty) => LoadError::UnsupportedTensorType {
            tensor: name.to_string(),
            dtype: ty.name().to_string(),
        },
        e => gguf_err(format!("tensor `{name}`: {e}")),
    }
}

fn gguf_err(message: String) -> LoadError {
    LoadError::Gguf(message)
}

/// A bounds-checked little-endian cursor. Every read names what it was
/// reading, lazily, for the error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], LoadError> {
        if n > self.remaining() {
            return Err(gguf_err(format!(
                "truncated at byte {} while reading {} ({n} bytes needed at byte {})",
                self.buf.len(),
                what(),
                self.pos
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], LoadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, LoadError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, LoadError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A `u64` length or count as `usize`, refusing values the rest of the
    /// file cannot hold at `min_size` bytes per item.
    fn plausible_count(&self, count: u64, min_size: usize, what: &str) -> Result<usize, LoadError> {
        let fits = usize::try_from(count).ok().filter(|&n| {
            n.checked_mul(min_size)
                .is_some_and(|b| b <= self.remaining())
        });
        fits.ok_or_else(|| {
            gguf_err(format!(
                "truncated at byte {} or corrupt: {count} {what} (counted before byte {}) \
                 cannot fit in the {} bytes that follow",
                self.buf.len(),
                self.pos,
                self.remaining()
            ))
        })
    }

    fn string(&mut self, what: impl Fn() -> String) -> Result<String, LoadError> {
        let len = self.u64(|| format!("the length of {}", what()))?;
        let at = self.pos;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let bytes = self.bytes(len, &what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| gguf_err(format!("{} at byte {at} is not valid UTF-8: {e}", what())))
    }

    /// A value of type `ty` for metadata `key`; `depth` counts enclosing
    /// arrays.
    fn value(&mut self, ty: MetaType, key: &str, depth: usize) -> Result<MetaValue, LoadError> {
        let what = || format!("the value of metadata `{key}`");
        Ok(match ty {
            MetaType::U8 => MetaValue::U8(u8::from_le_bytes(self.array(what)?)),
            MetaType::I8 => MetaValue::I8(i8::from_le_bytes(self.array(what)?)),
            MetaType::U16 => MetaValue::U16(u16::from_le_bytes(self.array(what)?)),
            MetaType::I16 => MetaValue::I16(i16::from_le_bytes(self.array(what)?)),
            MetaType::U32 => MetaValue::U32(u32::from_le_bytes(self.array(what)?)),
            MetaType::I32 => MetaValue::I32(i32::from_le_bytes(self.array(what)?)),
            MetaType::F32 => MetaValue::F32(f32::from_le_bytes(self.array(what)?)),
            MetaType::Bool => MetaValue::Bool(self.array::<1>(what)?[0] != 0),
            MetaType::String => MetaValue::String(self.string(what)?),
            MetaType::Array => MetaValue::Array(self.meta_array(key, depth)?),
            MetaType::U64 => MetaValue::U64(u64::from_le_bytes(self.array(what)?)),
            MetaType::I64 => MetaValue::I64(i64::from_le_bytes(self.array(what)?)),
            MetaType::F64 => MetaValue::F64(f64::from_le_bytes(self.array(what)?)),
        })
    }

    /// An array (item type, count, items) for metadata `key`.
    fn meta_array(&mut self, key: &str, depth: usize) -> Result<MetaArray, LoadError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(gguf_err(format!(
                "metadata `{key}` nests arrays more than {MAX_ARRAY_DEPTH} deep (at byte {})",
                self.pos
            )));
        }
        let ty_id = self.u32(|| format!("the item type of array `{key}`"))?;
        let Some(ty) = MetaType::from_id(ty_id) else {
            return Err(gguf_err(format!(
                "array `{key}` has unknown item type {ty_id} (at byte {})",
                self.pos - 4
            )));
        };
        let count = self.u64(|| format!("the length of array `{key}`"))?;
        let n = self.plausible_count(
            count,
            ty.min_size(),
            &format!("{} items of array `{key}`", ty.name()),
        )?;

        macro_rules! fixed {
            ($variant:ident, $t:ty) => {{
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    items.push(<$t>::from_le_bytes(
                        self.array(|| format!("item {i} of array `{key}`"))?,
                    ));
                }
                MetaArray::$variant(items)
            }};
        }
        Ok(match ty {
            MetaType::U8 => fixed!(U8, u8),
            MetaType::I8 => fixed!(I8, i8),
            MetaType::U16 => fixed!(U16, u16),
            MetaType::I16 => fixed!(I16, i16),
            MetaType::U32 => fixed!(U32, u32),
            MetaType::I32 => fixed!(I32, i32),
            MetaType::F32 => fixed!(F32, f32),
            MetaType::U64 => fixed!(U64, u64),
            MetaType::I64 => fixed!(I64, i64),
            MetaType::F64 => fixed!(F64, f64),
            MetaType::Bool => {
                let bytes = self.bytes(n, || format!("the items of array `{key}`"))?;
                MetaArray::Bool(bytes.iter().map(|&b| b != 0).collect())
            }
            MetaType::String => {
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    items.push(self.string(|| format!("item {i} of array `{key}`"))?);
                }
                MetaArray::String(items)
            }
            MetaType::Array => {
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    items.push(self.meta_array(&format!("{key}[{i}]"), depth + 1)?);
                }
                MetaArray::Array(items)
            }
        })
    }

    /// Directory entry `i`.
    fn tensor_info(&mut self, i: usize, alignment: usize) -> Result<TensorInfo, LoadError> {
        let name = self.string(|| format!("the name of tensor {i}"))?;
        let n_dims = self.u32(|| format!("the dimension count of tensor `{name}`"))?;
        let n_dims = usize::try_from(n_dims).unwrap_or(usize::MAX);
        if n_dims > MAX_DIMS {
            return Err(gguf_err(format!(
                "tensor `{name}` has {n_dims} dimensions (at most {MAX_DIMS})"
            )));
        }
        let mut ne = Vec::with_capacity(n_dims);
        for d in 0..n_dims {
            let dim = self.u64(|| format!("dimension {d} of tensor `{name}`"))?;
            ne.push(usize::try_from(dim).unwrap_or(usize::MAX));
        }
        let ty_id = self.u32(|| format!("the type of tensor `{name}`"))?;
        let offset = self.u64(|| format!("the data offset of tensor `{name}`"))?;

        let Some(ty) = GgmlType::from_id(ty_id) else {
            return Err(LoadError::UnsupportedTensorType {
                tensor: name,
                dtype: format!("unknown ggml type id {ty_id}"),
            });
        };
        let n_elements = ne.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let Some(n_elements) = n_elements else {
            return Err(gguf_err(format!(
                "tensor `{name}` has dimensions {ne:?} whose product overflows"
            )));
        };
        let row = ne.first().copied().unwrap_or(1);
        if !row.is_multiple_of(ty.block_size()) {
            return Err(gguf_err(format!(
                "tensor `{name}` has rows of {row} {ty} elements, not a multiple of its block size {}",
                ty.block_size()
            )));
        }
        let Some(n_bytes) = ty.bytes_for(n_elements) else {
            return Err(gguf_err(format!(
                "tensor `{name}` with dimensions {ne:?} is too large"
            )));
        };
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        if !offset.is_multiple_of(alignment) {
            return Err(gguf_err(format!(
                "tensor `{name}` has data offset {offset}, not a multiple of the alignment {alignment}"
            )));
        }
        Ok(TensorInfo {
            name,
            ne,
            ty,
            offset,
            n_bytes,
        })
    }
}

/// Reorders the rows of a Llama GGUF q or k projection (weight or bias) from
/// llama.cpp's interleaved RoPE layout back to Hugging Face's half-split one:
/// within each of the `n_head` heads of `head_dim = rows / n_head` rows, GGUF
/// row `2i + s` becomes row `s * head_dim / 2 + i`. `data` holds `rows` rows
/// of `row_len` items (any item type, so encoded rows can be moved as bytes).
pub fn unpermute_rope_rows<T: Copy>(
    data: &[T],
    row_len: usize,
    n_head: usize,
) -> Result<Vec<T>, LoadError> {
    reorder_rope_rows(data, row_len, n_head, |h, hd, s, i| {
        // Destination row (half-split) <- source row (interleaved).
        (h * hd + s * (hd / 2) + i, h * hd + 2 * i + s)
    })
}

/// llama.cpp's conversion permutation, the inverse of
/// [`unpermute_rope_rows`]: within each head, row `s * head_dim / 2 + i`
/// becomes row `2i + s` (numpy:
/// `w.reshape(n_head, 2, head_dim / 2, ...).swapaxes(1, 2).reshape(w.shape)`).
pub fn permute_rope_rows<T: Copy>(
    data: &[T],
    row_len: usize,
    n_head: usize,
) -> Result<Vec<T>, LoadError> {
    reorder_rope_rows(data, row_len, n_head, |h, hd, s, i| {
        (h * hd + 2 * i + s, h * hd + s * (hd / 2) + i)
    })
}

/// Moves rows per `map(head, head_dim, s, i) -> (destination, source)` for
/// every head `h`, half `s` and index `i < head_dim / 2`.
fn reorder_rope_rows<T: Copy>(
    data: &[T],
    row_len: usize,
    n_head: usize,
    map: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> Result<Vec<T>, LoadError> {
    let rows = data.len().checked_div(row_len).unwrap_or(0);
    if row_len == 0 || n_head == 0 || rows * row_len != data.len() || !rows.is_multiple_of(n_head) {
        return Err(LoadError::Config(format!(
            "cannot split {} values into {n_head} heads of rows of {row_len}",
            data.len()
        )));
    }
    let hd = rows / n_head;
    if !hd.is_multiple_of(2) {
        return Err(LoadError::Config(format!(
            "head_dim {hd} is odd: cannot reorder RoPE rows"
        )));
    }
    let mut out = data.to_vec();
    for h in 0..n_head {
        for s in 0..2 {
            for i in 0..hd / 2 {
                let (dst, src) = map(h, hd, s, i);
                out[dst * row_len..(dst + 1) * row_len]
                    .copy_from_slice(&data[src * row_len..(src + 1) * row_len]);
            }
        }
    }
    Ok(out)
}

/// The GGUF tensor name for a canonical (Hugging Face) one, or `None` when
/// the name is not one the model uses.
pub fn gguf_tensor_name(canonical: &str) -> Option<String> {
    match canonical {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = canonical.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let layer: usize = layer.parse().ok()?;
    let gguf = match suffix {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.o_proj.bias" => "attn_output.bias",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{layer}.{gguf}"))
}

/// Builds the [`ModelConfig`] from a model file's metadata and tensor
/// directory (see [`GgufWeights`] for the keys).
pub fn model_config(file: &GgufFile) -> Result<ModelConfig, LoadError> {
    let arch_name = file.get_str("general.architecture").ok_or_else(|| {
        LoadError::Config("GGUF metadata `general.architecture` is missing or not a string".into())
    })?;
    let architecture = match arch_name {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        "qwen3" => Architecture::Qwen3,
        other => return Err(LoadError::UnsupportedArchitecture(other.to_string())),
    };
    let key = |k: &str| format!("{arch_name}.{k}");
    let usize_at = |k: &str| -> Result<Option<usize>, LoadError> {
        let k = key(k);
        match file.metadata(&k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    LoadError::Config(format!(
                        "GGUF metadata `{k}` is {} {v:?}, expected a non-negative integer",
                        v.meta_type().name()
                    ))
                }),
        }
    };
    let f32_at = |k: &str| -> Result<Option<f32>, LoadError> {
        let k = key(k);
        match file.metadata(&k) {
            None => Ok(None),
            Some(v) => v.as_f64().map(|x| Some(x as f32)).ok_or_else(|| {
                LoadError::Config(format!(
                    "GGUF metadata `{k}` is {} {v:?}, expected a float",
                    v.meta_type().name()
                ))
            }),
        }
    };
    let missing = |k: &str| LoadError::Config(format!("GGUF metadata `{}` is missing", key(k)));
    let required = |k: &str| usize_at(k)?.ok_or_else(|| missing(k));

    let hidden_size = required("embedding_length")?;
    let num_heads = required("attention.head_count")?;
    let num_kv_heads = usize_at("attention.head_count_kv")?.unwrap_or(num_heads);
    let head_dim = match usize_at("attention.key_length")? {
        Some(d) => d,
        None if num_heads > 0 && hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(LoadError::Config(format!(
                "{} ({hidden_size}) is not a multiple of {} ({num_heads}) and {} is absent",
                key("embedding_length"),
                key("attention.head_count"),
                key("attention.key_length"),
            )));
        }
    };
    if let Some(rot) = usize_at("rope.dimension_count")?
        && rot != head_dim
    {
        return Err(LoadError::Config(format!(
            "{} is {rot} but head_dim is {head_dim}: partial rotary embeddings are not supported",
            key("rope.dimension_count")
        )));
    }
    let vocab_size = match file.tensor_info("token_embd.weight") {
        Some(t) if t.ne.len() == 2 => t.ne[1],
        _ => match file.get_array("tokenizer.ggml.tokens") {
            Some(tokens) => tokens.len(),
            None => usize_at("vocab_size")?.ok_or_else(|| {
                LoadError::Config(
                    "no vocabulary size: no 2-D token_embd.weight, tokenizer.ggml.tokens \
                     or vocab_size"
                        .into(),
                )
            })?,
        },
    };

    let config = ModelConfig {
        architecture,
        hidden_size,
        intermediate_size: required("feed_forward_length")?,
        num_layers: required("block_count")?,
        num_heads,
        num_kv_heads,
        head_dim,
        vocab_size,
        max_context: required("context_length")?,
        rope_theta: f32_at("rope.freq_base")?.unwrap_or(10_000.0),
        rms_norm_eps: f32_at("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| missing("attention.layer_norm_rms_epsilon"))?,
        tied_embeddings: file.tensor_info("output.weight").is_none(),
        qkv_bias: file.tensor_info("blk.0.attn_q.bias").is_some(),
        qk_norm: file.tensor_info("blk.0.attn_q_norm.weight").is_some(),
    };
    config.validate()?;
    Ok(config)
}

/// A GGUF model file as a [`WeightSource`].
///
/// The configuration comes from the metadata of `general.architecture`
/// (`llama`, which Mistral files use too, `qwen2` or `qwen3`), under that
/// architecture's prefix: `embedding_length`, `feed_forward_length`,
/// `block_count`, `attention.head_count`, `attention.head_count_kv` (default:
/// the head count), `attention.key_length` (head_dim; default hidden size /
/// heads), `context_length`, `rope.freq_base` (default 10000) and
/// `attention.layer_norm_rms_epsilon`. The vocabulary size is the row count of
/// `token_embd.weight` (else the length of `tokenizer.ggml.tokens`); the
/// embedding is tied when there is no `output.weight`; q/k/v biases and q/k
/// norms are present when layer 0 has them.
///
/// q and k projections of Llama files are un-permuted on load (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct GgufWeights {
    file: GgufFile,
    config: ModelConfig,
}

impl GgufWeights {
    /// Opens the model file at `path` (tensors are read as they load).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::new(GgufFile::read(path)?)
    }

    /// Wraps a parsed file, building its configuration.
    pub fn new(file: GgufFile) -> Result<Self, LoadError> {
        let config = model_config(&file)?;
        Ok(Self { file, config })
    }

    /// The underlying file, for its metadata (tokenizer, chat template).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The head count by which the rows of canonical tensor `name` were
    /// permuted in this file, if they were.
    fn rope_heads(&self, name: &str) -> Option<usize> {
        if self.config.architecture != Architecture::Llama {
            return None;
        }
        let suffix = name.rsplit_once(".self_attn.")?.1;
        match suffix {
            "q_proj.weight" | "q_proj.bias" => Some(self.config.num_heads),
            "k_proj.weight" | "k_proj.bias" => Some(self.config.num_kv_heads),
            _ => None,
        }
    }

    /// The GGUF name behind a canonical one, if the file holds it.
    fn present(&self, name: &str) -> Result<String, LoadError> {
        gguf_tensor_name(name)
            .filter(|g| self.file.tensor_info(g).is_some())
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))
    }

    /// The canonical tensor `name` kept in its encoding, with rows in the
    /// half-split RoPE layout (a vector is one row).
    pub fn load_quantized(&self, name: &str) -> Result<QuantizedMatrix, LoadError> {
        let gguf = self.present(name)?;
        let mut matrix = self.file.quantized(&gguf)?;
        if let Some(n_head) = self.rope_heads(name) {
            if matrix.rows == 1 {
                // A bias: its elements are the rows to reorder. Only plain
                // element types split per element.
                let t = self.load_f32(name)?;
                let bytes: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                return QuantizedMatrix::new(GgmlType::F32, 1, t.data.len(), bytes)
                    .map_err(|e| quant_err(&gguf, e));
            }
            let row_bytes = matrix.row_bytes_len().map_err(|e| quant_err(&gguf, e))?;
            matrix.bytes = unpermute_rope_rows(&matrix.bytes, row_bytes, n_head)?;
        }
        Ok(matrix)
    }
}

impl WeightSource for GgufWeights {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn contains(&self, name: &str) -> bool {
        self.present(name).is_ok()
    }

    fn load_matrix(&self, name: &str) -> Result<QuantizedMatrix, LoadError> {
        self.load_quantized(name)
    }

    fn load_f32(&self, name: &str) -> Result<F32Tensor, LoadError> {
        let gguf = self.present(name)?;
        let mut t = self.file.tensor_f32(&gguf)?;
        if let Some(n_head) = self.rope_heads(name) {
            // Weights: rows of in_features; biases: single elements.
            let row_len = if t.shape.len() == 2 { t.shape[1] } else { 1 };
            t.data = unpermute_rope_rows(&t.data, row_len, n_head)?;
        }
        Ok(t)
    }
}
