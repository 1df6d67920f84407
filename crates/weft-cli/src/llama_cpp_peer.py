"""llama.cpp's side of `weft bench`: the same GGUF file, prompt token ids,
thread count and greedy decoding, through llama-cpp-python.

Prints one JSON object: the engine, prefill and decode tokens per second
(median of the runs, after one untimed run), peak RSS, and the greedy
tokens; or {"error": ...} when llama-cpp-python cannot run.
"""
import argparse
import json
import statistics
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--threads", type=int, required=True)
parser.add_argument("--tokens", required=True, help="comma-separated prompt token ids")
parser.add_argument("--decode", type=int, required=True)
parser.add_argument("--runs", type=int, required=True)
args = parser.parse_args()

try:
    import llama_cpp
    import numpy as np
except ImportError as e:
    print(json.dumps({"error": f"llama-cpp-python is not installed ({e})"}))
    sys.exit(0)



def peak_rss():
    """This process's peak resident memory in bytes (VmHWM; unlike
    getrusage's ru_maxrss it does not carry over the parent's peak across
    exec), or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


prompt = [int(t) for t in args.tokens.split(",")]
llm = llama_cpp.Llama(
    model_path=args.model,
    n_ctx=len(prompt) + args.decode + 8,
    n_batch=max(512, len(prompt)),
    n_threads=args.threads,
    n_threads_batch=args.threads,
    verbose=False,
)

n_vocab = llm.n_vocab()


def last_logits():
    """The logits of the last position evaluated (llama.cpp keeps only those
    unless every position's are asked for, which would slow its prefill)."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))


prefill, decode, generated = [], [], []
for run in range(args.runs + 1):
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    prefill_time = time.perf_counter() - started
    generated = []
    started = time.perf_counter()
    for _ in range(args.decode):
        token = int(np.argmax(last_logits()))
        generated.append(token)
        llm.eval([token])
    decode_time = time.perf_counter() - started
    if run > 0:
        prefill.append(len(prompt) / prefill_time)
        decode.append(args.decode / decode_time)

print(json.dumps({
    "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
    "prefill": statistics.median(prefill),
    "decode": statistics.median(decode),
    "peak_rss": peak_rss(),
    "tokens": generated,
}))
