//! The binary format: the header (magic, version, counts), the metadata
//! entries and the tensor directory, read with a bounds-checked cursor that
//! names what it was reading and where.

use std::collections::HashMap;

use super::metadata::{MetaArray, MetaType, MetaValue};
use crate::LoadError;
use crate::quant::GgmlType;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// Data-section alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;

/// ggml's limit on tensor dimensions.
pub const MAX_DIMS: usize = 4;

/// How deeply arrays may nest in metadata before the file is rejected.
const MAX_ARRAY_DEPTH: usize = 16;

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

/// Everything in a GGUF file before its data section.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub(super) version: u32,
    pub(super) alignment: usize,
    pub(super) metadata: Vec<(String, MetaValue)>,
    pub(super) metadata_index: HashMap<String, usize>,
    pub(super) tensors: Vec<TensorInfo>,
    pub(super) tensor_index: HashMap<String, usize>,
    pub(super) data_start: usize,
}

impl Header {
    /// Parses the header from `bytes`, a prefix of a file of `file_len`
    /// bytes, checking every tensor's extent against the whole file.
    pub(super) fn parse(bytes: &[u8], file_len: u64) -> Result<Self, LoadError> {
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

/// A malformed-file error.
pub(super) fn gguf_err(message: String) -> LoadError {
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
