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
//! Requests are passed straight to the model, concurrently; a model that can
//! only run one generation at a time (a local model) queues them itself.
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
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use weft_model::{EventStream, Model, ModelError};

pub use error::ApiError;
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
}

/// The models a server serves, by name.
pub type Models = BTreeMap<String, Arc<dyn Model>>;

struct AppState {
    models: Models,
    ids: AtomicU64,
}

/// An OpenAI-compatible server over named models.
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
    body_limit: usize,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("models", &self.state.models.keys().collect::<Vec<_>>())
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl Server {
    /// A server for `models`, each under its name (the `model` a request
    /// names and `/v1/models` lists).
    pub fn new(models: Models) -> Self {
        Self {
            state: Arc::new(AppState {
                models,
                ids: AtomicU64::new(0),
            }),
            body_limit: DEFAULT_BODY_LIMIT,
        }
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

    /// The axum router with every route, to serve or to nest in a larger
    /// application.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(list_models))
            .route("/v1/models/{*name}", get(get_model))
            .route("/health", get(|| async { "ok" }))
            .fallback(unknown_url)
            .method_not_allowed_fallback(wrong_method)
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until ctrl-c, then finishes the requests in
    /// flight and returns.
    pub async fn serve(self, listener: TcpListener) -> Result<(), ServeError> {
        self.serve_with_shutdown(listener, ctrl_c()).await
    }

    /// Serves on `listener` until `signal` completes, then finishes the
    /// requests in flight and returns.
    pub async fn serve_with_shutdown<F>(
        self,
        listener: TcpListener,
        signal: F,
    ) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!(
            addr = ?listener.local_addr().ok(),
            models = ?self.model_names().collect::<Vec<_>>(),
            "serving the OpenAI-compatible API"
        );
        axum::serve(listener, self.router())
            .with_graceful_shutdown(signal)
            .await?;
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

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::from_rejection(&e))?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::invalid_json(&e))?;
    let name = wire::requested_model(&value)?;
    let model = state
        .models
        .get(name)
        .ok_or_else(|| ApiError::model_not_found(name, state.models.keys()))?
        .clone();
    let request = wire::parse_request(&value, &model.capabilities().provider)?;
    let id = state.next_id();
    let started = Instant::now();
    if request.stream {
        let events = model.chat_stream(&request.chat).await.map_err(|e| {
            tracing::warn!(model = %request.model, error = %e, "streamed chat failed to start");
            ApiError::from_model(&e)
        })?;
        tracing::debug!(model = %request.model, %id, "streaming");
        Ok(sse_response(events, &request, id))
    } else {
        let response = model.chat(&request.chat).await.map_err(|e| {
            tracing::warn!(model = %request.model, error = %e, "chat failed");
            ApiError::from_model(&e)
        })?;
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

fn sse_response(events: EventStream, request: &CompletionRequest, id: String) -> Response {
    let encoder =
        wire::ChunkEncoder::new(id, unix_now(), request.model.clone(), request.include_usage);
    let state = SseState {
        pending: VecDeque::from([encoder.start()]),
        events,
        encoder,
        closed: false,
        model: request.model.clone(),
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
