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
//! [`LoadError::Gguf`](crate::LoadError::Gguf) naming what was being read and where, never a panic or
//! a huge allocation. The data section stays where it is: a file opened with
//! [`GgufFile::read`] or [`GgufFile::from_source`] reads each tensor's bytes
//! only when that tensor is loaded, so loading never holds the whole file and
//! the model's copy of it at once (a [`ByteSource`] is how a browser hands
//! over a file kept in its storage). [`GgufWeights`] puts a [`WeightSource`](crate::weights::WeightSource) over a model
//! file: it builds the [`ModelConfig`](crate::ModelConfig) from the metadata and serves tensors
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
//!
//! # Layout of this module
//!
//! | file | role |
//! | --- | --- |
//! | `metadata` | metadata value types ([`MetaType`], [`MetaValue`], [`MetaArray`]) |
//! | `header` | the binary format: header, metadata entries and tensor directory ([`TensorInfo`]), bounds-checked |
//! | `source` | [`ByteSource`]: random access to a file not (all) in memory; [`FileSource`] |
//! | `file` | [`GgufFile`]: a parsed header over its data section, tensors read on demand |
//! | `layout` | the Llama-family layout: tensor names ([`gguf_tensor_name`]), architecture metadata ([`model_config`]), RoPE row order |
//! | `weights` | [`GgufWeights`]: all of the above as a [`WeightSource`](crate::weights::WeightSource) |

mod file;
mod header;
mod layout;
mod metadata;
mod source;
mod weights;

pub use file::GgufFile;
pub use header::{DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, TensorInfo};
pub use layout::{gguf_tensor_name, model_config, permute_rope_rows, unpermute_rope_rows};
pub use metadata::{MetaArray, MetaType, MetaValue};
pub use source::{ByteSource, FileSource};
pub use weights::GgufWeights;
