//! Generation: prefill, then one token at a time until an end token, a stop
//! sequence, the token limit or cancellation.
//!
//! A [`Session`] owns one key/value cache, allocated once. Agents resend the
//! whole conversation at every step, so a new prompt that starts with the
//! tokens already cached only runs its new suffix.
//!
//! Every read of a tensor is asynchronous (`into_data_async`), which is what
//! the browser's WebGPU backend requires; natively the futures are ready at
//! once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::json::JsonConstraint;
use crate::model::{KvCache, Transformer, read_f32};
use crate::sample::{Sampler, SamplingParams};

/// Why generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt and the requested output do not fit the context.
    #[error(
        "the prompt is {prompt} tokens; with room for at least one more it exceeds the context of {context} tokens"
    )]
    ContextTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// The context the model was loaded with.
        context: usize,
    },
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The backend failed to compute or read back a tensor.
    #[error("backend error: {0}")]
    Backend(String),
    /// The constraint left no token to choose (JSON mode).
    #[error("no token satisfies the output constraint")]
    Constrained,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-sequence or end-of-turn token.
    EndOfSequence,
    /// The text reached one of the stop sequences (cut before it).
    StopSequence,
    /// The token limit or the context's end was reached.
    Length,
    /// The caller cancelled.
    Cancelled,
}

/// Token-level facts generation needs from the tokenizer.
pub trait TokenText {
    /// The raw bytes of one token (empty for control tokens).
    fn token_bytes(&self, token: u32) -> &[u8];
    /// Whether this token ends the sequence or the turn.
    fn is_end(&self, token: u32) -> bool;
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The most tokens to generate.
    pub max_tokens: usize,
    /// How to pick tokens.
    pub sampling: SamplingParams,
    /// Texts that end generation; the output is cut before them.
    pub stop: Vec<String>,
    /// Constrain the output to valid JSON: `Some(true)` for an object only.
    pub json: Option<bool>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            json: None,
        }
    }
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text, cut before any stop sequence, without end tokens.
    pub text: String,
    /// The generated token ids (end token excluded).
    pub tokens: Vec<u32>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens served from the cache of an earlier call.
    pub cached_tokens: usize,
    /// Why it ended.
    pub stop: StopReason,
}

/// One sequence's state on a loaded model.
#[derive(Debug)]
pub struct Session {
    model: Arc<Transformer>,
    cache: KvCache,
    /// The tokens whose keys and values are in the cache.
    cached: Vec<u32>,
}

impl Session {
    /// A session with an empty cache.
    pub fn new(model: Arc<Transformer>) -> Self {
        let cache = model.new_cache();
        Self {
            model,
            cache,
            cached: Vec::new(),
        }
    }

    /// Forgets every cached token.
    pub fn reset(&mut self) {
        self.cache.clear();
        self.cached.clear();
    }

    /// The model.
    pub fn model(&self) -> &Arc<Transformer> {
        &self.model
    }

    /// Runs the prompt (reusing the cached prefix) and returns the logits of
    /// its last position, plus how many prompt tokens came from the cache.
    pub async fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize), GenerateError> {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if prompt.len() >= self.cache.capacity() {
            return Err(GenerateError::ContextTooLong {
                prompt: prompt.len(),
                context: self.cache.capacity(),
            });
        }
        // Keep the common prefix, but always run at least the last token.
        let common = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        self.cache.truncate(common);
        self.cached.truncate(common);
        let logits = self.run(&prompt[common..]).await?;
        Ok((logits, common))
    }

    /// Runs one more token and returns the next logits.
    pub async fn step(&mut self, token: u32) -> Result<Vec<f32>, GenerateError> {
        self.run(&[token]).await
    }

    /// Whether another token fits the cache.
    pub fn has_room(&self) -> bool {
        self.cache.len() < self.cache.capacity()
    }

    async fn run(&mut self, tokens: &[u32]) -> Result<Vec<f32>, GenerateError> {
        let logits = async {
            let logits = self.model.forward(tokens, &mut self.cache).await?;
            read_f32(logits).await
        }
        .await;
        match logits {
            Ok(logits) => {
                self.cached.extend_from_slice(tokens);
                Ok(logits)
            }
            Err(e) => {
                // The cache is not known to hold these tokens: start over.
                self.reset();
                Err(GenerateError::Backend(e.to_string()))
            }
        }
    }

    /// Generates from `prompt`, calling `on_text` with each new piece of text
    /// as soon as it is certain (never inside a possible stop sequence or a
    /// split UTF-8 character). `cancel` stops generation between tokens.
    pub async fn generate(
        &mut self,
        prompt: &[u32],
        text: &(dyn TokenText + Sync),
        options: &GenerateOptions,
        cancel: Option<&AtomicBool>,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation, GenerateError> {
        let (mut logits, cached_tokens) = self.prefill(prompt).await?;
        let mut sampler = Sampler::new(options.sampling.clone());
        let mut constraint = options.json.map(JsonConstraint::new);
        let mut out = TextAssembler::new(&options.stop);
        let mut tokens = Vec::new();
        let mut history = prompt.to_vec();
        let stop = loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break StopReason::Cancelled;
            }
            if tokens.len() >= options.max_tokens {
                break StopReason::Length;
            }
            let token = match constraint.as_ref() {
                Some(c) => {
                    let mut allowed = |t: u32| c.allows(text.token_bytes(t), text.is_end(t));
                    sampler
                        .sample(&mut logits, &history, Some(&mut allowed))
                        .ok_or(GenerateError::Constrained)?
                }
                None => sampler
                    .sample(&mut logits, &history, None)
                    .ok_or(GenerateError::Constrained)?,
            };
            if text.is_end(token) {
                break StopReason::EndOfSequence;
            }
            if let Some(c) = constraint.as_mut() {
                c.advance(text.token_bytes(token));
            }
            tokens.push(token);
            history.push(token);
            if out.push(text.token_bytes(token), on_text) {
                break StopReason::StopSequence;
            }
            if !self.has_room() {
                break StopReason::Length;
            }
            // Let a streaming consumer take this token (or drop the stream,
            // which cancels) before the next one is computed.
            yield_now().await;
            logits = self.step(token).await?;
        };
        let text = out.finish(on_text);
        Ok(Generation {
            text,
            tokens,
            prompt_tokens: prompt.len(),
            cached_tokens,
            stop,
        })
    }
}

/// A future that is pending once.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Turns token bytes into text pieces: holds back incomplete UTF-8 and any
/// tail that could still become a stop sequence, and cuts at a stop sequence.
#[derive(Debug)]
pub struct TextAssembler<'a> {
    stop: &'a [String],
    bytes: Vec<u8>,
    /// Bytes of `bytes` already handed out.
    emitted: usize,
}

impl<'a> TextAssembler<'a> {
    /// An assembler cutting at `stop`.
    pub fn new(stop: &'a [String]) -> Self {
        Self {
            stop,
            bytes: Vec::new(),
            emitted: 0,
        }
    }

    /// Adds a token's bytes and emits what is now certain. Returns `true`
    /// when a stop sequence was reached.
    pub fn push(&mut self, token: &[u8], on_text: &mut dyn FnMut(&str)) -> bool {
        self.bytes.extend_from_slice(token);
        let valid = valid_utf8_prefix(&self.bytes);
        let text = String::from_utf8_lossy(&self.bytes[..valid]);
        if let Some(at) = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            self.bytes.truncate(at);
            return true;
        }
        // Hold back the longest tail that is a proper prefix of a stop sequence.
        let held = self
            .stop
            .iter()
            .map(|s| longest_suffix_prefix(&text, s))
            .max()
            .unwrap_or(0);
        let certain = valid - held;
        if certain > self.emitted {
            on_text(&String::from_utf8_lossy(&self.bytes[self.emitted..certain]));
            self.emitted = certain;
        }
        false
    }

    /// Emits whatever is still held back and returns the whole text (cut
    /// before the stop sequence, if one was reached).
    pub fn finish(self, on_text: &mut dyn FnMut(&str)) -> String {
        if self.bytes.len() > self.emitted {
            on_text(&String::from_utf8_lossy(&self.bytes[self.emitted..]));
        }
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// The length of the longest prefix of `bytes` that is whole UTF-8
/// characters (invalid bytes count as whole: they become U+FFFD).
fn valid_utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    }
}

/// The longest suffix of `text` that is a proper prefix of `stop`, in bytes.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    (1..stop.len().min(text.len() + 1))
        .rev()
        .find(|&n| stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(pieces: &[&[u8]], stop: &[&str]) -> (Vec<String>, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut a = TextAssembler::new(&stop);
        let mut emitted = Vec::new();
        let mut stopped = false;
        for p in pieces {
            if a.push(p, &mut |t| emitted.push(t.to_string())) {
                stopped = true;
                break;
            }
        }
        let text = a.finish(&mut |t| emitted.push(t.to_string()));
        (emitted, text, stopped)
    }

    #[test]
    fn split_utf8_characters_are_held_until_whole() {
        let crab = "🦀".as_bytes();
        let (emitted, text, _) = assemble(&[b"a", &crab[..2], &crab[2..], b"b"], &[]);
        assert_eq!(emitted, ["a", "🦀", "b"]);
        assert_eq!(text, "a🦀b");
    }

    #[test]
    fn output_is_cut_at_a_stop_sequence_spanning_tokens() {
        let (emitted, text, stopped) = assemble(&[b"Hello", b" EN", b"D now"], &["END"]);
        assert!(stopped);
        assert_eq!(text, "Hello ");
        assert_eq!(emitted.concat(), "Hello ");
    }

    #[test]
    fn a_false_start_of_a_stop_sequence_is_released() {
        let (emitted, text, stopped) = assemble(&[b"x E", b"Ny"], &["END"]);
        assert!(!stopped);
        assert_eq!(text, "x ENy");
        assert_eq!(emitted.concat(), "x ENy");
    }
}
