#!/usr/bin/env bash
# The main job on a fresh machine: build the plugins and the CLI, fetch the
# embedded default model (SmolLM2-135M-Instruct, Q4_1 GGUF: sha256-checked,
# cached in the user's cache directory), then run the support-ticket triage
# example end to end on it, on the CPU, with no account and no network beyond
# the one download.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-plugins.sh
cargo build -q --locked -p weft-cli --bin weft
weft="${CARGO_TARGET_DIR:-target}/debug/weft"
"$weft" pull smollm2-135m >/dev/null
"$weft" run examples/triage/weft.toml --input-file examples/triage/ticket.txt \
	--model local:smollm2-135m --verbose
