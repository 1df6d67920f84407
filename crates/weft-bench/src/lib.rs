//! Support for Weft's model-layer overhead benchmark (`benches/overhead.rs`,
//! run by `scripts/bench-model-layer.sh`).
//!
//! - [`upstream`]: a loopback OpenAI-compatible server on `127.0.0.1` that
//!   answers every Chat Completions request at once with a canned body (or a
//!   canned Server-Sent Events stream when the request asks to stream), so
//!   what a benchmark measures is the client side;
//! - [`stats`]: latency samples and their percentiles.
//!
//! The benchmark compares, against that upstream, a raw HTTP POST with the
//! same request body, Weft's providers alone and behind the router, and
//! LiteLLM beside a raw Python HTTP client (`benches/litellm_overhead.py`).

pub mod stats;
pub mod upstream;

pub use stats::{Summary, percentile};
pub use upstream::{CONTENT, MODEL, Upstream};
