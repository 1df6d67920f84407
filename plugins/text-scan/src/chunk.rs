//! Splitting text into chunks of at most `max_chars` characters along
//! paragraph and sentence boundaries, with optional overlap.
//!
//! Segments are paragraphs (separated by blank lines) or sentences (ending
//! in `.`, `!` or `?` followed by whitespace, or at a line break). A segment
//! longer than `max_chars` is split into sentences, and a sentence still
//! too long is cut at the last whitespace that fits (or mid-word when there
//! is none). Consecutive segments are packed greedily. With `overlap > 0`
//! each chunk after the first starts up to `overlap` characters before the
//! previous chunk's end, snapped forward to a word start; the overlap is
//! dropped when it would push the chunk over `max_chars`.

use std::ops::Range;

/// What to split on first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep paragraphs whole where they fit.
    Paragraphs,
    /// Pack sentences.
    Sentences,
}

/// Invalid chunking parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// `max_chars` was 0.
    ZeroMax,
    /// `overlap` was not smaller than `max_chars`.
    OverlapTooLarge {
        /// The overlap asked for.
        overlap: usize,
        /// The maximum chunk size.
        max_chars: usize,
    },
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkError::ZeroMax => write!(f, "max_chars must be at least 1"),
            ChunkError::OverlapTooLarge { overlap, max_chars } => write!(
                f,
                "overlap ({overlap}) must be smaller than max_chars ({max_chars})"
            ),
        }
    }
}

impl std::error::Error for ChunkError {}

fn trim_range(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    (!trimmed.is_empty()).then(|| r.start + lead..r.start + lead + trimmed.len())
}

/// Byte ranges of the non-blank paragraphs of `text`, trimmed.
pub fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.extend(trim_range(text, s..end));
            }
        } else {
            start.get_or_insert(line_start);
            end = pos;
        }
    }
    if let Some(s) = start {
        out.extend(trim_range(text, s..end));
    }
    out
}

/// Byte ranges of the sentences within `range` of `text`, trimmed.
pub fn sentences(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let slice = &text[range.clone()];
    let mut start = 0;
    let mut chars = slice.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = match c {
            '\n' => Some(i + 1),
            '.' | '!' | '?' | '…' => {
                // Swallow repeated terminators and closing quotes/brackets.
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if matches!(
                        d,
                        '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '”' | '’' | '»'
                    ) {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                match chars.peek() {
                    Some(&(_, d)) if d.is_whitespace() => Some(end),
                    None => Some(end),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(end) = boundary {
            out.extend(trim_range(text, range.start + start..range.start + end));
            start = end;
        }
    }
    out.extend(trim_range(text, range.start + start..range.end));
    out
}

/// Cuts `range` into pieces of at most `max` characters, preferring to cut
/// after whitespace.
fn hard_split(text: &str, range: Range<usize>, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let rest = &text[start..range.end];
        // Byte offset just past `max` chars (or the end).
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let cut = if limit == rest.len() {
            limit
        } else {
            // The last whitespace within the window, if any.
            rest[..limit]
                .char_indices()
                .filter(|(_, c)| c.is_whitespace())
                .map(|(i, _)| i)
                .next_back()
                .filter(|&i| i > 0)
                .unwrap_or(limit)
        };
        out.extend(trim_range(text, start..start + cut));
        start += cut;
    }
    out
}

fn nchars(s: &str) -> usize {
    s.chars().count()
}

/// The segments of `text` that each fit in `max` characters.
fn segments(text: &str, max: usize, mode: Mode) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        if mode == Mode::Paragraphs && nchars(&text[para.clone()]) <= max {
            out.push(para);
            continue;
        }
        for sentence in sentences(text, para) {
            if nchars(&text[sentence.clone()]) <= max {
                out.push(sentence);
            } else {
                out.extend(hard_split(text, sentence, max));
            }
        }
    }
    out
}

/// Where an overlap starting `overlap` characters before `end` begins,
/// snapped forward to a word start; `None` if that reaches `limit`.
fn overlap_start(text: &str, end: usize, overlap: usize, limit: usize) -> Option<usize> {
    let before = &text[..end];
    let mut start = before
        .char_indices()
        .rev()
        .nth(overlap.checked_sub(1)?)
        .map_or(0, |(i, _)| i);
    // Mid-word? Move to the next word start.
    let prev_is_word = text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| !c.is_whitespace());
    if prev_is_word {
        let rest = &text[start..end];
        let skip = rest.find(char::is_whitespace)?;
        start += skip;
    }
    let rest = &text[start..end];
    start += rest.len() - rest.trim_start().len();
    (start < end && start < limit).then_some(start)
}

/// Splits `text` into chunks of at most `max_chars` characters; returns
/// their byte ranges (trimmed, in order).
pub fn split(
    text: &str,
    max_chars: usize,
    overlap: usize,
    mode: Mode,
) -> Result<Vec<Range<usize>>, ChunkError> {
    if max_chars == 0 {
        return Err(ChunkError::ZeroMax);
    }
    if overlap >= max_chars {
        return Err(ChunkError::OverlapTooLarge { overlap, max_chars });
    }
    let segs = segments(text, max_chars, mode);
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let first = &segs[i];
        let mut start = first.start;
        let mut len = nchars(&text[first.clone()]);
        if let Some(prev) = chunks.last()
            && let Some(os) = overlap_start(text, prev.end, overlap, first.start)
        {
            let with = nchars(&text[os..first.end]);
            if with <= max_chars {
                start = os;
                len = with;
            }
        }
        let mut end = first.end;
        let mut j = i + 1;
        while j < segs.len() {
            let add = nchars(&text[end..segs[j].end]);
            if len + add > max_chars {
                break;
            }
            len += add;
            end = segs[j].end;
            j += 1;
        }
        chunks.push(start..end);
        i = j;
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, max: usize, overlap: usize, mode: Mode) -> Vec<&str> {
        split(text, max, overlap, mode)
            .unwrap()
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn paragraphs_and_sentences() {
        let t = "  First para.\nStill first.\n\n \nSecond one! Yes?  Third \"q.\" end";
        let p = paragraphs(t);
        assert_eq!(p.len(), 2);
        assert_eq!(&t[p[0].clone()], "First para.\nStill first.");
        let s: Vec<_> = sentences(t, p[1].clone())
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(s, ["Second one!", "Yes?", "Third \"q.\"", "end"]);
        assert_eq!(paragraphs("").len(), 0);
        assert_eq!(paragraphs("\n\n  \n").len(), 0);
    }

    #[test]
    fn packs_paragraphs() {
        let t = "aaa bbb.\n\nccc ddd.\n\neee fff.";
        assert_eq!(texts(t, 100, 0, Mode::Paragraphs), [t]);
        assert_eq!(
            texts(t, 18, 0, Mode::Paragraphs),
            ["aaa bbb.\n\nccc ddd.", "eee fff."]
        );
        assert_eq!(
            texts(t, 8, 0, Mode::Paragraphs),
            ["aaa bbb.", "ccc ddd.", "eee fff."]
        );
    }

    #[test]
    fn long_paragraph_falls_back_to_sentences_then_words() {
        let t = "One two. Three four five six seven. Eight.";
        assert_eq!(
            texts(t, 12, 0, Mode::Paragraphs),
            ["One two.", "Three four", "five six", "seven.", "Eight."]
        );
        assert_eq!(
            texts("abcdefghij", 4, 0, Mode::Sentences),
            ["abcd", "efgh", "ij"]
        );
    }

    #[test]
    fn every_chunk_fits_and_overlap_repeats_words() {
        let t = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        for max in [10, 25, 50, 120] {
            for overlap in [0, 5, 9] {
                let chunks = texts(&t, max, overlap, Mode::Sentences);
                assert!(
                    chunks.iter().all(|c| c.chars().count() <= max),
                    "{max} {overlap}"
                );
                assert!(chunks.iter().all(|c| !c.is_empty()));
            }
        }
        let c = texts(
            "alpha beta. gamma delta. epsilon zeta.",
            25,
            7,
            Mode::Sentences,
        );
        assert_eq!(c, ["alpha beta. gamma delta.", "delta. epsilon zeta."]);
    }

    #[test]
    fn unicode_is_counted_in_chars() {
        let t = "ééééé ééééé";
        assert_eq!(texts(t, 5, 0, Mode::Sentences), ["ééééé", "ééééé"]);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(split("x", 0, 0, Mode::Paragraphs), Err(ChunkError::ZeroMax));
        assert!(split("x", 5, 5, Mode::Paragraphs).is_err());
    }
}
