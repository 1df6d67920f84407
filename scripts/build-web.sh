#!/usr/bin/env bash
# Builds the browser copilot into web/dist/ (not committed):
#
#   1. the agent and tool components (plugins/, wasm32-wasip2), transpiled to
#      ES modules by jco into web/dist/components/, and the hostile test tool
#      (crates/test-programs/guests/hostile) into web/dist/test-components/
#      for the page's sandbox tests (no configuration loads it);
#   2. the model layer, crates/weft-web, for wasm32-unknown-unknown, bound by
#      wasm-bindgen into web/dist/pkg/;
#   3. WASI for components (@bytecodealliance/preview2-shim's browser build,
#      of which web/src/wasi.js offers each component an allow-list) into
#      web/dist/shim/, and the page itself (web/src/);
#   4. the local model's weights (SmolLM2-135M-Instruct Q4_1, fetched once
#      with `weft pull`, or $WEFT_SMOLLM2_GGUF) linked into web/dist/models/.
#
# Serve it with its Content-Security-Policy and isolation headers:
#   node web/serve.mjs --port 8080            # then open http://127.0.0.1:8080/
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
dist="$root/web/dist"

echo "== web: npm packages (jco, preview2-shim, playwright-core)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)

echo "== web: components (jco transpile)"
scripts/build-plugins.sh tool-loop-agent text-tools kv-memory >/dev/null
rm -rf "$dist"
mkdir -p "$dist/components" "$dist/models"
# The agent's blocking imports (the model, tools, approval) are served by
# asynchronous page code: JSPI suspends the component while they run.
async_imports=(
	'weft:plugins/model@0.1.0#chat'
	'weft:plugins/model@0.1.0#chat-stream'
	'weft:plugins/model@0.1.0#[method]response-stream.next'
	'weft:plugins/toolbox@0.1.0#call'
	'weft:plugins/approval@0.1.0#request'
)
transpile() {
	local name="$1"
	shift
	web/node_modules/.bin/jco transpile "plugins/dist/$name.wasm" --name "$name" \
		-o "$dist/components/$name" --instantiation async --no-typescript --quiet "$@"
}
transpile tool_loop_agent --async-mode jspi --async-imports "${async_imports[@]}" \
	--async-exports 'weft:plugins/agent@0.1.0#run'
transpile text_tools
transpile kv_memory

# The hostile test tool, as the host's Rust tests use it. It speaks
# wasi:http, whose blocking waits the browser serves asynchronously: JSPI
# suspends the tool (in its worker) while a request is under way.
cargo build -p test-programs-artifacts --locked
hostile="$target/wasm/wasm32-wasip2/release/hostile.wasm"
# jco ignores an async import whose version the component does not use, so
# the names carry the version the component imports.
wasi="$(web/node_modules/.bin/jco wit "$hostile" | sed -n 's|^ *import wasi:io/poll@\([0-9.]*\);|\1|p')"
[ -n "$wasi" ] || { echo "hostile.wasm does not import wasi:io/poll" >&2; exit 1; }
wasi_async_imports=(
	"wasi:io/poll@$wasi#[method]pollable.block"
	"wasi:io/poll@$wasi#poll"
	"wasi:io/streams@$wasi#[method]input-stream.blocking-read"
	"wasi:io/streams@$wasi#[method]input-stream.blocking-skip"
)
web/node_modules/.bin/jco transpile "$hostile" --name hostile \
	-o "$dist/test-components/hostile" --instantiation async --no-typescript --quiet \
	--async-mode jspi --async-imports "${wasi_async_imports[@]}" --async-exports 'weft:plugins/tool@0.1.0#call'

echo "== web: the model layer (weft-web, wasm32-unknown-unknown)"
cargo build -p weft-web --target wasm32-unknown-unknown --locked
# The wasm-bindgen CLI must match the crate's version exactly; it is kept
# beside cargo's output so CI caches it with the target directory.
version="$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)"
bindgen="$target/tools/bin/wasm-bindgen"
if ! "$bindgen" --version 2>/dev/null | grep -qF "$version"; then
	# Not --locked: the CLI's lock file pins a webpki-roots this registry lacks.
	cargo install wasm-bindgen-cli --version "=$version" --root "$target/tools"
fi
"$bindgen" --target web --no-typescript --out-dir "$dist/pkg" \
	"$target/wasm32-unknown-unknown/debug/weft_web.wasm"

echo "== web: page and WASI shim"
cp web/src/* "$dist/"
cp -r web/node_modules/@bytecodealliance/preview2-shim/dist/browser "$dist/shim"

echo "== web: model weights"
gguf="${WEFT_SMOLLM2_GGUF:-$(scripts/fetch-fixtures.sh)}"
ln -f "$gguf" "$dist/models/SmolLM2-135M-Instruct.Q4_1.gguf" 2>/dev/null ||
	cp "$gguf" "$dist/models/SmolLM2-135M-Instruct.Q4_1.gguf"

du -sh "$dist/pkg" "$dist/components" | sed 's/^/   /'
echo "built web/dist: serve it with  node web/serve.mjs --port 8080"
