//! Adam (Kingma & Ba), written to match `torch.optim.Adam` step for step, and mask-aware: a masked weight's
//! gradient, moments and value are never touched, so it stays exactly `0.0` and its moments stay `0.0`.

use super::mlp::{Grads, Mlp};
use crate::kernels::{self, Isa};

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
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.t as i32)).sqrt();
        let step_size = self.lr / bc1;
        let h = [step_size, self.beta1, self.beta2, bc2_sqrt, self.eps];
        let isa = Isa::best();
        let (layers, norms) = model.params_mut();
        for (l, layer) in layers.iter_mut().enumerate() {
            let (mw, vw) = (&mut self.mw[l], &mut self.vw[l]);
            // Only live weights are updated, so masked weights stay exactly 0.0.
            let (weight, bias, mask) = layer.params_mut();
            match mask {
                None => kernels::adam_update(isa, weight, &grads.w[l], mw, vw, h),
                Some(mask) => {
                    kernels::adam_update_masked(isa, mask, weight, &grads.w[l], mw, vw, h)
                }
            }
            kernels::adam_update(isa, bias, &grads.b[l], &mut self.mb[l], &mut self.vb[l], h);
        }
        for (l, norm) in norms.iter_mut().enumerate() {
            let Some(norm) = norm else { continue };
            let [mg, vg, mb, vb] = &mut self.mn[l];
            kernels::adam_update(isa, &mut norm.gain, &grads.norm_gain[l], mg, vg, h);
            kernels::adam_update(isa, &mut norm.bias, &grads.norm_bias[l], mb, vb, h);
        }
    }
}
