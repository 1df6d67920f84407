//! A loopback OpenAI-compatible upstream that answers instantly.
//!
//! [`Upstream::start`] binds `127.0.0.1` on a free port and serves HTTP/1.1
//! keep-alive connections from its own thread (a single-threaded tokio
//! runtime). Every `POST …/chat/completions` gets a canned answer whose text
//! is [`CONTENT`]:
//!
//! - a Chat Completions JSON body (with `Content-Length`);
//! - when the request body has `"stream": true`, a Server-Sent Events stream
//!   (chunked): a role chunk, the text in several deltas, a finish chunk, a
//!   usage chunk and `data: [DONE]`. The head, the role chunk and the first
//!   text delta go out in one write, the rest in a second write.
//!
//! Anything else gets a 404. Request bodies must carry `Content-Length`
//! (every client here sends one). The answers are prebuilt, so the upstream
//! costs the same for every client and the difference between two clients
//! is the clients' own work.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The model name the upstream reports.
pub const MODEL: &str = "bench-model";

/// The text of every canned answer.
pub const CONTENT: &str =
    "This is a billing question about a duplicate charge; route it to the payments team.";

/// How the canned text is split into streamed deltas.
const DELTAS: [&str; 6] = [
    "This is a billing",
    " question about",
    " a duplicate charge;",
    " route it to",
    " the payments",
    " team.",
];

/// The largest request head or body accepted.
const MAX_REQUEST: usize = 1 << 20;

/// A running loopback upstream; stopped when dropped.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Canned {
    plain: Vec<u8>,
    stream_head: Vec<u8>,
    stream_tail: Vec<u8>,
    not_found: Vec<u8>,
}

impl Upstream {
    /// Binds `127.0.0.1:0` and starts serving on a thread of its own.
    pub fn start() -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let served = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (tx, rx) = oneshot::channel();
        let counters = Counters {
            served: served.clone(),
            connections: connections.clone(),
        };
        let canned = Arc::new(Canned::new());
        let thread = std::thread::Builder::new()
            .name("bench-upstream".into())
            .spawn(move || runtime.block_on(accept_loop(listener, canned, counters, rx)))?;
        Ok(Self {
            addr,
            served,
            connections,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style API root, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The Chat Completions endpoint, `http://127.0.0.1:PORT/v1/chat/completions`.
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base_url())
    }

    /// How many chat requests it has answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// How many TCP connections it has accepted so far (far fewer than
    /// [`Upstream::served`] when clients keep connections alive).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Counters {
    served: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

async fn accept_loop(
    listener: std::net::TcpListener,
    canned: Arc<Canned>,
    counters: Counters,
    mut shutdown: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    let canned = canned.clone();
                    let served = counters.served.clone();
                    tokio::spawn(async move {
                        // A client that goes away mid-request is not our concern.
                        let _ = serve(stream, &canned, &served).await;
                    });
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct StreamFlag {
    #[serde(default)]
    stream: Option<bool>,
}

/// Serves one keep-alive connection until the client closes it.
async fn serve(mut stream: TcpStream, canned: &Canned, served: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let head_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > MAX_REQUEST || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = std::str::from_utf8(&buf[..head_end])
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 request head"))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut content_length = 0usize;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad content-length")
                })?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        if content_length > MAX_REQUEST {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        let chat = request_line.starts_with("POST ")
            && request_line
                .split(' ')
                .nth(1)
                .is_some_and(|path| path.ends_with("/chat/completions"));
        let end = head_end + content_length;
        while buf.len() < end {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        if !chat {
            stream.write_all(&canned.not_found).await?;
        } else if serde_json::from_slice::<StreamFlag>(&buf[head_end..end])
            .ok()
            .and_then(|f| f.stream)
            .unwrap_or(false)
        {
            stream.write_all(&canned.stream_head).await?;
            stream.write_all(&canned.stream_tail).await?;
            served.fetch_add(1, Ordering::Relaxed);
        } else {
            stream.write_all(&canned.plain).await?;
            served.fetch_add(1, Ordering::Relaxed);
        }
        buf.drain(..end);
        if close {
            return Ok(());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Canned {
    fn new() -> Self {
        let created = 1_767_225_600u64;
        let usage = serde_json::json!({
            "prompt_tokens": 61,
            "completion_tokens": 17,
            "total_tokens": 78
        });
        let plain_body = serde_json::json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage
        })
        .to_string();
        let chunk = |choices: serde_json::Value, usage: Option<&serde_json::Value>| {
            let mut c = serde_json::json!({
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL,
                "choices": choices
            });
            if let Some(u) = usage {
                c["usage"] = u.clone();
            }
            format!("data: {c}\n\n")
        };
        let delta = |delta: serde_json::Value, finish: Option<&str>| {
            chunk(
                serde_json::json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
                None,
            )
        };
        let mut events = vec![delta(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        )];
        events.extend(
            DELTAS
                .iter()
                .map(|d| delta(serde_json::json!({"content": d}), None)),
        );
        events.push(delta(serde_json::json!({}), Some("stop")));
        events.push(chunk(serde_json::json!([]), Some(&usage)));
        events.push("data: [DONE]\n\n".to_owned());
        let chunked = |e: &str| format!("{:x}\r\n{e}\r\n", e.len());

        let mut stream_head = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
             connection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        events[..2]
            .iter()
            .for_each(|e| stream_head.push_str(&chunked(e)));
        let mut stream_tail = String::new();
        events[2..]
            .iter()
            .for_each(|e| stream_tail.push_str(&chunked(e)));
        stream_tail.push_str("0\r\n\r\n");

        let not_found_body = r#"{"error":{"message":"not found","type":"invalid_request_error"}}"#;
        Self {
            plain: response("200 OK", &plain_body),
            stream_head: stream_head.into_bytes(),
            stream_tail: stream_tail.into_bytes(),
            not_found: response("404 Not Found", not_found_body),
        }
    }
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn exchange(conn: &mut std::net::TcpStream, path: &str, body: &str) -> String {
        write!(
            conn,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // Read until the response is complete: a Content-Length body, or the
        // terminal chunk of a chunked one.
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                if let Some(len) = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                {
                    if rest.len() >= len.trim().parse::<usize>().unwrap() {
                        return text.into_owned();
                    }
                } else if rest.ends_with("0\r\n\r\n") {
                    return text.into_owned();
                }
            }
        }
    }

    #[test]
    fn answers_plain_and_streaming_requests_on_one_connection() {
        let upstream = Upstream::start().unwrap();
        let mut conn = std::net::TcpStream::connect(upstream.addr()).unwrap();
        let plain = exchange(&mut conn, "/v1/chat/completions", r#"{"model":"m"}"#);
        assert!(plain.starts_with("HTTP/1.1 200 OK"));
        let body = plain.split_once("\r\n\r\n").unwrap().1;
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["choices"][0]["message"]["content"], CONTENT);

        let sse = exchange(
            &mut conn,
            "/v1/chat/completions",
            r#"{"model":"m","stream": true}"#,
        );
        assert!(sse.contains("text/event-stream"));
        let text: String = sse
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| {
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, CONTENT);
        assert!(sse.contains("data: [DONE]"));

        let missing = exchange(&mut conn, "/v1/embeddings", "{}");
        assert!(missing.starts_with("HTTP/1.1 404"));
        assert_eq!(upstream.served(), 2);
        assert_eq!(upstream.connections(), 1);
    }
}
