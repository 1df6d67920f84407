#!/usr/bin/env bash
# Builds the browser copilot into web/dist/ (not committed):
#
#   1. the agent and tool components (plugins/, wasm32-wasip2), transpiled to
#      ES modules by jco into web/dist/components/;
#   2. the model layer, crates/weft-web, for wasm32-unknown-unknown, bound by
#      wasm-bindgen into web/dist/pkg/;
#   3. WASI for components (@bytecodealliance/preview2-shim's browser build)
#      into web/dist/shim/, and the page itself (web/src/);
#   4. the local model's weights (SmolLM2-135M-Instruct Q4_1, fetched once
#      with `weft pull`, or $WEFT_SMOLLM2_GGUF) linked into web/dist/models/.
#
# Serve it from any static server, e.g.
#   python3 -m http.server -d web/dist 8080   # then open http://127.0.0.1:8080/
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
echo "built web/dist: serve it with  python3 -m http.server -d web/dist 8080"
