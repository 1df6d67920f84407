//! weft-serve against hostile clients: a real server on 127.0.0.1 and raw
//! TCP clients that send what a web page, a DNS-rebinding attack or a
//! slow-loris client sends. Each attack is followed by a normal request
//! that works.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use weft_model::{ChatResponse, FinishReason, Message, Model, Usage};
use weft_serve::{BearerToken, SecurityOptions, ServeError, Server};
use weft_test_utils::ScriptedModel;

/// A model that answers `pong` and counts the requests that reach it; it
/// can hold them at a gate ([`ScriptedModel::gated`]) or stream without end
/// ([`ScriptedModel::endless_streams`]).
fn pong() -> ScriptedModel {
    ScriptedModel::new("pong", "pong-1")
        .no_tools()
        .no_json()
        .answering(ChatResponse {
            message: Message::assistant("pong"),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            model: "pong-1".into(),
        })
}

async fn start(model: Arc<ScriptedModel>, options: SecurityOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let models = BTreeMap::from([("pong".to_owned(), model as Arc<dyn Model>)]);
    let server = Server::new(models).with_security(options);
    tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
    addr
}

const HELLO: &str = r#"{"model":"pong","messages":[{"role":"user","content":"ping"}]}"#;
const HELLO_STREAM: &str =
    r#"{"model":"pong","stream":true,"messages":[{"role":"user","content":"ping"}]}"#;

/// An HTTP/1.1 request with these headers, a `Content-Length` for a
/// `POST`, and `Connection: close`.
fn http(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        r.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("Connection: close\r\n\r\n");
    r.push_str(body);
    r
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let raw = String::from_utf8_lossy(raw);
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts an OpenAI-shaped error with this status and code.
    fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
        let message = v["error"]["message"].as_str().unwrap_or("").to_owned();
        assert!(!message.is_empty(), "{v}");
        message
    }
}

/// Sends `request` on a fresh connection and reads the response to EOF.
async fn exchange(addr: SocketAddr, request: &str) -> Reply {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        Reply::parse(&raw)
    })
    .await
    .expect("a response within 20 s")
}

/// A chat completion request as a well-behaved client sends it: this
/// server's `Host`, a JSON body, and `extra` headers.
fn chat(addr: SocketAddr, extra: &[(&str, &str)], body: &str) -> String {
    let host = addr.to_string();
    let mut headers = vec![
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    http("POST", "/v1/chat/completions", &headers, body)
}

/// A normal chat completion, with `extra` headers: it must answer `pong`.
async fn assert_works(addr: SocketAddr, extra: &[(&str, &str)]) -> Reply {
    let reply = exchange(addr, &chat(addr, extra, HELLO)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "pong",
        "{reply:?}"
    );
    reply
}

#[tokio::test]
async fn bodies_not_declared_json_get_415_and_never_reach_the_model() {
    let model = pong().arc();
    let addr = start(model.clone(), SecurityOptions::default()).await;
    let host = addr.to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=latin1"),
        None,
    ] {
        let mut headers = vec![("Host", host.as_str())];
        headers.extend(content_type.map(|ct| ("Content-Type", ct)));
        let reply = exchange(addr, &http("POST", "/v1/chat/completions", &headers, HELLO)).await;
        let message = reply.assert_error(415, "unsupported_media_type");
        assert!(
            message.contains(content_type.unwrap_or("no Content-Type")),
            "{message}"
        );
        assert!(message.contains("application/json"), "{message}");
    }
    assert_eq!(model.calls(), 0, "a refused body reached the model");

    assert_works(addr, &[]).await;
    let mut headers = vec![("Host", host.as_str())];
    headers.push(("Content-Type", "application/json; charset=utf-8"));
    let reply = exchange(addr, &http("POST", "/v1/chat/completions", &headers, HELLO)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(model.calls(), 2);
}

#[tokio::test]
async fn foreign_hosts_are_refused_against_dns_rebinding() {
    let model = pong().arc();
    let addr = start(model.clone(), SecurityOptions::default()).await;
    let port = addr.port();

    // What was reproduced: a page's `text/plain` POST with its own Host and
    // Origin, the host name rebound to 127.0.0.1.
    let rebound = format!("attacker.example:{port}");
    let origin = format!("http://attacker.example:{port}");
    let reply = exchange(
        addr,
        &http(
            "POST",
            "/v1/chat/completions",
            &[
                ("Host", &rebound),
                ("Origin", &origin),
                ("Content-Type", "text/plain"),
            ],
            HELLO,
        ),
    )
    .await;
    let message = reply.assert_error(421, "host_not_allowed");
    assert!(message.contains(&rebound), "{message}");
    assert!(reply.header("access-control-allow-origin").is_none());

    for refused in [
        rebound.clone(),
        "attacker.example".into(),
        "localhost:1".into(),
        format!("10.0.0.1:{port}"),
        format!("localhost.attacker.example:{port}"),
    ] {
        let reply = exchange(
            addr,
            &http(
                "POST",
                "/v1/chat/completions",
                &[("Host", &refused), ("Content-Type", "application/json")],
                HELLO,
            ),
        )
        .await;
        reply.assert_error(421, "host_not_allowed");
        let reply = exchange(addr, &http("GET", "/v1/models", &[("Host", &refused)], "")).await;
        reply.assert_error(421, "host_not_allowed");
    }
    // An absolute-form target naming another host.
    let absolute =
        chat(addr, &[], HELLO).replacen("POST /v1/", "POST http://attacker.example/v1/", 1);
    let reply = exchange(addr, &absolute).await;
    reply.assert_error(421, "host_not_allowed");
    // No Host at all (HTTP/1.0).
    let raw = exchange(addr, "GET /v1/models HTTP/1.0\r\n\r\n").await;
    raw.assert_error(400, "missing_host");
    assert_eq!(model.calls(), 0, "a refused request reached the model");

    for accepted in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        "localhost".into(),
        "127.0.0.1".into(),
    ] {
        let reply = exchange(
            addr,
            &http(
                "POST",
                "/v1/chat/completions",
                &[("Host", &accepted), ("Content-Type", "application/json")],
                HELLO,
            ),
        )
        .await;
        assert_eq!(reply.status, 200, "{accepted}: {reply:?}");
    }

    // A configured name is accepted on any port; others stay refused.
    let listed = start(
        pong().arc(),
        SecurityOptions::default().allow_host("weft.internal".parse().unwrap()),
    )
    .await;
    for host in [
        format!("weft.internal:{}", listed.port()),
        "WEFT.internal".into(),
    ] {
        let reply = exchange(listed, &http("GET", "/v1/models", &[("Host", &host)], "")).await;
        assert_eq!(reply.status, 200, "{host}: {reply:?}");
    }
    let reply = exchange(
        listed,
        &http("GET", "/v1/models", &[("Host", "attacker.example")], ""),
    )
    .await;
    reply.assert_error(421, "host_not_allowed");
    assert_works(listed, &[]).await;
    assert_works(addr, &[]).await;
}

#[tokio::test]
async fn browser_requests_from_other_origins_are_refused_without_cors() {
    let model = pong().arc();
    let addr = start(model.clone(), SecurityOptions::default()).await;
    let host = addr.to_string();

    // Simple requests (no preflight) and JSON ones alike.
    for (origin, content_type) in [
        ("http://attacker.example", "text/plain"),
        ("http://attacker.example", "application/json"),
        ("http://localhost:3000", "application/json"),
        ("null", "text/plain"),
    ] {
        let reply = exchange(
            addr,
            &http(
                "POST",
                "/v1/chat/completions",
                &[
                    ("Host", &host),
                    ("Origin", origin),
                    ("Content-Type", content_type),
                ],
                HELLO,
            ),
        )
        .await;
        let message = reply.assert_error(403, "origin_not_allowed");
        assert!(message.contains(origin), "{message}");
        assert!(
            reply.header("access-control-allow-origin").is_none(),
            "{reply:?}"
        );
    }
    // The preflight a page sends before a JSON POST.
    let reply = exchange(
        addr,
        &http(
            "OPTIONS",
            "/v1/chat/completions",
            &[
                ("Host", &host),
                ("Origin", "http://attacker.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            "",
        ),
    )
    .await;
    reply.assert_error(403, "origin_not_allowed");
    assert!(
        reply
            .headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-")),
        "{reply:?}"
    );
    // An embedded resource (no Origin, marked cross-site by the browser).
    let reply = exchange(
        addr,
        &http(
            "GET",
            "/v1/models",
            &[("Host", &host), ("Sec-Fetch-Site", "cross-site")],
            "",
        ),
    )
    .await;
    reply.assert_error(403, "origin_not_allowed");
    assert_eq!(model.calls(), 0, "a refused request reached the model");

    // A page of this very origin (there is none, but it is no attack).
    let own = format!("http://{addr}");
    let reply = assert_works(
        addr,
        &[("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert!(reply.header("access-control-allow-origin").is_none());
    let reply = assert_works(addr, &[]).await;
    assert!(reply.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_lets_in_only_the_configured_origin() {
    let model = pong().arc();
    let token = "page-token-0123456789abcdef";
    let addr = start(
        model.clone(),
        SecurityOptions::default()
            .cors_origin("http://localhost:3000/".parse().unwrap())
            .bearer_token(BearerToken::new(token).unwrap()),
    )
    .await;
    let host = addr.to_string();
    let bearer = format!("Bearer {token}");
    let preflight = |origin: &'static str| {
        http(
            "OPTIONS",
            "/v1/chat/completions",
            &[
                ("Host", host.as_str()),
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                ),
            ],
            "",
        )
    };

    let reply = exchange(addr, &preflight("http://localhost:3000")).await;
    assert!(reply.status == 200 || reply.status == 204, "{reply:?}");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let methods = reply.header("access-control-allow-methods").unwrap_or("");
    assert!(methods.contains("POST"), "{reply:?}");
    let allowed = reply.header("access-control-allow-headers").unwrap_or("");
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{reply:?}"
    );
    assert_eq!(reply.header("access-control-max-age"), Some("600"));
    assert!(reply.header("vary").unwrap_or("").contains("origin"));

    let page = [
        ("Origin", "http://localhost:3000"),
        ("Authorization", bearer.as_str()),
    ];
    let reply = assert_works(addr, &page).await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert!(
        reply
            .header("access-control-expose-headers")
            .unwrap_or("")
            .contains("retry-after"),
        "{reply:?}"
    );
    // The allowed page can read a refusal too.
    let reply = exchange(
        addr,
        &chat(addr, &[("Origin", "http://localhost:3000")], HELLO),
    )
    .await;
    reply.assert_error(401, "missing_api_key");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );

    // Another origin: no preflight, no answer, no CORS headers.
    let reply = exchange(addr, &preflight("http://localhost:3001")).await;
    reply.assert_error(403, "origin_not_allowed");
    assert!(reply.header("access-control-allow-origin").is_none());
    let foreign = [
        ("Origin", "http://localhost:3001"),
        ("Authorization", &bearer),
    ];
    let reply = exchange(addr, &chat(addr, &foreign, HELLO)).await;
    reply.assert_error(403, "origin_not_allowed");
    assert!(reply.header("access-control-allow-origin").is_none());
    assert_eq!(model.calls(), 1);

    // A client that is not a browser.
    let reply = assert_works(addr, &[("Authorization", bearer.as_str())]).await;
    assert!(reply.header("access-control-allow-origin").is_none());
    assert_eq!(model.calls(), 2);
}

#[tokio::test]
async fn bearer_tokens_are_required_when_set() {
    let model = pong().arc();
    let (first, second) = ("first-token-0123456789", "second-token-abcdefghij");
    let addr = start(
        model.clone(),
        SecurityOptions::default()
            .bearer_token(BearerToken::new(first).unwrap())
            .bearer_token(BearerToken::new(second).unwrap()),
    )
    .await;
    let reply = exchange(addr, &chat(addr, &[], HELLO)).await;
    reply.assert_error(401, "missing_api_key");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="weft""#)
    );
    for wrong in [
        "Bearer wrong".to_owned(),
        format!("Bearer {}", &first[..first.len() - 1]),
        format!("Bearer {first}x"),
        format!("Basic {first}"),
        first.to_owned(),
        "Bearer ".to_owned(),
    ] {
        let reply = exchange(addr, &chat(addr, &[("Authorization", &wrong)], HELLO)).await;
        reply.assert_error(401, "invalid_api_key");
        let challenge = reply.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
            "{wrong}: {reply:?}"
        );
    }
    let host = addr.to_string();
    let reply = exchange(addr, &http("GET", "/v1/models", &[("Host", &host)], "")).await;
    reply.assert_error(401, "missing_api_key");
    assert_eq!(
        model.calls(),
        0,
        "an unauthorized request reached the model"
    );

    let reply = exchange(addr, &http("GET", "/health", &[("Host", &host)], "")).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let with_first = format!("Bearer {first}");
    let reply = exchange(
        addr,
        &http(
            "GET",
            "/v1/models",
            &[("Host", &host), ("Authorization", &with_first)],
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_works(addr, &[("Authorization", &with_first)]).await;
    assert_works(addr, &[("Authorization", &format!("bearer {second}"))]).await;
    assert_eq!(model.calls(), 2);
}

#[tokio::test]
async fn serving_beyond_loopback_needs_a_token() {
    let models = || BTreeMap::from([("pong".to_owned(), pong().arc() as Arc<dyn Model>)]);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        Server::new(models()).serve_with_shutdown(listener, std::future::pending()),
    )
    .await
    .expect("refuses at once");
    let err = result.unwrap_err();
    assert!(matches!(err, ServeError::TokenRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("--token-env"), "{err}");
    // The old entry point refuses the same way.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        weft_serve::serve(listener, models()),
    )
    .await
    .expect("refuses at once")
    .unwrap_err();
    assert!(matches!(err, ServeError::TokenRequired { .. }), "{err:?}");

    // With a token it serves every address; a name must be listed, an IP
    // address cannot be rebound.
    let token = "wide-token-0123456789abcdef";
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::new(models())
        .with_security(SecurityOptions::default().bearer_token(BearerToken::new(token).unwrap()));
    tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let bearer = format!("Bearer {token}");
    let models_with_host = |host: String| {
        let bearer = bearer.clone();
        async move {
            exchange(
                addr,
                &http(
                    "GET",
                    "/v1/models",
                    &[("Host", &host), ("Authorization", &bearer)],
                    "",
                ),
            )
            .await
        }
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("10.1.2.3:{port}"),
        format!("localhost:{port}"),
    ] {
        let reply = models_with_host(host.clone()).await;
        assert_eq!(reply.status, 200, "{host}: {reply:?}");
    }
    models_with_host(format!("attacker.example:{port}"))
        .await
        .assert_error(421, "host_not_allowed");
    let reply = exchange(addr, &chat(addr, &[], HELLO)).await;
    reply.assert_error(401, "missing_api_key");
    assert_works(addr, &[("Authorization", &bearer)]).await;
}

/// Reads `stream` until the server closes it; how many bytes came first.
async fn read_until_closed(stream: &mut TcpStream) -> usize {
    let mut got = 0;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return got,
            Ok(n) => got += n,
            // A reset is a close too.
            Err(_) => return got,
        }
    }
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    const ATTACKERS: usize = 300;
    let timeout = Duration::from_secs(2);
    let model = pong().arc();
    let addr = start(
        model.clone(),
        SecurityOptions::default().header_read_timeout(timeout),
    )
    .await;

    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        let opened = Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Half of them send nothing at all, half stop inside a header.
        if i % 2 == 1 {
            stream
                .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
                .await
                .unwrap();
        }
        attackers.push(tokio::spawn(async move {
            let got = read_until_closed(&mut stream).await;
            (opened.elapsed(), got)
        }));
    }
    // A kept-alive connection that goes idle after one request.
    let idle = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = http("GET", "/health", &[("Host", &addr.to_string())], "")
            .replace("Connection: close\r\n", "");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let answered = Instant::now();
        read_until_closed(&mut stream).await;
        answered.elapsed()
    });

    // Served meanwhile.
    assert_works(addr, &[]).await;

    let mut closed = Vec::new();
    for attacker in attackers {
        let (elapsed, got) = tokio::time::timeout(timeout + Duration::from_secs(20), attacker)
            .await
            .expect("the server closes a half-sent request")
            .unwrap();
        assert_eq!(got, 0, "a half-sent request got an answer");
        closed.push(elapsed);
    }
    let idle = tokio::time::timeout(timeout + Duration::from_secs(20), idle)
        .await
        .expect("the server closes an idle connection")
        .unwrap();
    let earliest = closed.iter().min().unwrap();
    let latest = closed.iter().max().unwrap();
    eprintln!(
        "{ATTACKERS} half-sent requests closed after {earliest:?} to {latest:?}; idle keep-alive after {idle:?}"
    );
    // Closed by the timeout, not by something else.
    assert!(
        *earliest >= timeout - Duration::from_millis(50),
        "{earliest:?}"
    );
    assert!(idle >= timeout - Duration::from_millis(50), "{idle:?}");

    assert_eq!(model.calls(), 1);
    assert_works(addr, &[]).await;
}

#[tokio::test]
async fn slow_bodies_are_cut_off() {
    let timeout = Duration::from_secs(1);
    let model = pong().arc();
    let addr = start(
        model.clone(),
        SecurityOptions::default().body_read_timeout(timeout),
    )
    .await;

    // Headers promise 1000 bytes; the body trickles in a byte at a time.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut raw))
        .await
        .expect("the server cuts a slow body off")
        .ok();
    let elapsed = started.elapsed();
    trickle.abort();
    let reply = Reply::parse(&raw);
    reply.assert_error(408, "request_timeout");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(
        elapsed >= timeout - Duration::from_millis(50),
        "{elapsed:?}"
    );
    eprintln!("a trickling body was cut off after {elapsed:?}");

    // A body larger than the limit is refused before it is sent.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut raw))
        .await
        .expect("an answer without the body")
        .ok();
    Reply::parse(&raw).assert_error(413, "request_too_large");

    assert_eq!(model.calls(), 0);
    assert_works(addr, &[]).await;
}

#[tokio::test]
async fn open_connections_are_capped() {
    let model = pong().arc();
    let addr = start(
        model.clone(),
        SecurityOptions::default()
            .max_connections(4)
            .header_read_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /v1/mod").await.unwrap();
        held.push(stream);
    }
    // The fifth waits in the backlog: no answer while all four are open.
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    let request = chat(addr, &[], HELLO);
    fifth.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(500), fifth.read_to_end(&mut raw)).await;
    assert!(early.is_err(), "answered beyond the cap: {raw:?}");
    assert_eq!(model.calls(), 0);

    // One closes: the fifth is served.
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(20), fifth.read_to_end(&mut raw))
        .await
        .expect("served once a connection closed")
        .unwrap();
    let reply = Reply::parse(&raw);
    assert_eq!(reply.status, 200, "{reply:?}");
    drop(held);
    assert_works(addr, &[]).await;
}

#[tokio::test]
async fn model_requests_beyond_the_cap_get_503_with_retry_after() {
    let gate = Arc::new(Semaphore::new(0));
    let model = pong().gated(gate.clone()).arc();
    let addr = start(model.clone(), SecurityOptions::default().max_concurrent(2)).await;
    let request = chat(addr, &[], HELLO);
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move { exchange(addr, &request).await })
        })
        .collect();
    model.wait_for_calls(2).await;

    for body in [HELLO, HELLO_STREAM] {
        let reply = exchange(addr, &chat(addr, &[], body)).await;
        let message = reply.assert_error(503, "overloaded");
        assert_eq!(reply.json()["error"]["type"], "server_error");
        assert!(message.contains("at most 2"), "{message}");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    assert_eq!(model.calls(), 2, "a refused request reached the model");

    gate.add_permits(2);
    for reply in waiting {
        let reply = reply.await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    gate.add_permits(1);
    assert_works(addr, &[]).await;
    assert_eq!(model.calls(), 3);
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_model_slot() {
    let model = pong().endless_streams().arc();
    let timeout = Duration::from_secs(1);
    let addr = start(
        model.clone(),
        SecurityOptions::default()
            .max_concurrent(1)
            .write_timeout(timeout),
    )
    .await;
    // Asks for an endless stream and reads nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let request = chat(addr, &[], HELLO_STREAM);
    stalled.write_all(request.as_bytes()).await.unwrap();
    model.wait_for_calls(1).await;
    let started = Instant::now();
    let busy = exchange(addr, &chat(addr, &[], HELLO)).await;
    busy.assert_error(503, "overloaded");

    // Once the write has stalled for the timeout, the slot is free again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = exchange(addr, &chat(addr, &[], HELLO)).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "overloaded");
        assert!(
            Instant::now() < deadline,
            "the stalled stream kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let freed = started.elapsed();
    eprintln!("a stalled stream lost its slot after {freed:?}");
    assert!(freed >= timeout / 2, "{freed:?}");
    // What the stalled client had been sent ends: the connection is gone.
    let got = tokio::time::timeout(Duration::from_secs(20), read_until_closed(&mut stalled))
        .await
        .expect("the stalled connection is closed");
    assert!(got > 0);
    assert_works(addr, &[]).await;
}
