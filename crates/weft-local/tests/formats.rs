//! Model file formats: GGUF parsing and block dequantization checked against
//! llama.cpp's gguf-py (`tests/reference/quant_fixture.py`), the real
//! SmolLM2 fixture, malformed input, and Hugging Face directories.
//!
//! Needs a Python with `numpy` and `gguf` (`WEFT_REF_PYTHON`, else
//! `python3`) and the SmolLM2 GGUF (`WEFT_SMOLLM2_GGUF`, else the cache path
//! `scripts/fetch-fixtures.sh` downloads to).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use support::{python, smollm2_path};

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use weft_local::gguf::{self, GgufFile, GgufWeights, MetaArray, MetaValue};
use weft_local::hf::HfWeights;
use weft_local::quant::{self, GgmlType};
use weft_local::weights::WeightSource;
use weft_local::{Architecture, LoadError};

/// Runs the reference script once per test process; returns its output
/// directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-local-formats");
        let _ = std::fs::remove_dir_all(&out);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/quant_fixture.py");
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(&out);
        let smollm = support::smollm2_location();
        if smollm.is_file() {
            cmd.arg(smollm);
        }
        let output = cmd.output().unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` (set WEFT_REF_PYTHON to a Python with numpy and gguf): {e}",
                python()
            )
        });
        assert!(
            output.status.success(),
            "{} failed (it needs `pip install numpy gguf`; set WEFT_REF_PYTHON to choose \
             the interpreter):\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        out
    })
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Asserts two decodings agree bit for bit (NaNs aside), naming the first
/// difference.
fn assert_same(what: &str, ours: &[f32], reference: &[f32]) {
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{what}: element {i} is {a}, gguf-py says {b}"
        );
    }
}

// ----------------------------------------------------------------------------
// Dequantization against gguf-py.

#[test]
fn dequantize_matches_gguf_py_for_every_type() {
    let dir = fixtures();
    let file = GgufFile::read(dir.join("quant.gguf")).unwrap();
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);
    let entries = manifest()["quant"].as_array().unwrap().clone();
    let mut seen = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let shape: Vec<usize> = entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let info = file.tensor_info(name).unwrap();
        assert_eq!(info.ty.name(), entry["type"].as_str().unwrap(), "{name}");
        seen.push(info.ty);

        let expected = read_f32(&dir.join("expected").join(format!("{name}.f32")));
        let t = file.tensor_f32(name).unwrap();
        assert_eq!(t.shape, shape, "{name}: shape (outermost first)");
        assert_same(name, &t.data, &expected);

        // Row by row through the quantized view.
        let m = file.quantized(name).unwrap();
        assert_eq!(m.cols, *shape.last().unwrap());
        assert_eq!(m.rows * m.cols, expected.len());
        for r in 0..m.rows {
            assert_same(
                &format!("{name} row {r}"),
                &m.row(r).unwrap(),
                &expected[r * m.cols..(r + 1) * m.cols],
            );
        }
    }
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        assert!(seen.contains(&ty), "no fixture for {ty}");
    }
}

#[test]
fn metadata_of_every_value_type() {
    let file = GgufFile::read(fixtures().join("quant.gguf")).unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.get_str("general.architecture"), Some("weft-test"));
    assert_eq!(file.metadata("test.u8"), Some(&MetaValue::U8(200)));
    assert_eq!(file.metadata("test.i8"), Some(&MetaValue::I8(-100)));
    assert_eq!(file.metadata("test.u16"), Some(&MetaValue::U16(60000)));
    assert_eq!(file.metadata("test.i16"), Some(&MetaValue::I16(-30000)));
    assert_eq!(file.get_u32("test.u32"), Some(4_000_000_000));
    assert_eq!(
        file.metadata("test.i32"),
        Some(&MetaValue::I32(-2_000_000_000))
    );
    assert_eq!(file.get_i64("test.i32"), Some(-2_000_000_000));
    assert_eq!(file.get_u32("test.i32"), None);
    assert_eq!(file.get_f32("test.f32"), Some(1.5));
    assert_eq!(file.get_u64("test.u64"), Some((1 << 63) + 5));
    assert_eq!(file.get_u32("test.u64"), None, "does not fit");
    assert_eq!(file.get_i64("test.i64"), Some(-(1 << 62)));
    assert_eq!(file.metadata("test.f64"), Some(&MetaValue::F64(2.25)));
    assert_eq!(file.get_f32("test.f64"), Some(2.25));
    assert_eq!(file.get_bool("test.bool"), Some(true));
    assert_eq!(file.get_str("test.str"), Some("héllo GGUF"));
    assert_eq!(file.get_i32_array("test.arr_i32"), Some(&[1, -2, 3][..]));
    assert_eq!(file.get_f32_array("test.arr_f32"), Some(&[0.5, -0.25][..]));
    let strs = file.get_str_array("test.arr_str").unwrap();
    assert_eq!(strs, ["a", "", "ünï"]);
    assert_eq!(
        file.get_array("test.arr_bool"),
        Some(&MetaArray::Bool(vec![true, false, true]))
    );
    assert_eq!(
        file.get_array("test.arr_u64"),
        Some(&MetaArray::U64(vec![7, 1 << 40]))
    );
    assert_eq!(
        file.get_array("test.nested"),
        Some(&MetaArray::Array(vec![
            MetaArray::I32(vec![1, 2]),
            MetaArray::I32(vec![3]),
            MetaArray::String(vec!["x".into(), "y".into()]),
        ]))
    );
    assert_eq!(file.get_str("test.u8"), None, "wrong type");
    assert_eq!(file.metadata("test.absent"), None);
}

// ----------------------------------------------------------------------------
// The real SmolLM2 file.

#[test]
fn smollm2_config() {
    let weights = GgufWeights::open(smollm2_path()).unwrap();
    let c = weights.config();
    assert_eq!(c.architecture, Architecture::Llama);
    assert_eq!(c.num_layers, 30);
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.intermediate_size, 1536);
    assert_eq!(c.num_heads, 9);
    assert_eq!(c.num_kv_heads, 3);
    assert_eq!(c.head_dim, 64);
    assert_eq!(c.vocab_size, 49152);
    assert_eq!(c.max_context, 8192);
    assert_eq!(c.rope_theta, 100_000.0);
    assert_eq!(c.rms_norm_eps, 1e-5);
    assert!(c.tied_embeddings);
    assert!(!c.qkv_bias);
    assert!(!c.qk_norm);

    let file = weights.file();
    assert_eq!(
        file.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        49152
    );
    assert!(file.get_str("tokenizer.chat_template").is_some());
    assert!(weights.contains("model.embed_tokens.weight"));
    assert!(weights.contains("model.layers.29.mlp.down_proj.weight"));
    assert!(!weights.contains("model.layers.30.mlp.down_proj.weight"));
    assert!(!weights.contains("lm_head.weight"));
    assert!(matches!(
        weights.load_f32("lm_head.weight"),
        Err(LoadError::MissingTensor(name)) if name == "lm_head.weight"
    ));
}

#[test]
fn smollm2_tensors_match_gguf_py() {
    let path = smollm2_path();
    let dir = fixtures();
    let file = GgufFile::read(&path).unwrap();
    let entries = manifest()["smollm"].as_array().cloned().unwrap_or_default();
    assert!(
        !entries.is_empty(),
        "the reference script did not see the SmolLM2 file"
    );
    let mut types = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let expected = read_f32(&dir.join("smollm").join(format!("{name}.f32")));
        let info = file.tensor_info(name).unwrap();
        types.push(info.ty);
        match entry["rows"].as_array() {
            Some(rows) => {
                let m = file.quantized(name).unwrap();
                for (k, r) in rows.iter().enumerate() {
                    let r = r.as_u64().unwrap() as usize;
                    assert_same(
                        &format!("{name} row {r}"),
                        &m.row(r).unwrap(),
                        &expected[k * m.cols..(k + 1) * m.cols],
                    );
                }
            }
            None => assert_same(name, &file.tensor_f32(name).unwrap().data, &expected),
        }
    }
    assert!(types.contains(&GgmlType::Q8_0));
    assert!(types.contains(&GgmlType::Q4_1));
    assert!(types.contains(&GgmlType::F32));

    // Embedding shape, and the canonical view agreeing with the raw one.
    let weights = GgufWeights::new(file.clone()).unwrap();
    let embed = weights.load_f32("model.embed_tokens.weight").unwrap();
    assert_eq!(embed.shape, [49152, 576]);
    let raw_q = file.tensor_f32("blk.0.attn_q.weight").unwrap();
    let q = weights
        .load_f32("model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!(q.shape, [576, 576]);
    assert_eq!(
        q.data,
        gguf::unpermute_rope_rows(&raw_q.data, 576, 9).unwrap(),
        "q is un-permuted with 9 heads"
    );
    let k = weights
        .load_f32("model.layers.0.self_attn.k_proj.weight")
        .unwrap();
    assert_eq!(k.shape, [192, 576]);
    let raw_k = file.tensor_f32("blk.0.attn_k.weight").unwrap();
    assert_eq!(
        k.data,
        gguf::unpermute_rope_rows(&raw_k.data, 576, 3).unwrap()
    );
    let qm = weights
        .load_quantized("model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!((qm.ty, qm.rows, qm.cols), (GgmlType::Q4_1, 576, 576));
    assert_eq!(qm.dequantize().unwrap(), q.data);
    let down = weights
        .load_f32("model.layers.0.mlp.down_proj.weight")
        .unwrap();
    assert_eq!(down.shape, [576, 1536]);
    assert_eq!(
        down.data,
        file.tensor_f32("blk.0.ffn_down.weight").unwrap().data,
        "non-RoPE tensors are served as stored"
    );
}

// ----------------------------------------------------------------------------
// RoPE row order.

#[test]
fn rope_permutation_round_trips() {
    // One head, head_dim 4, rows r0..r3: the converter interleaves the two
    // halves, (r0 r1 | r2 r3) -> r0 r2 r1 r3.
    let rows = [0, 1, 2, 3];
    assert_eq!(gguf::permute_rope_rows(&rows, 1, 1).unwrap(), [0, 2, 1, 3]);
    assert_eq!(
        gguf::unpermute_rope_rows(&[0, 2, 1, 3], 1, 1).unwrap(),
        rows
    );

    for (n_head, head_dim, row_len) in [(1, 2, 1), (9, 64, 3), (3, 64, 1), (4, 16, 5), (2, 128, 2)]
    {
        let data: Vec<u32> = (0..(n_head * head_dim * row_len) as u32).collect();
        let permuted = gguf::permute_rope_rows(&data, row_len, n_head).unwrap();
        if head_dim > 2 {
            assert_ne!(permuted, data, "{n_head}x{head_dim}");
        }
        // The numpy definition, element by element:
        // w.reshape(n_head, 2, hd/2, row).swapaxes(1, 2) -> [h][i][s][c].
        let half = head_dim / 2;
        let mut numpy = Vec::new();
        for h in 0..n_head {
            for i in 0..half {
                for s in 0..2 {
                    let src_row = h * head_dim + s * half + i;
                    numpy.extend_from_slice(&data[src_row * row_len..(src_row + 1) * row_len]);
                }
            }
        }
        assert_eq!(permuted, numpy);
        assert_eq!(
            gguf::unpermute_rope_rows(&permuted, row_len, n_head).unwrap(),
            data
        );
    }
    assert!(
        gguf::unpermute_rope_rows(&[0u8; 6], 1, 2).is_err(),
        "odd head_dim"
    );
    assert!(
        gguf::unpermute_rope_rows(&[0u8; 8], 1, 3).is_err(),
        "heads do not divide"
    );
}

#[test]
fn llama_gguf_rope_unpermute_matches_converter() {
    let dir = fixtures();
    let weights = GgufWeights::open(dir.join("llama.gguf")).unwrap();
    let c = weights.config();
    assert_eq!(c.architecture, Architecture::Llama);
    assert_eq!(
        (c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim),
        (64, 4, 2, 16)
    );
    assert_eq!((c.vocab_size, c.num_layers, c.max_context), (32, 1, 256));
    assert_eq!(c.rope_theta, 500_000.0);
    assert!(!c.tied_embeddings);
    assert!(c.qkv_bias);
    assert!(!c.qk_norm);

    let exp = dir.join("expected/llama");
    for (name, shape) in [
        ("q_proj.weight", vec![64, 64]),
        ("q_proj.bias", vec![64]),
        ("k_proj.weight", vec![32, 64]),
        ("k_proj.bias", vec![32]),
        ("v_proj.weight", vec![32, 64]),
    ] {
        let t = weights
            .load_f32(&format!("model.layers.0.self_attn.{name}"))
            .unwrap();
        assert_eq!(t.shape, shape, "{name}");
        assert_same(name, &t.data, &read_f32(&exp.join(format!("{name}.f32"))));
    }
    let q = weights
        .load_quantized("model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!(q.ty, GgmlType::Q8_0);
    assert_same(
        "quantized q",
        &q.dequantize().unwrap(),
        &read_f32(&exp.join("q_proj.weight.f32")),
    );
    assert!(weights.contains("lm_head.weight"));
    assert_eq!(weights.load_f32("lm_head.weight").unwrap().shape, [32, 64]);
}

// ----------------------------------------------------------------------------
// Malformed GGUF.

/// Writes small GGUF files, valid or deliberately not.
struct Builder {
    version: u32,
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

impl Builder {
    fn new() -> Self {
        Self {
            version: 3,
            kv: Vec::new(),
            n_kv: 0,
            infos: Vec::new(),
            n_tensors: 0,
            data: Vec::new(),
        }
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A metadata entry of type id `ty` with an already-encoded value.
    fn kv_raw(mut self, key: &str, ty: u32, value: &[u8]) -> Self {
        Self::string(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        self.kv.extend(value);
        self.n_kv += 1;
        self
    }

    fn kv_u32(self, key: &str, v: u32) -> Self {
        self.kv_raw(key, 4, &v.to_le_bytes())
    }

    fn kv_f32(self, key: &str, v: f32) -> Self {
        self.kv_raw(key, 6, &v.to_le_bytes())
    }

    fn kv_str(self, key: &str, v: &str) -> Self {
        let mut value = Vec::new();
        Self::string(&mut value, v);
        self.kv_raw(key, 8, &value)
    }

    /// A directory entry with an explicit offset and no data.
    fn tensor_at(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Self {
        Self::string(&mut self.infos, name);
        self.infos.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend(offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }

    /// A tensor with its data appended (32-byte aligned).
    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, data: &[u8]) -> Self {
        self.data.resize(self.data.len().next_multiple_of(32), 0);
        let offset = self.data.len() as u64;
        self.data.extend(data);
        self.tensor_at(name, ne, ty, offset)
    }

    fn f32_tensor(self, name: &str, ne: &[u64]) -> Self {
        let n: u64 = ne.iter().product();
        let data: Vec<u8> = (0..n)
            .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
            .collect();
        self.tensor(name, ne, 0, &data)
    }

    fn build(self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(self.kv);
        out.extend(self.infos);
        out.resize(out.len().next_multiple_of(32), 0);
        out.extend(self.data);
        out
    }
}

/// The error message of a parse that must fail with [`LoadError::Gguf`].
fn gguf_error(bytes: Vec<u8>) -> String {
    match GgufFile::parse(bytes) {
        Err(LoadError::Gguf(message)) => message,
        Err(other) => panic!("expected LoadError::Gguf, got {other:?}"),
        Ok(_) => panic!("a malformed file parsed"),
    }
}

#[test]
fn truncated_files_fail_with_the_place() {
    let bytes = std::fs::read(fixtures().join("quant.gguf")).unwrap();
    let file = GgufFile::parse(bytes.clone()).unwrap();
    let end_of_data = file.data_offset()
        + file
            .tensors()
            .iter()
            .map(|t| t.offset + t.n_bytes)
            .max()
            .unwrap();
    let mut cuts: Vec<usize> = (0..64).collect();
    cuts.extend((64..end_of_data).step_by(53));
    cuts.push(end_of_data - 1);
    for cut in cuts {
        let message = gguf_error(bytes[..cut].to_vec());
        if cut < file.data_offset() - 64 {
            assert!(
                message.contains(&format!("truncated at byte {cut}")),
                "cut at {cut}: {message}"
            );
        } else {
            assert!(
                message.contains("truncated") || message.contains("out of bounds for tensor"),
                "cut at {cut}: {message}"
            );
        }
    }
    // The header's own fields are named.
    assert!(gguf_error(bytes[..2].to_vec()).contains("magic"));
    assert!(gguf_error(bytes[..6].to_vec()).contains("version"));
    assert!(gguf_error(bytes[..12].to_vec()).contains("tensor count"));
    assert!(gguf_error(bytes[..20].to_vec()).contains("metadata count"));
}

#[test]
fn bad_magic_and_versions() {
    let good = Builder::new().kv_u32("a", 1).build();
    assert!(GgufFile::parse(good.clone()).is_ok());

    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"GGML");
    let message = gguf_error(bad);
    assert!(
        message.contains("bad magic") && message.contains("GGML"),
        "{message}"
    );

    for (version, expect) in [
        (1u32, "version 1"),
        (4, "unsupported GGUF version 4"),
        (3u32.swap_bytes(), "big-endian"),
    ] {
        let mut b = Builder::new();
        b.version = version;
        let message = gguf_error(b.build());
        assert!(message.contains(expect), "{message}");
    }
    let mut v2 = Builder::new().kv_u32("a", 1);
    v2.version = 2;
    assert_eq!(GgufFile::parse(v2.build()).unwrap().version(), 2);
}

#[test]
fn tensor_data_out_of_bounds_names_the_tensor() {
    let bytes = Builder::new()
        .f32_tensor("fine", &[8])
        .tensor_at("blk.3.ffn_up.weight", &[32, 4], 0, 1 << 20)
        .build();
    let message = gguf_error(bytes);
    assert!(
        message.contains("out of bounds") && message.contains("blk.3.ffn_up.weight"),
        "{message}"
    );

    // An offset so large that offset + size overflows.
    let message = gguf_error(
        Builder::new()
            .tensor_at("t", &[8], 0, u64::MAX - 31)
            .build(),
    );
    assert!(message.contains("`t`"), "{message}");
}

#[test]
fn unsupported_tensor_types_name_the_tensor() {
    // Q3_K (id 11): a known type whose size is known, so the file parses,
    // but this crate does not decode it.
    let bytes = Builder::new()
        .f32_tensor("ok", &[4])
        .tensor("blk.0.ffn_up.weight", &[256, 2], 11, &[0; 220])
        .build();
    let file = GgufFile::parse(bytes).unwrap();
    assert_eq!(
        file.tensor_info("blk.0.ffn_up.weight").unwrap().ty,
        GgmlType::Q3_K
    );
    for err in [
        file.tensor_f32("blk.0.ffn_up.weight").unwrap_err(),
        file.quantized("blk.0.ffn_up.weight").unwrap_err(),
    ] {
        assert!(
            matches!(&err, LoadError::UnsupportedTensorType { tensor, dtype }
                if tensor == "blk.0.ffn_up.weight" && dtype == "Q3_K"),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("blk.0.ffn_up.weight") && message.contains("Q3_K"));
    }
    assert_eq!(file.tensor_f32("ok").unwrap().data.len(), 4);

    // An id ggml never assigned: the directory itself cannot be sized.
    let err = GgufFile::parse(Builder::new().tensor_at("weird", &[32], 99, 0).build()).unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedTensorType { tensor, dtype }
            if tensor == "weird" && dtype.contains("99")),
        "{err:?}"
    );
}

#[test]
fn absurd_counts_are_refused_without_allocating() {
    // 2^60 tensors and metadata entries in a 24-byte file.
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend((1u64 << 60).to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    assert!(gguf_error(bytes.clone()).contains("cannot fit"));
    bytes[8..16].copy_from_slice(&0u64.to_le_bytes());
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(gguf_error(bytes).contains("cannot fit"));

    // An array claiming 2^62 items.
    let mut value = 4u32.to_le_bytes().to_vec();
    value.extend((1u64 << 62).to_le_bytes());
    let message = gguf_error(
        Builder::new()
            .kv_raw("tokenizer.ggml.tokens", 9, &value)
            .build(),
    );
    assert!(message.contains("tokenizer.ggml.tokens"), "{message}");

    // A string claiming 2^63 bytes.
    let value = (1u64 << 63).to_le_bytes();
    let message = gguf_error(Builder::new().kv_raw("general.name", 8, &value).build());
    assert!(
        message.contains("general.name") && message.contains("truncated"),
        "{message}"
    );

    // Arrays nested ten thousand deep.
    let mut value = Vec::new();
    for _ in 0..10_000 {
        value.extend(9u32.to_le_bytes());
        value.extend(1u64.to_le_bytes());
    }
    let message = gguf_error(Builder::new().kv_raw("deep", 9, &value).build());
    assert!(message.contains("nests arrays"), "{message}");

    // Dimensions whose product overflows, too many dimensions.
    let message = gguf_error(
        Builder::new()
            .tensor_at("big", &[1 << 40, 1 << 40], 0, 0)
            .build(),
    );
    assert!(message.contains("big"), "{message}");
    let message = gguf_error(
        Builder::new()
            .tensor_at("t5", &[1, 1, 1, 1, 1], 0, 0)
            .build(),
    );
    assert!(message.contains("5 dimensions"), "{message}");
}

#[test]
fn other_structural_errors() {
    let message = gguf_error(Builder::new().kv_u32("k", 1).kv_u32("k", 2).build());
    assert!(message.contains("`k` appears twice"), "{message}");
    let message = gguf_error(
        Builder::new()
            .f32_tensor("t", &[4])
            .f32_tensor("t", &[4])
            .build(),
    );
    assert!(message.contains("`t` appears twice"), "{message}");
    let message = gguf_error(Builder::new().kv_raw("k", 77, &[]).build());
    assert!(message.contains("unknown value type 77"), "{message}");
    let message = gguf_error(Builder::new().tensor_at("odd", &[8], 0, 4).build());
    assert!(message.contains("alignment"), "{message}");
    let message = gguf_error(Builder::new().tensor_at("q", &[33], 8, 0).build());
    assert!(message.contains("block size"), "{message}");
    let message = gguf_error(Builder::new().kv_u32("general.alignment", 24).build());
    assert!(message.contains("power of two"), "{message}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let good = std::fs::read(fixtures().join("quant.gguf")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let header_len = GgufFile::parse(good.clone()).unwrap().data_offset();
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % header_len;
            bytes[at] = next() as u8;
        }
        if let Ok(file) = GgufFile::parse(bytes) {
            for t in file.tensors() {
                let _ = file.tensor_f32(&t.name);
                let _ = file.quantized(&t.name).map(|m| m.row(0));
            }
        }
    }
}

#[test]
fn model_config_errors() {
    let llama = || {
        Builder::new()
            .kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", 1)
            .kv_u32("llama.context_length", 64)
            .kv_u32("llama.feed_forward_length", 16)
            .kv_u32("llama.attention.head_count", 2)
            .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-6)
    };
    let complete = llama()
        .kv_u32("llama.embedding_length", 8)
        .f32_tensor("token_embd.weight", &[8, 10]);
    let weights = GgufWeights::new(GgufFile::parse(complete.build()).unwrap()).unwrap();
    let c = weights.config();
    assert_eq!((c.vocab_size, c.head_dim, c.num_kv_heads), (10, 4, 2));
    assert_eq!(c.rope_theta, 10_000.0, "default");
    assert!(c.tied_embeddings);
    assert_eq!(
        weights.load_f32("lm_head.weight").unwrap_err().to_string(),
        "tensor `lm_head.weight` is missing"
    );

    let missing = llama().f32_tensor("token_embd.weight", &[8, 10]).build();
    let err = GgufWeights::new(GgufFile::parse(missing).unwrap()).unwrap_err();
    assert!(
        matches!(&err, LoadError::Config(m) if m.contains("llama.embedding_length")),
        "{err:?}"
    );

    let gpt2 = Builder::new()
        .kv_str("general.architecture", "gpt2")
        .build();
    let err = GgufWeights::new(GgufFile::parse(gpt2).unwrap()).unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedArchitecture(a) if a == "gpt2"),
        "{err:?}"
    );

    let wrong_type = llama()
        .kv_str("llama.embedding_length", "wide")
        .f32_tensor("token_embd.weight", &[8, 10])
        .build();
    let err = GgufWeights::new(GgufFile::parse(wrong_type).unwrap()).unwrap_err();
    assert!(
        matches!(&err, LoadError::Config(m) if m.contains("llama.embedding_length") && m.contains("string")),
        "{err:?}"
    );
}

#[test]
fn canonical_names_map_to_gguf() {
    for (canonical, expected) in [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
        (
            "model.layers.0.input_layernorm.weight",
            "blk.0.attn_norm.weight",
        ),
        (
            "model.layers.11.self_attn.q_proj.weight",
            "blk.11.attn_q.weight",
        ),
        ("model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias"),
        (
            "model.layers.2.self_attn.v_proj.weight",
            "blk.2.attn_v.weight",
        ),
        (
            "model.layers.3.self_attn.o_proj.weight",
            "blk.3.attn_output.weight",
        ),
        (
            "model.layers.4.self_attn.q_norm.weight",
            "blk.4.attn_q_norm.weight",
        ),
        (
            "model.layers.4.self_attn.k_norm.weight",
            "blk.4.attn_k_norm.weight",
        ),
        (
            "model.layers.5.post_attention_layernorm.weight",
            "blk.5.ffn_norm.weight",
        ),
        (
            "model.layers.6.mlp.gate_proj.weight",
            "blk.6.ffn_gate.weight",
        ),
        ("model.layers.6.mlp.up_proj.weight", "blk.6.ffn_up.weight"),
        (
            "model.layers.6.mlp.down_proj.weight",
            "blk.6.ffn_down.weight",
        ),
    ] {
        assert_eq!(gguf::gguf_tensor_name(canonical).as_deref(), Some(expected));
    }
    for bad in [
        "model.layers.x.mlp.up_proj.weight",
        "model.layers.1.mlp.nope",
        "blk.0.attn_q.weight",
    ] {
        assert_eq!(gguf::gguf_tensor_name(bad), None, "{bad}");
    }
}

#[test]
fn quant_block_sizes_match_ggml() {
    // ggml's (block size, bytes) table, as gguf-py's GGML_QUANT_SIZES has it.
    for (id, block, bytes) in [
        (0, 1, 4),
        (1, 1, 2),
        (2, 32, 18),
        (3, 32, 20),
        (6, 32, 22),
        (7, 32, 24),
        (8, 32, 34),
        (10, 256, 84),
        (11, 256, 110),
        (12, 256, 144),
        (13, 256, 176),
        (14, 256, 210),
        (30, 1, 2),
    ] {
        let ty = GgmlType::from_id(id).unwrap();
        assert_eq!((ty.block_size(), ty.block_bytes()), (block, bytes), "{ty}");
    }
    let err = quant::dequantize(GgmlType::Q5_K, &[0; 175], 256).unwrap_err();
    assert!(err.to_string().contains("176"), "{err}");
}

// ----------------------------------------------------------------------------
// Hugging Face directories.

fn write_json(path: &Path, value: serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn llama_config() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 4,
        "max_position_embeddings": 128,
        "rope_theta": 100000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": false
    })
}

/// A tensor as (name, dtype, shape, bytes).
type Tensor = (&'static str, Dtype, Vec<usize>, Vec<u8>);

fn write_safetensors(path: &Path, tensors: &[Tensor]) {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn hf_directory_without_config() {
    let dir = tempfile::tempdir().unwrap();
    let err = HfWeights::open(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, LoadError::Config(_)), "{err:?}");
    assert!(message.contains("config.json") && message.contains(&dir.path().display().to_string()));

    let err = HfWeights::open(dir.path().join("absent")).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");

    // A config but no weights.
    write_json(&dir.path().join("config.json"), llama_config());
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn hf_config_missing_hidden_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = llama_config();
    config.as_object_mut().unwrap().remove("hidden_size");
    write_json(&dir.path().join("config.json"), config);
    write_safetensors(&dir.path().join("model.safetensors"), &[]);
    let err = HfWeights::open(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, LoadError::Config(_)), "{err:?}");
    assert!(
        message.contains("hidden_size") && message.contains("config.json"),
        "{message}"
    );

    let mut config = llama_config();
    config["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    write_json(&dir.path().join("config.json"), config);
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(matches!(&err, LoadError::UnsupportedArchitecture(a) if a == "GPT2LMHeadModel"));

    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[test]
fn hf_bf16_f16_f32_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_json(&dir.path().join("config.json"), llama_config());
    // Values exactly representable in bf16 and f16.
    let values: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) * 0.125).collect();
    let bf16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let f16: Vec<u8> = values[..8]
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let f32s: Vec<u8> = values[..8].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = [
        ("model.embed_tokens.weight", Dtype::BF16, vec![4, 8], bf16),
        ("model.norm.weight", Dtype::F16, vec![8], f16),
        (
            "model.layers.0.input_layernorm.weight",
            Dtype::F32,
            vec![8],
            f32s,
        ),
        ("lm_head.weight", Dtype::I32, vec![4, 8], vec![0; 128]),
    ];
    write_safetensors(&dir.path().join("model.safetensors"), &tensors);

    let weights = HfWeights::open(dir.path()).unwrap();
    let c = weights.config();
    assert_eq!(c.architecture, Architecture::Llama);
    assert_eq!(
        (c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim),
        (8, 2, 1, 4)
    );
    assert_eq!(
        (c.vocab_size, c.max_context, c.rope_theta),
        (4, 128, 100_000.0)
    );
    assert!(!c.tied_embeddings && !c.qkv_bias && !c.qk_norm);

    let embed = weights.load_f32("model.embed_tokens.weight").unwrap();
    assert_eq!(embed.shape, [4, 8]);
    assert_eq!(embed.data, values);
    assert_eq!(
        weights.load_f32("model.norm.weight").unwrap().data,
        values[..8]
    );
    assert_eq!(
        weights
            .load_f32("model.layers.0.input_layernorm.weight")
            .unwrap()
            .data,
        values[..8]
    );
    assert!(matches!(
        weights.load_f32("lm_head.weight"),
        Err(LoadError::UnsupportedTensorType { tensor, dtype }) if tensor == "lm_head.weight" && dtype == "I32"
    ));
    assert!(weights.contains("lm_head.weight"));
    assert!(matches!(
        weights.load_f32("model.layers.0.mlp.up_proj.weight"),
        Err(LoadError::MissingTensor(_))
    ));

    // A truncated file is a safetensors error naming the file.
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, LoadError::Safetensors { file, .. } if file.ends_with("model.safetensors")),
        "{err:?}"
    );
    std::fs::write(&path, &bytes[..5]).unwrap();
    assert!(matches!(
        HfWeights::open(dir.path()),
        Err(LoadError::Safetensors { .. })
    ));
}

#[test]
fn hf_sharded_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": 4,
        "max_position_embeddings": 64,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": true,
        "head_dim": null
    });
    write_json(&dir.path().join("config.json"), config);
    let f32_bytes = |n: usize, base: f32| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (base + i as f32).to_le_bytes())
            .collect()
    };
    write_safetensors(
        &dir.path().join("model-00001-of-00002.safetensors"),
        &[
            (
                "model.embed_tokens.weight",
                Dtype::F32,
                vec![4, 8],
                f32_bytes(32, 0.0),
            ),
            (
                "model.norm.weight",
                Dtype::F32,
                vec![8],
                f32_bytes(8, 100.0),
            ),
        ],
    );
    write_safetensors(
        &dir.path().join("model-00002-of-00002.safetensors"),
        &[(
            "model.layers.0.self_attn.q_proj.bias",
            Dtype::F32,
            vec![8],
            f32_bytes(8, 200.0),
        )],
    );
    let index = |extra: Option<(&str, &str)>| {
        let mut map = serde_json::json!({
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "model.norm.weight": "model-00001-of-00002.safetensors",
            "model.layers.0.self_attn.q_proj.bias": "model-00002-of-00002.safetensors",
        });
        if let Some((k, v)) = extra {
            map[k] = serde_json::json!(v);
        }
        serde_json::json!({"metadata": {"total_size": 192}, "weight_map": map})
    };
    write_json(
        &dir.path().join("model.safetensors.index.json"),
        index(None),
    );

    let weights = HfWeights::open(dir.path()).unwrap();
    let c = weights.config();
    assert_eq!(c.architecture, Architecture::Qwen2);
    assert!(c.qkv_bias && c.tied_embeddings && !c.qk_norm);
    assert_eq!((c.head_dim, c.rope_theta), (4, 1_000_000.0));
    assert_eq!(
        weights.load_f32("model.norm.weight").unwrap().data[0],
        100.0
    );
    let bias = weights
        .load_f32("model.layers.0.self_attn.q_proj.bias")
        .unwrap();
    assert_eq!(bias.shape, [8]);
    assert_eq!(bias.data[7], 207.0);
    assert_eq!(
        weights.load_f32("model.embed_tokens.weight").unwrap().data[31],
        31.0
    );
    let mut names: Vec<_> = weights.tensor_names().collect();
    names.sort_unstable();
    assert_eq!(names.len(), 3);

    // The index names a tensor its shard lacks.
    write_json(
        &dir.path().join("model.safetensors.index.json"),
        index(Some(("lm_head.weight", "model-00002-of-00002.safetensors"))),
    );
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, LoadError::Safetensors { message, .. } if message.contains("lm_head.weight")),
        "{err:?}"
    );
    // The index points outside the directory.
    write_json(
        &dir.path().join("model.safetensors.index.json"),
        index(Some(("lm_head.weight", "../elsewhere.safetensors"))),
    );
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a file name"), "{err}");
    // A shard is missing.
    write_json(
        &dir.path().join("model.safetensors.index.json"),
        index(Some(("lm_head.weight", "model-00003-of-00002.safetensors"))),
    );
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, LoadError::Io { path, .. } if path.ends_with("model-00003-of-00002.safetensors")),
        "{err:?}"
    );
}

#[test]
fn hf_qwen3_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"],
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "head_dim": 16,
        "vocab_size": 4,
        "max_position_embeddings": 64,
        "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}
    });
    write_json(&dir.path().join("config.json"), config);
    write_safetensors(&dir.path().join("model.safetensors"), &[]);
    let weights = HfWeights::open(dir.path()).unwrap();
    let c = weights.config();
    assert_eq!(c.architecture, Architecture::Qwen3);
    assert!(c.qk_norm && !c.qkv_bias);
    assert_eq!((c.head_dim, c.num_kv_heads), (16, 2));
    assert_eq!(c.rope_theta, 1_000_000.0);
    assert_eq!(c.rms_norm_eps, 1e-6);
    assert!(
        c.tied_embeddings,
        "no lm_head.weight and no tie_word_embeddings"
    );

    // model_type alone suffices; a wrongly typed field is named.
    let mut config = llama_config();
    config.as_object_mut().unwrap().remove("architectures");
    config["model_type"] = serde_json::json!("mistral");
    config["num_hidden_layers"] = serde_json::json!("one");
    write_json(&dir.path().join("config.json"), config);
    let err = HfWeights::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("num_hidden_layers"), "{err}");
}

/// A file in memory behind [`gguf::ByteSource`], recording every read.
struct RecordingSource {
    bytes: Vec<u8>,
    reads: std::sync::Mutex<Vec<(u64, usize)>>,
}

impl gguf::ByteSource for RecordingSource {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        self.reads.lock().unwrap().push((offset, len));
        let start = offset as usize;
        self.bytes
            .get(start..start + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| std::io::Error::other("read past the end"))
    }

    fn name(&self) -> String {
        "recording".into()
    }
}

#[test]
fn a_source_is_read_header_first_then_tensor_by_tensor() {
    // A header longer than the first read (1 MiB) makes the prefix grow.
    let long = "x".repeat(3 << 20);
    let bytes = Builder::new()
        .kv_str("general.long", &long)
        .f32_tensor("a", &[8])
        .f32_tensor("b", &[4, 2])
        .build();
    let in_memory = GgufFile::parse(bytes.clone()).unwrap();
    let source = std::sync::Arc::new(RecordingSource {
        bytes,
        reads: Default::default(),
    });
    let file_len = source.bytes.len();
    let file = GgufFile::from_source(source.clone()).unwrap();
    assert_eq!(file.get_str("general.long"), Some(long.as_str()));
    assert_eq!(file.data_offset(), in_memory.data_offset());
    let header_reads = source.reads.lock().unwrap().clone();
    assert_eq!(
        header_reads.iter().map(|r| r.1).collect::<Vec<_>>(),
        [1 << 20, 2 << 20, file_len],
        "the prefix doubles until the header fits, capped at the file's length"
    );

    for name in ["a", "b"] {
        assert_eq!(
            file.tensor_f32(name).unwrap(),
            in_memory.tensor_f32(name).unwrap()
        );
    }
    let info = file.tensor_info("b").unwrap();
    let last = *source.reads.lock().unwrap().last().unwrap();
    assert_eq!(
        last,
        ((file.data_offset() + info.offset) as u64, info.n_bytes),
        "a tensor is one read of exactly its bytes"
    );
}

#[test]
fn a_source_that_is_cut_short_names_the_truncation() {
    let bytes = Builder::new().f32_tensor("a", &[64]).build();
    let cut = bytes[..bytes.len() - 8].to_vec();
    let source = std::sync::Arc::new(RecordingSource {
        bytes: cut,
        reads: Default::default(),
    });
    let err = GgufFile::from_source(source).unwrap_err().to_string();
    assert!(err.contains("out of bounds for tensor `a`"), "{err}");
}
