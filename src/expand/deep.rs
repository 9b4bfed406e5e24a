//! Alternating expansion of deeper MLPs (A.7).
//!
//! Hidden layers `0, 2, 4, ...` are expanded; each expansion of layer `i` widens layer `i+1`'s inputs (columns
//! duplicated) but not its rows, so layer `i+2` reads an unchanged width and can be expanded in turn. The output
//! head's rows are never expanded (its inputs are widened when the last hidden layer is expanded).
//!
//! **Pruning.** Each expansion is one [`super::expand_with`] of the pair `(W_i, W_{i+1})`: after the split and
//! the duplication, the smallest-magnitude live weights are pruned **jointly over `W_i'` and `W_{i+1}'`** until
//! that pair holds exactly `nnz(W_i) + nnz(W_{i+1})` again. The pairs `(0, 1), (2, 3), ...` are disjoint and
//! the layers outside them are untouched, so the whole network's non-zero count is kept exactly. Pruning per
//! pair (rather than over the whole network at once) keeps every pair's share of the budget where training put
//! it, so no layer is starved to pay for another.

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::rng::Rng;

use super::assignment::Assignment;
use super::fpe::{expand_with_rules, FpeConfig, FpeReport, SplitInputs, SplitRules};
use super::strategy::Strategy;

/// What the strategies may need for an alternating expansion.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeepInputs<'a> {
    /// Feature groups over the network's inputs (used by [`Strategy::Clause`] for layer 0 only).
    pub groups: Option<&'a [Vec<usize>]>,
    /// One assignment per expanded layer, in order (for [`Strategy::Custom`]).
    pub assignments: &'a [Assignment],
    /// Number of Gram clusters for every expanded layer (for [`Strategy::Gram`]).
    pub clusters: Option<usize>,
}

/// Accounting of an alternating expansion.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeepReport {
    /// `(layer, report)` for every expanded layer.
    pub steps: Vec<(usize, FpeReport)>,
    /// Non-zero weights of the whole network before.
    pub budget: usize,
    /// Non-zero weights of the whole network after (equals `budget`).
    pub nnz_final: usize,
    /// Widths `[d, h_1, ..., outputs]` after.
    pub dims_after: Vec<usize>,
}

/// The hidden layers an alternating expansion splits in a model of `n_layers` linear layers: `0, 2, 4, ...`,
/// never the output head (`n_layers - 1`).
pub fn expanded_layers(n_layers: usize) -> Vec<usize> {
    (0..n_layers.saturating_sub(1)).step_by(2).collect()
}

/// Expands every layer of [`expanded_layers`] by `alpha` with `strategy` (see the module docs).
pub fn expand_alternating(
    model: &Mlp,
    alpha: usize,
    strategy: Strategy,
    inputs: &DeepInputs<'_>,
    rng: &mut Rng,
) -> Result<(Mlp, DeepReport)> {
    expand_alternating_with(model, alpha, strategy, inputs, &SplitRules::default(), rng)
}

/// [`expand_alternating`] under `rules` (child bias, duplicated column, pruning) at every expanded layer.
pub fn expand_alternating_with(
    model: &Mlp,
    alpha: usize,
    strategy: Strategy,
    inputs: &DeepInputs<'_>,
    rules: &SplitRules,
    rng: &mut Rng,
) -> Result<(Mlp, DeepReport)> {
    let layers = expanded_layers(model.layers().len());
    if layers.is_empty() {
        return Err(Error::invalid(
            "model",
            "it has no hidden layer to expand (only the output head)",
        ));
    }
    if strategy == Strategy::Custom && inputs.assignments.len() != layers.len() {
        return Err(Error::invalid(
            "assignment",
            format!(
                "the alternating expansion splits layers {layers:?}, so it needs {} assignments (a JSON list, one per layer, in that order), not {}",
                layers.len(),
                inputs.assignments.len()
            ),
        ));
    }
    let budget = model.nnz();
    let mut current = model.clone();
    let mut steps = Vec::with_capacity(layers.len());
    for (n, &layer) in layers.iter().enumerate() {
        if strategy == Strategy::Clause && layer > 0 {
            return Err(Error::invalid(
                "strategy",
                format!("the clause split knows feature groups only for the network's inputs, but layer {layer} reads hidden neurons: use random, gram, two-four or custom for deep networks"),
            ));
        }
        let split = SplitInputs {
            groups: if layer == 0 { inputs.groups } else { None },
            assignment: inputs.assignments.get(n),
            clusters: inputs.clusters,
        };
        let cfg = FpeConfig {
            alpha,
            strategy,
            layer,
        };
        let (next, report) =
            expand_with_rules(&current, &cfg, &split, rules, rng).map_err(|e| match e {
                Error::InvalidArgument { what, why } => {
                    Error::invalid(what, format!("{why} (expanding layer {layer})"))
                }
                other => other,
            })?;
        current = next;
        steps.push((layer, report));
    }
    let nnz_final = current.nnz();
    debug_assert_eq!(nnz_final, budget);
    let dims_after = current.dims();
    Ok((
        current,
        DeepReport {
            steps,
            budget,
            nnz_final,
            dims_after,
        },
    ))
}
