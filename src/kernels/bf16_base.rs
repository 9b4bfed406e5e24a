//! The plain pieces of bf16 mixed precision, below the dispatch and the AVX512-BF16 instantiations that use
//! them: the [`Precision`] type, the conversions and the pair layout, the packing bodies, the entry walkers and
//! the lane reduction of the dot products (see [`super::bf16`] for the products themselves).

use std::fmt;
use std::str::FromStr;

use super::parallel::{split_rows, Par};
use crate::error::{Error, Result};

/// The precision the products of training run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// fp32 everywhere (the default).
    #[default]
    Fp32,
    /// Mixed precision: bf16 operands of the products, fp32 master weights, optimizer state, loss and sums.
    Bf16,
}

impl Precision {
    /// Whether this is [`Precision::Fp32`] (for `skip_serializing_if`).
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// Checks that this host can run `self`: bf16 needs AVX512-BF16 (there is no emulated path in training,
    /// only the portable reference the tests compare with).
    pub fn check_supported(self) -> Result<()> {
        match self {
            Precision::Fp32 => Ok(()),
            Precision::Bf16 if BfIsa::Avx512Bf16.is_supported() => Ok(()),
            Precision::Bf16 => Err(Error::invalid(
                "precision",
                "bf16 needs a CPU with AVX512-BF16 (Intel Sapphire Rapids or AMD Zen 4 and later); this one \
                 has none: use fp32",
            )),
        }
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(Error::invalid(
                "precision",
                format!("`{s}` is not one of fp32, bf16"),
            )),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl serde::Serialize for Precision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Precision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Instantiations of the bf16 products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BfIsa {
    /// The portable reference (any CPU): the instruction emulated lane by lane.
    Scalar,
    /// AVX512-BF16 with AVX-512F (`vdpbf16ps`).
    Avx512Bf16,
}

impl BfIsa {
    /// Whether this host can run `self`.
    pub fn is_supported(self) -> bool {
        match self {
            BfIsa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            BfIsa::Avx512Bf16 => {
                std::arch::is_x86_feature_detected!("avx512bf16")
                    && std::arch::is_x86_feature_detected!("avx512f")
            }
            #[cfg(not(target_arch = "x86_64"))]
            BfIsa::Avx512Bf16 => false,
        }
    }

    /// Every instantiation this host can run, the reference first.
    pub fn available() -> Vec<BfIsa> {
        [BfIsa::Scalar, BfIsa::Avx512Bf16]
            .into_iter()
            .filter(|i| i.is_supported())
            .collect()
    }

    /// The fastest instantiation of this host.
    pub fn best() -> BfIsa {
        if BfIsa::Avx512Bf16.is_supported() {
            BfIsa::Avx512Bf16
        } else {
            BfIsa::Scalar
        }
    }
}

/// Samples a row of a bf16 layout holds: the batch rounded up to 32 (one 512-bit vector of bf16 values, or two
/// of pairs), the padding zero.
pub fn padded(b: usize) -> usize {
    b.div_ceil(32) * 32
}

/// `x` rounded to the nearest bf16 (ties to even), as its 16 bits; NaN stays a (quiet) NaN.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    // A select, not a branch, so packing loops vectorise.
    let r = if (b & 0x7fff_ffff) > 0x7f80_0000 {
        b | 0x0040_0000
    } else {
        b.wrapping_add(0x7fff + ((b >> 16) & 1))
    };
    (r >> 16) as u16
}

/// The fp32 value of a bf16 value.
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// Two values as one pair: `lo` in the low half, `hi` in the high half.
#[inline(always)]
pub fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(to_bf16(lo)) | (u32::from(to_bf16(hi)) << 16)
}

/// The body of [`super::bf16::pack_pairs`] (on a zeroed `out`).
#[inline(always)]
pub fn pack_pairs_body(rows: usize, b: usize, x: &[f32], out: &mut [u32]) {
    let bp = padded(b);
    for (j, o) in out.chunks_exact_mut(bp).enumerate() {
        let lo = &x[2 * j * b..(2 * j + 1) * b];
        if 2 * j + 1 < rows {
            let hi = &x[(2 * j + 1) * b..(2 * j + 2) * b];
            for ((o, &l), &h) in o.iter_mut().zip(lo).zip(hi) {
                *o = pair(l, h);
            }
        } else {
            for (o, &l) in o.iter_mut().zip(lo) {
                *o = pair(l, 0.0);
            }
        }
    }
}

/// The body of [`super::bf16::pack_rows`] (on a zeroed `out`).
#[inline(always)]
pub fn pack_rows_body(b: usize, x: &[f32], out: &mut [u16]) {
    if b == 0 {
        return;
    }
    for (o, r) in out.chunks_exact_mut(padded(b)).zip(x.chunks_exact(b)) {
        for (o, &v) in o.iter_mut().zip(r) {
            *o = to_bf16(v);
        }
    }
}

/// Reads a bf16 value as the instruction does: denormals as zero of the same sign.
#[inline(always)]
pub(super) fn daz(h: u16) -> f32 {
    if h & 0x7f80 == 0 {
        from_bf16(h & 0x8000)
    } else {
        from_bf16(h)
    }
}

/// One lane of `vdpbf16ps`: `(acc + a.hi * b.hi) + a.lo * b.lo`, each sum rounded once (the products are exact).
#[inline(always)]
pub fn dp_lane(acc: f32, a: u32, b: u32) -> f32 {
    let hi = daz((a >> 16) as u16) * daz((b >> 16) as u16);
    let lo = daz(a as u16) * daz(b as u16);
    (acc + hi) + lo
}

/// Where a row's entries are and which pair (row products) or column (sampled products) each one reads.
#[derive(Clone, Copy, Debug)]
pub enum Entries<'a> {
    /// Every one of `per_row` entries of each row, stored row after row: entry `e` of row `i` is at
    /// `i * per_row + e` and reads pair or column `e`.
    Dense {
        /// Entries in each row.
        per_row: usize,
    },
    /// A CSR pattern: row `i`'s entries are `row_ptr[i]..row_ptr[i + 1]`, entry `e` reads `col[e]`.
    Sparse {
        /// Row `i`'s entries are `row_ptr[i]..row_ptr[i + 1]`.
        row_ptr: &'a [usize],
        /// The pair or column each entry reads.
        col: &'a [u32],
    },
}

impl Entries<'_> {
    /// Entries in all `rows` rows.
    pub(super) fn total(&self, rows: usize) -> usize {
        match self {
            Entries::Dense { per_row } => rows * per_row,
            Entries::Sparse { row_ptr, .. } => row_ptr[rows],
        }
    }

    /// How many pair or column rows the dense entries read (a sparse pattern's columns are checked entry by
    /// entry, where the kernels slice their rows).
    pub(super) fn width(&self) -> usize {
        match self {
            Entries::Dense { per_row } => *per_row,
            Entries::Sparse { .. } => 0,
        }
    }

    /// Rows cut into `par` pieces balanced by entries (each row also costs one unit for its outputs).
    pub(super) fn bounds(&self, rows: usize, par: Par) -> Vec<usize> {
        match self {
            Entries::Dense { .. } => split_rows(rows, par.pieces(), |r| r),
            Entries::Sparse { row_ptr, .. } => split_rows(rows, par.pieces(), |r| row_ptr[r] + r),
        }
    }
}

/// Row `i`'s entry range and the index entry `e` reads (used by both instantiations).
pub(super) trait Rows {
    fn range(&self, i: usize) -> std::ops::Range<usize>;
    fn index(&self, e: usize, start: usize) -> usize;
    /// Entries a row for dense rows (every row the same), `None` for a pattern.
    fn dense(&self) -> Option<usize>;
}

pub(super) struct DenseRows(pub usize);
pub(super) struct SparseRows<'a>(pub &'a [usize], pub &'a [u32]);

impl Rows for DenseRows {
    #[inline(always)]
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        i * self.0..(i + 1) * self.0
    }
    #[inline(always)]
    fn index(&self, e: usize, start: usize) -> usize {
        e - start
    }
    fn dense(&self) -> Option<usize> {
        Some(self.0)
    }
}

impl Rows for SparseRows<'_> {
    #[inline(always)]
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.0[i]..self.0[i + 1]
    }
    #[inline(always)]
    fn index(&self, e: usize, _start: usize) -> usize {
        self.1[e] as usize
    }
    fn dense(&self) -> Option<usize> {
        None
    }
}

/// Lanes of a bf16 dot product's accumulator (one 512-bit vector of fp32).
pub const DOT_LANES: usize = 16;

/// The lanes of a dot's accumulator summed in [`dots`]'s order.
#[inline(always)]
pub(super) fn reduce_lanes(v: &[f32; DOT_LANES]) -> f32 {
    let mut h = *v;
    let mut w = DOT_LANES / 2;
    while w > 0 {
        for l in 0..w {
            h[l] += h[l + w];
        }
        w /= 2;
    }
    h[0]
}

/// The bf16 values `2l` and `2l + 1` of a row chunk as one pair.
#[inline(always)]
pub(super) fn pair_at(r: &[u16], l: usize) -> u32 {
    u32::from(r[2 * l]) | (u32::from(r[2 * l + 1]) << 16)
}
