//! Dense kernels on the feature-major (batch-contiguous) layout.
//!
//! Activations are stored **feature-major**: a batch of `b` samples of width `n` is a row-major `n x b` matrix,
//! row `j` holding feature `j` of every sample. Every weight then drives a SIMD axpy over the batch, and every
//! weight gradient is a dot product of two contiguous rows:
//!
//! * forward `Y = W X + bias` (`W` is `n x k`, `X` is `k x b`) is [`rows_body`] with `a = W`;
//! * input gradient `dX = W^T dY` is [`rows_body`] with `a = W` read transposed;
//! * weight gradient `dW = dY X^T` is [`dots_body`]: `dW[i, j] = dY[i, :] . X[j, :]`.
//!
//! The bodies are safe, `#[inline(always)]`, and instantiated per instruction set by [`super::simd`]. They work
//! on lane arrays of [`LANES`] floats and keep one fixed order of operations per output element, so every
//! instantiation is bit-identical to the baseline one.

use crate::sparse::Mask;

/// Lanes per vector chunk of the batch dimension (one AVX-512 register of `f32`).
pub const LANES: usize = 16;
type Lane = [f32; LANES];

#[inline(always)]
fn lane(s: &[f32], at: usize) -> &Lane {
    s[at..at + LANES].try_into().expect("lane in bounds")
}

/// `y[i, :] = init_i + sum_p a[i*ars + p*acs] * x[p, :]` for `i < m`, with `init = bias` (or 0) and an optional
/// ReLU. `x` is `inner x b`, `y` is `m x b`, both row-major with row stride `b`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn rows_body(
    m: usize,
    inner: usize,
    b: usize,
    a: &[f32],
    ars: usize,
    acs: usize,
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
            (m - 1) * ars + (inner - 1) * acs < a.len(),
            "rows: coefficient matrix too short"
        );
    }
    if let Some(bias) = bias {
        assert!(bias.len() >= m, "rows: bias too short");
    }
    let mut i = 0;
    while i + 4 <= m {
        rows_block::<4>(i, inner, b, a, ars, acs, x, bias, relu, y);
        i += 4;
    }
    while i < m {
        rows_block::<1>(i, inner, b, a, ars, acs, x, bias, relu, y);
        i += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_block<const R: usize>(
    i0: usize,
    inner: usize,
    b: usize,
    a: &[f32],
    ars: usize,
    acs: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let init: [f32; R] = std::array::from_fn(|r| bias.map_or(0.0, |bs| bs[i0 + r]));
    let coef = |r: usize, p: usize| a[(i0 + r) * ars + p * acs];
    let finish = |v: f32| if relu { v.max(0.0) } else { v };
    // Two lane chunks per pass for four rows: eight independent accumulator chains (named locals, so they stay
    // in registers) hide the FMA latency.
    const W: usize = 2 * LANES;
    let wide = if R == 4 { b - b % W } else { 0 };
    let full = b - b % LANES;
    let mut c0 = 0;
    while c0 < wide {
        let v = |r: usize| [init[r.min(R - 1)]; LANES];
        let (mut l0, mut l1, mut l2, mut l3) = (v(0), v(1), v(2), v(3));
        let (mut h0, mut h1, mut h2, mut h3) = (v(0), v(1), v(2), v(3));
        for (p, xrow) in x.chunks_exact(b).take(inner).enumerate() {
            let xs: &[f32; W] = xrow[c0..c0 + W].try_into().unwrap();
            let (f0, f1, f2, f3) = (coef(0, p), coef(1, p), coef(2, p), coef(3, p));
            for l in 0..LANES {
                l0[l] = f0.mul_add(xs[l], l0[l]);
                l1[l] = f1.mul_add(xs[l], l1[l]);
                l2[l] = f2.mul_add(xs[l], l2[l]);
                l3[l] = f3.mul_add(xs[l], l3[l]);
                h0[l] = f0.mul_add(xs[LANES + l], h0[l]);
                h1[l] = f1.mul_add(xs[LANES + l], h1[l]);
                h2[l] = f2.mul_add(xs[LANES + l], h2[l]);
                h3[l] = f3.mul_add(xs[LANES + l], h3[l]);
            }
        }
        for (r, (lo, hi)) in [(l0, h0), (l1, h1), (l2, h2), (l3, h3)].iter().enumerate() {
            let out = &mut y[(i0 + r) * b + c0..(i0 + r) * b + c0 + W];
            for l in 0..LANES {
                out[l] = finish(lo[l]);
                out[LANES + l] = finish(hi[l]);
            }
        }
        c0 += W;
    }
    // One chunk at a time for the rest (and for single rows).
    while c0 < full {
        let mut acc: [Lane; R] = std::array::from_fn(|r| [init[r]; LANES]);
        for (p, xrow) in x.chunks_exact(b).take(inner).enumerate() {
            let xs = lane(xrow, c0);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let cf = coef(r, p);
                for l in 0..LANES {
                    acc_r[l] = cf.mul_add(xs[l], acc_r[l]);
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
    for c in full..b {
        for r in 0..R {
            let mut s = init[r];
            for p in 0..inner {
                s = coef(r, p).mul_add(x[p * b + c], s);
            }
            y[(i0 + r) * b + c] = finish(s);
        }
    }
}

/// `dw[i, j] = sum_c dy[i, c] * x[j, c]` for `i < n`, `j < k`: `dy` is `n x b`, `x` is `k x b`, `dw` is `n x k`,
/// all row-major. Entries masked out by `mask` are set to `0.0` without being computed.
#[inline(always)]
pub fn dots_body(
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
    let mut i = 0;
    while i < n {
        let ri = if i + 2 <= n { 2 } else { 1 };
        let mut j = 0;
        while j < k {
            let rj = if j + 4 <= k { 4 } else { 1 };
            let live =
                mask.is_none_or(|m| (i..i + ri).any(|ii| (j..j + rj).any(|jj| m.get(ii, jj))));
            if live {
                match (ri, rj) {
                    (2, 4) => dots_block::<2, 4>(i, j, k, b, dy, x, dw),
                    (2, 1) => dots_block::<2, 1>(i, j, k, b, dy, x, dw),
                    (1, 4) => dots_block::<1, 4>(i, j, k, b, dy, x, dw),
                    _ => dots_block::<1, 1>(i, j, k, b, dy, x, dw),
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

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dots_block<const RI: usize, const RJ: usize>(
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
        let d = dot2x4(
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
            dw[(i0 + ri) * k + j0 + rj] = dot(row(dy, i0 + ri, b), row(x, j0 + rj, b));
        }
    }
}

/// `g . x` over equal-length slices: lane-wise products accumulated per lane, reduced pairwise, then the tail.
#[inline(always)]
pub(crate) fn dot(g: &[f32], x: &[f32]) -> f32 {
    let full = g.len() - g.len() % LANES;
    let mut acc = [0f32; LANES];
    for (gc, xc) in g[..full]
        .chunks_exact(LANES)
        .zip(x[..full].chunks_exact(LANES))
    {
        let gc: &Lane = gc.try_into().unwrap();
        let xc: &Lane = xc.try_into().unwrap();
        for l in 0..LANES {
            acc[l] = gc[l].mul_add(xc[l], acc[l]);
        }
    }
    let mut s = reduce(&acc);
    for (a, b) in g[full..].iter().zip(&x[full..]) {
        s = a.mul_add(*b, s);
    }
    s
}

/// The eight dot products of two `g` rows with four `x` rows: bit-identical to eight calls of [`dot`], with six
/// loads per eight FMAs and eight independent accumulator chains (named locals, so they stay in registers).
#[inline(always)]
fn dot2x4(g: [&[f32]; 2], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
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
            a00[l] = g0[l].mul_add(x0[l], a00[l]);
            a01[l] = g0[l].mul_add(x1[l], a01[l]);
            a02[l] = g0[l].mul_add(x2[l], a02[l]);
            a03[l] = g0[l].mul_add(x3[l], a03[l]);
            a10[l] = g1[l].mul_add(x0[l], a10[l]);
            a11[l] = g1[l].mul_add(x1[l], a11[l]);
            a12[l] = g1[l].mul_add(x2[l], a12[l]);
            a13[l] = g1[l].mul_add(x3[l], a13[l]);
        }
        c += LANES;
    }
    let acc = [[a00, a01, a02, a03], [a10, a11, a12, a13]];
    let mut out = [[0f32; 4]; 2];
    for i in 0..2 {
        for j in 0..4 {
            let mut s = reduce(&acc[i][j]);
            for cc in full..len {
                s = g[i][cc].mul_add(x[j][cc], s);
            }
            out[i][j] = s;
        }
    }
    out
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
