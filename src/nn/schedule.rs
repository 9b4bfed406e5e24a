//! What Alg. A3 names but Sec. A.3.1 leaves open, for one training phase: the warm-up factor
//! `r = min(1, e / W)` (Alg. A3 line 8 computes it and never uses it) and the orthogonality penalty
//! `lambda_orth * ||W_1 W_1^T - I||_F^2` (lines 16-17; A.3.1 does not list a value). Both are off by default,
//! which leaves training bit-identical to a phase without them.

use serde::{Deserialize, Serialize};

use super::mlp::{Grads, Mlp};
use crate::error::{Error, Result};

/// What the warm-up factor `r = min(1, e / W)` multiplies (epoch `e` counted from 1 within the phase).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarmupTarget {
    /// No warm-up: `r` is computed and not used, as in Alg. A3 (default).
    #[default]
    Off,
    /// The Adam learning rate: `eta * r`.
    Lr,
    /// The penalties: `lambda_1 * r`, `lambda_2 * r` and `lambda_orth * r`.
    Reg,
    /// Both the learning rate and the penalties.
    Both,
}

impl WarmupTarget {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WarmupTarget::Off => "off",
            WarmupTarget::Lr => "lr",
            WarmupTarget::Reg => "reg",
            WarmupTarget::Both => "both",
        }
    }

    fn scales_lr(self) -> bool {
        matches!(self, WarmupTarget::Lr | WarmupTarget::Both)
    }

    fn scales_reg(self) -> bool {
        matches!(self, WarmupTarget::Reg | WarmupTarget::Both)
    }
}

/// A warm-up of one phase: `r = min(1, e / epochs)` scales `target` in epoch `e` (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warmup {
    /// What `r` scales.
    pub target: WarmupTarget,
    /// `W`, the warm-up length in epochs (at least 1).
    pub epochs: usize,
}

impl Warmup {
    /// `r = min(1, e / W)` for epoch `e` (from 1).
    pub fn factor(&self, epoch: usize) -> f32 {
        (epoch as f32 / self.epochs.max(1) as f32).min(1.0)
    }
}

/// The per-phase settings beside [`super::TrainConfig`]: warm-up and the orthogonality penalty.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseExtras {
    /// The warm-up (`None` or target `off`: none).
    pub warmup: Option<Warmup>,
    /// `lambda_orth` on the first layer's weights (0 = none).
    pub orth: f32,
}

impl PhaseExtras {
    /// Whether this is the plain phase of Sec. A.3.1 (no warm-up, no orthogonality penalty).
    pub fn is_plain(&self) -> bool {
        self.orth == 0.0 && self.warmup.is_none_or(|w| w.target == WarmupTarget::Off)
    }

    /// Checks the settings, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        if !(self.orth >= 0.0 && self.orth.is_finite()) {
            return Err(Error::invalid(
                "lambda_orth",
                format!("{} is not a non-negative number", self.orth),
            ));
        }
        if self.warmup.is_some_and(|w| w.epochs == 0) {
            return Err(Error::invalid("warm-up epochs", "must be at least 1"));
        }
        Ok(())
    }

    /// The learning-rate and penalty factors of epoch `e` (from 1): `(lr factor, penalty factor)`, each
    /// `None` when it is not scaled (so that an unscaled value is used exactly as given).
    pub fn factors(&self, epoch: usize) -> (Option<f32>, Option<f32>) {
        match self.warmup {
            Some(w) => {
                let r = w.factor(epoch);
                (
                    w.target.scales_lr().then_some(r),
                    w.target.scales_reg().then_some(r),
                )
            }
            None => (None, None),
        }
    }
}

/// `||W_1 W_1^T - I||_F^2` of the first layer's weights (masked entries are zero), in `f64`.
pub fn orth_penalty(model: &Mlp) -> f64 {
    let gram = first_layer_gram(model);
    let h = model.layers()[0].out_dim();
    let mut total = 0.0;
    for r in 0..h {
        for c in 0..h {
            let a = gram[r * h + c] - if r == c { 1.0 } else { 0.0 };
            total += a * a;
        }
    }
    total
}

fn first_layer_gram(model: &Mlp) -> Vec<f64> {
    let layer = &model.layers()[0];
    let (h, d) = (layer.out_dim(), layer.in_dim());
    let w = layer.weight();
    let mut gram = vec![0f64; h * h];
    for r in 0..h {
        for c in r..h {
            let dot: f64 = (0..d)
                .map(|k| w[r * d + k] as f64 * w[c * d + k] as f64)
                .sum();
            gram[r * h + c] = dot;
            gram[c * h + r] = dot;
        }
    }
    gram
}

/// Adds `lambda * d/dW_1 ||W_1 W_1^T - I||_F^2 = 4 lambda (W_1 W_1^T - I) W_1` to the first layer's weight
/// gradient, on live weights only (a masked weight's gradient stays as it is: it is never updated).
pub fn add_orth_grad(model: &Mlp, lambda: f32, grads: &mut Grads) {
    if lambda == 0.0 {
        return;
    }
    let layer = &model.layers()[0];
    let (h, d) = (layer.out_dim(), layer.in_dim());
    let w = layer.weight();
    let mut a = first_layer_gram(model);
    for r in 0..h {
        a[r * h + r] -= 1.0;
    }
    let scale = 4.0 * lambda as f64;
    for r in 0..h {
        for k in 0..d {
            if !layer.is_live(r, k) {
                continue;
            }
            let g: f64 = (0..h).map(|c| a[r * h + c] * w[c * d + k] as f64).sum();
            grads.w[0][r * d + k] += (scale * g) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Task;
    use crate::rng::stream;
    use crate::sparse::Mask;

    fn model(masked: bool) -> Mlp {
        let mut m = Mlp::new(&[6, 4, 1], Task::Binary, &mut stream(3, &[1])).unwrap();
        if masked {
            let mut mask = Mask::empty(4, 6);
            for r in 0..4 {
                for c in 0..6 {
                    mask.set(r, c, (r + c) % 3 != 0);
                }
            }
            m.set_mask(0, Some(mask)).unwrap();
        }
        m
    }

    #[test]
    fn orth_gradient_matches_finite_differences_and_is_masked() {
        for masked in [false, true] {
            let m = model(masked);
            let mut grads = m.zero_grads();
            let lambda = 0.37f32;
            add_orth_grad(&m, lambda, &mut grads);
            let (h, d) = (4, 6);
            let eps = 1e-3f32;
            for r in 0..h {
                for k in 0..d {
                    let g = grads.w[0][r * d + k] as f64;
                    if !m.layers()[0].is_live(r, k) {
                        assert_eq!(g, 0.0, "masked ({r}, {k}) got a gradient");
                        continue;
                    }
                    let at = |delta: f32| {
                        let mut p = m.clone();
                        p.update_weights(0, |w| w[r * d + k] += delta);
                        lambda as f64 * orth_penalty(&p)
                    };
                    let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                    assert!(
                        (g - fd).abs() <= 1e-3 * (1.0 + fd.abs()),
                        "({r}, {k}): analytic {g} vs finite differences {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn orth_penalty_is_zero_for_orthonormal_rows() {
        let mut m = model(false);
        m.update_weights(0, |w| {
            w.fill(0.0);
            for r in 0..4 {
                w[r * 6 + r] = 1.0;
            }
        });
        assert_eq!(orth_penalty(&m), 0.0);
        let mut g = m.zero_grads();
        add_orth_grad(&m, 1.0, &mut g);
        assert!(g.w[0].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn warmup_factor_ramps_to_one_and_scales_only_its_target() {
        let w = Warmup {
            target: WarmupTarget::Lr,
            epochs: 4,
        };
        let r: Vec<f32> = (1..=6).map(|e| w.factor(e)).collect();
        assert_eq!(r, vec![0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        let lr = PhaseExtras {
            warmup: Some(w),
            orth: 0.0,
        };
        assert_eq!(lr.factors(2), (Some(0.5), None));
        let reg = PhaseExtras {
            warmup: Some(Warmup {
                target: WarmupTarget::Reg,
                epochs: 4,
            }),
            orth: 0.0,
        };
        assert_eq!(reg.factors(1), (None, Some(0.25)));
        let both = PhaseExtras {
            warmup: Some(Warmup {
                target: WarmupTarget::Both,
                epochs: 2,
            }),
            orth: 0.0,
        };
        assert_eq!(both.factors(1), (Some(0.5), Some(0.5)));
        assert!(PhaseExtras::default().is_plain());
        assert!(!both.is_plain());
        assert!(PhaseExtras {
            warmup: Some(Warmup {
                target: WarmupTarget::Lr,
                epochs: 0
            }),
            orth: 0.0
        }
        .validate()
        .is_err());
        assert!(PhaseExtras {
            warmup: None,
            orth: -1.0
        }
        .validate()
        .is_err());
    }
}
