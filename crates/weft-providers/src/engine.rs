//! What every provider shares: configuration checks, headers and auth,
//! planning (adaptation), sending through the transport, error
//! classification, client-side validation with one repair attempt, and the
//! streamed/unstreamed plumbing. A provider contributes only its [`Wire`]
//! format.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use weft_model::model::{EventStream, MaybeSend, MaybeSync, events_from_response, stream_of};
use weft_model::types::{
    Capabilities, ChatRequest, ChatResponse, Message, ModelError, StreamEvent,
};

use crate::adapt::{Adaptation, Plan, Validation, plan};
use crate::catalog::{AuthStyle, ModelCaps, Profile, catalog};
use crate::config::{ConfigError, ProviderConfig};
use crate::http_error::classify_for;
use crate::redact;
use crate::schema::validate_answer;
use crate::streaming::{self, StreamDecoder};
use crate::transport::{Header, HttpRequest, HttpResponse, ReqwestTransport, Transport};
use crate::wire_util::body_bytes;

/// One provider's wire format.
pub(crate) trait Wire: MaybeSend + MaybeSync + 'static {
    /// The endpoint for a call.
    fn url(&self, core: &Core, stream: bool) -> String;
    /// The request body for a planned request.
    fn body(&self, core: &Core, plan: &Plan, stream: bool) -> Result<Value, ModelError>;
    /// Reads a complete (unstreamed) response body.
    fn parse(&self, core: &Core, body: &str) -> Result<ChatResponse, ModelError>;
    /// How this format's streamed responses are decoded.
    type Decoder: StreamDecoder;
    /// A decoder for a streamed response.
    fn decoder(&self, core: &Core) -> Self::Decoder;
}

/// A provider's configuration, resolved.
pub(crate) struct Core {
    pub config: ProviderConfig,
    pub provider: String,
    pub profile: Profile,
    pub caps: ModelCaps,
    pub capabilities: Capabilities,
    /// The API root without a trailing slash.
    pub base: String,
    headers: Vec<Header>,
    /// `key=...` for query-key auth.
    query_key: Option<String>,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .field("profile", &self.profile.name)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        invalid(if redact::is_sensitive_header(name) {
            "the value holds characters not allowed in a header".into()
        } else {
            format!("the value `{value}` holds characters not allowed in a header")
        })
    })?;
    Ok(())
}

impl Core {
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let base = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConfigError::InvalidBaseUrl(redact::url(&config.base_url)));
        }
        let profile = catalog().profile_or_generic(&config.provider_name).clone();
        let caps = config.resolved_capabilities();
        let provider = config.provider_name.clone();

        let mut headers = vec![Header::new("content-type", "application/json")];
        for (k, v) in &profile.headers {
            headers.push(Header::new(k.clone(), v.clone()));
        }
        for (k, v) in &config.extra_headers {
            check_header(k, v)?;
            headers.push(Header::new(k.clone(), v.clone()));
        }
        let mut query_key = None;
        if let Some(key) = &config.api_key {
            let key = key.expose();
            let bad_key = || ConfigError::InvalidHeader {
                name: "api key".into(),
                reason: "the API key holds characters not allowed in a header".into(),
            };
            match profile.auth {
                AuthStyle::Bearer | AuthStyle::None => {
                    check_header("authorization", &format!("Bearer {key}"))
                        .map_err(|_| bad_key())?;
                    headers.push(Header::secret("authorization", format!("Bearer {key}")));
                }
                AuthStyle::XApiKey => {
                    check_header("x-api-key", key).map_err(|_| bad_key())?;
                    headers.push(Header::secret("x-api-key", key));
                }
                AuthStyle::XGoogApiKey => {
                    check_header("x-goog-api-key", key).map_err(|_| bad_key())?;
                    headers.push(Header::secret("x-goog-api-key", key));
                }
                AuthStyle::QueryKey => {
                    if key
                        .chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || "-_.~".contains(c)))
                    {
                        return Err(bad_key());
                    }
                    query_key = Some(key.to_owned());
                }
            }
        }
        let transport: Arc<dyn Transport> = match &config.transport {
            Some(t) => t.clone(),
            None => Arc::new(
                ReqwestTransport::new(config.timeout)
                    .map_err(|e| ConfigError::Client(e.to_string()))?,
            ),
        };
        let capabilities = caps.to_capabilities(&provider, &config.model);
        Ok(Self {
            provider,
            profile,
            caps,
            capabilities,
            base,
            headers,
            query_key,
            transport,
            config,
        })
    }

    /// The model name as configured.
    pub(crate) fn model(&self) -> &str {
        &self.config.model
    }

    /// Plans `request` for this provider and model.
    pub(crate) fn plan(&self, request: &ChatRequest) -> Plan {
        plan(
            request,
            &self.provider,
            &self.profile,
            &self.caps,
            self.config.foreign_reasoning,
        )
    }

    /// The adaptation report for `request`.
    pub(crate) fn adaptation(&self, request: &ChatRequest) -> Adaptation {
        self.plan(request).adaptation
    }

    fn http_request(&self, url: String, body: &Value, stream: bool) -> HttpRequest {
        let url = match &self.query_key {
            Some(key) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}key={key}")
            }
            None => url,
        };
        let mut headers = self.headers.clone();
        if stream {
            headers.push(Header::new("accept", "text/event-stream"));
        }
        HttpRequest {
            provider: self.provider.clone(),
            method: "POST".into(),
            url,
            headers,
            body: body_bytes(body),
            stream,
            timeout: self.config.timeout,
        }
    }

    /// Removes any credential from an error's message.
    fn scrub(&self, err: ModelError) -> ModelError {
        let mut secrets: Vec<String> = self.query_key.iter().cloned().collect();
        if let Some(k) = &self.config.api_key {
            secrets.push(k.expose().to_owned());
        }
        secrets.extend(
            self.headers
                .iter()
                .filter(|h| h.sensitive)
                .map(|h| h.value.clone()),
        );
        let s = |m: String| redact::scrub(&m, &secrets);
        match err {
            ModelError::RateLimited {
                retry_after_ms,
                message,
            } => ModelError::RateLimited {
                retry_after_ms,
                message: s(message),
            },
            ModelError::Auth(m) => ModelError::Auth(s(m)),
            ModelError::InsufficientBalance(m) => ModelError::InsufficientBalance(s(m)),
            ModelError::ContextTooLong(m) => ModelError::ContextTooLong(s(m)),
            ModelError::Unsupported(m) => ModelError::Unsupported(s(m)),
            ModelError::ContentFiltered(m) => ModelError::ContentFiltered(s(m)),
            ModelError::Overloaded(m) => ModelError::Overloaded(s(m)),
            ModelError::Timeout(m) => ModelError::Timeout(s(m)),
            ModelError::Transport(m) => ModelError::Transport(s(m)),
            ModelError::Denied(m) => ModelError::Denied(s(m)),
            ModelError::Provider { status, body } => ModelError::Provider {
                status,
                body: s(body),
            },
        }
    }

    /// Sends a request; a non-success status becomes the matching error.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ModelError> {
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| self.scrub(e))?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let status = response.status;
        let headers = response.headers.clone();
        let body = response.text().await.unwrap_or_default();
        Err(self.scrub(classify_for(
            &self.profile,
            &self.provider,
            status,
            &headers,
            &body,
        )))
    }

    /// One unstreamed exchange for `plan`.
    async fn call_once<W: Wire>(&self, wire: &W, plan: &Plan) -> Result<ChatResponse, ModelError> {
        let body = wire.body(self, plan, false)?;
        let response = self
            .send(self.http_request(wire.url(self, false), &body, false))
            .await?;
        let text = response.text().await.map_err(|e| self.scrub(e))?;
        wire.parse(self, &text).map_err(|e| self.scrub(e))
    }

    /// A planned unstreamed call, with client-side validation and one
    /// repair attempt where the plan asks for it.
    async fn chat_planned<W: Wire>(
        &self,
        wire: &W,
        plan: &Plan,
    ) -> Result<ChatResponse, ModelError> {
        let first = self.call_once(wire, plan).await?;
        let Some(validation) = &plan.validation else {
            return Ok(first);
        };
        if first.has_tool_calls() {
            return Ok(first);
        }
        let (schema, what) = match validation {
            Validation::JsonObject => (None, "a JSON object".to_owned()),
            Validation::Schema { name, schema } => {
                (Some(schema), format!("the JSON Schema `{name}`"))
            }
        };
        let problems = match validate_answer(&first.text(), schema) {
            Ok(_) => return Ok(first),
            Err(p) => p,
        };
        tracing::debug!(
            provider = %self.provider,
            problems = problems.len(),
            "answer failed client-side validation; one repair attempt"
        );
        let mut repair = plan.clone();
        repair.request.messages.push(first.message.clone());
        repair.request.messages.push(Message::user(format!(
            "Your previous answer is not valid: {}. Reply again with only the corrected JSON, nothing else.",
            problems.join("; ")
        )));
        let mut second = self.call_once(wire, &repair).await?;
        // Both calls are billed.
        second.usage.add(&first.usage);
        match validate_answer(&second.text(), schema) {
            Ok(_) => Ok(second),
            Err(problems) => Err(ModelError::Unsupported(format!(
                "{}/{}: the answer does not satisfy {what} after one repair attempt: {}",
                self.provider,
                self.model(),
                problems.join("; ")
            ))),
        }
    }

    pub(crate) async fn chat<W: Wire>(
        &self,
        wire: &W,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ModelError> {
        let plan = self.plan(request);
        if let Some(e) = plan.refusal() {
            return Err(e);
        }
        self.chat_planned(wire, &plan).await
    }

    pub(crate) async fn chat_stream<W: Wire>(
        &self,
        wire: &W,
        request: &ChatRequest,
    ) -> Result<EventStream, ModelError> {
        let plan = self.plan(request);
        if let Some(e) = plan.refusal() {
            return Err(e);
        }
        if plan.buffer_stream || plan.unstreamed_tools {
            let answer = self.chat_planned(wire, &plan).await?;
            return Ok(replay(&answer));
        }
        let body = wire.body(self, &plan, true)?;
        let response = self
            .send(self.http_request(wire.url(self, true), &body, true))
            .await?;
        if response.is_json() {
            // A server that ignored `stream: true` answered in one piece.
            let text = response.text().await.map_err(|e| self.scrub(e))?;
            let answer = wire.parse(self, &text).map_err(|e| self.scrub(e))?;
            return Ok(replay(&answer));
        }
        Ok(streaming::event_stream(response.body, wire.decoder(self)))
    }

    /// The body `request` would be sent with.
    pub(crate) fn request_body<W: Wire>(
        &self,
        wire: &W,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Value, ModelError> {
        let plan = self.plan(request);
        if let Some(e) = plan.refusal() {
            return Err(e);
        }
        wire.body(self, &plan, stream)
    }
}

fn replay(answer: &ChatResponse) -> EventStream {
    let events: Vec<Result<StreamEvent, ModelError>> =
        events_from_response(answer).into_iter().map(Ok).collect();
    stream_of(events)
}

/// Defines a public provider type over a [`Wire`].
macro_rules! provider_type {
    ($(#[$doc:meta])* $name:ident, $wire:expr) => {
        $(#[$doc])*
        pub struct $name {
            core: crate::engine::Core,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("core", &self.core)
                    .finish()
            }
        }

        impl $name {
            /// A provider for `config`. Its capabilities come from the
            /// catalog entry for the configured provider and model (or
            /// [`crate::ProviderConfig::capabilities`]).
            pub fn new(config: crate::config::ProviderConfig) -> Result<Self, crate::config::ConfigError> {
                Ok(Self {
                    core: crate::engine::Core::new(config)?,
                })
            }

            /// This provider reporting `capabilities` (the WIT record)
            /// instead of the catalog's.
            pub fn with_capabilities(mut self, capabilities: weft_model::types::Capabilities) -> Self {
                self.core.capabilities = capabilities;
                self
            }

            /// The configuration it was built from.
            pub fn config(&self) -> &crate::config::ProviderConfig {
                &self.core.config
            }

            /// The profile it speaks through.
            pub fn profile(&self) -> &crate::catalog::Profile {
                &self.core.profile
            }

            /// The capability-table entry it adapts requests to.
            pub fn model_caps(&self) -> &crate::catalog::ModelCaps {
                &self.core.caps
            }

            /// What would be changed in `request` before sending it (the
            /// `check` dry run for this provider).
            pub fn adaptation(&self, request: &weft_model::types::ChatRequest) -> crate::adapt::Adaptation {
                self.core.adaptation(request)
            }

            /// The request body this provider would send for `request`
            /// after adaptation (it never holds the API key).
            pub fn request_body(
                &self,
                request: &weft_model::types::ChatRequest,
                stream: bool,
            ) -> Result<serde_json::Value, weft_model::types::ModelError> {
                self.core.request_body(&$wire, request, stream)
            }
        }

        impl weft_model::model::Model for $name {
            fn capabilities(&self) -> weft_model::types::Capabilities {
                self.core.capabilities.clone()
            }

            fn chat<'a>(
                &'a self,
                request: &'a weft_model::types::ChatRequest,
            ) -> weft_model::model::BoxFuture<'a, Result<weft_model::types::ChatResponse, weft_model::types::ModelError>> {
                Box::pin(self.core.chat(&$wire, request))
            }

            fn chat_stream<'a>(
                &'a self,
                request: &'a weft_model::types::ChatRequest,
            ) -> weft_model::model::BoxFuture<'a, Result<weft_model::model::EventStream, weft_model::types::ModelError>> {
                Box::pin(self.core.chat_stream(&$wire, request))
            }
        }
    };
}

pub(crate) use provider_type;
