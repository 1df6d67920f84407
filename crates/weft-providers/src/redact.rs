//! Redaction of credentials in URLs, headers and recorded text.

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Header names that always carry credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
];

/// Query parameters that carry credentials.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "token",
    "sig",
    "signature",
];

/// True when a header of this name carries a credential: the well-known
/// names, and any name mentioning a key, token, secret, auth or cookie.
pub fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str())
        || ["key", "token", "auth", "secret", "cookie", "signature"]
            .iter()
            .any(|s| n.contains(s))
}

fn split_query(url: &str) -> Option<(&str, &str, &str)> {
    let (base, rest) = url.split_once('?')?;
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, f),
        None => (rest, ""),
    };
    Some((base, query, fragment))
}

fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str())
}

/// `url` with the values of credential query parameters (`key=`,
/// `api_key=`, `access_token=`, ...) replaced by [`REDACTED`].
pub fn url(url: &str) -> String {
    let Some((base, query, fragment)) = split_query(url) else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", query.join("&"));
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The values of credential query parameters in `url`.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Some((_, query, _)) = split_query(url) else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, v)| is_secret_param(k) && !v.is_empty())
        .map(|(_, v)| v.to_owned())
        .collect()
}

/// `text` with every occurrence of each secret (of 4 characters or more)
/// replaced by [`REDACTED`].
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_headers() {
        assert_eq!(
            url("https://h/v1beta/models/m:streamGenerateContent?alt=sse&key=AIza123#f"),
            "https://h/v1beta/models/m:streamGenerateContent?alt=sse&key=[REDACTED]#f"
        );
        assert_eq!(url("https://h/x"), "https://h/x");
        assert_eq!(url_secrets("https://h/?key=abc&alt=sse"), vec!["abc"]);
        assert!(is_sensitive_header("X-Goog-Api-Key"));
        assert!(is_sensitive_header("authorization"));
        assert!(!is_sensitive_header("content-type"));
        assert!(!is_sensitive_header("anthropic-version"));
        assert_eq!(
            scrub(
                "a sk-1234 b sk-12345",
                &["sk-1234".into(), "sk-12345".into()]
            ),
            "a [REDACTED] b [REDACTED]"
        );
    }
}
