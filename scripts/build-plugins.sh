#!/usr/bin/env bash
# Builds Weft's bundled plugins (plugins/) for wasm32-wasip2 in release, one
# package per cargo invocation, and copies the components to
# plugins/dist/<package_name>.wasm for the CLI and the examples.
#
# Cargo's output goes to <target>/wasm, where <target> is $CARGO_TARGET_DIR
# if set (relative paths are taken from the current directory, as cargo
# does), else <repo>/target.
#
#   scripts/build-plugins.sh              # all plugins
#   scripts/build-plugins.sh text-tools   # only some
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in
/*) ;;
*) target="$PWD/$target" ;;
esac

if ! rustc --print target-libdir --target wasm32-wasip2 >/dev/null 2>&1 ||
	[ ! -d "$(rustc --print target-libdir --target wasm32-wasip2)" ]; then
	echo "error: the wasm32-wasip2 target is not installed; run: rustup target add wasm32-wasip2" >&2
	exit 1
fi

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
	packages=(text-tools http-fetch kv-memory tool-loop-agent redact-model)
fi

# Flags meant for a native build would break (or needlessly rebuild) the
# wasm one.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
	CARGO_BUILD_TARGET_DIR CARGO_TARGET_DIR RUSTC_WORKSPACE_WRAPPER

dist="$root/plugins/dist"
mkdir -p "$dist"
for package in "${packages[@]}"; do
	cargo build --release \
		--manifest-path "$root/plugins/Cargo.toml" \
		--package "$package" \
		--target wasm32-wasip2 \
		--target-dir "$target/wasm"
	cp "$target/wasm/wasm32-wasip2/release/${package//-/_}.wasm" "$dist/${package//-/_}.wasm"
done

for package in "${packages[@]}"; do
	printf '%8d  %s\n' "$(wc -c <"$dist/${package//-/_}.wasm")" "plugins/dist/${package//-/_}.wasm"
done
