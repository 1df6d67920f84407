#!/usr/bin/env bash
# The main job on a fresh machine: build the plugins and the CLI, then run
# the support-ticket triage example end to end on the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-plugins.sh
cargo run -q -p weft-cli -- run examples/triage/weft.toml --input-file examples/triage/ticket.txt --verbose
