//! Sparse kernel bodies (CSR and bitmask) on the feature-major layout, instantiated per instruction set by
//! [`super::simd`].
//!
//! * **Row products** (forward `Y = W X + bias` and input gradient `dX = W^T dY`): output row `i` is
//!   `init_i + sum_{(w, c) in row i} w * X[c, :]`, so each stored entry drives one SIMD axpy over the batch.
//!   The batch is cut into blocks of 128 columns (eight 16-lane accumulators held in registers), then 64, 48,
//!   32 and 16, then a scalar tail. Blocks are the outer loop and rows the inner one, so the `inner x 128` slab
//!   of `X` a block reads stays in cache while every row of the block is computed; the 128-column blocks read a
//!   packed copy of the slab with each lane chunk on its own 64-byte line (rows of `b` floats are not
//!   line-aligned, and a 512-bit load across two lines costs two).
//! * **Sampled products** (weight gradient `dW = dY X^T` on the live pattern only, an SDDMM): each live entry
//!   is a dot product of two rows, `dY[i, :] . X[c, :]`, read from line-aligned packed copies, eight (then four,
//!   then one) live entries of a row at a time so that `dY[i, :]` is loaded once per chunk for several
//!   independent chains.
//!
//! The packed copies live in a per-thread scratch buffer that grows to the largest slab seen and is kept.
//!
//! Every output element is accumulated in one fixed order (terms in ascending column order, `f32::mul_add`),
//! whatever the block, the instruction set or the thread that computes it; the weight-gradient dots use the
//! exact order of the dense kernel ([`super::dense`]). So every path is bit-identical to the baseline one, and a
//! sparse product equals the dense product on the same masked weights up to the sign of zero sums.

use super::dense::{reduce, LANES};

type Lane = [f32; LANES];

/// One lane chunk on its own 64-byte line, so a 512-bit load of it never splits across two cache lines.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line([f32; LANES]);

thread_local! {
    /// Per-thread scratch for the packed input slab of the widest block (grown on demand, never shrunk).
    static SLAB: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[inline(always)]
fn lane(s: &[f32], at: usize) -> &Lane {
    s[at..at + LANES].try_into().expect("lane in bounds")
}

/// The generic row product: `y[i, :] = init_i + sum_{(w, c) in terms(i)} w * x[c, :]`, then ReLU if `relu`.
#[inline(always)]
fn rows_generic<T, I>(
    rows: usize,
    b: usize,
    terms: T,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) where
    T: Fn(usize) -> I,
    I: Iterator<Item = (f32, usize)>,
{
    assert!(y.len() >= rows * b, "sparse rows: output too short");
    if let Some(bs) = bias {
        assert!(bs.len() >= rows, "sparse rows: bias too short");
    }
    let init = |i: usize| bias.map_or(0.0, |bs| bs[i]);
    let finish = |v: f32| if relu { v.max(0.0) } else { v };
    let xrow = |c: usize, c0: usize, w: usize| &x[c * b + c0..c * b + c0 + w];
    let mut c0 = 0;
    // One pass over the rows for each block of `N` lane chunks, with `N` named accumulators (named locals stay
    // in registers; an array of lane arrays would spill).
    macro_rules! block {
        ($($acc:ident $j:literal),+) => {{
            const W: usize = LANES * [$($j),+].len();
            while c0 + W <= b {
                for i in 0..rows {
                    let v = [init(i); LANES];
                    $(let mut $acc = v;)+
                    for (w, c) in terms(i) {
                        let xs: &[f32; W] = xrow(c, c0, W).try_into().unwrap();
                        for l in 0..LANES {
                            $($acc[l] = w.mul_add(xs[$j * LANES + l], $acc[l]);)+
                        }
                    }
                    let out: &mut [f32; W] = (&mut y[i * b + c0..i * b + c0 + W]).try_into().unwrap();
                    for l in 0..LANES {
                        $(out[$j * LANES + l] = finish($acc[l]);)+
                    }
                }
                c0 += W;
            }
        }};
    }
    // The widest blocks read a packed, line-aligned copy of their input slab: activations have a row stride of
    // `b` floats, so in place most 512-bit loads would straddle two cache lines. Packing costs one copy of the
    // slab per block, against one read of a slab row per stored weight of the block's rows.
    const W8: usize = 8 * LANES;
    let inner = x.len().checked_div(b).unwrap_or(0);
    if c0 + W8 <= b {
        // Taken out of the thread-local rather than used inside `with`: a closure would not inherit the
        // caller's target features, and its FMAs would become libm calls.
        let mut slab = SLAB.take();
        {
            if slab.len() < inner * 8 {
                slab.resize(inner * 8, Line([0.0; LANES]));
            }
            while c0 + W8 <= b {
                for (c, dst) in slab[..inner * 8].chunks_exact_mut(8).enumerate() {
                    for (j, d) in dst.iter_mut().enumerate() {
                        d.0 = *lane(x, c * b + c0 + j * LANES);
                    }
                }
                for i in 0..rows {
                    let v = [init(i); LANES];
                    let (mut a0, mut a1, mut a2, mut a3) = (v, v, v, v);
                    let (mut a4, mut a5, mut a6, mut a7) = (v, v, v, v);
                    for (w, c) in terms(i) {
                        let xs: &[Line; 8] = slab[c * 8..c * 8 + 8].try_into().unwrap();
                        for l in 0..LANES {
                            a0[l] = w.mul_add(xs[0].0[l], a0[l]);
                            a1[l] = w.mul_add(xs[1].0[l], a1[l]);
                            a2[l] = w.mul_add(xs[2].0[l], a2[l]);
                            a3[l] = w.mul_add(xs[3].0[l], a3[l]);
                            a4[l] = w.mul_add(xs[4].0[l], a4[l]);
                            a5[l] = w.mul_add(xs[5].0[l], a5[l]);
                            a6[l] = w.mul_add(xs[6].0[l], a6[l]);
                            a7[l] = w.mul_add(xs[7].0[l], a7[l]);
                        }
                    }
                    let out: &mut [f32; W8] =
                        (&mut y[i * b + c0..i * b + c0 + W8]).try_into().unwrap();
                    for l in 0..LANES {
                        out[l] = finish(a0[l]);
                        out[LANES + l] = finish(a1[l]);
                        out[2 * LANES + l] = finish(a2[l]);
                        out[3 * LANES + l] = finish(a3[l]);
                        out[4 * LANES + l] = finish(a4[l]);
                        out[5 * LANES + l] = finish(a5[l]);
                        out[6 * LANES + l] = finish(a6[l]);
                        out[7 * LANES + l] = finish(a7[l]);
                    }
                }
                c0 += W8;
            }
        }
        SLAB.set(slab);
    }
    block!(a0 0, a1 1, a2 2, a3 3);
    block!(a0 0, a1 1, a2 2);
    block!(a0 0, a1 1);
    block!(a0 0);
    let tail = b - c0;
    if tail > 0 {
        for i in 0..rows {
            let mut a0 = [init(i); LANES];
            for (w, c) in terms(i) {
                let xs = xrow(c, c0, tail);
                for (a, &xv) in a0.iter_mut().zip(xs) {
                    *a = w.mul_add(xv, *a);
                }
            }
            for (o, &a) in y[i * b + c0..i * b + b].iter_mut().zip(&a0) {
                *o = finish(a);
            }
        }
    }
}

/// CSR row product: `y[i, :] = bias_i + sum_{p in row i} vals[idx(p)] * x[col[p], :]` for `i < rows`, where
/// `idx(p) = vidx[p]` if given, else `p`. `row_ptr` has `rows + 1` absolute offsets into `col` (and `vidx`);
/// `x` is `inner x b` and `y` is `rows x b`, row-major with row stride `b`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn csr_rows_body(
    rows: usize,
    b: usize,
    row_ptr: &[usize],
    col: &[u32],
    vals: &[f32],
    vidx: Option<&[u32]>,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert!(row_ptr.len() > rows, "csr rows: row pointers too short");
    let terms = |i: usize| {
        (row_ptr[i]..row_ptr[i + 1]).map(move |p| {
            let v = match vidx {
                Some(ix) => vals[ix[p] as usize],
                None => vals[p],
            };
            (v, col[p] as usize)
        })
    };
    rows_generic(rows, b, terms, x, bias, relu, y);
}

/// The set bits of a row's words, ascending.
#[inline(always)]
fn bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let bit = w.trailing_zeros() as usize;
            w &= w - 1;
            Some(wi * 64 + bit)
        })
    })
}

/// Bitmask row product: `y[i, :] = bias_i + sum_{c live in row i} a[i*ars + c*acs] * x[c, :]` for `i < rows`.
/// `words` holds the mask rows (`wpr` words each, starting at row 0 of this call).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn bits_rows_body(
    rows: usize,
    b: usize,
    words: &[u64],
    wpr: usize,
    a: &[f32],
    ars: usize,
    acs: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert!(words.len() >= rows * wpr, "bitmask rows: mask too short");
    let terms =
        |i: usize| bits(&words[i * wpr..(i + 1) * wpr]).map(move |c| (a[i * ars + c * acs], c));
    rows_generic(rows, b, terms, x, bias, relu, y);
}

/// Rows of `x` and `dy` packed for the sampled products: each row's full lane chunks on their own cache lines
/// (`nl = b / 16` lines per row; `x`'s rows first, then `dy`'s), so no 512-bit load splits across two lines.
/// The tails (`b % 16` columns) are read from the original rows.
struct Packed<'a> {
    lines: &'a [Line],
    nl: usize,
    x_rows: usize,
    x: &'a [f32],
    dy: &'a [f32],
    b: usize,
}

impl Packed<'_> {
    #[inline(always)]
    fn x(&self, c: usize) -> (&[Line], &[f32]) {
        (
            &self.lines[c * self.nl..(c + 1) * self.nl],
            &self.x[c * self.b..(c + 1) * self.b],
        )
    }

    #[inline(always)]
    fn dy(&self, i: usize) -> (&[Line], &[f32]) {
        let r = self.x_rows + i;
        (
            &self.lines[r * self.nl..(r + 1) * self.nl],
            &self.dy[i * self.b..(i + 1) * self.b],
        )
    }
}

/// Packs `x` (`x_rows x b`) and `dy` (`dy_rows x b`) into `lines` (see [`Packed`]).
#[inline(always)]
fn pack_rows<'a>(
    lines: &'a mut Vec<Line>,
    x: &'a [f32],
    x_rows: usize,
    dy: &'a [f32],
    dy_rows: usize,
    b: usize,
) -> Packed<'a> {
    let nl = b / LANES;
    let need = (x_rows + dy_rows) * nl;
    if lines.len() < need {
        lines.resize(need, Line([0.0; LANES]));
    }
    if nl > 0 {
        let rows = x
            .chunks_exact(b)
            .take(x_rows)
            .chain(dy.chunks_exact(b).take(dy_rows));
        for (dst, src) in lines[..need].chunks_exact_mut(nl).zip(rows) {
            for (j, d) in dst.iter_mut().enumerate() {
                d.0 = *lane(src, j * LANES);
            }
        }
    }
    Packed {
        lines: &lines[..need],
        nl,
        x_rows,
        x,
        dy,
        b,
    }
}

/// The dot product of two packed rows, bit-identical to `dense::dot` on the original rows: lane-wise products
/// accumulated per lane over the full chunks, reduced pairwise, then the tail in order.
#[inline(always)]
fn dot1(g: (&[Line], &[f32]), x: (&[Line], &[f32])) -> f32 {
    let mut acc = [0f32; LANES];
    for (gl, xl) in g.0.iter().zip(x.0) {
        for ((a, &gv), &xv) in acc.iter_mut().zip(&gl.0).zip(&xl.0) {
            *a = gv.mul_add(xv, *a);
        }
    }
    let full = g.0.len() * LANES;
    let mut s = reduce(&acc);
    for (a, b) in g.1[full..].iter().zip(&x.1[full..]) {
        s = a.mul_add(*b, s);
    }
    s
}

/// Four dot products of a packed `g` with packed `x0..x3`, each bit-identical to `dense::dot`.
#[inline(always)]
fn dot1x4(g: (&[Line], &[f32]), x: [(&[Line], &[f32]); 4]) -> [f32; 4] {
    let z = [0f32; LANES];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    for (c, gl) in g.0.iter().enumerate() {
        let g0 = &gl.0;
        let (x0, x1, x2, x3) = (&x[0].0[c].0, &x[1].0[c].0, &x[2].0[c].0, &x[3].0[c].0);
        for l in 0..LANES {
            a0[l] = g0[l].mul_add(x0[l], a0[l]);
            a1[l] = g0[l].mul_add(x1[l], a1[l]);
            a2[l] = g0[l].mul_add(x2[l], a2[l]);
            a3[l] = g0[l].mul_add(x3[l], a3[l]);
        }
    }
    let full = g.0.len() * LANES;
    let mut out = [reduce(&a0), reduce(&a1), reduce(&a2), reduce(&a3)];
    for (o, xr) in out.iter_mut().zip(x) {
        for cc in full..g.1.len() {
            *o = g.1[cc].mul_add(xr.1[cc], *o);
        }
    }
    out
}

/// Eight dot products of a packed `g` with packed `x0..x7`, each bit-identical to `dense::dot`.
#[inline(always)]
fn dot1x8(g: (&[Line], &[f32]), x: [(&[Line], &[f32]); 8]) -> [f32; 8] {
    let z = [0f32; LANES];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let (mut a4, mut a5, mut a6, mut a7) = (z, z, z, z);
    for (c, gl) in g.0.iter().enumerate() {
        let g0 = &gl.0;
        let (x0, x1, x2, x3) = (&x[0].0[c].0, &x[1].0[c].0, &x[2].0[c].0, &x[3].0[c].0);
        let (x4, x5, x6, x7) = (&x[4].0[c].0, &x[5].0[c].0, &x[6].0[c].0, &x[7].0[c].0);
        for l in 0..LANES {
            a0[l] = g0[l].mul_add(x0[l], a0[l]);
            a1[l] = g0[l].mul_add(x1[l], a1[l]);
            a2[l] = g0[l].mul_add(x2[l], a2[l]);
            a3[l] = g0[l].mul_add(x3[l], a3[l]);
            a4[l] = g0[l].mul_add(x4[l], a4[l]);
            a5[l] = g0[l].mul_add(x5[l], a5[l]);
            a6[l] = g0[l].mul_add(x6[l], a6[l]);
            a7[l] = g0[l].mul_add(x7[l], a7[l]);
        }
    }
    let full = g.0.len() * LANES;
    let mut out = [
        reduce(&a0),
        reduce(&a1),
        reduce(&a2),
        reduce(&a3),
        reduce(&a4),
        reduce(&a5),
        reduce(&a6),
        reduce(&a7),
    ];
    for (o, xr) in out.iter_mut().zip(x) {
        for cc in full..g.1.len() {
            *o = g.1[cc].mul_add(xr.1[cc], *o);
        }
    }
    out
}

/// The live-entry dots of output row `i`: `emit(q, dy[i, :] . x[cols(q), :])` for every `q < len`.
///
/// Entries go eight (or, for the last one to four, four) at a time; a short group is padded by repeating its
/// last column and the padded results are dropped, so even a row with few live entries runs several
/// independent accumulator chains instead of one latency-bound chain. Each result has the order of `dense::dot`.
#[inline(always)]
fn row_dots(
    p: &Packed<'_>,
    i: usize,
    len: usize,
    cols: impl Fn(usize) -> usize,
    mut emit: impl FnMut(usize, f32),
) {
    let g = p.dy(i);
    let mut q = 0;
    while q < len {
        let left = len - q;
        let col = |t: usize| p.x(cols(q + t.min(left - 1)));
        if left > 4 {
            let d = dot1x8(g, std::array::from_fn(col));
            for (t, &v) in d.iter().enumerate().take(left.min(8)) {
                emit(q + t, v);
            }
            q += 8;
        } else if left > 1 {
            let d = dot1x4(g, std::array::from_fn(col));
            for (t, &v) in d.iter().enumerate().take(left) {
                emit(q + t, v);
            }
            q += 4;
        } else {
            emit(q, dot1(g, p.x(cols(q))));
            q += 1;
        }
    }
}

/// CSR sampled product (SDDMM): `out[p - row_ptr[0]] = dy[i, :] . x[col[p], :]` for every stored entry `p` of
/// rows `i < rows`. `dy` is `rows x b`, `x` is `inner x b`.
#[inline(always)]
pub fn csr_dots_body(
    rows: usize,
    b: usize,
    row_ptr: &[usize],
    col: &[u32],
    dy: &[f32],
    x: &[f32],
    out: &mut [f32],
) {
    assert!(row_ptr.len() > rows, "csr dots: row pointers too short");
    assert!(dy.len() >= rows * b, "csr dots: dy too short");
    let base = row_ptr[0];
    assert!(
        out.len() >= row_ptr[rows] - base,
        "csr dots: output too short"
    );
    let inner = x.len().checked_div(b).unwrap_or(0);
    // Taken out of the thread-local, not used in a closure (which would lose the target features).
    let mut lines = SLAB.take();
    {
        let p = pack_rows(&mut lines, x, inner, dy, rows, b);
        for i in 0..rows {
            let (s, e) = (row_ptr[i], row_ptr[i + 1]);
            let (cr, o) = (&col[s..e], &mut out[s - base..e - base]);
            row_dots(&p, i, e - s, |q| cr[q] as usize, |q, v| o[q] = v);
        }
    }
    SLAB.set(lines);
}

/// Bitmask sampled product: `dw[i*k + c] = dy[i, :] . x[c, :]` for every live `(i, c)` of rows `i < rows`;
/// masked entries of `dw` are left untouched. `dw` is `rows x k`, row-major.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn bits_dots_body(
    rows: usize,
    k: usize,
    b: usize,
    words: &[u64],
    wpr: usize,
    dy: &[f32],
    x: &[f32],
    dw: &mut [f32],
) {
    assert!(words.len() >= rows * wpr, "bitmask dots: mask too short");
    assert!(
        dy.len() >= rows * b && dw.len() >= rows * k && x.len() >= k * b,
        "bitmask dots: buffers too short"
    );
    let mut lines = SLAB.take();
    {
        let p = pack_rows(&mut lines, x, k, dy, rows, b);
        let mut cols = [0usize; 8];
        for i in 0..rows {
            let drow = &mut dw[i * k..(i + 1) * k];
            let mut n = 0;
            for c in bits(&words[i * wpr..(i + 1) * wpr]) {
                cols[n] = c;
                n += 1;
                if n == 8 {
                    row_dots(&p, i, 8, |q| cols[q], |q, v| drow[cols[q]] = v);
                    n = 0;
                }
            }
            row_dots(&p, i, n, |q| cols[q], |q, v| drow[cols[q]] = v);
        }
    }
    SLAB.set(lines);
}

/// One Adam update over compact live values: with `h = [step_size, beta1, beta2, sqrt(bias_correction2), eps]`,
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, `p -= step_size * m / (sqrt(v) / bc2 + eps)` (the formula
/// of `torch.optim.Adam`, operation for operation).
#[inline(always)]
pub fn adam_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    assert!(
        g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "adam: length mismatch"
    );
    let [step_size, b1, b2, bc2_sqrt, eps] = h;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
    }
}
