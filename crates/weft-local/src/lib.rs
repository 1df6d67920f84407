//! Weft's local open models on burn.
//!
//! A decoder-only transformer (Llama, Qwen2, Qwen3 and Mistral-style models)
//! loaded from a GGUF file or a Hugging Face directory (`config.json`,
//! `tokenizer.json`, `*.safetensors`), with the model's own tokenizer and chat
//! template, run on burn's Flex CPU backend or on wgpu (Vulkan natively,
//! WebGPU in a browser), and exposed as a [`weft_model::Model`]. This crate
//! only reads model files from a path or a [`gguf::ByteSource`]; fetching
//! them into the user's cache is `weft-pull`'s job (`weft pull`).
//!
//! The pieces, in the order a prompt flows through them:
//!
//! | module | role |
//! | --- | --- |
//! | [`gguf`], [`quant`], [`hf`] | read model files: GGUF format, byte sources and Llama layout; block dequantization; Hugging Face directories |
//! | [`config`] | the architecture's hyper-parameters, one type for every source |
//! | [`tokenizer`] | byte-level BPE from `tokenizer.json` or the GGUF arrays |
//! | [`template`] | the model's chat template, rendered with minijinja |
//! | [`toolcall`] | tool calls parsed back out of generated text |
//! | [`weights`] | one view of a checkpoint's tensors, whatever the file layout |
//! | [`qmatmul`] | CPU products against weights kept in their ggml encoding |
//! | [`model`] | the transformer's forward pass on burn, with its key/value cache |
//! | [`sample`] | greedy, temperature, top-k, top-p, min-p, repetition penalty, seed |
//! | [`json`] | a logit mask that keeps output valid JSON |
//! | [`generate`] | prefill, decode, stop sequences, streaming, cancellation |
//! | [`local`] | [`LocalModel`]: all of the above behind the `Model` trait |
//! | [`bench`] | prefill and decode throughput, peak memory |

pub mod config;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod json;
pub mod local;
pub mod model;
pub mod qmatmul;
pub mod quant;
pub mod sample;
pub mod template;
pub mod tokenizer;
pub mod toolcall;
pub mod weights;

pub mod bench;

pub use config::{Architecture, ModelConfig, RopeLayout};
pub use error::{ForwardError, LoadError};
pub use local::{Backend, LoadOptions, LocalModel};
