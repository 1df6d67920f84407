"""The Python half of Weft's model-layer overhead benchmark.

Run by ``benches/overhead.rs`` (through ``scripts/bench-model-layer.sh``)
against the loopback upstream it starts. Measures, interleaved in rounds
after a warm-up:

- ``direct``: a raw ``httpx.Client`` POST (keep-alive) of the exact body
  Weft sends, the whole response read; for streaming, the time until the
  first chunk with non-empty ``content`` arrives, and to the end;
- ``litellm``: ``litellm.completion(model="openai/<model>", api_base=...,
  api_key="x", messages=...)``, plain and with ``stream=True`` (time to the
  first chunk with non-empty ``delta.content``, and to the end).

Prints progress on stderr and one JSON line on stdout:
``{"versions": {...}, "series": {"direct.plain": [ns, ...], ...}}``.
Only 127.0.0.1 is contacted.
"""

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version

# LiteLLM fetches its model cost map from the network at import unless told
# to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
import litellm  # noqa: E402

NEEDLE = b'"content":"'


def has_text_delta(seen: bytes) -> bool:
    """True once ``seen`` holds a streamed chunk with non-empty content."""
    start = 0
    while True:
        i = seen.find(NEEDLE, start)
        if i < 0 or i + len(NEEDLE) >= len(seen):
            return False
        if seen[i + len(NEEDLE)] != ord('"'):
            return True
        start = i + 1


class Bench:
    def __init__(self, args):
        self.base_url = args.base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = args.model
        self.expect = args.expect
        self.plain_body = args.plain_body.encode()
        self.stream_body = args.stream_body.encode()
        request = json.loads(args.plain_body)
        self.messages = request["messages"]
        self.extra = {}
        for key in ("max_tokens", "max_completion_tokens"):
            if key in request:
                self.extra["max_tokens"] = request[key]
        self.headers = {"content-type": "application/json", "authorization": "Bearer x"}
        self.client = httpx.Client()
        litellm.suppress_debug_info = True

    # Direct -----------------------------------------------------------

    def direct_plain(self):
        start = time.perf_counter_ns()
        r = self.client.post(self.url, content=self.plain_body, headers=self.headers)
        body = r.content
        elapsed = time.perf_counter_ns() - start
        if r.status_code != 200 or self.expect.encode() not in body:
            raise RuntimeError(f"direct: unexpected answer {r.status_code} {body[:200]!r}")
        return elapsed

    def direct_stream(self):
        start = time.perf_counter_ns()
        ttft = None
        seen = b""
        with self.client.stream(
            "POST", self.url, content=self.stream_body, headers=self.headers
        ) as r:
            for chunk in r.iter_raw():
                if ttft is None:
                    seen += chunk
                    if has_text_delta(seen):
                        ttft = time.perf_counter_ns() - start
        total = time.perf_counter_ns() - start
        if r.status_code != 200 or ttft is None:
            raise RuntimeError(f"direct stream: status {r.status_code}, no text")
        return ttft, total

    # LiteLLM ----------------------------------------------------------

    def litellm_plain(self):
        start = time.perf_counter_ns()
        r = litellm.completion(
            model="openai/" + self.model,
            api_base=self.base_url,
            api_key="x",
            messages=self.messages,
            **self.extra,
        )
        elapsed = time.perf_counter_ns() - start
        if r.choices[0].message.content != self.expect:
            raise RuntimeError(f"litellm: unexpected answer {r!r}")
        return elapsed

    def litellm_stream(self):
        start = time.perf_counter_ns()
        ttft = None
        text = []
        stream = litellm.completion(
            model="openai/" + self.model,
            api_base=self.base_url,
            api_key="x",
            messages=self.messages,
            stream=True,
            **self.extra,
        )
        for chunk in stream:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    if ttft is None:
                        ttft = time.perf_counter_ns() - start
                    text.append(content)
        total = time.perf_counter_ns() - start
        if ttft is None or "".join(text) != self.expect:
            raise RuntimeError(f"litellm stream: unexpected text {''.join(text)!r}")
        return ttft, total

    def once(self, path, series):
        plain, stream = {
            "direct": (self.direct_plain, self.direct_stream),
            "litellm": (self.litellm_plain, self.litellm_stream),
        }[path]
        series[path + ".plain"].append(plain())
        ttft, total = stream()
        series[path + ".ttft"].append(ttft)
        series[path + ".stream_total"].append(total)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--expect", required=True, help="the canned answer text")
    p.add_argument("--plain-body", required=True)
    p.add_argument("--stream-body", required=True)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    if not args.base_url.startswith("http://127.0.0.1:"):
        sys.exit("litellm_overhead.py: only a 127.0.0.1 upstream is allowed")

    bench = Bench(args)
    paths = ["direct", "litellm"]
    scratch = {f"{p}.{k}": [] for p in paths for k in ("plain", "ttft", "stream_total")}
    t0 = time.monotonic()
    for path in paths:
        for _ in range(args.warmup):
            bench.once(path, scratch)
    series = {f"{p}.{k}": [] for p in paths for k in ("plain", "ttft", "stream_total")}
    per_round = -(-args.iters // args.rounds)
    for rnd in range(args.rounds):
        for i in range(len(paths)):
            path = paths[(i + rnd) % len(paths)]
            for _ in range(per_round):
                bench.once(path, series)
    print(
        f"python: {args.warmup} warm-up + {per_round * args.rounds} measured calls per path, "
        f"{args.rounds} rounds, {time.monotonic() - t0:.1f} s",
        file=sys.stderr,
    )
    versions = {
        "python": platform.python_version(),
        "litellm": version("litellm"),
        "httpx": version("httpx"),
        "openai": version("openai"),
    }
    print(json.dumps({"versions": versions, "series": series}))


if __name__ == "__main__":
    main()
