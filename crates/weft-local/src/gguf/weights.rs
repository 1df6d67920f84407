//! [`GgufWeights`]: a GGUF model file as a [`WeightSource`], serving tensors
//! under their canonical Hugging Face names in the half-split RoPE layout.

use std::path::Path;

use super::file::{GgufFile, quant_err};
use super::layout::{gguf_tensor_name, model_config, unpermute_rope_rows};
use crate::quant::{GgmlType, QuantizedMatrix};
use crate::weights::{F32Tensor, WeightSource};
use crate::{Architecture, LoadError, ModelConfig};

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
/// [module docs](crate::gguf)).
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
