//! CPU operations as plain forward/backward pairs writing into caller-owned buffers.
//!
//! **Layout.** Activations are feature-major (batch-contiguous): a batch of `b` samples of width `n` is a
//! row-major `n x b` matrix whose row `j` is feature `j` of every sample. A weight matrix is row-major
//! `out x in`, as in `nn.Linear`. The three products of training are
//!
//! * forward `Y = W X + b` with fused activation ([`linear_forward`]),
//! * input gradient `dX = W^T dY` ([`linear_backward_input`]),
//! * weight gradient `dW = dY X^T`, computed only where the mask is live ([`linear_backward_weight`]).
//!
//! With this layout each weight drives a SIMD axpy over the batch and each weight gradient is a dot product of
//! two contiguous rows. [`simd`] holds the runtime-dispatched instantiations of the crate's own kernels; large
//! dense products go through `matrixmultiply`'s GEMM micro-kernel instead ([`gemm`], chosen by [`gemm::pays`]),
//! which is also the reference the kernels are tested against.
//!
//! **Files.** Bodies (safe, `#[inline(always)]`, instantiated per instruction set by [`simd`]): [`dense`] (dense
//! row and dot products), [`sparse_rows`] (the same products over CSR rows and bitmask rows), [`adam`] (the Adam
//! update). Public products: the dense ones here (and [`gemm`] for large ones), [`csr`] and [`bitmask`] for the
//! sparse formats, [`loss`]. [`parallel`] cuts rows into pieces for rayon ([`Par`]). This module imports only
//! [`crate::sparse`] (storage); the per-layer executor that chooses among these products is
//! [`crate::nn::LayerExec`].

pub mod adam;
pub mod bf16;
pub mod bf16_base;
#[cfg(target_arch = "x86_64")]
mod bf16_x86;
pub mod bitmask;
pub mod csr;
pub mod dense;
#[cfg(target_arch = "x86_64")]
mod dots_x86;
pub mod gemm;
pub mod loss;
pub mod parallel;
pub mod prefetch;
pub mod simd;
pub mod sparse_rows;

pub use bf16::Precision;
pub use parallel::Par;
pub use simd::Isa;

use crate::sparse::Mask;

/// `Y (n x b) = W (n x k) X (k x b) + bias`, then ReLU if `relu`.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    w: &[f32],
    x: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    if gemm::pays(isa, n, k, b) {
        gemm::forward_rows(n, k, b, w, x, bias, relu, y);
    } else {
        simd::rows(isa, n, k, b, w, k, x, Some(bias), relu, y);
    }
}

/// `dX (k x b) = W^T dY`, with `W` row-major `n x k` and `dY` `n x b` (small products through a transposed
/// copy of `W`).
pub fn linear_backward_input(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    w: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    if gemm::pays(isa, k, n, b) {
        return gemm::input_grad_rows(k, n, k, b, w, dy, dx);
    }
    let mut wt = vec![0f32; n * k];
    dense::transpose(n, k, w, &mut wt);
    simd::rows(isa, k, n, b, &wt, n, dy, None, false, dx);
}

/// `dW (n x k) = dY (n x b) X^T (b x k)` on the live entries of `mask`; masked entries are set to `0.0`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward_weight(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    mask: Option<&Mask>,
    dw: &mut [f32],
) {
    if gemm::pays(isa, n, b, k) {
        gemm::weight_grad_rows(0, n, k, b, dy, x, mask, dw);
    } else {
        simd::dots(isa, n, k, b, dy, x, mask, dw);
    }
}

/// `db (n) = row sums of dY (n x b)`.
pub fn bias_grad(isa: Isa, n: usize, b: usize, dy: &[f32], db: &mut [f32]) {
    simd::row_sums(isa, n, b, dy, db);
}

/// Fewest elements for which [`bias_grad_par`] and [`relu_backward_par`] hand pieces to other threads: a
/// 100 x 500 pass takes ~5-10 us, while a hand-off costs 2-11 us to a spinning worker and 34-110 us to one that
/// has gone to sleep (`examples/join_cost.rs` on the 2-vCPU development guest), so smaller passes stay on one
/// thread. Whether a pass is split never changes its bits.
pub const PAR_MIN_ELEMS: usize = 1 << 16;

/// [`bias_grad`] with the rows spread as `par` says (each row summed by one thread in the same order, so the
/// bits do not depend on the thread count).
pub fn bias_grad_par(isa: Isa, par: Par, n: usize, b: usize, dy: &[f32], db: &mut [f32]) {
    if par.pieces() == 1 || n * b < PAR_MIN_ELEMS {
        return bias_grad(isa, n, b, dy, db);
    }
    assert!(
        dy.len() >= n * b && db.len() >= n,
        "bias_grad_par: buffers too short"
    );
    parallel::run_pieces(
        &parallel::even_rows(n, par),
        |r| r,
        &mut db[..n],
        |r0, r1, dbp| simd::row_sums(isa, r1 - r0, b, &dy[r0 * b..r1 * b], dbp),
    );
}

/// [`relu_backward`] on `rows` rows of `b` values, the rows spread as `par` says.
pub fn relu_backward_par(par: Par, rows: usize, b: usize, grad: &mut [f32], act: &[f32]) {
    assert!(
        grad.len() == rows * b && act.len() == rows * b,
        "relu_backward_par: shape mismatch"
    );
    if par.pieces() == 1 || rows * b < PAR_MIN_ELEMS {
        return relu_backward(grad, act);
    }
    parallel::run_pieces(
        &parallel::even_rows(rows, par),
        |r| r * b,
        grad,
        |r0, r1, gp| relu_backward(gp, &act[r0 * b..r1 * b]),
    );
}

/// Back through ReLU: zeroes `grad` wherever the activation `act` (the ReLU output) is not positive.
pub fn relu_backward(grad: &mut [f32], act: &[f32]) {
    assert_eq!(grad.len(), act.len(), "relu_backward: shape mismatch");
    // A select rather than a conditional store, so the loop vectorises.
    for (g, &a) in grad.iter_mut().zip(act) {
        *g = if a <= 0.0 { 0.0 } else { *g };
    }
}

/// One Adam step ([`adam::adam_body`]) over contiguous values, on `isa`; `h` is
/// `[step_size, beta1, beta2, sqrt(bias_correction2), eps]`.
pub fn adam_update(isa: Isa, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    simd::adam(isa, p, g, m, v, h);
}

/// [`adam_update`] with the penalty `pen` (see [`adam::Penalty`]) added to each gradient first,
/// as [`crate::nn::Regularizer::add_grad`] would; `None` is exactly [`adam_update`].
pub fn adam_update_penalised(
    isa: Isa,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: [f32; 5],
    pen: Option<adam::Penalty>,
) {
    simd::adam_penalised(isa, p, g, m, v, h, pen);
}

/// One Adam step ([`adam::adam_masked_body`]) over the live entries of `mask` only, the penalty `pen` (if any)
/// added to each gradient first; `p`, `g`, `m`, `v` are dense row-major `mask.rows() x mask.cols()`. Masked
/// entries of `p`, `m` and `v` keep their bits. `par` splits the rows over threads (each entry is updated by one
/// thread in the same way, so results do not depend on it).
#[allow(clippy::too_many_arguments)]
pub fn adam_update_masked(
    isa: Isa,
    par: Par,
    mask: &Mask,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: [f32; 5],
    pen: Option<adam::Penalty>,
) {
    let (rows, cols, wpr) = (mask.rows(), mask.cols(), mask.words_per_row());
    assert!(
        p.len() == rows * cols && g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "adam_update_masked: length mismatch"
    );
    let words = mask.words();
    let bounds = parallel::even_rows(rows, par);
    if bounds.len() <= 2 || cols == 0 {
        return simd::adam_masked(isa, cols, words, wpr, p, g, m, v, h, pen);
    }
    // One piece of rows per task: `p`, `m` and `v` cut at the same row boundaries.
    let mut pieces = Vec::with_capacity(bounds.len() - 1);
    let (mut pr, mut mr, mut vr) = (p, m, v);
    for w in bounds.windows(2) {
        let len = (w[1] - w[0]) * cols;
        let (pp, pt) = pr.split_at_mut(len);
        let (mp, mt) = mr.split_at_mut(len);
        let (vp, vt) = vr.split_at_mut(len);
        (pr, mr, vr) = (pt, mt, vt);
        pieces.push((w[0], w[1], pp, mp, vp));
    }
    parallel::for_each_piece(pieces, |(r0, r1, pp, mp, vp)| {
        let (wp, gp) = (&words[r0 * wpr..r1 * wpr], &g[r0 * cols..r1 * cols]);
        simd::adam_masked(isa, cols, wp, wpr, pp, gp, mp, vp, h, pen)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.754).sin())
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(p, q)| (p - q).abs() <= tol * (1.0 + q.abs()))
    }

    /// `|got - base| <= 2 K u sum |w x|` (`u = 2^-24`), the bound of the [`simd`] module documentation.
    fn within_rounding(got: &[f32], base: &[f32], absum: &[f32], terms: usize) -> bool {
        let u = f32::EPSILON / 2.0;
        got.len() == base.len()
            && got
                .iter()
                .zip(base)
                .zip(absum)
                .all(|((g, b), a)| (g - b).abs() <= 2.0 * terms as f32 * u * a * 1.001)
    }

    fn abs(v: &[f32]) -> Vec<f32> {
        v.iter().map(|x| x.abs()).collect()
    }

    #[test]
    fn kernels_match_matrixmultiply_and_agree_across_isas_within_rounding() {
        for &(n, k, b) in &[
            (1, 1, 1),
            (3, 5, 17),
            (4, 32, 500),
            (9, 7, 33),
            (16, 32, 15),
            (2, 70, 64),
            // More than one packed tile of input rows (128 a tile), with rows left over by groups of four.
            (6, 300, 70),
            (5, 130, 33),
            // Through the GEMM micro-kernel on the wide instruction sets (`gemm::pays`), with edge tiles in
            // every dimension and more than one 256-term block of the inner dimension.
            (37, 290, 101),
            (64, 40, 513),
        ] {
            let w = data(n * k, 1.0);
            let x = data(k * b, 2.0);
            let dy = data(n * b, 3.0);
            let bias = data(n, 4.0);
            let mut mask = Mask::full(n, k);
            for i in (0..n * k).step_by(3) {
                mask.set(i / k, i % k, false);
            }
            let mut y_abs = vec![0f32; n * b];
            gemm::fwd_ref(n, k, b, &abs(&w), &abs(&x), &mut y_abs);
            for (j, row) in y_abs.chunks_mut(b).enumerate() {
                row.iter_mut().for_each(|v| *v += bias[j].abs());
            }
            let mut dx_abs = vec![0f32; k * b];
            gemm::dx_ref(n, k, b, &abs(&w), &abs(&dy), &mut dx_abs);
            let mut dw_abs = vec![0f32; n * k];
            gemm::dw_ref(n, k, b, &abs(&dy), &abs(&x), &mut dw_abs);
            let db_abs: Vec<f32> = dy
                .chunks(b)
                .map(|r| r.iter().map(|v| v.abs()).sum())
                .collect();
            let mut baseline = None;
            for isa in Isa::available() {
                let mut y = vec![0f32; n * b];
                linear_forward(isa, n, k, b, &w, &x, &bias, false, &mut y);
                let mut y_ref = vec![0f32; n * b];
                gemm::fwd_ref(n, k, b, &w, &x, &mut y_ref);
                for (j, row) in y_ref.chunks_mut(b).enumerate() {
                    row.iter_mut().for_each(|v| *v += bias[j]);
                }
                assert!(close(&y, &y_ref, 1e-4), "forward {isa:?} {n}x{k}x{b}");

                let mut dx = vec![0f32; k * b];
                linear_backward_input(isa, n, k, b, &w, &dy, &mut dx);
                let mut dx_ref = vec![0f32; k * b];
                gemm::dx_ref(n, k, b, &w, &dy, &mut dx_ref);
                assert!(close(&dx, &dx_ref, 1e-4), "dx {isa:?}");

                let mut dw = vec![1f32; n * k];
                linear_backward_weight(isa, n, k, b, &dy, &x, Some(&mask), &mut dw);
                let mut dw_ref = vec![0f32; n * k];
                gemm::dw_ref(n, k, b, &dy, &x, &mut dw_ref);
                mask.apply(&mut dw_ref);
                assert!(close(&dw, &dw_ref, 1e-4), "dw {isa:?}");
                for (i, v) in dw.iter().enumerate() {
                    assert!(
                        mask.get_flat(i) || v.to_bits() == 0,
                        "dw {isa:?}: masked entry {i} is {v}"
                    );
                }

                let mut db = vec![0f32; n];
                bias_grad(isa, n, b, &dy, &mut db);
                let db_ref: Vec<f32> = dy.chunks(b).map(|r| r.iter().sum()).collect();
                assert!(close(&db, &db_ref, 1e-4), "db {isa:?}");

                match &baseline {
                    None => baseline = Some((y, dx, dw, db)),
                    Some((y0, dx0, dw0, db0)) => {
                        let what = format!("{isa:?} vs the baseline at {n}x{k}x{b}");
                        assert!(within_rounding(&y, y0, &y_abs, k + 1), "forward: {what}");
                        assert!(within_rounding(&dx, dx0, &dx_abs, n), "dx: {what}");
                        assert!(within_rounding(&dw, dw0, &dw_abs, b), "dw: {what}");
                        assert!(within_rounding(&db, db0, &db_abs, b), "db: {what}");
                    }
                }
            }
        }
    }

    /// A row range of each GEMM product is exactly the same rows of the whole product (what makes the dense
    /// layers bit-identical at any thread count), masked weight-gradient entries come out exactly `0.0`, and
    /// every product matches the naive sum, at every tail of the 8 x 8 (AVX2) and 16 x 16 (AVX-512) tiles.
    #[test]
    fn gemm_row_ranges_are_bit_identical_to_the_whole_product() {
        for &(n, k, b) in &[
            (1, 1, 1),
            (17, 9, 23),
            (40, 300, 33),
            (9, 31, 260),
            (70, 66, 15),
            (100, 130, 200),
            (33, 200, 70),
        ] {
            let w = data(n * k, 5.0);
            let x = data(k * b, 6.0);
            let dy = data(n * b, 7.0);
            let bias = data(n, 8.0);
            let mut mask = Mask::full(n, k);
            for i in (0..n * k).step_by(5) {
                mask.set(i / k, i % k, false);
            }
            let mut y = vec![0f32; n * b];
            gemm::forward_rows(n, k, b, &w, &x, &bias, true, &mut y);
            let mut dx = vec![0f32; k * b];
            gemm::input_grad_rows(k, n, k, b, &w, &dy, &mut dx);
            let mut dw = vec![f32::NAN; n * k];
            gemm::weight_grad_rows(0, n, k, b, &dy, &x, Some(&mask), &mut dw);
            for i in 0..n {
                for c in 0..b {
                    let s: f32 = bias[i] + (0..k).map(|p| w[i * k + p] * x[p * b + c]).sum::<f32>();
                    assert!((y[i * b + c] - s.max(0.0)).abs() <= 1e-4 * (1.0 + s.abs()));
                }
                for j in 0..k {
                    let s: f32 = (0..b).map(|c| dy[i * b + c] * x[j * b + c]).sum();
                    let want = if mask.get(i, j) { s } else { 0.0 };
                    assert!((dw[i * k + j] - want).abs() <= 1e-4 * (1.0 + s.abs()));
                    assert!(mask.get(i, j) || dw[i * k + j].to_bits() == 0);
                }
            }
            for j in 0..k {
                for c in 0..b {
                    let s: f32 = (0..n).map(|i| w[i * k + j] * dy[i * b + c]).sum();
                    assert!((dx[j * b + c] - s).abs() <= 1e-4 * (1.0 + s.abs()));
                }
            }
            for cuts in [1, 2, 3, 7] {
                let split = |rows: usize| (0..=cuts).map(move |t| rows * t / cuts);
                let bounds: Vec<usize> = split(n).collect();
                let mut yp = vec![0f32; n * b];
                let mut dwp = vec![f32::NAN; n * k];
                for r in bounds.windows(2) {
                    let (r0, r1) = (r[0], r[1]);
                    gemm::forward_rows(
                        r1 - r0,
                        k,
                        b,
                        &w[r0 * k..],
                        &x,
                        &bias[r0..],
                        true,
                        &mut yp[r0 * b..r1 * b],
                    );
                    gemm::weight_grad_rows(
                        r0,
                        r1 - r0,
                        k,
                        b,
                        &dy[r0 * b..],
                        &x,
                        Some(&mask),
                        &mut dwp[r0 * k..r1 * k],
                    );
                }
                let mut dxp = vec![0f32; k * b];
                for r in split(k).collect::<Vec<_>>().windows(2) {
                    let (r0, r1) = (r[0], r[1]);
                    if r1 > r0 {
                        gemm::input_grad_rows(
                            r1 - r0,
                            n,
                            k,
                            b,
                            &w[r0..],
                            &dy,
                            &mut dxp[r0 * b..r1 * b],
                        );
                    }
                }
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&yp), bits(&y), "forward {n}x{k}x{b} in {cuts} pieces");
                assert_eq!(bits(&dxp), bits(&dx), "dx {n}x{k}x{b} in {cuts} pieces");
                assert_eq!(bits(&dwp), bits(&dw), "dw {n}x{k}x{b} in {cuts} pieces");
                // Column ranges (samples for the forward product and the input gradient, inputs for the weight
                // gradient), each through its own scratch, at arbitrary and at tile-aligned cuts.
                for aligned in [false, true] {
                    let cut = |cols: usize| -> Vec<usize> {
                        if aligned {
                            parallel::even_cols(cols, Par::Rayon(cuts), gemm::COL_ALIGN)
                        } else {
                            split(cols).collect()
                        }
                    };
                    let mut yc = vec![f32::NAN; n * b];
                    let mut dxc = vec![f32::NAN; k * b];
                    let mut dwc = vec![f32::NAN; n * k];
                    let mut scratch = vec![Vec::new(); cuts];
                    parallel::run_col_pieces(
                        &cut(b),
                        b,
                        &mut yc,
                        &mut scratch,
                        |c0, c1, buf, rows| {
                            gemm::forward_cols((n, k, b), (c0, c1), &w, &x, &bias, true, buf, rows)
                        },
                    );
                    parallel::run_col_pieces(
                        &cut(b),
                        b,
                        &mut dxc,
                        &mut scratch,
                        |c0, c1, buf, rows| {
                            gemm::input_grad_cols((n, k, b), (c0, c1), &w, &dy, buf, rows)
                        },
                    );
                    parallel::run_col_pieces(
                        &cut(k),
                        k,
                        &mut dwc,
                        &mut scratch,
                        |c0, c1, buf, rows| {
                            gemm::weight_grad_cols(
                                (n, k, b),
                                (c0, c1),
                                &dy,
                                &x,
                                Some(&mask),
                                buf,
                                rows,
                            )
                        },
                    );
                    let how = if aligned { "aligned" } else { "unaligned" };
                    assert_eq!(
                        bits(&yc),
                        bits(&y),
                        "forward {n}x{k}x{b}: {cuts} {how} column pieces"
                    );
                    assert_eq!(
                        bits(&dxc),
                        bits(&dx),
                        "dx {n}x{k}x{b}: {cuts} {how} column pieces"
                    );
                    assert_eq!(
                        bits(&dwc),
                        bits(&dw),
                        "dw {n}x{k}x{b}: {cuts} {how} column pieces"
                    );
                }
            }
        }
    }

    #[test]
    fn masked_update_touches_exactly_the_live_entries() {
        let (rows, cols) = (3, 130);
        let mut mask = Mask::full(rows, cols);
        // Short runs in rows 0 and 1 (updated inline), long runs in row 2 (through the dispatch).
        for i in (0..2 * cols).filter(|i| i % 7 == 0 || i % 5 == 1 || *i == cols + 70) {
            mask.set(i / cols, i % cols, false);
        }
        let g: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let h = [1e-2, 0.9, 0.999, 0.5, 1e-8];
        let (mut p, mut m, mut v) = (
            vec![1f32; rows * cols],
            vec![0f32; rows * cols],
            vec![0f32; rows * cols],
        );
        adam_update_masked(
            Isa::best(),
            Par::Seq,
            &mask,
            &mut p,
            &g,
            &mut m,
            &mut v,
            h,
            None,
        );
        for i in 0..rows * cols {
            let (mut pe, mut me, mut ve) = ([1f32], [0f32], [0f32]);
            adam::adam_body(&mut pe, &g[i..=i], &mut me, &mut ve, h);
            if mask.get_flat(i) {
                assert_eq!((p[i], m[i], v[i]), (pe[0], me[0], ve[0]), "live entry {i}");
            } else {
                assert_eq!((p[i], m[i], v[i]), (1.0, 0.0, 0.0), "masked entry {i}");
            }
        }
    }

    #[test]
    fn masked_penalised_update_is_add_grad_then_adam_at_every_tail_isa_and_split() {
        use crate::kernels::adam::Penalty;
        let h = [1e-2, 0.9, 0.999, 0.5, 1e-8];
        for (rows, cols) in [
            (1, 1),
            (3, 15),
            (4, 16),
            (5, 17),
            (7, 64),
            (6, 65),
            (9, 130),
        ] {
            let mut mask = Mask::full(rows, cols);
            for i in 0..rows * cols {
                // Scattered singletons, short runs and whole empty chunks.
                if i % 3 == 0 || (i / 16) % 5 == 2 {
                    mask.set(i / cols, i % cols, false);
                }
            }
            let g: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
            let p0: Vec<f32> = (0..rows * cols)
                .map(|i| {
                    if mask.get_flat(i) {
                        (i as f32 * 0.91).cos()
                    } else {
                        0.0
                    }
                })
                .collect();
            let m0: Vec<f32> = (0..rows * cols)
                .map(|i| (i as f32 * 0.13).sin() * 0.1)
                .collect();
            let v0: Vec<f32> = (0..rows * cols)
                .map(|i| (i as f32 * 0.29).cos().abs())
                .collect();
            let pen = Penalty::Weight {
                l1: 1e-3,
                two_l2: 2e-2,
            };
            // Reference: the penalty added as `Regularizer::add_grad` does, then the plain body per entry.
            let (mut pe, mut me, mut ve) = (p0.clone(), m0.clone(), v0.clone());
            for i in 0..rows * cols {
                if mask.get_flat(i) {
                    let w = pe[i];
                    let sign = if w > 0.0 {
                        1.0
                    } else if w < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    let gi = [g[i] + (2e-2 * w + 1e-3 * sign)];
                    let r = i..=i;
                    adam::adam_body(&mut pe[r.clone()], &gi, &mut me[r.clone()], &mut ve[r], h);
                }
            }
            for isa in Isa::available() {
                for par in [Par::Seq, Par::Rayon(2), Par::Rayon(3)] {
                    let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
                    adam_update_masked(isa, par, &mask, &mut p, &g, &mut m, &mut v, h, Some(pen));
                    let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    let at = format!("{rows}x{cols} {isa:?} {par:?}");
                    assert_eq!(bits(&p), bits(&pe), "values {at}");
                    assert_eq!(bits(&m), bits(&me), "first moments {at}");
                    assert_eq!(bits(&v), bits(&ve), "second moments {at}");
                }
            }
        }
    }

    #[test]
    fn penalised_update_is_add_grad_then_adam() {
        use crate::kernels::adam::Penalty;
        let h = [1e-2, 0.9, 0.999, 0.5, 1e-8];
        let n = 37;
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        // Positive, negative and zero values, so every branch of the subgradient is taken.
        let p0: Vec<f32> = (0..n)
            .map(|i| if i % 5 == 0 { 0.0 } else { (i as f32).cos() })
            .collect();
        for (pen, l1, two_l2) in [
            (
                Penalty::Weight {
                    l1: 1e-3,
                    two_l2: 2e-2,
                },
                1e-3,
                2e-2,
            ),
            (Penalty::Bias { two_l2: 2e-2 }, 0.0, 2e-2),
        ] {
            let (mut pe, mut me, mut ve) = (p0.clone(), vec![0f32; n], vec![0f32; n]);
            let ge: Vec<f32> = g
                .iter()
                .zip(&p0)
                .map(|(&g, &w)| match pen {
                    Penalty::Weight { .. } => {
                        let sign = if w > 0.0 {
                            1.0
                        } else if w < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        g + (two_l2 * w + l1 * sign)
                    }
                    Penalty::Bias { .. } => g + two_l2 * w,
                })
                .collect();
            adam::adam_body(&mut pe, &ge, &mut me, &mut ve, h);
            for isa in Isa::available() {
                let (mut p, mut m, mut v) = (p0.clone(), vec![0f32; n], vec![0f32; n]);
                adam_update_penalised(isa, &mut p, &g, &mut m, &mut v, h, Some(pen));
                assert_eq!((&p, &m, &v), (&pe, &me, &ve), "{pen:?} {isa:?}");
            }
        }
    }
}
