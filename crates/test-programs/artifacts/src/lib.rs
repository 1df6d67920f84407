//! **test-programs-artifacts** — absolute paths to Weft's guest components,
//! built for `wasm32-wasip2` (release) by this crate's build script.
//!
//! The build script runs a nested `cargo build --release --target
//! wasm32-wasip2 -p NAME` for each of the plugins in `plugins/` and the test
//! guests in `crates/test-programs/guests/`, into `<target>/wasm` (the
//! target directory of the build that uses this crate, wherever
//! `CARGO_TARGET_DIR` puts it). It reruns when the guests, the SDK or
//! `wit/` change, and fails with a hint when the `wasm32-wasip2` target is
//! not installed (`rustup target add wasm32-wasip2`).
//!
//! ```ignore
//! let bytes = std::fs::read(test_programs_artifacts::TEXT_TOOLS)?;
//! ```

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
