//! Throughput of a loaded model as llama.cpp's `llama-bench` reports it:
//! prompt processing (prefill) and generation (decode) in tokens per second,
//! at batch 1, with greedy decoding.
//!
//! - **Prefill:** the whole prompt in one forward pass on an empty cache.
//! - **Decode:** that many more tokens, one forward pass each, each fed the
//!   previous step's most likely token.
//!
//! Each figure is the median over the runs; every run starts from an empty
//! cache.

use std::time::Duration;

use web_time::Instant;

#[cfg(not(target_arch = "wasm32"))]
use crate::LocalModel;
use crate::generate::{GenerateError, Session};
use crate::sample::argmax;
use crate::tokenizer::Tokenizer;

/// What one benchmark measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchSettings {
    /// Prompt tokens per prefill.
    pub prompt_tokens: usize,
    /// Tokens decoded after the prompt.
    pub decode_tokens: usize,
    /// Timed runs; each figure is their median.
    pub runs: usize,
}

impl Default for BenchSettings {
    /// llama-bench's defaults are 512 and 128 tokens; these are smaller so a
    /// run on one CPU thread takes seconds.
    fn default() -> Self {
        Self {
            prompt_tokens: 128,
            decode_tokens: 64,
            runs: 3,
        }
    }
}

/// Measured throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// Prompt tokens per second.
    pub prefill_tokens_per_second: f64,
    /// Generated tokens per second.
    pub decode_tokens_per_second: f64,
    /// The greedy tokens decoded (the same every run), so engines can be
    /// checked against each other.
    pub generated: Vec<u32>,
}

/// English prose with code and numbers, repeated and cut to `n` tokens: a
/// prompt whose token ids any engine can be given.
pub fn bench_prompt(tokenizer: &Tokenizer, n: usize) -> Vec<u32> {
    const TEXT: &str = "The support team triages each ticket by reading the customer's message, \
        finding the account id (for example ACME-20931) and the dates it mentions, and deciding \
        whether the service is down. fn main() { println!(\"{}\", 6 * 7); } ";
    // The text has no special tokens, so encoding it cannot fail.
    let piece = tokenizer.encode(TEXT, false).unwrap_or_default();
    piece.iter().copied().cycle().take(n).collect()
}

/// Runs `settings.runs` prefill-then-decode passes of `prompt` on `session`
/// and returns the median throughput of each phase.
pub async fn measure(
    session: &mut Session,
    prompt: &[u32],
    settings: BenchSettings,
) -> Result<Throughput, GenerateError> {
    let mut prefill = Vec::with_capacity(settings.runs);
    let mut decode = Vec::with_capacity(settings.runs);
    let mut generated = Vec::with_capacity(settings.decode_tokens);
    // One untimed run warms caches and allocators.
    for run in 0..=settings.runs {
        session.reset();
        let started = Instant::now();
        let (mut logits, _) = session.prefill(prompt).await?;
        let prefill_time = started.elapsed();
        let started = Instant::now();
        generated.clear();
        for _ in 0..settings.decode_tokens {
            let token = argmax(&logits).ok_or(GenerateError::Constrained)?;
            generated.push(token);
            logits = session.step(token).await?;
        }
        let decode_time = started.elapsed();
        if run > 0 {
            prefill.push(rate(prompt.len(), prefill_time));
            decode.push(rate(settings.decode_tokens, decode_time));
        }
    }
    Ok(Throughput {
        prefill_tokens_per_second: median(&mut prefill),
        decode_tokens_per_second: median(&mut decode),
        generated,
    })
}

/// One greedy generation, timed: what a page shows first.
#[derive(Debug, Clone, PartialEq)]
pub struct GreedyRun {
    /// The greedy tokens after `prompt`.
    pub generated: Vec<u32>,
    /// From the start of the prefill to the first generated token.
    pub first_token: Duration,
    /// The whole generation.
    pub total: Duration,
}

/// Prefills `prompt` on a fresh `session` and decodes `n` greedy tokens,
/// once and untimed by warm-up: the cost a user meets, shader compilation
/// included on a GPU.
pub async fn greedy_once(
    session: &mut Session,
    prompt: &[u32],
    n: usize,
) -> Result<GreedyRun, GenerateError> {
    session.reset();
    let started = Instant::now();
    let (mut logits, _) = session.prefill(prompt).await?;
    let mut generated = Vec::with_capacity(n);
    let mut first_token = Duration::ZERO;
    for i in 0..n {
        let token = argmax(&logits).ok_or(GenerateError::Constrained)?;
        generated.push(token);
        if i == 0 {
            first_token = started.elapsed();
        }
        if i + 1 < n {
            logits = session.step(token).await?;
        }
    }
    Ok(GreedyRun {
        generated,
        first_token,
        total: started.elapsed(),
    })
}

/// [`measure`] of `prompt` on a loaded model's session, its CPU work on a
/// pool of `threads` threads.
#[cfg(not(target_arch = "wasm32"))]
pub fn measure_model(
    model: &LocalModel,
    prompt: &[u32],
    settings: BenchSettings,
    threads: usize,
) -> Result<Throughput, GenerateError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| GenerateError::Backend(format!("cannot start {threads} threads: {e}")))?;
    pool.install(|| {
        futures::executor::block_on(async {
            let mut session = model.session().lock().await;
            measure(&mut session, prompt, settings).await
        })
    })
}

/// The process's peak resident memory in bytes (`VmHWM`), where the
/// platform reports it (Linux).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn rate(tokens: usize, time: Duration) -> f64 {
    tokens as f64 / time.as_secs_f64().max(1e-9)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_run() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn peak_memory_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            let bytes = peak_resident_bytes().expect("VmHWM");
            assert!(bytes > 1 << 20, "{bytes}");
        }
    }
}
