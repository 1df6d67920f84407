//! Matrix products against weights kept in their ggml encoding, on the CPU.
//!
//! For activations `x: [n, cols]` and a weight matrix `W: [rows, cols]`
//! stored as ggml blocks:
//!
//! ```text
//! y[t, r] = Σ_c x[t, c] · W[r, c]
//! ```
//!
//! Decoding at batch 1 is bound by memory: every weight is read once per
//! token. So `W` stays in its compact encoding (Q4_1 is 5 bits a weight
//! instead of f32's 32), and each block is decoded into registers right where
//! it is multiplied: nothing the size of `W` is ever written as f32. A decoded
//! block is reused across a tile of up to [`TOKEN_TILE`] tokens, which is what
//! makes prefill cheaper per token than decoding.
//!
//! Activations stay f32, so results equal an f32 product over the dequantized
//! weights up to summation order. On x86-64 with AVX2, FMA and F16C (checked at
//! run time) the [`avx2`] kernels run; elsewhere portable Rust that the
//! compiler vectorizes as it can. Rows are split across rayon's pool on
//! native targets.

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;

use crate::quant::{
    GgmlType, QuantError, QuantizedMatrix, dequantize_block_q4_0, dequantize_block_q4_1,
    dequantize_block_q4_k, dequantize_block_q5_0, dequantize_block_q5_1, dequantize_block_q5_k,
    dequantize_block_q6_k, dequantize_block_q8_0, dequantize_into,
};

/// Tokens multiplied per decoded block.
pub const TOKEN_TILE: usize = 4;

/// f32 lanes per accumulator: one 256-bit vector.
const LANES: usize = 8;

/// Rows per task when rows are shared among threads: big enough that a task
/// outweighs its scheduling, small enough to balance a 576-row matrix.
#[cfg(not(target_arch = "wasm32"))]
const ROWS_PER_TASK: usize = 64;

/// `x · Wᵀ` for `x: [n, w.cols]` (row-major): returns `[n, w.rows]`.
///
/// Fails only when `x` does not hold `n` rows of `w.cols` values, or the
/// matrix's type has no decoder.
pub fn matmul(w: &QuantizedMatrix, x: &[f32], n: usize) -> Result<Vec<f32>, QuantError> {
    product(w, x, n, false)
}

/// [`matmul`], on the portable kernels when `portable` is set.
fn product(
    w: &QuantizedMatrix,
    x: &[f32],
    n: usize,
    portable: bool,
) -> Result<Vec<f32>, QuantError> {
    let row_len = w.row_bytes_len()?;
    if x.len() != n.saturating_mul(w.cols) {
        return Err(QuantError::ActivationShape {
            expected: n.saturating_mul(w.cols),
            found: x.len(),
        });
    }
    // Rows outermost: `transposed[r * n + t] = y[t, r]`, so threads own
    // disjoint runs of rows.
    let mut transposed = vec![0f32; w.rows * n];
    let job = Job {
        ty: w.ty,
        bytes: &w.bytes,
        row_len,
        cols: w.cols,
        x,
        n,
        portable,
        #[cfg(target_arch = "x86_64")]
        x_block_sums: OnceLock::new(),
    };
    for_row_chunks(&mut transposed, n, |first_row, out| {
        job.rows(first_row, out)
    });
    if n == 1 {
        return Ok(transposed);
    }
    let mut y = vec![0f32; n * w.rows];
    for (r, column) in transposed.chunks_exact(n).enumerate() {
        for (t, &v) in column.iter().enumerate() {
            y[t * w.rows + r] = v;
        }
    }
    Ok(y)
}

/// Runs `f(first_row, out)` over chunks of `out` (`n` values per row),
/// sharing them among rayon's threads on native targets.
fn for_row_chunks(out: &mut [f32], n: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    if rayon::current_num_threads() > 1 && out.len() > ROWS_PER_TASK * n {
        use rayon::prelude::*;
        out.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(i, chunk)| f(i * ROWS_PER_TASK, chunk));
        return;
    }
    // A browser tab has one thread here: every row in one task.
    #[cfg(target_arch = "wasm32")]
    let _ = n;
    f(0, out);
}

/// One product's operands.
struct Job<'a> {
    ty: GgmlType,
    bytes: &'a [u8],
    row_len: usize,
    cols: usize,
    x: &'a [f32],
    n: usize,
    /// Skip the CPU-specific kernels.
    portable: bool,
    /// `Σ x` over each 32-wide block of each token, computed once per
    /// product by the first row task that needs it (the AVX2 kernels).
    #[cfg(target_arch = "x86_64")]
    x_block_sums: OnceLock<Vec<f32>>,
}

impl Job<'_> {
    /// `Σ x` over each 32-wide block of each token, `[n, cols / 32]`.
    #[cfg(target_arch = "x86_64")]
    fn x_block_sums(&self) -> &[f32] {
        self.x_block_sums.get_or_init(|| {
            let (blocks, _) = self.x.as_chunks::<32>();
            blocks.iter().map(|b| b.iter().sum()).collect()
        })
    }

    /// Fills `out` (`n` values per row) for rows `first_row..`.
    // Calling the AVX2 kernels is sound only after the CPU check right
    // above the call.
    #[allow(unsafe_code)]
    fn rows(&self, first_row: usize, out: &mut [f32]) {
        if self.portable {
            return self.portable_rows(first_row, out);
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU has just been checked for AVX2, FMA and F16C.
            unsafe { avx2::rows(self, first_row, out) };
            return;
        }
        self.portable_rows(first_row, out);
    }

    /// The portable kernels.
    fn portable_rows(&self, first_row: usize, out: &mut [f32]) {
        match self.ty {
            GgmlType::Q4_0 => self.block_rows(first_row, out, dequantize_block_q4_0),
            GgmlType::Q4_1 => self.block_rows(first_row, out, dequantize_block_q4_1),
            GgmlType::Q5_0 => self.block_rows(first_row, out, dequantize_block_q5_0),
            GgmlType::Q5_1 => self.block_rows(first_row, out, dequantize_block_q5_1),
            GgmlType::Q8_0 => self.block_rows(first_row, out, dequantize_block_q8_0),
            GgmlType::Q4_K => self.block_rows(first_row, out, dequantize_block_q4_k),
            GgmlType::Q5_K => self.block_rows(first_row, out, dequantize_block_q5_k),
            GgmlType::Q6_K => self.block_rows(first_row, out, dequantize_block_q6_k),
            // One weight per "block": decode a row at a time instead.
            _ => self.decoded_rows(first_row, out),
        }
    }

    /// Block-quantized rows: each `B`-byte block decodes to `N` weights and
    /// is multiplied into every token of a tile.
    fn block_rows<const B: usize, const N: usize>(
        &self,
        first_row: usize,
        out: &mut [f32],
        decode: fn(&[u8; B], &mut [f32; N]),
    ) {
        let mut weights = [0f32; N];
        for (i, y) in out.chunks_exact_mut(self.n).enumerate() {
            let start = (first_row + i) * self.row_len;
            let (blocks, _) = self.bytes[start..start + self.row_len].as_chunks::<B>();
            let mut t = 0;
            while t + TOKEN_TILE <= self.n {
                let sums = self.tile::<B, N, TOKEN_TILE, 1>(blocks, t, &mut weights, decode);
                y[t..t + TOKEN_TILE].copy_from_slice(&sums);
                t += TOKEN_TILE;
            }
            while t < self.n {
                let [sum] = self.tile::<B, N, 1, 4>(blocks, t, &mut weights, decode);
                y[t] = sum;
                t += 1;
            }
        }
    }

    /// `Σ_c x[t, c] · W[row, c]` for the `T` tokens from `first`, with `K`
    /// independent accumulators per token so additions do not wait on each
    /// other.
    fn tile<const B: usize, const N: usize, const T: usize, const K: usize>(
        &self,
        blocks: &[[u8; B]],
        first: usize,
        weights: &mut [f32; N],
        decode: fn(&[u8; B], &mut [f32; N]),
    ) -> [f32; T] {
        let mut acc = [[[0f32; LANES]; K]; T];
        for (b, block) in blocks.iter().enumerate() {
            decode(block, weights);
            for (t, acc) in acc.iter_mut().enumerate() {
                let x = &self.x[(first + t) * self.cols + b * N..][..N];
                multiply_add(acc, weights, x);
            }
        }
        acc.map(|acc| acc.iter().flatten().sum())
    }

    /// Rows of single-weight types (f32, f16, bf16): decode one row, then
    /// take its dot product with each token.
    fn decoded_rows(&self, first_row: usize, out: &mut [f32]) {
        let mut weights = vec![0f32; self.cols];
        for (i, y) in out.chunks_exact_mut(self.n).enumerate() {
            let start = (first_row + i) * self.row_len;
            // The matrix was validated on construction, so its rows decode.
            if dequantize_into(
                self.ty,
                &self.bytes[start..start + self.row_len],
                &mut weights,
            )
            .is_err()
            {
                y.fill(f32::NAN);
                continue;
            }
            for (t, y) in y.iter_mut().enumerate() {
                *y = dot(&weights, &self.x[t * self.cols..(t + 1) * self.cols]);
            }
        }
    }
}

/// `acc[k] += w ⊙ x` over consecutive `LANES`-wide chunks, round-robin
/// across the `K` accumulators.
fn multiply_add<const K: usize>(acc: &mut [[f32; LANES]; K], w: &[f32], x: &[f32]) {
    let (w, _) = w.as_chunks::<LANES>();
    let (x, _) = x.as_chunks::<LANES>();
    for (i, (w, x)) in w.iter().zip(x).enumerate() {
        let acc = &mut acc[i % K];
        for l in 0..LANES {
            acc[l] += w[l] * x[l];
        }
    }
}

/// `Σ a[i] · b[i]` for equal-length slices of any length.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [[0f32; LANES]; 4];
    let whole = a.len() / LANES * LANES;
    multiply_add(&mut acc, &a[..whole], &b[..whole]);
    let tail: f32 = a[whole..].iter().zip(&b[whole..]).map(|(a, b)| a * b).sum();
    acc.iter().flatten().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1).
    fn noise(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Random block bytes whose f16 scales are small and finite.
    fn random_matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> QuantizedMatrix {
        let len = ty.bytes_for(rows * cols).expect("whole blocks");
        let mut bytes: Vec<u8> = noise(seed, len)
            .iter()
            .map(|v| ((v + 1.0) * 127.5) as u8)
            .collect();
        let scale = half::f16::from_f32(0.03).to_le_bytes();
        let block = ty.block_bytes();
        let scale_offsets: &[usize] = match ty {
            GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            _ => &[],
        };
        for b in bytes.chunks_exact_mut(block) {
            for &at in scale_offsets {
                b[at..at + 2].copy_from_slice(&scale);
            }
        }
        let values = noise(seed, rows * cols);
        match ty {
            GgmlType::F32 => bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            GgmlType::F16 => {
                bytes = values
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect()
            }
            GgmlType::BF16 => {
                bytes = values
                    .iter()
                    .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                    .collect()
            }
            _ => {}
        }
        QuantizedMatrix::new(ty, rows, cols, bytes).expect("matrix")
    }

    /// The product over the dequantized weights, in f64.
    fn reference(w: &QuantizedMatrix, x: &[f32], n: usize) -> Vec<f32> {
        let dense = w.dequantize().expect("dequantize");
        let mut y = vec![0f32; n * w.rows];
        for t in 0..n {
            for r in 0..w.rows {
                let row = &dense[r * w.cols..(r + 1) * w.cols];
                let xs = &x[t * w.cols..(t + 1) * w.cols];
                let sum: f64 = row
                    .iter()
                    .zip(xs)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                y[t * w.rows + r] = sum as f32;
            }
        }
        y
    }

    #[test]
    fn every_type_matches_the_dequantized_product() {
        // Every type the decoders support.
        let types: Vec<GgmlType> = (0..64)
            .filter_map(GgmlType::from_id)
            .filter(|t| t.is_supported())
            .collect();
        assert_eq!(types.len(), 11, "{types:?}");
        // 1, 2 and 7 tokens cover decode, a partial tile, and a full tile plus a remainder;
        // 130 rows cover more than two row tasks.
        for (i, ty) in types.into_iter().enumerate() {
            let (rows, cols) = (130, 512);
            let w = random_matrix(ty, rows, cols, i as u64 + 1);
            for n in [1, 2, 7] {
                let x = noise(100 + n as u64, n * cols);
                let expected = reference(&w, &x, n);
                let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
                // The kernels this CPU picks, then the portable ones.
                for portable in [false, true] {
                    let ours = product(&w, &x, n, portable).expect("matmul");
                    for (j, (a, b)) in ours.iter().zip(&expected).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-5 * scale * (cols as f32).sqrt(),
                            "{ty} n={n} portable={portable} element {j}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn odd_widths_take_the_row_path() {
        let w = random_matrix(GgmlType::F32, 5, 13, 9);
        let x = noise(3, 2 * 13);
        let expected = reference(&w, &x, 2);
        for portable in [false, true] {
            let ours = product(&w, &x, 2, portable).expect("matmul");
            for (a, b) in ours.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-5, "portable={portable}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn activations_of_the_wrong_length_are_an_error() {
        let w = random_matrix(GgmlType::Q8_0, 4, 64, 1);
        let err = matmul(&w, &[0.0; 65], 1).expect_err("wrong length");
        assert!(err.to_string().contains("65"), "{err}");
    }
}
