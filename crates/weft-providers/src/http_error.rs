//! Mapping provider failures onto [`ModelError`].
//!
//! Shared by every provider. [`classify_for`] reads, in order: the
//! provider's own error identifiers (`error.code`, `error.type`,
//! `error.status`, `error.details[].reason`, `base_resp.status_code`, ...)
//! through its profile's `errors` table; its profile's `status` table; then
//! the status and the body's wording, because providers disagree on
//! statuses: GLM answers an empty balance with HTTP 429 and code 1113,
//! DeepSeek with 402, Kimi with 403, OpenAI with 429 `insufficient_quota`.

use serde_json::Value;
use weft_model::ErrorKind;
use weft_model::types::ModelError;

use crate::catalog::Profile;

/// Error bodies are cut to this many bytes in [`ModelError::Provider`].
pub(crate) const MAX_BODY: usize = 4096;

/// `s` cut to at most `max` bytes on a character boundary, with a marker when
/// something was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated, {} bytes in all]", &s[..end], s.len())
}

/// The delay a response asks for: `retry-after-ms` (OpenAI, Azure) or
/// `Retry-After` in seconds (integer or decimal) or as an HTTP date.
pub(crate) fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(ms) = get("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(ms.round() as u64);
    }
    parse_retry_after(get("retry-after")?, now_unix_secs())
}

/// Parses a `Retry-After` value, relative to `now` (Unix seconds) for the
/// HTTP-date form.
pub(crate) fn parse_retry_after(value: &str, now: Option<u64>) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64);
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now?).saturating_mul(1000))
}

#[cfg(not(target_arch = "wasm32"))]
fn now_unix_secs() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

// `SystemTime::now` panics on wasm32-unknown-unknown; the date form of
// `Retry-After` is then ignored.
#[cfg(target_arch = "wasm32")]
fn now_unix_secs() -> Option<u64> {
    None
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix
/// seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut it = rest.split_ascii_whitespace();
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (h * 3600 + m * 60 + sec) as i64;
    u64::try_from(secs).ok()
}

/// The most readable message in an error body: `error.message`, `error` as
/// a string, `message`, `msg` or `detail`; the truncated body otherwise.
pub(crate) fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let found = parsed.as_ref().and_then(|v| {
        let e = v.get("error");
        e.and_then(|e| e.get("message"))
            .or_else(|| e.filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("msg"))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("base_resp").and_then(|b| b.get("status_msg")))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    });
    match found {
        Some(m) if !m.is_empty() => truncate(&m, 1024),
        _ => truncate(body.trim(), 1024),
    }
}

/// The `error.code` (or top-level `code`) of a JSON error body, as text.
fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = v
        .get("error")
        .and_then(|e| e.get("code"))
        .or_else(|| v.get("code"))?;
    match code {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// True when the body says the account has no balance or quota left.
///
/// Explicit wording (or GLM's code 1113) always counts. A bare "quota" counts
/// unless the response reads like a per-minute rate limit (a `Retry-After`
/// header, "per minute", "rate limit", ...), since Gemini words its
/// per-minute limits as quotas.
fn balance_exhausted(lower: &str, code: Option<&str>, has_retry_after: bool) -> bool {
    const EXPLICIT: &[&str] = &[
        "insufficient balance",
        "insufficient_balance",
        "balance is insufficient",
        "insufficient account balance",
        "balance not enough",
        "not enough balance",
        "no balance",
        "credit balance",
        "out of credits",
        "credits are depleted",
        "account is in arrears",
        "insufficient_quota",
        "quota exhausted",
        "quota has been exhausted",
        "余额不足",
        "arrearage",
    ];
    const RATE: &[&str] = &[
        "per minute",
        "per_minute",
        "perminute",
        "per second",
        "per day",
        "per_day",
        "retrydelay",
        "rate limit",
        "rate_limit",
    ];
    if code == Some("1113") || contains_any(lower, EXPLICIT) {
        return true;
    }
    lower.contains("quota") && !has_retry_after && !contains_any(lower, RATE)
}

fn context_too_long(lower: &str) -> bool {
    contains_any(
        lower,
        &[
            "context length",
            "context_length",
            "context window",
            "context_window",
            "maximum context",
            "prompt is too long",
            "prompt too long",
            "input is too long",
            "too many input tokens",
            "reduce the length of the messages",
            "maximum input length",
            "range of input length",
            "exceeds the maximum number of tokens",
            "exceeded model token limit",
            "exceeds max length",
            "available context size",
        ],
    )
}

fn content_filtered(lower: &str, code: Option<&str>) -> bool {
    code == Some("1301")
        || contains_any(
            lower,
            &[
                "content_filter",
                "content filter",
                "contentfilter",
                "content_policy",
                "content policy",
                "content management policy",
                "content exists risk",
                "high risk",
                "data_inspection_failed",
                "inappropriate content",
            ],
        )
}

/// Maps a non-success HTTP response onto the most specific [`ModelError`].
pub(crate) fn classify(
    provider: &str,
    status: u16,
    retry_after_ms: Option<u64>,
    body: &str,
) -> ModelError {
    let lower = body.to_lowercase();
    let code = error_code(body);
    let code = code.as_deref();
    let msg = || format!("{provider}: HTTP {status}: {}", error_message(body));
    match status {
        403 if balance_exhausted(&lower, code, true) => ModelError::InsufficientBalance(msg()),
        401 | 403 => ModelError::Auth(msg()),
        402 => ModelError::InsufficientBalance(msg()),
        429 if balance_exhausted(&lower, code, retry_after_ms.is_some()) => {
            ModelError::InsufficientBalance(msg())
        }
        429 if lower.contains("overloaded") => ModelError::Overloaded(msg()),
        429 => ModelError::RateLimited {
            retry_after_ms,
            message: msg(),
        },
        408 | 504 => ModelError::Timeout(msg()),
        503 | 529 => ModelError::Overloaded(msg()),
        413 => ModelError::ContextTooLong(msg()),
        400..=499 if balance_exhausted(&lower, code, true) => {
            ModelError::InsufficientBalance(msg())
        }
        400..=499 if context_too_long(&lower) => ModelError::ContextTooLong(msg()),
        _ if content_filtered(&lower, code) => ModelError::ContentFiltered(msg()),
        500..=599 if lower.contains("overloaded") => ModelError::Overloaded(msg()),
        _ => ModelError::Provider {
            status,
            body: truncate(body, MAX_BODY),
        },
    }
}

/// Maps an error object a provider sent inside a successful (HTTP 200)
/// response or stream, such as `data: {"error": {...}}`.
pub(crate) fn classify_inline(provider: &str, body: &str) -> ModelError {
    let lower = body.to_lowercase();
    let code = error_code(body);
    let code = code.as_deref();
    let status = code
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| (400..600).contains(s));
    if let Some(status) = status {
        return classify(provider, status, None, body);
    }
    let msg = format!("{provider}: {}", error_message(body));
    if balance_exhausted(&lower, code, false) {
        ModelError::InsufficientBalance(msg)
    } else if context_too_long(&lower) {
        ModelError::ContextTooLong(msg)
    } else if content_filtered(&lower, code) {
        ModelError::ContentFiltered(msg)
    } else if lower.contains("overloaded") {
        ModelError::Overloaded(msg)
    } else if contains_any(&lower, &["rate limit", "rate_limit", "too many requests"]) {
        ModelError::RateLimited {
            retry_after_ms: None,
            message: msg,
        }
    } else {
        ModelError::Provider {
            status: 200,
            body: truncate(body, MAX_BODY),
        }
    }
}

/// Every identifier an error body carries, most specific first:
/// `error.details[].reason` / `error_code`, `error.code`, `error.type`,
/// `error.status`, top-level `code` / `type` / `status`, and MiniMax's
/// `base_resp.status_code` (when not 0).
fn error_ids(v: &Value) -> Vec<String> {
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    let mut out = Vec::new();
    let e = v.get("error");
    if let Some(details) = e.and_then(|e| e.get("details")) {
        let items: Vec<&Value> = match details {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for d in items {
            out.extend(text(d.get("reason")));
            out.extend(text(d.get("error_code")));
        }
    }
    for key in ["code", "type", "status"] {
        out.extend(text(e.and_then(|e| e.get(key))));
    }
    // Anthropic's envelope has a top-level `"type": "error"`: not an id.
    for key in ["code", "status"] {
        out.extend(text(v.get(key)));
    }
    if let Some(t) = text(v.get("type")).filter(|t| t != "error") {
        out.push(t);
    }
    if let Some(code) = v
        .get("base_resp")
        .and_then(|b| b.get("status_code"))
        .and_then(Value::as_i64)
        .filter(|c| *c != 0)
    {
        out.push(code.to_string());
    }
    out
}

/// The kind a profile assigns to one of `ids` (exact names first, then
/// `*`-suffixed prefixes, longest first).
fn kind_for_ids(profile: &Profile, ids: &[String]) -> Option<ErrorKind> {
    for id in ids {
        if let Some(k) = profile.errors.get(id) {
            return Some(*k);
        }
    }
    let mut best: Option<(usize, ErrorKind)> = None;
    for id in ids {
        for (pattern, kind) in &profile.errors {
            if let Some(prefix) = pattern.strip_suffix('*')
                && id.starts_with(prefix)
                && best.is_none_or(|(len, _)| prefix.len() > len)
            {
                best = Some((prefix.len(), *kind));
            }
        }
    }
    best.map(|(_, k)| k)
}

/// Gemini's `RetryInfo.retryDelay` (`"37s"`, `"1.5s"`) in milliseconds.
fn retry_delay_ms(v: &Value) -> Option<u64> {
    let details = v.get("error")?.get("details")?.as_array()?;
    details.iter().find_map(|d| {
        let delay = d.get("retryDelay")?.as_str()?;
        let secs: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
    })
}

fn make(
    kind: ErrorKind,
    status: u16,
    msg: String,
    retry_after_ms: Option<u64>,
    lower: &str,
    has_retry_after: bool,
) -> ModelError {
    match kind {
        // A "rate limit" whose wording says the money ran out is not one.
        ErrorKind::RateLimited if balance_exhausted(lower, None, has_retry_after) => {
            ModelError::InsufficientBalance(msg)
        }
        ErrorKind::RateLimited => ModelError::RateLimited {
            retry_after_ms,
            message: msg,
        },
        ErrorKind::Auth => ModelError::Auth(msg),
        ErrorKind::InsufficientBalance => ModelError::InsufficientBalance(msg),
        ErrorKind::ContextTooLong => ModelError::ContextTooLong(msg),
        ErrorKind::ContentFiltered => ModelError::ContentFiltered(msg),
        ErrorKind::Overloaded => ModelError::Overloaded(msg),
        ErrorKind::Timeout => ModelError::Timeout(msg),
        ErrorKind::Unsupported => ModelError::Unsupported(msg),
        ErrorKind::Transport => ModelError::Transport(msg),
        ErrorKind::Denied => ModelError::Denied(msg),
        ErrorKind::ServerError => ModelError::Provider {
            status: status.max(500),
            body: msg,
        },
        ErrorKind::Provider => ModelError::Provider { status, body: msg },
    }
}

/// Maps a non-success HTTP response from the provider `provider` (with
/// `profile`'s error tables) onto the most specific [`ModelError`].
pub(crate) fn classify_for(
    profile: &Profile,
    provider: &str,
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> ModelError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let retry_after = retry_after_ms(headers).or_else(|| retry_delay_ms(&parsed));
    let lower = body.to_lowercase();
    let msg = || format!("{provider}: HTTP {status}: {}", error_message(body));
    if let Some(kind) = kind_for_ids(profile, &error_ids(&parsed)) {
        return make(
            kind,
            status,
            msg(),
            retry_after,
            &lower,
            retry_after.is_some(),
        );
    }
    if let Some(kind) = profile.status.get(&status) {
        return make(
            *kind,
            status,
            msg(),
            retry_after,
            &lower,
            retry_after.is_some(),
        );
    }
    classify(provider, status, retry_after, body)
}

/// Maps an error a provider sent inside a successful (HTTP 200) response or
/// stream, such as `data: {"error": {...}}` or MiniMax's
/// `base_resp.status_code`.
pub(crate) fn classify_inline_for(profile: &Profile, provider: &str, body: &str) -> ModelError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(kind) = kind_for_ids(profile, &error_ids(&parsed)) {
        let lower = body.to_lowercase();
        let retry_after = retry_delay_ms(&parsed);
        let msg = format!("{provider}: {}", error_message(body));
        return make(kind, 200, msg, retry_after, &lower, retry_after.is_some());
    }
    classify_inline(provider, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7", None), Some(7000));
        assert_eq!(parse_retry_after(" 1.5 ", None), Some(1500));
        assert_eq!(parse_retry_after("-1", None), None);
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_770)),
            Some(7000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_800)),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", Some(0)), None);
    }

    #[test]
    fn classification() {
        assert!(matches!(
            classify("p", 401, None, "{}"),
            ModelError::Auth(_)
        ));
        assert!(matches!(
            classify("p", 429, Some(1000), r#"{"error":{"message":"slow down"}}"#),
            ModelError::RateLimited { retry_after_ms: Some(1000), ref message } if message.contains("slow down")
        ));
        assert!(matches!(
            classify(
                "glm",
                429,
                None,
                r#"{"error":{"code":"1113","message":"余额不足或无可用资源包,请充值。"}}"#
            ),
            ModelError::InsufficientBalance(_)
        ));
        assert!(matches!(
            classify(
                "openai",
                429,
                None,
                r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}"#
            ),
            ModelError::InsufficientBalance(_)
        ));
        assert!(matches!(
            classify(
                "gemini",
                429,
                None,
                r#"{"error":{"message":"Quota exceeded for metric: requests per minute"}}"#
            ),
            ModelError::RateLimited { .. }
        ));
        assert!(matches!(
            classify("deepseek", 402, None, "Insufficient Balance"),
            ModelError::InsufficientBalance(_)
        ));
        assert!(matches!(
            classify(
                "deepseek",
                400,
                None,
                r#"{"error":{"message":"This model's maximum context length is 65536 tokens."}}"#
            ),
            ModelError::ContextTooLong(_)
        ));
        assert!(matches!(
            classify(
                "kimi",
                400,
                None,
                r#"{"error":{"message":"The request was rejected because it was considered high risk"}}"#
            ),
            ModelError::ContentFiltered(_)
        ));
        assert!(matches!(
            classify("p", 504, None, ""),
            ModelError::Timeout(_)
        ));
        assert!(matches!(
            classify("p", 529, None, ""),
            ModelError::Overloaded(_)
        ));
        let big = "x".repeat(10_000);
        match classify("p", 500, None, &big) {
            ModelError::Provider { status: 500, body } => assert!(body.len() < 4200),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_inline("p", r#"{"error":{"message":"Rate limit reached"}}"#),
            ModelError::RateLimited { .. }
        ));
    }

    #[test]
    fn truncates_on_char_boundary() {
        let s = "é".repeat(10);
        let t = truncate(&s, 5);
        assert!(t.starts_with("éé…"));
    }
}
