//! **text-tools** — a Weft tool plugin with three text tools:
//!
//! * `split_chunks`: splits text into chunks of at most `max_chars`
//!   characters along paragraph or sentence boundaries, with overlap;
//! * `count_words`: words, characters, lines and token estimates
//!   (⌈chars / 4⌉ and ⌈words × 1.3⌉; see [`text_scan::count`]);
//! * `extract_entities`: emails, URLs, dates (ISO 8601 and common formats,
//!   normalised) and phone numbers, found by hand-written scanners.
//!
//! Offsets in results are character (Unicode scalar) offsets.

use text_scan::chunk::{self, Mode};
use text_scan::entities::{self, Kind};
use text_scan::{char_offset, count};
use weft_sdk::ToolError;

weft_sdk::json_types! {
    /// How `split_chunks` segments text first.
    #[derive(Debug, Clone, Copy, Default)]
    #[serde(rename_all = "lowercase")]
    enum SplitBy {
        /// Keep paragraphs whole where they fit (default).
        #[default]
        Paragraphs,
        /// Pack sentences.
        Sentences,
    }

    /// Arguments of `split_chunks`.
    #[derive(Debug)]
    struct SplitArgs {
        /// The text to split.
        text: String,
        /// Maximum characters per chunk (default 2000).
        #[serde(default = "default_max_chars")]
        #[schemars(range(min = 1))]
        max_chars: u32,
        /// Characters of the previous chunk repeated at the start of the next,
        /// snapped to a word start; must be smaller than `max_chars` (default 0).
        #[serde(default)]
        overlap: u32,
        /// Segment by `paragraphs` (default) or `sentences`.
        #[serde(default)]
        by: SplitBy,
    }


    /// One chunk.
    #[derive(Debug)]
    struct Chunk {
        /// Position in the list, from 0.
        index: u32,
        /// The chunk's text.
        text: String,
        /// Start offset in the input, in characters.
        start: u64,
        /// End offset (exclusive), in characters.
        end: u64,
        /// Length in characters.
        chars: u64,
    }

    /// Result of `split_chunks`.
    #[derive(Debug)]
    struct Chunks {
        /// The number of chunks.
        count: u32,
        /// The chunks, in order.
        chunks: Vec<Chunk>,
    }

    /// Arguments of `count_words`.
    #[derive(Debug)]
    struct CountArgs {
        /// The text to count.
        text: String,
    }

    /// Result of `count_words`.
    #[derive(Debug)]
    struct Counts {
        /// Whitespace-separated words.
        words: u64,
        /// Characters (Unicode scalar values).
        chars: u64,
        /// UTF-8 bytes.
        bytes: u64,
        /// Lines.
        lines: u64,
        /// Paragraphs (separated by blank lines).
        paragraphs: u64,
        /// ⌈chars / 4⌉.
        tokens_by_chars: u64,
        /// ⌈words × 1.3⌉.
        tokens_by_words: u64,
        /// The larger of the two estimates (a conservative budget figure).
        estimated_tokens: u64,
    }

    /// An entity kind.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[serde(rename_all = "lowercase")]
    enum EntityKind {
        /// Email addresses.
        Email,
        /// URLs (`http://`, `https://`, `ftp://`, `www.`).
        Url,
        /// Dates.
        Date,
        /// Phone numbers.
        Phone,
    }



    /// Arguments of `extract_entities`.
    #[derive(Debug)]
    struct ExtractArgs {
        /// The text to scan.
        text: String,
        /// Kinds to report (default: email, url, date).
        kinds: Option<Vec<EntityKind>>,
    }

    /// One entity.
    #[derive(Debug)]
    struct Entity {
        /// Its kind.
        kind: EntityKind,
        /// The text as found.
        text: String,
        /// Start offset in characters.
        start: u64,
        /// End offset (exclusive) in characters.
        end: u64,
        /// Dates only: ISO 8601 form, or null when the day/month order is
        /// ambiguous.
        #[serde(skip_serializing_if = "Option::is_none")]
        normalized: Option<String>,
    }

    /// Result of `extract_entities`.
    #[derive(Debug)]
    struct Entities {
        /// Distinct emails, in order of first appearance.
        emails: Vec<String>,
        /// Distinct URLs, in order of first appearance.
        urls: Vec<String>,
        /// Every entity found, in text order.
        entities: Vec<Entity>,
    }
}

fn default_max_chars() -> u32 {
    2000
}

impl From<EntityKind> for Kind {
    fn from(k: EntityKind) -> Kind {
        match k {
            EntityKind::Email => Kind::Email,
            EntityKind::Url => Kind::Url,
            EntityKind::Date => Kind::Date,
            EntityKind::Phone => Kind::Phone,
        }
    }
}

impl From<Kind> for EntityKind {
    fn from(k: Kind) -> EntityKind {
        match k {
            Kind::Email => EntityKind::Email,
            Kind::Url => EntityKind::Url,
            Kind::Date => EntityKind::Date,
            Kind::Phone => EntityKind::Phone,
        }
    }
}

fn distinct(entities: &[Entity], kind: EntityKind) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entities.iter().filter(|e| e.kind == kind) {
        if !out.contains(&e.text) {
            out.push(e.text.clone());
        }
    }
    out
}

weft_sdk::tools! {
    /// Splits text into chunks of at most `max_chars` characters, keeping
    /// paragraphs (or sentences) whole where they fit, with optional
    /// overlap between consecutive chunks. Offsets are in characters.
    fn split_chunks(args: SplitArgs) -> Result<Chunks, ToolError> {
        let mode = match args.by {
            SplitBy::Paragraphs => Mode::Paragraphs,
            SplitBy::Sentences => Mode::Sentences,
        };
        let ranges = chunk::split(&args.text, args.max_chars as usize, args.overlap as usize, mode)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let chunks: Vec<Chunk> = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let text = args.text[r.clone()].to_string();
                let start = char_offset(&args.text, r.start) as u64;
                let chars = text.chars().count() as u64;
                Chunk { index: i as u32, text, start, end: start + chars, chars }
            })
            .collect();
        Ok(Chunks { count: chunks.len() as u32, chunks })
    }

    /// Counts words, characters, bytes, lines and paragraphs of a text and
    /// estimates its tokens (about 4 characters or 0.77 words per token;
    /// `estimated_tokens` is the larger estimate).
    fn count_words(args: CountArgs) -> Result<Counts, ToolError> {
        let c = count::count(&args.text);
        Ok(Counts {
            words: c.words,
            chars: c.chars,
            bytes: c.bytes,
            lines: c.lines,
            paragraphs: c.paragraphs,
            tokens_by_chars: c.tokens_by_chars,
            tokens_by_words: c.tokens_by_words,
            estimated_tokens: c.estimated_tokens,
        })
    }

    /// Extracts emails, URLs, dates (ISO 8601, `2024/03/05`, `05.03.2024`,
    /// `03/05/2024`, `March 5, 2024`, `5 March 2024`, ... normalised to ISO
    /// where unambiguous) and optionally phone numbers from a text.
    fn extract_entities(args: ExtractArgs) -> Result<Entities, ToolError> {
        let kinds: Vec<Kind> = args
            .kinds
            .unwrap_or_else(|| vec![EntityKind::Email, EntityKind::Url, EntityKind::Date])
            .into_iter()
            .map(Kind::from)
            .collect();
        let entities: Vec<Entity> = entities::all(&args.text, &kinds)
            .into_iter()
            .map(|e| {
                let text = args.text[e.range.clone()].to_string();
                let start = char_offset(&args.text, e.range.start) as u64;
                let end = start + text.chars().count() as u64;
                Entity { kind: e.kind.into(), text, start, end, normalized: e.normalized }
            })
            .collect();
        Ok(Entities {
            emails: distinct(&entities, EntityKind::Email),
            urls: distinct(&entities, EntityKind::Url),
            entities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_sdk::tool::Guest;

    #[test]
    fn tools_are_listed_with_schemas() {
        let tools = __WeftTools::list_tools();
        let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["split_chunks", "count_words", "extract_entities"]);
        assert!(
            tools
                .iter()
                .all(|t| !t.description.is_empty() && t.output_schema.is_some())
        );
    }

    #[test]
    fn split_via_dispatch() {
        let out = __WeftTools::call(
            "split_chunks".into(),
            r#"{"text": "Aé b.\n\nC d.", "max_chars": 5}"#.into(),
        )
        .unwrap();
        let v: weft_sdk::serde_json::Value = weft_sdk::serde_json::from_str(&out).unwrap();
        assert_eq!(v["count"], 2);
        assert_eq!(v["chunks"][1]["text"], "C d.");
        assert_eq!(v["chunks"][1]["start"], 7);
        let err = __WeftTools::call(
            "split_chunks".into(),
            r#"{"text": "x", "max_chars": 5, "overlap": 5}"#.into(),
        )
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }

    #[test]
    fn extracts_entities() {
        let out = extract_entities(ExtractArgs {
            text: "Écrivez à bob@x.com avant le 5 March 2024: https://x.com".into(),
            kinds: None,
        })
        .unwrap();
        assert_eq!(out.emails, ["bob@x.com"]);
        assert_eq!(out.urls, ["https://x.com"]);
        assert_eq!(out.entities[0].start, 10);
        assert_eq!(out.entities[1].normalized.as_deref(), Some("2024-03-05"));
    }
}
