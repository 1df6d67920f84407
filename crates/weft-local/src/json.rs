//! Constrained decoding that guarantees syntactically valid JSON.
//!
//! [`JsonPrefix`] is an incremental JSON recogniser over bytes: it accepts
//! exactly the byte strings that are a prefix of some valid JSON text and
//! knows when the text is complete. During generation each candidate token's
//! bytes are fed to a copy of the recogniser, and tokens that would break the
//! JSON are masked out ([`JsonConstraint`]). Once the value is complete, only
//! an end-of-sequence token is allowed.
//!
//! This guarantees syntax, not a schema: schema conformance is checked after
//! generation by the caller, as for remote providers that only offer JSON mode.

/// Longest run of whitespace allowed between tokens, so a model cannot stall
/// the output forever with blank lines.
const MAX_WHITESPACE_RUN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    /// After `-`.
    Sign,
    /// A leading `0`: no more integer digits.
    Zero,
    /// Integer digits.
    Integer,
    /// After `.`.
    Point,
    /// Fraction digits.
    Fraction,
    /// After `e` or `E`.
    Exponent,
    /// After the exponent's sign.
    ExponentSign,
    /// Exponent digits.
    ExponentDigits,
}

impl Number {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Integer | Number::Fraction | Number::ExponentDigits
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value must come next (top level, after `:`, `[` or `,` in an array).
    Value,
    /// After `[`: a value or `]`.
    ArrayStart,
    /// After `{`: a key or `}`.
    ObjectStart,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or its closer.
    AfterValue,
    /// Inside a string; `key` says whether it is an object key.
    String {
        key: bool,
        escape: bool,
        hex_left: u8,
    },
    /// Inside a number.
    Number(Number),
    /// Inside `true`, `false` or `null`: the bytes still expected.
    Literal(&'static [u8]),
    /// The top-level value is complete.
    Done,
}

/// Recognises prefixes of one JSON text (RFC 8259), byte by byte.
#[derive(Debug, Clone)]
pub struct JsonPrefix {
    stack: Vec<Container>,
    state: State,
    /// Whether the top-level value must be an object (JSON mode).
    object_only: bool,
    started: bool,
    whitespace_run: usize,
}

impl JsonPrefix {
    /// A recogniser for any JSON value, or for an object only.
    pub fn new(object_only: bool) -> Self {
        Self {
            stack: Vec::new(),
            state: State::Value,
            object_only,
            started: false,
            whitespace_run: 0,
        }
    }

    /// Whether the bytes fed so far form a complete JSON text.
    pub fn is_complete(&self) -> bool {
        match self.state {
            State::Done => true,
            State::Number(n) => self.stack.is_empty() && n.complete(),
            _ => false,
        }
    }

    /// Feeds `bytes`; `false` (leaving `self` in an unspecified state) when
    /// they cannot continue a valid JSON text.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.push(b))
    }

    /// Whether `bytes` would continue a valid JSON text, without consuming them.
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        !bytes.is_empty() && self.clone().feed(bytes)
    }

    fn push(&mut self, b: u8) -> bool {
        let whitespace = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let in_token = matches!(self.state, State::String { .. } | State::Literal(_));
        if whitespace && !in_token {
            self.whitespace_run += 1;
            if self.whitespace_run > MAX_WHITESPACE_RUN {
                return false;
            }
        } else {
            self.whitespace_run = 0;
        }
        match self.state {
            State::String {
                key,
                escape,
                hex_left,
            } => self.string_byte(b, key, escape, hex_left),
            State::Literal(rest) => {
                if rest.first() != Some(&b) {
                    return false;
                }
                self.state = if rest.len() == 1 {
                    self.after_value()
                } else {
                    State::Literal(&rest[1..])
                };
                true
            }
            State::Number(n) => self.number_byte(b, n),
            _ if whitespace => true,
            State::Value => self.value_start(b),
            State::ArrayStart => {
                if b == b']' {
                    self.close(Container::Array)
                } else {
                    self.value_start(b)
                }
            }
            State::ObjectStart | State::Key => {
                if b == b'}' && self.state == State::ObjectStart {
                    self.close(Container::Object)
                } else if b == b'"' {
                    self.state = State::String {
                        key: true,
                        escape: false,
                        hex_left: 0,
                    };
                    true
                } else {
                    false
                }
            }
            State::Colon => {
                self.state = State::Value;
                b == b':'
            }
            State::AfterValue => match (b, self.stack.last()) {
                (b',', Some(Container::Object)) => {
                    self.state = State::Key;
                    true
                }
                (b',', Some(Container::Array)) => {
                    self.state = State::Value;
                    true
                }
                (b'}', Some(Container::Object)) => self.close(Container::Object),
                (b']', Some(Container::Array)) => self.close(Container::Array),
                _ => false,
            },
            State::Done => false,
        }
    }

    fn value_start(&mut self, b: u8) -> bool {
        if self.object_only && !self.started && b != b'{' {
            return false;
        }
        self.started = true;
        self.state = match b {
            b'{' => {
                self.stack.push(Container::Object);
                State::ObjectStart
            }
            b'[' => {
                self.stack.push(Container::Array);
                State::ArrayStart
            }
            b'"' => State::String {
                key: false,
                escape: false,
                hex_left: 0,
            },
            b'-' => State::Number(Number::Sign),
            b'0' => State::Number(Number::Zero),
            b'1'..=b'9' => State::Number(Number::Integer),
            b't' => State::Literal(b"rue"),
            b'f' => State::Literal(b"alse"),
            b'n' => State::Literal(b"ull"),
            _ => return false,
        };
        true
    }

    fn string_byte(&mut self, b: u8, key: bool, escape: bool, hex_left: u8) -> bool {
        if hex_left > 0 {
            if !b.is_ascii_hexdigit() {
                return false;
            }
            self.state = State::String {
                key,
                escape: false,
                hex_left: hex_left - 1,
            };
            return true;
        }
        if escape {
            let hex_left = match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 0,
                b'u' => 4,
                _ => return false,
            };
            self.state = State::String {
                key,
                escape: false,
                hex_left,
            };
            return true;
        }
        match b {
            b'"' => {
                self.state = if key {
                    State::Colon
                } else {
                    self.after_value()
                };
                true
            }
            b'\\' => {
                self.state = State::String {
                    key,
                    escape: true,
                    hex_left: 0,
                };
                true
            }
            0x00..=0x1f => false,
            _ => true,
        }
    }

    fn number_byte(&mut self, b: u8, n: Number) -> bool {
        use Number::*;
        let next = match (n, b) {
            (Sign, b'0') => Some(Zero),
            (Sign, b'1'..=b'9') => Some(Integer),
            (Integer, b'0'..=b'9') => Some(Integer),
            (Zero | Integer, b'.') => Some(Point),
            (Point | Fraction, b'0'..=b'9') => Some(Fraction),
            (Zero | Integer | Fraction, b'e' | b'E') => Some(Exponent),
            (Exponent, b'+' | b'-') => Some(ExponentSign),
            (Exponent | ExponentSign | ExponentDigits, b'0'..=b'9') => Some(ExponentDigits),
            _ => None,
        };
        match next {
            Some(next) => {
                self.state = State::Number(next);
                true
            }
            // The number ends here; the byte must then fit what follows it.
            None if n.complete() => {
                self.state = self.after_value();
                self.push(b)
            }
            None => false,
        }
    }

    fn close(&mut self, container: Container) -> bool {
        if self.stack.pop() != Some(container) {
            return false;
        }
        self.state = self.after_value();
        true
    }

    fn after_value(&self) -> State {
        if self.stack.is_empty() {
            State::Done
        } else {
            State::AfterValue
        }
    }
}

/// Masks tokens so generated text stays valid JSON.
#[derive(Debug, Clone)]
pub struct JsonConstraint {
    prefix: JsonPrefix,
}

impl JsonConstraint {
    /// A constraint for any JSON value, or for an object only.
    pub fn new(object_only: bool) -> Self {
        Self {
            prefix: JsonPrefix::new(object_only),
        }
    }

    /// Whether a token with these bytes may come next. `end_of_sequence`
    /// tokens (no bytes) are allowed only once the JSON is complete.
    pub fn allows(&self, bytes: &[u8], end_of_sequence: bool) -> bool {
        if end_of_sequence {
            return self.prefix.is_complete();
        }
        !matches!(self.prefix.state, State::Done) && self.prefix.accepts(bytes)
    }

    /// Records the chosen token's bytes.
    pub fn advance(&mut self, bytes: &[u8]) {
        let accepted = self.prefix.feed(bytes);
        debug_assert!(accepted, "advanced with a token the constraint refused");
    }

    /// Whether the JSON text is complete.
    pub fn is_complete(&self) -> bool {
        self.prefix.is_complete()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str, object_only: bool) -> bool {
        let mut p = JsonPrefix::new(object_only);
        p.feed(text.as_bytes()) && p.is_complete()
    }

    #[test]
    fn accepts_valid_json_and_every_prefix_of_it() {
        let texts = [
            r#"{"a": [1, -2.5e+3, 0, true, false, null], "b": {"c": "x\"\u00e9\n"}}"#,
            "[]",
            "{}",
            r#""日本語 🦀""#,
            "-0.0E-1",
        ];
        for text in texts {
            assert!(valid(text, false), "{text}");
            for cut in 0..text.len() {
                let prefix = &text.as_bytes()[..cut];
                assert!(JsonPrefix::new(false).feed(prefix), "{prefix:?}");
            }
        }
        // serde_json agrees these are valid.
        for text in texts {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok());
        }
    }

    #[test]
    fn rejects_what_json_forbids() {
        for bad in [
            "{a: 1}",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "tru",
            "[1 2]",
            "\"\\x\"",
            "{\"a\":}",
            "[}",
            "{]",
            "\"a\nb\"",
            "1e",
            "+1",
            "{\"a\":1,}",
        ] {
            assert!(!valid(bad, false), "accepted {bad:?}");
            assert!(serde_json::from_str::<serde_json::Value>(bad).is_err());
        }
    }

    #[test]
    fn object_mode_requires_an_object() {
        assert!(valid(r#" {"x": 1}"#, true));
        assert!(!JsonPrefix::new(true).feed(b"[1]"));
        assert!(!JsonPrefix::new(true).feed(b"\"s\""));
    }

    #[test]
    fn nothing_follows_a_complete_value_and_whitespace_runs_are_bounded() {
        let mut p = JsonPrefix::new(false);
        assert!(p.feed(b"{}"));
        assert!(!p.clone().feed(b"{"));
        assert!(!JsonPrefix::new(false).feed(&[b' '; MAX_WHITESPACE_RUN + 1]));
        let c = JsonConstraint::new(true);
        assert!(!c.allows(&[], true), "end of sequence before any JSON");
    }
}
