//! The decoder-only transformer, written as its equations.
//!
//! For each block `l` and hidden states `x` (one row per token):
//!
//! ```text
//! h = x + Wo · attention(rope(q(norm₁(x))), rope(k(norm₁(x))), v(norm₁(x)))
//! y = h + W_down · (silu(W_gate · norm₂(h)) ⊙ W_up · norm₂(h))
//! ```
//!
//! with `norm(x) = x / sqrt(mean(x²) + ε) ⊙ w` (RMSNorm), grouped-query
//! attention over a key/value cache allocated once per [`KvCache`], and RoPE in
//! the half-split layout (see [`crate::RopeLayout`]). Qwen2 adds biases to q,
//! k and v; Qwen3 applies an RMSNorm to every head of q and k before RoPE.
//!
//! q, k and v share one projection, as do gate and up. A projection's
//! weights are kept in one of two [`WeightLayout`]s: f32 on the device for
//! the backend's matmul (GPU backends), or in the file's own ggml encoding in
//! host memory for the [`qmatmul`] kernels (the CPU backend, where decoding
//! speed is the memory traffic of the weights).

use std::sync::Arc;

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::qmatmul;
use crate::quant::QuantizedMatrix;
use crate::weights::{F32Tensor, WeightSource};
use crate::{ForwardError, LoadError, ModelConfig};

/// How a model's matrices are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// f32 tensors on the device, multiplied by the backend's matmul.
    Dense,
    /// The checkpoint's own encoding (Q4_1, Q8_0, bf16, ...) in host memory,
    /// multiplied by fused dequantize-and-multiply kernels on the CPU.
    Encoded,
}

impl WeightLayout {
    /// The faster layout for `device`: encoded on the CPU backend (Flex),
    /// dense elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if *device == Device::flex() {
            WeightLayout::Encoded
        } else {
            WeightLayout::Dense
        }
    }
}

/// A projection's weight matrix.
#[derive(Debug, Clone)]
enum Matrix {
    /// `[in, out]` f32 on the device (boxed: a burn tensor handle is large).
    Dense(Box<Tensor<2>>),
    /// `[out, in]` matrices in host memory whose outputs are concatenated
    /// (one per run of equally encoded parts, so usually one).
    Encoded(Vec<Arc<QuantizedMatrix>>),
}

/// A projection `y = x · Wᵀ (+ b)`.
#[derive(Debug, Clone)]
struct Linear {
    weight: Matrix,
    bias: Option<Tensor<1>>,
}

impl Linear {
    async fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>, ForwardError> {
        let y = match &self.weight {
            Matrix::Dense(w) => x.matmul(w.as_ref().clone()),
            Matrix::Encoded(parts) => encoded_matmul(parts, x).await?,
        };
        Ok(match &self.bias {
            Some(b) => y + b.clone().unsqueeze::<2>(),
            None => y,
        })
    }
}

/// `x · Wᵀ` with `W` the concatenation of `parts` along the output.
async fn encoded_matmul(
    parts: &[Arc<QuantizedMatrix>],
    x: Tensor<2>,
) -> Result<Tensor<2>, ForwardError> {
    let device = x.device();
    let [n, _] = x.dims();
    let x = read_f32(x).await?;
    let width: usize = parts.iter().map(|p| p.rows).sum();
    let y = match parts {
        [only] => qmatmul::matmul(only, &x, n)?,
        _ => {
            let mut y = vec![0f32; n * width];
            let mut offset = 0;
            for part in parts {
                let part_y = qmatmul::matmul(part, &x, n)?;
                for (row, part_row) in y
                    .chunks_exact_mut(width)
                    .zip(part_y.chunks_exact(part.rows))
                {
                    row[offset..offset + part.rows].copy_from_slice(part_row);
                }
                offset += part.rows;
            }
            y
        }
    };
    Ok(Tensor::from_data(TensorData::new(y, [n, width]), &device))
}

/// A tensor's values on the host, read asynchronously (the only way on
/// WebGPU).
pub(crate) async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ForwardError> {
    t.into_data_async()
        .await
        .map_err(|e| ForwardError::Read(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| ForwardError::Read(format!("{e:?}")))
}

/// The token embedding table, `[vocab, hidden]`.
#[derive(Debug, Clone)]
enum Embedding {
    Dense(Box<Tensor<2>>),
    Encoded(Arc<QuantizedMatrix>),
}

impl Embedding {
    /// The rows of `tokens`, `[tokens, hidden]`.
    fn lookup(&self, tokens: &[u32], device: &Device) -> Result<Tensor<2>, ForwardError> {
        match self {
            Embedding::Dense(table) => {
                let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
                let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [tokens.len()]), device);
                Ok(table.as_ref().clone().select(0, ids))
            }
            Embedding::Encoded(table) => {
                let hidden = table.cols;
                let mut rows = vec![0f32; tokens.len() * hidden];
                for (&t, row) in tokens.iter().zip(rows.chunks_exact_mut(hidden)) {
                    table.row_into(t as usize, row)?;
                }
                Ok(Tensor::from_data(
                    TensorData::new(rows, [tokens.len(), hidden]),
                    device,
                ))
            }
        }
    }
}

/// RMSNorm over the last dimension: `x / sqrt(mean(x²) + ε) ⊙ w`.
fn rms_norm<const D: usize>(x: Tensor<D>, weight: &Tensor<1>, eps: f32) -> Tensor<D> {
    let inverse_rms = x
        .clone()
        .square()
        .mean_dim(D - 1)
        .add_scalar(eps)
        .sqrt()
        .recip();
    x * inverse_rms * weight.clone().unsqueeze::<D>()
}

/// Rotary position embedding tables for the half-split layout.
///
/// `rope(x) = x ⊙ cos + rotate_half(x) ⊙ sin`, where
/// `rotate_half([a, b]) = [-b, a]` for the two halves of each head. The
/// rotation is one small matrix product (`x · R`), so it costs one op.
#[derive(Debug, Clone)]
struct Rope {
    /// `[positions, head_dim]`: `cos(p · θ_i)`, each frequency twice.
    cos: Tensor<2>,
    /// `[positions, head_dim]`: `sin(p · θ_i)`, each frequency twice.
    sin: Tensor<2>,
    /// `[1, head_dim, head_dim]`: the rotate-half permutation with signs.
    rotate_half: Tensor<3>,
}

impl Rope {
    fn new(head_dim: usize, positions: usize, theta: f32, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * head_dim);
        let mut sin = Vec::with_capacity(positions * head_dim);
        for p in 0..positions {
            for i in 0..head_dim {
                let frequency =
                    1.0 / (theta as f64).powf((2 * (i % half)) as f64 / head_dim as f64);
                let angle = p as f64 * frequency;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let mut rotation = vec![0f32; head_dim * head_dim];
        for j in 0..half {
            // Output column j takes -x[j + half]; column j + half takes x[j].
            rotation[(j + half) * head_dim + j] = -1.0;
            rotation[j * head_dim + j + half] = 1.0;
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [positions, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [positions, head_dim]), device),
            rotate_half: Tensor::from_data(
                TensorData::new(rotation, [1, head_dim, head_dim]),
                device,
            ),
        }
    }

    /// Rotates `x: [tokens, heads, head_dim]` for positions `start..start + tokens`.
    fn apply(&self, x: Tensor<3>, start: usize) -> Tensor<3> {
        let [tokens, _, head_dim] = x.dims();
        let rows = start..start + tokens;
        let cos = self
            .cos
            .clone()
            .slice([rows.clone(), 0..head_dim])
            .unsqueeze_dim::<3>(1);
        let sin = self
            .sin
            .clone()
            .slice([rows, 0..head_dim])
            .unsqueeze_dim::<3>(1);
        let rotated = x.clone().matmul(self.rotate_half.clone());
        x * cos + rotated * sin
    }
}

/// Keys and values of every block for the positions seen so far, allocated
/// once at the context length and written in place: keys as
/// `[kv_heads, head_dim, positions]`, values as `[kv_heads, positions, head_dim]`.
#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor<3>>,
    values: Vec<Tensor<3>>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// The number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions this cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position; the memory stays allocated.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` positions (a shared prompt prefix) and forgets
    /// the rest.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// One transformer block.
#[derive(Debug, Clone)]
struct Block {
    attention_norm: Tensor<1>,
    qkv: Linear,
    q_norm: Option<Tensor<1>>,
    k_norm: Option<Tensor<1>>,
    output: Linear,
    mlp_norm: Tensor<1>,
    gate_up: Linear,
    down: Linear,
}

/// A loaded decoder-only transformer on one burn device.
#[derive(Debug, Clone)]
pub struct Transformer {
    config: ModelConfig,
    device: Device,
    layout: WeightLayout,
    embedding: Embedding,
    blocks: Vec<Block>,
    final_norm: Tensor<1>,
    /// The output projection; the embedding table itself when tied.
    lm_head: Linear,
    rope: Rope,
    /// The longest sequence a cache made by [`Transformer::new_cache`] holds.
    context: usize,
}

fn upload_1d(t: F32Tensor, device: &Device) -> Tensor<1> {
    let len = t.data.len();
    Tensor::from_data(TensorData::new(t.data, [len]), device)
}

/// Transposes a row-major `[rows, cols]` matrix.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Loads one or more `[out, in]` projections as one matrix whose outputs are
/// theirs side by side.
fn load_projection(
    source: &dyn WeightSource,
    names: &[String],
    input: usize,
    outputs: &[usize],
    layout: WeightLayout,
    device: &Device,
) -> Result<Matrix, LoadError> {
    match layout {
        WeightLayout::Dense => {
            load_dense(source, names, input, outputs, device).map(|w| Matrix::Dense(Box::new(w)))
        }
        WeightLayout::Encoded => load_encoded(source, names, input, outputs).map(Matrix::Encoded),
    }
}

/// The projections as one f32 `[in, Σout]` tensor, so a row of activations
/// multiplies it directly.
fn load_dense(
    source: &dyn WeightSource,
    names: &[String],
    input: usize,
    outputs: &[usize],
    device: &Device,
) -> Result<Tensor<2>, LoadError> {
    let total: usize = outputs.iter().sum();
    let mut stacked = Vec::with_capacity(input * total);
    for (name, &out) in names.iter().zip(outputs) {
        let t = source.load_f32(name)?;
        expect_shape(name, &t, &[out, input])?;
        stacked.extend_from_slice(&t.data);
    }
    let weight = transpose(&stacked, total, input);
    Ok(Tensor::from_data(
        TensorData::new(weight, [input, total]),
        device,
    ))
}

/// The projections in their stored encoding, consecutive ones of the same
/// encoding joined into one matrix (their rows simply follow each other).
fn load_encoded(
    source: &dyn WeightSource,
    names: &[String],
    input: usize,
    outputs: &[usize],
) -> Result<Vec<Arc<QuantizedMatrix>>, LoadError> {
    let mut parts: Vec<QuantizedMatrix> = Vec::new();
    for (name, &out) in names.iter().zip(outputs) {
        let m = load_matrix(source, name, out, input)?;
        match parts.last_mut() {
            Some(last) if last.ty == m.ty => {
                last.bytes.extend_from_slice(&m.bytes);
                last.rows += m.rows;
            }
            _ => parts.push(m),
        }
    }
    Ok(parts.into_iter().map(Arc::new).collect())
}

/// One `[rows, cols]` matrix in its stored encoding.
fn load_matrix(
    source: &dyn WeightSource,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<QuantizedMatrix, LoadError> {
    let m = source.load_matrix(name)?;
    if (m.rows, m.cols) != (rows, cols) {
        return Err(LoadError::ShapeMismatch {
            tensor: name.to_string(),
            found: vec![m.rows, m.cols],
            expected: vec![rows, cols],
        });
    }
    Ok(m)
}

fn expect_shape(name: &str, t: &F32Tensor, expected: &[usize]) -> Result<(), LoadError> {
    if t.shape != expected {
        return Err(LoadError::ShapeMismatch {
            tensor: name.to_string(),
            found: t.shape.clone(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

fn load_vector(
    source: &dyn WeightSource,
    name: &str,
    len: usize,
    device: &Device,
) -> Result<Tensor<1>, LoadError> {
    let t = source.load_f32(name)?;
    expect_shape(name, &t, &[len])?;
    Ok(upload_1d(t, device))
}

impl Transformer {
    /// Loads every weight from `source` onto `device`, tensor by tensor, with
    /// caches sized for `context` positions (capped at the model's own
    /// limit).
    ///
    /// Weights take the layout that is faster on `device`
    /// ([`WeightLayout::for_device`]).
    pub fn load(
        source: &dyn WeightSource,
        device: &Device,
        context: usize,
    ) -> Result<Self, LoadError> {
        Self::load_with_layout(source, device, context, WeightLayout::for_device(device))
    }

    /// As [`Transformer::load`], with the weights in `layout`. The encoded
    /// layout runs on the CPU whatever `device` is; activations still live on
    /// `device`.
    pub fn load_with_layout(
        source: &dyn WeightSource,
        device: &Device,
        context: usize,
        layout: WeightLayout,
    ) -> Result<Self, LoadError> {
        let c = source.config().clone();
        c.validate()?;
        let hidden = c.hidden_size;
        let q_width = c.num_heads * c.head_dim;
        let kv_width = c.num_kv_heads * c.head_dim;
        let embed_name = "model.embed_tokens.weight";
        let embedding = match layout {
            WeightLayout::Encoded => Embedding::Encoded(Arc::new(load_matrix(
                source,
                embed_name,
                c.vocab_size,
                hidden,
            )?)),
            WeightLayout::Dense => {
                let t = source.load_f32(embed_name)?;
                expect_shape(embed_name, &t, &[c.vocab_size, hidden])?;
                Embedding::Dense(Box::new(Tensor::from_data(
                    TensorData::new(t.data, [c.vocab_size, hidden]),
                    device,
                )))
            }
        };
        let projection = |names: &[String], input: usize, outputs: &[usize]| {
            load_projection(source, names, input, outputs, layout, device)
        };
        let mut blocks = Vec::with_capacity(c.num_layers);
        for l in 0..c.num_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            let qkv_names = [
                p("self_attn.q_proj.weight"),
                p("self_attn.k_proj.weight"),
                p("self_attn.v_proj.weight"),
            ];
            let qkv_bias = if c.qkv_bias {
                let mut bias = Vec::with_capacity(q_width + 2 * kv_width);
                for (name, width) in [
                    (p("self_attn.q_proj.bias"), q_width),
                    (p("self_attn.k_proj.bias"), kv_width),
                    (p("self_attn.v_proj.bias"), kv_width),
                ] {
                    let t = source.load_f32(&name)?;
                    expect_shape(&name, &t, &[width])?;
                    bias.extend_from_slice(&t.data);
                }
                let len = bias.len();
                Some(Tensor::from_data(TensorData::new(bias, [len]), device))
            } else {
                None
            };
            let (q_norm, k_norm) = if c.qk_norm {
                (
                    Some(load_vector(
                        source,
                        &p("self_attn.q_norm.weight"),
                        c.head_dim,
                        device,
                    )?),
                    Some(load_vector(
                        source,
                        &p("self_attn.k_norm.weight"),
                        c.head_dim,
                        device,
                    )?),
                )
            } else {
                (None, None)
            };
            blocks.push(Block {
                attention_norm: load_vector(source, &p("input_layernorm.weight"), hidden, device)?,
                qkv: Linear {
                    weight: projection(&qkv_names, hidden, &[q_width, kv_width, kv_width])?,
                    bias: qkv_bias,
                },
                q_norm,
                k_norm,
                output: Linear {
                    weight: projection(&[p("self_attn.o_proj.weight")], q_width, &[hidden])?,
                    bias: None,
                },
                mlp_norm: load_vector(
                    source,
                    &p("post_attention_layernorm.weight"),
                    hidden,
                    device,
                )?,
                gate_up: Linear {
                    weight: projection(
                        &[p("mlp.gate_proj.weight"), p("mlp.up_proj.weight")],
                        hidden,
                        &[c.intermediate_size, c.intermediate_size],
                    )?,
                    bias: None,
                },
                down: Linear {
                    weight: projection(
                        &[p("mlp.down_proj.weight")],
                        c.intermediate_size,
                        &[hidden],
                    )?,
                    bias: None,
                },
            });
        }
        let final_norm = load_vector(source, "model.norm.weight", hidden, device)?;
        let lm_head_weight = if c.tied_embeddings || !source.contains("lm_head.weight") {
            match &embedding {
                Embedding::Dense(table) => {
                    Matrix::Dense(Box::new(table.as_ref().clone().transpose()))
                }
                Embedding::Encoded(table) => Matrix::Encoded(vec![table.clone()]),
            }
        } else {
            projection(&["lm_head.weight".to_string()], hidden, &[c.vocab_size])?
        };
        let lm_head = Linear {
            weight: lm_head_weight,
            bias: None,
        };
        let context = context.clamp(1, c.max_context);
        let rope = Rope::new(c.head_dim, context, c.rope_theta, device);
        Ok(Self {
            config: c,
            device: device.clone(),
            layout,
            embedding,
            blocks,
            final_norm,
            lm_head,
            rope,
            context,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The longest sequence a cache holds.
    pub fn context(&self) -> usize {
        self.context
    }

    /// A key/value cache for one sequence, allocated once at full context.
    pub fn new_cache(&self) -> KvCache {
        let c = &self.config;
        let zeros = |shape: [usize; 3]| Tensor::<3>::zeros(shape, &self.device);
        let (kv_heads, d) = (c.num_kv_heads, c.head_dim);
        KvCache {
            keys: (0..c.num_layers)
                .map(|_| zeros([kv_heads, d, self.context]))
                .collect(),
            values: (0..c.num_layers)
                .map(|_| zeros([kv_heads, self.context, d]))
                .collect(),
            len: 0,
            capacity: self.context,
        }
    }

    /// Runs `tokens` at the cache's next positions and returns the logits of
    /// the last one, `[vocab]`. The caller checks that the tokens fit
    /// ([`KvCache::capacity`]); this panics otherwise. After an error the
    /// cache is empty.
    pub async fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<Tensor<1>, ForwardError> {
        let hidden = self.forward_hidden(tokens, cache).await?;
        let n = tokens.len();
        let last = hidden.slice([n - 1..n, 0..self.config.hidden_size]);
        Ok(self.logits(last).await?.reshape([self.config.vocab_size]))
    }

    /// Runs `tokens` and returns the logits of every position, `[tokens, vocab]`.
    pub async fn forward_all(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, ForwardError> {
        let hidden = self.forward_hidden(tokens, cache).await?;
        self.logits(hidden).await
    }

    /// How the weights are held.
    pub fn layout(&self) -> WeightLayout {
        self.layout
    }

    async fn logits(&self, hidden: Tensor<2>) -> Result<Tensor<2>, ForwardError> {
        let normed = rms_norm(hidden, &self.final_norm, self.config.rms_norm_eps);
        self.lm_head.forward(normed).await
    }

    async fn forward_hidden(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, ForwardError> {
        assert!(
            !tokens.is_empty() && cache.len + tokens.len() <= cache.capacity,
            "{} tokens do not fit the cache ({} of {} used)",
            tokens.len(),
            cache.len,
            cache.capacity
        );
        let start = cache.len;
        let mask = causal_mask(
            tokens.len(),
            start,
            self.config.num_kv_heads,
            self.group_size(),
            &self.device,
        );
        // Take the caches out so each is uniquely owned while it is written:
        // backends then update it in place instead of copying it.
        let keys = std::mem::take(&mut cache.keys);
        let values = std::mem::take(&mut cache.values);
        let result = async {
            let mut x = self.embedding.lookup(tokens, &self.device)?;
            for ((block, k), v) in self.blocks.iter().zip(keys).zip(values) {
                let (y, k, v) = self.block(block, x, start, k, v, mask.clone()).await?;
                x = y;
                cache.keys.push(k);
                cache.values.push(v);
            }
            Ok(x)
        }
        .await;
        match result {
            Ok(x) => {
                cache.len += tokens.len();
                Ok(x)
            }
            Err(e) => {
                // Some blocks' caches were consumed: start over.
                *cache = self.new_cache();
                Err(e)
            }
        }
    }

    fn group_size(&self) -> usize {
        self.config.num_heads / self.config.num_kv_heads
    }

    async fn block(
        &self,
        block: &Block,
        x: Tensor<2>,
        start: usize,
        keys: Tensor<3>,
        values: Tensor<3>,
        mask: Option<Tensor<3, Bool>>,
    ) -> Result<(Tensor<2>, Tensor<3>, Tensor<3>), ForwardError> {
        let c = &self.config;
        let eps = c.rms_norm_eps;
        let [n, _] = x.dims();
        let (heads, kv_heads, head_dim) = (c.num_heads, c.num_kv_heads, c.head_dim);

        let qkv = block
            .qkv
            .forward(rms_norm(x.clone(), &block.attention_norm, eps))
            .await?;
        let q_width = heads * head_dim;
        let kv_width = kv_heads * head_dim;
        let mut q = qkv
            .clone()
            .slice([0..n, 0..q_width])
            .reshape([n, heads, head_dim]);
        let mut k = qkv
            .clone()
            .slice([0..n, q_width..q_width + kv_width])
            .reshape([n, kv_heads, head_dim]);
        let v = qkv
            .slice([0..n, q_width + kv_width..q_width + 2 * kv_width])
            .reshape([n, kv_heads, head_dim]);
        if let (Some(qn), Some(kn)) = (&block.q_norm, &block.k_norm) {
            q = rms_norm(q, qn, eps);
            k = rms_norm(k, kn, eps);
        }
        let q = self.rope.apply(q, start);
        let k = self.rope.apply(k, start);

        let end = start + n;
        // Keys are cached transposed, [kv_heads, head_dim, pos], so the
        // scores need no transposed copy of the cache.
        let keys = keys.slice_assign([0..kv_heads, 0..head_dim, start..end], k.permute([1, 2, 0]));
        let values = values.slice_assign([0..kv_heads, start..end, 0..head_dim], v.swap_dims(0, 1));
        let k_all = keys.clone().slice([0..kv_heads, 0..head_dim, 0..end]);
        let v_all = values.clone().slice([0..kv_heads, 0..end, 0..head_dim]);

        // Group query heads by the key/value head they share:
        // [n, heads, d] → [heads, n, d] → [kv_heads, group · n, d].
        let group = heads / kv_heads;
        let q = q.swap_dims(0, 1).reshape([kv_heads, group * n, head_dim]);
        let scores = q.matmul(k_all).mul_scalar(1.0 / (head_dim as f32).sqrt());
        let scores = match mask {
            Some(m) => scores.mask_fill(m, f32::NEG_INFINITY),
            None => scores,
        };
        let attended = softmax(scores, 2).matmul(v_all);
        let attended = attended
            .reshape([heads, n, head_dim])
            .swap_dims(0, 1)
            .reshape([n, heads * head_dim]);
        let h = x + block.output.forward(attended).await?;

        let gate_up = block
            .gate_up
            .forward(rms_norm(h.clone(), &block.mlp_norm, eps))
            .await?;
        let ffn = c.intermediate_size;
        let gate = gate_up.clone().slice([0..n, 0..ffn]);
        let up = gate_up.slice([0..n, ffn..2 * ffn]);
        let y = h + block.down.forward(silu(gate) * up).await?;
        Ok((y, keys, values))
    }
}

/// The causal mask for `n` new tokens at positions `start..start + n`, laid
/// out like the grouped scores `[kv_heads, group · n, start + n]` (`true` =
/// hidden). A single new token sees everything before it, so it needs no mask.
fn causal_mask(
    n: usize,
    start: usize,
    kv_heads: usize,
    group: usize,
    device: &Device,
) -> Option<Tensor<3, Bool>> {
    if n == 1 {
        return None;
    }
    let total = start + n;
    let mut hidden = Vec::with_capacity(kv_heads * group * n * total);
    for _ in 0..kv_heads * group {
        for i in 0..n {
            hidden.extend((0..total).map(|j| j > start + i));
        }
    }
    Some(Tensor::from_data(
        TensorData::new(hidden, [kv_heads, group * n, total]),
        device,
    ))
}
