#!/usr/bin/env bash
# The local-model benchmark (issue 4): `weft bench` on SmolLM2-135M-Instruct
# Q4_1, beside llama.cpp on the same GGUF file, prompt token ids and thread
# count, in one run. Prints prefill and decode tok/s, peak RSS, the
# Weft/llama.cpp ratios, and whether both engines decode the same greedy
# tokens.
#
# Sets up (idempotently) a virtualenv with llama-cpp-python under
# target/llama-venv. It builds from source, about 12 minutes here; the CMake
# flags avoid its AMX code, which dies with SIGILL on this CPU. If that
# fails, Weft's half still runs. Arguments go to `weft bench`:
#   --threads N --prompt-tokens N --decode-tokens N --runs N --backend cpu|wgpu
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
VENV="${CARGO_TARGET_DIR:-target}/llama-venv"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PY="$VENV/bin/python"

have_llama_cpp() {
	"$PY" - "$LLAMA_CPP_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("llama_cpp_python") == sys.argv[1] else 1)
PYEOF
}

if ! have_llama_cpp; then
	echo "== setting up $VENV with llama-cpp-python==$LLAMA_CPP_VERSION (builds from source)" >&2
	if { [ -x "$PY" ] || python3 -m venv "$VENV"; } &&
		CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
			"$PY" -m pip install --quiet --disable-pip-version-check \
			"llama-cpp-python==$LLAMA_CPP_VERSION"; then
		:
	else
		echo "warning: could not install llama-cpp-python; measuring Weft alone" >&2
	fi
fi

model="$(scripts/fetch-fixtures.sh)"
echo "== weft bench $model" >&2
cargo build -q --locked -p weft-cli --bin weft
exec "${CARGO_TARGET_DIR:-target}/debug/weft" bench "$model" --peer-python "$PY" "$@"
