//! [`Metric`]: the interference metrics a spec or a run can ask for by name, and what each one computes on a
//! trained model.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::nn::Mlp;

/// An interference metric of a model's first layer, by name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum Metric {
    /// `feature-capacity`: the total feature capacity of the first layer's inputs ([`super::feature_capacity`]),
    /// and per clause on data with known clauses, both per input and feature-level
    /// ([`super::grouped_capacity`]).
    FeatureCapacity,
    /// `cosine-similarity`: the mean cosine similarity of the first layer's neurons, signed and absolute over
    /// distinct pairs, and absolute over the full matrix ([`super::mean_cosine`], [`super::mean_abs_cosine`],
    /// [`super::mean_abs_cosine_full`]).
    CosineSimilarity,
}

/// What [`Metric::compute`] finds on one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricValues {
    /// `(key, value)` pairs, e.g. for a trial record's metrics.
    pub values: Vec<(String, f64)>,
    /// Per-clause capacities (feature capacity on data with known clauses), else empty.
    pub per_clause: Vec<f64>,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 2] = [Metric::FeatureCapacity, Metric::CosineSimilarity];

    /// The metric's name in specs, records and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::FeatureCapacity => "feature-capacity",
            Metric::CosineSimilarity => "cosine-similarity",
        }
    }

    /// Every value key [`Metric::compute`] can record for this metric (the per-clause ones only with groups),
    /// with its exact definition on the first layer `W1`; the first key is the metric's own name.
    pub fn readings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Metric::FeatureCapacity => &[
                (
                    "feature-capacity",
                    "per input: sum_i C_i, C_i = G_ii^2 / sum_j G_ij^2, G = W1^T W1",
                ),
                (
                    "clause-capacity-min",
                    "smallest per-input capacity of a clause (sum of C_i over its literals)",
                ),
                (
                    "clause-capacity-mean",
                    "mean per-input capacity of a clause (sum of C_i over its literals)",
                ),
                (
                    "feature-capacity-clauses",
                    "per clause: sum_f C_f, v_f = W1 1_f, C_f = (v_f.v_f)^2 / sum_g (v_f.v_g)^2",
                ),
            ],
            Metric::CosineSimilarity => &[
                (
                    "cosine-similarity",
                    "signed mean of cos over distinct neuron pairs",
                ),
                (
                    "cosine-similarity-abs",
                    "mean |cos| over distinct neuron pairs",
                ),
                (
                    "cosine-similarity-abs-full",
                    "mean |cos| over the full neuron x neuron matrix, diagonal included (cos.abs().mean())",
                ),
            ],
        }
    }

    /// The metric's values on the first layer of a trained `model`, the per-clause capacities too when `groups`
    /// (the DNF clauses) are known:
    ///
    /// * feature capacity: `feature-capacity` = the total capacity `sum_i C_i` over the layer's input columns;
    ///   with groups also `clause-capacity-min` and `clause-capacity-mean`, the smallest and the mean capacity
    ///   of a clause (the sum of `C_i` over its literals), the per-clause vector, and
    ///   `feature-capacity-clauses` = the feature-level total `sum_f C_f` with each clause as one feature;
    /// * cosine similarity: `cosine-similarity` = the mean signed cosine similarity over all pairs of the
    ///   layer's neurons, `cosine-similarity-abs` = the mean of `|cos|` over the same pairs, and
    ///   `cosine-similarity-abs-full` = the mean of `|cos|` over the full matrix, diagonal included.
    pub fn compute(self, model: &Mlp, groups: Option<&[Vec<usize>]>) -> Result<MetricValues> {
        let layer = &model.layers()[0];
        let name = self.name().to_string();
        match self {
            Metric::FeatureCapacity => {
                let d = layer.in_dim();
                crate::limits::check_memory(
                    &format!("the feature capacity of {d} inputs (a {d} x {d} Gram matrix)"),
                    crate::limits::bytes_of(&[d, d, 8]),
                )?;
                let cap = super::feature_capacity(layer);
                let mut values = vec![(name, cap.iter().sum())];
                let mut per_clause = Vec::new();
                if let Some(g) = groups.filter(|g| !g.is_empty()) {
                    per_clause = super::group_capacity(&cap, g)?;
                    let min = per_clause.iter().copied().fold(f64::INFINITY, f64::min);
                    values.push(("clause-capacity-min".into(), min));
                    values.push((
                        "clause-capacity-mean".into(),
                        crate::stats::mean(&per_clause),
                    ));
                    values.push((
                        "feature-capacity-clauses".into(),
                        super::grouped_capacity(layer, g)?.iter().sum(),
                    ));
                }
                Ok(MetricValues { values, per_clause })
            }
            Metric::CosineSimilarity => Ok(MetricValues {
                values: vec![
                    (name, super::mean_cosine(layer)),
                    (
                        "cosine-similarity-abs".into(),
                        super::mean_abs_cosine(layer),
                    ),
                    (
                        "cosine-similarity-abs-full".into(),
                        super::mean_abs_cosine_full(layer),
                    ),
                ],
                per_clause: Vec::new(),
            }),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Metric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                Error::invalid(
                    "metric",
                    format!("unknown metric '{s}'; known: {}", names.join(", ")),
                )
            })
    }
}

impl TryFrom<String> for Metric {
    type Error = Error;
    fn try_from(s: String) -> Result<Metric> {
        s.parse()
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
            assert_eq!(serde_json::from_str::<Metric>(&json).unwrap(), m);
        }
        let err = serde_json::from_str::<Metric>("\"entropy\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown metric 'entropy'"), "{err}");
        assert!(err.contains("feature-capacity, cosine-similarity"), "{err}");
    }

    #[test]
    fn every_recorded_key_is_a_documented_reading() {
        use crate::nn::Linear;
        // W1 = [[1,2,0,1],[0,1,1,-1]], two clauses {0,1} and {2,3}.
        let w1 = Linear::from_parts(
            2,
            4,
            vec![1., 2., 0., 1., 0., 1., 1., -1.],
            vec![0.; 2],
            None,
        )
        .unwrap();
        let head = Linear::from_parts(1, 2, vec![1., 1.], vec![0.], None).unwrap();
        let model = Mlp::from_layers(vec![w1.clone(), head], crate::data::Task::Binary).unwrap();
        let groups = vec![vec![0, 1], vec![2, 3]];
        for m in Metric::ALL {
            let v = m.compute(&model, Some(&groups)).unwrap();
            assert_eq!(v.values[0].0, m.name());
            assert_eq!(m.readings()[0].0, m.name());
            let keys: Vec<&str> = m.readings().iter().map(|r| r.0).collect();
            assert_eq!(
                v.values.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                keys
            );
        }
        let v = Metric::FeatureCapacity
            .compute(&model, Some(&groups))
            .unwrap();
        let fc = v
            .values
            .iter()
            .find(|(k, _)| k == "feature-capacity-clauses")
            .unwrap()
            .1;
        let want: f64 = super::super::grouped_capacity(&w1, &groups)
            .unwrap()
            .iter()
            .sum();
        assert_eq!(fc, want);
        let v = Metric::CosineSimilarity.compute(&model, None).unwrap();
        assert_eq!(v.values[2].1, super::super::mean_abs_cosine_full(&w1));
    }
}
