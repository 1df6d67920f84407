#!/usr/bin/env python3
"""Independent numpy reference for Weft's local decoder-only transformer.

A plain forward pass of Llama / Qwen2 / Qwen3, written to read like the math
and to share nothing with the Rust code in crates/weft-local: it needs only
numpy, plus the `gguf` PyPI package for GGUF files.

Sources
  * a GGUF file: every tensor is dequantized to f32 with gguf.quants.dequantize.
    Llama-architecture GGUFs keep q and k exactly as stored (llama.cpp's
    converter permuted them for the INTERLEAVED RoPE) and RoPE is applied in
    the interleaved form, as llama.cpp does. qwen2/qwen3 GGUFs are half-split.
  * a Hugging Face directory: config.json + model.safetensors (or sharded with
    model.safetensors.index.json), f32/f16/bf16, read by hand; half-split RoPE.

Commands (run with --help for all options)
  forward_ref.py info   --model PATH
  forward_ref.py logits --model PATH --tokens 1,2,3 [--positions all|N] [--out FILE.bin]
  forward_ref.py greedy --model PATH --tokens 1,2,3 [--n 32] [--stop ID,...]

See README.md next to this file for the output formats.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

# One BLAS thread unless the caller says otherwise: deterministic results, and
# far faster than a thread pool fighting for busy cores on small matrices.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


class RefError(Exception):
    """A model this reference cannot (or will not) run faithfully."""


# ---------------------------------------------------------------------------
# The model: hyper-parameters plus f32 weights, [out_features, in_features].
# ---------------------------------------------------------------------------


class Model:
    def __init__(self):
        self.architecture = None      # "llama" | "qwen2" | "qwen3"
        self.hidden_size = 0
        self.intermediate_size = 0
        self.num_layers = 0
        self.num_heads = 0
        self.num_kv_heads = 0
        self.head_dim = 0
        self.vocab_size = 0
        self.max_context = 0
        self.rope_theta = 10000.0
        self.rms_norm_eps = 1e-6
        self.tied_embeddings = False
        self.qkv_bias = False
        self.qk_norm = False
        self.rope_layout = "half-split"  # or "interleaved" (llama GGUF as stored)
        self.source = None               # "gguf" | "hf"
        self.embed = None                # [vocab, hidden]
        self.layers = []                 # list of dicts, see Layer keys below
        self.final_norm = None           # [hidden]
        self.lm_head = None              # [vocab, hidden] (the embedding when tied)

    def config_json(self):
        """The hyper-parameters under the field names of Rust's ModelConfig."""
        return {
            "architecture": self.architecture,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
            "max_context": self.max_context,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "tied_embeddings": self.tied_embeddings,
            "qkv_bias": self.qkv_bias,
            "qk_norm": self.qk_norm,
            # Not ModelConfig fields: how *this reference* applies RoPE.
            "reference_rope_layout": self.rope_layout,
            "reference_source": self.source,
        }

    def check(self):
        if self.num_heads % self.num_kv_heads != 0:
            raise RefError("num_heads is not a multiple of num_kv_heads")
        if self.head_dim % 2 != 0:
            raise RefError("head_dim must be even")
        h, d, nh, nkv, ff = (self.hidden_size, self.head_dim, self.num_heads,
                             self.num_kv_heads, self.intermediate_size)
        want = {
            "wq": (nh * d, h), "wk": (nkv * d, h), "wv": (nkv * d, h),
            "wo": (h, nh * d), "w_gate": (ff, h), "w_up": (ff, h),
            "w_down": (h, ff), "attn_norm": (h,), "ffn_norm": (h,),
        }
        if self.qkv_bias:
            want.update({"bq": (nh * d,), "bk": (nkv * d,), "bv": (nkv * d,)})
        if self.qk_norm:
            want.update({"q_norm": (d,), "k_norm": (d,)})
        for i, layer in enumerate(self.layers):
            for key, shape in want.items():
                if tuple(layer[key].shape) != shape:
                    raise RefError(f"layer {i} {key}: shape {layer[key].shape}, want {shape}")
        if self.embed.shape != (self.vocab_size, h) or self.lm_head.shape != (self.vocab_size, h):
            raise RefError("embedding / lm_head shape mismatch")

    def cast(self, dtype):
        conv = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype)
        self.embed = conv(self.embed)
        self.final_norm = conv(self.final_norm)
        self.lm_head = self.embed if self.tied_embeddings else conv(self.lm_head)
        self.layers = [{k: conv(v) for k, v in layer.items()} for layer in self.layers]


# ---------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------


def unpermute_llama_gguf(w, n_heads):
    """Undo llama.cpp's convert permutation (interleaved -> half-split rows).

    The converter does w.reshape(n, 2, d/2, in).swapaxes(1, 2): GGUF row
    (h, i, j) of a head holds HF row (h, j, i). Only used by --gguf-unpermute,
    a self-check that the two RoPE layouts give the same logits.
    """
    out_dim = w.shape[0]
    rest = w.shape[1:]
    d = out_dim // n_heads
    return (w.reshape(n_heads, d // 2, 2, *rest).swapaxes(1, 2).reshape(out_dim, *rest))


class GGUFFile:
    """A minimal GGUF (v2/v3) reader: scalar metadata and tensor data views.

    gguf.GGUFReader builds a numpy view for every one of the ~100k vocabulary
    and merge strings, which takes 5-10 s; this walks past those arrays and
    reads only what the forward pass needs. Dequantization is gguf's own
    (gguf.quants.dequantize). `--gguf-reader` uses GGUFReader instead.
    """

    SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
               7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    STRING, ARRAY = 8, 9

    def __init__(self, path):
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        self.data = np.memmap(path, mode="r", dtype=np.uint8)
        self.pos = 0
        if bytes(self.data[:4]) != b"GGUF":
            raise RefError(f"{path}: not a GGUF file")
        self.pos = 4
        version = self._scalar(4)
        if version not in (2, 3):
            raise RefError(f"{path}: GGUF version {version} is not supported")
        n_tensors = self._scalar(10)
        n_kv = self._scalar(10)
        self.meta = {}
        for _ in range(n_kv):
            key = self._string()
            self.meta[key] = self._value(self._scalar(4))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar(4)
            dims = [self._scalar(10) for _ in range(n_dims)]  # ne0 (innermost) first
            qtype = GGMLQuantizationType(self._scalar(4))
            offset = self._scalar(10)
            infos.append((name, dims, qtype, offset))
        align = int(self.meta.get("general.alignment", 32))
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, qtype, offset in infos:
            block, type_size = GGML_QUANT_SIZES[qtype]
            row_bytes = dims[0] // block * type_size
            rows = int(np.prod(dims[1:], dtype=np.int64)) if len(dims) > 1 else 1
            start = data_start + offset
            raw = self.data[start:start + rows * row_bytes].reshape(rows, row_bytes)
            self.tensors[name] = (list(reversed(dims)), qtype, raw)

    def _scalar(self, vtype):
        fmt = self.SCALARS[vtype]
        size = struct.calcsize(fmt)
        (v,) = struct.unpack(fmt, bytes(self.data[self.pos:self.pos + size]))
        self.pos += size
        return v

    def _string(self):
        n = self._scalar(10)
        s = bytes(self.data[self.pos:self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype == self.STRING:
            return self._string()
        if vtype == self.ARRAY:
            itype = self._scalar(4)
            count = self._scalar(10)
            if itype == self.STRING:  # the vocabulary and merges: skip, keep the length
                for _ in range(count):
                    n = self._scalar(10)
                    self.pos += n
                return ("<string array>", count)
            if itype == self.ARRAY:
                return [self._value(self.ARRAY) for _ in range(count)]
            size = struct.calcsize(self.SCALARS[itype])
            self.pos += size * count
            return ("<array>", count)
        return self._scalar(vtype)


def open_gguf(path, use_gguf_reader):
    """(metadata dict, {name: (numpy shape, qtype, raw bytes as GGUFReader gives them)})."""
    if not use_gguf_reader:
        f = GGUFFile(path)
        return f.meta, f.tensors
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(path)
    meta = {}
    for key, field in reader.fields.items():
        if field.types and field.types[0] == GGUFValueType.ARRAY:
            continue
        meta[key] = field.contents()
    tensors = {t.name: ([int(n) for n in reversed(t.shape)], t.tensor_type, t.data)
               for t in reader.tensors}
    return meta, tensors


def load_gguf(path, unpermute=False, use_gguf_reader=False):
    from gguf.quants import dequantize

    metadata, tensors = open_gguf(path, use_gguf_reader)

    def meta(key, default=None):
        return metadata.get(key, default)

    arch = meta("general.architecture")
    if arch not in ("llama", "qwen2", "qwen3"):
        raise RefError(f"unsupported GGUF architecture {arch!r}")

    def tensor(name):
        if name not in tensors:
            raise RefError(f"GGUF has no tensor {name}")
        shape, qtype, raw = tensors[name]
        a = dequantize(raw, qtype)
        return np.ascontiguousarray(a, dtype=np.float32).reshape(shape)

    m = Model()
    m.source = "gguf"
    m.architecture = arch
    m.num_layers = int(meta(f"{arch}.block_count"))
    m.hidden_size = int(meta(f"{arch}.embedding_length"))
    m.intermediate_size = int(meta(f"{arch}.feed_forward_length"))
    m.num_heads = int(meta(f"{arch}.attention.head_count"))
    m.num_kv_heads = int(meta(f"{arch}.attention.head_count_kv", m.num_heads))
    m.head_dim = int(meta(f"{arch}.attention.key_length", m.hidden_size // m.num_heads))
    m.max_context = int(meta(f"{arch}.context_length", 0))
    m.rope_theta = float(meta(f"{arch}.rope.freq_base", 10000.0))
    m.rms_norm_eps = float(meta(f"{arch}.attention.layer_norm_rms_epsilon"))
    rope_dims = int(meta(f"{arch}.rope.dimension_count", m.head_dim))
    if rope_dims != m.head_dim:
        raise RefError(f"partial rotary ({rope_dims} of {m.head_dim}) is not supported")
    scaling = meta(f"{arch}.rope.scaling.type")
    if scaling not in (None, "none"):
        raise RefError(f"rope scaling {scaling!r} is not supported")
    if "rope_freqs.weight" in tensors:
        raise RefError("rope_freqs (Llama 3 rope scaling) is not supported")

    m.qkv_bias = "blk.0.attn_q.bias" in tensors
    m.qk_norm = "blk.0.attn_q_norm.weight" in tensors
    if arch == "llama":
        m.rope_layout = "half-split" if unpermute else "interleaved"
    else:
        m.rope_layout = "half-split"

    m.embed = tensor("token_embd.weight")
    m.vocab_size = m.embed.shape[0]
    m.final_norm = tensor("output_norm.weight")
    m.tied_embeddings = "output.weight" not in tensors
    m.lm_head = m.embed if m.tied_embeddings else tensor("output.weight")

    for i in range(m.num_layers):
        b = f"blk.{i}."
        layer = {
            "attn_norm": tensor(b + "attn_norm.weight"),
            "wq": tensor(b + "attn_q.weight"),
            "wk": tensor(b + "attn_k.weight"),
            "wv": tensor(b + "attn_v.weight"),
            "wo": tensor(b + "attn_output.weight"),
            "ffn_norm": tensor(b + "ffn_norm.weight"),
            "w_gate": tensor(b + "ffn_gate.weight"),
            "w_up": tensor(b + "ffn_up.weight"),
            "w_down": tensor(b + "ffn_down.weight"),
        }
        if m.qkv_bias:
            layer["bq"] = tensor(b + "attn_q.bias")
            layer["bk"] = tensor(b + "attn_k.bias")
            layer["bv"] = tensor(b + "attn_v.bias")
        if m.qk_norm:
            layer["q_norm"] = tensor(b + "attn_q_norm.weight")
            layer["k_norm"] = tensor(b + "attn_k_norm.weight")
        if arch == "llama" and unpermute:
            layer["wq"] = unpermute_llama_gguf(layer["wq"], m.num_heads)
            layer["wk"] = unpermute_llama_gguf(layer["wk"], m.num_kv_heads)
            if m.qkv_bias:
                layer["bq"] = unpermute_llama_gguf(layer["bq"], m.num_heads)
                layer["bk"] = unpermute_llama_gguf(layer["bk"], m.num_kv_heads)
        m.layers.append(layer)
    return m


# ---------------------------------------------------------------------------
# Hugging Face directory (safetensors parsed by hand)
# ---------------------------------------------------------------------------


def bf16_bits_to_f32(bits):
    """bf16 is the top 16 bits of an f32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """{name: f32 ndarray} from one .safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = blob[base + start:base + end]
        dtype = info["dtype"]
        shape = info["shape"]
        if dtype == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        elif dtype == "F64":
            a = np.frombuffer(raw, dtype="<f8").astype(np.float32)
        else:
            raise RefError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise RefError(f"{path}: tensor {name} size does not match its shape")
        out[name] = np.array(a, dtype=np.float32).reshape(shape)
    return out


def read_hf_tensors(directory):
    index = os.path.join(directory, "model.safetensors.index.json")
    single = os.path.join(directory, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(directory, shard)))
        missing = set(weight_map) - set(tensors)
        if missing:
            raise RefError(f"index names tensors no shard holds: {sorted(missing)[:5]}")
        return tensors
    if os.path.exists(single):
        return read_safetensors(single)
    raise RefError(f"{directory}: no model.safetensors or model.safetensors.index.json")


def load_hf(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    model_type = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if model_type in ("llama", "mistral") or "LlamaForCausalLM" in archs:
        arch = "llama"
    elif model_type == "qwen2" or "Qwen2ForCausalLM" in archs:
        arch = "qwen2"
    elif model_type == "qwen3" or "Qwen3ForCausalLM" in archs:
        arch = "qwen3"
    else:
        raise RefError(f"unsupported model_type {model_type!r} / architectures {archs}")
    scaling = cfg.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        raise RefError(f"rope_scaling {scaling} is not supported")
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        raise RefError("partial rotary is not supported")
    if cfg.get("use_sliding_window"):
        raise RefError("sliding-window attention is not supported")

    t = read_hf_tensors(directory)

    def tensor(name):
        if name not in t:
            raise RefError(f"checkpoint has no tensor {name}")
        return t[name]

    m = Model()
    m.source = "hf"
    m.architecture = arch
    m.hidden_size = int(cfg["hidden_size"])
    m.intermediate_size = int(cfg["intermediate_size"])
    m.num_layers = int(cfg["num_hidden_layers"])
    m.num_heads = int(cfg["num_attention_heads"])
    m.num_kv_heads = int(cfg.get("num_key_value_heads") or m.num_heads)
    m.head_dim = int(cfg.get("head_dim") or m.hidden_size // m.num_heads)
    m.max_context = int(cfg.get("max_position_embeddings", 0))
    m.rope_theta = float(cfg.get("rope_theta", 10000.0))
    m.rms_norm_eps = float(cfg.get("rms_norm_eps", 1e-6))
    m.rope_layout = "half-split"
    m.qkv_bias = arch == "qwen2" or bool(cfg.get("attention_bias", False))
    m.qk_norm = arch == "qwen3"

    m.embed = tensor("model.embed_tokens.weight")
    m.vocab_size = m.embed.shape[0]
    if int(cfg.get("vocab_size", m.vocab_size)) != m.vocab_size:
        raise RefError("config vocab_size does not match the embedding rows")
    m.final_norm = tensor("model.norm.weight")
    m.tied_embeddings = bool(cfg.get("tie_word_embeddings", False)) or "lm_head.weight" not in t
    m.lm_head = m.embed if m.tied_embeddings else tensor("lm_head.weight")

    for i in range(m.num_layers):
        p = f"model.layers.{i}."
        layer = {
            "attn_norm": tensor(p + "input_layernorm.weight"),
            "wq": tensor(p + "self_attn.q_proj.weight"),
            "wk": tensor(p + "self_attn.k_proj.weight"),
            "wv": tensor(p + "self_attn.v_proj.weight"),
            "wo": tensor(p + "self_attn.o_proj.weight"),
            "ffn_norm": tensor(p + "post_attention_layernorm.weight"),
            "w_gate": tensor(p + "mlp.gate_proj.weight"),
            "w_up": tensor(p + "mlp.up_proj.weight"),
            "w_down": tensor(p + "mlp.down_proj.weight"),
        }
        if m.qkv_bias:
            layer["bq"] = tensor(p + "self_attn.q_proj.bias")
            layer["bk"] = tensor(p + "self_attn.k_proj.bias")
            layer["bv"] = tensor(p + "self_attn.v_proj.bias")
        if m.qk_norm:
            layer["q_norm"] = tensor(p + "self_attn.q_norm.weight")
            layer["k_norm"] = tensor(p + "self_attn.k_norm.weight")
        m.layers.append(layer)
    return m


def load_model(path, unpermute=False, dtype=np.float32, use_gguf_reader=False):
    if os.path.isdir(path):
        m = load_hf(path)
    elif path.endswith(".gguf"):
        m = load_gguf(path, unpermute=unpermute, use_gguf_reader=use_gguf_reader)
    else:
        raise RefError(f"{path}: neither a Hugging Face directory nor a .gguf file")
    m.check()
    m.cast(dtype)
    return m


# ---------------------------------------------------------------------------
# The math
# ---------------------------------------------------------------------------


def rms_norm(x, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight, over the last axis (statistics in f64)."""
    mean_sq = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    return (x * (1.0 / np.sqrt(mean_sq + eps)).astype(x.dtype)) * weight


def silu(x):
    """x * sigmoid(x), with sigmoid written through tanh so it never overflows."""
    return x * (0.5 * (1.0 + np.tanh(0.5 * x)))


def rope_cos_sin(positions, head_dim, theta, dtype):
    """cos and sin of pos * theta^(-2i/d) for pair i = 0 .. d/2-1, shape [T, 1, d/2]."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    return (np.cos(angles)[:, None, :].astype(dtype), np.sin(angles)[:, None, :].astype(dtype))


def rope_half_split(x, cos, sin):
    """x: [T, heads, d]; dimension i pairs with i + d/2 (Hugging Face / NEOX)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def rope_interleaved(x, cos, sin):
    """x: [T, heads, d]; dimension 2i pairs with 2i + 1 (llama.cpp's rope for llama)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


def softmax(scores):
    """Softmax over the last axis, computed in f64."""
    s = scores.astype(np.float64)
    s = s - np.max(s, axis=-1, keepdims=True)
    e = np.exp(s)
    return e / np.sum(e, axis=-1, keepdims=True)


def causal_attention(q, k, v, q_positions, k_positions):
    """Grouped-query causal attention.

    q: [Tq, H, d]; k, v: [Tk, KV, d]. Query head h reads kv head h // (H / KV).
    A query at position p attends to keys at positions <= p.
    """
    n_heads, n_kv, d = q.shape[1], k.shape[1], q.shape[2]
    group = n_heads // n_kv
    k = np.repeat(k, group, axis=1)  # kv head j -> query heads j*group .. j*group+group-1
    v = np.repeat(v, group, axis=1)
    qh = q.transpose(1, 0, 2)        # [H, Tq, d]
    kh = k.transpose(1, 2, 0)        # [H, d, Tk]
    vh = v.transpose(1, 0, 2)        # [H, Tk, d]
    scores = (qh @ kh) / math.sqrt(d)                       # [H, Tq, Tk]
    future = np.asarray(k_positions)[None, :] > np.asarray(q_positions)[:, None]
    scores = np.where(future[None, :, :], -np.inf, scores)
    probs = softmax(scores).astype(q.dtype)
    out = probs @ vh                                        # [H, Tq, d]
    return out.transpose(1, 0, 2)                           # [Tq, H, d]


class KVCache:
    def __init__(self, m, capacity):
        shape = (m.num_layers, capacity, m.num_kv_heads, m.head_dim)
        self.k = np.zeros(shape, dtype=m.embed.dtype)
        self.v = np.zeros(shape, dtype=m.embed.dtype)
        self.length = 0


def forward(m, tokens, cache, want_logits_at=None):
    """Run new `tokens` after the `cache.length` tokens already in the cache.

    Returns the hidden states after the final norm for every new token, and
    the logits at the new-token indices in `want_logits_at` (default: last).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n_new = len(tokens)
    start = cache.length
    positions = np.arange(start, start + n_new)
    all_positions = np.arange(0, start + n_new)
    H, KV, d = m.num_heads, m.num_kv_heads, m.head_dim
    cos, sin = rope_cos_sin(positions, d, m.rope_theta, m.embed.dtype)
    rope = rope_interleaved if m.rope_layout == "interleaved" else rope_half_split

    x = m.embed[tokens]                                      # [T, hidden]
    for i, L in enumerate(m.layers):
        # --- attention block ---
        h = rms_norm(x, L["attn_norm"], m.rms_norm_eps)
        q = h @ L["wq"].T
        k = h @ L["wk"].T
        v = h @ L["wv"].T
        if m.qkv_bias:
            q = q + L["bq"]
            k = k + L["bk"]
            v = v + L["bv"]
        q = q.reshape(n_new, H, d)
        k = k.reshape(n_new, KV, d)
        v = v.reshape(n_new, KV, d)
        if m.qk_norm:  # Qwen3: RMSNorm over each head's d values
            q = rms_norm(q, L["q_norm"], m.rms_norm_eps)
            k = rms_norm(k, L["k_norm"], m.rms_norm_eps)
        q = rope(q, cos, sin)
        k = rope(k, cos, sin)
        cache.k[i, start:start + n_new] = k
        cache.v[i, start:start + n_new] = v
        attn = causal_attention(q, cache.k[i, :start + n_new], cache.v[i, :start + n_new],
                                positions, all_positions)
        x = x + attn.reshape(n_new, H * d) @ L["wo"].T
        # --- SwiGLU MLP block ---
        h = rms_norm(x, L["ffn_norm"], m.rms_norm_eps)
        x = x + (silu(h @ L["w_gate"].T) * (h @ L["w_up"].T)) @ L["w_down"].T
    cache.length = start + n_new

    if want_logits_at is None:
        want_logits_at = [n_new - 1]
    h = rms_norm(x[want_logits_at], m.final_norm, m.rms_norm_eps)
    return h @ m.lm_head.T                                   # [len(want), vocab]


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def parse_tokens(text):
    text = text.strip().strip("[]")
    ids = [int(s) for s in text.replace(" ", ",").split(",") if s.strip()]
    if not ids:
        raise RefError("--tokens is empty")
    return ids


def parse_ids(text):
    return [] if not text else parse_tokens(text)


def check_tokens(m, ids):
    bad = [t for t in ids if t < 0 or t >= m.vocab_size]
    if bad:
        raise RefError(f"token ids out of range 0..{m.vocab_size}: {bad[:5]}")


def top2_margin(row):
    """Top-1 id, and how far its logit is above the runner-up's."""
    top = int(np.argmax(row))
    second = float(np.max(np.delete(row, top)))
    return top, float(row[top]) - second


def cmd_info(args, m, t_load):
    print(json.dumps(m.config_json()))


def cmd_logits(args, m, t_load):
    ids = parse_tokens(args.tokens)
    check_tokens(m, ids)
    if args.positions == "all":
        want = list(range(len(ids)))
    else:
        n = int(args.positions)
        if not 1 <= n <= len(ids):
            raise RefError(f"--positions {n} is not in 1..{len(ids)}")
        want = list(range(len(ids) - n, len(ids)))
    t0 = time.time()
    cache = KVCache(m, len(ids))
    logits = forward(m, ids, cache, want_logits_at=want).astype(np.float32)
    t_fwd = time.time() - t0
    argmax = [int(a) for a in np.argmax(logits, axis=-1)]
    margins = [top2_margin(row)[1] for row in logits]
    summary = {
        "shape": [len(want), m.vocab_size],
        "positions": want,
        "tokens": ids,
        "argmax": argmax,
        "top2_margin": margins,
        "timing_s": {"load": round(t_load, 3), "forward": round(t_fwd, 3)},
    }
    if args.out:
        logits.astype("<f4").tofile(args.out)
        sidecar = dict(summary, dtype="f32", byte_order="little", layout="row-major [positions, vocab]",
                       file=os.path.basename(args.out))
        with open(args.out + ".json", "w") as f:
            json.dump(sidecar, f)
        summary["out"] = args.out
        print(json.dumps(summary))
    else:
        summary["logits"] = [[float(v) for v in row] for row in logits]
        print(json.dumps(summary))


def cmd_greedy(args, m, t_load):
    ids = parse_tokens(args.tokens)
    check_tokens(m, ids)
    stop = set(parse_ids(args.stop))
    t0 = time.time()
    cache = KVCache(m, len(ids) + args.n)
    logits = forward(m, ids, cache)[0]
    out, margins = [], []
    for step in range(args.n):
        tok, margin = top2_margin(logits)
        out.append(tok)
        margins.append(margin)
        if tok in stop or step == args.n - 1:
            break
        logits = forward(m, [tok], cache)[0]
    t_gen = time.time() - t0
    print(json.dumps({
        "tokens": out,
        "prompt": ids,
        "top2_margin": margins,
        "timing_s": {"load": round(t_load, 3), "generate": round(t_gen, 3)},
    }))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--model", required=True, help="a .gguf file or a Hugging Face model directory")
        p.add_argument("--precision", choices=["f32", "f64"], default="f32",
                       help="compute dtype (default f32)")
        p.add_argument("--gguf-unpermute", action="store_true",
                       help="self-check: un-permute llama GGUF q/k and use half-split RoPE")
        p.add_argument("--gguf-reader", action="store_true",
                       help="parse GGUF with gguf.GGUFReader (slow on big vocabularies)")

    p = sub.add_parser("info", help="print the model's hyper-parameters as JSON")
    common(p)
    p = sub.add_parser("logits", help="full-vocabulary logits of one prefill")
    common(p)
    p.add_argument("--tokens", required=True, help="comma-separated token ids")
    p.add_argument("--positions", default="all",
                   help="'all' (default), or N for the last N positions")
    p.add_argument("--out", help="write logits here as little-endian f32 [positions, vocab] "
                                 "plus a JSON sidecar OUT.json; without it, logits go in the stdout JSON")
    p = sub.add_parser("greedy", help="greedy decoding with a KV cache")
    common(p)
    p.add_argument("--tokens", required=True, help="comma-separated prompt token ids")
    p.add_argument("--n", type=int, default=32, help="tokens to generate (default 32)")
    p.add_argument("--stop", default="", help="comma-separated ids that end generation (kept in the output)")

    args = ap.parse_args(argv)
    dtype = np.float64 if args.precision == "f64" else np.float32
    try:
        t0 = time.time()
        m = load_model(args.model, unpermute=args.gguf_unpermute, dtype=dtype,
                       use_gguf_reader=args.gguf_reader)
        t_load = time.time() - t0
        {"info": cmd_info, "logits": cmd_logits, "greedy": cmd_greedy}[args.cmd](args, m, t_load)
    except RefError as e:
        print(f"forward_ref: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
