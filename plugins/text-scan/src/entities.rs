//! Hand-written scanners for emails, URLs, dates and phone numbers.
//!
//! They are deliberately conservative and ASCII-oriented (internationalised
//! domain names and non-Latin digits are not recognised). Every function
//! returns byte ranges that lie on character boundaries.

use std::ops::Range;

/// The kind of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An email address.
    Email,
    /// An `http(s)://`, `ftp://` or `www.` URL.
    Url,
    /// A calendar date, optionally with a time.
    Date,
    /// A phone number.
    Phone,
}

impl Kind {
    /// The lower-case name used in JSON (`email`, `url`, `date`, `phone`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Url => "url",
            Kind::Date => "date",
            Kind::Phone => "phone",
        }
    }
}

/// One entity found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// What it is.
    pub kind: Kind,
    /// Its byte range in the text.
    pub range: Range<usize>,
    /// For dates: ISO 8601 (`YYYY-MM-DD`, with the time if one was given,
    /// or `YYYY-MM` for a month and year); `None` when the day/month order
    /// is ambiguous (`03/04/2024`).
    pub normalized: Option<String>,
}

/// All entities of the requested kinds, sorted by position. Overlaps are
/// resolved in the order URL, email, date, phone: a date inside a URL is
/// not reported separately.
pub fn all(text: &str, kinds: &[Kind]) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::new();
    let mut claimed: Vec<Range<usize>> = Vec::new();
    let mut add = |kind: Kind, range: Range<usize>, normalized: Option<String>| {
        if claimed
            .iter()
            .any(|c| c.start < range.end && range.start < c.end)
        {
            return;
        }
        claimed.push(range.clone());
        if kinds.contains(&kind) {
            out.push(Entity {
                kind,
                range,
                normalized,
            });
        }
    };
    // Higher-priority kinds claim their spans even when not requested, so
    // that e.g. a date inside a URL is never reported.
    for r in urls(text) {
        add(Kind::Url, r, None);
    }
    for r in emails(text) {
        add(Kind::Email, r, None);
    }
    for (r, n) in dates(text) {
        add(Kind::Date, r, n);
    }
    for r in phones(text) {
        add(Kind::Phone, r, None);
    }
    out.sort_by_key(|e| e.range.start);
    out
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.')
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok =
        |l: &&str| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-');
    let tld = labels[labels.len() - 1];
    labels.iter().all(label_ok) && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Byte ranges of email addresses (`local@domain.tld`).
pub fn emails(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut floor = 0;
    for at in (0..b.len()).filter(|&i| b[i] == b'@') {
        if at < floor {
            continue;
        }
        let mut start = at;
        while start > floor && is_local(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        if start == at || b[at - 1] == b'.' {
            continue;
        }
        let mut end = at + 1;
        while end < b.len() && is_domain(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if !valid_domain(&text[at + 1..end]) {
            continue;
        }
        out.push(start..end);
        floor = end;
    }
    out
}

const URL_PREFIXES: &[&str] = &["https://", "http://", "ftp://", "www."];

fn url_char(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '<' | '>' | '"' | '`' | '{' | '}' | '|' | '\\' | '^')
}

/// Byte ranges of URLs starting with `http://`, `https://`, `ftp://` or
/// `www.`. Trailing sentence punctuation and unbalanced closing brackets
/// are not part of the URL.
pub fn urls(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let prefix = boundary
            .then(|| {
                URL_PREFIXES.iter().find(|p| {
                    b.len() >= i + p.len() && b[i..i + p.len()].eq_ignore_ascii_case(p.as_bytes())
                })
            })
            .flatten();
        let Some(prefix) = prefix else {
            i += 1;
            continue;
        };
        let rest = &text[i..];
        let mut end = i + rest.find(|c: char| !url_char(c)).unwrap_or(rest.len());
        // Trim trailing punctuation and unbalanced closers.
        loop {
            let url = &text[i..end];
            let Some(last) = url.chars().next_back() else {
                break;
            };
            let unbalanced =
                |open: char, close: char| url.matches(close).count() > url.matches(open).count();
            let drop = matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
                || (last == ')' && unbalanced('(', ')'))
                || (last == ']' && unbalanced('[', ']'));
            if !drop {
                break;
            }
            end -= last.len_utf8();
        }
        let host = text.get(i + prefix.len()..end).unwrap_or_default();
        let host_ok = host
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '[')
            && (*prefix != "www." || host.contains('.'));
        if host_ok {
            out.push(i..end);
            i = end;
        } else {
            i += prefix.len();
        }
    }
    out
}

/// Reads `min..=max` ASCII digits at `i`; the run must end there (no
/// further digit). Returns the value and the end offset.
fn digits(b: &[u8], i: usize, min: usize, max: usize) -> Option<(u32, usize)> {
    let mut end = i;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    let n = end - i;
    if n < min || n > max {
        return None;
    }
    let value = b[i..end]
        .iter()
        .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    Some((value, end))
}

fn leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(y) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn ymd(y: u32, m: u32, d: u32) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month name (full, three-letter, or `sept`) at `i`, with an optional
/// `.` after an abbreviation; "May" must be capitalised.
fn month_at(text: &str, i: usize) -> Option<(u32, usize)> {
    let b = text.as_bytes();
    let mut end = i;
    while end < b.len() && b[end].is_ascii_alphabetic() {
        end += 1;
    }
    let word = text[i..end].to_ascii_lowercase();
    if word.len() < 3 {
        return None;
    }
    let month = MONTHS.iter().position(|m| {
        *m == word
            || (word.len() == 3 && m.starts_with(&word))
            || (word == "sept" && *m == "september")
    })?;
    if month == 4 && b[i] != b'M' {
        return None;
    }
    let full = MONTHS[month].len() == word.len();
    if !full && end < b.len() && b[end] == b'.' {
        end += 1;
    }
    Some((month as u32 + 1, end))
}

fn spaces(b: &[u8], i: usize) -> Option<usize> {
    let mut end = i;
    while end < b.len() && b[end] == b' ' {
        end += 1;
    }
    (end > i).then_some(end)
}

fn ordinal_suffix(b: &[u8], i: usize) -> usize {
    for s in [b"st", b"nd", b"rd", b"th"] {
        if b.len() >= i + 2 && b[i..i + 2].eq_ignore_ascii_case(s) {
            return i + 2;
        }
    }
    i
}

/// An optional ISO time after a date: `THH:MM[:SS[.fff]][Z|±HH[:]MM]`, or
/// the same after one space.
fn iso_time(b: &[u8], i: usize) -> Option<usize> {
    if i >= b.len() || !(b[i] == b'T' || b[i] == b' ') {
        return None;
    }
    let (h, e) = digits(b, i + 1, 2, 2)?;
    if b.get(e) != Some(&b':') {
        return None;
    }
    let (m, mut e) = digits(b, e + 1, 2, 2)?;
    if h > 23 || m > 59 {
        return None;
    }
    if b.get(e) == Some(&b':')
        && let Some((s, e2)) = digits(b, e + 1, 2, 2)
        && s <= 60
    {
        e = e2;
        if b.get(e) == Some(&b'.')
            && let Some((_, e3)) = digits(b, e + 1, 1, 9)
        {
            e = e3;
        }
    }
    match b.get(e) {
        Some(b'Z') => e += 1,
        Some(b'+' | b'-') => {
            if let Some((_, e2)) = digits(b, e + 1, 2, 2) {
                let mut e3 = e2;
                if b.get(e2) == Some(&b':') {
                    if let Some((_, e4)) = digits(b, e2 + 1, 2, 2) {
                        e3 = e4;
                    }
                } else if let Some((_, e4)) = digits(b, e2, 2, 2) {
                    e3 = e4;
                }
                e = e3;
            }
        }
        _ => {}
    }
    Some(e)
}

fn date_at(text: &str, i: usize) -> Option<(usize, Option<String>)> {
    let b = text.as_bytes();
    if b[i].is_ascii_digit() {
        // YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD (+ time for '-').
        if let Some((y, e)) = digits(b, i, 4, 4)
            && let Some(&sep) = b.get(e)
            && matches!(sep, b'-' | b'/' | b'.')
            && let Some((m, e)) = digits(b, e + 1, 1, 2)
            && b.get(e) == Some(&sep)
            && let Some((d, e)) = digits(b, e + 1, 1, 2)
            && valid_ymd(y, m, d)
        {
            let date = ymd(y, m, d);
            if sep == b'-'
                && let Some(te) = iso_time(b, e)
            {
                let time = &text[e + 1..te];
                return Some((te, Some(format!("{date}T{time}"))));
            }
            return Some((e, Some(date)));
        }
        // DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY, DD-MM-YYYY.
        if let Some((a, e)) = digits(b, i, 1, 2)
            && let Some(&sep) = b.get(e)
            && matches!(sep, b'-' | b'/' | b'.')
            && let Some((c, e)) = digits(b, e + 1, 1, 2)
            && b.get(e) == Some(&sep)
            && let Some((y, e)) = digits(b, e + 1, 4, 4)
        {
            let dmy = valid_ymd(y, c, a);
            let mdy = valid_ymd(y, a, c);
            let normalized = match (dmy, mdy) {
                (false, false) => return None,
                _ if sep == b'.' => dmy.then(|| ymd(y, c, a)),
                (true, false) => Some(ymd(y, c, a)),
                (false, true) => Some(ymd(y, a, c)),
                (true, true) if a == c => Some(ymd(y, a, c)),
                (true, true) => None,
            };
            if sep == b'.' && !dmy {
                return None;
            }
            return Some((e, normalized));
        }
        // 5 January 2024, 5th of Jan. 2024.
        let (d, e) = digits(b, i, 1, 2)?;
        let mut e = ordinal_suffix(b, e);
        e = spaces(b, e)?;
        if b.len() >= e + 3 && b[e..e + 3].eq_ignore_ascii_case(b"of ") {
            e = spaces(b, e + 2)?;
        }
        let (m, e) = month_at(text, e)?;
        let e = if b.get(e) == Some(&b',') { e + 1 } else { e };
        let e = spaces(b, e)?;
        let (y, e) = digits(b, e, 4, 4)?;
        return valid_ymd(y, m, d).then(|| (e, Some(ymd(y, m, d))));
    }
    // January 5, 2024; Jan. 5th 2024; March 2024.
    let (m, e) = month_at(text, i)?;
    let e = spaces(b, e)?;
    if let Some((y, ye)) = digits(b, e, 4, 4) {
        return (b[i].is_ascii_uppercase() && (1000..=2999).contains(&y))
            .then(|| (ye, Some(format!("{y:04}-{m:02}"))));
    }
    let (d, e) = digits(b, e, 1, 2)?;
    let e = ordinal_suffix(b, e);
    let e = if b.get(e) == Some(&b',') { e + 1 } else { e };
    let e = spaces(b, e)?;
    let (y, e) = digits(b, e, 4, 4)?;
    valid_ymd(y, m, d).then(|| (e, Some(ymd(y, m, d))))
}

/// Dates: ISO 8601 (`2024-03-05`, `2024-03-05T10:30:00Z`), `2024/03/05`,
/// `05.03.2024` (day first), `03/05/2024` and `05-03-2024` (normalised
/// only when unambiguous), `March 5, 2024`, `5 March 2024`, `Mar. 5th
/// 2024`, `March 2024`. Impossible dates (`2023-02-29`) are rejected.
pub fn dates(text: &str) -> Vec<(Range<usize>, Option<String>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start_ok = b[i].is_ascii_alphanumeric()
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'.' | b'-' | b'/')));
        if start_ok
            && let Some((end, normalized)) = date_at(text, i)
            && b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            out.push((i..end, normalized));
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// Phone numbers: an optional `+country`, then digit groups separated by
/// single spaces, `-` or `.`, or an area code in parentheses; 7 to 15
/// digits in all (E.164). A bare run of digits needs a leading `+` (so ids
/// and timestamps are not phones); dates, IPv4 addresses and decimals are
/// rejected.
pub fn phones(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start_ok = (c == b'+' || c == b'(' || c.is_ascii_digit())
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric()
                    || matches!(b[i - 1], b'_' | b'.' | b'-' | b'+' | b'/' | b'@')));
        if start_ok && let Some(end) = phone_at(text, i) {
            out.push(i..end);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn phone_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut p = i;
    let plus = b[p] == b'+';
    if plus {
        p += 1;
    }
    let mut groups: Vec<usize> = Vec::new();
    let mut seps: Vec<u8> = Vec::new();
    let mut paren = false;
    loop {
        if b.get(p) == Some(&b'(') {
            let (_, e) = digits(b, p + 1, 1, 5)?;
            if b.get(e) != Some(&b')') {
                return None;
            }
            groups.push(e - p - 1);
            paren = true;
            p = e + 1;
        } else if b.get(p).is_some_and(u8::is_ascii_digit) {
            let mut e = p;
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            groups.push(e - p);
            p = e;
        } else {
            break;
        }
        let next_starts_group =
            |q: usize| b.get(q).is_some_and(|c| c.is_ascii_digit() || *c == b'(');
        match b.get(p) {
            Some(&s @ (b' ' | b'-' | b'.')) if next_starts_group(p + 1) => {
                seps.push(s);
                p += 1;
            }
            Some(b'(') => seps.push(b' '),
            Some(c) if c.is_ascii_digit() && paren => seps.push(b' '),
            _ => break,
        }
    }
    let total: usize = groups.iter().sum();
    if !(7..=15).contains(&total) || groups.is_empty() {
        return None;
    }
    if b.get(p)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'@')
    {
        return None;
    }
    if !plus && !paren && groups.len() < 2 {
        return None;
    }
    if groups.iter().skip(1).any(|&g| g < 2) {
        return None;
    }
    let all_dots = !seps.is_empty() && seps.iter().all(|&s| s == b'.');
    if all_dots && (groups.len() < 3 || (groups.len() == 4 && groups.iter().all(|&g| g <= 3))) {
        return None;
    }
    if !plus && date_at(text, i).is_some() {
        return None;
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, f: fn(&str) -> Vec<Range<usize>>) -> Vec<&str> {
        f(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn finds_emails() {
        let t = "Mail jane.doe+tag@mail.example.co.uk, or bob@x.io. Not: a@b, @c.com, x@.com, é-user@ex.com.";
        assert_eq!(
            found(t, emails),
            [
                "jane.doe+tag@mail.example.co.uk",
                "bob@x.io",
                "-user@ex.com"
            ]
        );
        assert_eq!(found("..a@b.cd", emails), ["a@b.cd"]);
        assert!(found("trailing.@x.com", emails).is_empty());
    }

    #[test]
    fn finds_urls() {
        let t = "See https://example.com/a_(b)?q=1&r=2#f, (http://x.org/p). Also www.rust-lang.org! and HTTPS://UP.CASE; not www. or http:// or nohttp://x.com";
        assert_eq!(
            found(t, urls),
            [
                "https://example.com/a_(b)?q=1&r=2#f",
                "http://x.org/p",
                "www.rust-lang.org",
                "HTTPS://UP.CASE"
            ]
        );
        assert_eq!(
            found("<https://é.example/ü>", urls),
            ["https://é.example/ü"]
        );
    }

    #[test]
    fn finds_dates() {
        let t = "On 2024-03-05, at 2024-03-05T10:30:00.5+01:00 and 2024-03-05 09:15Z; \
                 also 05.03.2024, 03/05/2024, 25/12/2023, 12-25-2023, \
                 March 5, 2024, 5th of March 2024, Sept. 30th 2023, 1 Feb 2024, March 2024. \
                 Not: 2023-02-29, 2024-13-01, 99/99/2024, may 2024, v1.2024-01-01x, 12345-01-01.";
        let d: Vec<_> = dates(t).into_iter().map(|(r, n)| (&t[r], n)).collect();
        let expected: Vec<(&str, Option<String>)> = vec![
            ("2024-03-05", Some("2024-03-05".into())),
            (
                "2024-03-05T10:30:00.5+01:00",
                Some("2024-03-05T10:30:00.5+01:00".into()),
            ),
            ("2024-03-05 09:15Z", Some("2024-03-05T09:15Z".into())),
            ("05.03.2024", Some("2024-03-05".into())),
            ("03/05/2024", None),
            ("25/12/2023", Some("2023-12-25".into())),
            ("12-25-2023", Some("2023-12-25".into())),
            ("March 5, 2024", Some("2024-03-05".into())),
            ("5th of March 2024", Some("2024-03-05".into())),
            ("Sept. 30th 2023", Some("2023-09-30".into())),
            ("1 Feb 2024", Some("2024-02-01".into())),
            ("March 2024", Some("2024-03".into())),
        ];
        assert_eq!(d, expected);
        assert_eq!(dates("2024-02-29")[0].1.as_deref(), Some("2024-02-29"));
    }

    #[test]
    fn finds_phones() {
        let t = "Call +1 415-555-0100, (415) 555-0100, +44 20 7946 0958, 415.555.0100, \
                 +14155550100 or 020 7946 0958.";
        assert_eq!(
            found(t, phones),
            [
                "+1 415-555-0100",
                "(415) 555-0100",
                "+44 20 7946 0958",
                "415.555.0100",
                "+14155550100",
                "020 7946 0958"
            ]
        );
        let not = "ids 1700000000000 and 4155550100, date 2024-01-15, ip 192.168.100.200, \
                   pi 3141.5926, list 1 2 3 4 5 6 7, v1.2.3, 12:30, order #123-4567-89a";
        assert_eq!(found(not, phones), Vec::<&str>::new());
    }

    #[test]
    fn all_resolves_overlaps() {
        let t = "https://x.com/2024-01-05/bob@x.com then bob@x.com on 2024-01-05, +1 415 555 0100";
        let e = all(t, &[Kind::Email, Kind::Url, Kind::Date, Kind::Phone]);
        let kinds: Vec<_> = e.iter().map(|e| (e.kind, &t[e.range.clone()])).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Url, "https://x.com/2024-01-05/bob@x.com"),
                (Kind::Email, "bob@x.com"),
                (Kind::Date, "2024-01-05"),
                (Kind::Phone, "+1 415 555 0100"),
            ]
        );
        let only_dates = all(t, &[Kind::Date]);
        assert_eq!(only_dates.len(), 1);
    }
}
