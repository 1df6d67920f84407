//! Weft's metering: what a model call costs and how it is traced, as one
//! layer, [`Metered`], that the model factory (`weft-models`) puts around
//! every model it builds, so nothing above it prices or traces on its own.
//!
//! - [`cost`]: a versioned, dated [`PriceCatalog`] (bundled as
//!   `data/prices.toml`) with cache-read and cache-write prices, DeepSeek's
//!   peak/off-peak schedule, context-length tiers and CNY prices;
//!   [`PriceCatalog::cost`] turns a call's usage into a [`Cost`].
//! - [`telemetry`]: a `tracing` span per model call with the OpenTelemetry
//!   GenAI attributes and the call's cost, and [`redact`]; with the `otlp`
//!   feature, `otlp` exports the spans over OTLP/HTTP.
//! - [`Metered`]: prices every answer (its [`weft_model::Charge`], on the
//!   final usage) and traces every call of the model it wraps, once.
//! - [`calendar`]: the small UTC calendar the prices' schedules need.
//!
//! It compiles for `wasm32-unknown-unknown` too (the browser's models are
//! metered the same way).

// On wasm32 models are neither `Send` nor `Sync` (see `weft_model::MaybeSend`).
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod calendar;
pub mod cost;
mod metered;
#[cfg(all(feature = "otlp", not(target_arch = "wasm32")))]
pub mod otlp;
pub mod telemetry;

pub use cost::{
    BUNDLED_PRICES, CatalogError, Cost, CostBreakdown, CostError, Currency, LineItem, ModelPrice,
    PriceCatalog, Rates, Schedule, Tier,
};
pub use metered::Metered;
pub use telemetry::redact;
