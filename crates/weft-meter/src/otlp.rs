//! OTLP export of the per-call spans (feature `otlp`, native targets only).
//!
//! Spans go over OTLP/HTTP with protobuf bodies through reqwest (no gRPC),
//! batched on a background thread. Add the returned layer to your
//! `tracing_subscriber::Registry`, keep the guard alive, and drop it (or
//! call [`OtlpGuard::shutdown`]) at exit to flush:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! # fn main() -> Result<(), weft_meter::otlp::OtlpError> {
//! let config = weft_meter::otlp::OtlpConfig::from_env()
//!     .unwrap_or_else(|| weft_meter::otlp::OtlpConfig::new("http://localhost:4318/v1/traces"));
//! let (layer, _guard) = weft_meter::otlp::layer(&config)?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::set_global_default(subscriber).ok();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;
use weft_model::Secret;

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The full traces URL, e.g. `http://localhost:4318/v1/traces`.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Extra HTTP headers (an collector's API key, ...); values never print.
    pub headers: Vec<(String, Secret)>,
    /// The export request timeout.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// Export to `endpoint` as service `weft`, with a 10 s timeout.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            service_name: "weft".into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The configuration the standard environment variables ask for:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full URL), else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`; `OTEL_SERVICE_NAME`.
    /// `None` when no endpoint is set (export is off).
    pub fn from_env() -> Option<Self> {
        let endpoint = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                let base = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?;
                if base.trim().is_empty() {
                    return None;
                }
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
        };
        let mut config = Self::new(endpoint);
        if let Ok(name) = std::env::var("OTEL_SERVICE_NAME")
            && !name.trim().is_empty()
        {
            config.service_name = name;
        }
        Some(config)
    }
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Build(String),
}

/// Keeps the exporter running; flushes and stops it when dropped.
pub struct OtlpGuard {
    provider: Option<SdkTracerProvider>,
}

impl OtlpGuard {
    /// Flushes pending spans and stops the exporter.
    pub fn shutdown(mut self) -> Result<(), OtlpError> {
        match self.provider.take() {
            Some(p) => p.shutdown().map_err(|e| OtlpError::Build(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// A `tracing` layer exporting spans over OTLP/HTTP (protobuf), and its
/// guard.
pub fn layer<S>(
    config: &OtlpConfig,
) -> Result<(OpenTelemetryLayer<S, Tracer>, OtlpGuard), OtlpError>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let headers: HashMap<String, String> = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(headers)
        .build()
        .map_err(|e| OtlpError::Build(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("weft-router");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Ok((
        layer,
        OtlpGuard {
            provider: Some(provider),
        },
    ))
}
