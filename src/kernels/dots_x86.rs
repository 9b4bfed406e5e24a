//! AVX-512 code of the sampled products ([`super::sparse_rows`]): the pairwise reduction of eight lane sums at
//! once. Portable code for it (eight [`super::dense::reduce`]s, or one transposing reduction on lane arrays)
//! compiles to some 150 scalar extracts, inserts and adds per eight dots, about a third of the chunk loop's
//! instructions at batch 500; this is about twenty.

use std::arch::x86_64::{
    __m512, _mm256_storeu_ps, _mm512_add_ps, _mm512_castps512_ps256, _mm512_loadu_ps,
    _mm512_permutexvar_ps, _mm512_setr_epi32, _mm512_shuffle_f32x4, _mm512_shuffle_ps,
};

use super::dense::LANES;

/// Whether the instantiation at `level` ([`super::Isa::level`]) runs [`reduce8`]: AVX-512 only, and only once
/// the feature is confirmed at run time (a body can be called directly at any level).
#[inline(always)]
pub(super) fn reduce8_ready(level: u8) -> bool {
    level == super::Isa::Avx512.level() && std::arch::is_x86_feature_detected!("avx512f")
}

/// Each array's sum in `dense::reduce`'s order, bit for bit: `h[l] += h[l + w]` for `w` = 8, 4, 2, 1, on
/// vectors that hold several arrays' partial sums side by side. Every add has the operands of the scalar order
/// (floating-point addition is commutative, so the order within a pair does not matter).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn reduce8(a: &[[f32; LANES]; 8]) -> [f32; 8] {
    let [v0, v1, v2, v3] = [ld(&a[0]), ld(&a[1]), ld(&a[2]), ld(&a[3])];
    let [v4, v5, v6, v7] = [ld(&a[4]), ld(&a[5]), ld(&a[6]), ld(&a[7])];
    // w = 8: z(p, q) holds p's eight sums in lanes 0..8, q's in lanes 8..16 (128-bit lanes 0, 1 of each array
    // against its lanes 2, 3).
    let (z0, z1, z2, z3) = (z(v0, v1), z(v2, v3), z(v4, v5), z(v6, v7));
    // w = 4: y(zp, zq) holds, in 128-bit lane q, the four sums of the q-th of the four arrays (the first quad of
    // each eight against the second).
    let (y0, y1) = (y(z0, z1), y(z2, z3));
    // w = 2: 128-bit lane q holds array q's two sums, then array 4 + q's.
    let t = _mm512_add_ps(
        _mm512_shuffle_ps::<0x44>(y0, y1),
        _mm512_shuffle_ps::<0xEE>(y0, y1),
    );
    // w = 1: lane 4q is array q's sum, lane 4q + 1 array 4 + q's.
    let s = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(t, t),
        _mm512_shuffle_ps::<0xDD>(t, t),
    );
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
    let out8 = _mm512_castps512_ps256(_mm512_permutexvar_ps(idx, s));
    let mut out = [0f32; 8];
    // SAFETY: `out` is 8 contiguous `f32`, what an unaligned 256-bit store writes.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), out8) };
    out
}

/// The `w = 8` step of [`reduce8`] for two arrays.
#[inline]
#[target_feature(enable = "avx512f")]
fn z(p: __m512, q: __m512) -> __m512 {
    _mm512_add_ps(
        _mm512_shuffle_f32x4::<0x44>(p, q),
        _mm512_shuffle_f32x4::<0xEE>(p, q),
    )
}

/// The `w = 4` step of [`reduce8`] for four arrays (two outputs of [`z`]).
#[inline]
#[target_feature(enable = "avx512f")]
fn y(p: __m512, q: __m512) -> __m512 {
    _mm512_add_ps(
        _mm512_shuffle_f32x4::<0x88>(p, q),
        _mm512_shuffle_f32x4::<0xDD>(p, q),
    )
}

/// One lane array as a vector.
#[inline]
#[target_feature(enable = "avx512f")]
fn ld(r: &[f32; LANES]) -> __m512 {
    // SAFETY: `r` is 16 contiguous `f32`, what an unaligned 512-bit load reads.
    unsafe { _mm512_loadu_ps(r.as_ptr()) }
}
