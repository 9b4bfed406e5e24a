//! Dynamic rewiring of FPE masks (A.7, after RigL/SET): every `T` optimisation steps, each masked layer unmasks
//! a fraction of its masked weights, chosen uniformly at random, and masks the same number of its
//! smallest-magnitude live weights, so every layer's (and so the network's) non-zero count is unchanged.
//!
//! Precisely, for a masked layer with `live` live and `masked` masked weights and the current fraction `f`:
//! `n = min(floor(f * masked), live)`; the `n` grown weights are drawn uniformly from the weights masked
//! *before* this update, the `n` pruned ones are the live weights of smallest magnitude (ties by row-major
//! index), also before this update, so a weight is never grown and pruned at once. Grown weights start at
//! exactly `0.0` with zero Adam moments; pruned weights are set to `0.0` and their moments cleared. Dense
//! (unmasked) layers are left alone.
//!
//! The fraction is constant or decays with a cosine, `f_t = f_0 (1 + cos(pi t / T_total)) / 2`, as RigL's
//! update fraction.

use std::fmt;
use std::str::FromStr;

use rand::seq::index::sample;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{Adam, Mlp, Trainer};
use crate::rng::Rng;

/// How the rewired fraction changes over training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decay {
    /// The same fraction at every update.
    Constant,
    /// `f_0 (1 + cos(pi t / T_total)) / 2`: from `f_0` at the start to 0 at the end.
    Cosine,
}

impl fmt::Display for Decay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decay::Constant => "constant",
            Decay::Cosine => "cosine",
        })
    }
}

impl FromStr for Decay {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Decay::Constant),
            "cosine" => Ok(Decay::Cosine),
            _ => Err(Error::invalid(
                "rewire decay",
                format!("unknown decay '{s}'; choose constant or cosine"),
            )),
        }
    }
}

/// When and how much to rewire.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewireConfig {
    /// Rewire after every `every` optimisation steps (>= 1).
    pub every: usize,
    /// Fraction of each layer's masked weights unmasked at an update (at the start, for a decaying schedule).
    pub fraction: f64,
    /// Schedule of the fraction.
    pub decay: Decay,
}

impl RewireConfig {
    /// Checks the settings, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.every == 0 {
            return Err(Error::invalid("rewire interval", "must be at least 1 step"));
        }
        if !(0.0..=1.0).contains(&self.fraction) {
            return Err(Error::invalid(
                "rewire fraction",
                format!("{} is not in [0, 1]", self.fraction),
            ));
        }
        Ok(())
    }
}

/// One mask update.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewireReport {
    /// Optimisation steps taken before this update.
    pub step: usize,
    /// The fraction used.
    pub fraction: f64,
    /// Weights grown (and as many pruned), over all layers.
    pub moved: usize,
    /// The network's live weights after the update.
    pub nnz: usize,
}

/// Updates the masks of `model` once with fraction `fraction` (see the module docs); clears the Adam moments of
/// every weight whose mask changed. Returns the number of weights grown (equal to the number pruned).
pub fn rewire(model: &mut Mlp, mut adam: Option<&mut Adam>, fraction: f64, rng: &mut Rng) -> usize {
    let mut moved = 0;
    let mut masked_idx: Vec<usize> = Vec::new();
    let mut live: Vec<(f32, usize)> = Vec::new();
    for (l, layer) in model.layers_mut().iter_mut().enumerate() {
        let (rows, cols) = (layer.out_dim(), layer.in_dim());
        // Every weight this loop masks or unmasks is set to 0.0 here, which keeps the layer's invariant.
        let (weight, Some(mask)) = layer.weight_mask_mut() else {
            continue;
        };
        masked_idx.clear();
        live.clear();
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                if mask.get(r, c) {
                    live.push((weight[i].abs(), i));
                } else {
                    masked_idx.push(i);
                }
            }
        }
        let n = ((fraction * masked_idx.len() as f64).floor() as usize).min(live.len());
        if n == 0 {
            continue;
        }
        let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if n < live.len() {
            live.select_nth_unstable_by(n - 1, order);
        }
        for &(_, i) in &live[..n] {
            mask.set(i / cols, i % cols, false);
            weight[i] = 0.0;
            if let Some(a) = adam.as_deref_mut() {
                a.reset_weight(l, i);
            }
        }
        for k in sample(rng, masked_idx.len(), n) {
            let i = masked_idx[k];
            mask.set(i / cols, i % cols, true);
            weight[i] = 0.0;
            if let Some(a) = adam.as_deref_mut() {
                a.reset_weight(l, i);
            }
        }
        moved += n;
    }
    moved
}

/// A rewiring schedule bound to a training run: call [`Rewirer::after_step`] after every optimisation step.
#[derive(Clone, Debug)]
pub struct Rewirer {
    cfg: RewireConfig,
    total_steps: usize,
    step: usize,
    rng: Rng,
    history: Vec<RewireReport>,
}

impl Rewirer {
    /// A schedule over a run of `total_steps` optimisation steps, drawing from `rng`.
    pub fn new(cfg: RewireConfig, total_steps: usize, rng: Rng) -> Result<Self> {
        cfg.validate()?;
        Ok(Rewirer {
            cfg,
            total_steps: total_steps.max(1),
            step: 0,
            rng,
            history: Vec::new(),
        })
    }

    /// The fraction used at step `step`.
    pub fn fraction_at(&self, step: usize) -> f64 {
        match self.cfg.decay {
            Decay::Constant => self.cfg.fraction,
            Decay::Cosine => {
                let t = (step as f64 / self.total_steps as f64).min(1.0);
                self.cfg.fraction * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// Counts one optimisation step and rewires when it completes an interval.
    pub fn after_step(&mut self, model: &mut Mlp, adam: &mut Adam) -> Option<RewireReport> {
        self.step += 1;
        if !self.step.is_multiple_of(self.cfg.every) {
            return None;
        }
        let fraction = self.fraction_at(self.step);
        let moved = rewire(model, Some(adam), fraction, &mut self.rng);
        let report = RewireReport {
            step: self.step,
            fraction,
            moved,
            nnz: model.nnz(),
        };
        self.history.push(report);
        Some(report)
    }

    /// Every update so far.
    pub fn history(&self) -> &[RewireReport] {
        &self.history
    }

    /// Trains `model` for the trainer's epochs, rewiring on schedule; calls `on_epoch(epoch, mean_loss)` after
    /// each epoch. Without this, [`Trainer::fit`] trains with fixed masks.
    pub fn fit(
        &mut self,
        trainer: &mut Trainer,
        model: &mut Mlp,
        data: &Dataset,
        shuffle: &mut Rng,
        mut on_epoch: impl FnMut(usize, f32),
    ) {
        for e in 0..trainer.config().epochs {
            let loss = trainer.epoch_with(model, data, shuffle, |m, a| {
                self.after_step(m, a);
            });
            on_epoch(e, loss);
        }
    }
}
