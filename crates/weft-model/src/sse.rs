//! A small incremental parser for Server-Sent Events (`text/event-stream`).
//!
//! Feed it bytes as they arrive, in chunks of any size; it yields complete
//! events. It follows the WHATWG rules that matter to model providers: lines
//! end in LF, CRLF or CR (also when the CR and LF arrive in different
//! chunks), lines starting with `:` are comments, `data:` lines of one event
//! are joined with `\n`, one space after the colon is dropped, and a blank
//! line dispatches the event. `id` and `retry` fields are ignored.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The incremental parser; see the [module docs](self).
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR, so a leading LF belongs to it.
    after_cr: bool,
    /// `data` of the event being built.
    data: String,
    /// Whether any `data:` field has been seen for the event being built.
    has_data: bool,
    /// `event` of the event being built.
    event: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `chunk` and returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let was_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// Ends the stream: processes an unterminated last line and dispatches a
    /// pending event (lenient: servers often omit the final blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.process_line(b"", &mut out);
        out.pop()
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.has_data = false;
            self.data.clear();
            self.event = None;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c));
        }
        out.extend(p.finish());
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn basics() {
        let src = b": comment\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: error\ndata:x\ndata: y\n\nid: 3\nretry: 10\n\ndata: [DONE]\n\n";
        let ev = parse_all(&[src]);
        assert_eq!(data(&ev), vec!["{\"a\":1}", "x\ny", "[DONE]"]);
        assert_eq!(ev[1].event.as_deref(), Some("error"));
        assert_eq!(ev[0].event, None);
    }

    #[test]
    fn every_split_point_and_line_ending() {
        for ending in ["\n", "\r\n", "\r"] {
            let src = format!(
                ": keepalive{e}data: {{\"t\":\"héllo\"}}{e}{e}data: a{e}data: b{e}{e}data: [DONE]{e}{e}",
                e = ending
            );
            let bytes = src.as_bytes();
            let want = parse_all(&[bytes]);
            assert_eq!(data(&want), vec!["{\"t\":\"héllo\"}", "a\nb", "[DONE]"]);
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    let got = parse_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                    assert_eq!(got, want, "split at {i},{j} with {ending:?}");
                }
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(parse_all(&singles), want);
        }
    }

    #[test]
    fn unterminated_last_event_is_flushed() {
        assert_eq!(data(&parse_all(&[b"data: [DONE]"])), vec!["[DONE]"]);
        assert_eq!(data(&parse_all(&[b"data: x\n"])), vec!["x"]);
        assert!(parse_all(&[b": only a comment"]).is_empty());
    }
}
