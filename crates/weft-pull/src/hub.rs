//! The Hugging Face hub: `{endpoint}/{repo}/resolve/{revision}/{file}`, one
//! GGUF file or a directory layout, each file checked against the
//! catalogue's SHA-256 or the one the hub reports (`X-Linked-Etag`).

use reqwest::Url;
use std::path::Path;

use crate::cache::check_cached_file;
use crate::catalog::{HubSource, ModelEntry, SourceKind};
use crate::download::{Downloaded, Http, check_size, check_status, save, unreachable};
use crate::error::FetchError;
use crate::options::PullOptions;
use crate::progress::Progress;
use crate::pulled::{ModelFormat, PulledModel, SourceUsed};

/// The Hugging Face hub used unless `HF_ENDPOINT` or
/// [`PullOptions::hf_endpoint`] names another.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

fn hf_endpoint(options: &PullOptions) -> String {
    options
        .hf_endpoint
        .clone()
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_string())
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, each segment escaped.
fn hub_url(endpoint: &str, hub: &HubSource, file: &str) -> Result<Url, FetchError> {
    let bad = |reason: String| FetchError::BadUrl {
        url: endpoint.to_string(),
        reason,
    };
    let mut url = Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| bad("not a base URL".into()))?;
        segments.pop_if_empty();
        segments.extend(hub.repo.split('/'));
        segments.push("resolve");
        segments.push(&hub.revision);
        segments.extend(file.split('/'));
    }
    Ok(url)
}

/// A SHA-256 in an ETag-like header value (`"abc..."`, `W/"abc..."`).
fn header_sha256(value: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let text = text.trim().trim_start_matches("W/").trim_matches('"');
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// Downloads one hub file: asks the hub without following its redirect (to
/// read the `X-Linked-Etag` it puts there), then follows it.
async fn hub_download(
    http: &Http,
    url: &Url,
    dir: &Path,
    name: &str,
    pinned_sha256: Option<&str>,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let url_text = url.to_string();
    let mut request = http.no_redirect.get(url.clone());
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| unreachable(&url_text, e))?;
    let headers = response.headers();
    let reported = header_sha256(headers.get("x-linked-etag")).or_else(|| {
        response
            .status()
            .is_success()
            .then(|| header_sha256(headers.get(reqwest::header::ETAG)))
            .flatten()
    });
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| FetchError::Http {
                url: url_text.clone(),
                status: response.status().as_u16(),
            })?;
        let next = url.join(location).map_err(|e| FetchError::BadUrl {
            url: location.to_string(),
            reason: e.to_string(),
        })?;
        let next_text = next.to_string();
        response = http
            .client
            .get(next)
            .send()
            .await
            .map_err(|e| unreachable(&next_text, e))?;
    }
    check_status(&url_text, &response)?;
    if let (Some(pinned), Some(reported)) = (pinned_sha256, &reported)
        && !pinned.eq_ignore_ascii_case(reported)
    {
        return Err(FetchError::Sha256Mismatch {
            what: format!("{name} (as reported by the hub)"),
            url: url_text,
            expected: pinned.to_ascii_lowercase(),
            got: reported.clone(),
        });
    }
    let expected = pinned_sha256.map(str::to_string).or(reported);
    save(
        response,
        &url_text,
        dir,
        name,
        expected.as_deref(),
        progress,
    )
    .await
}

pub(crate) async fn pull_hub(
    http: &Http,
    entry: &ModelEntry,
    hub: &HubSource,
    model_dir: &Path,
    options: &PullOptions,
) -> Result<PulledModel, FetchError> {
    let endpoint = hf_endpoint(options);
    let progress = options.progress.as_ref();
    if let (Some(file), Some(gguf)) = (&hub.file, &entry.gguf) {
        let url = hub_url(&endpoint, hub, file)?;
        let downloaded = hub_download(
            http,
            &url,
            model_dir,
            &gguf.file,
            Some(&gguf.sha256),
            progress,
        )
        .await?;
        let (bytes, sha256) = (downloaded.bytes, downloaded.sha256.clone());
        let path = model_dir.join(&gguf.file);
        check_size(&gguf.file, url.as_str(), gguf.size, bytes)?;
        downloaded.install(&path)?;
        return Ok(PulledModel {
            name: entry.name.clone(),
            path,
            format: ModelFormat::File,
            source_used: SourceUsed::Downloaded(SourceKind::Hub),
            bytes,
            sha256: Some(sha256),
            failed_sources: Vec::new(),
        });
    }
    let dir = model_dir.join(hub.dir_name());
    let mut bytes = 0;
    for file in &hub.files {
        let dest = dir.join(file);
        let parent = dest.parent().unwrap_or(&dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| FetchError::Io {
            path: parent.clone(),
            source,
        })?;
        // Files a failed attempt already completed are kept.
        if let Some((size, _)) =
            check_cached_file(&dest, None, progress).map_err(|source| FetchError::Io {
                path: dest.clone(),
                source,
            })?
        {
            bytes += size;
            continue;
        }
        let url = hub_url(&endpoint, hub, file)?;
        let name = file.rsplit('/').next().unwrap_or(file);
        let downloaded = hub_download(http, &url, &parent, name, None, progress).await?;
        bytes += downloaded.bytes;
        downloaded.install(&dest)?;
    }
    Ok(PulledModel {
        name: entry.name.clone(),
        path: dir,
        format: ModelFormat::Directory,
        source_used: SourceUsed::Downloaded(SourceKind::Hub),
        bytes,
        sha256: None,
        failed_sources: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_hub_urls() {
        let hub = HubSource {
            repo: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
            revision: "main".into(),
            file: None,
            files: vec![],
        };
        assert_eq!(
            hub_url("https://huggingface.co", &hub, "onnx/model q.onnx")
                .expect("url")
                .as_str(),
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/onnx/model%20q.onnx"
        );
        assert_eq!(
            hub_url("https://mirror.example/hf/", &hub, "config.json")
                .expect("url")
                .as_str(),
            "https://mirror.example/hf/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/config.json"
        );
    }

    #[test]
    fn reads_sha256_etags() {
        let sha = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
        let value = |s: &str| reqwest::header::HeaderValue::from_str(s).expect("header");
        assert_eq!(
            header_sha256(Some(&value(&format!("\"{sha}\"")))).as_deref(),
            Some(sha)
        );
        assert_eq!(
            header_sha256(Some(&value(&format!("W/\"{sha}\"")))).as_deref(),
            Some(sha)
        );
        // A git blob id (40 hex digits) is not a SHA-256.
        assert_eq!(
            header_sha256(Some(&value(&format!("\"{}\"", &sha[..40])))),
            None
        );
        assert_eq!(header_sha256(None), None);
    }
}
