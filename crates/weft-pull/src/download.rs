//! HTTP for every source: one reqwest client set-up (proxies from the
//! environment, extra roots from `$SSL_CERT_FILE`), and a response body
//! streamed to a `.part` file, hashed on the way, checked, and renamed into
//! place only once verified.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use crate::cache::write_stamp;
use crate::error::{FetchError, PullError};
use crate::progress::{Progress, ProgressEvent, Task};

pub(crate) struct Http {
    /// Follows redirects.
    pub(crate) client: reqwest::Client,
    /// Does not, to read the hub's `X-Linked-Etag` on its redirect.
    pub(crate) no_redirect: reqwest::Client,
}

impl Http {
    pub(crate) fn new() -> Result<Http, PullError> {
        let extra_roots = extra_root_certificates();
        let build = |policy: reqwest::redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .read_timeout(Duration::from_secs(120))
                .redirect(policy);
            for cert in &extra_roots {
                builder = builder.add_root_certificate(cert.clone());
            }
            builder
                .build()
                .map_err(|e| PullError::Client(error_chain(&e)))
        };
        Ok(Http {
            client: build(reqwest::redirect::Policy::limited(10))?,
            no_redirect: build(reqwest::redirect::Policy::none())?,
        })
    }
}

/// The certificates in `$SSL_CERT_FILE`, trusted in addition to the
/// built-in roots.
fn extra_root_certificates() -> Vec<reqwest::Certificate> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    match std::fs::read(&path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        Ok(Err(e)) => {
            tracing::warn!("ignoring SSL_CERT_FILE {}: {e}", Path::new(&path).display());
            Vec::new()
        }
        Err(e) => {
            tracing::warn!("ignoring SSL_CERT_FILE {}: {e}", Path::new(&path).display());
            Vec::new()
        }
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A reqwest error's causes, without the URL (the caller names it).
pub(crate) fn reqwest_reason(e: reqwest::Error) -> String {
    error_chain(&e.without_url())
}

pub(crate) fn unreachable(url: &str, e: reqwest::Error) -> FetchError {
    FetchError::Unreachable {
        url: url.to_string(),
        reason: reqwest_reason(e),
    }
}

pub(crate) fn check_status(url: &str, response: &reqwest::Response) -> Result<(), FetchError> {
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(FetchError::Http {
            url: url.to_string(),
            status: status.as_u16(),
        })
    }
}

/// A verified download, still in its `.part` file (deleted on drop).
pub(crate) struct Downloaded {
    pub(crate) part: tempfile::NamedTempFile,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

impl Downloaded {
    /// Moves the file to `dest` and stamps it.
    pub(crate) fn install(self, dest: &Path) -> Result<(), FetchError> {
        self.part.persist(dest).map_err(|e| FetchError::Io {
            path: dest.to_path_buf(),
            source: e.error,
        })?;
        write_stamp(dest, &self.sha256);
        Ok(())
    }
}

pub(crate) fn part_file(dir: &Path, name: &str) -> Result<tempfile::NamedTempFile, FetchError> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|source| FetchError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Streams `response`'s body to a `.part` file in `dir`, hashing it, and
/// checks its length and (when given) its SHA-256.
pub(crate) async fn save(
    mut response: reqwest::Response,
    url: &str,
    dir: &Path,
    name: &str,
    expected_sha256: Option<&str>,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let part = part_file(dir, name)?;
    let io = |source| FetchError::Io {
        path: part.path().to_path_buf(),
        source,
    };
    let file = part.as_file().try_clone().map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let total = response.content_length();
    progress.event(ProgressEvent::Start {
        task: Task::Download,
        name,
        total,
    });
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let streamed = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                if let Err(e) = out.write_all(&chunk).await {
                    break Err(io(e));
                }
                received += chunk.len() as u64;
                progress.event(ProgressEvent::Advance { done: received });
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                break Err(FetchError::Interrupted {
                    url: url.to_string(),
                    received,
                    reason: reqwest_reason(e),
                });
            }
        }
    };
    progress.event(ProgressEvent::Finish);
    streamed?;
    out.flush().await.map_err(io)?;
    out.into_inner().sync_all().await.map_err(io)?;
    if let Some(expected) = total
        && received != expected
    {
        return Err(FetchError::Truncated {
            url: url.to_string(),
            received,
            expected,
        });
    }
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected_sha256
        && !expected.eq_ignore_ascii_case(&sha256)
    {
        return Err(FetchError::Sha256Mismatch {
            what: name.to_string(),
            url: url.to_string(),
            expected: expected.to_ascii_lowercase(),
            got: sha256,
        });
    }
    Ok(Downloaded {
        part,
        bytes: received,
        sha256,
    })
}

pub(crate) fn check_size(what: &str, url: &str, expected: u64, got: u64) -> Result<(), FetchError> {
    if expected == got {
        Ok(())
    } else {
        Err(FetchError::SizeMismatch {
            what: what.to_string(),
            url: url.to_string(),
            expected,
            got,
        })
    }
}
