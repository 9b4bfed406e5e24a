//! LayerNorm over the features of each sample, on feature-major activations (`n x b`):
//! `y[j, s] = (x[j, s] - mean_s) rstd_s gamma[j] + beta[j]` with `rstd_s = 1 / sqrt(var_s + eps)` (biased
//! variance, as `torch.nn.LayerNorm`). The CPU reference of the GPU kernels in `cuda/layernorm.cu`.

/// Forward pass; saves each sample's mean and `rstd` (`b` values each) for [`layer_norm_backward`].
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    n: usize,
    b: usize,
    eps: f32,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    assert!(
        x.len() == n * b && y.len() == n * b,
        "layer_norm_forward: shape mismatch"
    );
    assert!(gamma.len() == n && beta.len() == n && mean.len() == b && rstd.len() == b);
    for s in 0..b {
        let mu = (0..n).map(|j| x[j * b + s]).sum::<f32>() / n as f32;
        let var = (0..n).map(|j| (x[j * b + s] - mu).powi(2)).sum::<f32>() / n as f32;
        let rs = 1.0 / (var + eps).sqrt();
        for j in 0..n {
            y[j * b + s] = (x[j * b + s] - mu) * rs * gamma[j] + beta[j];
        }
        mean[s] = mu;
        rstd[s] = rs;
    }
}

/// Backward pass: `dx = rstd (g - mean_j g - xhat mean_j(g xhat))` with `g = dy gamma`;
/// `dgamma = sum_s dy xhat`, `dbeta = sum_s dy`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    n: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    assert!(
        dy.len() == n * b && x.len() == n * b && dx.len() == n * b,
        "layer_norm_backward: shape mismatch"
    );
    assert!(
        gamma.len() == n
            && dgamma.len() == n
            && dbeta.len() == n
            && mean.len() == b
            && rstd.len() == b
    );
    let xhat = |j: usize, s: usize| (x[j * b + s] - mean[s]) * rstd[s];
    for s in 0..b {
        let (mut sg, mut sgx) = (0.0f32, 0.0f32);
        for j in 0..n {
            let g = dy[j * b + s] * gamma[j];
            sg += g;
            sgx += g * xhat(j, s);
        }
        let (mg, mgx) = (sg / n as f32, sgx / n as f32);
        for j in 0..n {
            dx[j * b + s] = rstd[s] * (dy[j * b + s] * gamma[j] - mg - xhat(j, s) * mgx);
        }
    }
    for j in 0..n {
        dgamma[j] = (0..b).map(|s| dy[j * b + s] * xhat(j, s)).sum();
        dbeta[j] = dy[j * b..(j + 1) * b].iter().sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loss `sum(y * w)` for fixed weights `w`; its gradients by central differences in f64-accumulated f32.
    #[test]
    fn backward_matches_finite_differences() {
        let (n, b, eps) = (5, 3, 1e-5);
        let x: Vec<f32> = (0..n * b)
            .map(|i| ((i as f32) * 0.77).sin() * 2.0)
            .collect();
        let gamma: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 * 0.3).collect();
        let beta: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 0.2).collect();
        let w: Vec<f32> = (0..n * b).map(|i| ((i as f32) * 1.3).cos()).collect();
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let (mut y, mut m, mut r) = (vec![0.0; n * b], vec![0.0; b], vec![0.0; b]);
            layer_norm_forward(n, b, eps, x, gamma, beta, &mut y, &mut m, &mut r);
            y.iter()
                .zip(&w)
                .map(|(a, c)| (*a as f64) * (*c as f64))
                .sum()
        };
        let (mut y, mut mean, mut rstd) = (vec![0.0; n * b], vec![0.0; b], vec![0.0; b]);
        layer_norm_forward(n, b, eps, &x, &gamma, &beta, &mut y, &mut mean, &mut rstd);
        let (mut dx, mut dg, mut db) = (vec![0.0; n * b], vec![0.0; n], vec![0.0; n]);
        layer_norm_backward(
            n, b, &w, &x, &gamma, &mean, &rstd, &mut dx, &mut dg, &mut db,
        );
        let h = 1e-2f32;
        let fd = |f: &dyn Fn(f32) -> f64| ((f(h) - f(-h)) / (2.0 * h as f64)) as f32;
        for i in 0..n * b {
            let num = fd(&|d| {
                let mut xp = x.clone();
                xp[i] += d;
                loss(&xp, &gamma, &beta)
            });
            assert!(
                (num - dx[i]).abs() < 2e-3 * (1.0 + num.abs()),
                "dx[{i}]: {num} vs {}",
                dx[i]
            );
        }
        for j in 0..n {
            let num = fd(&|d| {
                let mut g = gamma.clone();
                g[j] += d;
                loss(&x, &g, &beta)
            });
            assert!(
                (num - dg[j]).abs() < 2e-3 * (1.0 + num.abs()),
                "dgamma[{j}]"
            );
            let num = fd(&|d| {
                let mut bb = beta.clone();
                bb[j] += d;
                loss(&x, &gamma, &bb)
            });
            assert!((num - db[j]).abs() < 2e-3 * (1.0 + num.abs()), "dbeta[{j}]");
        }
        // Each sample's normalised features have mean 0 and variance 1 before the affine map.
        for s in 0..b {
            let xh: Vec<f32> = (0..n)
                .map(|j| (y[j * b + s] - beta[j]) / gamma[j])
                .collect();
            let m = xh.iter().sum::<f32>() / n as f32;
            let v = xh.iter().map(|a| (a - m).powi(2)).sum::<f32>() / n as f32;
            assert!(
                m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3,
                "sample {s}: mean {m}, var {v}"
            );
        }
    }
}
