//! Splitting `<think>...</think>` blocks out of streamed content (MiniMax),
//! with tags that may be cut across chunks.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// A piece of content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A `<think>` tag: a reasoning part starts.
    Open,
    /// A `</think>` tag: the reasoning part ends.
    Close,
    /// Text, inside (`reasoning`) or outside a think block.
    Text {
        /// Inside a think block.
        reasoning: bool,
        /// The text.
        text: String,
    },
}

/// The incremental splitter. Text outside and inside the tags is passed on
/// exactly, so joining the pieces back (tags included) gives the original.
#[derive(Debug, Default)]
pub(crate) struct ThinkSplitter {
    inside: bool,
    pending: String,
}

/// The length of the longest suffix of `s` that is a proper prefix of `tag`.
fn partial_tag_len(s: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| {
            s.len() >= n && s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..])
        })
        .unwrap_or(0)
}

impl ThinkSplitter {
    /// Consumes a chunk of content.
    pub(crate) fn feed(&mut self, chunk: &str) -> Vec<Piece> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.push_str(chunk);
        let mut out = Vec::new();
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            if let Some(i) = buf.find(tag) {
                if i > 0 {
                    out.push(Piece::Text {
                        reasoning: self.inside,
                        text: buf[..i].to_owned(),
                    });
                }
                out.push(if self.inside {
                    Piece::Close
                } else {
                    Piece::Open
                });
                self.inside = !self.inside;
                buf.drain(..i + tag.len());
                continue;
            }
            let keep = partial_tag_len(&buf, tag);
            let emit = buf.len() - keep;
            if emit > 0 {
                out.push(Piece::Text {
                    reasoning: self.inside,
                    text: buf[..emit].to_owned(),
                });
            }
            self.pending = buf[emit..].to_owned();
            return out;
        }
    }

    /// Ends the content: a held-back partial tag is plain text.
    pub(crate) fn flush(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            Vec::new()
        } else {
            vec![Piece::Text {
                reasoning: self.inside,
                text: rest,
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuild(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Open => OPEN.to_owned(),
                Piece::Close => CLOSE.to_owned(),
                Piece::Text { text, .. } => text.clone(),
            })
            .collect()
    }

    #[test]
    fn every_split_point() {
        let src = "<think>a < b\n</think>\n\nAnswer <thin>k é</think>";
        for i in 0..=src.len() {
            if !src.is_char_boundary(i) {
                continue;
            }
            let mut s = ThinkSplitter::default();
            let mut pieces = s.feed(&src[..i]);
            pieces.extend(s.feed(&src[i..]));
            pieces.extend(s.flush());
            assert_eq!(rebuild(&pieces), src, "split at {i}");
            let reasoning: String = pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Text {
                        reasoning: true,
                        text,
                    } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(reasoning, "a < b\n", "split at {i}");
        }
    }
}
