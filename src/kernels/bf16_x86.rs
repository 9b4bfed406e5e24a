//! The AVX512-BF16 instantiation of the bf16 products of [`super::bf16`]: one `vdpbf16ps` per pair of terms and
//! 16 lanes. Each function computes what its portable reference computes, lane by lane in the same order (see
//! the module documentation of [`super::bf16`] for the one difference, denormals). Memory is read only through
//! bounds-checked slices; `unsafe` is the loads and stores of whole vectors from such slices.

use std::arch::x86_64::{
    __m512, __m512bh, __m512i, _mm512_dpbf16_ps, _mm512_loadu_si512, _mm512_mask_storeu_ps,
    _mm512_max_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use super::bf16_base::{padded, reduce_lanes, Rows, DOT_LANES};

/// 32 bf16 values (16 pairs) from the start of `s`, which must hold at least 16 `u32` or 32 `u16`.
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn load_bh<T>(s: &[T]) -> __m512bh {
    assert!(std::mem::size_of_val(s) >= 64, "load_bh: short slice");
    // SAFETY: the assertion above: `s` holds at least 64 initialised bytes, what an unaligned load reads; any
    // 512 bits are a valid `__m512i` and a valid `__m512bh` (both plain vectors of 64 bytes).
    unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(s.as_ptr().cast())) }
}

/// One pair broadcast to all 16 lanes.
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn splat_pair(w: u32) -> __m512bh {
    // SAFETY: a `__m512i` and a `__m512bh` are both 64 plain bytes, any bits valid.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(w as i32)) }
}

/// Writes the first `min(16, out.len())` lanes of `v` into `out`.
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn store(v: __m512, out: &mut [f32]) {
    let n = out.len().min(16);
    // SAFETY: the mask enables exactly the first `n` lanes, and `out` holds at least `n` floats; masked-off
    // lanes are neither read nor written.
    unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), ((1u32 << n) - 1) as u16, v) };
}

/// [`super::bf16::pair_rows`] on rows `r0..r1` of dense entries (`per_row` pairs a row, `y` holds those rows):
/// four rows at a time share each load of `x2` (16 accumulators), the rows left over one at a time.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512bf16,avx512f")]
pub(super) fn pair_rows_dense(
    per_row: usize,
    r0: usize,
    r1: usize,
    vals: &[u32],
    x2: &[u32],
    b: usize,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let bp = padded(b);
    let mut i = r0;
    while i + 4 <= r1 {
        let w: [&[u32]; 4] =
            std::array::from_fn(|r| &vals[(i + r) * per_row..(i + r + 1) * per_row]);
        let init: [f32; 4] = std::array::from_fn(|r| bias.map_or(0.0, |v| v[i + r]));
        let out = &mut y[(i - r0) * b..(i - r0 + 4) * b];
        let mut c0 = 0;
        while c0 + 64 <= bp {
            quad_chunk::<4>(&w, x2, bp, c0, init, relu, b, out);
            c0 += 64;
        }
        while c0 < bp {
            quad_chunk::<2>(&w, x2, bp, c0, init, relu, b, out);
            c0 += 32;
        }
        i += 4;
    }
    pair_rows(
        &super::bf16_base::DenseRows(per_row),
        i,
        r1,
        vals,
        x2,
        b,
        bias,
        relu,
        &mut y[(i - r0) * b..],
    );
}

/// Samples `c0..c0 + 16 V` of four output rows of a dense product (`out` holds the four rows, `b` each).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn quad_chunk<const V: usize>(
    w: &[&[u32]; 4],
    x2: &[u32],
    bp: usize,
    c0: usize,
    init: [f32; 4],
    relu: bool,
    b: usize,
    out: &mut [f32],
) {
    let mut acc: [[__m512; V]; 4] = std::array::from_fn(|r| [_mm512_set1_ps(init[r]); V]);
    let per_row = w[0].len();
    let (w0, w1, w2, w3) = (w[0], &w[1][..per_row], &w[2][..per_row], &w[3][..per_row]);
    for j in 0..per_row {
        let xr = &x2[j * bp + c0..j * bp + c0 + 16 * V];
        let xv: [__m512bh; V] = std::array::from_fn(|v| load_bh(&xr[16 * v..]));
        for (a, wv) in acc.iter_mut().zip([w0[j], w1[j], w2[j], w3[j]]) {
            let wv = splat_pair(wv);
            for (a, &x) in a.iter_mut().zip(&xv) {
                *a = _mm512_dpbf16_ps(*a, wv, x);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let yr = &mut out[r * b..(r + 1) * b];
        for (v, &a) in a.iter().enumerate() {
            let col = c0 + 16 * v;
            if col >= b {
                break;
            }
            let a = if relu {
                _mm512_max_ps(a, _mm512_setzero_ps())
            } else {
                a
            };
            store(a, &mut yr[col..]);
        }
    }
}

/// [`super::bf16::pair_rows`] on rows `r0..r1` (`y` holds those rows).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512bf16,avx512f")]
pub(super) fn pair_rows<R: Rows>(
    rows: &R,
    r0: usize,
    r1: usize,
    vals: &[u32],
    x2: &[u32],
    b: usize,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let bp = padded(b);
    for i in r0..r1 {
        let init = bias.map_or(0.0, |v| v[i]);
        let range = rows.range(i);
        let start = range.start;
        let es = &vals[range];
        let yr = &mut y[(i - r0) * b..(i - r0 + 1) * b];
        let mut c0 = 0;
        // 128 samples (eight accumulators, to cover the instruction's latency) a pass, then 32.
        while c0 + 128 <= bp {
            pair_chunk::<8, R>(rows, start, es, x2, bp, c0, init, relu, yr);
            c0 += 128;
        }
        while c0 < bp {
            pair_chunk::<2, R>(rows, start, es, x2, bp, c0, init, relu, yr);
            c0 += 32;
        }
    }
}

/// Samples `c0..c0 + 16 V` of one output row.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn pair_chunk<const V: usize, R: Rows>(
    rows: &R,
    start: usize,
    es: &[u32],
    x2: &[u32],
    bp: usize,
    c0: usize,
    init: f32,
    relu: bool,
    yr: &mut [f32],
) {
    let mut acc = [_mm512_set1_ps(init); V];
    for (q, &w) in es.iter().enumerate() {
        let at = rows.index(start + q, start) * bp + c0;
        let xr = &x2[at..at + 16 * V];
        let wv = splat_pair(w);
        for (v, a) in acc.iter_mut().enumerate() {
            *a = _mm512_dpbf16_ps(*a, wv, load_bh(&xr[16 * v..]));
        }
    }
    for (v, &a) in acc.iter().enumerate() {
        let col = c0 + 16 * v;
        if col >= yr.len() {
            break;
        }
        let a = if relu {
            _mm512_max_ps(a, _mm512_setzero_ps())
        } else {
            a
        };
        store(a, &mut yr[col..]);
    }
}

/// [`super::bf16::dots`] on rows `r0..r1` (`out` starts at row `r0`'s first entry).
#[target_feature(enable = "avx512bf16,avx512f")]
pub(super) fn dots<R: Rows>(
    rows: &R,
    r0: usize,
    r1: usize,
    dy: &[u16],
    x: &[u16],
    bp: usize,
    out: &mut [f32],
) {
    let first = rows.range(r0).start;
    for i in r0..r1 {
        let range = rows.range(i);
        let start = range.start;
        let d = &dy[i * bp..(i + 1) * bp];
        let mut e = start;
        // Eight dots at once share each load of `dy` and cover the instruction's latency.
        while e + 8 <= range.end {
            dots_group::<8, R>(rows, start, e, d, x, bp, &mut out[e - first..]);
            e += 8;
        }
        while e < range.end {
            dots_group::<1, R>(rows, start, e, d, x, bp, &mut out[e - first..]);
            e += 1;
        }
    }
}

/// [`super::bf16::dots`] on rows `r0..r1` of dense entries (`k` columns a row; `out` starts at row `r0`): blocks
/// of four rows by four columns share their loads (16 accumulators), the rest as in [`dots`].
#[target_feature(enable = "avx512bf16,avx512f")]
pub(super) fn dots_dense(
    k: usize,
    r0: usize,
    r1: usize,
    dy: &[u16],
    x: &[u16],
    bp: usize,
    out: &mut [f32],
) {
    let mut i = r0;
    while i + 4 <= r1 {
        let d: [&[u16]; 4] = std::array::from_fn(|r| &dy[(i + r) * bp..(i + r + 1) * bp]);
        let mut j = 0;
        while j + 4 <= k {
            let xs: [&[u16]; 4] = std::array::from_fn(|c| &x[(j + c) * bp..(j + c + 1) * bp]);
            let mut acc = [[_mm512_setzero_ps(); 4]; 4];
            for s in (0..bp).step_by(2 * DOT_LANES) {
                let xv: [__m512bh; 4] =
                    std::array::from_fn(|c| load_bh(&xs[c][s..s + 2 * DOT_LANES]));
                for (a, dr) in acc.iter_mut().zip(&d) {
                    let dv = load_bh(&dr[s..s + 2 * DOT_LANES]);
                    for (a, &xv) in a.iter_mut().zip(&xv) {
                        *a = _mm512_dpbf16_ps(*a, dv, xv);
                    }
                }
            }
            let mut lanes = [[[0f32; DOT_LANES]; 8]; 2];
            for (r, a) in acc.iter().enumerate() {
                for (c, &a) in a.iter().enumerate() {
                    // SAFETY: a lane array is 16 contiguous `f32`, what an unaligned 512-bit store writes.
                    unsafe { _mm512_storeu_ps(lanes[r / 2][(r % 2) * 4 + c].as_mut_ptr(), a) };
                }
            }
            for (h, l) in lanes.iter().enumerate() {
                let sums = super::dots_x86::reduce8(l);
                for r in 0..2 {
                    let at = (i - r0 + 2 * h + r) * k + j;
                    out[at..at + 4].copy_from_slice(&sums[4 * r..4 * r + 4]);
                }
            }
            j += 4;
        }
        for (r, dr) in d.iter().enumerate() {
            let row = i + r;
            let at = (row - r0) * k;
            let rows = super::bf16_base::DenseRows(k);
            // The columns left over, one dot at a time.
            for e in j..k {
                dots_group::<1, _>(&rows, row * k, row * k + e, dr, x, bp, &mut out[at + e..]);
            }
        }
        i += 4;
    }
    dots(
        &super::bf16_base::DenseRows(k),
        i,
        r1,
        dy,
        x,
        bp,
        &mut out[(i - r0) * k..],
    );
}

/// Entries `e..e + G` of one row.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512bf16,avx512f")]
fn dots_group<const G: usize, R: Rows>(
    rows: &R,
    start: usize,
    e: usize,
    d: &[u16],
    x: &[u16],
    bp: usize,
    out: &mut [f32],
) {
    let xs: [&[u16]; G] = std::array::from_fn(|g| {
        let at = rows.index(e + g, start) * bp;
        &x[at..at + bp]
    });
    let mut acc = [_mm512_setzero_ps(); G];
    for s in (0..bp).step_by(2 * DOT_LANES) {
        let dv = load_bh(&d[s..s + 2 * DOT_LANES]);
        for (a, xr) in acc.iter_mut().zip(&xs) {
            *a = _mm512_dpbf16_ps(*a, dv, load_bh(&xr[s..s + 2 * DOT_LANES]));
        }
    }
    let mut lanes = [[0f32; DOT_LANES]; G];
    for (l, a) in lanes.iter_mut().zip(acc) {
        // SAFETY: `l` is 16 contiguous `f32`, what an unaligned 512-bit store writes.
        unsafe { _mm512_storeu_ps(l.as_mut_ptr(), a) };
    }
    if G == 8 {
        // Eight sums in `reduce_lanes`' order at once (`reduce8` keeps it bit for bit).
        let mut eight = [[0f32; DOT_LANES]; 8];
        eight.copy_from_slice(&lanes[..8]);
        out[..8].copy_from_slice(&super::dots_x86::reduce8(&eight));
    } else {
        for (o, l) in out[..G].iter_mut().zip(&lanes) {
            *o = reduce_lanes(l);
        }
    }
}
