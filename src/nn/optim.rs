//! Adam (Kingma & Ba), written to match `torch.optim.Adam` step for step, and mask-aware: a masked weight's
//! gradient, moments and value are never touched, so it stays exactly `0.0` and its moments stay `0.0`.

use super::mlp::{Grads, Mlp};
use super::reg::Regularizer;
use crate::sparse::Mask;

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
    /// Per masked layer, the mask its live list was built from and the row-major indices of its live weights
    /// (rebuilt when the layer's mask changes), so a step walks a list instead of decoding bits.
    live: Vec<Option<(Mask, Vec<u32>)>>,
}

impl Adam {
    /// Fresh state (zero moments, step 0) for `model`, with PyTorch's defaults for the decays and epsilon.
    pub fn new(model: &Mlp, lr: f32) -> Self {
        let zeros_w = || {
            model
                .layers
                .iter()
                .map(|l| vec![0.0; l.weight.len()])
                .collect::<Vec<_>>()
        };
        let zeros_b = || {
            model
                .layers
                .iter()
                .map(|l| vec![0.0; l.bias.len()])
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
                .norms
                .iter()
                .map(|n| {
                    let w = n.as_ref().map_or(0, |n| n.width);
                    std::array::from_fn(|_| vec![0.0; w])
                })
                .collect(),
            live: vec![None; model.layers.len()],
        }
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

    /// Applies one update with `grads` to `model`.
    pub fn step(&mut self, model: &mut Mlp, grads: &Grads) {
        self.step_with(model, grads, &Regularizer::none());
    }

    /// [`Regularizer::add_grad`] followed by [`Adam::step`], in one pass over the parameters: each gradient
    /// gets its penalty term added (same expression, same order) just before its update, and `grads` is left
    /// without the penalty. Bit-identical to the two calls.
    pub fn step_with(&mut self, model: &mut Mlp, grads: &Grads, reg: &Regularizer) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.t as i32)).sqrt();
        let step_size = self.lr / bc1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
        };
        let two_l2 = 2.0 * reg.l2;
        for (l, layer) in model.layers.iter_mut().enumerate() {
            let (mw, vw) = (&mut self.mw[l], &mut self.vw[l]);
            let l1 = if l == 0 { reg.l1_first } else { 0.0 };
            // The penalty's gradient, exactly as `Regularizer::add_grad` adds it (a layer without penalty is
            // left alone there, so it is here).
            let penalised = !(l1 == 0.0 && two_l2 == 0.0);
            let with_reg = |g: f32, w: f32| {
                if !penalised {
                    return g;
                }
                let sign = if w > 0.0 {
                    1.0
                } else if w < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                g + (two_l2 * w + l1 * sign)
            };
            match &layer.mask {
                None => {
                    for (((p, &g), m), v) in layer
                        .weight
                        .iter_mut()
                        .zip(&grads.w[l])
                        .zip(mw.iter_mut())
                        .zip(vw.iter_mut())
                    {
                        let g = with_reg(g, *p);
                        update(p, g, m, v);
                    }
                }
                Some(mask) => {
                    let live = &mut self.live[l];
                    if live.as_ref().is_none_or(|(m, _)| m != mask) {
                        let cols = layer.in_dim;
                        let idx = (0..layer.out_dim)
                            .flat_map(|r| mask.row_iter(r).map(move |c| (r * cols + c) as u32))
                            .collect();
                        *live = Some((mask.clone(), idx));
                    }
                    let idx = &live.as_ref().expect("live list just built").1;
                    let (w, gw) = (&mut layer.weight[..], &grads.w[l][..]);
                    for &i in idx {
                        let i = i as usize;
                        let g = with_reg(gw[i], w[i]);
                        update(&mut w[i], g, &mut mw[i], &mut vw[i]);
                    }
                }
            }
            for (((p, &g), m), v) in layer
                .bias
                .iter_mut()
                .zip(&grads.b[l])
                .zip(self.mb[l].iter_mut())
                .zip(self.vb[l].iter_mut())
            {
                let g = if penalised { g + two_l2 * *p } else { g };
                update(p, g, m, v);
            }
        }
        if model.norms.iter().any(Option::is_some) {
            self.step_norms(model, grads, step_size, bc2_sqrt);
        }
    }

    /// The LayerNorm part of [`Adam::step`] (kept apart so the weight loops stay as tight as without norms).
    #[inline(never)]
    fn step_norms(&mut self, model: &mut Mlp, grads: &Grads, step_size: f32, bc2_sqrt: f32) {
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
        };
        for (l, norm) in model.norms.iter_mut().enumerate() {
            let Some(norm) = norm else { continue };
            let [mg, vg, mb, vb] = &mut self.mn[l];
            for (((p, &g), m), v) in norm
                .gain
                .iter_mut()
                .zip(&grads.norm_gain[l])
                .zip(mg)
                .zip(vg)
            {
                update(p, g, m, v);
            }
            for (((p, &g), m), v) in norm
                .bias
                .iter_mut()
                .zip(&grads.norm_bias[l])
                .zip(mb)
                .zip(vb)
            {
                update(p, g, m, v);
            }
        }
    }
}
