//! Weft's cross-crate integration tests, in one test binary.
//!
//! Each module was once its own binary under `tests/`; every one of them
//! linked wasmtime and the whole host, so one binary links them once (the
//! pattern of wasmtime's own `tests/all`). Run one area with a filter, e.g.
//! `cargo test -p weft-tests --test all sandbox::`.

mod agent;
mod examples;
mod hardening;
mod host;
mod routing;
mod sandbox;
mod telemetry;
