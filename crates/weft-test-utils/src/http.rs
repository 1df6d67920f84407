//! A scripted HTTP/1.1 server on 127.0.0.1 for tests.
//!
//! [`LoopbackServer`] answers each request with a [`Reply`] chosen by a
//! responder (a script, a route table, or any function of the
//! [`Request`]), records every request it reads, and counts connections.
//! It runs on a thread of its own with its own tokio runtime, so sync tests,
//! `#[tokio::test]`s and tests driving their own runtime start it alike,
//! and it stops when dropped.
//!
//! Replies can be complete (`content-length`), cut short, chunked (server-sent
//! events, optionally paced), slow to start, or never sent at all.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line, e.g. `POST /v1/chat/completions HTTP/1.1`.
    pub line: String,
    /// The request line and the headers, verbatim, up to and including the
    /// blank line.
    pub head: String,
    /// The headers, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (as long as its `content-length` says, or until the client
    /// stopped sending).
    pub body: Vec<u8>,
}

impl Request {
    /// The request target, e.g. `/v1/models`.
    pub fn path(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or("/")
    }

    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How a [`Reply`]'s body is framed and sent.
#[derive(Debug, Clone)]
enum Body {
    /// With `content-length: announced`; `bytes` are sent (fewer than
    /// announced when the reply is cut short).
    Sized { bytes: Vec<u8>, announced: usize },
    /// With `transfer-encoding: chunked`: each chunk after its pause.
    Chunked(Vec<(Duration, Vec<u8>)>),
    /// Nothing at all: the request is read and never answered.
    Silent,
}

/// What happens after a [`Reply`]'s body has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The body is ended properly (the last chunk, for chunked bodies) and
    /// the connection closed.
    Close,
    /// The connection is closed without ending a chunked body.
    Cut,
    /// The connection stays open and silent until the server is dropped.
    Stall,
}

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    delay: Duration,
    body: Body,
    end: End,
}

impl Reply {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: Body::Sized {
                bytes: Vec::new(),
                announced: 0,
            },
            end: End::Close,
        }
    }

    /// `200` with this body and no content type.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply::new(200).body(body)
    }

    /// `200 text/plain` with this body.
    pub fn text(body: &str) -> Self {
        Reply::ok(body).header("content-type", "text/plain")
    }

    /// `status` with a JSON body (a `serde_json::Value` or JSON text).
    pub fn json(status: u16, body: impl ToString) -> Self {
        Reply::new(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// `200 text/event-stream`, sized, with one `data:` event per payload
    /// and a final `data: [DONE]`.
    pub fn sse_data(events: &[serde_json::Value]) -> Self {
        let mut body = String::new();
        for e in events {
            body.push_str(&format!("data: {e}\n\n"));
        }
        body.push_str("data: [DONE]\n\n");
        Reply::ok(body).header("content-type", "text/event-stream")
    }

    /// `200 text/event-stream` sent with chunked encoding, one HTTP chunk
    /// per element, ended properly.
    pub fn sse(chunks: Vec<Vec<u8>>) -> Self {
        Reply::sse_timed(chunks.into_iter().map(|c| (0, c)).collect())
    }

    /// Like [`Reply::sse`], with `text` cut into `size`-byte chunks.
    pub fn sse_chunked(text: &str, size: usize) -> Self {
        Reply::sse(text.as_bytes().chunks(size).map(<[u8]>::to_vec).collect())
    }

    /// Like [`Reply::sse`], each chunk sent after waiting its milliseconds.
    pub fn sse_timed(chunks: Vec<(u64, Vec<u8>)>) -> Self {
        let mut reply = Reply::new(200).header("content-type", "text/event-stream");
        reply.body = Body::Chunked(
            chunks
                .into_iter()
                .map(|(ms, c)| (Duration::from_millis(ms), c))
                .collect(),
        );
        reply
    }

    /// Reads the request and never answers; the connection stays open until
    /// the server is dropped.
    pub fn hang() -> Self {
        let mut reply = Reply::new(0);
        reply.body = Body::Silent;
        reply
    }

    /// The same reply with this header added.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same reply with this (sized) body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        let bytes = body.into();
        self.body = Body::Sized {
            announced: bytes.len(),
            bytes,
        };
        self
    }

    /// The same reply, its head sent only after `pause`.
    pub fn after(mut self, pause: Duration) -> Self {
        self.delay = pause;
        self
    }

    /// The same reply announcing a `content-length` of `len` whatever its
    /// body's length.
    pub fn announce(mut self, len: usize) -> Self {
        if let Body::Sized { announced, .. } = &mut self.body {
            *announced = len;
        }
        self
    }

    /// The same reply sending only the first `n` bytes of its sized body (the
    /// full length is announced), then closing the connection.
    pub fn cut_at(mut self, n: usize) -> Self {
        if let Body::Sized { bytes, .. } = &mut self.body {
            bytes.truncate(n);
        }
        self
    }

    /// The same reply, then the connection stays open and silent (a chunked
    /// body is never ended).
    pub fn then_stall(mut self) -> Self {
        self.end = End::Stall;
        self
    }

    /// The same reply, then the connection is closed abruptly (a chunked
    /// body without its last chunk).
    pub fn then_cut(mut self) -> Self {
        self.end = End::Cut;
        self
    }
}

/// Chooses the reply to each request.
type Responder = Box<dyn Fn(&Request) -> Reply + Send + Sync>;

/// What the server has seen, shared with its thread.
#[derive(Default)]
struct Log {
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    connections: AtomicUsize,
}

/// A scripted HTTP/1.1 server on 127.0.0.1; see the [module docs](self).
pub struct LoopbackServer {
    addr: SocketAddr,
    log: Arc<Log>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The reply once a script is used up.
fn unscripted() -> Reply {
    Reply::json(
        500,
        r#"{"error":{"message":"test server: no reply scripted"}}"#,
    )
}

impl LoopbackServer {
    /// Starts a server answering every request with `respond(request)`.
    pub fn start(respond: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let log = Arc::new(Log::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let respond: Arc<Responder> = Arc::new(Box::new(respond));
        let thread_log = log.clone();
        std::thread::Builder::new()
            .name(format!("loopback-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let accept = async {
                        while let Ok((socket, _)) = listener.accept().await {
                            thread_log.connections.fetch_add(1, Ordering::SeqCst);
                            tokio::spawn(answer(socket, respond.clone(), thread_log.clone()));
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("server thread");
        LoopbackServer {
            addr,
            log,
            stop: Some(stop),
        }
    }

    /// Starts a server answering successive requests with `replies`, then
    /// with a `500` JSON error.
    pub fn script(replies: impl IntoIterator<Item = Reply>) -> Self {
        let queue = Mutex::new(VecDeque::from_iter(replies));
        LoopbackServer::start(move |_| lock(&queue).pop_front().unwrap_or_else(unscripted))
    }

    /// Starts a server answering successive requests with `replies`, then
    /// repeating the last one (a `500` JSON error if there was none).
    pub fn repeating(replies: impl IntoIterator<Item = Reply>) -> Self {
        let queue = Mutex::new(VecDeque::from_iter(replies));
        let last = Mutex::new(None::<Reply>);
        LoopbackServer::start(move |_| {
            let mut last = lock(&last);
            if let Some(next) = lock(&queue).pop_front() {
                *last = Some(next);
            }
            last.clone().unwrap_or_else(unscripted)
        })
    }

    /// Starts a server answering each path with its reply, and any other
    /// path with `404`.
    pub fn routes(routes: impl IntoIterator<Item = (String, Reply)>) -> Self {
        let routes: HashMap<String, Reply> = routes.into_iter().collect();
        LoopbackServer::start(move |request| {
            routes
                .get(request.path())
                .cloned()
                .unwrap_or_else(|| Reply::new(404).body("no such route"))
        })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `127.0.0.1:PORT`, as a policy grants it.
    pub fn grant(&self) -> String {
        self.addr.to_string()
    }

    /// The requests read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.log.requests).clone()
    }

    /// The paths of the requests read so far, in order.
    pub fn paths(&self) -> Vec<String> {
        lock(&self.log.requests)
            .iter()
            .map(|r| r.path().to_owned())
            .collect()
    }

    /// The connections accepted so far (whether or not a request followed).
    pub fn connections(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    /// Blocks until `n` requests have been read, or panics after `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut requests = lock(&self.log.requests);
        while requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} requests within {timeout:?}",
                requests.len()
            );
            requests = self
                .log
                .arrived
                .wait_timeout(requests, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        requests.clone()
    }
}

impl Drop for LoopbackServer {
    /// Stops the server: its runtime ends, closing every connection.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Locks `mutex`, whether or not a panicking test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one request from `socket`, records it, and sends its reply.
async fn answer(mut socket: TcpStream, respond: Arc<Responder>, log: Arc<Log>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let reply = respond(&request);
    lock(&log.requests).push(request);
    log.arrived.notify_all();
    let _ = send(&mut socket, reply).await;
}

/// Reads a request head and its `content-length` body; `None` if the client
/// closed before the head was complete.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Request {
        line,
        head,
        headers,
        body: buf[head_end..].to_vec(),
    })
}

/// Sends `reply` on `socket` as it describes.
async fn send(socket: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    if let Body::Silent = reply.body {
        return stall().await;
    }
    tokio::time::sleep(reply.delay).await;
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match &reply.body {
        Body::Sized { announced, .. } => head.push_str(&format!("content-length: {announced}\r\n")),
        Body::Chunked(_) => head.push_str("transfer-encoding: chunked\r\n"),
        Body::Silent => {}
    }
    head.push_str("connection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.flush().await?;
    match reply.body {
        Body::Sized { bytes, .. } => socket.write_all(&bytes).await?,
        Body::Chunked(chunks) => {
            for (pause, chunk) in chunks {
                if pause.is_zero() {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(pause).await;
                }
                socket
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                socket.write_all(&chunk).await?;
                socket.write_all(b"\r\n").await?;
                socket.flush().await?;
            }
            if reply.end == End::Close {
                socket.write_all(b"0\r\n\r\n").await?;
            }
        }
        Body::Silent => {}
    }
    socket.flush().await?;
    match reply.end {
        End::Stall => stall().await,
        End::Close | End::Cut => socket.shutdown().await,
    }
}

/// Waits until the server is dropped (its runtime then ends this task).
async fn stall() -> std::io::Result<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Sends `request` on a fresh connection and reads to EOF.
    fn exchange(server: &LoopbackServer, request: &str) -> String {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    }

    #[test]
    fn scripts_record_requests_and_end_in_a_500() {
        let server = LoopbackServer::script([Reply::json(201, "{}").header("x-a", "1")]);
        let first = exchange(
            &server,
            "POST /v1/x HTTP/1.1\r\nContent-Length: 2\r\nX-Key: k\r\n\r\nhi",
        );
        assert!(first.starts_with("HTTP/1.1 201 "), "{first}");
        assert!(
            first.contains("x-a: 1\r\n") && first.ends_with("\r\n\r\n{}"),
            "{first}"
        );
        let second = exchange(&server, "GET / HTTP/1.1\r\n\r\n");
        assert!(second.starts_with("HTTP/1.1 500 "), "{second}");
        let seen = server.wait_for_requests(2, Duration::from_secs(5));
        assert_eq!(seen[0].line, "POST /v1/x HTTP/1.1");
        assert_eq!(seen[0].path(), "/v1/x");
        assert_eq!(seen[0].header("x-key").as_deref(), Some("k"));
        assert_eq!(seen[0].text(), "hi");
        assert_eq!(server.paths(), ["/v1/x", "/"]);
        assert_eq!(server.connections(), 2);
    }

    #[test]
    fn repeating_scripts_repeat_their_last_reply_and_routes_404() {
        let server = LoopbackServer::repeating([Reply::text("a"), Reply::text("b")]);
        let bodies: Vec<String> = (0..3)
            .map(|_| exchange(&server, "GET / HTTP/1.1\r\n\r\n"))
            .collect();
        assert!(bodies[0].ends_with("\r\n\r\na") && bodies[2].ends_with("\r\n\r\nb"));
        let routes = LoopbackServer::routes([("/x".to_owned(), Reply::ok("x"))]);
        assert!(exchange(&routes, "GET /x HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nx"));
        assert!(exchange(&routes, "GET /y HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    }

    #[test]
    fn chunked_and_cut_bodies_are_framed_as_asked() {
        let server = LoopbackServer::script([
            Reply::sse(vec![b"ab".to_vec(), b"c".to_vec()]),
            Reply::sse(vec![b"ab".to_vec()]).then_cut(),
            Reply::ok("0123456789").cut_at(4),
        ]);
        let whole = exchange(&server, "GET / HTTP/1.1\r\n\r\n");
        assert!(whole.contains("transfer-encoding: chunked\r\n"), "{whole}");
        assert!(
            whole.ends_with("\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"),
            "{whole}"
        );
        let cut = exchange(&server, "GET / HTTP/1.1\r\n\r\n");
        assert!(cut.ends_with("\r\n\r\n2\r\nab\r\n"), "{cut}");
        let short = exchange(&server, "GET / HTTP/1.1\r\n\r\n");
        assert!(short.contains("content-length: 10\r\n"), "{short}");
        assert!(short.ends_with("\r\n\r\n0123"), "{short}");
    }

    #[test]
    fn a_silent_reply_holds_the_connection_until_the_server_goes() {
        let server = LoopbackServer::script([Reply::hang()]);
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        server.wait_for_requests(1, Duration::from_secs(5));
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(stream.read(&mut buf).is_err(), "nothing is sent");
        drop(server);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(stream.read(&mut buf).unwrap(), 0, "closed once dropped");
    }
}
