//! Adam (Kingma & Ba), written to match `torch.optim.Adam` step for step, and mask-aware: a masked weight's
//! gradient, moments and value are never touched, so it stays exactly `0.0` and its moments stay `0.0`.

use super::mlp::{Grads, Mlp};
use super::reg::Regularizer;
use crate::kernels::{spmm, Isa};
use crate::sparse::Mask;

/// The Adam state of a masked layer's live weights, compact: `idx` holds the row-major indices of the live
/// weights of `mask` (ascending) and `m`, `v` their moments in that order.
#[derive(Clone, Debug)]
struct Live {
    mask: Mask,
    idx: Vec<u32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Live {
    /// The state for `mask`, carrying over the moments of weights that were live in `old` (a weight that
    /// becomes live starts from zero moments, as a masked weight's moments are zero).
    fn new(mask: &Mask, old: Option<Live>) -> Live {
        let cols = mask.cols();
        let idx: Vec<u32> = (0..mask.rows())
            .flat_map(|r| mask.row_iter(r).map(move |c| (r * cols + c) as u32))
            .collect();
        let (mut m, mut v) = (vec![0.0; idx.len()], vec![0.0; idx.len()]);
        if let Some(old) = old {
            let mut q = 0;
            for (t, &i) in idx.iter().enumerate() {
                while q < old.idx.len() && old.idx[q] < i {
                    q += 1;
                }
                if q < old.idx.len() && old.idx[q] == i {
                    (m[t], v[t]) = (old.m[q], old.v[q]);
                }
            }
        }
        Live {
            mask: mask.clone(),
            idx,
            m,
            v,
        }
    }
}

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
    /// Per masked layer, the compact state of its live weights (rebuilt when the layer's mask changes); the
    /// dense `mw`, `vw` of such a layer stay zero.
    live: Vec<Option<Live>>,
    /// Scratch: a layer's weights and penalised gradients, compact (grown on demand, kept).
    scratch: (Vec<f32>, Vec<f32>),
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
            scratch: (Vec::new(), Vec::new()),
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
        if let Some(live) = &mut self.live[layer] {
            if let Ok(q) = live.idx.binary_search(&(index as u32)) {
                live.m[q] = 0.0;
                live.v[q] = 0.0;
            }
        }
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
        let h = [step_size, b1, b2, bc2_sqrt, eps];
        let isa = Isa::best();
        for (l, layer) in model.layers.iter_mut().enumerate() {
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
            let (pc, gc) = &mut self.scratch;
            match &layer.mask {
                None => {
                    if let Some(live) = self.live[l].take() {
                        // The layer lost its mask: its live moments go back to the dense state.
                        for (q, &i) in live.idx.iter().enumerate() {
                            (self.mw[l][i as usize], self.vw[l][i as usize]) =
                                (live.m[q], live.v[q]);
                        }
                    }
                    gc.clear();
                    gc.extend(
                        grads.w[l]
                            .iter()
                            .zip(&layer.weight)
                            .map(|(&g, &w)| with_reg(g, w)),
                    );
                    spmm::adam_live(
                        isa,
                        &mut layer.weight,
                        gc,
                        &mut self.mw[l],
                        &mut self.vw[l],
                        h,
                    );
                }
                Some(mask) => {
                    let slot = &mut self.live[l];
                    if slot.as_ref().is_none_or(|s| s.mask != *mask) {
                        *slot = Some(Live::new(mask, slot.take()));
                    }
                    let live = slot.as_mut().expect("live state just built");
                    let (w, gw) = (&mut layer.weight[..], &grads.w[l][..]);
                    pc.clear();
                    gc.clear();
                    for &i in &live.idx {
                        let i = i as usize;
                        pc.push(w[i]);
                        gc.push(with_reg(gw[i], w[i]));
                    }
                    spmm::adam_live(isa, pc, gc, &mut live.m, &mut live.v, h);
                    for (&i, &p) in live.idx.iter().zip(pc.iter()) {
                        w[i as usize] = p;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Task;
    use crate::nn::Linear;

    /// `Regularizer::add_grad` then the update of every live weight element by element: the step as written
    /// before the compact state and the SIMD kernel.
    struct Reference {
        t: i32,
        m: Vec<Vec<f32>>,
        v: Vec<Vec<f32>>,
        mb: Vec<Vec<f32>>,
        vb: Vec<Vec<f32>>,
    }

    impl Reference {
        fn step(&mut self, model: &mut Mlp, grads: &Grads, reg: &Regularizer, lr: f32) {
            let mut grads = grads.clone();
            reg.add_grad(model, &mut grads);
            self.t += 1;
            let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
            let bc1 = 1.0 - b1.powi(self.t);
            let bc2_sqrt = (1.0 - b2.powi(self.t)).sqrt();
            let step_size = lr / bc1;
            let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
            };
            for (l, layer) in model.layers.iter_mut().enumerate() {
                for i in 0..layer.weight.len() {
                    let live = layer
                        .mask
                        .as_ref()
                        .is_none_or(|m| m.get(i / layer.in_dim, i % layer.in_dim));
                    if live {
                        update(
                            &mut layer.weight[i],
                            grads.w[l][i],
                            &mut self.m[l][i],
                            &mut self.v[l][i],
                        );
                    }
                }
                for i in 0..layer.bias.len() {
                    update(
                        &mut layer.bias[i],
                        grads.b[l][i],
                        &mut self.mb[l][i],
                        &mut self.vb[l][i],
                    );
                }
            }
        }
    }

    fn wave(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.731).sin())
            .collect()
    }

    #[test]
    fn compact_masked_step_with_penalty_equals_the_element_wise_update_bit_for_bit() {
        let (d, h, c) = (37, 20, 3);
        let mut mask = Mask::full(h, d);
        for i in (0..h * d).filter(|i| i % 3 != 0) {
            mask.set(i / d, i % d, false);
        }
        let mut w1 = wave(h * d, 1.0);
        mask.apply(&mut w1);
        let first = Linear::from_parts(h, d, w1, wave(h, 2.0), Some(mask.clone()));
        let second = Linear::from_parts(c, h, wave(c * h, 3.0), wave(c, 4.0), None);
        let mut model = Mlp::from_layers(vec![first, second], Task::Multiclass(c)).unwrap();
        let mut expected = model.clone();
        let reg = Regularizer {
            l1_first: 1e-3,
            l2: 1e-2,
        };
        let mut adam = Adam::new(&model, 1e-2);
        let zeros = |m: &Mlp, bias: bool| -> Vec<Vec<f32>> {
            m.layers
                .iter()
                .map(|l| vec![0.0; if bias { l.bias.len() } else { l.weight.len() }])
                .collect()
        };
        let mut reference = Reference {
            t: 0,
            m: zeros(&model, false),
            v: zeros(&model, false),
            mb: zeros(&model, true),
            vb: zeros(&model, true),
        };
        for step in 0..6 {
            let mut grads = model.zero_grads();
            for (l, g) in grads.w.iter_mut().enumerate() {
                *g = wave(g.len(), 10.0 * step as f32 + l as f32);
            }
            if let Some(m) = &model.layers[0].mask {
                m.apply(&mut grads.w[0]);
            }
            for (l, g) in grads.b.iter_mut().enumerate() {
                *g = wave(g.len(), 5.0 + step as f32 + l as f32);
            }
            if step == 3 {
                // A mask update as the rewirer makes it: one live weight masked, one masked weight revived,
                // both with their moments reset.
                let (gone, back) = (3 * d, 1);
                for m in [&mut model, &mut expected] {
                    let layer = &mut m.layers[0];
                    let mut mk = layer.mask.clone().unwrap();
                    mk.set(gone / d, gone % d, false);
                    mk.set(back / d, back % d, true);
                    layer.weight[gone] = 0.0;
                    layer.weight[back] = 0.0;
                    layer.mask = Some(mk);
                }
                for i in [gone, back] {
                    adam.reset_weight(0, i);
                    reference.m[0][i] = 0.0;
                    reference.v[0][i] = 0.0;
                }
                let mk = model.layers[0].mask.clone().unwrap();
                mk.apply(&mut grads.w[0]);
            }
            adam.step_with(&mut model, &grads, &reg);
            reference.step(&mut expected, &grads, &reg, 1e-2);
            for (a, b) in model.layers.iter().zip(&expected.layers) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a.weight), bits(&b.weight), "step {step}: weights");
                assert_eq!(bits(&a.bias), bits(&b.bias), "step {step}: biases");
            }
        }
    }
}
