//! Reversible redaction of emails and phone numbers.
//!
//! [`Redactor::redact_text`] replaces each email with `<EMAIL_n>` and each
//! phone number with `<PHONE_n>`; the same value always gets the same
//! placeholder within one `Redactor` (one request). [`Redactor::restore_text`]
//! puts the originals back. JSON texts (tool arguments and results) are
//! rewritten inside their string literals only, so they stay valid JSON
//! ([`Redactor::redact_json_or_text`]).
//!
//! [`StreamRestorer`] restores streamed text: it holds back a trailing
//! fragment that may still become a placeholder (`<EMA`) until the next
//! delta completes or rules it out, so every placeholder that the model
//! writes whole is restored even when it is split across deltas. The cost
//! is that up to 16 characters of text are delayed.
//!
//! Limitations: placeholders the model rewrites (`<EMAIL 1>`, `EMAIL_1`) are
//! not restored; values the scanners miss (see [`crate::entities`]) are not
//! redacted.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::entities::{emails, phones};

const KINDS: [(&str, Kind); 2] = [("EMAIL_", Kind::Email), ("PHONE_", Kind::Phone)];

/// The longest placeholder number we produce or recognise (digits).
const MAX_DIGITS: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
}

/// Placeholder state for one request.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    by_value: BTreeMap<String, String>,
    by_placeholder: BTreeMap<String, String>,
    next_email: u32,
    next_phone: u32,
}

/// Placeholders present in `text`: (range, kind, number).
fn placeholders(text: &str) -> Vec<(Range<usize>, Kind, u32)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = text[from..].find('<') {
        let start = from + off;
        from = start + 1;
        let rest = &text[start + 1..];
        for (prefix, kind) in KINDS {
            let Some(after) = rest.strip_prefix(prefix) else {
                continue;
            };
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if (1..=MAX_DIGITS).contains(&n) && after.as_bytes().get(n) == Some(&b'>') {
                let end = start + 1 + prefix.len() + n + 1;
                if let Ok(num) = after[..n].parse() {
                    out.push((start..end, kind, num));
                }
                from = end;
            }
        }
    }
    out
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes new placeholders skip numbers already used by placeholder-like
    /// text in `text` (so a literal `<EMAIL_1>` written by a user is never
    /// confused with a real one). Call on every text before redacting.
    pub fn reserve(&mut self, text: &str) {
        for (_, kind, n) in placeholders(text) {
            let counter = match kind {
                Kind::Email => &mut self.next_email,
                Kind::Phone => &mut self.next_phone,
            };
            *counter = (*counter).max(n);
        }
    }

    /// True when nothing has been redacted.
    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }

    /// The number of distinct values redacted.
    pub fn len(&self) -> usize {
        self.by_value.len()
    }

    fn placeholder_for(&mut self, value: &str, kind: Kind) -> String {
        if let Some(p) = self.by_value.get(value) {
            return p.clone();
        }
        let placeholder = match kind {
            Kind::Email => {
                self.next_email += 1;
                format!("<EMAIL_{}>", self.next_email)
            }
            Kind::Phone => {
                self.next_phone += 1;
                format!("<PHONE_{}>", self.next_phone)
            }
        };
        self.by_value.insert(value.to_string(), placeholder.clone());
        self.by_placeholder
            .insert(placeholder.clone(), value.to_string());
        placeholder
    }

    /// Replaces emails and phone numbers in free text.
    pub fn redact_text(&mut self, text: &str) -> String {
        let mut spans: Vec<(Range<usize>, Kind)> =
            emails(text).into_iter().map(|r| (r, Kind::Email)).collect();
        for r in phones(text) {
            if !spans
                .iter()
                .any(|(e, _)| e.start < r.end && r.start < e.end)
            {
                spans.push((r, Kind::Phone));
            }
        }
        if spans.is_empty() {
            return text.to_string();
        }
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (r, kind) in spans {
            out.push_str(&text[copied..r.start]);
            let p = self.placeholder_for(&text[r.clone()], kind);
            out.push_str(&p);
            copied = r.end;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// Redacts inside the string literals of `text` if it is valid JSON,
    /// else as free text.
    pub fn redact_json_or_text(&mut self, text: &str) -> String {
        let looks_json = text.trim_start().starts_with(['{', '[', '"']);
        if looks_json
            && let Some(out) = crate::json::map_strings(text, |s| {
                let r = self.redact_text(s);
                (r != s).then_some(r)
            })
        {
            return out;
        }
        self.redact_text(text)
    }

    /// Puts the originals back for every placeholder this redactor made.
    pub fn restore_text(&self, text: &str) -> String {
        if self.by_placeholder.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (r, _, _) in placeholders(text) {
            if let Some(original) = self.by_placeholder.get(&text[r.clone()]) {
                out.push_str(&text[copied..r.start]);
                out.push_str(original);
                copied = r.end;
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    /// Restores inside the string literals of `text` if it is valid JSON,
    /// else as free text.
    pub fn restore_json_or_text(&self, text: &str) -> String {
        if let Some(out) = crate::json::map_strings(text, |s| {
            let r = self.restore_text(s);
            (r != s).then_some(r)
        }) {
            return out;
        }
        self.restore_text(text)
    }
}

/// Restores placeholders in streamed text deltas.
#[derive(Debug, Default, Clone)]
pub struct StreamRestorer {
    pending: String,
}

/// Where a trailing fragment that could still grow into a placeholder
/// starts, or `text.len()`.
fn hold_from(text: &str) -> usize {
    let Some(lt) = text.rfind('<') else {
        return text.len();
    };
    let body = &text[lt + 1..];
    let could_grow = KINDS.iter().any(|(prefix, _)| {
        prefix.starts_with(body)
            || body
                .strip_prefix(prefix)
                .is_some_and(|d| d.len() <= MAX_DIGITS && d.bytes().all(|c| c.is_ascii_digit()))
    });
    if could_grow { lt } else { text.len() }
}

impl StreamRestorer {
    /// A restorer with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a delta; returns the text that can be emitted now, restored.
    pub fn push(&mut self, redactor: &Redactor, delta: &str) -> String {
        self.pending.push_str(delta);
        let hold = hold_from(&self.pending);
        let ready: String = self.pending.drain(..hold).collect();
        redactor.restore_text(&ready)
    }

    /// Returns whatever is still held back, restored.
    pub fn finish(&mut self, redactor: &Redactor) -> String {
        let rest = std::mem::take(&mut self.pending);
        redactor.restore_text(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_consistently_and_restores() {
        let mut r = Redactor::new();
        let a =
            r.redact_text("Mail bob@x.com or call +1 415 555 0100; bob@x.com again, amy@y.org.");
        assert_eq!(
            a,
            "Mail <EMAIL_1> or call <PHONE_1>; <EMAIL_1> again, <EMAIL_2>."
        );
        let b = r.redact_text("Second message: amy@y.org");
        assert_eq!(b, "Second message: <EMAIL_2>");
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.restore_text("Wrote to <EMAIL_2> and <PHONE_1>, not <EMAIL_9> or <EMAIL_>."),
            "Wrote to amy@y.org and +1 415 555 0100, not <EMAIL_9> or <EMAIL_>."
        );
    }

    #[test]
    fn existing_placeholders_are_skipped() {
        let mut r = Redactor::new();
        r.reserve("I literally typed <EMAIL_3>");
        assert_eq!(r.redact_text("x@y.com"), "<EMAIL_4>");
        assert_eq!(r.restore_text("<EMAIL_3> <EMAIL_4>"), "<EMAIL_3> x@y.com");
    }

    #[test]
    fn json_stays_valid() {
        let mut r = Redactor::new();
        let j = r#"{"to": "bob@x.com", "note": "line\nbob@x.com", "id": 18446744073709551616}"#;
        let red = r.redact_json_or_text(j);
        assert_eq!(
            red,
            r#"{"to": "<EMAIL_1>", "note": "line\n<EMAIL_1>", "id": 18446744073709551616}"#
        );
        let back = r.restore_json_or_text(&red);
        assert_eq!(back, j);
        // Not JSON: free text.
        assert_eq!(r.redact_json_or_text("{oops bob@x.com"), "{oops <EMAIL_1>");
    }

    #[test]
    fn stream_restores_split_placeholders() {
        let mut r = Redactor::new();
        r.redact_text("bob@x.com");
        let mut s = StreamRestorer::new();
        let mut out = String::new();
        for delta in [
            "Hi <",
            "EMA",
            "IL_",
            "1",
            "> and <b>bold</b> <EMAIL_1",
            ">!",
            " <PHO",
        ] {
            out.push_str(&s.push(&r, delta));
        }
        assert_eq!(out, "Hi bob@x.com and <b>bold</b> bob@x.com! ");
        out.push_str(&s.finish(&r));
        assert_eq!(out, "Hi bob@x.com and <b>bold</b> bob@x.com! <PHO");
    }
}
