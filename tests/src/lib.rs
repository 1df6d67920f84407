//! Shared fixtures for Weft's integration tests: a scripted in-memory model,
//! a loopback HTTP server, and helpers to build hosts from the test
//! components built by `test-programs-artifacts`.

use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_model as m;

pub use test_programs_artifacts as artifacts;

/// A model that answers from a script and remembers every request.
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<m::ChatResponse>>,
    seen: Mutex<Vec<m::ChatRequest>>,
    cycle: bool,
}

impl ScriptedModel {
    /// A model that will give these answers, in order.
    pub fn new(answers: impl IntoIterator<Item = m::ChatResponse>) -> Arc<Self> {
        Arc::new(ScriptedModel {
            script: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::new(Vec::new()),
            cycle: false,
        })
    }

    /// A model that repeats these answers forever and keeps no history
    /// (for benchmarks).
    pub fn cycling(answers: impl IntoIterator<Item = m::ChatResponse>) -> Arc<Self> {
        Arc::new(ScriptedModel {
            script: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::new(Vec::new()),
            cycle: true,
        })
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<m::ChatRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl m::Model for ScriptedModel {
    fn capabilities(&self) -> m::Capabilities {
        let mut c = m::Capabilities::new("scripted", "scripted-1");
        c.tools = true;
        c.streaming = true;
        c
    }

    fn chat<'a>(
        &'a self,
        request: &'a m::ChatRequest,
    ) -> BoxFuture<'a, Result<m::ChatResponse, m::ModelError>> {
        let next = {
            let mut script = self.script.lock().unwrap();
            let next = script.pop_front();
            if self.cycle {
                if let Some(n) = &next {
                    script.push_back(n.clone());
                }
            } else {
                self.seen.lock().unwrap().push(request.clone());
            }
            next
        };
        Box::pin(async move {
            next.ok_or_else(|| m::ModelError::Provider {
                status: 500,
                body: "the script has no more answers".into(),
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        request: &'a m::ChatRequest,
    ) -> BoxFuture<'a, Result<m::EventStream, m::ModelError>> {
        Box::pin(async move {
            let response = self.chat(request).await?;
            Ok(m::stream_of(
                m::events_from_response(&response)
                    .into_iter()
                    .map(Ok)
                    .collect(),
            ))
        })
    }
}

/// An assistant answer with text only.
pub fn answer(text: &str) -> m::ChatResponse {
    response(vec![m::Part::Text(text.into())], m::FinishReason::Stop)
}

/// An assistant answer calling tools: `(id, name, arguments JSON)`.
pub fn tool_calls(calls: &[(&str, &str, &str)]) -> m::ChatResponse {
    let parts = calls
        .iter()
        .map(|(id, name, args)| m::Part::ToolCall(m::ToolCall::new(*id, *name, *args)))
        .collect();
    response(parts, m::FinishReason::ToolCalls)
}

fn response(parts: Vec<m::Part>, finish_reason: m::FinishReason) -> m::ChatResponse {
    m::ChatResponse {
        message: m::Message::new(m::Role::Assistant, parts),
        finish_reason,
        usage: m::Usage {
            input_tokens: 100,
            output_tokens: 20,
            ..Default::default()
        },
        model: "scripted-1".into(),
    }
}

/// One request as the loopback server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Request line, e.g. `GET /x HTTP/1.1`.
    pub line: String,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers every request with the
/// next canned response (or repeats the last) and records what it saw.
pub struct LoopbackServer {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// A canned HTTP response.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: String,
}

impl Canned {
    /// 200 with a JSON body.
    pub fn json(body: serde_json::Value) -> Self {
        Canned {
            status: 200,
            content_type: "application/json".into(),
            body: body.to_string(),
        }
    }
    /// 200 with a text body.
    pub fn text(body: &str) -> Self {
        Canned {
            status: 200,
            content_type: "text/plain".into(),
            body: body.into(),
        }
    }
    /// 200 with a server-sent-events body made of these `data:` payloads.
    pub fn sse(events: &[serde_json::Value]) -> Self {
        let mut body = String::new();
        for e in events {
            body.push_str(&format!("data: {e}\n\n"));
        }
        body.push_str("data: [DONE]\n\n");
        Canned {
            status: 200,
            content_type: "text/event-stream".into(),
            body,
        }
    }
}

impl LoopbackServer {
    /// Starts the server on the current tokio runtime.
    pub async fn start(responses: Vec<Canned>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(VecDeque::from(responses)));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            let mut last: Option<Canned> = None;
            while let Ok((mut socket, _)) = listener.accept().await {
                let Some(req) = read_request(&mut socket).await else {
                    continue;
                };
                seen2.lock().unwrap().push(req);
                let next = queue.lock().unwrap().pop_front();
                let canned = match next {
                    Some(c) => {
                        last = Some(c.clone());
                        c
                    }
                    None => last.clone().unwrap_or(Canned::text("no response scripted")),
                };
                let head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    canned.status,
                    canned.content_type,
                    canned.body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(canned.body.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        LoopbackServer { addr, seen }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<SeenRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[header_end..]).to_string();
    Some(SeenRequest {
        line,
        headers,
        body,
    })
}

/// A path to a built test component.
pub fn component(path: &str) -> PathBuf {
    PathBuf::from(path)
}

/// A fresh, empty compile-cache directory for one test.
pub fn cache_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A run configuration with this agent, these tools, and the given agent
/// policy. The model spec is a placeholder for hosts built with
/// [`weft_host::HostBuilder::model`].
pub fn app(agent: &str, tools: &[&str], agent_policy: weft_host::Policy) -> weft_host::AppConfig {
    let mut agent = weft_host::ComponentConfig::new(agent);
    agent.policy = agent_policy;
    weft_host::AppConfig {
        agent,
        tools: tools
            .iter()
            .map(|t| weft_host::ComponentConfig::new(*t))
            .collect(),
        model: weft_host::ModelSpec::Cassette {
            path: PathBuf::from("unused.jsonl"),
            lenient: false,
        },
        secrets: Default::default(),
    }
}

/// A policy granting every tool.
pub fn all_tools() -> weft_host::Policy {
    weft_host::Policy {
        tools: vec!["*".into()],
        ..Default::default()
    }
}

/// A multi-threaded runtime for tests that need loopback servers or
/// native models; run the host inside `spawn_blocking`.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
