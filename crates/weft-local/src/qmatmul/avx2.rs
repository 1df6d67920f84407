//! The x86-64 kernels, written with AVX2 and FMA intrinsics.
//!
//! A 32-weight block (Q4_0, Q4_1, Q8_0) decodes straight into four 8-lane
//! f32 vectors, which then multiply-add into every token of the tile. Other
//! encodings decode a block (or a row) to f32 with the portable decoders and
//! share the vector dot product.
//!
//! Every function here requires AVX2, FMA and F16C; [`super::Job::rows`]
//! checks the CPU before calling in.

// Vector loads take raw pointers. Each one reads inside a slice whose
// length was checked just before, as the SAFETY notes say.
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128, __m128i, __m256, _mm_add_ps, _mm_and_si128, _mm_cvtph_ps, _mm_cvtsi32_si128,
    _mm_cvtss_f32, _mm_hadd_ps, _mm_loadl_epi64, _mm_loadu_si128, _mm_movehdup_ps, _mm_set1_epi8,
    _mm_srli_epi16, _mm_srli_si128, _mm256_add_ps, _mm256_broadcastss_ps, _mm256_castps256_ps128,
    _mm256_cvtepi8_epi32, _mm256_cvtepi32_ps, _mm256_cvtepu8_epi32, _mm256_extractf128_ps,
    _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps,
};

use super::{Job, TOKEN_TILE};
use crate::quant::{
    GgmlType, dequantize_block_q4_k, dequantize_block_q5_0, dequantize_block_q5_1,
    dequantize_block_q5_k, dequantize_block_q6_k, dequantize_into,
};

/// Fills `out` (`job.n` values per row) for rows `first_row..`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn rows(job: &Job, first_row: usize, out: &mut [f32]) {
    // SAFETY (the three decoders): `vector_blocks` passes pointers to whole
    // blocks of the size each decoder reads.
    match job.ty {
        GgmlType::Q4_0 => vector_blocks::<18>(job, first_row, out, |b| unsafe { decode_q4_0(b) }),
        GgmlType::Q4_1 => vector_blocks::<20>(job, first_row, out, |b| unsafe { decode_q4_1(b) }),
        GgmlType::Q8_0 => vector_blocks::<34>(job, first_row, out, |b| unsafe { decode_q8_0(b) }),
        GgmlType::Q5_0 => decoded_blocks::<22, 32>(job, first_row, out, dequantize_block_q5_0),
        GgmlType::Q5_1 => decoded_blocks::<24, 32>(job, first_row, out, dequantize_block_q5_1),
        GgmlType::Q4_K => decoded_blocks::<144, 256>(job, first_row, out, dequantize_block_q4_k),
        GgmlType::Q5_K => decoded_blocks::<176, 256>(job, first_row, out, dequantize_block_q5_k),
        GgmlType::Q6_K => decoded_blocks::<210, 256>(job, first_row, out, dequantize_block_q6_k),
        _ => decoded_rows(job, first_row, out),
    }
}

/// A 32-weight block whose weights are `scale · q + offset`: the codes `q`
/// as four f32 vectors, the scale broadcast.
struct Block {
    scale: __m256,
    offset: f32,
    codes: [__m256; 4],
}

/// 32-weight blocks. Since `Σ (d·q + m)·x = d·Σ q·x + m·Σ x`, the codes
/// multiply the activations directly and each block adds its offset times
/// the activations' block sum, computed once per product. A decoded block is
/// reused across a tile of tokens.
///
/// The inner loops walk raw pointers: with bounds checks in them the
/// accumulators spilled to the stack and the kernel ran 3× slower. The
/// lengths are checked once, up front. One function per encoding (not
/// inlined into the dispatch) keeps the registers for the hot loop.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
fn vector_blocks<const B: usize>(
    job: &Job,
    first_row: usize,
    out: &mut [f32],
    decode: impl Fn(*const u8) -> Block,
) {
    let per_row = job.cols / 32;
    let x_sums = job.x_block_sums();
    assert!(
        job.cols.is_multiple_of(32)
            && job.row_len == per_row * B
            && job.x.len() == job.n * job.cols
            && x_sums.len() == job.n * per_row
            && job.bytes.len() >= (first_row + out.len() / job.n.max(1)) * job.row_len,
        "operands do not fit the kernel"
    );
    for (i, y) in out.chunks_exact_mut(job.n).enumerate() {
        let row = job.bytes[(first_row + i) * job.row_len..].as_ptr();
        let mut t = 0;
        while t + TOKEN_TILE <= job.n {
            let x: [*const f32; TOKEN_TILE] =
                std::array::from_fn(|k| job.x[(t + k) * job.cols..].as_ptr());
            let sums: [*const f32; TOKEN_TILE] =
                std::array::from_fn(|k| x_sums[(t + k) * per_row..].as_ptr());
            let mut acc = [_mm256_setzero_ps(); TOKEN_TILE];
            let mut offsets = [0f32; TOKEN_TILE];
            for b in 0..per_row {
                // SAFETY: b < per_row, so the block lies inside this row and
                // each token's 32 activations and block sum inside `job.x`
                // and `x_sums` (all checked above).
                unsafe {
                    let block = decode(row.add(b * B));
                    for k in 0..TOKEN_TILE {
                        let dot = dot_32(&block.codes, x[k].add(32 * b));
                        acc[k] = _mm256_fmadd_ps(block.scale, dot, acc[k]);
                        offsets[k] += block.offset * *sums[k].add(b);
                    }
                }
            }
            for k in 0..TOKEN_TILE {
                y[t + k] = horizontal_sum(acc[k]) + offsets[k];
            }
            t += TOKEN_TILE;
        }
        while t < job.n {
            let x = job.x[t * job.cols..].as_ptr();
            let sums = x_sums[t * per_row..].as_ptr();
            // Two accumulators, so consecutive blocks do not wait on each other.
            let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut offset = 0f32;
            let mut b = 0;
            // SAFETY (both loops): b < per_row (b + 1 < per_row for the
            // second block), as in the tile above.
            while b + 1 < per_row {
                unsafe {
                    let first = decode(row.add(b * B));
                    let second = decode(row.add((b + 1) * B));
                    even = _mm256_fmadd_ps(first.scale, dot_32(&first.codes, x.add(32 * b)), even);
                    odd = _mm256_fmadd_ps(
                        second.scale,
                        dot_32(&second.codes, x.add(32 * (b + 1))),
                        odd,
                    );
                    offset += first.offset * *sums.add(b) + second.offset * *sums.add(b + 1);
                }
                b += 2;
            }
            if b < per_row {
                unsafe {
                    let last = decode(row.add(b * B));
                    even = _mm256_fmadd_ps(last.scale, dot_32(&last.codes, x.add(32 * b)), even);
                    offset += last.offset * *sums.add(b);
                }
            }
            y[t] = horizontal_sum(_mm256_add_ps(even, odd)) + offset;
            t += 1;
        }
    }
}

/// `codes ⊙ x`, lane-wise summed over the four vectors (as a tree, so the
/// products do not wait on each other).
///
/// # Safety
/// `x` points at 32 readable f32s.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn dot_32(codes: &[__m256; 4], x: *const f32) -> __m256 {
    // SAFETY: the four unaligned loads read x[0..32].
    unsafe {
        let low = _mm256_fmadd_ps(
            codes[1],
            _mm256_loadu_ps(x.add(8)),
            _mm256_mul_ps(codes[0], _mm256_loadu_ps(x)),
        );
        let high = _mm256_fmadd_ps(
            codes[3],
            _mm256_loadu_ps(x.add(24)),
            _mm256_mul_ps(codes[2], _mm256_loadu_ps(x.add(16))),
        );
        _mm256_add_ps(low, high)
    }
}

/// Blocks decoded to f32 by the portable decoder, then multiplied.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn decoded_blocks<const B: usize, const N: usize>(
    job: &Job,
    first_row: usize,
    out: &mut [f32],
    decode: fn(&[u8; B], &mut [f32; N]),
) {
    let mut weights = [0f32; N];
    let mut acc = vec![[_mm256_setzero_ps(); 4]; job.n];
    for (i, y) in out.chunks_exact_mut(job.n).enumerate() {
        let start = (first_row + i) * job.row_len;
        let (blocks, _) = job.bytes[start..start + job.row_len].as_chunks::<B>();
        acc.fill([_mm256_setzero_ps(); 4]);
        for (b, block) in blocks.iter().enumerate() {
            decode(block, &mut weights);
            for (t, acc) in acc.iter_mut().enumerate() {
                let x = &job.x[t * job.cols + N * b..][..N];
                multiply_add(&weights, x, acc);
            }
        }
        for (y, acc) in y.iter_mut().zip(&acc) {
            *y = horizontal_sum(sum4(*acc));
        }
    }
}

/// Rows of one-weight "blocks" (f32, f16, bf16): decode a row, then a dot
/// product per token.
#[target_feature(enable = "avx2,fma,f16c")]
fn decoded_rows(job: &Job, first_row: usize, out: &mut [f32]) {
    let mut weights = vec![0f32; job.cols];
    let whole = job.cols / 8 * 8;
    for (i, y) in out.chunks_exact_mut(job.n).enumerate() {
        let start = (first_row + i) * job.row_len;
        // The matrix was validated on construction, so its rows decode.
        if dequantize_into(job.ty, &job.bytes[start..start + job.row_len], &mut weights).is_err() {
            y.fill(f32::NAN);
            continue;
        }
        for (t, y) in y.iter_mut().enumerate() {
            let x = &job.x[t * job.cols..(t + 1) * job.cols];
            let mut acc = [_mm256_setzero_ps(); 4];
            multiply_add(&weights[..whole], &x[..whole], &mut acc);
            let tail: f32 = weights[whole..]
                .iter()
                .zip(&x[whole..])
                .map(|(w, x)| w * x)
                .sum();
            *y = horizontal_sum(sum4(acc)) + tail;
        }
    }
}

/// `acc[i % 4] += w[8i..8i+8] ⊙ x[8i..8i+8]` over whole vectors of `w`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn multiply_add(w: &[f32], x: &[f32], acc: &mut [__m256; 4]) {
    let (w, _) = w.as_chunks::<8>();
    let (x, _) = x.as_chunks::<8>();
    for (i, (w, x)) in w.iter().zip(x).enumerate() {
        acc[i % 4] = _mm256_fmadd_ps(load8(w), load8(x), acc[i % 4]);
    }
}

/// The first eight values of `x`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load8(x: &[f32]) -> __m256 {
    let x = &x[..8];
    // SAFETY: `x` holds eight f32s; the load is unaligned.
    unsafe { _mm256_loadu_ps(x.as_ptr()) }
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum4(v: [__m256; 4]) -> __m256 {
    let [a, b, c, d] = v;
    _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn horizontal_sum(v: __m256) -> f32 {
    let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let pairs = _mm_hadd_ps(halves, halves);
    _mm_cvtss_f32(_mm_hadd_ps(pairs, pairs))
}

/// The two f16s at `block[0..4]`, widened: lane 0 and lane 1.
///
/// # Safety
/// `block` points at 4 readable bytes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn two_halves(block: *const u8) -> __m128 {
    // SAFETY: reads block[0..4], unaligned.
    let bits = unsafe { block.cast::<i32>().read_unaligned() };
    _mm_cvtph_ps(_mm_cvtsi32_si128(bits))
}

/// 16 bytes of 4-bit codes as f32: byte `j`'s low nibble is weight `j`, its
/// high nibble weight `j + 16`.
///
/// # Safety
/// `qs` points at 16 readable bytes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn nibbles(qs: *const u8) -> [__m256; 4] {
    // SAFETY: reads qs[0..16], unaligned.
    let v = unsafe { _mm_loadu_si128(qs.cast::<__m128i>()) };
    let mask = _mm_set1_epi8(0x0F);
    let low = _mm_and_si128(v, mask);
    let high = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
    [
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(low)),
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(low))),
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(high)),
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(high))),
    ]
}

/// `Q4_0` (`d: f16`, 16 bytes of codes): weight = `d · q - 8d`.
///
/// # Safety
/// `block` points at one 18-byte block.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn decode_q4_0(block: *const u8) -> Block {
    // SAFETY: the scale is bytes 0..2 (two_halves also reads the first two
    // codes, unused) and the codes 2..18.
    let (d, codes) = unsafe { (two_halves(block), nibbles(block.add(2))) };
    Block {
        scale: _mm256_broadcastss_ps(d),
        offset: -8.0 * _mm_cvtss_f32(d),
        codes,
    }
}

/// `Q4_1` (`d: f16`, `m: f16`, 16 bytes of codes): weight = `d · q + m`.
///
/// # Safety
/// `block` points at one 20-byte block.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn decode_q4_1(block: *const u8) -> Block {
    // SAFETY: the scales are bytes 0..4 and the codes 4..20.
    let (dm, codes) = unsafe { (two_halves(block), nibbles(block.add(4))) };
    Block {
        scale: _mm256_broadcastss_ps(dm),
        offset: _mm_cvtss_f32(_mm_movehdup_ps(dm)),
        codes,
    }
}

/// `Q8_0` (`d: f16`, 32 signed bytes): weight = `d · q`.
///
/// # Safety
/// `block` points at one 34-byte block.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn decode_q8_0(block: *const u8) -> Block {
    // SAFETY: the scale is bytes 0..2 (two more are read, unused) and the
    // codes 2..34, read 8 at a time.
    unsafe {
        let code = |g: usize| {
            let q = _mm_loadl_epi64(block.add(2 + 8 * g).cast::<__m128i>());
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))
        };
        Block {
            scale: _mm256_broadcastss_ps(two_halves(block)),
            offset: 0.0,
            codes: [code(0), code(1), code(2), code(3)],
        }
    }
}
