//! One view of a checkpoint's tensors, whatever file layout they came from.
//!
//! Tensors are named as in Hugging Face Llama/Qwen checkpoints and shaped as
//! PyTorch stores them (`[out_features, in_features]` for projections):
//!
//! | name | shape |
//! | --- | --- |
//! | `model.embed_tokens.weight` | `[vocab, hidden]` |
//! | `model.layers.{i}.input_layernorm.weight` | `[hidden]` |
//! | `model.layers.{i}.self_attn.q_proj.weight` (`.bias` on Qwen2) | `[heads * head_dim, hidden]` |
//! | `model.layers.{i}.self_attn.k_proj.weight` (`.bias` on Qwen2) | `[kv_heads * head_dim, hidden]` |
//! | `model.layers.{i}.self_attn.v_proj.weight` (`.bias` on Qwen2) | `[kv_heads * head_dim, hidden]` |
//! | `model.layers.{i}.self_attn.o_proj.weight` | `[hidden, heads * head_dim]` |
//! | `model.layers.{i}.self_attn.q_norm.weight`, `k_norm` (Qwen3) | `[head_dim]` |
//! | `model.layers.{i}.post_attention_layernorm.weight` | `[hidden]` |
//! | `model.layers.{i}.mlp.gate_proj.weight`, `up_proj` | `[intermediate, hidden]` |
//! | `model.layers.{i}.mlp.down_proj.weight` | `[hidden, intermediate]` |
//! | `model.norm.weight` | `[hidden]` |
//! | `lm_head.weight` (absent when tied) | `[vocab, hidden]` |
//!
//! q and k rows are always in the half-split RoPE layout here: sources that
//! store them otherwise (Llama GGUF files) undo their permutation on load.

use crate::quant::{GgmlType, QuantizedMatrix};
use crate::{LoadError, ModelConfig};

/// A tensor in memory as f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct F32Tensor {
    /// The shape, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// A source of named tensors and the configuration that shapes them.
pub trait WeightSource {
    /// The model's hyper-parameters.
    fn config(&self) -> &ModelConfig;

    /// Whether the checkpoint holds a tensor of this canonical name.
    fn contains(&self, name: &str) -> bool;

    /// The tensor of this canonical name, dequantized to f32, in the
    /// half-split RoPE layout. A missing tensor is [`LoadError::MissingTensor`].
    fn load_f32(&self, name: &str) -> Result<F32Tensor, LoadError>;

    /// The 2-D tensor of this canonical name in its stored encoding where
    /// that is one the [`crate::qmatmul`] kernels read, in the half-split RoPE
    /// layout. The default widens [`WeightSource::load_f32`] to an f32 matrix.
    fn load_matrix(&self, name: &str) -> Result<QuantizedMatrix, LoadError> {
        let t = self.load_f32(name)?;
        let (rows, cols) = matrix_dims(name, &t.shape)?;
        let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        QuantizedMatrix::new(GgmlType::F32, rows, cols, bytes)
            .map_err(|e| LoadError::Config(format!("tensor `{name}`: {e}")))
    }
}

/// The rows and columns of tensor `name`, which must be 2-D.
pub(crate) fn matrix_dims(name: &str, shape: &[usize]) -> Result<(usize, usize), LoadError> {
    match *shape {
        [rows, cols] => Ok((rows, cols)),
        _ => Err(LoadError::Config(format!(
            "tensor `{name}` has shape {shape:?}, but a matrix has two dimensions"
        ))),
    }
}
