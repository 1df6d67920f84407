//! The Llama family's layout in GGUF files: tensor names ([`gguf_tensor_name`]),
//! the architecture's metadata keys ([`model_config`]), and the RoPE row
//! order llama.cpp's converter uses for `llama` q and k projections
//! ([`unpermute_rope_rows`]; see the [module docs](crate::gguf)).

use super::file::GgufFile;
use crate::{Architecture, LoadError, ModelConfig};

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
/// directory (see [`GgufWeights`](super::GgufWeights) for the keys).
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
