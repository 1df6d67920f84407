//! Word, character and line counts with token estimates.
//!
//! # The token estimate
//!
//! Exact counts depend on the model's tokenizer, which a plugin does not
//! have. Two rules of thumb for BPE tokenizers on English text are given:
//!
//! * `tokens_by_chars` = ⌈characters / 4⌉ (about four characters per
//!   token);
//! * `tokens_by_words` = ⌈words × 1.3⌉ (about 1.3 tokens per word),
//!   computed in integers as ⌈words × 13 / 10⌉.
//!
//! `estimated_tokens` is the larger of the two, a conservative figure for
//! budgeting. Code, non-Latin scripts and numbers usually take more tokens
//! than either rule predicts.

/// Counts of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Whitespace-separated words.
    pub words: u64,
    /// Unicode scalar values.
    pub chars: u64,
    /// UTF-8 bytes.
    pub bytes: u64,
    /// Lines (a trailing newline does not start a new line; empty text has 0).
    pub lines: u64,
    /// Non-blank paragraphs (separated by blank lines).
    pub paragraphs: u64,
    /// ⌈chars / 4⌉.
    pub tokens_by_chars: u64,
    /// ⌈words × 1.3⌉.
    pub tokens_by_words: u64,
    /// The larger of the two estimates.
    pub estimated_tokens: u64,
}

/// Counts `text`.
pub fn count(text: &str) -> Counts {
    let words = text.split_whitespace().count() as u64;
    let chars = text.chars().count() as u64;
    let lines = text.lines().count() as u64;
    let paragraphs = crate::chunk::paragraphs(text).len() as u64;
    let tokens_by_chars = chars.div_ceil(4);
    let tokens_by_words = (words * 13).div_ceil(10);
    Counts {
        words,
        chars,
        bytes: text.len() as u64,
        lines,
        paragraphs,
        tokens_by_chars,
        tokens_by_words,
        estimated_tokens: tokens_by_chars.max(tokens_by_words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text() {
        let c = count("Hello wörld.\nSecond line here\n\nNew para.\n");
        assert_eq!(c.words, 7);
        assert_eq!(c.chars, 41);
        assert_eq!(c.bytes, 42);
        assert_eq!(c.lines, 4);
        assert_eq!(c.paragraphs, 2);
        assert_eq!(c.tokens_by_chars, 11);
        assert_eq!(c.tokens_by_words, 10);
        assert_eq!(c.estimated_tokens, 11);
    }

    #[test]
    fn empty_text() {
        let c = count("");
        assert_eq!(
            c,
            Counts {
                words: 0,
                chars: 0,
                bytes: 0,
                lines: 0,
                paragraphs: 0,
                tokens_by_chars: 0,
                tokens_by_words: 0,
                estimated_tokens: 0
            }
        );
    }
}
