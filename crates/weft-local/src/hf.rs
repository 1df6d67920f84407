//! Hugging Face model directories: `config.json` and safetensors weights.
//!
//! A directory holds `config.json` and either one `model.safetensors` or
//! several shards listed by `model.safetensors.index.json` (its `weight_map`
//! names the shard of every tensor). [`HfWeights::open`] reads the
//! configuration and the shards' headers only; each tensor is read from its
//! file when asked for, so a checkpoint never sits in memory twice. F32, F16
//! and BF16 tensors are widened to f32; other dtypes are
//! [`LoadError::UnsupportedTensorType`].
//!
//! Tensor names are already the canonical ones [`WeightSource`] uses, and
//! Hugging Face q/k projections are in the half-split RoPE layout, so tensors
//! are served as stored.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::Metadata;
use serde_json::Value;

use crate::quant::{GgmlType, QuantizedMatrix};
use crate::weights::{F32Tensor, WeightSource, matrix_dims};
use crate::{Architecture, LoadError, ModelConfig};

/// The configuration file every model directory has.
pub const CONFIG_FILE: &str = "config.json";
/// The weights of an unsharded checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The safetensors crate's limit on header size.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Where one tensor lives.
#[derive(Debug, Clone)]
struct TensorEntry {
    /// The shard file.
    file: PathBuf,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Absolute byte offset of the data in `file`.
    start: u64,
    /// Bytes of data.
    len: usize,
}

/// A Hugging Face model directory as a [`WeightSource`].
///
/// The configuration is read from `config.json`:
///
/// | field | |
/// | --- | --- |
/// | `architectures[0]` (else `model_type`) | `LlamaForCausalLM`/`MistralForCausalLM` → Llama, `Qwen2ForCausalLM` → Qwen2, `Qwen3ForCausalLM` → Qwen3 |
/// | `hidden_size`, `intermediate_size`, `num_hidden_layers`, `num_attention_heads`, `vocab_size`, `max_position_embeddings` | required |
/// | `num_key_value_heads` | default `num_attention_heads` |
/// | `head_dim` | default `hidden_size / num_attention_heads` |
/// | `rope_theta` (or `rope_parameters.rope_theta`) | default 10000 |
/// | `rms_norm_eps` | default 1e-6 |
/// | `tie_word_embeddings` | default: tied when there is no `lm_head.weight` |
/// | `attention_bias` | q/k/v biases; always on for Qwen2 |
///
/// Qwen3 always has q/k norms.
#[derive(Debug, Clone)]
pub struct HfWeights {
    dir: PathBuf,
    config: ModelConfig,
    tensors: HashMap<String, TensorEntry>,
}

impl HfWeights {
    /// Opens the model directory `dir`: parses `config.json` and the
    /// safetensors headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            let what = if dir.is_dir() {
                "has no config.json"
            } else {
                "is not a directory"
            };
            return Err(LoadError::Config(format!(
                "{} {what}: a Hugging Face model directory needs config.json and \
                 model.safetensors (or model.safetensors.index.json and its shards)",
                dir.display()
            )));
        }
        let json = read_json(&config_path)?;
        let tensors = read_tensor_directory(dir)?;
        let config = parse_config(&json, &config_path, &tensors)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            tensors,
        })
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The names of every tensor in the checkpoint, unordered.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The stored shape of a tensor.
    pub fn tensor_shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }
}

impl WeightSource for HfWeights {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn load_f32(&self, name: &str) -> Result<F32Tensor, LoadError> {
        let entry = self
            .tensors
            .get(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        let convert: fn(&[u8]) -> f32 = match entry.dtype {
            Dtype::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Dtype::F16 => |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Dtype::BF16 => |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            other => {
                return Err(LoadError::UnsupportedTensorType {
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        let width = entry.dtype.bitsize() / 8;
        let data = entry.read()?.chunks_exact(width).map(convert).collect();
        Ok(F32Tensor {
            shape: entry.shape.clone(),
            data,
        })
    }

    /// f32, f16 and bf16 matrices as stored: half the memory of widening
    /// the 16-bit ones.
    fn load_matrix(&self, name: &str) -> Result<QuantizedMatrix, LoadError> {
        let entry = self
            .tensors
            .get(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        let ty = match entry.dtype {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => {
                return Err(LoadError::UnsupportedTensorType {
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        let (rows, cols) = matrix_dims(name, &entry.shape)?;
        QuantizedMatrix::new(ty, rows, cols, entry.read()?).map_err(|e| LoadError::Safetensors {
            file: entry.file.display().to_string(),
            message: format!("tensor `{name}`: {e}"),
        })
    }
}

impl TensorEntry {
    /// The tensor's raw bytes, read from its file.
    fn read(&self) -> Result<Vec<u8>, LoadError> {
        let io = |source| LoadError::Io {
            path: self.file.clone(),
            source,
        };
        let mut file = File::open(&self.file).map_err(io)?;
        file.seek(SeekFrom::Start(self.start)).map_err(io)?;
        let mut bytes = vec![0u8; self.len];
        file.read_exact(&mut bytes).map_err(io)?;
        Ok(bytes)
    }
}

fn read_json(path: &Path) -> Result<Value, LoadError> {
    let text = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| LoadError::Config(format!("{} is not valid JSON: {e}", path.display())))
}

/// The tensors of every safetensors file of the checkpoint in `dir`.
fn read_tensor_directory(dir: &Path) -> Result<HashMap<String, TensorEntry>, LoadError> {
    let index_path = dir.join(INDEX_FILE);
    let single_path = dir.join(SINGLE_FILE);
    if index_path.is_file() {
        let index = read_json(&index_path)?;
        let Some(weight_map) = index.get("weight_map").and_then(Value::as_object) else {
            return Err(LoadError::Config(format!(
                "{} has no `weight_map` object",
                index_path.display()
            )));
        };
        // Shard name -> the tensors the index places there.
        let mut shards: HashMap<&str, Vec<&str>> = HashMap::new();
        for (tensor, shard) in weight_map {
            let Some(shard) = shard.as_str() else {
                return Err(LoadError::Config(format!(
                    "{}: the shard of `{tensor}` is not a string",
                    index_path.display()
                )));
            };
            let mut parts = Path::new(shard).components();
            if !matches!(
                (parts.next(), parts.next()),
                (Some(Component::Normal(_)), None)
            ) {
                return Err(LoadError::Config(format!(
                    "{}: shard `{shard}` of `{tensor}` is not a file name in the model directory",
                    index_path.display()
                )));
            }
            shards.entry(shard).or_default().push(tensor);
        }
        let mut tensors = HashMap::new();
        let mut shard_names: Vec<_> = shards.keys().copied().collect();
        shard_names.sort_unstable();
        for shard in shard_names {
            let path = dir.join(shard);
            let mut in_file = read_header(&path)?;
            for &tensor in &shards[shard] {
                let Some(entry) = in_file.remove(tensor) else {
                    return Err(LoadError::Safetensors {
                        file: path.display().to_string(),
                        message: format!(
                            "{INDEX_FILE} places tensor `{tensor}` here, but the file has no such tensor"
                        ),
                    });
                };
                tensors.insert(tensor.to_string(), entry);
            }
        }
        Ok(tensors)
    } else if single_path.is_file() {
        read_header(&single_path)
    } else {
        Err(LoadError::Config(format!(
            "{} has neither {SINGLE_FILE} nor {INDEX_FILE} (only safetensors checkpoints are supported)",
            dir.display()
        )))
    }
}

/// The tensor directory of one safetensors file, from its header alone.
fn read_header(path: &Path) -> Result<HashMap<String, TensorEntry>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |message: String| LoadError::Safetensors {
        file: path.display().to_string(),
        message,
    };
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|e| bad(format!("cannot read the 8-byte header length: {e}")))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || header_len > file_len.saturating_sub(8) {
        return Err(bad(format!(
            "header length {header_len} is impossible for a file of {file_len} bytes"
        )));
    }
    // Bounded by the checks above.
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("cannot read the {header_len}-byte header: {e}")))?;
    let metadata: Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("bad header: {e}")))?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    if metadata.data_len() as u64 != data_len {
        return Err(bad(format!(
            "the header describes {} bytes of tensor data, but the file holds {data_len}",
            metadata.data_len()
        )));
    }
    Ok(metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| {
            let (begin, end) = info.data_offsets;
            let entry = TensorEntry {
                file: path.to_path_buf(),
                dtype: info.dtype,
                shape: info.shape.clone(),
                start: data_start + begin as u64,
                len: end - begin,
            };
            (name, entry)
        })
        .collect())
}

/// Builds the configuration from `config.json` (parsed as `json`, read from
/// `path`), consulting the tensor directory for an unstated tie.
fn parse_config(
    json: &Value,
    path: &Path,
    tensors: &HashMap<String, TensorEntry>,
) -> Result<ModelConfig, LoadError> {
    let file = path.display();
    let field = |name: &str| json.get(name).filter(|v| !v.is_null());
    let usize_field = |name: &str| -> Result<Option<usize>, LoadError> {
        match field(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    LoadError::Config(format!(
                        "`{name}` in {file} is {v}, expected a non-negative integer"
                    ))
                }),
        }
    };
    let required = |name: &str| -> Result<usize, LoadError> {
        usize_field(name)?
            .ok_or_else(|| LoadError::Config(format!("`{name}` is missing from {file}")))
    };
    let float_field = |v: Option<&Value>, name: &str| -> Result<Option<f32>, LoadError> {
        match v.filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => v.as_f64().map(|x| Some(x as f32)).ok_or_else(|| {
                LoadError::Config(format!("`{name}` in {file} is {v}, expected a number"))
            }),
        }
    };
    let bool_field = |name: &str| -> Result<Option<bool>, LoadError> {
        match field(name) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| {
                LoadError::Config(format!("`{name}` in {file} is {v}, expected true or false"))
            }),
        }
    };

    let architecture = architecture(json, path)?;
    let hidden_size = required("hidden_size")?;
    let num_heads = required("num_attention_heads")?;
    let head_dim = match usize_field("head_dim")? {
        Some(d) => d,
        None if num_heads > 0 && hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(LoadError::Config(format!(
                "hidden_size ({hidden_size}) in {file} is not a multiple of \
                 num_attention_heads ({num_heads}) and head_dim is absent"
            )));
        }
    };
    let rope_theta = match float_field(field("rope_theta"), "rope_theta")? {
        Some(theta) => theta,
        None => float_field(
            field("rope_parameters").and_then(|p| p.get("rope_theta")),
            "rope_parameters.rope_theta",
        )?
        .unwrap_or(10_000.0),
    };
    let config = ModelConfig {
        architecture,
        hidden_size,
        intermediate_size: required("intermediate_size")?,
        num_layers: required("num_hidden_layers")?,
        num_heads,
        num_kv_heads: usize_field("num_key_value_heads")?.unwrap_or(num_heads),
        head_dim,
        vocab_size: required("vocab_size")?,
        max_context: required("max_position_embeddings")?,
        rope_theta,
        rms_norm_eps: float_field(field("rms_norm_eps"), "rms_norm_eps")?.unwrap_or(1e-6),
        tied_embeddings: bool_field("tie_word_embeddings")?
            .unwrap_or_else(|| !tensors.contains_key("lm_head.weight")),
        qkv_bias: architecture == Architecture::Qwen2
            || bool_field("attention_bias")?.unwrap_or(false),
        qk_norm: architecture == Architecture::Qwen3,
    };
    match config.validate() {
        Err(LoadError::Config(message)) => Err(LoadError::Config(format!("{file}: {message}"))),
        other => other.map(|()| config),
    }
}

/// The architecture from `architectures[0]`, else `model_type`.
fn architecture(json: &Value, path: &Path) -> Result<Architecture, LoadError> {
    let class = json
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    if let Some(class) = class {
        return match class {
            "LlamaForCausalLM" | "MistralForCausalLM" => Ok(Architecture::Llama),
            "Qwen2ForCausalLM" => Ok(Architecture::Qwen2),
            "Qwen3ForCausalLM" => Ok(Architecture::Qwen3),
            other => Err(LoadError::UnsupportedArchitecture(other.to_string())),
        };
    }
    match json.get("model_type").and_then(Value::as_str) {
        Some("llama" | "mistral") => Ok(Architecture::Llama),
        Some("qwen2") => Ok(Architecture::Qwen2),
        Some("qwen3") => Ok(Architecture::Qwen3),
        Some(other) => Err(LoadError::UnsupportedArchitecture(other.to_string())),
        None => Err(LoadError::Config(format!(
            "neither `architectures` nor `model_type` is in {}",
            path.display()
        ))),
    }
}
