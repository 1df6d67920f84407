#!/usr/bin/env python3
"""Write a tiny random-weight Llama / Qwen2 / Qwen3 model in the Hugging Face layout.

  make_tiny_model.py --arch qwen2|qwen3|llama --out DIR
                     [--dtype f32|bf16|f16] [--shards 1|2] [--seed N]
                     [--tie yes|no] [--vocab-size N]

DIR gets config.json, generation_config.json, model.safetensors (or two
shards plus model.safetensors.index.json), tokenizer.json (byte-level BPE:
the 256 GPT-2 byte tokens, a few dozen merges, and <|endoftext|>,
<|im_start|>, <|im_end|> as special added tokens) and tokenizer_config.json
(ChatML chat_template). Same arguments, same bytes. Needs only numpy.

Shapes: hidden 64, intermediate 128, 2 layers, 4 heads, 2 kv heads;
head_dim 16 (llama, qwen2) or 32 (qwen3, so that heads * head_dim != hidden,
as in real Qwen3). qwen2 has q/k/v biases and no head_dim in config.json;
qwen3 has q_norm/k_norm. Defaults: llama untied, qwen2 tied, qwen3 untied.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


# Merges in priority order; each joins two tokens already in the vocabulary.
# "\u0120" is GPT-2's space, "\u010a" its newline.
MERGES = [
    ("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("i", "n"), ("\u0120", "a"),
    ("e", "r"), ("o", "n"), ("r", "e"), ("\u0120", "s"), ("a", "t"),
    ("e", "n"), ("\u0120", "w"), ("i", "s"), ("\u0120", "i"), ("o", "u"),
    ("a", "n"), ("\u0120", "c"), ("i", "t"), ("\u0120", "o"), ("\u0120", "b"),
    ("\u0120", "f"), ("\u0120", "p"), ("\u0120i", "s"), ("\u0120", "h"), ("l", "l"),
    ("\u0120", "m"), ("in", "g"), ("\u0120a", "n"), ("\u0120an", "d"), ("\u0120o", "f"),
    ("\u0120t", "o"), ("\u0120w", "h"), ("\u0120wh", "at"), ("\u0120c", "a"), ("p", "it"),
    ("a", "l"), ("\u0120ca", "pit"), ("\u0120capit", "al"), ("u", "s"), ("us", "er"),
    ("\u010a", "\u010a"),
]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tokenizer():
    """(tokenizer.json dict, {special token: id}, number of tokens)."""
    byte_map = bytes_to_unicode()
    vocab = {byte_map[b]: b for b in range(256)}  # byte b is token b
    merges = []
    for a, b in MERGES:
        assert a in vocab and b in vocab, (a, b)
        assert a + b not in vocab, a + b
        vocab[a + b] = len(vocab)
        merges.append(f"{a} {b}")
    special = {}
    added = []
    for tok in SPECIAL_TOKENS:
        special[tok] = len(vocab) + len(special)
        added.append({"id": special[tok], "content": tok, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
    n_tokens = len(vocab) + len(special)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    return tokenizer, special, n_tokens


def tokenizer_config(arch, special, n_ctx):
    bos = "<|im_start|>" if arch == "llama" else None  # SmolLM2-like vs Qwen-like
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for t, i in special.items()
        },
        "bos_token": bos,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "model_max_length": n_ctx,
        "tokenizer_class": "GPT2Tokenizer" if arch == "llama" else "Qwen2Tokenizer",
    }


# ---------------------------------------------------------------------------
# Config and weights
# ---------------------------------------------------------------------------


def model_config(arch, vocab_size, tie, dtype, special):
    torch_dtype = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]
    common = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": vocab_size,
        "max_position_embeddings": 256,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "rope_scaling": None,
        "tie_word_embeddings": tie,
        "torch_dtype": torch_dtype,
        "use_cache": True,
        "eos_token_id": special["<|im_end|>"],
        "transformers_version": "4.51.0",
    }
    if arch == "llama":
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **common,
                "head_dim": 16, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
                "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1,
                "bos_token_id": special["<|im_start|>"]}
    if arch == "qwen2":  # like Qwen2.5: no head_dim key (hidden / heads = 16)
        return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **common,
                "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
                "use_sliding_window": False, "sliding_window": 256, "max_window_layers": 2,
                "bos_token_id": special["<|endoftext|>"]}
    if arch == "qwen3":  # like Qwen3: explicit head_dim, here 32 (4 * 32 = 128 != 64)
        return {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", **common,
                "head_dim": 32, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
                "attention_bias": False, "use_sliding_window": False, "sliding_window": None,
                "max_window_layers": 2, "bos_token_id": special["<|endoftext|>"]}
    raise ValueError(arch)


def make_weights(arch, cfg, seed):
    """Canonical HF tensor names -> f32 arrays, [out_features, in_features].

    Projections ~ N(0, 1/fan_in) keep activations O(1); o_proj and
    down_proj get OUT_GAIN more, so the blocks' outputs outweigh the token's
    own embedding in the residual stream (otherwise a tied model mostly
    predicts its input token back and greedy decoding repeats one token).
    The embedding has std 0.5 so that logits spread over several units.
    Norm weights are 1 + noise; biases and q/k norms clearly non-trivial.
    """
    rng = np.random.default_rng(seed)
    h = cfg["hidden_size"]
    ff = cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or h // nh
    v = cfg["vocab_size"]

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def proj(out_f, in_f, gain=1.0):
        return normal((out_f, in_f), gain / np.sqrt(in_f))

    def norm(n, spread=0.1):
        return (1.0 + normal((n,), spread)).astype(np.float32)

    w = {"model.embed_tokens.weight": normal((v, h), 0.5)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = proj(nh * d, h)
        w[p + "self_attn.k_proj.weight"] = proj(nkv * d, h)
        w[p + "self_attn.v_proj.weight"] = proj(nkv * d, h)
        w[p + "self_attn.o_proj.weight"] = proj(h, nh * d, OUT_GAIN)
        if arch == "qwen2":
            w[p + "self_attn.q_proj.bias"] = normal((nh * d,), 0.3)
            w[p + "self_attn.k_proj.bias"] = normal((nkv * d,), 0.3)
            w[p + "self_attn.v_proj.bias"] = normal((nkv * d,), 0.3)
        if arch == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(d, 0.3)
            w[p + "self_attn.k_norm.weight"] = norm(d, 0.3)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = proj(ff, h)
        w[p + "mlp.up_proj.weight"] = proj(ff, h)
        w[p + "mlp.down_proj.weight"] = proj(h, ff, OUT_GAIN)
    w["model.norm.weight"] = norm(h)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = normal((v, h), 0.5)
    return w


OUT_GAIN = 3.0

# ---------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------


def f32_to_bf16_bits(a):
    """Round-to-nearest-even f32 -> bf16 (the top 16 bits). No NaNs expected."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype("<u2")


def encode(a, dtype):
    if dtype == "f32":
        return "F32", np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "f16":
        return "F16", np.ascontiguousarray(a, dtype="<f2").tobytes()
    if dtype == "bf16":
        return "BF16", f32_to_bf16_bits(a).tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """8-byte LE header length, JSON header (space-padded to 8 bytes), data."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        st_dtype, raw = encode(tensors[name], dtype)
        header[name] = {"dtype": st_dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    return offset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=["llama", "qwen2", "qwen3"])
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--shards", type=int, default=1, choices=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tie", choices=["yes", "no"],
                    help="tie lm_head to the embedding (default: llama no, qwen2 yes, qwen3 no)")
    ap.add_argument("--vocab-size", type=int,
                    help="embedding rows (default: the tokenizer's token count; more pads the "
                         "embedding past the tokenizer, as real Qwen checkpoints do)")
    args = ap.parse_args(argv)

    tokenizer, special, n_tokens = build_tokenizer()
    vocab_size = args.vocab_size or n_tokens
    if vocab_size < n_tokens:
        ap.error(f"--vocab-size must be at least the tokenizer's {n_tokens} tokens")
    tie = {"llama": False, "qwen2": True, "qwen3": False}[args.arch] if args.tie is None else args.tie == "yes"
    cfg = model_config(args.arch, vocab_size, tie, args.dtype, special)
    # A different stream per architecture, so equal seeds do not share weights.
    seed = args.seed * 7 + {"llama": 1, "qwen2": 2, "qwen3": 3}[args.arch]
    weights = make_weights(args.arch, cfg, seed)

    os.makedirs(args.out, exist_ok=True)
    for stale in os.listdir(args.out):
        if stale.startswith("model") and (stale.endswith(".safetensors") or stale.endswith(".index.json")):
            os.remove(os.path.join(args.out, stale))

    def dump(name, obj):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")

    dump("config.json", cfg)
    dump("generation_config.json", {
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": [special["<|im_end|>"], special["<|endoftext|>"]],
        "do_sample": False,
        "transformers_version": cfg["transformers_version"],
    })
    dump("tokenizer.json", tokenizer)
    dump("tokenizer_config.json", tokenizer_config(args.arch, special, cfg["max_position_embeddings"]))

    if args.shards == 1:
        write_safetensors(os.path.join(args.out, "model.safetensors"), weights, args.dtype)
    else:
        # Shard 1: the embedding and the first layer; shard 2: the rest.
        first = {k: v for k, v in weights.items()
                 if k.startswith("model.embed_tokens.") or k.startswith("model.layers.0.")}
        second = {k: v for k, v in weights.items() if k not in first}
        names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        total = 0
        weight_map = {}
        for shard_name, part in zip(names, (first, second)):
            total += write_safetensors(os.path.join(args.out, shard_name), part, args.dtype)
            weight_map.update({k: shard_name for k in part})
        dump("model.safetensors.index.json",
             {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})

    print(json.dumps({"out": args.out, "arch": args.arch, "dtype": args.dtype, "shards": args.shards,
                      "seed": args.seed, "tie_word_embeddings": tie, "vocab_size": vocab_size,
                      "tokenizer_tokens": n_tokens, "special_tokens": special}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
