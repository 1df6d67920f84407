#!/usr/bin/env bash
# Every check and test of Weft, with all set-up on a fresh machine:
# formatting, clippy (host and guests), the guest components, unit and
# integration tests. `.ci/run` calls exactly this.
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

echo "== tests"
cargo test --workspace --locked
