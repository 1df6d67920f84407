//! A tiny scripted HTTP/1.1 server on 127.0.0.1 for the backend tests.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with `content-length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A `200 text/event-stream` response sent with chunked encoding, one
    /// HTTP chunk per element, ended properly.
    Sse(Vec<Vec<u8>>),
    /// Like `Sse`, then the connection stays open and silent.
    SseThenStall(Vec<Vec<u8>>),
    /// Reads the request and never answers.
    Hang,
    /// Like `Sse`, each chunk sent after waiting its milliseconds.
    SseTimed(Vec<(u64, Vec<u8>)>),
    /// A `200 text/event-stream` head, the chunks, then the connection is
    /// closed abruptly without the terminating chunk.
    SseCut(Vec<Vec<u8>>),
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::Full {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Full {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }

    /// An SSE reply whose text is cut into `size`-byte chunks.
    pub fn sse_chunked(text: &str, size: usize) -> Self {
        Reply::Sse(text.as_bytes().chunks(size).map(<[u8]>::to_vec).collect())
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request line and headers, verbatim.
    pub head: String,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a server answering successive requests with `replies`.
pub async fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let seen = seen2.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let _ = handle(conn, seen, replies).await;
            });
        }
    });
    Server { addr, seen }
}

async fn handle(
    mut conn: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    seen.lock().unwrap().push(Seen { head, body });
    let reply = replies.lock().unwrap().pop_front().unwrap_or_else(|| {
        Reply::json(
            500,
            r#"{"error":{"message":"test server: no reply scripted"}}"#,
        )
    });
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            conn.write_all(out.as_bytes()).await?;
            conn.flush().await?;
        }
        Reply::Sse(chunks) => {
            write_sse(&mut conn, &chunks).await?;
            conn.write_all(b"0\r\n\r\n").await?;
            conn.flush().await?;
        }
        Reply::SseThenStall(chunks) => {
            write_sse(&mut conn, &chunks).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Reply::SseTimed(chunks) => {
            write_sse(&mut conn, &[]).await?;
            for (ms, c) in chunks {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                conn.write_all(format!("{:x}\r\n", c.len()).as_bytes())
                    .await?;
                conn.write_all(&c).await?;
                conn.write_all(b"\r\n").await?;
                conn.flush().await?;
            }
            conn.write_all(b"0\r\n\r\n").await?;
            conn.flush().await?;
        }
        Reply::SseCut(chunks) => {
            write_sse(&mut conn, &chunks).await?;
            conn.shutdown().await?;
        }
    }
    Ok(())
}

async fn write_sse(conn: &mut TcpStream, chunks: &[Vec<u8>]) -> std::io::Result<()> {
    conn.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    )
    .await?;
    for c in chunks {
        conn.write_all(format!("{:x}\r\n", c.len()).as_bytes())
            .await?;
        conn.write_all(c).await?;
        conn.write_all(b"\r\n").await?;
        conn.flush().await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}
