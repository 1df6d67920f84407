//! An OpenAI-compatible HTTP server for any Weft [`Model`]: Weft's local
//! models (or a provider, a router, a cassette) become usable from any
//! OpenAI client, and Weft's remote-provider code can be tested against a
//! real model server.
//!
//! Routes:
//!
//! - `POST /v1/chat/completions`: unstreamed, or with `stream: true`
//!   Server-Sent Events (`data: {chunk}` frames, then `data: [DONE]`);
//!   tools and tool calls, `tool_choice`, `response_format` (`json_object`,
//!   `json_schema`), sampling, `stop`, `max_tokens` /
//!   `max_completion_tokens`, `stream_options.include_usage`, and usage in
//!   every answer. The mapping is in [`wire`];
//! - `GET /v1/models` and `GET /v1/models/{name}`: the served names;
//! - `GET /health`: `ok`.
//!
//! Errors use the OpenAI shape `{"error": {"message", "type", "param",
//! "code"}}` with the matching status ([`ApiError`]): 400 naming the bad
//! field, 404 for an unknown model, 400 `context_length_exceeded`, 429 with
//! `Retry-After`, 500 for backend failures. A failure after a stream has
//! started is sent as an error frame (`data: {"error": {...}}`) followed by
//! `data: [DONE]`, and the response ends normally. A malformed request never
//! takes the server down.
//!
//! Requests are passed to the model concurrently, at most
//! [`SecurityOptions::max_concurrent`] at once (one more gets 503 with
//! `Retry-After` rather than a queue without bound); a model that can only
//! run one generation at a time (a local model) queues them itself.
//!
//! # Security
//!
//! The server expects to be reached by programs, not by web pages, and its
//! defaults are safe on loopback. Every request is checked before its body
//! is read (the details are in [`security`]):
//!
//! - `Host` must name this server (421 otherwise), against DNS rebinding;
//! - a browser request from another web origin is refused (403) unless that
//!   origin is configured for CORS; there are no CORS headers otherwise;
//! - with bearer tokens configured, `Authorization: Bearer TOKEN` must carry
//!   one (401 with `WWW-Authenticate: Bearer`); serving beyond loopback
//!   without a token is refused at start ([`ServeError::TokenRequired`]);
//! - a body must be `application/json` (415), and arrive within the body
//!   read timeout (408).
//!
//! [`Server::serve`] adds the connection rules: a header read timeout
//! (which also ends idle kept-alive connections), a write stall timeout
//! and a cap on open connections ([`listen`]). All of them are set with
//! [`SecurityOptions`] and [`Server::with_security`].
//!
//! ```no_run
//! # async fn demo(model: std::sync::Arc<dyn weft_model::Model>) -> Result<(), weft_serve::ServeError> {
//! use std::collections::BTreeMap;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let models = BTreeMap::from([("qwen3-0.6b".to_owned(), model)]);
//! weft_serve::serve(listener, models).await // until ctrl-c
//! # }
//! ```

pub mod error;
pub mod listen;
pub mod security;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use weft_model::{EventStream, Model, ModelError};

pub use error::ApiError;
pub use security::{
    AllowedHost, BUSY_RETRY_AFTER, BearerToken, CorsOrigin, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_WRITE_TIMEOUT, InvalidSetting, SecurityOptions,
};
pub use wire::{CompletionRequest, InvalidRequest};

/// The request body limit unless [`Server::with_body_limit`] sets another:
/// 32 MiB, room for a long context.
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or serving connections failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server would be reachable beyond loopback without a bearer
    /// token (see [`SecurityOptions::check_bind`]).
    #[error(
        "refusing to serve on {addr} without a bearer token: that address is reachable from other machines, \
         so anyone there could use the model. Set a token (`weft serve --token-env VAR` with the token in \
         the environment variable VAR; `SecurityOptions::bearer_token` in code), or listen on 127.0.0.1"
    )]
    TokenRequired {
        /// The address the server was to serve on.
        addr: std::net::SocketAddr,
    },
}

/// The models a server serves, by name.
pub type Models = BTreeMap<String, Arc<dyn Model>>;

struct AppState {
    models: Models,
    ids: AtomicU64,
}

/// What the chat handler needs besides the models: how to read a body and
/// the model request slots.
#[derive(Clone)]
struct Handler {
    app: Arc<AppState>,
    body_limit: usize,
    body_read_timeout: Duration,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Handler {
    /// One of the model request slots, or 503 when all are taken.
    fn model_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            tracing::debug!(
                max_concurrent = self.max_concurrent,
                "busy: refused a model request"
            );
            ApiError::busy(self.max_concurrent, BUSY_RETRY_AFTER)
        })
    }
}

/// An OpenAI-compatible server over named models.
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
    body_limit: usize,
    security: SecurityOptions,
    /// The model request slots, shared by every router of this server.
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("models", &self.state.models.keys().collect::<Vec<_>>())
            .field("body_limit", &self.body_limit)
            .field("security", &self.security)
            .finish()
    }
}

impl Server {
    /// A server for `models`, each under its name (the `model` a request
    /// names and `/v1/models` lists).
    ///
    /// Its [`SecurityOptions`] are the defaults: no CORS, no token (so only
    /// loopback may be served), 64 model requests at once, 512
    /// connections, 10 s for headers, 30 s for a body.
    pub fn new(models: Models) -> Self {
        let security = SecurityOptions::default();
        Self {
            state: Arc::new(AppState {
                models,
                ids: AtomicU64::new(0),
            }),
            body_limit: DEFAULT_BODY_LIMIT,
            slots: Arc::new(Semaphore::new(security.max_concurrent)),
            security,
        }
    }

    /// This server with `options` for its request checks, timeouts and
    /// limits (see [`security`]).
    pub fn with_security(mut self, options: SecurityOptions) -> Self {
        self.slots = Arc::new(Semaphore::new(options.max_concurrent.max(1)));
        self.security = options;
        self
    }

    /// The security settings in force.
    pub fn security(&self) -> &SecurityOptions {
        &self.security
    }

    /// This server with a request body limit of `bytes` (larger bodies get
    /// a 413).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The served model names, in order.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.state.models.keys().map(String::as_str)
    }

    /// The axum router with every route and the request checks of
    /// [`security`], to serve or to nest in a larger application. Not
    /// knowing the address it will be served on, it accepts the loopback
    /// names on any port and the configured hosts in `Host`; the
    /// connection rules are up to the server that serves it.
    pub fn router(&self) -> Router {
        self.router_for(None)
    }

    /// The router for a server bound to `bound`, when known.
    fn router_for(&self, bound: Option<std::net::SocketAddr>) -> Router {
        let guard = security::Guard::new(self.security.clone(), bound);
        let handler = Handler {
            app: self.state.clone(),
            body_limit: self.body_limit,
            body_read_timeout: self.security.body_read_timeout,
            slots: self.slots.clone(),
            max_concurrent: self.security.max_concurrent.max(1),
        };
        let models = Router::new()
            .route("/v1/models", get(list_models))
            .route("/v1/models/{*name}", get(get_model))
            .with_state(self.state.clone());
        let mut router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(handler)
            .merge(models)
            .route("/health", get(|| async { "ok" }))
            .fallback(unknown_url)
            .method_not_allowed_fallback(wrong_method)
            .layer(from_fn_with_state(
                guard.clone(),
                security::check_bearer_token,
            ));
        if let Some(cors) = guard.cors_layer() {
            router = router.layer(cors);
        }
        router.layer(from_fn_with_state(guard, security::check_host_and_origin))
    }

    /// Serves on `listener` until ctrl-c, then finishes the requests in
    /// flight and returns.
    pub async fn serve(self, listener: TcpListener) -> Result<(), ServeError> {
        self.serve_with_shutdown(listener, ctrl_c()).await
    }

    /// Serves on `listener` until `signal` completes, then finishes the
    /// requests in flight and returns. Fails at once with
    /// [`ServeError::TokenRequired`] when `listener` is reachable beyond
    /// loopback and no bearer token is set.
    pub async fn serve_with_shutdown<F>(
        self,
        listener: TcpListener,
        signal: F,
    ) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        self.security.check_bind(addr)?;
        tracing::info!(
            %addr,
            models = ?self.model_names().collect::<Vec<_>>(),
            tokens = self.security.tokens.len(),
            cors_origins = ?self.security.cors_origins.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "serving the OpenAI-compatible API"
        );
        let router = self.router_for(Some(addr));
        listen::serve_connections(listener, router, &self.security, signal).await;
        Ok(())
    }
}

/// The router of a [`Server`] for `models`.
pub fn router(models: Models) -> Router {
    Server::new(models).router()
}

/// Serves `models` on `listener` until ctrl-c (see [`Server::serve`]).
pub async fn serve(listener: TcpListener, models: Models) -> Result<(), ServeError> {
    Server::new(models).serve(listener).await
}

/// Completes on ctrl-c; never when the signal cannot be watched.
async fn ctrl_c() {
    match tokio::signal::ctrl_c().await {
        Ok(()) => tracing::info!("ctrl-c: finishing the requests in flight, then stopping"),
        Err(e) => {
            tracing::warn!("cannot watch for ctrl-c ({e}); serving until killed");
            std::future::pending::<()>().await
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl AppState {
    /// A fresh `chatcmpl-...` id: unique per server and per process start.
    fn next_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        format!("chatcmpl-{nanos:x}{n:04x}")
    }
}

fn model_json(name: &str, model: &dyn Model) -> Value {
    let caps = model.capabilities();
    json!({"id": name, "object": "model", "created": 0, "owned_by": caps.provider})
}

async fn list_models(State(state): State<Arc<AppState>>) -> Response {
    let data: Vec<Value> = state
        .models
        .iter()
        .map(|(name, m)| model_json(name, m.as_ref()))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn get_model(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match state.models.get(&name) {
        Some(m) => axum::Json(model_json(&name, m.as_ref())).into_response(),
        None => ApiError::model_not_found(&name, state.models.keys()).into_response(),
    }
}

async fn unknown_url(method: Method, uri: Uri) -> ApiError {
    ApiError::unknown_url(method.as_str(), uri.path())
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// The body of a JSON request: declared `application/json`, at most
/// `limit` bytes, arrived within `timeout`.
async fn read_json_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    security::require_json(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::body_too_large(limit))
        }
        Ok(Err(e)) => Err(ApiError::unreadable_body(&e)),
        Err(_) => Err(ApiError::body_timeout(timeout)),
    }
}

/// An error answer that also closes the connection: after a body that was
/// not read to its end there is no telling where the next request starts.
fn closing(e: ApiError) -> Response {
    let mut response = e.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn chat_completions(
    State(handler): State<Handler>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    let body = read_json_body(
        &headers,
        body,
        handler.body_limit,
        handler.body_read_timeout,
    )
    .await
    .map_err(closing)?;
    completion(&handler, &body)
        .await
        .map_err(IntoResponse::into_response)
}

/// The answer to a chat completion request's `body`.
async fn completion(handler: &Handler, body: &[u8]) -> Result<Response, ApiError> {
    let state = &handler.app;
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
    let name = wire::requested_model(&value)?;
    let model = state
        .models
        .get(name)
        .ok_or_else(|| ApiError::model_not_found(name, state.models.keys()))?
        .clone();
    let request = wire::parse_request(&value, &model.capabilities().provider)?;
    let slot = handler.model_slot()?;
    let id = state.next_id();
    let started = Instant::now();
    if request.stream {
        let events = model.chat_stream(&request.chat).await.map_err(|e| {
            tracing::warn!(model = %request.model, error = %e, "streamed chat failed to start");
            ApiError::from_model(&e)
        })?;
        tracing::debug!(model = %request.model, %id, "streaming");
        Ok(sse_response(events, &request, id, slot))
    } else {
        let response = model.chat(&request.chat).await.map_err(|e| {
            tracing::warn!(model = %request.model, error = %e, "chat failed");
            ApiError::from_model(&e)
        })?;
        drop(slot);
        tracing::debug!(
            model = %request.model,
            %id,
            input_tokens = response.usage.input_tokens,
            output_tokens = response.usage.output_tokens,
            elapsed = ?started.elapsed(),
            "answered"
        );
        let body = wire::completion_json(&id, unix_now(), &request.model, &response);
        Ok(axum::Json(body).into_response())
    }
}

/// The state of one SSE response.
struct SseState {
    events: EventStream,
    encoder: wire::ChunkEncoder,
    pending: VecDeque<String>,
    closed: bool,
    model: String,
    /// The model request slot, held until the stream ends or is dropped.
    _slot: OwnedSemaphorePermit,
}

impl SseState {
    fn fail(&mut self, e: &ModelError) {
        tracing::warn!(model = %self.model, error = %e, "stream failed midway");
        self.pending
            .push_back(wire::sse_frame(&ApiError::from_model(e).body()));
    }

    fn close(&mut self) {
        self.pending.push_back(wire::DONE_FRAME.to_owned());
        self.closed = true;
    }
}

fn sse_response(
    events: EventStream,
    request: &CompletionRequest,
    id: String,
    slot: OwnedSemaphorePermit,
) -> Response {
    let encoder =
        wire::ChunkEncoder::new(id, unix_now(), request.model.clone(), request.include_usage);
    let state = SseState {
        pending: VecDeque::from([encoder.start()]),
        events,
        encoder,
        closed: false,
        model: request.model.clone(),
        _slot: slot,
    };
    let frames = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(frame) = s.pending.pop_front() {
                return Some((Ok::<_, Infallible>(Bytes::from(frame)), s));
            }
            if s.closed {
                return None;
            }
            match s.events.next().await {
                Some(Ok(event)) => {
                    let frames = s.encoder.event(event);
                    s.pending.extend(frames);
                    if s.encoder.is_finished() {
                        s.close();
                    }
                }
                Some(Err(e)) => {
                    s.fail(&e);
                    s.close();
                }
                None => {
                    s.fail(&ModelError::Transport(
                        "the model's stream ended without a final answer".into(),
                    ));
                    s.close();
                }
            }
        }
    });
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
