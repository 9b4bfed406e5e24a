//! Losses in logits form, numerically stable, with their gradient written in the same pass.
//!
//! Logits are feature-major (`classes x b`). Both return the **sum** of per-sample losses and write `d loss_mean / d logits`, i.e. the per-sample
//! gradient divided by the batch size, so the caller's backward pass yields the gradient of the mean loss.

use super::parallel;
use super::Par;

/// Binary cross-entropy with logits: `l(z, y) = max(z, 0) - z y + ln(1 + e^{-|z|})`, `dl/dz = sigmoid(z) - y`.
pub fn bce_with_logits(logits: &[f32], labels: &[u32], grad: &mut [f32]) -> f32 {
    assert!(
        logits.len() == labels.len() && grad.len() == logits.len(),
        "bce: shape mismatch"
    );
    let inv_b = 1.0 / logits.len().max(1) as f32;
    // Pass 1: e = exp(-|z|) (a libm call per sample). Pass 2, call-free and vectorisable: the loss terms summed
    // in eight fixed partial sums, and the gradient.
    for (g, &z) in grad.iter_mut().zip(logits) {
        *g = (-z.abs()).exp();
    }
    const P: usize = 8;
    let mut partial = [0f64; P];
    let term = |z: f32, y: u32, g: &mut f32| -> f64 {
        let (y, e) = (y as f32, *g);
        let sig = if z >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        *g = (sig - y) * inv_b;
        (z.max(0.0) - z * y) as f64 + ln_1p_unit(e)
    };
    let full = logits.len() - logits.len() % P;
    for ((zc, yc), gc) in logits[..full]
        .chunks_exact(P)
        .zip(labels[..full].chunks_exact(P))
        .zip(grad[..full].chunks_exact_mut(P))
    {
        for l in 0..P {
            partial[l] += term(zc[l], yc[l], &mut gc[l]);
        }
    }
    let mut total: f64 = partial.iter().sum();
    for ((&z, &y), g) in logits[full..]
        .iter()
        .zip(&labels[full..])
        .zip(grad[full..].iter_mut())
    {
        total += term(z, y, g);
    }
    total as f32
}

/// `ln(1 + t)` for `t` in `[0, 1]`, in `f64`: `2 atanh(s)` with `s = t / (2 + t) <= 1/3`, by its odd series to
/// `s^17` (truncation below `1e-9`, far under `f32` rounding). Inlined and call-free, unlike `f32::ln_1p`, which
/// took a sixth of a small training step.
#[inline(always)]
fn ln_1p_unit(t: f32) -> f64 {
    let t = t as f64;
    let s = t / (2.0 + t);
    let s2 = s * s;
    let mut p = 1.0 / 17.0;
    for k in [15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        p = p * s2 + 1.0 / k;
    }
    2.0 * s * p
}

/// Softmax cross-entropy on feature-major logits (`classes x b`, row stride `b`):
/// `l = logsumexp(z) - z_y` per sample, `dl/dz = softmax(z) - onehot(y)`.
///
/// Samples go in chunks of 64, each pass reading a contiguous run of every class row (the layout's
/// rows), instead of one sample at a time down a column of stride `b`. Every sample sees the same operations in
/// the same order as a per-sample loop (class-ordered max and sum, then the scaling), so the result does not
/// depend on the chunking.
pub fn softmax_ce(logits: &[f32], labels: &[u32], classes: usize, grad: &mut [f32]) -> f32 {
    let b = labels.len();
    assert!(
        logits.len() == b * classes && grad.len() == logits.len(),
        "softmax_ce: shape mismatch"
    );
    let mut total = 0.0f64;
    softmax_ce_range(
        logits,
        labels,
        classes,
        (0, b),
        &mut Strided { g: grad, b },
        |l| total += l as f64,
    );
    total as f32
}

/// [`softmax_ce`] with the samples cut into ranges spread as `par` says. Each sample is computed by one thread
/// exactly as sequentially; the per-sample losses go into `scratch` (one buffer per piece, kept by the caller)
/// and are summed in sample order afterwards, so the result is bit for bit [`softmax_ce`]'s.
pub fn softmax_ce_par(
    par: Par,
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    grad: &mut [f32],
    scratch: &mut Vec<Vec<f32>>,
) -> f32 {
    let b = labels.len();
    if par.pieces() == 1 || b * classes < CE_PAR_MIN_ELEMS {
        return softmax_ce(logits, labels, classes, grad);
    }
    assert!(
        logits.len() == b * classes && grad.len() == logits.len(),
        "softmax_ce: shape mismatch"
    );
    let bounds = parallel::even_cols(b, par, CE_CHUNK);
    scratch.resize_with(scratch.len().max(bounds.len() - 1), Vec::new);
    parallel::run_col_pieces(&bounds, b, grad, scratch, |c0, c1, losses, rows| {
        losses.clear();
        softmax_ce_range(logits, labels, classes, (c0, c1), rows, |l| losses.push(l));
    });
    let total: f64 = scratch[..bounds.len() - 1]
        .iter()
        .flatten()
        .fold(0.0, |t, &l| t + l as f64);
    total as f32
}

/// The samples `c0..c1` of one class row of the gradient.
trait GradRows {
    fn row(&mut self, class: usize) -> &mut [f32];
}

/// A whole row-major gradient (`classes x b`).
struct Strided<'a> {
    g: &'a mut [f32],
    b: usize,
}

impl GradRows for Strided<'_> {
    #[inline(always)]
    fn row(&mut self, class: usize) -> &mut [f32] {
        &mut self.g[class * self.b..(class + 1) * self.b]
    }
}

impl GradRows for [&mut [f32]] {
    #[inline(always)]
    fn row(&mut self, class: usize) -> &mut [f32] {
        &mut *self[class]
    }
}

/// Samples `c0..c1` of [`softmax_ce`]: `grad.row(c)` holds those samples of class `c`, `loss(l)` receives each
/// sample's loss in order.
fn softmax_ce_range<G: GradRows + ?Sized>(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    (c0, c1): (usize, usize),
    grad: &mut G,
    mut loss: impl FnMut(f32),
) {
    let b = labels.len();
    let inv_b = 1.0 / b.max(1) as f32;
    let mut max = [0f32; CE_CHUNK];
    let mut sum = [0f32; CE_CHUNK];
    for i0 in (c0..c1).step_by(CE_CHUNK) {
        let (n, o) = (CE_CHUNK.min(c1 - i0), i0 - c0);
        let (max, sum) = (&mut max[..n], &mut sum[..n]);
        max.fill(f32::NEG_INFINITY);
        sum.fill(0.0);
        for c in 0..classes {
            let z = &logits[c * b + i0..c * b + i0 + n];
            for (m, &v) in max.iter_mut().zip(z) {
                *m = m.max(v);
            }
        }
        for c in 0..classes {
            let z = &logits[c * b + i0..c * b + i0 + n];
            let g = &mut grad.row(c)[o..o + n];
            for (((g, &v), &m), s) in g.iter_mut().zip(z).zip(&*max).zip(sum.iter_mut()) {
                let e = (v - m).exp();
                *g = e;
                *s += e;
            }
        }
        for (t, (&m, &s)) in max.iter().zip(&*sum).enumerate() {
            let y = labels[i0 + t] as usize;
            loss(m + s.ln() - logits[y * b + i0 + t]);
        }
        for c in 0..classes {
            let g = &mut grad.row(c)[o..o + n];
            for (g, &s) in g.iter_mut().zip(&*sum) {
                *g *= inv_b / s;
            }
        }
        for t in 0..n {
            grad.row(labels[i0 + t] as usize)[o + t] -= inv_b;
        }
    }
}

/// Fewest logits for which [`softmax_ce_par`] hands pieces to other threads: an exponential and a few passes
/// per logit make it ~3 ns per logit (`perf` of the CLIP-sized epoch: 100 x 500 logits took ~150 us), so a
/// hand-off pays from a few thousand logits.
const CE_PAR_MIN_ELEMS: usize = 1 << 13;

/// Samples per chunk of [`softmax_ce`]: its per-sample maxima and sums stay in registers or L1.
const CE_CHUNK: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_1p_series_matches_libm() {
        for i in 0..=1000 {
            let t = i as f32 / 1000.0;
            let want = (t as f64).ln_1p();
            assert!((ln_1p_unit(t) - want).abs() <= 1e-12 + 1e-9 * want, "{t}");
        }
    }

    #[test]
    fn bce_is_stable_and_correct() {
        let mut g = [0f32; 3];
        let l = bce_with_logits(&[0.0, 100.0, -100.0], &[1, 1, 1], &mut g);
        assert!((l - (2f32.ln() + 0.0 + 100.0)).abs() < 1e-4, "{l}");
        assert!((g[0] - (-0.5 / 3.0)).abs() < 1e-6);
        assert!(g[1].abs() < 1e-6 && (g[2] + 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_ce_is_bit_identical_on_any_cut_of_the_samples() {
        for &(classes, b) in &[(100, 500), (3, 30_000), (131, 613)] {
            let z: Vec<f32> = (0..classes * b)
                .map(|i| (i as f32 * 0.37).sin() * 8.0)
                .collect();
            let y: Vec<u32> = (0..b).map(|i| (i * 7 % classes) as u32).collect();
            let mut want = vec![0f32; classes * b];
            let l = softmax_ce(&z, &y, classes, &mut want);
            let mut scratch = Vec::new();
            for par in [Par::Rayon(2), Par::Rayon(3), Par::Rayon(7)] {
                let mut g = vec![f32::NAN; classes * b];
                let lp = softmax_ce_par(par, &z, &y, classes, &mut g, &mut scratch);
                assert_eq!(lp.to_bits(), l.to_bits(), "{classes}x{b} {par:?}: loss");
                assert!(
                    g.iter().zip(&want).all(|(a, w)| a.to_bits() == w.to_bits()),
                    "{classes}x{b} {par:?}: gradient"
                );
            }
        }
    }

    #[test]
    fn softmax_ce_matches_definition() {
        // Feature-major: sample 0 is (1, 2, 3), sample 1 is (1000, 0, -1000).
        let z = [1.0f32, 1000.0, 2.0, 0.0, 3.0, -1000.0];
        let mut g = [0f32; 6];
        let l = softmax_ce(&z, &[2, 0], 3, &mut g);
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        assert!((l - (lse - 3.0)).abs() < 1e-4, "{l}");
        assert!((g.iter().sum::<f32>()).abs() < 1e-6);
        assert!(g[1].abs() < 1e-6 && g[3].abs() < 1e-6);
    }
}
