//! The `weft` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use test_programs_artifacts as artifacts;

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env("WEFT_LOG", "off")
        .output()
        .expect("run weft")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A copy of `examples/triage` whose components point at the test build.
fn triage_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("examples/triage");
    let built = Path::new(artifacts::TEXT_TOOLS)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let config = std::fs::read_to_string(src.join("weft.toml"))
        .unwrap()
        .replace("../../plugins/dist", &built);
    std::fs::write(dir.path().join("weft.toml"), config).unwrap();
    for f in ["cassette.jsonl", "ticket.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn run_prints_the_answer_of_the_triage_example() {
    let dir = triage_copy();
    let config = dir.path().join("weft.toml");
    let ticket = dir.path().join("ticket.txt");
    let out = weft(&[
        "run",
        config.to_str().unwrap(),
        "--input-file",
        ticket.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("a JSON answer");
    assert_eq!(answer["category"], "billing");
    assert!(
        text(&out.stderr).contains("3 steps"),
        "{}",
        text(&out.stderr)
    );

    let out = weft(&[
        "run",
        config.to_str().unwrap(),
        "--input-file",
        ticket.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success());
    let whole: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(whole["ok"], true);
    assert_eq!(whole["report"]["steps"], 3);
    assert!(whole["report"]["transcript"].as_array().unwrap().len() >= 6);
    assert!(
        whole["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "tool-call")
    );
}

#[test]
fn inspect_shows_world_and_tools() {
    let out = weft(&["inspect", artifacts::TEXT_TOOLS]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["role"], "tool");
    assert!(
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "count_words")
    );
    let out = weft(&["inspect", artifacts::TOOL_LOOP_AGENT]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["role"], "agent");
}

#[test]
fn errors_name_the_file_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "nope").unwrap();
    let out = weft(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("junk.wasm"),
        "{}",
        text(&out.stderr)
    );

    let out = weft(&["run", "/no/such/weft.toml", "--input", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/no/such/weft.toml"),
        "{}",
        text(&out.stderr)
    );

    let copy = triage_copy();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[components.agent]\nhttp = [\"https://bad/\"]\n").unwrap();
    let config = copy.path().join("weft.toml");
    let out = weft(&[
        "run",
        config.to_str().unwrap(),
        "--input",
        "x",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("policy.toml") && err.contains("not a host pattern"),
        "{err}"
    );
}

#[test]
fn a_run_that_diverges_from_its_cassette_fails_clearly() {
    let dir = triage_copy();
    let config = dir.path().join("weft.toml");
    let out = weft(&[
        "run",
        config.to_str().unwrap(),
        "--input",
        "a different ticket",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cassette"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_lists_what_a_provider_would_drop_or_emulate() {
    // Gemini's OpenAPI subset has no `exclusiveMinimum`, GLM takes only
    // `tool_choice: auto`: both are adapted, and the report says so.
    let out = weft(&[
        "check",
        "--provider",
        "gemini",
        "--model",
        "gemini-3.1-pro",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("exclusiveMinimum"), "{report}");
    let out = weft(&["check", "--provider", "glm", "--model", "glm-5.3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.to_lowercase().contains("tool_choice") || report.contains("tool-choice"),
        "{report}"
    );
    let out = weft(&[
        "check",
        "--provider",
        "glm",
        "--model",
        "glm-5.3",
        "/no/such/request.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/no/such/request.json"));
}

/// Kills the child process on drop, so a failing test leaves no server.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 exchange over a fresh connection: the whole response.
fn http_exchange(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to weft serve");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Starts `weft serve` with `args` (and `env`): the running server and the
/// address it printed.
fn spawn_serve(args: &[&str], env: &[(&str, &str)]) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("WEFT_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start weft serve");
    let mut child = KillOnDrop(child);
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/v1").next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (child, addr)
}

#[test]
fn serve_offers_the_configured_model_over_the_openai_api_until_ctrl_c() {
    let config = repo().join("examples/triage/weft.toml");
    let (mut child, addr) = spawn_serve(
        &[
            config.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--name",
            "triage",
        ],
        &[],
    );

    // A Host that does not name the server (DNS rebinding) is refused.
    let rebound = http_exchange(
        &addr,
        "GET /v1/models HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n",
    );
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    let models = http_exchange(
        &addr,
        &format!("GET /v1/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(models.contains(r#""id":"triage""#), "{models}");
    let body = r#"{"model":"triage"}"#;
    let invalid = http_exchange(
        &addr,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(invalid.starts_with("HTTP/1.1 400"), "{invalid}");
    assert!(invalid.contains("'messages'"), "{invalid}");

    // ctrl-c: a graceful stop with a success status.
    let pid = child.0.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "weft serve ignored ctrl-c"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// A cassette whose model calls these tools in turn, then answers `done`.
fn hostile_cassette(dir: &Path, calls: &[(&str, serde_json::Value)]) -> PathBuf {
    let header = serde_json::json!({"weft_cassette": 1, "note": "hostile tool calls for the CLI sandbox test"});
    let mut lines = vec![header.to_string()];
    let usage = serde_json::json!({"input_tokens": 10, "output_tokens": 5});
    let entry = |parts: serde_json::Value, finish: &str| {
        serde_json::json!({
            "kind": "chat",
            "request": {"messages": []},
            "response": {
                "message": {"role": "assistant", "parts": parts},
                "finish_reason": finish,
                "usage": usage,
                "model": "cassette-1"
            }
        })
        .to_string()
    };
    for (i, (tool, args)) in calls.iter().enumerate() {
        let call = serde_json::json!([{"tool_call": {"id": format!("c{i}"), "name": tool, "arguments": args.to_string()}}]);
        lines.push(entry(call, "tool_calls"));
    }
    lines.push(entry(serde_json::json!([{"text": "done"}]), "stop"));
    let path = dir.join("cassette.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The hostile tool under the agent, with the given limits, through the
/// real `weft` binary.
fn hostile_config(dir: &Path, agent_timeout_ms: u64, tool_limits: &str) -> PathBuf {
    let config = format!(
        r#"
[agent]
component = {agent:?}
policy = {{ tools = ["*"], limits = {{ timeout-ms = {agent_timeout_ms} }} }}

[[tools]]
component = {hostile:?}
policy = {{ limits = {{ {tool_limits} }} }}

[model]
type = "cassette"
path = "cassette.jsonl"
lenient = true
"#,
        agent = artifacts::TOOL_LOOP_AGENT,
        hostile = artifacts::HOSTILE,
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_hostile_tool_cannot_outlive_its_deadline_or_flood_the_host_through_the_cli() {
    // A tool that sleeps 8 s inside a host call, under an agent limit of 2 s:
    // the whole `weft run` ends at the agent's deadline.
    let dir = tempfile::tempdir().unwrap();
    hostile_cassette(dir.path(), &[("sleep", serde_json::json!({"ms": 8000}))]);
    let config = hostile_config(dir.path(), 2000, "timeout-ms = 1000");
    let started = std::time::Instant::now();
    let out = weft(&["run", config.to_str().unwrap(), "--input", "go"]);
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "took {elapsed:?}"
    );
    // The tool's own 1 s limit stopped it first; the agent carried on.
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "done");

    // 60,000 log lines of 16 KiB from a 16 MiB tool: stopped at its log
    // budget; the next call (echo) works and the run finishes.
    let dir = tempfile::tempdir().unwrap();
    hostile_cassette(
        dir.path(),
        &[
            ("log_flood", serde_json::json!({"count": 60000, "kib": 16})),
            ("echo", serde_json::json!({"value": "after the flood"})),
        ],
    );
    let config = hostile_config(dir.path(), 30_000, "memory-mb = 16");
    let out = weft(&[
        "run",
        config.to_str().unwrap(),
        "--input",
        "go",
        "--json",
        "-v",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("log limit of 1024 KiB"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["report"]["answer"], "done");
    let hostile = &report["report"]["resources"]["hostile"];
    assert!(
        hostile["log_bytes"].as_u64().unwrap() <= 1024 * 1024,
        "{hostile}"
    );
    let echoed = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "tool-call" && e["tool"] == "echo" && e["error"].is_null());
    assert!(echoed, "the call after the flood worked");
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_a_token() {
    let config = repo().join("examples/triage/weft.toml");
    let config = config.to_str().unwrap();
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = weft(&["serve", config, "--addr", addr]);
        let stderr = text(&out.stderr);
        if addr.starts_with('[') && stderr.contains("cannot listen") {
            continue; // no IPv6 on this machine
        }
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("bearer token"), "{stderr}");
        assert!(stderr.contains("--token-env WEFT_SERVE_TOKEN"), "{stderr}");
        assert!(stderr.contains("openssl rand"), "{stderr}");
    }
    let out = weft(&[
        "serve",
        config,
        "--addr",
        "0.0.0.0:0",
        "--token-env",
        "WEFT_TEST_NO_SUCH_TOKEN_VAR",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("WEFT_TEST_NO_SUCH_TOKEN_VAR is not set"),
        "{}",
        text(&out.stderr)
    );
    let out = weft(&["serve", config, "--cors-origin", "*"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("wildcard"),
        "{}",
        text(&out.stderr)
    );

    // With a token it serves every address.
    let token = "cli-token-0123456789abcdef";
    let (_server, addr) = spawn_serve(
        &[
            config,
            "--addr",
            "0.0.0.0:0",
            "--token-env",
            "WEFT_TEST_TOKEN",
        ],
        &[("WEFT_TEST_TOKEN", token)],
    );
    let port = addr.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    let models = http_exchange(
        &local,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: {local}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
}

#[test]
fn serve_enforces_its_security_flags() {
    let config = repo().join("examples/triage/weft.toml");
    let token = "cli-token-abcdefghijklmnop";
    let (_server, addr) = spawn_serve(
        &[
            config.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--name",
            "triage",
            "--token-env",
            "WEFT_TEST_TOKEN",
            "--allow-host",
            "weft.test",
            "--cors-origin",
            "http://localhost:3000",
            "--header-timeout",
            "1",
        ],
        &[("WEFT_TEST_TOKEN", token)],
    );
    let get = |host: &str, extra: &str| {
        http_exchange(
            &addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    let bearer = format!("Authorization: Bearer {token}\r\n");

    let missing = get(&addr, "");
    assert!(missing.starts_with("HTTP/1.1 401"), "{missing}");
    assert!(
        missing
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{missing}"
    );
    let wrong = get(&addr, "Authorization: Bearer not-the-token\r\n");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let ok = get(&addr, &bearer);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains(r#""id":"triage""#), "{ok}");

    let listed = get("weft.test", &bearer);
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    let rebound = get("attacker.example", &bearer);
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");

    let page = get(&addr, &format!("{bearer}Origin: http://localhost:3000\r\n"));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("access-control-allow-origin: http://localhost:3000"),
        "{page}"
    );
    let foreign = get(
        &addr,
        &format!("{bearer}Origin: http://attacker.example\r\n"),
    );
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    assert!(
        !foreign
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{foreign}"
    );

    let body = r#"{"model":"triage","messages":[{"role":"user","content":"hi"}]}"#;
    let plain = http_exchange(
        &addr,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\n{bearer}Content-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(plain.starts_with("HTTP/1.1 415"), "{plain}");

    // A half-sent request is closed after --header-timeout.
    {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let opened = std::time::Instant::now();
        stream.write_all(b"GET /v1/mod").unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        let elapsed = opened.elapsed();
        assert!(got.is_empty(), "{}", text(&got));
        assert!(
            elapsed >= std::time::Duration::from_millis(950)
                && elapsed < std::time::Duration::from_secs(20),
            "{elapsed:?}"
        );
    }

    let still = get(&addr, &bearer);
    assert!(still.starts_with("HTTP/1.1 200"), "{still}");
}
