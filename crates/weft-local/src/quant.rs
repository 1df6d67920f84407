//! ggml tensor types and their block dequantization.
//!
//! ggml stores a tensor row as a run of fixed-size *blocks*. A block holds
//! `block_size` weights in `block_bytes` bytes: one or two f16 scale factors
//! and the packed integer codes. Rows are always whole blocks, so a matrix
//! stays quantized in memory one row at a time ([`QuantizedMatrix`]) and any
//! row can be decoded without touching the others.
//!
//! Each supported type has one small function that decodes one block, written
//! to read like the layout it implements (`dequantize_block_q4_1` and so on);
//! [`dequantize`] and [`QuantizedMatrix::row`] run them over many blocks. The
//! layouts, little-endian throughout:
//!
//! | type | weights | bytes | layout | weight |
//! | --- | --- | --- | --- | --- |
//! | `Q4_0` | 32 | 18 | `d: f16`, `qs: [u8; 16]` | `(q - 8) * d` |
//! | `Q4_1` | 32 | 20 | `d: f16`, `m: f16`, `qs: [u8; 16]` | `q * d + m` |
//! | `Q5_0` | 32 | 22 | `d: f16`, `qh: u32`, `qs: [u8; 16]` | `(q - 16) * d` |
//! | `Q5_1` | 32 | 24 | `d: f16`, `m: f16`, `qh: u32`, `qs: [u8; 16]` | `q * d + m` |
//! | `Q8_0` | 32 | 34 | `d: f16`, `qs: [i8; 32]` | `q * d` |
//! | `Q4_K` | 256 | 144 | `d, dmin: f16`, `scales: [u8; 12]`, `qs: [u8; 128]` | `d * sc * q - dmin * m` |
//! | `Q5_K` | 256 | 176 | `d, dmin: f16`, `scales: [u8; 12]`, `qh: [u8; 32]`, `qs: [u8; 128]` | `d * sc * q - dmin * m` |
//! | `Q6_K` | 256 | 210 | `ql: [u8; 128]`, `qh: [u8; 64]`, `scales: [i8; 16]`, `d: f16` | `d * sc * (q - 32)` |
//!
//! In the 32-weight formats, byte `j` of `qs` holds weight `j` in its low
//! nibble and weight `j + 16` in its high nibble; in `Q5_0`/`Q5_1` bit `i` of
//! `qh` is the fifth bit of weight `i`. The super-block ("K") formats are
//! described on their block functions.

use std::fmt;

/// Weights per super-block in the "K" quantization formats.
pub const QK_K: usize = 256;

/// A ggml tensor element type, by its GGUF type id.
///
/// Every id ggml currently assigns is recognised, so that an error can name
/// the type; [`GgmlType::is_supported`] says which ones this crate decodes.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// IEEE half (id 1).
    F16,
    /// 4-bit, one scale per 32 (id 2).
    Q4_0,
    /// 4-bit, scale and minimum per 32 (id 3).
    Q4_1,
    /// 5-bit, one scale per 32 (id 6).
    Q5_0,
    /// 5-bit, scale and minimum per 32 (id 7).
    Q5_1,
    /// 8-bit, one scale per 32 (id 8).
    Q8_0,
    /// 8-bit with a precomputed block sum (id 9); an activation format.
    Q8_1,
    /// 2-bit super-blocks (id 10).
    Q2_K,
    /// 3-bit super-blocks (id 11).
    Q3_K,
    /// 4-bit super-blocks (id 12).
    Q4_K,
    /// 5-bit super-blocks (id 13).
    Q5_K,
    /// 6-bit super-blocks (id 14).
    Q6_K,
    /// 8-bit super-blocks (id 15); an activation format.
    Q8_K,
    /// Importance-matrix 2-bit (id 16).
    IQ2_XXS,
    /// Importance-matrix 2-bit (id 17).
    IQ2_XS,
    /// Importance-matrix 3-bit (id 18).
    IQ3_XXS,
    /// Importance-matrix 1-bit (id 19).
    IQ1_S,
    /// Non-linear 4-bit (id 20).
    IQ4_NL,
    /// Importance-matrix 3-bit (id 21).
    IQ3_S,
    /// Importance-matrix 2-bit (id 22).
    IQ2_S,
    /// Importance-matrix 4-bit (id 23).
    IQ4_XS,
    /// 8-bit integer (id 24).
    I8,
    /// 16-bit integer (id 25).
    I16,
    /// 32-bit integer (id 26).
    I32,
    /// 64-bit integer (id 27).
    I64,
    /// 64-bit float (id 28).
    F64,
    /// Importance-matrix 1-bit (id 29).
    IQ1_M,
    /// bfloat16 (id 30).
    BF16,
    /// Ternary (id 34).
    TQ1_0,
    /// Ternary (id 35).
    TQ2_0,
    /// Microscaling FP4 (id 39).
    MXFP4,
    /// NVIDIA FP4 (id 40).
    NVFP4,
    /// 1-bit (id 41).
    Q1_0,
}

impl GgmlType {
    /// The type with this GGUF id, or `None` for an id ggml does not assign
    /// (including the retired ids 4, 5, 31–33 and 36–38).
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            16 => IQ2_XXS,
            17 => IQ2_XS,
            18 => IQ3_XXS,
            19 => IQ1_S,
            20 => IQ4_NL,
            21 => IQ3_S,
            22 => IQ2_S,
            23 => IQ4_XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1_M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            39 => MXFP4,
            40 => NVFP4,
            41 => Q1_0,
            _ => return None,
        })
    }

    /// The GGUF id.
    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2_K => 10,
            Q3_K => 11,
            Q4_K => 12,
            Q5_K => 13,
            Q6_K => 14,
            Q8_K => 15,
            IQ2_XXS => 16,
            IQ2_XS => 17,
            IQ3_XXS => 18,
            IQ1_S => 19,
            IQ4_NL => 20,
            IQ3_S => 21,
            IQ2_S => 22,
            IQ4_XS => 23,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            IQ1_M => 29,
            BF16 => 30,
            TQ1_0 => 34,
            TQ2_0 => 35,
            MXFP4 => 39,
            NVFP4 => 40,
            Q1_0 => 41,
        }
    }

    /// The name ggml gives the type, e.g. `"Q5_K"`.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1_M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
            NVFP4 => "NVFP4",
            Q1_0 => "Q1_0",
        }
    }

    /// Weights per block (1 for the plain number types).
    pub fn block_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 | IQ4_NL | MXFP4 => 32,
            NVFP4 => 64,
            Q1_0 => 128,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K | IQ2_XXS | IQ2_XS | IQ3_XXS | IQ1_S
            | IQ3_S | IQ2_S | IQ4_XS | IQ1_M | TQ1_0 | TQ2_0 => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        use GgmlType::*;
        match self {
            I8 => 1,
            F16 | BF16 | I16 => 2,
            F32 | I32 => 4,
            I64 | F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 40,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
            Q8_K => 292,
            IQ2_XXS => 66,
            IQ2_XS => 74,
            IQ3_XXS => 98,
            IQ1_S => 50,
            IQ4_NL => 18,
            IQ3_S => 110,
            IQ2_S => 82,
            IQ4_XS => 136,
            IQ1_M => 56,
            TQ1_0 => 54,
            TQ2_0 => 66,
            MXFP4 => 17,
            NVFP4 => 36,
            Q1_0 => 18,
        }
    }

    /// Whether [`dequantize`] can decode this type.
    pub fn is_supported(self) -> bool {
        use GgmlType::*;
        matches!(
            self,
            F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K
        )
    }

    /// Bytes taken by `n_elements` weights, or `None` when that is not a whole
    /// number of blocks (or overflows).
    pub fn bytes_for(self, n_elements: usize) -> Option<usize> {
        if !n_elements.is_multiple_of(self.block_size()) {
            return None;
        }
        (n_elements / self.block_size()).checked_mul(self.block_bytes())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a buffer could not be dequantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// The type is recognised but this crate has no decoder for it.
    #[error(
        "ggml type {0} cannot be dequantized (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
    )]
    Unsupported(GgmlType),
    /// The element count is not a whole number of blocks.
    #[error("{n_elements} elements is not a whole number of {ty} blocks of {block_size}")]
    PartialBlock {
        /// The type.
        ty: GgmlType,
        /// The element count asked for.
        n_elements: usize,
        /// Weights per block of `ty`.
        block_size: usize,
    },
    /// The buffer's length does not match the element count.
    #[error("{n_elements} {ty} elements take {expected} bytes, but {found} were given")]
    ByteLength {
        /// The type.
        ty: GgmlType,
        /// The element count asked for.
        n_elements: usize,
        /// The bytes those elements take.
        expected: usize,
        /// The bytes given.
        found: usize,
    },
    /// A row index past the end of a matrix.
    #[error("row {row} is out of range for a matrix of {rows} rows")]
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// Activations that are not whole rows of the matrix's width.
    #[error("a product needs {expected} activations, but {found} were given")]
    ActivationShape {
        /// Tokens times the matrix's columns.
        expected: usize,
        /// The activations given.
        found: usize,
    },
}

/// Bytes needed by `n_elements` of `ty`, checking that `ty` is decodable and
/// that the count is whole blocks.
fn checked_len(ty: GgmlType, n_elements: usize) -> Result<usize, QuantError> {
    if !ty.is_supported() {
        return Err(QuantError::Unsupported(ty));
    }
    let Some(expected) = ty.bytes_for(n_elements) else {
        return Err(QuantError::PartialBlock {
            ty,
            n_elements,
            block_size: ty.block_size(),
        });
    };
    Ok(expected)
}

/// Decodes `n_elements` weights of type `ty` from `bytes`, which must hold
/// exactly that many (a whole number of blocks).
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elements: usize) -> Result<Vec<f32>, QuantError> {
    checked_len(ty, n_elements)?;
    let mut out = vec![0.0; n_elements];
    dequantize_into(ty, bytes, &mut out)?;
    Ok(out)
}

/// Decodes weights of type `ty` from `bytes` into `out`, whose length is the
/// element count; `bytes` must hold exactly that many weights.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let expected = checked_len(ty, out.len())?;
    if bytes.len() != expected {
        return Err(QuantError::ByteLength {
            ty,
            n_elements: out.len(),
            expected,
            found: bytes.len(),
        });
    }
    match ty {
        GgmlType::F32 => for_each_block(bytes, out, dequantize_f32),
        GgmlType::F16 => for_each_block(bytes, out, dequantize_f16),
        GgmlType::BF16 => for_each_block(bytes, out, dequantize_bf16),
        GgmlType::Q4_0 => for_each_block(bytes, out, dequantize_block_q4_0),
        GgmlType::Q4_1 => for_each_block(bytes, out, dequantize_block_q4_1),
        GgmlType::Q5_0 => for_each_block(bytes, out, dequantize_block_q5_0),
        GgmlType::Q5_1 => for_each_block(bytes, out, dequantize_block_q5_1),
        GgmlType::Q8_0 => for_each_block(bytes, out, dequantize_block_q8_0),
        GgmlType::Q4_K => for_each_block(bytes, out, dequantize_block_q4_k),
        GgmlType::Q5_K => for_each_block(bytes, out, dequantize_block_q5_k),
        GgmlType::Q6_K => for_each_block(bytes, out, dequantize_block_q6_k),
        other => return Err(QuantError::Unsupported(other)),
    }
    Ok(())
}

/// Runs a block decoder over matching runs of `B`-byte blocks and
/// `N`-weight outputs. The caller has checked the lengths agree.
fn for_each_block<const B: usize, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
    decode: fn(&[u8; B], &mut [f32; N]),
) {
    let (blocks, _) = bytes.as_chunks::<B>();
    let (outs, _) = out.as_chunks_mut::<N>();
    for (block, out) in blocks.iter().zip(outs) {
        decode(block, out);
    }
}

/// The little-endian f16 at `bytes[at..at + 2]`, widened.
#[inline(always)]
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Widens IEEE half-precision bits to f32, exactly, in a few branch-free
/// integer and float operations (so it inlines into the block kernels and
/// vectorizes, where a library call per block scale would not).
///
/// Shifting the half's exponent and mantissa into f32 position reads them
/// with f32's exponent bias (127) instead of the half's (15); multiplying by
/// 2¹¹² restores the value, subnormal halves included. Infinities and NaNs
/// keep an all-ones exponent.
#[inline(always)]
pub fn f16_to_f32(bits: u16) -> f32 {
    const REBIAS: f32 = f32::from_bits((127 + 112) << 23); // 2^112
    let bits = u32::from(bits);
    let sign = (bits & 0x8000) << 16;
    let magnitude = (bits & 0x7FFF) << 13;
    let finite = f32::from_bits(magnitude) * REBIAS;
    let value = if bits & 0x7C00 == 0x7C00 {
        f32::from_bits(magnitude | 0x7F80_0000)
    } else {
        finite
    };
    f32::from_bits(value.to_bits() | sign)
}

/// One little-endian f32.
pub fn dequantize_f32(block: &[u8; 4], out: &mut [f32; 1]) {
    out[0] = f32::from_le_bytes(*block);
}

/// One little-endian IEEE half.
pub fn dequantize_f16(block: &[u8; 2], out: &mut [f32; 1]) {
    out[0] = f16_to_f32(u16::from_le_bytes(*block));
}

/// One little-endian bfloat16: the top half of an f32.
pub fn dequantize_bf16(block: &[u8; 2], out: &mut [f32; 1]) {
    out[0] = f32::from_bits(u32::from(u16::from_le_bytes(*block)) << 16);
}

/// `Q4_0`: `d: f16`, then 16 bytes of 4-bit codes; byte `j` holds weight `j`
/// (low nibble) and weight `j + 16` (high nibble). Weight = `(q - 8) * d`.
#[inline(always)]
pub fn dequantize_block_q4_0(block: &[u8; 18], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let qs = &block[2..18];
    for (j, &q) in qs.iter().enumerate() {
        out[j] = (i32::from(q & 0x0F) - 8) as f32 * d;
        out[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

/// `Q4_1`: `d: f16`, `m: f16`, then 16 bytes of 4-bit codes laid out as in
/// `Q4_0`. Weight = `q * d + m`.
#[inline(always)]
pub fn dequantize_block_q4_1(block: &[u8; 20], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let m = f16_at(block, 2);
    let qs = &block[4..20];
    for (j, &q) in qs.iter().enumerate() {
        out[j] = f32::from(q & 0x0F) * d + m;
        out[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// `Q5_0`: `d: f16`, `qh: u32`, 16 bytes of low nibbles laid out as in
/// `Q4_0`; bit `i` of `qh` is bit 4 of weight `i`. Weight = `(q - 16) * d`.
#[inline(always)]
pub fn dequantize_block_q5_0(block: &[u8; 22], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    let qs = &block[6..22];
    for (j, &q) in qs.iter().enumerate() {
        let lo = u32::from(q & 0x0F) | (((qh >> j) & 1) << 4);
        let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        out[j] = (lo as i32 - 16) as f32 * d;
        out[j + 16] = (hi as i32 - 16) as f32 * d;
    }
}

/// `Q5_1`: `d: f16`, `m: f16`, `qh: u32`, 16 bytes of low nibbles, 5-bit
/// codes assembled as in `Q5_0`. Weight = `q * d + m`.
#[inline(always)]
pub fn dequantize_block_q5_1(block: &[u8; 24], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let m = f16_at(block, 2);
    let qh = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
    let qs = &block[8..24];
    for (j, &q) in qs.iter().enumerate() {
        let lo = u32::from(q & 0x0F) | (((qh >> j) & 1) << 4);
        let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        out[j] = lo as f32 * d + m;
        out[j + 16] = hi as f32 * d + m;
    }
}

/// `Q8_0`: `d: f16`, then 32 signed bytes. Weight = `q * d`.
#[inline(always)]
pub fn dequantize_block_q8_0(block: &[u8; 34], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    for (o, &q) in out.iter_mut().zip(&block[2..34]) {
        *o = f32::from(q as i8) * d;
    }
}

/// The 6-bit scale and 6-bit minimum of sub-block `j` (0..8) of a `Q4_K` or
/// `Q5_K` super-block, packed into 12 bytes:
///
/// - sub-blocks 0..4: scale = low 6 bits of byte `j`, minimum = low 6 bits
///   of byte `j + 4`;
/// - sub-blocks 4..8: the low 4 bits come from byte `j + 4` (scale in its low
///   nibble, minimum in its high nibble) and the top 2 bits from the spare
///   top bits of byte `j - 4` (scale) and byte `j` (minimum).
pub fn k_scale_min(scales: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 0x3F, scales[j + 4] & 0x3F)
    } else {
        let scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
        let min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (scale, min)
    }
}

/// The 12 packed scale bytes at `block[4..16]` of a `Q4_K`/`Q5_K` block.
fn k_scales(block: &[u8]) -> [u8; 12] {
    let mut scales = [0u8; 12];
    scales.copy_from_slice(&block[4..16]);
    scales
}

/// `Q4_K`: a super-block of 256 weights in 8 sub-blocks of 32. Layout:
/// `d: f16`, `dmin: f16`, `scales: [u8; 12]` (a 6-bit scale and 6-bit minimum
/// per sub-block, see [`k_scale_min`]), `qs: [u8; 128]`. Each 32 bytes of
/// `qs` hold two sub-blocks: the low nibbles are sub-block `2c`, the high
/// nibbles sub-block `2c + 1`. Weight = `(d * scale) * q - dmin * min`.
#[inline(always)]
pub fn dequantize_block_q4_k(block: &[u8; 144], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    let dmin = f16_at(block, 2);
    let scales = k_scales(block);
    let qs = &block[16..144];
    for c in 0..4 {
        let (sc_lo, m_lo) = k_scale_min(&scales, 2 * c);
        let (sc_hi, m_hi) = k_scale_min(&scales, 2 * c + 1);
        let (d_lo, min_lo) = (d * f32::from(sc_lo), dmin * f32::from(m_lo));
        let (d_hi, min_hi) = (d * f32::from(sc_hi), dmin * f32::from(m_hi));
        for l in 0..32 {
            let q = qs[32 * c + l];
            out[64 * c + l] = d_lo * f32::from(q & 0x0F) - min_lo;
            out[64 * c + 32 + l] = d_hi * f32::from(q >> 4) - min_hi;
        }
    }
}

/// `Q5_K`: as `Q4_K` with a fifth bit per weight. Layout: `d: f16`,
/// `dmin: f16`, `scales: [u8; 12]`, `qh: [u8; 32]`, `qs: [u8; 128]`. The low
/// four bits come from `qs` as in `Q4_K`; bit `s` of `qh[l]` is bit 4 of
/// weight `l` of sub-block `s`. Weight = `(d * scale) * q - dmin * min`.
#[inline(always)]
pub fn dequantize_block_q5_k(block: &[u8; 176], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    let dmin = f16_at(block, 2);
    let scales = k_scales(block);
    let qh = &block[16..48];
    let qs = &block[48..176];
    for c in 0..4 {
        let (s_lo, s_hi) = (2 * c, 2 * c + 1);
        let (sc_lo, m_lo) = k_scale_min(&scales, s_lo);
        let (sc_hi, m_hi) = k_scale_min(&scales, s_hi);
        let (d_lo, min_lo) = (d * f32::from(sc_lo), dmin * f32::from(m_lo));
        let (d_hi, min_hi) = (d * f32::from(sc_hi), dmin * f32::from(m_hi));
        for l in 0..32 {
            let q = qs[32 * c + l];
            let lo = (q & 0x0F) | (((qh[l] >> s_lo) & 1) << 4);
            let hi = (q >> 4) | (((qh[l] >> s_hi) & 1) << 4);
            out[64 * c + l] = d_lo * f32::from(lo) - min_lo;
            out[64 * c + 32 + l] = d_hi * f32::from(hi) - min_hi;
        }
    }
}

/// `Q6_K`: a super-block of 256 weights in 16 groups of 16, each with a
/// signed 8-bit scale. Layout: `ql: [u8; 128]` (low 4 bits), `qh: [u8; 64]`
/// (high 2 bits), `scales: [i8; 16]`, `d: f16`.
///
/// The block is two halves of 128 weights; half `h` uses `ql[64h..64h+64]`,
/// `qh[32h..32h+32]` and `scales[8h..8h+8]`. Within a half, for `l` in
/// 0..32, the four weights `l`, `l + 32`, `l + 64`, `l + 96` take their low
/// bits from the low nibble of `ql[l]`, the low nibble of `ql[l + 32]`, the
/// high nibble of `ql[l]` and the high nibble of `ql[l + 32]`, and their high
/// bits from bits 0–1, 2–3, 4–5 and 6–7 of `qh[l]`. Weight `i` of the block
/// uses `scales[i / 16]`. Weight = `(d * scale) * (q - 32)`.
#[inline(always)]
pub fn dequantize_block_q6_k(block: &[u8; 210], out: &mut [f32; 256]) {
    let d = f16_at(block, 208);
    for h in 0..2 {
        let ql = &block[64 * h..64 * h + 64];
        let qh = &block[128 + 32 * h..128 + 32 * h + 32];
        let out = &mut out[128 * h..128 * h + 128];
        for l in 0..32 {
            let codes = [
                (ql[l] & 0x0F) | ((qh[l] & 0x03) << 4),
                (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 0x03) << 4),
                (ql[l] >> 4) | (((qh[l] >> 4) & 0x03) << 4),
                (ql[l + 32] >> 4) | (((qh[l] >> 6) & 0x03) << 4),
            ];
            for (g, &q) in codes.iter().enumerate() {
                let i = 32 * g + l;
                let scale = f32::from(block[192 + 8 * h + i / 16] as i8);
                out[i] = (d * scale) * (i32::from(q) - 32) as f32;
            }
        }
    }
}

/// A matrix kept in its ggml encoding: `rows` rows of `cols` weights, each
/// row a whole number of blocks, rows stored one after another.
///
/// This is the form fused dequantize-and-multiply kernels consume; [`row`]
/// decodes one row when f32 is needed.
///
/// [`row`]: QuantizedMatrix::row
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizedMatrix {
    /// The encoding.
    pub ty: GgmlType,
    /// Number of rows (the output features of a projection).
    pub rows: usize,
    /// Weights per row (the input features of a projection).
    pub cols: usize,
    /// `rows * row_bytes` bytes.
    pub bytes: Vec<u8>,
}

impl QuantizedMatrix {
    /// A matrix over `bytes`, checking that the type is decodable and the
    /// sizes agree.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, bytes: Vec<u8>) -> Result<Self, QuantError> {
        let matrix = Self {
            ty,
            rows,
            cols,
            bytes,
        };
        let expected = matrix.row_bytes_len()?.checked_mul(rows);
        if expected != Some(matrix.bytes.len()) {
            return Err(QuantError::ByteLength {
                ty,
                n_elements: rows.saturating_mul(cols),
                expected: expected.unwrap_or(usize::MAX),
                found: matrix.bytes.len(),
            });
        }
        Ok(matrix)
    }

    /// Bytes per row.
    pub fn row_bytes_len(&self) -> Result<usize, QuantError> {
        checked_len(self.ty, self.cols)
    }

    /// The encoded bytes of row `i`.
    pub fn row_bytes(&self, i: usize) -> Result<&[u8], QuantError> {
        let len = self.row_bytes_len()?;
        if i >= self.rows {
            return Err(QuantError::RowOutOfRange {
                row: i,
                rows: self.rows,
            });
        }
        let start = i.saturating_mul(len);
        self.bytes
            .get(start..start.saturating_add(len))
            .ok_or(QuantError::ByteLength {
                ty: self.ty,
                n_elements: self.rows.saturating_mul(self.cols),
                expected: len.saturating_mul(self.rows),
                found: self.bytes.len(),
            })
    }

    /// Row `i` decoded to f32.
    pub fn row(&self, i: usize) -> Result<Vec<f32>, QuantError> {
        let mut out = vec![0.0; self.cols];
        self.row_into(i, &mut out)?;
        Ok(out)
    }

    /// Decodes row `i` into `out`, which must hold `cols` values.
    pub fn row_into(&self, i: usize, out: &mut [f32]) -> Result<(), QuantError> {
        dequantize_into(self.ty, self.row_bytes(i)?, out)
    }

    /// The whole matrix decoded to f32, row-major.
    pub fn dequantize(&self) -> Result<Vec<f32>, QuantError> {
        let n = self
            .rows
            .checked_mul(self.cols)
            .ok_or(QuantError::PartialBlock {
                ty: self.ty,
                n_elements: usize::MAX,
                block_size: self.ty.block_size(),
            })?;
        dequantize(self.ty, &self.bytes, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_widening_is_exact_for_every_half() {
        for bits in 0..=u16::MAX {
            let ours = f16_to_f32(bits);
            let theirs = half::f16::from_bits(bits).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn ids_round_trip() {
        for id in 0..64 {
            if let Some(ty) = GgmlType::from_id(id) {
                assert_eq!(ty.id(), id);
            }
        }
        assert_eq!(GgmlType::from_id(13).map(GgmlType::name), Some("Q5_K"));
        assert_eq!(GgmlType::from_id(4), None);
    }

    #[test]
    fn q4_0_by_hand() {
        let mut block = [0u8; 18];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        block[2] = 0xF0; // weight 0: 0 - 8, weight 16: 15 - 8
        block[17] = 0x19; // weight 15: 9 - 8, weight 31: 1 - 8
        let out = dequantize(GgmlType::Q4_0, &block, 32).unwrap();
        assert_eq!(out[0], -4.0);
        assert_eq!(out[16], 3.5);
        assert_eq!(out[15], 0.5);
        assert_eq!(out[31], -3.5);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 34], 31),
            Err(QuantError::PartialBlock { .. })
        ));
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 33], 32),
            Err(QuantError::ByteLength { .. })
        ));
        assert_eq!(
            dequantize(GgmlType::Q3_K, &[0; 110], 256),
            Err(QuantError::Unsupported(GgmlType::Q3_K))
        );
        let m = QuantizedMatrix::new(GgmlType::Q8_0, 2, 32, vec![0; 68]).unwrap();
        assert!(m.row(1).is_ok());
        assert!(matches!(m.row(2), Err(QuantError::RowOutOfRange { .. })));
        assert!(QuantizedMatrix::new(GgmlType::Q8_0, 2, 32, vec![0; 67]).is_err());
    }
}
