//! What keeps a server from being used by web pages and hostile clients:
//! the [`SecurityOptions`] of a [`Server`](crate::Server) and the request
//! checks that enforce them.
//!
//! A request passes these checks, in this order, before its body is read:
//!
//! 1. **`Host`** (against DNS rebinding, where a page's own host name is
//!    made to resolve to this server so the browser lets the page read the
//!    answers). The `Host` header must name this server; otherwise 421
//!    Misdirected Request (`host_not_allowed`), and 400 (`missing_host`)
//!    when there is none. Accepted are the [configured hosts](SecurityOptions::allow_host)
//!    and, by the address the server is bound to:
//!
//!    | bound to | also accepted (with the bound port or none) |
//!    | --- | --- |
//!    | loopback (`127.0.0.1`, `[::1]`) | `localhost`, `127.0.0.1`, `[::1]` |
//!    | one other address | that address |
//!    | every address (`0.0.0.0`, `[::]`) | `localhost` and any IP address |
//!    | unknown ([`Server::router`](crate::Server::router) served elsewhere) | `localhost`, `127.0.0.1`, `[::1]`, any port |
//!
//!    An IP address in `Host` cannot be rebound: rebinding needs a name the
//!    attacker controls, so only names have to be listed. A server bound to
//!    every address also requires a bearer token (below), which a rebound
//!    page does not have.
//! 2. **`Origin`** (against cross-site requests). A browser names the page
//!    that sends a request in `Origin`. A request from an origin that is not
//!    a [configured CORS origin](SecurityOptions::cors_origin) and not this
//!    server itself is refused with 403 (`origin_not_allowed`) and no CORS
//!    headers, whatever its method or content type: this closes the
//!    "simple requests" (a form or a `no-cors` `fetch` with `text/plain`)
//!    that browsers send cross-site without asking first. A request without
//!    `Origin` that a browser marks `Sec-Fetch-Site: cross-site` or
//!    `same-site` (an `<img>`, a `<script>`, a link from another site) is
//!    refused the same way. Clients that are not browsers send neither
//!    header and are not affected.
//! 3. **CORS**, only when origins are configured: their requests get
//!    `Access-Control-Allow-Origin`, and their preflight `OPTIONS` requests
//!    are answered (methods `GET`, `POST`; the request headers they ask
//!    for; cached 10 minutes). Without configured origins no response has a
//!    CORS header and preflights are refused by step 2.
//! 4. **Bearer token**, when [tokens are set](SecurityOptions::bearer_token):
//!    `Authorization: Bearer TOKEN` must carry one of them, or the answer is
//!    401 with `WWW-Authenticate: Bearer` (`missing_api_key`,
//!    `invalid_api_key`). `GET /health` needs none. Tokens are kept as
//!    SHA-256 digests and compared in constant time. A server bound beyond
//!    loopback refuses to start without one ([`SecurityOptions::check_bind`]).
//! 5. **`Content-Type`**: a JSON body must be `application/json` (parameters
//!    allowed; a `charset` must be UTF-8), or the answer is 415
//!    (`unsupported_media_type`).
//!
//! Then the body must arrive within the [body read timeout](SecurityOptions::body_read_timeout)
//! (408, `request_timeout`), and a model request needs one of the
//! [`max_concurrent`](SecurityOptions::max_concurrent) slots (503,
//! `overloaded`, with `Retry-After`). The connection rules (header read
//! timeout, write stall timeout, connection cap) are applied by
//! [`Server::serve`](crate::Server::serve) to each connection; a router
//! served by another server gets the request checks only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::error::ApiError;

/// In-flight model requests unless [`SecurityOptions::max_concurrent`] sets
/// another number: 64.
pub const DEFAULT_MAX_CONCURRENT: usize = 64;
/// Open connections unless [`SecurityOptions::max_connections`] sets another
/// number: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long a client may take to send a request's line and headers (and
/// how long a kept-alive connection may sit idle) unless
/// [`SecurityOptions::header_read_timeout`] sets another: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a whole request body unless
/// [`SecurityOptions::body_read_timeout`] sets another: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a response may wait on a client that reads nothing unless
/// [`SecurityOptions::write_timeout`] sets another: 30 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The `Retry-After` of a 503 sent because every model slot is taken: 1 s.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The security settings of a [`Server`](crate::Server); the defaults are
/// safe for a server on loopback (see the [module docs](self) for how each
/// is enforced).
///
/// ```
/// use std::time::Duration;
/// use weft_serve::{BearerToken, SecurityOptions};
/// # fn demo() -> Result<(), weft_serve::InvalidSetting> {
/// let options = SecurityOptions::default()
///     .allow_host("weft.internal".parse()?)
///     .cors_origin("http://localhost:3000".parse()?)
///     .bearer_token(BearerToken::new("a-long-random-secret")?)
///     .max_concurrent(8)
///     .header_read_timeout(Duration::from_secs(5));
/// # let _ = options; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecurityOptions {
    /// `Host` values accepted besides those the bound address implies.
    /// Default: none.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Web origins allowed to call the server from a browser, with CORS.
    /// Default: none (no CORS, every cross-origin browser request refused).
    pub cors_origins: Vec<CorsOrigin>,
    /// Tokens a client may present as `Authorization: Bearer TOKEN`; any one
    /// will do. Default: none (no token asked for; allowed on loopback only).
    pub tokens: Vec<BearerToken>,
    /// Model requests served at once; one more gets 503 with `Retry-After`.
    /// Default: [`DEFAULT_MAX_CONCURRENT`]. At least 1.
    pub max_concurrent: usize,
    /// Connections open at once; further ones wait in the listen backlog
    /// until one closes. Default: [`DEFAULT_MAX_CONNECTIONS`]. At least 1.
    pub max_connections: usize,
    /// The time a client has to send a request line and headers, counted
    /// from when the server starts waiting for them; it also ends a
    /// kept-alive connection that sits idle this long. The connection is
    /// closed without an answer. Default: [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// The time a client has to send a whole body, counted from the end of
    /// its headers; then 408 and the connection is closed. Default:
    /// [`DEFAULT_BODY_READ_TIMEOUT`] (32 MiB takes about 1.1 MB/s).
    pub body_read_timeout: Duration,
    /// How long writing a response may make no progress (a client that
    /// stops reading an answer or a stream) before the connection is
    /// dropped, freeing its model slot. A model that is slow to produce
    /// the next token does not count. Default: [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
}

impl Default for SecurityOptions {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            tokens: Vec::new(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

impl SecurityOptions {
    /// These options with `host` accepted in `Host` too.
    pub fn allow_host(mut self, host: AllowedHost) -> Self {
        self.allowed_hosts.push(host);
        self
    }

    /// These options with browser pages from `origin` allowed, with CORS.
    pub fn cors_origin(mut self, origin: CorsOrigin) -> Self {
        self.cors_origins.push(origin);
        self
    }

    /// These options with `token` accepted as `Authorization: Bearer`
    /// (clients without a valid token are then refused).
    pub fn bearer_token(mut self, token: BearerToken) -> Self {
        self.tokens.push(token);
        self
    }

    /// These options with at most `n` model requests at once (0 counts as 1).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// These options with at most `n` open connections (0 counts as 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// These options with `timeout` to send a request's headers.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// These options with `timeout` to send a request's body.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// These options with `timeout` for a response write that makes no
    /// progress.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Whether these options allow serving on `addr`: a server reachable
    /// beyond loopback (any other address, or every address) must ask for a
    /// bearer token.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), crate::ServeError> {
        if self.tokens.is_empty() && !is_loopback(addr.ip()) {
            return Err(crate::ServeError::TokenRequired { addr });
        }
        Ok(())
    }
}

/// Why a security setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    /// An allowed host that is not `NAME`, `NAME:PORT`, `IP` or `IP:PORT`.
    #[error("`{value}` is not a host to allow: {reason}")]
    Host {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CORS origin that is not `SCHEME://HOST[:PORT]`.
    #[error("`{value}` is not a web origin: {reason}")]
    Origin {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bearer token that could not be sent in a header.
    #[error("unusable bearer token: {0}")]
    Token(String),
}

/// A `Host` value a server accepts: a name or IP address, with a port or
/// without (then any port). Parsed from `NAME`, `NAME:PORT`, `1.2.3.4`,
/// `[::1]:8080`; names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| InvalidSetting::Host {
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.contains('*') {
            return Err(fail(
                "wildcards are not allowed; list each name clients use to reach the server",
            ));
        }
        if s.contains("://") || s.contains('/') {
            return Err(fail(
                "give a host name with an optional port, without a scheme or path (`weft.example.com:8080`)",
            ));
        }
        let (host, port) = parse_authority(s).ok_or_else(|| {
            fail("expected NAME, NAME:PORT, IP or IP:PORT (IPv6 in brackets: `[::1]:8080`)")
        })?;
        Ok(Self { host, port })
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl AllowedHost {
    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && (self.port.is_none() || self.port == port)
    }
}

/// A web origin allowed to call the server from a browser:
/// `SCHEME://HOST[:PORT]`, as browsers send it in `Origin` (compared
/// case-insensitively, a default port and a trailing `/` dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin(String);

impl FromStr for CorsOrigin {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| InvalidSetting::Origin {
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s == "*" || s.contains('*') {
            return Err(fail(
                "wildcards are not allowed: any web page could then use this server; list each origin",
            ));
        }
        if s.eq_ignore_ascii_case("null") {
            return Err(fail(
                "`null` is the origin of sandboxed and local pages, which anyone can create",
            ));
        }
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| fail("expected SCHEME://HOST[:PORT], e.g. `http://localhost:3000`"))?;
        let scheme = scheme.to_ascii_lowercase();
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return Err(fail("the scheme is not valid"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(fail(
                "an origin has no path, query or fragment: `SCHEME://HOST[:PORT]`",
            ));
        }
        let (host, port) =
            parse_authority(rest).ok_or_else(|| fail("the host or port is not valid"))?;
        let default_port = match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        Ok(Self(match port {
            Some(p) if Some(p) != default_port => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        }))
    }
}

impl std::fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl CorsOrigin {
    fn matches(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|o| o.eq_ignore_ascii_case(&self.0))
    }
}

/// A bearer token clients may present. Only its SHA-256 digest is kept,
/// and it never shows in `Debug` output.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl BearerToken {
    /// A token from its secret text: printable ASCII without spaces (what an
    /// `Authorization` header can carry).
    pub fn new(secret: impl AsRef<str>) -> Result<Self, InvalidSetting> {
        let secret = secret.as_ref();
        if secret.is_empty() {
            return Err(InvalidSetting::Token("the token is empty".into()));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidSetting::Token(
                "a token may hold only printable ASCII characters, without spaces".into(),
            ));
        }
        Ok(Self {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Whether `presented` is one of `tokens`, in time independent of where
/// (or whether) it matches.
fn token_matches(tokens: &[BearerToken], presented: &[u8]) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented).into();
    let found = tokens.iter().fold(subtle::Choice::from(0), |found, t| {
        found | t.digest.ct_eq(&digest)
    });
    found.into()
}

/// `127.0.0.0/8` and `::1`, IPv4-mapped included.
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A lowercase host (IPv6 in brackets) and port from `HOST[:PORT]`: a
/// DNS name or IPv4 address, or an IPv6 address in brackets; a port of
/// digits.
fn parse_authority(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let (host, rest) = s.split_at(end + 1);
        host[1..end].parse::<Ipv6Addr>().ok()?;
        (
            host,
            if rest.is_empty() {
                None
            } else {
                Some(rest.strip_prefix(':')?)
            },
        )
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let name_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if !name_ok {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The IP address a `Host` host names, if it is one (IPv6 in brackets).
fn host_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// The checks of one router: its options and the address it is bound to,
/// when known.
pub(crate) struct Guard {
    options: SecurityOptions,
    bound: Option<SocketAddr>,
}

impl Guard {
    pub(crate) fn new(options: SecurityOptions, bound: Option<SocketAddr>) -> Arc<Self> {
        Arc::new(Self { options, bound })
    }

    /// Whether `host` (lowercase) with `port` names this server.
    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        if self
            .options
            .allowed_hosts
            .iter()
            .any(|a| a.matches(host, port))
        {
            return true;
        }
        let ip = host_ip(host);
        let loopback_name = host == "localhost"
            || ip.is_some_and(|ip| {
                ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
            });
        let Some(bound) = self.bound else {
            return loopback_name;
        };
        if port.is_some_and(|p| p != bound.port()) {
            return false;
        }
        let bound_ip = bound.ip().to_canonical();
        if bound_ip.is_unspecified() {
            host == "localhost" || ip.is_some()
        } else if bound_ip.is_loopback() {
            loopback_name
        } else {
            ip.is_some_and(|ip| ip.to_canonical() == bound_ip)
        }
    }

    /// Step 1: the `Host` header names this server.
    fn check_host(&self, parts: &Parts) -> Result<(), ApiError> {
        let Some(value) = parts.headers.get(header::HOST) else {
            return Err(ApiError::missing_host());
        };
        let text = value.to_str().unwrap_or("");
        let Some((host, port)) = parse_authority(text) else {
            return Err(ApiError::host_not_allowed(&String::from_utf8_lossy(
                value.as_bytes(),
            )));
        };
        // An absolute-form target (`POST http://host/...`) must agree.
        if let Some(target) = parts.uri.authority()
            && !target.as_str().eq_ignore_ascii_case(text)
        {
            return Err(ApiError::host_not_allowed(target.as_str()));
        }
        if self.host_allowed(&host, port) {
            Ok(())
        } else {
            Err(ApiError::host_not_allowed(text))
        }
    }

    /// Step 2: a browser request comes from an allowed origin or from this
    /// server itself.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            let site = headers
                .get(SEC_FETCH_SITE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                return Err(ApiError::cross_site_request(site));
            }
            return Ok(());
        };
        if self.options.cors_origins.iter().any(|o| o.matches(origin)) {
            return Ok(());
        }
        let same_origin = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .zip(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
            .is_some_and(|((_, authority), host)| authority.eq_ignore_ascii_case(host));
        if same_origin {
            return Ok(());
        }
        Err(ApiError::origin_not_allowed(&String::from_utf8_lossy(
            origin.as_bytes(),
        )))
    }

    /// Step 4: the request carries one of the tokens, when there are any.
    fn check_token(&self, parts: &Parts) -> Result<(), ApiError> {
        if self.options.tokens.is_empty() || parts.uri.path() == "/health" {
            return Ok(());
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::missing_api_key());
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token) if token_matches(&self.options.tokens, token.as_bytes()) => Ok(()),
            _ => Err(ApiError::invalid_api_key()),
        }
    }

    /// The CORS layer for the configured origins, if any.
    pub(crate) fn cors_layer(self: &Arc<Self>) -> Option<CorsLayer> {
        if self.options.cors_origins.is_empty() {
            return None;
        }
        let guard = self.clone();
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::predicate(move |origin, _| {
                    guard.options.cors_origins.iter().any(|o| o.matches(origin))
                }))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(AllowHeaders::mirror_request())
                .expose_headers([
                    header::RETRY_AFTER,
                    HeaderName::from_static("retry-after-ms"),
                ])
                .max_age(Duration::from_secs(600)),
        )
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Steps 1 and 2, before CORS: the middleware outside everything else.
pub(crate) async fn check_host_and_origin(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(e) = guard
        .check_host(&parts)
        .and_then(|()| guard.check_origin(&parts.headers))
    {
        tracing::debug!(
            method = %parts.method,
            path = parts.uri.path(),
            error = %e.message,
            "refused"
        );
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Step 4, inside CORS (a preflight carries no token; a refusal still
/// gets the CORS headers, so an allowed page can read it).
pub(crate) async fn check_bearer_token(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(e) = guard.check_token(&parts) {
        tracing::debug!(path = parts.uri.path(), error = %e.message, "unauthorized");
        let wrong = parts.headers.contains_key(header::AUTHORIZATION);
        let mut response = e.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(if wrong {
                r#"Bearer realm="weft", error="invalid_token""#
            } else {
                r#"Bearer realm="weft""#
            }),
        );
        return response;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Step 5: a body is `application/json`, with a UTF-8 charset if any.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(None));
    };
    let text = value.to_str().unwrap_or("");
    let mut params = text.split(';');
    let essence = params.next().unwrap_or("").trim();
    let charset_ok = params.all(|p| match p.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    if essence.eq_ignore_ascii_case("application/json") && charset_ok {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(Some(
            &String::from_utf8_lossy(value.as_bytes()),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bound: Option<&str>, options: SecurityOptions) -> Arc<Guard> {
        Guard::new(options, bound.map(|b| b.parse().unwrap()))
    }

    fn host_ok(g: &Guard, host: &str) -> bool {
        let (h, p) = parse_authority(host).unwrap();
        g.host_allowed(&h, p)
    }

    #[test]
    fn hosts_follow_the_bound_address() {
        let loopback = guard(Some("127.0.0.1:8080"), SecurityOptions::default());
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.1",
        ] {
            assert!(host_ok(&loopback, ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "localhost:9090",
            "10.0.0.1:8080",
            "localhost.evil.example",
        ] {
            assert!(!host_ok(&loopback, refused), "{refused}");
        }

        let any = guard(Some("0.0.0.0:8080"), SecurityOptions::default());
        for ok in [
            "10.1.2.3:8080",
            "[fe80::1]:8080",
            "localhost",
            "192.168.1.5",
        ] {
            assert!(host_ok(&any, ok), "{ok}");
        }
        for refused in ["evil.example:8080", "10.1.2.3:9999"] {
            assert!(!host_ok(&any, refused), "{refused}");
        }

        let one = guard(Some("192.168.1.5:8080"), SecurityOptions::default());
        assert!(host_ok(&one, "192.168.1.5:8080"));
        assert!(!host_ok(&one, "192.168.1.6:8080"));
        assert!(!host_ok(&one, "localhost:8080"));

        let elsewhere = guard(None, SecurityOptions::default());
        assert!(host_ok(&elsewhere, "localhost:1234"));
        assert!(!host_ok(&elsewhere, "10.0.0.1"));

        let listed = guard(
            Some("127.0.0.1:8080"),
            SecurityOptions::default()
                .allow_host("Weft.Example".parse().unwrap())
                .allow_host("proxy.example:443".parse().unwrap()),
        );
        assert!(host_ok(&listed, "weft.example:1234"));
        assert!(host_ok(&listed, "weft.example"));
        assert!(host_ok(&listed, "proxy.example:443"));
        assert!(!host_ok(&listed, "proxy.example:80"));
    }

    #[test]
    fn settings_are_parsed_strictly() {
        assert_eq!(
            "Weft.Example:8080"
                .parse::<AllowedHost>()
                .unwrap()
                .to_string(),
            "weft.example:8080"
        );
        assert_eq!("[::1]".parse::<AllowedHost>().unwrap().to_string(), "[::1]");
        for bad in [
            "*",
            "*.example",
            "http://x",
            "a@b",
            "",
            "x:notaport",
            "x:",
            "x:99999",
            "[::1",
            "[nope]:80",
            "a b",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad}");
        }
        for (given, kept) in [
            ("http://localhost:3000/", "http://localhost:3000"),
            ("HTTPS://App.Example:443", "https://app.example"),
            ("http://app.example:80", "http://app.example"),
            ("chrome-extension://abcdef", "chrome-extension://abcdef"),
        ] {
            assert_eq!(given.parse::<CorsOrigin>().unwrap().to_string(), kept);
        }
        for bad in ["*", "null", "localhost:3000", "http://x/path", "http://"] {
            assert!(bad.parse::<CorsOrigin>().is_err(), "{bad}");
        }
        assert!(BearerToken::new("").is_err());
        assert!(BearerToken::new("has space").is_err());
        assert!(BearerToken::new("tab\there").is_err());
        let token = BearerToken::new("s3cret").unwrap();
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
        assert!(token_matches(std::slice::from_ref(&token), b"s3cret"));
        assert!(!token_matches(std::slice::from_ref(&token), b"s3cre"));
        assert!(!token_matches(&[], b"s3cret"));
    }

    #[test]
    fn content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            require_json(&h).is_ok()
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=UTF-8"));
        assert!(with("application/json;charset=\"utf-8\""));
        assert!(!with("application/json; charset=latin1"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!with("application/jsonp"));
        assert!(require_json(&HeaderMap::new()).is_err());
    }

    #[test]
    fn binding_beyond_loopback_needs_a_token() {
        let open = SecurityOptions::default();
        assert!(open.check_bind("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(open.check_bind("[::1]:8080".parse().unwrap()).is_ok());
        assert!(open.check_bind("0.0.0.0:8080".parse().unwrap()).is_err());
        assert!(open.check_bind("[::]:8080".parse().unwrap()).is_err());
        assert!(
            open.check_bind("192.168.1.5:8080".parse().unwrap())
                .is_err()
        );
        let with_token = open.bearer_token(BearerToken::new("t").unwrap());
        assert!(
            with_token
                .check_bind("0.0.0.0:8080".parse().unwrap())
                .is_ok()
        );
    }
}
