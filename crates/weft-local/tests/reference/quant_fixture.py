#!/usr/bin/env python3
"""Reference fixtures for weft-local's GGUF reader and dequantizers.

Usage: quant_fixture.py OUT_DIR [SMOLLM2_GGUF]

Uses the `gguf` package (llama.cpp's gguf-py) and numpy, independently of the
Rust code under test, to write:

  OUT_DIR/quant.gguf       one tensor per ggml type: gguf.quants.quantize of
                           seeded random data where gguf-py can quantize the
                           type, random blocks with valid f16 scales for the
                           K types it cannot (Q4_K, Q5_K, Q6_K); plus metadata
                           of every value type, nested arrays, alignment 64
  OUT_DIR/llama.gguf       a tiny 1-layer `llama` model whose q/k weights and
                           biases are permuted as llama.cpp's converter does
  OUT_DIR/expected/*.f32   gguf.quants.dequantize results (raw little-endian
                           f32), and the un-permuted llama q/k
  OUT_DIR/smollm/*.f32     dequantized tensors of the real SmolLM2 file, if
                           given
  OUT_DIR/manifest.json    what was written, for the Rust test to iterate
"""

import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

# The HF -> GGUF conversion of llama q/k rows, as in llama.cpp's
# convert_hf_to_gguf.py (LlamaModel.permute).
def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_f32(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def f16_bytes(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).view(np.uint8).reshape(*values.shape[:-1], -1)


def random_k_blocks(rng: np.random.Generator, ty: T, rows: int, blocks_per_row: int) -> np.ndarray:
    """Random K-quant super-blocks whose f16 scale fields are finite."""
    _, type_size = gguf.GGML_QUANT_SIZES[ty]
    raw = rng.integers(0, 256, size=(rows, blocks_per_row, type_size), dtype=np.uint8)
    scales = (rng.standard_normal((rows, blocks_per_row, 2)) * 0.01).astype(np.float32)
    if ty in (T.Q4_K, T.Q5_K):
        raw[..., 0:4] = f16_bytes(scales)  # d, dmin
    elif ty == T.Q6_K:
        raw[..., 208:210] = f16_bytes(scales[..., :1])  # d (last two bytes)
    else:
        raise ValueError(ty)
    return raw.reshape(rows, blocks_per_row * type_size)


def quant_file(out: Path, manifest: dict) -> None:
    rng = np.random.default_rng(20240607)
    writer = gguf.GGUFWriter(str(out / "quant.gguf"), arch="weft-test")
    writer.add_custom_alignment(64)

    # Metadata of every value type.
    writer.add_uint8("test.u8", 200)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 60000)
    writer.add_int16("test.i16", -30000)
    writer.add_uint32("test.u32", 4_000_000_000)
    writer.add_int32("test.i32", -2_000_000_000)
    writer.add_float32("test.f32", 1.5)
    writer.add_uint64("test.u64", 2**63 + 5)
    writer.add_int64("test.i64", -(2**62))
    writer.add_float64("test.f64", 2.25)
    writer.add_bool("test.bool", True)
    writer.add_string("test.str", "héllo GGUF")
    writer.add_array("test.arr_i32", [1, -2, 3])
    writer.add_array("test.arr_f32", [0.5, -0.25])
    writer.add_array("test.arr_str", ["a", "", "ünï"])
    writer.add_array("test.arr_bool", [True, False, True])
    writer.add_array("test.nested", [[1, 2], [3], ["x", "y"]])
    writer.add_key_value(
        "test.arr_u64", [7, 2**40], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT64
    )

    tensors = []

    def add(name: str, ty: T, stored: np.ndarray, shape: tuple) -> None:
        # `stored` is what goes in the file; gguf-py's dequantize is the
        # reference.
        if ty == T.F32:
            writer.add_tensor(name, stored)
        else:
            writer.add_tensor(name, stored, raw_dtype=ty)
        expected = dequantize(stored, ty).astype(np.float32)
        assert expected.shape == shape, (name, expected.shape, shape)
        write_f32(out / "expected" / f"{name}.f32", expected)
        tensors.append({"name": name, "type": ty.name, "shape": list(shape)})

    # Types gguf-py quantizes: seeded normal data, with some extreme rows.
    for ty in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        data = (rng.standard_normal((6, 256)) * 0.05).astype(np.float32)
        data[1] *= 1000.0
        data[2] = 0.0
        data[3, :32] = 1.0
        stored = data if ty == T.F32 else quantize(data, ty)
        add(ty.name.lower(), ty, stored, data.shape)

    # K types: random super-blocks (3 rows of 2 super-blocks).
    for ty in (T.Q4_K, T.Q5_K, T.Q6_K):
        stored = random_k_blocks(rng, ty, rows=3, blocks_per_row=2)
        add(ty.name.lower(), ty, stored, (3, 512))

    # A 3-D tensor, to check shape order.
    data = rng.standard_normal((2, 3, 64)).astype(np.float32)
    add("q8_0_3d", T.Q8_0, quantize(data, T.Q8_0), data.shape)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    manifest["quant"] = tensors


def llama_file(out: Path, manifest: dict) -> None:
    rng = np.random.default_rng(7)
    hidden, heads, kv_heads, ffn, vocab = 64, 4, 2, 128, 32
    head_dim = hidden // heads
    writer = gguf.GGUFWriter(str(out / "llama.gguf"), arch="llama")
    writer.add_block_count(1)
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_token_list([f"t{i}" for i in range(vocab)])

    def w(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    q, k, v = w(heads * head_dim, hidden), w(kv_heads * head_dim, hidden), w(kv_heads * head_dim, hidden)
    qb, kb = w(heads * head_dim), w(kv_heads * head_dim)
    # q stored as Q8_0: quantization is per row, so un-permuting the stored
    # rows must give the quantized original rows.
    writer.add_tensor("token_embd.weight", w(vocab, hidden))
    writer.add_tensor("blk.0.attn_norm.weight", w(hidden))
    writer.add_tensor("blk.0.attn_q.weight", quantize(llama_permute(q, heads), T.Q8_0), raw_dtype=T.Q8_0)
    writer.add_tensor("blk.0.attn_q.bias", llama_permute(qb, heads))
    writer.add_tensor("blk.0.attn_k.weight", llama_permute(k, kv_heads))
    writer.add_tensor("blk.0.attn_k.bias", llama_permute(kb, kv_heads))
    writer.add_tensor("blk.0.attn_v.weight", v)
    writer.add_tensor("blk.0.attn_v.bias", w(kv_heads * head_dim))
    writer.add_tensor("blk.0.attn_output.weight", w(hidden, hidden))
    writer.add_tensor("blk.0.ffn_norm.weight", w(hidden))
    writer.add_tensor("blk.0.ffn_gate.weight", w(ffn, hidden))
    writer.add_tensor("blk.0.ffn_up.weight", w(ffn, hidden))
    writer.add_tensor("blk.0.ffn_down.weight", w(hidden, ffn))
    writer.add_tensor("output_norm.weight", w(hidden))
    writer.add_tensor("output.weight", w(vocab, hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    exp = out / "expected" / "llama"
    write_f32(exp / "q_proj.weight.f32", dequantize(quantize(q, T.Q8_0), T.Q8_0))
    write_f32(exp / "q_proj.bias.f32", qb)
    write_f32(exp / "k_proj.weight.f32", k)
    write_f32(exp / "k_proj.bias.f32", kb)
    write_f32(exp / "v_proj.weight.f32", v)


def smollm(path: Path, out: Path, manifest: dict) -> None:
    reader = gguf.GGUFReader(str(path))
    by_name = {t.name: t for t in reader.tensors}
    written = []

    def emit(name: str, rows=None) -> None:
        t = by_name[name]
        # Rows of a quantized tensor are independent: slice before decoding.
        data = t.data if rows is None else t.data[rows]
        write_f32(out / "smollm" / f"{name}.f32", dequantize(data, t.tensor_type))
        written.append({"name": name, "type": t.tensor_type.name, "rows": rows})

    emit("token_embd.weight", rows=[0, 1, 2, 1000, 49151])
    emit("blk.0.attn_q.weight")
    emit("blk.5.ffn_down.weight")
    emit("blk.0.attn_norm.weight")
    emit("output_norm.weight")
    manifest["smollm"] = written


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {}
    quant_file(out, manifest)
    llama_file(out, manifest)
    if len(sys.argv) == 3:
        smollm(Path(sys.argv[2]), out, manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
