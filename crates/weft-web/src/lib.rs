//! **weft-web**: Weft's model layer in a web page, bound for JavaScript with
//! wasm-bindgen.
//!
//! The browser copilot (`web/`) runs agent and tool components transpiled by
//! jco on the page; their `model` import is served by this crate, from a Web
//! Worker:
//!
//! - [`WebModel::load_local`]: [`weft_local`]'s transformer on burn's WebGPU
//!   backend (or the Flex CPU backend where there is no WebGPU), its GGUF file
//!   read tensor by tensor from the page's storage;
//! - [`WebModel::connect`]: any [`weft_providers`] provider, its requests
//!   carried by the browser's `fetch`, the API key held here and never handed
//!   to a component.
//!
//! Every answer streams ([`WebModel::chat`]) and is priced by the model
//! factory's metering (`weft-meter`), which this crate only reads. [`validate_arguments`] checks tool arguments
//! against a tool's JSON Schema as the native host does.
//!
//! On targets other than `wasm32` the crate is empty.

#[cfg(target_arch = "wasm32")]
mod source;
#[cfg(target_arch = "wasm32")]
mod web_model;

#[cfg(target_arch = "wasm32")]
pub use web_model::{WebModel, validate_arguments};
