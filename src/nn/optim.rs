//! Adam (Kingma & Ba), written to match `torch.optim.Adam` step for step, and mask-aware: a masked weight's
//! gradient, moments and value are never touched, so it stays exactly `0.0` and its moments stay `0.0`.

use super::mlp::{Grads, Mlp};
use super::reg::Regularizer;
use crate::error::{Error, Result};
use crate::kernels::adam::Penalty;
use crate::kernels::{self, Isa, Par};

/// Adam state for every parameter of one model.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    t: u32,
    mw: Vec<Vec<f32>>,
    vw: Vec<Vec<f32>>,
    mb: Vec<Vec<f32>>,
    vb: Vec<Vec<f32>>,
    /// LayerNorm moments: `[m_gain, v_gain, m_bias, v_bias]` per layer (empty without a LayerNorm).
    mn: Vec<[Vec<f32>; 4]>,
}

impl Adam {
    /// Fresh state (zero moments, step 0) for `model`, with PyTorch's defaults for the decays and epsilon.
    pub fn new(model: &Mlp, lr: f32) -> Self {
        let zeros_w = || {
            model
                .layers()
                .iter()
                .map(|l| vec![0.0; l.weight().len()])
                .collect::<Vec<_>>()
        };
        let zeros_b = || {
            model
                .layers()
                .iter()
                .map(|l| vec![0.0; l.bias().len()])
                .collect::<Vec<_>>()
        };
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            mw: zeros_w(),
            vw: zeros_w(),
            mb: zeros_b(),
            vb: zeros_b(),
            mn: model
                .norms()
                .iter()
                .map(|n| {
                    let w = n.as_ref().map_or(0, |n| n.width);
                    std::array::from_fn(|_| vec![0.0; w])
                })
                .collect(),
        }
    }

    /// Whether this state's shapes are `model`'s (one moment per weight, bias and LayerNorm parameter).
    pub fn fits(&self, model: &Mlp) -> bool {
        let layers = model.layers();
        self.mw.len() == layers.len()
            && layers.iter().enumerate().all(|(l, layer)| {
                self.mw[l].len() == layer.weight().len() && self.mb[l].len() == layer.bias().len()
            })
            && self.mn.len() == model.norms().len()
            && model
                .norms()
                .iter()
                .zip(&self.mn)
                .all(|(n, m)| m[0].len() == n.as_ref().map_or(0, |n| n.width))
    }

    /// The state of `parent`'s optimizer (`self`, fitted to `parent`) carried over to `child`, a model made from
    /// `parent` by splitting neurons (every layer's width an integer multiple of the parent's): each live weight
    /// of `child` gets the moments of the parent's weight at the same position (row `r` of a layer `k` times
    /// wider came from parent row `r / k`, column `c` of an input `k` times wider from parent column `c / k`),
    /// masked weights get zero moments, biases and LayerNorm parameters their parent's; the step count goes on.
    /// With `child` shaped as `parent`, this is the parent's state (masked entries zeroed).
    pub fn carried(&self, parent: &Mlp, child: &Mlp) -> Result<Adam> {
        let bad = |why: String| Error::invalid("carried optimizer state", why);
        if !self.fits(parent) {
            return Err(bad("the optimizer state is not the parent model's".into()));
        }
        let (pl, cl) = (parent.layers(), child.layers());
        if pl.len() != cl.len() {
            return Err(bad(format!(
                "the parent has {} layers, the split model {}",
                pl.len(),
                cl.len()
            )));
        }
        let ratio = |c: usize, p: usize, what: &str| -> Result<usize> {
            if p == 0 || !c.is_multiple_of(p) {
                return Err(bad(format!(
                    "{what} {c} is not a multiple of the parent's {p}"
                )));
            }
            Ok(c / p)
        };
        let mut out = Adam::new(child, self.lr);
        out.beta1 = self.beta1;
        out.beta2 = self.beta2;
        out.eps = self.eps;
        out.t = self.t;
        for (l, (p, c)) in pl.iter().zip(cl).enumerate() {
            let ro = ratio(c.out_dim(), p.out_dim(), "width")?;
            let ri = ratio(c.in_dim(), p.in_dim(), "input width")?;
            let (pd, cd) = (p.in_dim(), c.in_dim());
            for r in 0..c.out_dim() {
                for k in 0..cd {
                    if c.is_live(r, k) {
                        let src = (r / ro) * pd + k / ri;
                        out.mw[l][r * cd + k] = self.mw[l][src];
                        out.vw[l][r * cd + k] = self.vw[l][src];
                    }
                }
                out.mb[l][r] = self.mb[l][r / ro];
                out.vb[l][r] = self.vb[l][r / ro];
            }
        }
        for (l, c) in child.norms().iter().enumerate() {
            let (Some(c), Some(p)) = (c, parent.norms().get(l).and_then(Option::as_ref)) else {
                continue;
            };
            let k = ratio(c.width, p.width, "LayerNorm width")?;
            for (dst, src) in out.mn[l].iter_mut().zip(&self.mn[l]) {
                for (i, v) in dst.iter_mut().enumerate() {
                    *v = src[i / k];
                }
            }
        }
        Ok(out)
    }

    /// The first and second moments of layer `layer`'s weights (row-major).
    pub fn weight_moments(&self, layer: usize) -> (&[f32], &[f32]) {
        (&self.mw[layer], &self.vw[layer])
    }

    /// The first and second moments of layer `layer`'s biases.
    pub fn bias_moments(&self, layer: usize) -> (&[f32], &[f32]) {
        (&self.mb[layer], &self.vb[layer])
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// Forgets the moments of weight `index` (row-major) of layer `layer`, as for a weight that was just masked
    /// or unmasked by a mask update: a masked weight's moments are exactly 0.
    pub fn reset_weight(&mut self, layer: usize, index: usize) {
        self.mw[layer][index] = 0.0;
        self.vw[layer][index] = 0.0;
    }

    /// Applies one update with `grads` to `model`, through the one Adam kernel ([`crate::kernels::adam`]).
    pub fn step(&mut self, model: &mut Mlp, grads: &Grads) {
        self.step_penalised(model, grads, &Regularizer::none(), Par::Seq);
    }

    /// [`Adam::step`] on the gradient plus the penalty of `reg` (what [`Regularizer::add_grad`] then
    /// [`Adam::step`] compute, bit for bit, in one pass over the parameters instead of two). With `par` of two or
    /// more pieces, the rows of each masked weight are split over the threads (results do not depend on it).
    pub fn step_penalised(&mut self, model: &mut Mlp, grads: &Grads, reg: &Regularizer, par: Par) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.t as i32)).sqrt();
        let step_size = self.lr / bc1;
        let h = [step_size, self.beta1, self.beta2, bc2_sqrt, self.eps];
        let isa = Isa::best();
        let two_l2 = 2.0 * reg.l2;
        let (layers, norms) = model.params_mut();
        for (l, layer) in layers.iter_mut().enumerate() {
            let (mw, vw) = (&mut self.mw[l], &mut self.vw[l]);
            // The penalty applies to a layer as `Regularizer::add_grad` applies it: not at all when both of its
            // coefficients are zero.
            let l1 = if l == 0 { reg.l1_first } else { 0.0 };
            let penalised = l1 != 0.0 || two_l2 != 0.0;
            let (pw, pb) = (
                penalised.then_some(Penalty::Weight { l1, two_l2 }),
                penalised.then_some(Penalty::Bias { two_l2 }),
            );
            // Only live weights are updated, so masked weights stay exactly 0.0.
            let (weight, bias, mask) = layer.params_mut();
            match mask {
                None => kernels::adam_update_penalised(isa, weight, &grads.w[l], mw, vw, h, pw),
                Some(mask) => {
                    kernels::adam_update_masked(isa, par, mask, weight, &grads.w[l], mw, vw, h, pw)
                }
            }
            let (mb, vb) = (&mut self.mb[l], &mut self.vb[l]);
            kernels::adam_update_penalised(isa, bias, &grads.b[l], mb, vb, h, pb);
        }
        for (l, norm) in norms.iter_mut().enumerate() {
            let Some(norm) = norm else { continue };
            let [mg, vg, mb, vb] = &mut self.mn[l];
            kernels::adam_update(isa, &mut norm.gain, &grads.norm_gain[l], mg, vg, h);
            kernels::adam_update(isa, &mut norm.bias, &grads.norm_bias[l], mb, vb, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Task;
    use crate::rng::stream;
    use crate::sparse::Mask;

    #[test]
    fn penalised_step_is_add_grad_then_step_bit_for_bit() {
        let mut model = Mlp::new(&[37, 20, 3], Task::Multiclass(3), &mut stream(1, &[1])).unwrap();
        let mask = Mask::from_bools(
            20,
            37,
            &(0..20 * 37).map(|i| i % 3 != 1).collect::<Vec<_>>(),
        );
        model.set_mask(0, Some(mask)).unwrap();
        let mut grads = model.zero_grads();
        for (l, layer) in model.layers().iter().enumerate() {
            for (i, g) in grads.w[l].iter_mut().enumerate() {
                *g = if layer.mask().is_none_or(|m| m.get_flat(i)) {
                    (i as f32 * 0.73).sin()
                } else {
                    0.0
                };
            }
            for (i, g) in grads.b[l].iter_mut().enumerate() {
                *g = (i as f32 * 1.3).cos();
            }
        }
        let reg = Regularizer {
            l1_first: 1e-3,
            l2: 1e-2,
        };
        for par in [Par::Seq, Par::Rayon(2)] {
            let (mut fused, mut separate) = (model.clone(), model.clone());
            let (mut a, mut b) = (Adam::new(&model, 1e-2), Adam::new(&model, 1e-2));
            for _ in 0..3 {
                a.step_penalised(&mut fused, &grads, &reg, par);
                let mut g = grads.clone();
                reg.add_grad(&separate, &mut g);
                b.step(&mut separate, &g);
            }
            assert_eq!(fused, separate, "{par:?}");
            assert_eq!((&a.mw, &a.vw, &a.mb, &a.vb), (&b.mw, &b.vw, &b.mb, &b.vb));
        }
    }
}
