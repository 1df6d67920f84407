//! **text-scan** — the pure logic behind Weft's text plugins, free of WASM
//! bindings so it is unit-tested natively:
//!
//! * [`entities`]: hand-written scanners for emails, URLs, dates and phone
//!   numbers (no `regex`, which would add several hundred KiB to each
//!   component);
//! * [`chunk`]: splitting text into overlapping chunks along paragraph and
//!   sentence boundaries;
//! * [`count`]: word, character and line counts with token estimates;
//! * [`redact`]: reversible placeholder redaction of emails and phones;
//! * [`json`]: rewriting the string literals of a JSON text in place.
//!
//! All offsets are byte offsets into the input unless a function says
//! otherwise; [`char_offset`] converts.

pub mod chunk;
pub mod count;
pub mod entities;
pub mod json;
pub mod redact;

/// The character (Unicode scalar) offset of byte offset `byte` in `text`.
pub fn char_offset(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.chars().count())
}

#[cfg(test)]
mod fuzz {
    //! Random inputs must never panic (a panic in a guest is a trap).

    use crate::{chunk, count, entities, json, redact};

    const ALPHABET: &[&str] = &[
        "a", "Z", "0", "1", "9", "@", ".", "-", "+", "(", ")", " ", "\n", "/", ":", "<", ">", "_",
        "EMAIL_", "PHONE_", "\"", "\\", "é", "€", "𝄞", "http://", "www.", "2024-", "T", "March ",
        "May ", "st", ",", "{", "}", "[", "]", "!", "?", "\t",
    ];

    fn strings(seed: u64, count: usize) -> Vec<String> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % 40) as usize;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn scanners_never_panic() {
        let kinds = [
            entities::Kind::Email,
            entities::Kind::Url,
            entities::Kind::Date,
            entities::Kind::Phone,
        ];
        for s in strings(0x9E37_79B9_7F4A_7C15, 10_000) {
            for e in entities::all(&s, &kinds) {
                assert!(s.is_char_boundary(e.range.start) && s.is_char_boundary(e.range.end));
            }
            for max in [1, 3, 10] {
                for overlap in [0, (max - 1).min(1), max - 1] {
                    for mode in [chunk::Mode::Paragraphs, chunk::Mode::Sentences] {
                        for r in chunk::split(&s, max, overlap, mode).unwrap() {
                            assert!(s[r].chars().count() <= max);
                        }
                    }
                }
            }
            count::count(&s);
            let mut r = redact::Redactor::new();
            r.reserve(&s);
            let red = r.redact_json_or_text(&s);
            let back = r.restore_json_or_text(&red);
            if json::map_strings(&s, |_| None).is_none() {
                assert_eq!(back, s, "free text must round-trip");
            }
            let mut sr = redact::StreamRestorer::new();
            let mut out = String::new();
            for piece in red.split_inclusive(['<', '_']) {
                out.push_str(&sr.push(&r, piece));
            }
            out.push_str(&sr.finish(&r));
            assert_eq!(out, r.restore_text(&red));
        }
    }
}
