//! The sandbox under attack (issue 11): a hostile tool tries to outlive its
//! deadline inside host calls, to inflate host memory past its cap, to get
//! secrets back, to plant symlinks, and to starve other components of
//! fuel. Each attack ends in an error that names the limit, the host's own
//! accounting stays within bounds, and a normal call works afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_host::policy::{DirGrant, SecretGrant};
use weft_host::{AppConfig, Event, Host, Limits, Policy, RecordingObserver, RunError, ToolError};
use weft_model as m;
use weft_tests::{
    AfterScript, LoopbackServer, Reply, ScriptedModel, answer, artifacts, hostile_app, scripted,
    tool_calls, unsafe_set_env,
};

fn host_with(policy: Policy) -> Host {
    host_for(&hostile_app(policy), scripted([]))
}

fn host_for(config: &AppConfig, model: Arc<dyn m::Model>) -> Host {
    Host::builder()
        .cache_dir(None)
        .model(model)
        .build(config)
        .expect("host builds")
}

fn limits(timeout_ms: u64) -> Limits {
    Limits {
        timeout_ms,
        ..Limits::default()
    }
}

fn echo_works(session: &weft_host::Session<'_>) {
    let out = session
        .call_tool("echo", r#"{"value": "still serving"}"#)
        .expect("echo after an attack");
    assert!(out.contains("still serving"), "{out}");
}

fn crashed(result: Result<String, ToolError>) -> String {
    match result {
        Err(ToolError::Crashed(msg)) => msg,
        other => panic!("expected a crash, got {other:?}"),
    }
}

/// A loopback server that echoes each request head back, in its body and
/// (its header lines joined by ` | `) in an `x-echo` header.
fn echo_server() -> LoopbackServer {
    LoopbackServer::start(|request| {
        let echoed: String = request
            .head
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        Reply::ok(request.head.clone()).header("x-echo", &echoed)
    })
}

// ---- 1. Deadlines hold inside host calls --------------------------------

#[test]
fn a_tool_sleeping_in_a_host_call_is_stopped_at_its_deadline() {
    let host = host_with(Policy {
        limits: limits(1000),
        ..Policy::default()
    });
    let session = host.session();
    let started = Instant::now();
    let msg = crashed(session.call_tool("sleep", r#"{"ms": 8000}"#));
    let elapsed = started.elapsed();
    assert!(msg.contains("time limit of 1000 ms"), "{msg}");
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed < Duration::from_millis(2500),
        "ended after {elapsed:?}"
    );
    echo_works(&session);
}

#[test]
fn an_agents_limit_covers_its_nested_tool_calls() {
    let mut config = hostile_app(Policy {
        limits: limits(10_000),
        ..Policy::default()
    });
    config.agent.policy.limits.timeout_ms = 2000;
    let model = scripted([tool_calls(&[("c1", "sleep", r#"{"ms": 8000}"#)])]);
    let host = host_for(&config, model);
    let started = Instant::now();
    let err = host.run("sleep for me").unwrap_err();
    let elapsed = started.elapsed();
    match &err {
        RunError::Crashed { reason, .. } => {
            assert!(reason.contains("time limit of 2000 ms"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        elapsed < Duration::from_millis(3500),
        "ended after {elapsed:?}"
    );
    // The host serves the next run normally.
    let host = host_for(&config, scripted([answer("done")]));
    assert_eq!(host.run("hi").unwrap().answer, "done");
}

/// A model that takes its time: every call fails after `delay`.
fn slow_model(delay: Duration) -> Arc<ScriptedModel> {
    ScriptedModel::new("slow", "slow-1")
        .with_capabilities(|c| *c = m::Capabilities::new("slow", "slow-1")) // none at all
        .delay(delay)
        .fail(m::ModelError::Transport("too late".into()))
        .after_script(AfterScript::Cycle)
        .arc()
}

#[test]
fn a_slow_model_call_is_cut_off_by_the_agents_deadline() {
    let mut config = hostile_app(Policy::default());
    config.agent.policy.limits.timeout_ms = 1000;
    let host = host_for(&config, slow_model(Duration::from_secs(20)));
    let started = Instant::now();
    let err = host.run("hello").unwrap_err();
    assert!(
        matches!(&err, RunError::Crashed { reason, .. } if reason.contains("time limit of 1000 ms")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_slow_server_cannot_hold_a_call_even_with_the_guests_own_timeouts_raised() {
    let server = LoopbackServer::start(|_| Reply::hang());
    let host = host_with(Policy {
        http: vec![server.grant()],
        limits: limits(1500),
        ..Policy::default()
    });
    let session = host.session();
    // The guest asks for 600 s per phase; the host clamps it to its deadline.
    let args =
        serde_json::json!({ "url": server.url_for("/slow"), "timeout_ms": 600_000 }).to_string();
    let started = Instant::now();
    let result = session.call_tool("fetch", &args);
    let elapsed = started.elapsed();
    assert!(result.is_err(), "{result:?}");
    assert!(
        elapsed < Duration::from_millis(3000),
        "ended after {elapsed:?}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "the request did reach the server"
    );
    echo_works(&session);
}

// ---- 2. Host memory a guest can't inflate --------------------------------

#[test]
fn a_log_flood_ends_in_the_log_limit_and_the_host_keeps_little() {
    let observer = Arc::new(RecordingObserver::default());
    let host = Host::builder()
        .cache_dir(None)
        .observer(observer.clone())
        .model(scripted([]))
        .build(&hostile_app(Policy {
            limits: Limits {
                memory_mb: 16,
                ..Limits::default()
            },
            ..Policy::default()
        }))
        .unwrap();
    let session = host.session();
    // 60,000 lines of 16 KiB: 960 MiB if the host kept them.
    let msg = crashed(session.call_tool("log_flood", r#"{"count": 60000, "kib": 16}"#));
    assert!(msg.contains("log limit of 1024 KiB"), "{msg}");
    let used = session.resources()["hostile"];
    assert!(used.log_bytes <= 1024 * 1024, "{used:?}");
    assert!(used.log_lines < 70, "{used:?}");
    let kept: usize = observer
        .events()
        .iter()
        .map(|e| match e {
            Event::Log { message, .. } => message.len(),
            _ => 0,
        })
        .sum();
    assert!(
        kept <= 1024 * 1024,
        "the observer kept {kept} bytes of logs"
    );
    echo_works(&session);
}

#[test]
fn a_header_map_flood_ends_in_a_limit() {
    let host = host_with(Policy {
        limits: Limits {
            memory_mb: 16,
            ..Limits::default()
        },
        ..Policy::default()
    });
    let session = host.session();
    // 8,000 header maps of 100 KiB: over the 16 KiB a single map may hold.
    let msg = crashed(session.call_tool("header_flood", r#"{"count": 8000, "kib": 100}"#));
    assert!(msg.contains("HTTP header map"), "{msg}");
    // 8,000 maps of 15 KiB each: stopped by the resource or header limit.
    let msg = crashed(session.call_tool("header_flood", r#"{"count": 8000, "kib": 15}"#));
    assert!(
        msg.contains("open resources") || msg.contains("KiB of HTTP headers"),
        "{msg}"
    );
    let used = session.resources()["hostile"];
    assert!(used.resources_peak <= 256, "{used:?}");
    assert!(used.http_headers_peak_bytes <= 256 * 16 * 1024, "{used:?}");
    // A few small maps are fine.
    assert_eq!(
        session
            .call_tool("header_flood", r#"{"count": 10, "kib": 1}"#)
            .unwrap(),
        "10"
    );
    echo_works(&session);
}

#[test]
fn header_bytes_held_past_the_limit_end_the_call() {
    let host = host_with(Policy {
        limits: Limits {
            max_http_headers_kb: 64,
            ..Limits::default()
        },
        ..Policy::default()
    });
    let session = host.session();
    // 100 maps of 4 KiB: 400 KiB held, over 64 KiB, under every other limit.
    let msg = crashed(session.call_tool("header_flood", r#"{"count": 100, "kib": 4}"#));
    assert!(msg.contains("64 KiB of HTTP headers"), "{msg}");
    echo_works(&session);
}

#[test]
fn an_error_result_obeys_the_output_limit() {
    let host = host_with(Policy {
        limits: Limits {
            max_output_kb: 1,
            ..Limits::default()
        },
        ..Policy::default()
    });
    let session = host.session();
    match session.call_tool("huge_error", r#"{"mb": 4}"#).unwrap_err() {
        ToolError::Failed(msg) => {
            assert!(msg.contains("over its limit of 1 KiB"), "{msg}");
            assert!(
                msg.len() < 1024,
                "the error itself is short: {} bytes",
                msg.len()
            );
        }
        other => panic!("{other:?}"),
    }
    echo_works(&session);
}

#[test]
fn open_requests_are_capped_per_component() {
    // Answers after a pause, with a body it keeps open (no end).
    let server = LoopbackServer::start(|_| {
        Reply::ok("started")
            .announce(1_000_000)
            .after(Duration::from_millis(200))
            .then_stall()
    });
    let host = host_with(Policy {
        http: vec![server.grant()],
        ..Policy::default()
    });
    let session = host.session();
    let args = serde_json::json!({ "url": server.url_for("/open"), "count": 20 }).to_string();
    let out: serde_json::Value =
        serde_json::from_str(&session.call_tool("open_requests", &args).unwrap()).unwrap();
    assert!(
        out["refused"]
            .as_str()
            .unwrap_or_default()
            .contains("ConnectionLimitReached"),
        "{out}"
    );
    assert_eq!(server.connections(), 8, "{out}");
    let used = session.resources()["hostile"];
    assert!(used.http_requests_peak <= 8, "{used:?}");
    // 3,000 at once: the resource table fills before the host does.
    let args = serde_json::json!({ "url": server.url_for("/open"), "count": 3000 }).to_string();
    let second = session.call_tool("open_requests", &args);
    assert!(server.connections() <= 16, "{second:?}");
    echo_works(&session);
}

// ---- 3. Secrets can't come back ------------------------------------------

#[test]
fn secrets_go_only_where_granted_and_never_come_back() {
    let server = echo_server();
    unsafe_set_env("WEFT_HARDENING_TOKEN", "s3cr3t-hardening-value");
    let grant = SecretGrant::new("WEFT_HARDENING_TOKEN", vec![server.grant()]);
    let observer = Arc::new(RecordingObserver::default());
    let host = Host::builder()
        .cache_dir(None)
        .observer(observer.clone())
        .model(scripted([]))
        .build(&hostile_app(Policy {
            http: vec![server.grant(), "example.com".into()],
            secrets: vec![SecretGrant {
                hosts: vec![server.grant(), "example.com".into()],
                ..grant
            }],
            ..Policy::default()
        }))
        .unwrap();
    let session = host.session();
    let fetch = |headers: serde_json::Value, method: &str, url: &str| {
        let args = serde_json::json!({ "url": url, "headers": headers, "method": method });
        session.call_tool("fetch", &args.to_string())
    };

    // An echoing server hands the header back, in its body and its headers:
    // the guest sees the placeholder, never the value.
    let out = fetch(
        serde_json::json!({ "authorization": "Bearer {{secret:WEFT_HARDENING_TOKEN}}" }),
        "GET",
        &server.url_for("/echo"),
    )
    .unwrap();
    assert!(
        server.requests()[0]
            .head
            .contains("Bearer s3cr3t-hardening-value"),
        "the server got it"
    );
    assert!(!out.contains("s3cr3t-hardening-value"), "{out}");
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        out["text"]
            .as_str()
            .unwrap()
            .contains("Bearer {{secret:WEFT_HARDENING_TOKEN}}"),
        "{out}"
    );
    assert!(
        out["headers"]["x-echo"]
            .as_str()
            .unwrap()
            .contains("{{secret:WEFT_HARDENING_TOKEN}}"),
        "{out}"
    );

    // Only in the headers its grant names (`authorization` by default).
    let err = fetch(
        serde_json::json!({ "x-api-key": "{{secret:WEFT_HARDENING_TOKEN}}" }),
        "GET",
        &server.url_for("/echo"),
    );
    assert!(matches!(err, Err(ToolError::Failed(_))), "{err:?}");
    // Never over plain http to a non-loopback host (refused before DNS).
    let err = fetch(
        serde_json::json!({ "authorization": "{{secret:WEFT_HARDENING_TOKEN}}" }),
        "GET",
        "http://example.com/",
    );
    assert!(matches!(err, Err(ToolError::Failed(_))), "{err:?}");
    // TRACE is refused outright.
    let err = fetch(serde_json::json!({}), "TRACE", &server.url_for("/echo"));
    assert!(matches!(err, Err(ToolError::Failed(_))), "{err:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "none of the refused requests was sent"
    );
    let denials: Vec<String> = observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Denied { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    for expected in ["in the header `x-api-key`", "only over https", "TRACE"] {
        assert!(
            denials.iter().any(|d| d.contains(expected)),
            "no denial mentions {expected:?}: {denials:?}"
        );
    }
    echo_works(&session);
}

#[test]
fn a_granted_name_may_not_lead_to_a_loopback_or_metadata_address() {
    let server = echo_server();
    let port = server.addr().port();
    // 2130706433 is 127.0.0.1 and 2852039166 is 169.254.169.254, written as
    // names the resolver turns into those addresses.
    let observer = Arc::new(RecordingObserver::default());
    let host = Host::builder()
        .cache_dir(None)
        .observer(observer.clone())
        .model(scripted([]))
        .build(&hostile_app(Policy {
            http: vec![
                format!("2130706433:{port}"),
                "2852039166".into(),
                format!("localhost:{port}"),
            ],
            ..Policy::default()
        }))
        .unwrap();
    let session = host.session();
    for url in [
        format!("http://2130706433:{port}/"),
        "http://2852039166/latest/meta-data/".to_string(),
    ] {
        let args = serde_json::json!({ "url": url }).to_string();
        let result = session.call_tool("fetch", &args);
        assert!(
            matches!(result, Err(ToolError::Failed(_))),
            "{url}: {result:?}"
        );
    }
    assert!(server.requests().is_empty(), "nothing reached the server");
    assert!(observer.events().iter().any(
        |e| matches!(e, Event::Denied { reason, .. } if reason.contains("not a public address"))
    ));
    // `localhost` names loopback explicitly: that is allowed.
    let args = serde_json::json!({ "url": format!("http://localhost:{port}/ok") }).to_string();
    let ok = session.call_tool("fetch", &args).unwrap();
    assert!(ok.contains("GET /ok"), "{ok}");
}

// ---- 7. Fuel is per component --------------------------------------------

#[test]
fn fuel_on_one_component_leaves_the_others_unmetered() {
    let config = hostile_app(Policy {
        limits: Limits {
            fuel: Some(50_000_000),
            ..Limits::default()
        },
        ..Policy::default()
    });
    let model = scripted([
        tool_calls(&[("c1", "echo", r#"{"value": 1}"#)]),
        answer("the agent ran with no fuel limit of its own"),
    ]);
    let host = host_for(&config, model);
    let report = host.run("go").expect("the unmetered agent runs");
    assert_eq!(report.answer, "the agent ran with no fuel limit of its own");
    let session = host.session();
    let msg = crashed(session.call_tool("spin", "{}"));
    assert!(msg.contains("ran out of fuel (budget 50000000)"), "{msg}");
    echo_works(&session);
}

// ---- 8. Symlinks out of a writable preopen -------------------------------

#[test]
fn a_writable_preopen_refuses_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(Policy {
        dirs: vec![DirGrant {
            host: dir.path().to_path_buf(),
            guest: "/out".into(),
            writable: true,
        }],
        ..Policy::default()
    });
    let session = host.session();
    let err = session
        .call_tool(
            "symlink",
            r#"{"dir": "/out", "target": "../../../../etc/passwd", "link": "passwd"}"#,
        )
        .unwrap_err();
    match err {
        ToolError::Failed(msg) => assert!(msg.contains("not-permitted"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(
        std::fs::symlink_metadata(dir.path().join("passwd")).is_err(),
        "no link was created on the host"
    );
    echo_works(&session);
}

// ---- 4. The compile cache can't be swapped -------------------------------

#[test]
fn a_swapped_or_tampered_cache_entry_is_recompiled_not_run() {
    use weft_host::cache::{CacheOutcome, ComponentCache};
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("components");
    let key = Some(keys.path().join("weft").join("compile-cache.key"));
    let engine = weft_host::engine::WeftEngine::new(Default::default()).unwrap();
    let engine = engine.engine();
    let text_tools = std::path::Path::new(artifacts::TEXT_TOOLS);
    let kv_memory = std::path::Path::new(artifacts::KV_MEMORY);
    let cache = || ComponentCache::new(engine, Some(cache_dir.clone()), key.clone());
    let first = cache();
    assert!(first.uses_disk());
    for path in [text_tools, kv_memory] {
        assert_eq!(first.load(engine, path).unwrap().1, CacheOutcome::Compiled);
    }
    // The directory and the key are private to this user.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache_dir), 0o700);
    assert_eq!(mode(key.as_deref().unwrap()), 0o600);

    // Copy kv-memory's compiled artifact over text-tools' entry.
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let digest = |p: &std::path::Path| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    let entry_of = |component: &std::path::Path| {
        let d = digest(component);
        entries
            .iter()
            .find(|e| e.file_name().unwrap().to_string_lossy().starts_with(&d))
            .unwrap()
            .clone()
    };
    std::fs::copy(entry_of(kv_memory), entry_of(text_tools)).unwrap();
    let (component, outcome) = cache().load(engine, text_tools).unwrap();
    assert_eq!(
        outcome,
        CacheOutcome::Compiled,
        "the swapped entry is not trusted"
    );
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .collect();
    assert!(
        exports.iter().any(|e| e.contains("weft:plugins/tool")),
        "{exports:?}"
    );
    // It was rewritten: the next load is from disk again.
    assert_eq!(
        cache().load(engine, text_tools).unwrap().1,
        CacheOutcome::Disk
    );

    // One flipped byte in the artifact: recompiled too.
    let entry = entry_of(text_tools);
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&entry, &bytes).unwrap();
    assert_eq!(
        cache().load(engine, text_tools).unwrap().1,
        CacheOutcome::Compiled
    );

    // A directory others may write is not used at all.
    std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!cache().uses_disk());
    std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(cache().uses_disk());
}

#[test]
fn a_preopen_may_not_cover_the_compile_cache() {
    let home = tempfile::tempdir().unwrap();
    let cache_dir = home.path().join(".cache").join("weft").join("components");
    let key = home
        .path()
        .join(".config")
        .join("weft")
        .join("compile-cache.key");
    let config = hostile_app(Policy {
        dirs: vec![DirGrant {
            host: home.path().join(".cache"),
            guest: "/cache".into(),
            writable: true,
        }],
        ..Policy::default()
    });
    let err = match Host::builder()
        .cache_dir(Some(cache_dir))
        .cache_key_file(key)
        .model(scripted([]))
        .build(&config)
    {
        Ok(_) => panic!("a preopen over the cache must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("covers the host's compile cache"), "{err}");
}
