#!/usr/bin/env bash
# Every check and test of Weft, with all set-up on a fresh machine:
# formatting, clippy (host, guests, browser bindings), the guest components,
# unit and integration tests, and the browser copilot in headless Chromium.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== format"
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)
(cd crates/test-programs/guests && cargo fmt --all --check)

echo "== clippy (host crates)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== clippy (guest components, wasm32-wasip2)"
(cd plugins && cargo clippy --workspace --locked -- -D warnings)
(cd crates/test-programs/guests && cargo clippy --workspace --locked -- -D warnings)

echo "== build plugins"
scripts/build-plugins.sh

echo "== tests (guest logic, natively)"
(cd plugins && cargo test --locked -p text-scan --target "$(rustc -vV | sed -n 's/^host: //p')")

echo "== build tests"
# One build with the workspace's feature set; `weft pull` below reuses its
# binary instead of building burn a second time under other features.
cargo test --workspace --locked --no-run

echo "== clippy (browser bindings, wasm32-unknown-unknown)"
cargo clippy -p weft-web --target wasm32-unknown-unknown --locked -- -D warnings

echo "== local-model fixtures and reference"
# The independent numpy reference the local-model tests compare against.
venv="${CARGO_TARGET_DIR:-target}/ref-venv"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
if ! "$venv/bin/python" -c "import numpy, gguf, jinja2" 2>/dev/null; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check numpy gguf jinja2
fi
export WEFT_REF_PYTHON="$venv/bin/python"
# SmolLM2-135M-Instruct Q4_1, fetched once with `weft pull` and verified.
WEFT_SMOLLM2_GGUF="$(scripts/fetch-fixtures.sh)"
export WEFT_SMOLLM2_GGUF

echo "== tests"
cargo test --workspace --locked

echo "== browser copilot: build (scripts/build-web.sh) and tests in headless Chromium"
# The page's model layer (weft-web: weft-local on WebGPU, the providers on
# fetch), the components transpiled by jco, and the fixture's weights.
scripts/build-web.sh
scripts/setup-browser.sh
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
(cd web && WEFT_BIN="$target/debug/weft" npm test)
