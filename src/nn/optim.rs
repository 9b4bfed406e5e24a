//! Adam (Kingma & Ba), written to match `torch.optim.Adam` step for step, and mask-aware: a masked weight's
//! gradient, moments and value are never touched, so it stays exactly `0.0` and its moments stay `0.0`.
//!
//! The moments of a weight are dense row-major arrays shaped like the weight, except for a layer last updated
//! by [`Adam::step_compact`] on a CSR plan: its live weights' moments are then kept compactly in the plan's
//! pattern order (one pass over the live entries per step instead of over the four dense arrays) and written
//! back into the dense arrays when anything else needs them (another pattern, a dense step, a reset). Every
//! reader sees the moments through that, so the representation never shows: [`Adam::weight_moments`] and
//! [`Adam::carried`] give the dense view either way.

use std::borrow::Cow;

use super::exec::LayerExec;
use super::mlp::{Grads, Mlp, Workspace};
use super::reg::Regularizer;
use crate::error::{Error, Result};
use crate::kernels::adam::Penalty;
use crate::kernels::parallel::{for_each_piece, split_rows};
use crate::kernels::{self, Isa, Par};
use crate::sparse::csr::{gather_into, scatter_from};
use crate::sparse::Pattern;

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
    /// Per layer, the moments of its live weights in a CSR pattern's order, if kept so; `mw` and `vw` then hold
    /// stale values at that pattern's entries (see the module documentation).
    compact: Vec<Option<Compact>>,
}

/// The weight moments of one layer in the order of a CSR pattern.
#[derive(Clone, Debug)]
struct Compact {
    /// The id of the plan's pattern (see [`crate::nn::exec::CsrParams::id`]).
    id: u64,
    pattern: Pattern,
    m: Vec<f32>,
    v: Vec<f32>,
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
            compact: vec![None; model.layers().len()],
        }
    }

    /// Writes layer `layer`'s compact moments (if any) into the dense arrays, which become its state again.
    fn flush(&mut self, layer: usize) {
        if let Some(c) = self.compact[layer].take() {
            scatter_from(&c.pattern, &c.m, &mut self.mw[layer]);
            scatter_from(&c.pattern, &c.v, &mut self.vw[layer]);
        }
    }

    /// Layer `layer`'s moments in the order of the pattern `pattern` identified by `id`: the kept ones if they
    /// follow it, else taken from the dense state (after writing back those kept in another order), so an entry
    /// gets the moments the dense state would have given it (zero for a weight that was masked).
    fn compact_moments(&mut self, layer: usize, id: u64, pattern: &Pattern) -> &mut Compact {
        if self.compact[layer].as_ref().is_none_or(|c| c.id != id) {
            self.flush(layer);
            let mut m = vec![0.0; pattern.nnz()];
            let mut v = vec![0.0; pattern.nnz()];
            gather_into(pattern, &self.mw[layer], &mut m);
            gather_into(pattern, &self.vw[layer], &mut v);
            self.compact[layer] = Some(Compact {
                id,
                pattern: pattern.clone(),
                m,
                v,
            });
        }
        self.compact[layer].as_mut().expect("just set")
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
            let (mw, vw) = self.weight_moments(l);
            for r in 0..c.out_dim() {
                for k in 0..cd {
                    if c.is_live(r, k) {
                        let src = (r / ro) * pd + k / ri;
                        out.mw[l][r * cd + k] = mw[src];
                        out.vw[l][r * cd + k] = vw[src];
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

    /// The first and second moments of layer `layer`'s weights (row-major; a copy where they are kept in a CSR
    /// pattern's order).
    pub fn weight_moments(&self, layer: usize) -> (Cow<'_, [f32]>, Cow<'_, [f32]>) {
        match &self.compact[layer] {
            None => (
                Cow::Borrowed(&self.mw[layer]),
                Cow::Borrowed(&self.vw[layer]),
            ),
            Some(c) => {
                let (mut m, mut v) = (self.mw[layer].clone(), self.vw[layer].clone());
                scatter_from(&c.pattern, &c.m, &mut m);
                scatter_from(&c.pattern, &c.v, &mut v);
                (Cow::Owned(m), Cow::Owned(v))
            }
        }
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
        self.flush(layer);
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
        self.step_with(model, grads, reg, par, None);
    }

    /// [`Adam::step_penalised`] after `model.backward(.., ws, grads)`, the CSR layers of `ws` updated on their
    /// compact values: the gradient of such a layer is read from its plan (so the plan need not scatter it into
    /// `grads`, see [`LayerExec::set_dense_weight_grad`]), its moments are kept in the pattern's order, and each
    /// new value is written into the weight and into the plan (the next forward pass then skips its gather).
    /// The same expression per entry as the dense masked update, so the same bits.
    pub fn step_compact(
        &mut self,
        model: &mut Mlp,
        grads: &Grads,
        reg: &Regularizer,
        ws: &mut Workspace,
    ) {
        let par = ws.par();
        self.step_with(model, grads, reg, par, Some(ws.plans_mut()));
    }

    fn step_with(
        &mut self,
        model: &mut Mlp,
        grads: &Grads,
        reg: &Regularizer,
        par: Par,
        mut plans: Option<&mut [LayerExec]>,
    ) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.t as i32)).sqrt();
        let step_size = self.lr / bc1;
        let h = [step_size, self.beta1, self.beta2, bc2_sqrt, self.eps];
        let isa = Isa::best();
        let two_l2 = 2.0 * reg.l2;
        let (layers, norms) = model.params_mut();
        for (l, layer) in layers.iter_mut().enumerate() {
            // The penalty applies to a layer as `Regularizer::add_grad` applies it: not at all when both of its
            // coefficients are zero.
            let l1 = if l == 0 { reg.l1_first } else { 0.0 };
            let penalised = l1 != 0.0 || two_l2 != 0.0;
            let (pw, pb) = (
                penalised.then_some(Penalty::Weight { l1, two_l2 }),
                penalised.then_some(Penalty::Bias { two_l2 }),
            );
            let csr = plans.as_deref_mut().and_then(|p| p[l].csr_params(layer));
            // Only live weights are updated, so masked weights stay exactly 0.0.
            let (weight, bias, mask) = layer.params_mut();
            if let Some(csr) = csr {
                let c = self.compact_moments(l, csr.id, csr.pattern);
                let cols = csr.pattern.cols();
                let row_ptr = csr.pattern.row_ptr();
                let col_idx = csr.pattern.col_idx();
                // Rows `r0..r1`: their compact values, moments and weight rows.
                let piece = |r0: usize,
                             r1: usize,
                             p: &mut [f32],
                             m: &mut [f32],
                             v: &mut [f32],
                             w: &mut [f32]| {
                    let s = row_ptr[r0];
                    kernels::adam_update_penalised(isa, p, &csr.grad[s..s + p.len()], m, v, h, pw);
                    for r in r0..r1 {
                        let wr = &mut w[(r - r0) * cols..(r - r0 + 1) * cols];
                        let (a, b) = (row_ptr[r], row_ptr[r + 1]);
                        for (&x, &k) in p[a - s..b - s].iter().zip(&col_idx[a..b]) {
                            wr[k as usize] = x;
                        }
                    }
                };
                let rows = csr.pattern.rows();
                if par.pieces() <= 1 {
                    piece(0, rows, csr.values, &mut c.m, &mut c.v, weight);
                } else {
                    let pieces = split_rows(rows, par.pieces(), |r| row_ptr[r]);
                    // One piece of rows per task: compact arrays and weight cut at the same row boundaries.
                    let (mut pr, mut mr, mut vr, mut wr) =
                        (csr.values, &mut c.m[..], &mut c.v[..], &mut weight[..]);
                    let mut parts = Vec::with_capacity(pieces.len() - 1);
                    for b in pieces.windows(2) {
                        let len = row_ptr[b[1]] - row_ptr[b[0]];
                        let (pp, pt) = std::mem::take(&mut pr).split_at_mut(len);
                        let (mp, mt) = std::mem::take(&mut mr).split_at_mut(len);
                        let (vp, vt) = std::mem::take(&mut vr).split_at_mut(len);
                        let (wp, wt) = std::mem::take(&mut wr).split_at_mut((b[1] - b[0]) * cols);
                        (pr, mr, vr, wr) = (pt, mt, vt, wt);
                        parts.push((b[0], b[1], pp, mp, vp, wp));
                    }
                    for_each_piece(parts, |(r0, r1, pp, mp, vp, wp)| {
                        piece(r0, r1, pp, mp, vp, wp)
                    });
                }
            } else {
                self.flush(l);
                let (mw, vw) = (&mut self.mw[l], &mut self.vw[l]);
                match mask {
                    None => kernels::adam_update_penalised(isa, weight, &grads.w[l], mw, vw, h, pw),
                    Some(mask) => kernels::adam_update_masked(
                        isa,
                        par,
                        mask,
                        weight,
                        &grads.w[l],
                        mw,
                        vw,
                        h,
                        pw,
                    ),
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

    /// The compact update of CSR layers ([`Adam::step_compact`]) against the dense masked one, through mask
    /// changes (entries masked and unmasked with their moments reset, as rewiring does), a weight edited
    /// between steps, and reads of the state (moments, carrying) while it is compact.
    #[test]
    fn compact_step_is_the_dense_step_bit_for_bit() {
        use crate::nn::FormatChoice;
        use crate::sparse::Format;
        let (d, b) = (37, 9);
        let mut model = Mlp::new(&[d, 20, 3], Task::Multiclass(3), &mut stream(2, &[1])).unwrap();
        let bools = |k: usize, n: usize| (0..n).map(|i| (i * 7 + k) % 5 < 2).collect::<Vec<_>>();
        model
            .set_mask(0, Some(Mask::from_bools(20, d, &bools(0, 20 * d))))
            .unwrap();
        model
            .set_mask(1, Some(Mask::from_bools(3, 20, &bools(1, 60))))
            .unwrap();
        let xt: Vec<f32> = (0..d * b).map(|i| (i as f32 * 0.37).sin()).collect();
        let y: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
        let reg = Regularizer {
            l1_first: 1e-3,
            l2: 1e-2,
        };
        let csr = FormatChoice::Force(Format::Csr);
        for par in [Par::Seq, Par::Rayon(2)] {
            let (mut mc, mut md) = (model.clone(), model.clone());
            let (mut ac, mut ad) = (Adam::new(&model, 1e-2), Adam::new(&model, 1e-2));
            let mut wc = model.workspace_with(b, csr).with_par(par);
            let mut wd = model.workspace_with(b, csr).with_par(par);
            let (mut gc, mut gd) = (model.zero_grads(), model.zero_grads());
            for step in 0..8 {
                for plan in wc.plans_mut() {
                    plan.set_dense_weight_grad(false);
                }
                mc.backward(&xt, &y, b, &mut wc, &mut gc);
                ac.step_compact(&mut mc, &gc, &reg, &mut wc);
                md.backward(&xt, &y, b, &mut wd, &mut gd);
                ad.step_penalised(&mut md, &gd, &reg, par);
                assert_eq!(mc, md, "{par:?} step {step}");
                assert!(ac.compact.iter().all(Option::is_some));
                for l in 0..2 {
                    assert_eq!(ac.weight_moments(l), ad.weight_moments(l), "step {step}");
                    assert_eq!(ac.bias_moments(l), ad.bias_moments(l));
                }
                let (cc, cd) = (ac.carried(&mc, &mc).unwrap(), ad.carried(&md, &md).unwrap());
                assert_eq!((&cc.mw, &cc.vw), (&cd.mw, &cd.vw));
                if step == 3 {
                    // Mask and unmask a few entries of layer 0, as `rewire` does.
                    for m in [&mut mc, &mut md] {
                        let mut mask = m.layers()[0].mask().unwrap().clone();
                        for i in [0, 5, 6, 100, 101, 102] {
                            let (r, c) = (i / d, i % d);
                            mask.set(r, c, !mask.get(r, c));
                        }
                        m.update_weights(0, |w| {
                            for i in [0, 5, 6, 100, 101, 102] {
                                w[i] = 0.0;
                            }
                        });
                        m.set_mask(0, Some(mask)).unwrap();
                    }
                    for a in [&mut ac, &mut ad] {
                        for i in [0, 5, 6, 100, 101, 102] {
                            a.reset_weight(0, i);
                        }
                    }
                }
                if step == 5 {
                    // A live weight edited between steps: the next forward pass must read it.
                    let live = mc.layers()[1].mask().unwrap().row_iter(0).next().unwrap();
                    for m in [&mut mc, &mut md] {
                        m.update_weights(1, |w| w[live] += 0.25);
                    }
                    for plan in wc.plans_mut() {
                        plan.forget_values();
                    }
                }
            }
            // A dense step after compact ones writes the moments back first.
            ac.step_penalised(&mut mc, &gd, &reg, par);
            ad.step_penalised(&mut md, &gd, &reg, par);
            assert_eq!(mc, md);
            assert!(ac.compact.iter().all(Option::is_none));
            assert_eq!(
                (&ac.mw, &ac.vw, &ac.mb, &ac.vb),
                (&ad.mw, &ad.vw, &ad.mb, &ad.vb)
            );
        }
    }
}
