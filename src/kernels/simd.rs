//! The crate's `std::arch` code: CPU-feature detection and the `#[target_feature]` wrappers that instantiate one
//! safe kernel body per instruction set. Besides these wrappers, `unsafe` appears only in [`super::gemm`] (the
//! `matrixmultiply` call) and in the GPU launchers (`gpu::ops`, `--features cuda`).
//!
//! Each kernel body is written once, `#[inline(always)]`, on fixed-width lane arrays (`[f32; LANES]`) that
//! LLVM maps onto whatever vector registers the wrapper enables: one zmm (AVX-512), two ymm (AVX2) or four xmm
//! (SSE2, the x86-64 baseline; NEON on aarch64). Bodies that multiply and add are generic over `F`, whether the
//! instantiation fuses them ([`super::dense::madd`]): the AVX2 + FMA and AVX-512 instantiations (and NEON) use
//! one fused multiply-add per term, the x86-64 baseline a multiply then an add (a fused one would be a call to
//! the C library's `fmaf` per term, some fifty times slower).
//!
//! **What is guaranteed.** Every output element is computed in one fixed order by one thread, whatever the
//! block or the thread that computes it, so results are **bit-identical at any thread count** for one
//! instruction set on one machine. Across instruction sets they may differ by rounding: fused or separate
//! multiply-adds, and large dense products going through `matrixmultiply`'s micro-kernel (see
//! [`super::gemm`]), which sums in its own blocked order. Each result is a sum of `K` products computed with
//! one rounding per term at most, so two instruction sets differ by at most `2 K u sum |w x|` (`u = 2^-24`, the
//! textbook bound of two recursive sums), relative about `1e-5` on the products of the paper's sizes; the tests
//! compare every instruction set with the baseline within that bound.
//!
//! Features are detected once at run time; the crate is never built with `target-cpu=native`.

use std::sync::OnceLock;

/// Instruction sets a kernel can be instantiated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The build's baseline (SSE2 on x86-64, NEON on aarch64): always available; the reference the others
    /// are compared with (within the bound of the module documentation).
    Scalar,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// AVX-512F (x86-64).
    Avx512,
}

impl Isa {
    /// Every instruction set this host can run, the baseline first.
    pub fn available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| i.is_supported())
            .collect()
    }

    /// Whether this host can run `self`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The instantiation level of a `madd_level` body (see `dispatch!`): 0 baseline, 1 AVX2, 2 AVX-512.
    pub const fn level(self) -> u8 {
        match self {
            Isa::Scalar => 0,
            Isa::Avx2 => 1,
            Isa::Avx512 => 2,
        }
    }

    /// The widest instruction set of this host (detected once).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| *Isa::available().last().unwrap_or(&Isa::Scalar))
    }
}

/// Whether the baseline instantiation fuses multiply-adds: only where the build's baseline has FMA (aarch64's
/// NEON does, x86-64's SSE2 does not).
const BASELINE_FMA: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));

/// Defines `pub fn $name(isa: Isa, args...)` that runs the safe body compiled for `isa`.
///
/// The body must be an `#[inline(always)]` safe function; the wrappers add only `#[target_feature]`. With
/// `madd`, the body is generic over `const F: bool` (fused multiply-adds, see [`super::dense::madd`]): the
/// AVX2 + FMA and AVX-512 wrappers instantiate it with `true`, the baseline with [`BASELINE_FMA`].
/// With `madd_level`, the body is also generic over `const L: u8`, the wrapper's [`Isa::level`], so that it can
/// pick code written for that instruction set (which must still check the feature at run time before any
/// `unsafe` use of it: a safe body can be called at any level).
macro_rules! dispatch {
    ($(#[$meta:meta])* madd $name:ident => $($seg:ident)::+, ($($arg:ident : $ty:ty),* $(,)?)) => {
        dispatch!(@emit $(#[$meta])* $name, ($($seg)::+::<true>), ($($seg)::+::<true>),
            ($($seg)::+::<BASELINE_FMA>), ($($arg: $ty),*));
    };
    ($(#[$meta:meta])* madd_level $name:ident => $($seg:ident)::+, ($($arg:ident : $ty:ty),* $(,)?)) => {
        dispatch!(@emit $(#[$meta])* $name, ($($seg)::+::<true, { Isa::Avx2.level() }>),
            ($($seg)::+::<true, { Isa::Avx512.level() }>),
            ($($seg)::+::<BASELINE_FMA, { Isa::Scalar.level() }>), ($($arg: $ty),*));
    };
    ($(#[$meta:meta])* $name:ident => $($seg:ident)::+, ($($arg:ident : $ty:ty),* $(,)?)) => {
        dispatch!(@emit $(#[$meta])* $name, ($($seg)::+), ($($seg)::+), ($($seg)::+), ($($arg: $ty),*));
    };
    (@emit $(#[$meta:meta])* $name:ident, ($($avx2:tt)+), ($($avx512:tt)+), ($($base:tt)+),
        ($($arg:ident : $ty:ty),*)) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(isa: Isa, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) { $($avx2)+($($arg),*) }
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) { $($avx512)+($($arg),*) }
                match isa {
                    // SAFETY: `Isa::Avx2` is only chosen after `is_supported` confirmed AVX2 and FMA at run
                    // time (checked again here in debug builds); the body itself is safe code.
                    Isa::Avx2 if Isa::Avx2.is_supported() => return unsafe { avx2($($arg),*) },
                    // SAFETY: as above, for AVX-512F.
                    Isa::Avx512 if Isa::Avx512.is_supported() => return unsafe { avx512($($arg),*) },
                    _ => {}
                }
            }
            let _ = isa;
            $($base)+($($arg),*)
        }
    };
}

dispatch!(
    /// `y[i, :] = init_i + sum_p a[i*lda + p] * x[p, :]`, see [`super::dense::rows_body`].
    madd rows => super::dense::rows_body,
    (m: usize, inner: usize, b: usize, a: &[f32], lda: usize, x: &[f32], bias: Option<&[f32]>, relu: bool, y: &mut [f32])
);

dispatch!(
    /// `dw[i, j] = sum_c dy[i, c] * x[j, c]`, see [`super::dense::dots_body`].
    madd dots => super::dense::dots_body,
    (n: usize, k: usize, b: usize, dy: &[f32], x: &[f32], mask: Option<&crate::sparse::Mask>, dw: &mut [f32])
);

dispatch!(
    /// Row sums of a row-major `n x b` matrix, see [`super::dense::row_sums_body`].
    row_sums => super::dense::row_sums_body,
    (n: usize, b: usize, g: &[f32], out: &mut [f32])
);

dispatch!(
    /// CSR row product (forward, or input gradient on the transposed pattern), see
    /// [`super::sparse_rows::csr_rows_body`].
    madd_level csr_rows => super::sparse_rows::csr_rows_body,
    (rows: usize, b: usize, row_ptr: &[usize], col: &[u32], vals: &[f32], vidx: Option<&[u32]>, x: &[f32], bias: Option<&[f32]>, relu: bool, y: &mut [f32])
);

dispatch!(
    /// Bitmask row product, see [`super::sparse_rows::bits_rows_body`].
    madd bits_rows => super::sparse_rows::bits_rows_body,
    (rows: usize, b: usize, words: &[u64], wpr: usize, a: &[f32], ars: usize, acs: usize, x: &[f32], bias: Option<&[f32]>, relu: bool, y: &mut [f32])
);

dispatch!(
    /// CSR sampled product (weight gradient on the pattern), see [`super::sparse_rows::csr_dots_body`].
    madd_level csr_dots => super::sparse_rows::csr_dots_body,
    (rows: usize, b: usize, row_ptr: &[usize], col: &[u32], dy: &[f32], x: &[f32], out: &mut [f32])
);

dispatch!(
    /// Bitmask sampled product (weight gradient on the live entries), see [`super::sparse_rows::bits_dots_body`].
    madd_level bits_dots => super::sparse_rows::bits_dots_body,
    (rows: usize, k: usize, b: usize, words: &[u64], wpr: usize, dy: &[f32], x: &[f32], dw: &mut [f32])
);

dispatch!(
    /// Adam over contiguous values, see [`super::adam::adam_body`].
    adam => super::adam::adam_body,
    (p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5])
);

dispatch!(
    /// Adam over contiguous values with an optional penalty, see [`super::adam::adam_penalised_body`].
    adam_penalised => super::adam::adam_penalised_body,
    (p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5], pen: Option<super::adam::Penalty>)
);

dispatch!(
    /// Adam over the live entries of a masked weight, see [`super::adam::adam_masked_body`].
    adam_masked => super::adam::adam_masked_body,
    (cols: usize, words: &[u64], wpr: usize, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5], pen: Option<super::adam::Penalty>)
);

dispatch!(
    /// The pair-interleaved bf16 copy of a matrix, see [`super::bf16_base::pack_pairs_body`].
    bf16_pack_pairs => super::bf16_base::pack_pairs_body,
    (rows: usize, b: usize, x: &[f32], out: &mut [u32])
);

dispatch!(
    /// The row-major bf16 copy of a matrix, see [`super::bf16_base::pack_rows_body`].
    bf16_pack_rows => super::bf16_base::pack_rows_body,
    (b: usize, x: &[f32], out: &mut [u16])
);
