//! Dense kernels on the feature-major (batch-contiguous) layout.
//!
//! Activations are stored **feature-major**: a batch of `b` samples of width `n` is a row-major `n x b` matrix,
//! row `j` holding feature `j` of every sample. Every weight then drives a SIMD axpy over the batch, and every
//! weight gradient is a dot product of two contiguous rows:
//!
//! * forward `Y = W X + bias` (`W` is `n x k`, `X` is `k x b`) is [`rows_body`] with `a = W`;
//! * input gradient `dX = W^T dY` is [`rows_body`] with `a = W^T` (a transposed copy, so coefficients are read
//!   along rows);
//! * weight gradient `dW = dY X^T` is [`dots_body`]: `dW[i, j] = dY[i, :] . X[j, :]`.
//!
//! The bodies are safe, `#[inline(always)]`, and instantiated per instruction set by [`super::simd`]. They work
//! on lane arrays of [`LANES`] floats and keep one fixed order of operations per output element, whatever the
//! block or thread, so results do not depend on the thread count; instruction sets differ only in whether the
//! multiply-adds are fused ([`madd`]). Large products go through the GEMM micro-kernel instead
//! ([`super::gemm::pays`]).

use crate::sparse::Mask;

/// Lanes per vector chunk of the batch dimension (one AVX-512 register of `f32`).
pub const LANES: usize = 16;

/// One term of the interleaved stream of a CSR row product (`sparse_rows`): `w` times the input row at byte
/// offset `off` of the packed slab. Defined here, below both the portable bodies and the AVX-512 group loop
/// (`dots_x86`) that read it.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Term {
    pub(super) off: u32,
    pub(super) w: f32,
}
type Lane = [f32; LANES];

#[inline(always)]
fn lane(s: &[f32], at: usize) -> &Lane {
    s[at..at + LANES].try_into().expect("lane in bounds")
}

/// `a * b + c`: one fused multiply-add (one rounding) in an instantiation with FMA (`F`), a multiply then an
/// add (two roundings) otherwise. `f32::mul_add` without hardware FMA is a call to the C library's exact `fmaf`,
/// some fifty times slower than the vector code around it; see [`super::simd`] for what results may differ by.
#[inline(always)]
pub fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `y[i, :] = init_i + sum_p a[i*lda + p] * x[p, :]` for `i < m`, with `init = bias` (or 0) and an optional
/// ReLU. `x` is `inner x b`, `y` is `m x b`, both row-major with row stride `b`; `a` is `m x inner` with row
/// stride `lda`.
///
/// Columns go 32 at a time through a packed panel of `x` cut into tiles of 128 input rows (`KC`); a group of four
/// rows runs eight accumulator chains over a tile (each loaded chunk feeds four FMAs), partial sums going
/// through `y` between tiles. Every output element still sums its terms in ascending `p` on one accumulator.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn rows_body<const F: bool>(
    m: usize,
    inner: usize,
    b: usize,
    a: &[f32],
    lda: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert!(
        x.len() >= inner * b && y.len() >= m * b,
        "rows: buffers too short"
    );
    if m > 0 && inner > 0 {
        assert!(
            lda >= inner && (m - 1) * lda + inner <= a.len(),
            "rows: coefficient matrix too short"
        );
    }
    if let Some(bias) = bias {
        assert!(bias.len() >= m, "rows: bias too short");
    }
    // Panels of two lane chunks: packed, `KC` input rows at a time, and read by every group of rows. With few
    // input rows the slab of `x` stays in cache anyway and packing costs more than it saves (the case study's
    // 32-input layer took 14.9 us a step packed at commit 4c93cc7 against 13.3 us here, `step_time`): `rows_block`
    // then reads `x` in place.
    let wide = if inner >= PACK_MIN_INNER {
        b - b % PANEL_COLS
    } else {
        0
    };
    if wide > 0 {
        let ntiles = inner.div_ceil(KC).max(1);
        // Taken out of the thread-local rather than used inside `with`: a closure would not inherit the
        // caller's target features.
        let mut panel = PANEL.take();
        if panel.len() < 2 * KC.min(inner.max(1)) {
            panel.resize(2 * KC.min(inner.max(1)), Line([0.0; LANES]));
        }
        for c0 in (0..wide).step_by(PANEL_COLS) {
            for t in 0..ntiles {
                let (p0, p1) = (t * KC, ((t + 1) * KC).min(inner));
                for (p, dst) in (p0..p1).zip(panel.chunks_exact_mut(2)) {
                    dst[0].0 = *lane(x, p * b + c0);
                    dst[1].0 = *lane(x, p * b + c0 + LANES);
                }
                let tile = Tile {
                    panel: &panel[..2 * (p1 - p0)],
                    p0,
                    c0,
                    first: t == 0,
                    relu: relu && t + 1 == ntiles,
                };
                let mut i = 0;
                while i + 4 <= m {
                    panel_block4::<F>(&tile, i, b, a, lda, bias, y);
                    i += 4;
                }
                while i < m {
                    panel_block1::<F>(&tile, i, b, a, lda, bias, y);
                    i += 1;
                }
            }
        }
        PANEL.set(panel);
    }
    let mut i = 0;
    while i + 4 <= m {
        rows_block::<F, 4>(i, wide, inner, b, a, lda, x, bias, relu, y);
        i += 4;
    }
    while i < m {
        rows_block::<F, 1>(i, wide, inner, b, a, lda, x, bias, relu, y);
        i += 1;
    }
}

/// Columns of a packed panel: two lane chunks, so a group of four rows runs eight independent accumulator
/// chains (enough to hide the FMA latency) and each loaded chunk feeds four FMAs.
const PANEL_COLS: usize = 2 * LANES;
/// Fewest input rows for which the row product packs its panels.
const PACK_MIN_INNER: usize = 64;
/// Input rows per packed panel tile: `128 x 128` bytes, 16 KiB, stays in L1 while every group of rows reads it.
const KC: usize = 128;

/// One lane chunk on its own 64-byte line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line([f32; LANES]);

thread_local! {
    /// Per-thread scratch for the packed panel tile (grown on demand, never shrunk).
    static PANEL: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Input rows `p0..p0 + panel.len() / 2` of columns `c0..c0 + PANEL_COLS`, packed.
struct Tile<'a> {
    panel: &'a [Line],
    p0: usize,
    c0: usize,
    /// Whether this is the first tile: accumulators start at the bias, else at the partial sums in `y`.
    first: bool,
    /// Whether to apply ReLU on the way out (the last tile of a ReLU product).
    relu: bool,
}

/// Defines `fn $name(tile, i0, b, a, lda, bias, y)`: rows `i0..i0 + R` over one panel tile,
/// `y[i, c0..c0 + 32] (+)= sum_p a[i, p] * x[p, c0..c0 + 32]`, with `2 R` accumulator chains in named locals
/// (so they stay in registers), each loaded chunk of the panel feeding `R` FMAs.
macro_rules! panel_fn {
    ($(#[$meta:meta])* $name:ident; $(($lo:ident, $hi:ident, $row:ident, $f:ident, $r:literal)),+) => {
        $(#[$meta])*
        #[inline(always)]
        fn $name<const F: bool>(
            t: &Tile<'_>,
            i0: usize,
            b: usize,
            a: &[f32],
            lda: usize,
            bias: Option<&[f32]>,
            y: &mut [f32],
        ) {
            let np = t.panel.len() / 2;
            $(
                let (mut $lo, mut $hi): (Lane, Lane) = if t.first {
                    let v = [bias.map_or(0.0, |bs| bs[i0 + $r]); LANES];
                    (v, v)
                } else {
                    let at = (i0 + $r) * b + t.c0;
                    (*lane(y, at), *lane(y, at + LANES))
                };
                let $row = &a[(i0 + $r) * lda + t.p0..(i0 + $r) * lda + t.p0 + np];
            )+
            for (q, xs) in t.panel.chunks_exact(2).enumerate() {
                let (xl, xh) = (&xs[0].0, &xs[1].0);
                $(let $f = $row[q];)+
                for l in 0..LANES {
                    $($lo[l] = madd::<F>($f, xl[l], $lo[l]);)+
                    $($hi[l] = madd::<F>($f, xh[l], $hi[l]);)+
                }
            }
            $(
                let out = &mut y[(i0 + $r) * b + t.c0..(i0 + $r) * b + t.c0 + PANEL_COLS];
                for l in 0..LANES {
                    out[l] = if t.relu { $lo[l].max(0.0) } else { $lo[l] };
                    out[LANES + l] = if t.relu { $hi[l].max(0.0) } else { $hi[l] };
                }
            )+
        }
    };
}

panel_fn!(
    /// Four rows: eight chains.
    panel_block4;
    (l0, h0, r0, f0, 0), (l1, h1, r1, f1, 1), (l2, h2, r2, f2, 2), (l3, h3, r3, f3, 3)
);
panel_fn!(
    /// One row (the rows left over by groups of four).
    panel_block1;
    (l0, h0, r0, f0, 0)
);

/// Rows `i0..i0 + R`, columns `c_start..b` (the columns left over by the packed panels, or all of them when
/// `c_start == 0`), reading `x` in place: 32 columns at a time for four rows, then one lane chunk at a time,
/// then one column at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_block<const F: bool, const R: usize>(
    i0: usize,
    c_start: usize,
    inner: usize,
    b: usize,
    a: &[f32],
    lda: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let init: [f32; R] = std::array::from_fn(|r| bias.map_or(0.0, |bs| bs[i0 + r]));
    let coef = |r: usize, p: usize| a[(i0 + r) * lda + p];
    let finish = |v: f32| if relu { v.max(0.0) } else { v };
    // Unpacked, two lane chunks per pass for four rows: eight independent accumulator chains (named locals, so
    // they stay in registers), reading `x` in place.
    let wide = if R == 4 && c_start == 0 {
        b - b % PANEL_COLS
    } else {
        c_start
    };
    let full = b - b % LANES;
    let mut c0 = c_start;
    while c0 < wide {
        let v = |r: usize| [init[r.min(R - 1)]; LANES];
        let (mut l0, mut l1, mut l2, mut l3) = (v(0), v(1), v(2), v(3));
        let (mut h0, mut h1, mut h2, mut h3) = (v(0), v(1), v(2), v(3));
        for (p, xrow) in x.chunks_exact(b).take(inner).enumerate() {
            let xs: &[f32; PANEL_COLS] = xrow[c0..c0 + PANEL_COLS].try_into().unwrap();
            let (f0, f1, f2, f3) = (coef(0, p), coef(1, p), coef(2, p), coef(3, p));
            for l in 0..LANES {
                l0[l] = madd::<F>(f0, xs[l], l0[l]);
                l1[l] = madd::<F>(f1, xs[l], l1[l]);
                l2[l] = madd::<F>(f2, xs[l], l2[l]);
                l3[l] = madd::<F>(f3, xs[l], l3[l]);
                h0[l] = madd::<F>(f0, xs[LANES + l], h0[l]);
                h1[l] = madd::<F>(f1, xs[LANES + l], h1[l]);
                h2[l] = madd::<F>(f2, xs[LANES + l], h2[l]);
                h3[l] = madd::<F>(f3, xs[LANES + l], h3[l]);
            }
        }
        for (r, (lo, hi)) in [(l0, h0), (l1, h1), (l2, h2), (l3, h3)].iter().enumerate() {
            let out = &mut y[(i0 + r) * b + c0..(i0 + r) * b + c0 + PANEL_COLS];
            for l in 0..LANES {
                out[l] = finish(lo[l]);
                out[LANES + l] = finish(hi[l]);
            }
        }
        c0 += PANEL_COLS;
    }
    while c0 < full {
        let mut acc: [Lane; R] = std::array::from_fn(|r| [init[r]; LANES]);
        for (p, xrow) in x.chunks_exact(b).take(inner).enumerate() {
            let xs = lane(xrow, c0);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let cf = coef(r, p);
                for l in 0..LANES {
                    acc_r[l] = madd::<F>(cf, xs[l], acc_r[l]);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            let out = &mut y[(i0 + r) * b + c0..(i0 + r) * b + c0 + LANES];
            for l in 0..LANES {
                out[l] = finish(acc_r[l]);
            }
        }
        c0 += LANES;
    }
    for c in full.max(c_start)..b {
        for r in 0..R {
            let mut s = init[r];
            for p in 0..inner {
                s = madd::<F>(coef(r, p), x[p * b + c], s);
            }
            y[(i0 + r) * b + c] = finish(s);
        }
    }
}

/// `dw[i, j] = sum_c dy[i, c] * x[j, c]` for `i < n`, `j < k`: `dy` is `n x b`, `x` is `k x b`, `dw` is `n x k`,
/// all row-major. Entries masked out by `mask` are set to `0.0` without being computed.
#[inline(always)]
pub fn dots_body<const F: bool>(
    n: usize,
    k: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    mask: Option<&Mask>,
    dw: &mut [f32],
) {
    assert!(
        dy.len() >= n * b && x.len() >= k * b && dw.len() >= n * k,
        "dots: buffers too short"
    );
    if let Some(m) = mask {
        assert!(m.rows() == n && m.cols() == k, "dots: mask shape mismatch");
    }
    // Blocks of `JB` rows of `x` (`JB x b` floats: 128 KB at b = 500) stay in L2 while every pair of `dy` rows
    // is dotted with them, instead of all of `x` streaming through the cache once per pair.
    for j_start in (0..k).step_by(JB) {
        let j_end = (j_start + JB).min(k);
        let mut i = 0;
        while i < n {
            let ri = if i + 2 <= n { 2 } else { 1 };
            let mut j = j_start;
            while j < j_end {
                let rj = if j + 4 <= j_end { 4 } else { 1 };
                let live =
                    mask.is_none_or(|m| (i..i + ri).any(|ii| (j..j + rj).any(|jj| m.get(ii, jj))));
                if live {
                    match (ri, rj) {
                        (2, 4) => dots_block::<F, 2, 4>(i, j, k, b, dy, x, dw),
                        (2, 1) => dots_block::<F, 2, 1>(i, j, k, b, dy, x, dw),
                        (1, 4) => dots_block::<F, 1, 4>(i, j, k, b, dy, x, dw),
                        _ => dots_block::<F, 1, 1>(i, j, k, b, dy, x, dw),
                    }
                    if let Some(m) = mask {
                        for ii in i..i + ri {
                            for jj in j..j + rj {
                                if !m.get(ii, jj) {
                                    dw[ii * k + jj] = 0.0;
                                }
                            }
                        }
                    }
                } else {
                    for ii in i..i + ri {
                        dw[ii * k + j..ii * k + j + rj].fill(0.0);
                    }
                }
                j += rj;
            }
            i += ri;
        }
    }
}

/// Rows of `x` per block of the weight gradient (see [`dots_body`]).
const JB: usize = 64;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dots_block<const F: bool, const RI: usize, const RJ: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    dw: &mut [f32],
) {
    fn row(m: &[f32], i: usize, b: usize) -> &[f32] {
        &m[i * b..(i + 1) * b]
    }
    if RI == 2 && RJ == 4 {
        let d = dot2x4::<F>(
            [row(dy, i0, b), row(dy, i0 + 1, b)],
            [0, 1, 2, 3].map(|r| row(x, j0 + r, b)),
        );
        for (ri, di) in d.iter().enumerate() {
            dw[(i0 + ri) * k + j0..(i0 + ri) * k + j0 + 4].copy_from_slice(di);
        }
        return;
    }
    for ri in 0..RI {
        for rj in 0..RJ {
            dw[(i0 + ri) * k + j0 + rj] = dot::<F>(row(dy, i0 + ri, b), row(x, j0 + rj, b));
        }
    }
}

/// `g . x` over equal-length slices: lane-wise products accumulated per lane, reduced pairwise, then the tail.
#[inline(always)]
pub(crate) fn dot<const F: bool>(g: &[f32], x: &[f32]) -> f32 {
    let full = g.len() - g.len() % LANES;
    let mut acc = [0f32; LANES];
    for (gc, xc) in g[..full]
        .chunks_exact(LANES)
        .zip(x[..full].chunks_exact(LANES))
    {
        let gc: &Lane = gc.try_into().unwrap();
        let xc: &Lane = xc.try_into().unwrap();
        for l in 0..LANES {
            acc[l] = madd::<F>(gc[l], xc[l], acc[l]);
        }
    }
    let mut s = reduce(&acc);
    for (a, b) in g[full..].iter().zip(&x[full..]) {
        s = madd::<F>(*a, *b, s);
    }
    s
}

/// The eight dot products of two `g` rows with four `x` rows: bit-identical to eight calls of [`dot`], with six
/// loads per eight FMAs and eight independent accumulator chains (named locals, so they stay in registers).
#[inline(always)]
fn dot2x4<const F: bool>(g: [&[f32]; 2], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
    let len = g[0].len();
    let full = len - len % LANES;
    let z = [0f32; LANES];
    let (mut a00, mut a01, mut a02, mut a03) = (z, z, z, z);
    let (mut a10, mut a11, mut a12, mut a13) = (z, z, z, z);
    let mut c = 0;
    while c < full {
        let (g0, g1) = (lane(g[0], c), lane(g[1], c));
        let (x0, x1, x2, x3) = (lane(x[0], c), lane(x[1], c), lane(x[2], c), lane(x[3], c));
        for l in 0..LANES {
            a00[l] = madd::<F>(g0[l], x0[l], a00[l]);
            a01[l] = madd::<F>(g0[l], x1[l], a01[l]);
            a02[l] = madd::<F>(g0[l], x2[l], a02[l]);
            a03[l] = madd::<F>(g0[l], x3[l], a03[l]);
            a10[l] = madd::<F>(g1[l], x0[l], a10[l]);
            a11[l] = madd::<F>(g1[l], x1[l], a11[l]);
            a12[l] = madd::<F>(g1[l], x2[l], a12[l]);
            a13[l] = madd::<F>(g1[l], x3[l], a13[l]);
        }
        c += LANES;
    }
    let acc = [[a00, a01, a02, a03], [a10, a11, a12, a13]];
    let mut out = [[0f32; 4]; 2];
    for i in 0..2 {
        for j in 0..4 {
            let mut s = reduce(&acc[i][j]);
            for cc in full..len {
                s = madd::<F>(g[i][cc], x[j][cc], s);
            }
            out[i][j] = s;
        }
    }
    out
}

/// `t (k x n) = w^T` for a row-major `n x k` matrix `w`, in 32 x 32 blocks so that reads and writes both stay in
/// cache lines already loaded.
pub fn transpose(n: usize, k: usize, w: &[f32], t: &mut [f32]) {
    const B: usize = 32;
    assert!(
        w.len() >= n * k && t.len() >= n * k,
        "transpose: buffers too short"
    );
    for i0 in (0..n).step_by(B) {
        for j0 in (0..k).step_by(B) {
            for i in i0..(i0 + B).min(n) {
                for j in j0..(j0 + B).min(k) {
                    t[j * n + i] = w[i * k + j];
                }
            }
        }
    }
}

/// Sums a lane array in a fixed pairwise order.
#[inline(always)]
pub(crate) fn reduce(v: &Lane) -> f32 {
    let mut h = *v;
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            h[l] += h[l + w];
        }
        w /= 2;
    }
    h[0]
}

/// `out[i] = sum_c g[i, c]` for a row-major `n x b` matrix `g` (the bias gradient).
#[inline(always)]
pub fn row_sums_body(n: usize, b: usize, g: &[f32], out: &mut [f32]) {
    assert!(
        g.len() >= n * b && out.len() >= n,
        "row_sums: buffers too short"
    );
    let full = b - b % LANES;
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let mut acc = [0f32; LANES];
        let mut c0 = 0;
        while c0 < full {
            let v = lane(g, i * b + c0);
            for l in 0..LANES {
                acc[l] += v[l];
            }
            c0 += LANES;
        }
        let mut s = reduce(&acc);
        for c in full..b {
            s += g[i * b + c];
        }
        *o = s;
    }
}
