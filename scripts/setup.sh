#!/usr/bin/env bash
# Installs what building Weft needs beyond a stock Rust toolchain: the two
# WebAssembly targets and the rustfmt/clippy components. Safe to re-run.
set -euo pipefail
rustup target add wasm32-wasip2 wasm32-unknown-unknown >/dev/null
rustup component add rustfmt clippy >/dev/null
