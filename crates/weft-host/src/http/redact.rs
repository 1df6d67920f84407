//! Keeping substituted secrets from coming back: every verbatim occurrence
//! of a secret the host put into a request is replaced by its placeholder
//! in the response's headers and body before the guest reads them, also
//! when an occurrence straddles two body chunks.
//!
//! Only verbatim copies are caught; a server that transforms the value
//! (base64, compression) defeats this, which is why secrets also go only to
//! the hosts and headers their grant names, and only over `https`.

/// One secret value and the placeholder that replaces it.
#[derive(Clone)]
struct Replacement {
    value: Vec<u8>,
    placeholder: Vec<u8>,
}

/// A streaming replacer of secret values.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    replacements: Vec<Replacement>,
    longest: usize,
    /// Bytes held back because they may begin a secret that the next chunk
    /// completes.
    carry: Vec<u8>,
}

impl Redactor {
    /// A redactor for `(value, name)` pairs; empty values are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let replacements: Vec<Replacement> = secrets
            .into_iter()
            .filter(|(value, _)| !value.is_empty())
            .map(|(value, name)| Replacement {
                value: value.as_bytes().to_vec(),
                placeholder: format!("{{{{secret:{name}}}}}").into_bytes(),
            })
            .collect();
        let longest = replacements
            .iter()
            .map(|r| r.value.len())
            .max()
            .unwrap_or(0);
        Redactor {
            replacements,
            longest,
            carry: Vec::new(),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.replacements.is_empty()
    }

    /// Redacts the next chunk; may hold back a few trailing bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            if let Some(r) = self
                .replacements
                .iter()
                .find(|r| rest.starts_with(&r.value))
            {
                out.extend_from_slice(&r.placeholder);
                i += r.value.len();
                continue;
            }
            if rest.len() < self.longest
                && self
                    .replacements
                    .iter()
                    .any(|r| r.value.len() > rest.len() && r.value.starts_with(rest))
            {
                // A secret may begin here and end in the next chunk.
                self.carry = rest.to_vec();
                return out;
            }
            out.push(data[i]);
            i += 1;
        }
        out
    }

    /// The bytes still held back, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.carry)
    }

    /// Redacts a complete value (a header).
    pub fn redact_all(&self, value: &[u8]) -> Vec<u8> {
        let mut one = Redactor {
            carry: Vec::new(),
            ..self.clone()
        };
        let mut out = one.feed(value);
        out.extend(one.finish());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> String {
        let mut r = Redactor::new([("s3cr3t-value", "TOKEN"), ("abc", "SHORT")]);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(r.feed(c.as_bytes()));
        }
        out.extend(r.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn secrets_are_replaced_wherever_the_chunks_split_them() {
        let text = "auth: Bearer s3cr3t-value; again s3cr3t-value and abc.";
        let expected =
            "auth: Bearer {{secret:TOKEN}}; again {{secret:TOKEN}} and {{secret:SHORT}}.";
        assert_eq!(run(&[text]), expected);
        for split in 0..=text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(run(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let chunks: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(run(&chunks), expected, "one byte at a time");
    }

    #[test]
    fn a_prefix_that_never_completes_is_passed_through() {
        assert_eq!(run(&["ends with s3cr3t-val"]), "ends with s3cr3t-val");
        assert_eq!(run(&["ab", "x"]), "abx");
        let r = Redactor::new([("", "EMPTY")]);
        assert!(r.is_empty());
    }
}
