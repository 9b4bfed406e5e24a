//! Losses in logits form, numerically stable, with their gradient written in the same pass.
//!
//! Both return the **sum** of per-sample losses and write `d loss_mean / d logits`, i.e. the per-sample
//! gradient divided by the batch size, so the caller's backward pass yields the gradient of the mean loss.

/// Binary cross-entropy with logits: `l(z, y) = max(z, 0) - z y + ln(1 + e^{-|z|})`, `dl/dz = sigmoid(z) - y`.
pub fn bce_with_logits(logits: &[f32], labels: &[u32], grad: &mut [f32]) -> f32 {
    assert!(
        logits.len() == labels.len() && grad.len() == logits.len(),
        "bce: shape mismatch"
    );
    let inv_b = 1.0 / logits.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((&z, &y), g) in logits.iter().zip(labels).zip(grad.iter_mut()) {
        let y = y as f32;
        let e = (-z.abs()).exp();
        total += (z.max(0.0) - z * y + e.ln_1p()) as f64;
        let sig = if z >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        *g = (sig - y) * inv_b;
    }
    total as f32
}

/// Softmax cross-entropy over rows of `classes` logits: `l = logsumexp(z) - z_y`, `dl/dz = softmax(z) - onehot(y)`.
pub fn softmax_ce(logits: &[f32], labels: &[u32], classes: usize, grad: &mut [f32]) -> f32 {
    assert!(
        logits.len() == labels.len() * classes && grad.len() == logits.len(),
        "softmax_ce: shape mismatch"
    );
    let inv_b = 1.0 / labels.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((z, &y), g) in logits
        .chunks_exact(classes)
        .zip(labels)
        .zip(grad.chunks_exact_mut(classes))
    {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (gi, &zi) in g.iter_mut().zip(z) {
            *gi = (zi - max).exp();
            sum += *gi;
        }
        let lse = max + sum.ln();
        total += (lse - z[y as usize]) as f64;
        let inv = inv_b / sum;
        for gi in g.iter_mut() {
            *gi *= inv;
        }
        g[y as usize] -= inv_b;
    }
    total as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_is_stable_and_correct() {
        let mut g = [0f32; 3];
        let l = bce_with_logits(&[0.0, 100.0, -100.0], &[1, 1, 1], &mut g);
        assert!((l - (2f32.ln() + 0.0 + 100.0)).abs() < 1e-4, "{l}");
        assert!((g[0] - (-0.5 / 3.0)).abs() < 1e-6);
        assert!(g[1].abs() < 1e-6 && (g[2] + 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_ce_matches_definition() {
        let z = [1.0f32, 2.0, 3.0, 1000.0, 0.0, -1000.0];
        let mut g = [0f32; 6];
        let l = softmax_ce(&z, &[2, 0], 3, &mut g);
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        assert!((l - (lse - 3.0)).abs() < 1e-4, "{l}");
        assert!((g.iter().sum::<f32>()).abs() < 1e-6);
        assert!((g[3]).abs() < 1e-6);
    }
}
