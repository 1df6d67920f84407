#!/usr/bin/env bash
# The model-layer overhead benchmark (issue 3, "Benchmark"): Weft's providers
# and router against a raw HTTP client, and LiteLLM against a raw Python
# client, all against one loopback OpenAI-compatible upstream on 127.0.0.1,
# in one run. Prints p50/p99 per path, the latency each layer adds, and the
# LiteLLM/Weft overhead ratios.
#
# Sets up (idempotently) a virtualenv with LiteLLM under target/bench-venv;
# if that fails, the Rust half still runs. Arguments go to the bench binary:
#   --iters N --warmup N --py-iters N --py-warmup N --rounds N --no-python
# (see crates/weft-bench/benches/overhead.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="${LITELLM_VERSION:-1.110.2}"
VENV=target/bench-venv
PY="$VENV/bin/python"

have_litellm() {
    "$PY" - "$LITELLM_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("litellm") == sys.argv[1] else 1)
PYEOF
}

if ! have_litellm; then
    echo "== setting up $VENV with litellm==$LITELLM_VERSION" >&2
    if { [ -x "$PY" ] || python3 -m venv "$VENV"; } &&
        "$PY" -m pip install --quiet --disable-pip-version-check "litellm==$LITELLM_VERSION"; then
        :
    else
        echo "warning: could not install litellm==$LITELLM_VERSION; running the Rust half only" >&2
    fi
fi

if have_litellm; then
    export WEFT_BENCH_PYTHON="$PWD/$PY"
else
    set -- --no-python "$@"
fi

echo "== cargo bench -p weft-bench --bench overhead (release)" >&2
exec cargo bench --locked -p weft-bench --bench overhead -- "$@"
