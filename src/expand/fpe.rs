//! The expansion itself (Algorithm A1 of the paper); `docs/ARCHITECTURE.md` places it in the module map.
//!
//! For hidden layer `i` (weights `W_i`, `h x d`) and the layer after it (`W_{i+1}`, `C x h`):
//!
//! 1. children of parent `p` are rows `p*alpha + j`, `j in 0..alpha`;
//! 2. the parent's live inputs are partitioned among its children by a [`Strategy`];
//! 3. a child's row is the parent's row masked to its share; the parent's bias is copied to every child;
//! 4. `W_{i+1}`'s column of a child is the parent's column, duplicated;
//! 5. the budget is `P = nnz(W_i) + nnz(W_{i+1})` (weights only). Duplication leaves
//!    `P + (alpha - 1) nnz(W_{i+1})` live weights, so the smallest-magnitude live weights are pruned **jointly
//!    over both matrices** until exactly `P` remain (ties broken by matrix, then row-major index).
//!
//! A LayerNorm after layer `i` is widened with it: every child copies its parent's gain and bias.
//!
//! Steps 3-5 are the paper's reading; [`SplitRules`] ([`expand_with_rules`]) can instead divide the child bias or
//! the duplicated column by `alpha`, or prune each layer back to its own count (`[protocol]` of a spec).

use crate::error::{Error, Result};
use crate::nn::{Linear, Mlp};
use crate::rng::Rng;
use crate::sparse::Mask;

use super::assignment::Assignment;
use super::gram::{default_clusters, gram_groups};
use super::strategy::{partition, Strategy};

/// What a split strategy may need besides the weights: feature groups, a custom assignment, a cluster count.
#[derive(Clone, Copy, Debug, Default)]
pub struct SplitInputs<'a> {
    /// Feature groups over the expanded layer's inputs (for [`Strategy::Clause`]; DNF clauses).
    pub groups: Option<&'a [Vec<usize>]>,
    /// The split itself (for [`Strategy::Custom`]).
    pub assignment: Option<&'a Assignment>,
    /// Number of Gram clusters (for [`Strategy::Gram`]; default [`default_clusters`]).
    pub clusters: Option<usize>,
}

/// A child's bias at the split (step 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChildBias {
    /// Every child gets its parent's bias, as the paper says (default).
    #[default]
    Copy,
    /// Every child gets its parent's bias divided by `alpha`.
    Divide,
}

/// The next layer's column of a child at the split (step 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutColumn {
    /// The parent's column, duplicated for every child (default).
    #[default]
    Copy,
    /// The parent's column divided by `alpha` for every child (the children's summed output equals the
    /// parent's when their pre-activations are all positive).
    Divide,
}

/// How the expanded pair is pruned back to its budget (step 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pruning {
    /// The smallest-magnitude live weights of both matrices together, as the paper says (default).
    #[default]
    Joint,
    /// Each matrix back to its own count before the split, by its own smallest magnitudes.
    PerLayer,
}

impl ChildBias {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChildBias::Copy => "copy",
            ChildBias::Divide => "divide",
        }
    }
}

impl OutColumn {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutColumn::Copy => "copy",
            OutColumn::Divide => "divide",
        }
    }
}

impl Pruning {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pruning::Joint => "joint",
            Pruning::PerLayer => "per-layer",
        }
    }
}

/// The choices of steps 3-5 that the paper leaves open (the defaults are its reading).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitRules {
    /// A child's bias.
    pub bias: ChildBias,
    /// A child's column of the next layer.
    pub column: OutColumn,
    /// Pruning back to the budget.
    pub pruning: Pruning,
}

/// What to expand and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FpeConfig {
    /// Children per neuron (integer >= 2).
    pub alpha: usize,
    /// How inputs are dealt to children.
    pub strategy: Strategy,
    /// Index of the hidden layer whose neurons are split (0 = first layer). Never the output head.
    pub layer: usize,
}

/// Non-zero accounting of one expansion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FpeReport {
    /// `nnz(W_i) + nnz(W_{i+1})` before the split.
    pub budget: usize,
    /// Live weights of the two layers after splitting and duplicating, before pruning.
    pub nnz_after_split: usize,
    /// Weights pruned from `W_i'`.
    pub pruned_in: usize,
    /// Weights pruned from `W_{i+1}'`.
    pub pruned_out: usize,
    /// Live weights of the two layers after pruning; equals `budget`.
    pub nnz_final: usize,
    /// Width of layer `i` before.
    pub width_before: usize,
    /// Width of layer `i` after (`alpha` times wider).
    pub width_after: usize,
}

/// Expands hidden layer `cfg.layer` of `model` by `cfg.alpha`; returns the expanded model and its accounting.
///
/// `groups` are feature groups over the expanded layer's inputs, required by [`Strategy::Clause`]. Strategies
/// that need more ([`Strategy::Custom`], a cluster count for [`Strategy::Gram`]) use [`expand_with`].
pub fn expand(
    model: &Mlp,
    cfg: &FpeConfig,
    groups: Option<&[Vec<usize>]>,
    rng: &mut Rng,
) -> Result<(Mlp, FpeReport)> {
    let inputs = SplitInputs {
        groups,
        ..SplitInputs::default()
    };
    expand_with(model, cfg, &inputs, rng)
}

/// [`expand`] with everything a strategy may need in `inputs`.
pub fn expand_with(
    model: &Mlp,
    cfg: &FpeConfig,
    inputs: &SplitInputs<'_>,
    rng: &mut Rng,
) -> Result<(Mlp, FpeReport)> {
    expand_with_rules(model, cfg, inputs, &SplitRules::default(), rng)
}

/// [`expand_with`] under `rules` for the child bias, the duplicated column and the pruning.
pub fn expand_with_rules(
    model: &Mlp,
    cfg: &FpeConfig,
    inputs: &SplitInputs<'_>,
    rules: &SplitRules,
    rng: &mut Rng,
) -> Result<(Mlp, FpeReport)> {
    let n_layers = model.layers().len();
    if cfg.layer + 1 >= n_layers {
        return Err(Error::invalid(
            "layer",
            format!("layer {} has no layer after it to widen (the model has {n_layers} layers; the output head is never expanded)", cfg.layer),
        ));
    }
    let alpha = cfg.alpha;
    super::Alpha::new(alpha)?;
    let first = &model.layers()[cfg.layer];
    let second = &model.layers()[cfg.layer + 1];
    let (h, d, c) = (first.out_dim(), first.in_dim(), second.out_dim());
    // The widened pair is allocated densely: refuse an alpha the machine cannot hold before computing h * alpha.
    let widened = h.checked_mul(alpha);
    crate::limits::check_memory(
        &format!("alpha = {alpha} (on a layer of width {h})"),
        widened.and_then(|hp| crate::limits::mlp_bytes(&[d, hp, c])),
    )?;
    if cfg.strategy == Strategy::Gram {
        crate::limits::check_memory(
            "the gram strategy's Gram matrix",
            crate::limits::bytes_of(&[d, d, 8]),
        )?;
    }
    let hp = h * alpha;
    let budget = first.nnz() + second.nnz();
    let clustered;
    let groups = match cfg.strategy {
        Strategy::Gram => {
            let k = inputs
                .clusters
                .unwrap_or_else(|| default_clusters(d, alpha));
            clustered = gram_groups(first, k, rng)?;
            Some(clustered.as_slice())
        }
        _ => inputs.groups,
    };
    let custom = match (cfg.strategy, inputs.assignment) {
        (Strategy::Custom, Some(a)) => {
            a.validate(first, alpha)?;
            Some(a)
        }
        (Strategy::Custom, None) => {
            return Err(Error::invalid(
                "strategy",
                "the custom split needs a user assignment: pass it with --assignment FILE (library: SplitInputs::assignment)",
            ))
        }
        _ => None,
    };

    // Steps 1-3: split rows.
    let mut w1 = vec![0f32; hp * d];
    let mut b1 = vec![0f32; hp];
    let mut m1 = Mask::empty(hp, d);
    let mut support = Vec::with_capacity(d);
    for p in 0..h {
        support.clear();
        support.extend((0..d).filter(|&j| first.is_live(p, j)));
        let parts = match custom {
            Some(a) => a.parts(p),
            None => {
                partition(&support, alpha, cfg.strategy, groups, rng).map_err(|e| annotate(e, p))?
            }
        };
        for (j, part) in parts.iter().enumerate() {
            let child = p * alpha + j;
            b1[child] = match rules.bias {
                ChildBias::Copy => first.bias()[p],
                ChildBias::Divide => first.bias()[p] / alpha as f32,
            };
            for &i in part {
                w1[child * d + i] = first.weight()[p * d + i];
                m1.set(child, i, true);
            }
        }
    }
    // Step 4: duplicate outgoing columns.
    let mut w2 = vec![0f32; c * hp];
    let mut m2 = Mask::empty(c, hp);
    for o in 0..c {
        for p in 0..h {
            let live = second.is_live(o, p);
            for j in 0..alpha {
                let child = p * alpha + j;
                w2[o * hp + child] = match rules.column {
                    OutColumn::Copy => second.weight()[o * h + p],
                    OutColumn::Divide => second.weight()[o * h + p] / alpha as f32,
                };
                m2.set(o, child, live);
            }
        }
    }
    // Step 5: magnitude pruning back to the budget, jointly (default) or per layer.
    let nnz_after_split = m1.count() + m2.count();
    let lost = || {
        Error::invalid(
            "model",
            "the split lost live weights; this is a bug, please report it",
        )
    };
    let excess = nnz_after_split.checked_sub(budget).ok_or_else(lost)?;
    let (w1r, w2r) = (&w1, &w2);
    let live_in = |m1: &Mask| -> Vec<Candidate> {
        (0..hp)
            .flat_map(|r| {
                m1.row_iter(r)
                    .map(move |col| (w1r[r * d + col].abs(), 0u8, (r * d + col) as u32))
            })
            .collect()
    };
    let live_out = |m2: &Mask| -> Vec<Candidate> {
        (0..c)
            .flat_map(|r| {
                m2.row_iter(r)
                    .map(move |col| (w2r[r * hp + col].abs(), 1u8, (r * hp + col) as u32))
            })
            .collect()
    };
    // (candidates, how many of them to prune) per pruning group.
    let groups: Vec<(Vec<Candidate>, usize)> = match rules.pruning {
        Pruning::Joint => {
            let mut all = live_in(&m1);
            all.extend(live_out(&m2));
            vec![(all, excess)]
        }
        Pruning::PerLayer => vec![
            (
                live_in(&m1),
                m1.count().checked_sub(first.nnz()).ok_or_else(lost)?,
            ),
            (
                live_out(&m2),
                m2.count().checked_sub(second.nnz()).ok_or_else(lost)?,
            ),
        ],
    };
    let order =
        |a: &Candidate, b: &Candidate| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2));
    let mut doomed: Vec<Candidate> = Vec::with_capacity(excess);
    for (mut candidates, k) in groups {
        if k > 0 && k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, order);
        }
        doomed.extend(candidates.into_iter().take(k));
    }
    let (mut pruned_in, mut pruned_out) = (0, 0);
    for &(_, which, idx) in &doomed {
        let idx = idx as usize;
        if which == 0 {
            m1.set(idx / d, idx % d, false);
            w1[idx] = 0.0;
            pruned_in += 1;
        } else {
            m2.set(idx / hp, idx % hp, false);
            w2[idx] = 0.0;
            pruned_out += 1;
        }
    }
    let mut layers = model.layers().to_vec();
    layers[cfg.layer] = Linear::from_parts(hp, d, w1, b1, Some(m1))?;
    layers[cfg.layer + 1] = Linear::from_parts(c, hp, w2, second.bias().to_vec(), Some(m2))?;
    let mut expanded = Mlp::from_layers(layers, model.task())?;
    let mut norms = model.norms().to_vec();
    if let Some(norm) = &model.norms()[cfg.layer] {
        norms[cfg.layer] = Some(norm.split(alpha));
    }
    expanded.set_norms(norms)?;
    let nnz_final = expanded.layers()[cfg.layer].nnz() + expanded.layers()[cfg.layer + 1].nnz();
    debug_assert_eq!(nnz_final, budget);
    let report = FpeReport {
        budget,
        nnz_after_split,
        pruned_in,
        pruned_out,
        nnz_final,
        width_before: h,
        width_after: hp,
    };
    Ok((expanded, report))
}

/// A live weight in the pruning order: magnitude, matrix (0 = `W_i'`, 1 = `W_{i+1}'`), row-major index.
type Candidate = (f32, u8, u32);

fn annotate(e: Error, parent: usize) -> Error {
    match e {
        Error::InvalidArgument { what, why } => Error::InvalidArgument {
            what,
            why: format!("{why} (neuron {parent})"),
        },
        other => other,
    }
}
