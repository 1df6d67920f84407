//! Hostile and over-reaching plugins: each is stopped by its sandbox with a
//! typed error, and the host serves the next call normally.

use std::time::{Duration, Instant};
use weft_host::policy::{DirGrant, SecretGrant};
use weft_host::{AppConfig, Event, Host, Limits, Policy, RecordingObserver, ToolError};
use weft_tests::{LoopbackServer, Reply, hostile_app, scripted, unsafe_set_env};

fn host(config: &AppConfig) -> Host {
    Host::builder()
        .cache_dir(None)
        .model(scripted([]))
        .build(config)
        .expect("host builds")
}

fn limits(memory_mb: u32, timeout_ms: u64) -> Limits {
    Limits {
        memory_mb,
        timeout_ms,
        ..Limits::default()
    }
}

fn echo_works(session: &weft_host::Session<'_>) {
    let out = session
        .call_tool("echo", r#"{"value": {"n": 9007199254740993}}"#)
        .expect("echo after a fault");
    // 2^53 + 1 survives the round trip exactly: JSON stays text end to end.
    assert!(out.contains("9007199254740993"), "{out}");
}

#[test]
fn infinite_loop_is_stopped_at_its_deadline() {
    let config = hostile_app(Policy {
        limits: limits(64, 200),
        ..Policy::default()
    });
    let host = host(&config);
    let session = host.session();
    let started = Instant::now();
    let err = session.call_tool("spin", "{}").unwrap_err();
    let elapsed = started.elapsed();
    match &err {
        ToolError::Crashed(msg) => assert!(msg.contains("time limit of 200 ms"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "stopped in {elapsed:?}");
    echo_works(&session);
}

#[test]
fn fuel_budget_stops_a_busy_loop() {
    let config = hostile_app(Policy {
        limits: Limits {
            fuel: Some(50_000_000),
            timeout_ms: 60_000,
            ..Limits::default()
        },
        ..Policy::default()
    });
    let host = host(&config);
    let session = host.session();
    match session.call_tool("spin", "{}").unwrap_err() {
        ToolError::Crashed(msg) => assert!(msg.contains("ran out of fuel"), "{msg}"),
        other => panic!("{other:?}"),
    }
    echo_works(&session);
}

#[test]
fn memory_bomb_is_stopped_at_its_cap() {
    let config = hostile_app(Policy {
        limits: limits(16, 10_000),
        ..Policy::default()
    });
    let host = host(&config);
    let session = host.session();
    match session.call_tool("alloc", r#"{"mb": 100}"#).unwrap_err() {
        ToolError::Crashed(msg) => assert!(msg.contains("memory limit of 16 MiB"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Under the cap is fine.
    session
        .call_tool("alloc", r#"{"mb": 4}"#)
        .expect("4 MiB fits in 16");
    echo_works(&session);
}

#[test]
fn trap_is_an_error_value_with_the_panic_message() {
    let observer = std::sync::Arc::new(RecordingObserver::default());
    let host = Host::builder()
        .cache_dir(None)
        .observer(observer.clone())
        .model(scripted([]))
        .build(&hostile_app(Policy::default()))
        .unwrap();
    let session = host.session();
    match session.call_tool("trap", "{}").unwrap_err() {
        ToolError::Crashed(msg) => {
            assert!(msg.contains("hostile"), "names the plugin: {msg}");
            assert!(msg.contains("trapped"), "{msg}");
            assert!(
                msg.contains("panicked"),
                "carries the guest's panic message: {msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        observer
            .events()
            .iter()
            .any(|e| matches!(e, Event::Crashed { component, .. } if component == "hostile")),
        "a crash event names the plugin"
    );
    echo_works(&session);
    // Repeated faults never take the host down.
    for _ in 0..3 {
        assert!(session.call_tool("trap", "{}").is_err());
        echo_works(&session);
    }
}

#[test]
fn huge_output_is_bounded() {
    let config = hostile_app(Policy {
        limits: Limits {
            max_output_kb: 256,
            ..Limits::default()
        },
        ..Policy::default()
    });
    let host = host(&config);
    let session = host.session();
    match session.call_tool("huge", r#"{"mb": 2}"#).unwrap_err() {
        ToolError::Failed(msg) => assert!(msg.contains("over its limit of 256 KiB"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // An output larger than the tool's whole memory cap cannot even be built.
    match session.call_tool("huge", r#"{"mb": 200}"#).unwrap_err() {
        ToolError::Crashed(msg) => assert!(msg.contains("memory limit"), "{msg}"),
        other => panic!("{other:?}"),
    }
    echo_works(&session);
}

#[test]
fn files_outside_a_preopen_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "inside the grant").unwrap();
    let config = hostile_app(Policy {
        dirs: vec![DirGrant {
            host: dir.path().to_path_buf(),
            guest: "/data".into(),
            writable: false,
        }],
        ..Policy::default()
    });
    let host = host(&config);
    let session = host.session();
    let ok = session
        .call_tool("read_file", r#"{"path": "/data/notes.txt"}"#)
        .unwrap();
    assert!(ok.contains("inside the grant"), "{ok}");
    for path in ["/etc/passwd", "/data/../../etc/passwd", "notes.txt"] {
        let args = serde_json::json!({ "path": path }).to_string();
        match session.call_tool("read_file", &args) {
            Err(ToolError::Failed(_)) => {}
            other => panic!("{path} must be unreadable, got {other:?}"),
        }
    }
    // No grant at all: nothing is visible.
    let host = host_with(Policy::default());
    assert!(
        host.session()
            .call_tool("read_file", r#"{"path": "/data/notes.txt"}"#)
            .is_err()
    );
}

fn host_with(policy: Policy) -> Host {
    host(&hostile_app(policy))
}

#[test]
fn env_vars_are_denied_unless_granted() {
    // SAFETY of the test: set before any host thread reads the environment.
    unsafe_set_env("WEFT_TEST_VISIBLE", "yes");
    unsafe_set_env("WEFT_TEST_HIDDEN", "no");
    let host = host_with(Policy {
        env: vec!["WEFT_TEST_VISIBLE".into(), "REGION=eu".into()],
        ..Policy::default()
    });
    let session = host.session();
    assert!(
        session
            .call_tool("env", r#"{"name": "WEFT_TEST_VISIBLE"}"#)
            .unwrap()
            .contains("yes")
    );
    assert!(
        session
            .call_tool("env", r#"{"name": "REGION"}"#)
            .unwrap()
            .contains("eu")
    );
    let hidden = session.call_tool("env", r#"{"name": "WEFT_TEST_HIDDEN"}"#);
    assert!(!format!("{hidden:?}").contains("\"no\""), "{hidden:?}");
    let path = session.call_tool("env", r#"{"name": "PATH"}"#);
    assert!(!format!("{path:?}").contains("/usr"), "{path:?}");
}

#[test]
fn http_is_denied_unless_the_host_is_granted_and_secrets_stay_outside() {
    let rt = weft_tests::runtime();
    let server = LoopbackServer::repeating(vec![Reply::text("hello from loopback")]);
    let url = format!("{}/data", server.url());
    unsafe_set_env("WEFT_TEST_TOKEN", "s3cr3t-value");

    let granted = format!("127.0.0.1:{}", server.addr().port());
    let observer = std::sync::Arc::new(RecordingObserver::default());
    let run = |policy: Policy, headers: serde_json::Value| {
        let observer = observer.clone();
        let url = url.clone();
        rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                let host = Host::builder()
                    .cache_dir(None)
                    .observer(observer)
                    .model(scripted([]))
                    .build(&hostile_app(policy))
                    .unwrap();
                let args = serde_json::json!({ "url": url, "headers": headers }).to_string();
                host.session().call_tool("fetch", &args)
            })
            .await
            .unwrap()
        })
    };

    // Not granted: denied, and the server never sees the request.
    let denied = run(Policy::default(), serde_json::json!({}));
    match &denied {
        Err(ToolError::Failed(msg)) => assert!(msg.to_lowercase().contains("denied"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(server.requests().is_empty());
    assert!(observer.events().iter().any(
        |e| matches!(e, Event::Denied { reason, .. } if reason.contains("not in its `http` policy"))
    ));

    // Granted host, with a secret placeholder the component is granted.
    let policy = Policy {
        http: vec![granted.clone()],
        secrets: vec![SecretGrant::new("WEFT_TEST_TOKEN", vec![granted.clone()])],
        ..Policy::default()
    };
    let ok = run(
        policy,
        serde_json::json!({ "authorization": "Bearer {{secret:WEFT_TEST_TOKEN}}" }),
    )
    .unwrap();
    assert!(ok.contains("hello from loopback"), "{ok}");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let auth = seen[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(
        auth.as_deref(),
        Some("Bearer s3cr3t-value"),
        "the host injected the secret"
    );
    assert!(
        !ok.contains("s3cr3t-value"),
        "the secret never reaches the guest"
    );

    // A secret that is not granted: denied before anything is sent.
    let policy = Policy {
        http: vec![granted],
        ..Policy::default()
    };
    let err = run(
        policy,
        serde_json::json!({ "authorization": "Bearer {{secret:WEFT_TEST_TOKEN}}" }),
    );
    assert!(matches!(err, Err(ToolError::Failed(_))), "{err:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "no second request reached the server"
    );
    assert!(observer.events().iter().any(
        |e| matches!(e, Event::Denied { reason, .. } if reason.contains("not granted the secret `WEFT_TEST_TOKEN`"))
    ));
}
