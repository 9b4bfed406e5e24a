//! Interference metrics of Sec. 3.2 and A.6: the Gram matrix, feature capacity, neuron cosine similarity, and
//! the accuracy ratios the paper reports.
//!
//! # Definitions used (the paper's text leaves some choices open)
//!
//! Let `W` be a layer's weights, `h x d` (row `r` = the input weights of neuron `r`, column `i` = how input `i`
//! is written into the layer). Masked weights are exactly `0.0` and enter every formula as zeros.
//!
//! * **Gram matrix** `G = W^T W` (`d x d`), as in Sec. 3.1: `G_ij = W_{.,i} . W_{.,j}`. The paper uses the first
//!   layer; [`gram`] takes any layer.
//! * **Per-input capacity** (Scherlis et al., 2022, with each *input* as a feature), one value per input `i`,
//!   with feature vector `W_{.,i}` (the column of `W`): `C_i = G_ii^2 / sum_j G_ij^2`, `j` over all inputs
//!   including `i` ([`feature_capacity`]). So `0 <= C_i <= 1`, and `C_i = 1` exactly when column `i` is
//!   orthogonal to every other column. A column of zeros (an input no live weight reads) has `C_i = 0`: it is
//!   given no dimension. The **total** is `sum_i C_i`, at most the rank of `W`, so at most `min(h, d)`.
//! * **Per-input capacity of a group**: the *sum* of `C_i` over the group's inputs ([`group_capacity`]), so a
//!   group of `k` inputs has capacity in `[0, k]`.
//! * **Feature-level capacity** for any grouping of the inputs into features `f` (the DNF clauses, Gram
//!   clusters, or user groups; [`grouped_capacity`]): the feature vector is `v_f = W 1_f`, the sum of the
//!   group's columns (the layer's pre-activation, bias aside, when exactly the feature's inputs are on), and
//!   `C_f = (v_f . v_f)^2 / sum_g (v_f . v_g)^2`, `g` over all features including `f`; `C_f = 0` when
//!   `v_f = 0`. This is the paper's Sec. 3.2 formula read with the clause as the feature ("for each feature
//!   (clause), its capacity `C_i`"). Each `C_f` is in `[0, 1]` and the total `sum_f C_f` is at most
//!   `min(h, F)` for `F` features, so at most the clause count. Both totals are bounded by the width `h`,
//!   so neither reading lets a model of `h` neurons exceed `h`: Table A1's 16.87 at 32 clauses needs
//!   `h >= 17`, i.e. `alpha >= 4` from 8 neurons.
//! * **Mean cosine similarity** of neuron weight vectors (rows of `W`), three readings, with
//!   `cos(W_r, W_s) = W_r . W_s / (|W_r| |W_s|)`, masked zeros included in the vectors, and `cos = 0` for a
//!   pair with a row of zeros (a neuron with no live weight; such pairs still count in the means):
//!   - [`mean_cosine`]: the signed mean over all unordered pairs `r < s` of distinct neurons,
//!     `2 / (h (h - 1)) sum_{r<s} cos(W_r, W_s)`; `0` for a layer with one neuron (no pair);
//!   - [`mean_abs_cosine`]: the mean of `|cos|` over the same pairs (opposite signs no longer cancel);
//!   - [`mean_abs_cosine_full`]: the mean of `|cos|` over the full `h x h` matrix, diagonal included,
//!     `1 / h^2 sum_{r,s} |cos(W_r, W_s)|` (PyTorch's `cos.abs().mean()` on the normalised rows' product;
//!     the diagonal is `1` for a non-zero row and `0` for a zero row, as `F.normalize` gives). For `h`
//!     non-zero rows it equals `1/h + (h - 1)/h * mean_abs_cosine`.
//! * **Relative improvement** `acc_FPE / acc_dense` (1.0 = no change), and **accuracy per non-zero parameter**
//!   `acc / nnz` with `nnz` the live weights (biases excluded, as in the budget).
//!
//! Everything is accumulated in `f64` in a fixed order, so results are deterministic.

mod named;

pub use named::{Metric, MetricValues};

use crate::error::{Error, Result};
use crate::nn::{Linear, Mlp};

/// `G = W^T W` of `layer` (`in_dim x in_dim`, row-major, `f64`).
pub fn gram(layer: &Linear) -> Vec<f64> {
    let (h, d) = (layer.out_dim(), layer.in_dim());
    let mut g = vec![0f64; d * d];
    for r in 0..h {
        let row = layer.row(r);
        for i in 0..d {
            let wi = row[i] as f64;
            if wi == 0.0 {
                continue;
            }
            for j in 0..d {
                g[i * d + j] += wi * row[j] as f64;
            }
        }
    }
    g
}

/// Feature capacity `C_i` of every input `i` of `layer` (see the module docs), from the Gram matrix.
pub fn feature_capacity(layer: &Linear) -> Vec<f64> {
    capacity_from_gram(&gram(layer), layer.in_dim())
}

/// Feature capacity from a `d x d` Gram matrix: `C_i = G_ii^2 / sum_j G_ij^2`, `0` where `G_ii = 0`.
pub fn capacity_from_gram(g: &[f64], d: usize) -> Vec<f64> {
    assert_eq!(g.len(), d * d, "gram shape mismatch");
    (0..d)
        .map(|i| {
            let row = &g[i * d..(i + 1) * d];
            let diag = row[i];
            if diag == 0.0 {
                return 0.0;
            }
            let denom: f64 = row.iter().map(|v| v * v).sum();
            diag * diag / denom
        })
        .collect()
}

/// Sum of `capacities` over each group of input indices (a group's capacity, see the module docs).
///
/// An index outside `capacities` is an error naming the group.
pub fn group_capacity(capacities: &[f64], groups: &[Vec<usize>]) -> Result<Vec<f64>> {
    groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            g.iter()
                .map(|&i| {
                    capacities.get(i).copied().ok_or_else(|| {
                        Error::invalid(
                            "feature groups",
                            format!(
                                "group {gi} names input {i}, but the layer has only {} inputs",
                                capacities.len()
                            ),
                        )
                    })
                })
                .sum()
        })
        .collect()
}

/// Feature vectors `v_f = W 1_f` of `layer` for each group `f` of input indices: the sum of the group's
/// columns, one `out_dim`-long `f64` vector per group (see the module docs).
///
/// An index outside the layer's inputs is an error naming the group.
pub fn feature_vectors(layer: &Linear, groups: &[Vec<usize>]) -> Result<Vec<Vec<f64>>> {
    let (h, d) = (layer.out_dim(), layer.in_dim());
    groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            if let Some(&bad) = g.iter().find(|&&i| i >= d) {
                return Err(Error::invalid(
                    "feature groups",
                    format!("group {gi} names input {bad}, but the layer has only {d} inputs"),
                ));
            }
            Ok((0..h)
                .map(|r| {
                    let row = layer.row(r);
                    g.iter().map(|&i| row[i] as f64).sum()
                })
                .collect())
        })
        .collect()
}

/// Feature-level capacity `C_f = (v_f . v_f)^2 / sum_g (v_f . v_g)^2` of every group `f` of inputs of `layer`,
/// with `v_f = W 1_f` ([`feature_vectors`]); `0` where `v_f = 0`. See the module docs.
pub fn grouped_capacity(layer: &Linear, groups: &[Vec<usize>]) -> Result<Vec<f64>> {
    let v = feature_vectors(layer, groups)?;
    let n = v.len();
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    // The features' Gram matrix, then the same formula as per input.
    let mut g = vec![0f64; n * n];
    for f in 0..n {
        for k in 0..n {
            g[f * n + k] = dot(&v[f], &v[k]);
        }
    }
    Ok(capacity_from_gram(&g, n))
}

/// Cosine similarity of two vectors; `0` when either has zero norm.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "cosine: length mismatch");
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// Mean signed cosine similarity over all pairs of distinct neurons (rows) of `layer`; `0` with fewer than two.
pub fn mean_cosine(layer: &Linear) -> f64 {
    mean_pairwise(layer, |c| c)
}

/// Mean of `|cos|` over all pairs of distinct neurons (rows) of `layer`; `0` with fewer than two.
///
/// Signed similarities of opposite sign cancel in [`mean_cosine`]; this variant counts every alignment,
/// whatever its sign.
pub fn mean_abs_cosine(layer: &Linear) -> f64 {
    mean_pairwise(layer, f64::abs)
}

/// Mean of `|cos|` over the full `h x h` neuron-by-neuron matrix of `layer`, diagonal included (PyTorch's
/// `cos.abs().mean()`): `1 / h^2 sum_{r,s} |cos(W_r, W_s)|`, with `cos(W_r, W_r) = 1` for a non-zero row and
/// `0` for a zero row; `0` for a layer without neurons.
pub fn mean_abs_cosine_full(layer: &Linear) -> f64 {
    let h = layer.out_dim();
    if h == 0 {
        return 0.0;
    }
    let mut sum = 0f64;
    for r in 0..h {
        for s in 0..h {
            sum += cosine(layer.row(r), layer.row(s)).abs();
        }
    }
    sum / (h * h) as f64
}

fn mean_pairwise(layer: &Linear, f: impl Fn(f64) -> f64) -> f64 {
    let h = layer.out_dim();
    if h < 2 {
        return 0.0;
    }
    let mut sum = 0f64;
    for r in 0..h {
        for s in r + 1..h {
            sum += f(cosine(layer.row(r), layer.row(s)));
        }
    }
    sum / (h * (h - 1) / 2) as f64
}

/// `acc_fpe / acc_dense`; an error if the dense accuracy is not positive (the ratio would be meaningless).
pub fn relative_improvement(acc_fpe: f64, acc_dense: f64) -> Result<f64> {
    if acc_dense.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(Error::invalid(
            "dense accuracy",
            format!(
                "{acc_dense} is not positive: a relative improvement needs a dense accuracy > 0"
            ),
        ));
    }
    Ok(acc_fpe / acc_dense)
}

/// Accuracy per live (non-zero budget) weight; `0` for a model without live weights.
pub fn accuracy_per_nnz(acc: f64, nnz: usize) -> f64 {
    if nnz == 0 {
        0.0
    } else {
        acc / nnz as f64
    }
}

/// Every interference metric of one layer of a model, for reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerMetrics {
    /// Index of the layer (0 = first).
    pub layer: usize,
    /// Neurons (rows).
    pub neurons: usize,
    /// Inputs (columns).
    pub inputs: usize,
    /// Live weights of the layer.
    pub nnz: usize,
    /// `G = W^T W`, `inputs x inputs`, row-major.
    pub gram: Vec<f64>,
    /// `C_i` per input.
    pub capacity: Vec<f64>,
    /// `sum_i C_i`.
    pub capacity_total: f64,
    /// Sum of `C_i` per feature group, when groups are known.
    pub capacity_per_group: Option<Vec<f64>>,
    /// Feature-level capacity `C_f` per group ([`grouped_capacity`]), when groups are known.
    pub feature_capacity: Option<Vec<f64>>,
    /// `sum_f C_f`, when groups are known.
    pub feature_capacity_total: Option<f64>,
    /// Mean signed cosine similarity of the layer's neurons.
    pub mean_cosine: f64,
    /// Mean absolute cosine similarity of the layer's neurons (distinct pairs).
    pub mean_abs_cosine: f64,
    /// Mean absolute cosine similarity over the full neuron-by-neuron matrix, diagonal included.
    pub mean_abs_cosine_full: f64,
}

/// Every reading [`LayerMetrics`] holds, as `(key, exact formula)`, for reports and `inspect`'s output.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("gram", "G = W^T W over the layer's inputs (W: neurons x inputs, masked weights 0)"),
    (
        "capacity",
        "per-input capacity C_i = G_ii^2 / sum_j G_ij^2 for each input i (column of W); 0 for an all-zero column",
    ),
    ("capacity_total", "sum_i C_i over all inputs (per-input reading)"),
    (
        "capacity_per_group",
        "sum of the per-input C_i over each group's inputs",
    ),
    (
        "feature_capacity",
        "feature-level capacity per group f: v_f = W 1_f (sum of the group's columns), C_f = (v_f.v_f)^2 / sum_g (v_f.v_g)^2 over all groups g; 0 for v_f = 0",
    ),
    ("feature_capacity_total", "sum_f C_f over the groups (feature-level reading)"),
    (
        "mean_cosine",
        "signed mean of cos(W_r, W_s) = W_r.W_s / (|W_r| |W_s|) over distinct pairs r < s of neurons (rows of W); cos 0 with a zero row; 0 for one neuron",
    ),
    ("mean_abs_cosine", "mean of |cos(W_r, W_s)| over the same distinct pairs"),
    (
        "mean_abs_cosine_full",
        "mean of |cos(W_r, W_s)| over all h x h pairs, diagonal included (PyTorch's cos.abs().mean()); diagonal 1 for a non-zero row, 0 for a zero row",
    ),
];

impl LayerMetrics {
    /// Computes the metrics of layer `layer` of `model`; `groups` index the layer's inputs.
    pub fn of(model: &Mlp, layer: usize, groups: Option<&[Vec<usize>]>) -> Result<Self> {
        let l = model.layers().get(layer).ok_or_else(|| {
            Error::invalid(
                "layer",
                format!(
                    "{layer} is out of range: the model has layers 0..{}",
                    model.layers().len()
                ),
            )
        })?;
        crate::limits::check_memory(
            &format!(
                "the Gram matrix of layer {layer} ({} x {} inputs)",
                l.in_dim(),
                l.in_dim()
            ),
            crate::limits::bytes_of(&[l.in_dim(), l.in_dim(), 8]),
        )?;
        let g = gram(l);
        let capacity = capacity_from_gram(&g, l.in_dim());
        let capacity_per_group = groups.map(|gr| group_capacity(&capacity, gr)).transpose()?;
        let feature_capacity = groups.map(|gr| grouped_capacity(l, gr)).transpose()?;
        Ok(LayerMetrics {
            layer,
            neurons: l.out_dim(),
            inputs: l.in_dim(),
            nnz: l.nnz(),
            capacity_total: capacity.iter().sum(),
            gram: g,
            capacity,
            capacity_per_group,
            feature_capacity_total: feature_capacity.as_ref().map(|c| c.iter().sum()),
            feature_capacity,
            mean_cosine: mean_cosine(l),
            mean_abs_cosine: mean_abs_cosine(l),
            mean_abs_cosine_full: mean_abs_cosine_full(l),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Mask;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // W (2 x 3) = [[1, 2, 0], [0, 1, 1]]; columns c0 = (1,0), c1 = (2,1), c2 = (0,1).
    fn layer() -> Linear {
        Linear::from_parts(2, 3, vec![1., 2., 0., 0., 1., 1.], vec![0.; 2], None).unwrap()
    }

    #[test]
    fn gram_by_hand() {
        // G = [[1,2,0],[2,5,1],[0,1,1]].
        assert_eq!(gram(&layer()), vec![1., 2., 0., 2., 5., 1., 0., 1., 1.]);
    }

    #[test]
    fn capacity_by_hand() {
        // C0 = 1/(1+4+0) = 0.2; C1 = 25/(4+25+1) = 25/30; C2 = 1/(0+1+1) = 0.5.
        let c = feature_capacity(&layer());
        assert!(close(c[0], 0.2));
        assert!(close(c[1], 25.0 / 30.0));
        assert!(close(c[2], 0.5));
        let groups = vec![vec![0, 1], vec![2]];
        let g = group_capacity(&c, &groups).unwrap();
        assert!(close(g[0], 0.2 + 25.0 / 30.0));
        assert!(close(g[1], 0.5));
        assert!(group_capacity(&c, &[vec![3]]).is_err());
    }

    #[test]
    fn orthogonal_columns_have_full_capacity_and_zero_columns_none() {
        // Identity-like: each input on its own neuron, plus an unused input.
        let l = Linear::from_parts(2, 3, vec![3., 0., 0., 0., -2., 0.], vec![0.; 2], None).unwrap();
        assert_eq!(feature_capacity(&l), vec![1.0, 1.0, 0.0]);
        assert_eq!(mean_cosine(&l), 0.0);
    }

    #[test]
    fn cosine_by_hand() {
        // rows (1,2,0) and (0,1,1): dot 2, norms sqrt5 and sqrt2 -> 2/sqrt10.
        assert!(close(mean_cosine(&layer()), 2.0 / 10f64.sqrt()));
        // Three rows: (1,0), (1,1), (0,0): cos 1/sqrt2, 0, 0 -> mean (1/sqrt2)/3.
        let l = Linear::from_parts(3, 2, vec![1., 0., 1., 1., 0., 0.], vec![0.; 3], None).unwrap();
        assert!(close(mean_cosine(&l), (0.5f64).sqrt() / 3.0));
        // Opposite rows: -1.
        let l = Linear::from_parts(2, 1, vec![1., -4.], vec![0.; 2], None).unwrap();
        assert!(close(mean_cosine(&l), -1.0));
        assert!(close(mean_abs_cosine(&l), 1.0));
        // Rows (1,0), (1,1), (-1,0): cos 1/sqrt2, -1, -1/sqrt2 -> signed mean -1/3, absolute (1 + sqrt2)/3.
        let l = Linear::from_parts(3, 2, vec![1., 0., 1., 1., -1., 0.], vec![0.; 3], None).unwrap();
        assert!(close(mean_cosine(&l), -1.0 / 3.0));
        assert!(close(mean_abs_cosine(&l), (1.0 + 2f64.sqrt()) / 3.0));
        let one = Linear::from_parts(1, 2, vec![1., 1.], vec![0.], None).unwrap();
        assert_eq!(mean_cosine(&one), 0.0);
    }

    #[test]
    fn feature_level_capacity_by_hand() {
        // W = [[1,2,0],[0,1,1]], groups {0,1} and {2}: v0 = (1+2, 0+1) = (3,1), v1 = (0,1).
        // Feature Gram [[10,1],[1,1]]: C0 = 100/(100+1), C1 = 1/(1+1).
        let groups = vec![vec![0, 1], vec![2]];
        let v = feature_vectors(&layer(), &groups).unwrap();
        assert_eq!(v, vec![vec![3.0, 1.0], vec![0.0, 1.0]]);
        let c = grouped_capacity(&layer(), &groups).unwrap();
        assert!(close(c[0], 100.0 / 101.0) && close(c[1], 0.5));
        // Singleton groups give the per-input capacities.
        let singles: Vec<Vec<usize>> = (0..3).map(|i| vec![i]).collect();
        let per_input = feature_capacity(&layer());
        let c = grouped_capacity(&layer(), &singles).unwrap();
        assert!(c.iter().zip(&per_input).all(|(a, b)| close(*a, *b)));
        // A group whose columns cancel has a zero vector and no capacity; the others are unaffected by it.
        let l =
            Linear::from_parts(2, 3, vec![1., -1., 0., 2., -2., 1.], vec![0.; 2], None).unwrap();
        assert_eq!(
            grouped_capacity(&l, &[vec![0, 1], vec![2]]).unwrap(),
            vec![0.0, 1.0]
        );
        assert!(grouped_capacity(&l, &[vec![0, 3]]).is_err());
    }

    #[test]
    fn full_matrix_abs_cosine_by_hand() {
        // Two rows with cos 2/sqrt10: (1 + 1 + 2 * 2/sqrt10) / 4.
        let want = 0.5 + 1.0 / 10f64.sqrt();
        assert!(close(mean_abs_cosine_full(&layer()), want));
        // Rows (1,0), (1,1), (0,0): |cos| 1/sqrt2 twice off the diagonal, diagonal 1, 1, 0 -> (2 + sqrt2) / 9.
        let l = Linear::from_parts(3, 2, vec![1., 0., 1., 1., 0., 0.], vec![0.; 3], None).unwrap();
        assert!(close(mean_abs_cosine_full(&l), (2.0 + 2f64.sqrt()) / 9.0));
        // One neuron: only the diagonal.
        let one = Linear::from_parts(1, 2, vec![1., 1.], vec![0.], None).unwrap();
        assert!(close(mean_abs_cosine_full(&one), 1.0));
    }

    #[test]
    fn masked_weights_count_as_zero() {
        let mut m = Mask::full(2, 3);
        m.set(0, 1, false); // W becomes [[1,0,0],[0,1,1]]
        let l =
            Linear::from_parts(2, 3, vec![1., 2., 0., 0., 1., 1.], vec![0.; 2], Some(m)).unwrap();
        assert_eq!(gram(&l), vec![1., 0., 0., 0., 1., 1., 0., 1., 1.]);
        let c = feature_capacity(&l);
        assert!(close(c[0], 1.0) && close(c[1], 0.5) && close(c[2], 0.5));
    }

    proptest::proptest! {
        #[test]
        fn total_capacity_is_at_most_the_width(
            h in 1usize..6, d in 1usize..9, seed in 0u64..1000,
        ) {
            use rand::Rng as _;
            let mut rng = crate::rng::stream(seed, &[]);
            let w: Vec<f32> = (0..h * d).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let l = Linear::from_parts(h, d, w, vec![0.; h], None).unwrap();
            let c = feature_capacity(&l);
            proptest::prop_assert!(c.iter().all(|&x| (0.0..=1.0 + 1e-12).contains(&x)));
            let total: f64 = c.iter().sum();
            proptest::prop_assert!(total <= h.min(d) as f64 + 1e-9, "total {total} > min({h}, {d})");
            let m = mean_cosine(&l);
            proptest::prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&m));
        }
    }

    #[test]
    fn ratios() {
        assert!(close(relative_improvement(0.9, 0.75).unwrap(), 1.2));
        assert!(relative_improvement(0.9, 0.0).is_err());
        assert!(relative_improvement(0.9, f64::NAN).is_err());
        assert!(close(accuracy_per_nnz(0.5, 4), 0.125));
        assert_eq!(accuracy_per_nnz(0.5, 0), 0.0);
    }
}
