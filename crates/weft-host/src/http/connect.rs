//! Sending one authorized request: resolve the host, keep only the
//! addresses the policy allows (no loopback, private or link-local address
//! through a granted name), connect to exactly those, speak TLS for
//! `https`, and hand back a response whose body is cut off by the
//! between-bytes timeout and redacted of the request's secrets.

use super::redact::Redactor;
use bytes::Bytes;
use http_body::{Body, Frame};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, WasiBody};

/// Timeouts for one request, already clamped to the caller's deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// DNS, TCP connect, TLS and the HTTP handshake.
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Between two frames of the response body.
    pub between_bytes: Duration,
}

/// Where an authorized request goes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URI's host (a name or an IP literal, without brackets).
    pub host: String,
    /// The port to connect to.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
}

/// Why the resolved addresses were refused, for the host's log.
pub(crate) struct Refused {
    /// Every address the name resolved to.
    pub addresses: Vec<IpAddr>,
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// The addresses `target` may be reached at, resolving names.
pub(crate) async fn resolve(
    target: &Target,
    timeout: Duration,
    allowed: impl Fn(IpAddr) -> bool,
) -> Result<Vec<SocketAddr>, Result<Refused, Error>> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
            match tokio::time::timeout(timeout, lookup).await {
                Err(_) => return Err(Err(Error::DnsTimeout)),
                Ok(Err(e)) => {
                    return Err(Err(Error::DnsError {
                        rcode: Some(e.to_string()),
                        info_code: None,
                    }));
                }
                Ok(Ok(found)) => found.collect(),
            }
        }
    };
    if addresses.is_empty() {
        return Err(Err(Error::DestinationNotFound));
    }
    let permitted: Vec<SocketAddr> = addresses
        .iter()
        .copied()
        .filter(|a| allowed(a.ip()))
        .collect();
    if permitted.is_empty() {
        return Err(Ok(Refused {
            addresses: addresses.iter().map(SocketAddr::ip).collect(),
        }));
    }
    Ok(permitted)
}

async fn connect(addresses: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        })
        .clone()
}

async fn secure(stream: TcpStream, target: &Target) -> Result<Box<dyn Stream>, Error> {
    if !target.tls {
        return Ok(Box::new(stream));
    }
    let name = match target.host.parse::<IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::from(ip),
        Err(_) => rustls::pki_types::ServerName::try_from(target.host.clone())?,
    };
    let connector = tokio_rustls::TlsConnector::from(tls_config());
    let stream = connector.connect(name, stream).await.map_err(Error::Tls)?;
    Ok(Box::new(stream))
}

/// The connection task handed back with the response; it ends when the
/// response body is done or dropped, and releases `permit` then.
pub(crate) type Io = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Sends `request` to the already-permitted `addresses`.
pub(crate) async fn send(
    mut request: http::Request<WasiBody>,
    target: Target,
    addresses: Vec<SocketAddr>,
    timeouts: Timeouts,
    redactor: Redactor,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(http::Response<WasiBody>, Io), Error> {
    use http_body_util::BodyExt;
    let connected = async {
        let stream = connect(&addresses, timeouts.connect).await?;
        let stream = secure(stream, &target).await?;
        hyper::client::conn::http1::Builder::new()
            .handshake::<_, WasiBody>(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(Error::from)
    };
    let (mut sender, mut connection) =
        tokio::time::timeout(timeout_of(timeouts.connect), connected)
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries only the path: the authority is in `host`.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = {
        let send = tokio::time::timeout(timeouts.first_byte, sender.send_request(request));
        let mut send = std::pin::pin!(send);
        let mut connection_done = false;
        // Drive the connection while waiting for the response head.
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = send.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if !connection_done && let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
                connection_done = true;
                if let Err(e) = result {
                    return Poll::Ready(Ok(Err(e)));
                }
            }
            Poll::Pending
        })
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?
    };
    let (mut parts, incoming) = response.into_parts();
    if !redactor.is_empty() {
        for value in parts.headers.values_mut() {
            let redacted = redactor.redact_all(value.as_bytes());
            if redacted != value.as_bytes()
                && let Ok(v) = http::HeaderValue::from_bytes(&redacted)
            {
                *value = v;
            }
        }
    }
    // An interval's first tick is immediate: start it from now.
    let mut idle = tokio::time::interval(timeout_of(timeouts.between_bytes));
    idle.reset();
    let body = GuardedBody {
        incoming,
        idle,
        redactor,
        trailers: None,
        finished: false,
    };
    let io: Io = Box::new(async move {
        let _permit = permit;
        connection.await.map_err(|e| {
            if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::from(e)
            }
        })
    });
    Ok((http::Response::from_parts(parts, body.boxed_unsync()), io))
}

/// Tokio's timers refuse a zero period.
fn timeout_of(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// A response body with a between-bytes timeout and secret redaction.
struct GuardedBody {
    incoming: hyper::body::Incoming,
    idle: tokio::time::Interval,
    redactor: Redactor,
    /// Trailers held back until the redactor's last bytes are out.
    trailers: Option<Frame<Bytes>>,
    finished: bool,
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finished = true;
                let rest = this.redactor.finish();
                Poll::Ready((!rest.is_empty()).then(|| Ok(Frame::data(Bytes::from(rest)))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.reset();
                match frame.into_data() {
                    Ok(data) if this.redactor.is_empty() => {
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    Ok(data) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(
                        this.redactor.feed(&data),
                    ))))),
                    Err(trailers) => {
                        let rest = this.redactor.finish();
                        if rest.is_empty() {
                            return Poll::Ready(Some(Ok(trailers)));
                        }
                        this.trailers = Some(trailers);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))))
                    }
                }
            }
            Poll::Pending => {
                ready!(this.idle.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.trailers.is_none()
    }
}
