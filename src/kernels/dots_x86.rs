//! AVX-512 code of the sparse kernels of `sparse_rows`: the four-row step loop of the CSR row products
//! ([`csr_group`]) and, for the sampled products, the pairwise reduction of eight lane sums at once. Portable code
//! for the reduction (eight [`super::dense::reduce`]s, or one transposing reduction on lane arrays) compiles to
//! some 150 scalar extracts, inserts and adds per eight dots, about a third of the chunk loop's instructions at
//! batch 500; this is about twenty.

use std::arch::x86_64::{
    __m512, _mm256_storeu_ps, _mm512_add_ps, _mm512_castps512_ps256, _mm512_fmadd_ps,
    _mm512_load_ps, _mm512_loadu_ps, _mm512_permutexvar_ps, _mm512_set1_ps, _mm512_setr_epi32,
    _mm512_shuffle_f32x4, _mm512_shuffle_ps, _mm512_storeu_ps,
};

use super::dense::{Term, LANES};

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

/// The terms of one group of a CSR row product (`sparse_rows::csr_rows_body` with four rows of two
/// lane chunks each): for every step `e` of `seg` and every row `r < 4`, `acc[2r + j] += e[r].w * line(j)` for
/// `j < 2`, where `line(j)` is the 64-byte line at byte offset `e[r].off + 64 j` of `base`. One fused
/// multiply-add each, in stream order, so it is bit-identical to the portable body with fused multiply-adds.
///
/// # Safety
/// AVX-512F must be available, and for every term the 128 bytes at `base + off` must be readable, initialised
/// `f32`s aligned to 64 bytes.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn csr_group(acc: &mut [[f32; LANES]; 8], seg: &[[Term; 4]], base: *const u8) {
    let (mut a0, mut a1, mut a2, mut a3) = (ld(&acc[0]), ld(&acc[1]), ld(&acc[2]), ld(&acc[3]));
    let (mut a4, mut a5, mut a6, mut a7) = (ld(&acc[4]), ld(&acc[5]), ld(&acc[6]), ld(&acc[7]));
    for e in seg {
        let p = |r: usize| {
            // SAFETY: the caller guarantees 128 readable bytes at `base + off`, so the offset stays in bounds.
            unsafe { base.add(e[r].off as usize).cast::<f32>() }
        };
        let (p0, p1, p2, p3) = (p(0), p(1), p(2), p(3));
        let (w0, w1) = (_mm512_set1_ps(e[0].w), _mm512_set1_ps(e[1].w));
        let (w2, w3) = (_mm512_set1_ps(e[2].w), _mm512_set1_ps(e[3].w));
        // SAFETY: as above; each load reads one aligned 64-byte line of those 128 bytes.
        unsafe {
            a0 = _mm512_fmadd_ps(w0, _mm512_load_ps(p0), a0);
            a1 = _mm512_fmadd_ps(w0, _mm512_load_ps(p0.add(LANES)), a1);
            a2 = _mm512_fmadd_ps(w1, _mm512_load_ps(p1), a2);
            a3 = _mm512_fmadd_ps(w1, _mm512_load_ps(p1.add(LANES)), a3);
            a4 = _mm512_fmadd_ps(w2, _mm512_load_ps(p2), a4);
            a5 = _mm512_fmadd_ps(w2, _mm512_load_ps(p2.add(LANES)), a5);
            a6 = _mm512_fmadd_ps(w3, _mm512_load_ps(p3), a6);
            a7 = _mm512_fmadd_ps(w3, _mm512_load_ps(p3.add(LANES)), a7);
        }
    }
    for (d, v) in acc.iter_mut().zip([a0, a1, a2, a3, a4, a5, a6, a7]) {
        // SAFETY: `d` is 16 contiguous `f32`, what an unaligned 512-bit store writes.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), v) };
    }
}
