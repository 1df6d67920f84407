//! The hyper-parameters of a decoder-only transformer, one type for every
//! source (GGUF metadata or a Hugging Face `config.json`).

use serde::{Deserialize, Serialize};

/// The architecture family. Its differences from Llama are small and explicit
/// in [`ModelConfig`]'s flags; this names where they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 2/3, SmolLM, TinyLlama, and Mistral (same graph).
    Llama,
    /// Qwen2 and Qwen2.5: biases on the q, k and v projections.
    Qwen2,
    /// Qwen3: RMSNorm on each head of q and k, no q/k/v biases.
    Qwen3,
}

/// How the q and k projection rows are ordered for rotary embeddings.
///
/// Hugging Face checkpoints use the half-split ("NEOX") layout: dimension `i`
/// pairs with `i + head_dim / 2`. GGUF files of Llama-architecture models
/// store q and k permuted for the interleaved layout, where `2i` pairs with
/// `2i + 1`. The loaders undo that permutation, so every [`ModelConfig`] the
/// model sees is [`RopeLayout::HalfSplit`] once weights are in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RopeLayout {
    /// Pairs `(i, i + d/2)`.
    HalfSplit,
    /// Pairs `(2i, 2i + 1)`.
    Interleaved,
}

/// Everything the forward pass needs to know about the model's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The family.
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward (SwiGLU) layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Number of query heads.
    pub num_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than
    /// `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head (`hidden_size / num_heads` unless the config says).
    pub head_dim: usize,
    /// Vocabulary rows in the embedding.
    pub vocab_size: usize,
    /// The longest sequence the model was trained for, in tokens.
    pub max_context: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f32,
    /// Whether the output projection reuses the token embedding.
    pub tied_embeddings: bool,
    /// Biases on the q, k and v projections (Qwen2).
    pub qkv_bias: bool,
    /// RMSNorm on each head of q and k before RoPE (Qwen3).
    pub qk_norm: bool,
}

impl ModelConfig {
    /// Checks that the numbers fit together, naming the first that does not.
    pub fn validate(&self) -> Result<(), crate::LoadError> {
        let bad = |m: String| Err(crate::LoadError::Config(m));
        if self.hidden_size == 0 || self.num_layers == 0 || self.vocab_size == 0 {
            return bad("hidden_size, num_layers and vocab_size must be positive".into());
        }
        if self.num_heads == 0 || self.num_kv_heads == 0 || self.head_dim == 0 {
            return bad("num_heads, num_kv_heads and head_dim must be positive".into());
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return bad(format!(
                "num_heads ({}) is not a multiple of num_kv_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(format!(
                "head_dim ({}) must be even for RoPE",
                self.head_dim
            ));
        }
        if self.max_context == 0 {
            return bad("max_context must be positive".into());
        }
        Ok(())
    }
}
