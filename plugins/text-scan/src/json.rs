//! Rewriting the string literals of a JSON text, leaving everything else
//! (numbers, whitespace, key order) byte for byte unchanged — so 64-bit and
//! larger integers keep their exact digits.

/// Calls `f` on every decoded string literal (keys included) of `json`;
/// where it returns `Some(new)`, the literal is replaced by `new`, encoded.
/// Returns `None` when `json` is not valid JSON.
pub fn map_strings(json: &str, mut f: impl FnMut(&str) -> Option<String>) -> Option<String> {
    // Validation only: the parsed value is discarded, the text is kept.
    serde_json::from_str::<serde_json::Value>(json).ok()?;
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        let literal = &json[start..end];
        if let Ok(decoded) = serde_json::from_str::<String>(literal)
            && let Some(new) = f(&decoded)
            && let Ok(encoded) = serde_json::to_string(&new)
        {
            out.push_str(&json[copied..start]);
            out.push_str(&encoded);
            copied = end;
        }
        i = end;
    }
    out.push_str(&json[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_strings_only() {
        let j = r#"{"a": "x\"y", "n": 18446744073709551616, "l": ["x\"y", 1.50]}"#;
        let out = map_strings(j, |s| (s == "x\"y").then(|| "Z\n".to_string())).unwrap();
        assert_eq!(
            out,
            r#"{"a": "Z\n", "n": 18446744073709551616, "l": ["Z\n", 1.50]}"#
        );
        assert_eq!(map_strings("{", |_| None), None);
        assert_eq!(
            map_strings("\"\\u00e9\"", |s| Some(s.to_uppercase())).unwrap(),
            "\"É\""
        );
    }
}
