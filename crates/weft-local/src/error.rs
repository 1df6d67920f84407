//! Errors raised while loading a local model.

use std::path::PathBuf;

/// Why a model could not be loaded. Every variant names the file, tensor or
/// field at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A GGUF file is truncated or malformed.
    #[error("malformed GGUF: {0}")]
    Gguf(String),
    /// A safetensors file is malformed.
    #[error("malformed safetensors file {file}: {message}")]
    Safetensors {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor is stored in a type this crate cannot read.
    #[error("tensor `{tensor}` has unsupported type {dtype}")]
    UnsupportedTensorType {
        /// The tensor's name.
        tensor: String,
        /// The type as the file names it.
        dtype: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("tensor `{0}` is missing")]
    MissingTensor(String),
    /// A tensor's shape differs from what the configuration implies.
    #[error("tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The tensor's name.
        tensor: String,
        /// The shape in the file.
        found: Vec<usize>,
        /// The shape the configuration implies.
        expected: Vec<usize>,
    },
    /// A configuration field is missing or has a wrong value.
    #[error("bad model configuration: {0}")]
    Config(String),
    /// The architecture is not one this crate implements.
    #[error("unsupported architecture `{0}` (supported: llama, mistral, qwen2, qwen3)")]
    UnsupportedArchitecture(String),
    /// No tokenizer could be found or built.
    #[error("no tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template does not compile or render.
    #[error("chat template: {0}")]
    Template(String),
}

/// Why a forward pass failed after the model loaded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The backend could not compute or read back a tensor.
    #[error("the backend failed to read a tensor back: {0}")]
    Read(String),
    /// A quantized product was given operands that do not fit.
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
}
