//! The forward pass against an independent reference: `forward_ref.py`, an
//! f32 numpy implementation over the same files (see `tests/reference/`).
//!
//! - SmolLM2-135M-Instruct Q4_1 (the fetched fixture, Llama GGUF with
//!   permuted q/k): logits at every position of a 37-token prompt, and the
//!   first 32 greedy tokens.
//! - Tiny random Qwen2, Qwen3 and Llama models that the test writes in the
//!   Hugging Face layout (f32, bf16 and f16; one and two shards).
//!
//! Needs the fixture (`scripts/fetch-fixtures.sh`) and a Python with numpy
//! and gguf (`WEFT_REF_PYTHON`; `scripts/test.sh` sets one up).

mod support;

use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use support::{python, reference_script, smollm2_path};
use weft_local::generate::Session;
use weft_local::gguf::{GgufFile, GgufWeights};
use weft_local::hf::HfWeights;
use weft_local::model::{Transformer, WeightLayout};
use weft_local::sample::argmax;
use weft_local::weights::WeightSource;

/// The ChatML prompt "What is the capital of France?" with SmolLM2's default
/// system prompt, as token ids (looked up independently in the GGUF vocab).
const FRANCE_PROMPT: [u32; 37] = [
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531,
    198,
];

struct ReferenceLogits {
    rows: usize,
    vocab: usize,
    values: Vec<f32>,
}

fn reference_logits(model: &Path, tokens: &[u32]) -> ReferenceLogits {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let ids = tokens
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let meta = reference_script(
        "forward_ref.py",
        &[
            "logits",
            "--model",
            &model.display().to_string(),
            "--tokens",
            &ids,
            "--out",
            &out.path().display().to_string(),
        ],
    );
    let shape = meta["shape"].as_array().expect("shape");
    let (rows, vocab) = (
        shape[0].as_u64().unwrap() as usize,
        shape[1].as_u64().unwrap() as usize,
    );
    let bytes = std::fs::read(out.path()).expect("logits file");
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    ReferenceLogits {
        rows,
        vocab,
        values,
    }
}

fn reference_greedy(model: &Path, tokens: &[u32], n: usize) -> Vec<u32> {
    let ids = tokens
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let out = reference_script(
        "forward_ref.py",
        &[
            "greedy",
            "--model",
            &model.display().to_string(),
            "--tokens",
            &ids,
            "--n",
            &n.to_string(),
        ],
    );
    out["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect()
}

/// Compares every position's logits; returns max |Δ| and asserts top-1
/// agreement everywhere.
fn compare_logits(ours: &[f32], reference: &ReferenceLogits, label: &str) -> f32 {
    assert_eq!(
        ours.len(),
        reference.rows * reference.vocab,
        "{label}: logits shape"
    );
    let mut max_delta = 0f32;
    for row in 0..reference.rows {
        let range = row * reference.vocab..(row + 1) * reference.vocab;
        let (a, b) = (&ours[range.clone()], &reference.values[range]);
        assert_eq!(
            argmax(a),
            argmax(b),
            "{label}: top-1 differs at position {row}"
        );
        for (x, y) in a.iter().zip(b) {
            max_delta = max_delta.max((x - y).abs());
        }
    }
    eprintln!(
        "{label}: {} positions, top-1 agreement 100%, max |Δlogit| = {max_delta:.2e}",
        reference.rows
    );
    max_delta
}

fn our_logits(model: &Transformer, tokens: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache();
    futures::executor::block_on(model.forward_all(tokens, &mut cache))
        .expect("forward")
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 logits")
}

/// Both ways of holding the weights: in their file encoding with the CPU
/// kernels (the Flex default), and dense f32 with burn's matmul (the GPU
/// path's layout).
const LAYOUTS: [WeightLayout; 2] = [WeightLayout::Encoded, WeightLayout::Dense];

fn load(weights: &dyn WeightSource, context: usize, layout: WeightLayout) -> Arc<Transformer> {
    let model = Transformer::load_with_layout(weights, &Device::flex(), context, layout);
    Arc::new(model.expect("load"))
}

fn our_greedy(model: Arc<Transformer>, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut session = Session::new(model);
    futures::executor::block_on(async {
        let (mut logits, _) = session.prefill(prompt).await.expect("prefill");
        let mut out = Vec::new();
        for _ in 0..n {
            let token = argmax(&logits).expect("finite logits");
            out.push(token);
            logits = session.step(token).await.expect("step");
        }
        out
    })
}

#[test]
fn smollm2_logits_and_greedy_tokens_match_the_reference() {
    let path = smollm2_path();
    let file = GgufFile::read(&path).expect("read the fixture");
    let weights = GgufWeights::new(file).expect("weights");
    let reference = reference_logits(&path, &FRANCE_PROMPT);
    assert!(reference.rows >= 24);
    let expected = reference_greedy(&path, &FRANCE_PROMPT, 32);
    for layout in LAYOUTS {
        let model = load(&weights, 256, layout);
        let label = format!("SmolLM2 Q4_1, {layout:?} weights");
        let delta = compare_logits(&our_logits(&model, &FRANCE_PROMPT), &reference, &label);
        // Both sides compute in f32 from the same dequantized weights; what
        // is left is summation order.
        assert!(delta < 5e-3, "{label}: max |Δlogit| {delta}");
        let ours = our_greedy(model, &FRANCE_PROMPT, 32);
        assert_eq!(ours, expected, "{label}: first 32 greedy tokens");
    }
}

fn tiny_model(arch: &str, dtype: &str, shards: &str, dir: &Path) {
    let status = std::process::Command::new(python())
        .arg(support::reference_dir().join("make_tiny_model.py"))
        .args([
            "--arch", arch, "--dtype", dtype, "--shards", shards, "--seed", "7", "--out",
        ])
        .arg(dir)
        .status()
        .expect("run make_tiny_model.py");
    assert!(status.success(), "make_tiny_model.py failed for {arch}");
}

#[test]
fn tiny_qwen2_qwen3_and_llama_match_the_reference() {
    let prompt: Vec<u32> = (0..30).map(|i| (i * 37 + 5) % 297).collect();
    for (arch, dtype, shards) in [
        ("qwen2", "f32", "1"),
        ("qwen3", "bf16", "2"),
        ("llama", "f16", "1"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        tiny_model(arch, dtype, shards, dir.path());
        let weights = HfWeights::open(dir.path()).expect("open the tiny model");
        let config = weights.config().clone();
        match arch {
            "qwen2" => assert!(config.qkv_bias && !config.qk_norm),
            "qwen3" => assert!(config.qk_norm && !config.qkv_bias),
            _ => assert!(!config.qk_norm && !config.qkv_bias),
        }
        let reference = reference_logits(dir.path(), &prompt);
        let expected = reference_greedy(dir.path(), &prompt, 16);
        for layout in LAYOUTS {
            let model = load(&weights, 128, layout);
            let label = format!("tiny {arch} ({dtype}, {shards} shard(s)), {layout:?} weights");
            let delta = compare_logits(&our_logits(&model, &prompt), &reference, &label);
            assert!(delta < 1e-3, "{label}: max |Δlogit| {delta}");
            assert_eq!(
                our_greedy(model, &prompt, 16),
                expected,
                "{label}: greedy tokens"
            );
        }
    }
}

#[test]
fn incremental_decoding_matches_one_full_pass() {
    let path = smollm2_path();
    let weights = GgufWeights::new(GgufFile::read(&path).expect("read")).expect("weights");
    for layout in LAYOUTS {
        let model = load(&weights, 64, layout);
        let tokens = &FRANCE_PROMPT[..12];
        let full = our_logits(&model, tokens);
        let vocab = model.config().vocab_size;
        let mut cache = model.new_cache();
        let mut max_delta = 0f32;
        for (i, &t) in tokens.iter().enumerate() {
            let step = futures::executor::block_on(model.forward(&[t], &mut cache))
                .expect("forward")
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32");
            for (x, y) in step.iter().zip(&full[i * vocab..(i + 1) * vocab]) {
                max_delta = max_delta.max((x - y).abs());
            }
        }
        assert!(
            max_delta < 1e-3,
            "{layout:?}: cached decoding drifts from the full pass: {max_delta}"
        );
    }
}
