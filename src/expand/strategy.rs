//! How a parent neuron's live inputs are dealt to its `alpha` children.
//!
//! Every strategy returns `alpha` disjoint sets whose union is exactly the parent's support.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A split strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Balanced random partition: shuffle the support, deal round-robin; child sizes differ by at most one.
    Random,
    /// Feature groups (for DNF data, the clauses) are kept whole; groups are dealt so that children's sizes
    /// are balanced (largest group first, to the least-loaded child).
    Clause,
}

impl Strategy {
    /// Every strategy, for help texts and error messages.
    pub const ALL: [Strategy; 2] = [Strategy::Random, Strategy::Clause];

    /// The strategy's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Clause => "clause",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Strategy::ALL
            .iter()
            .copied()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Strategy::ALL.iter().map(|s| s.name()).collect();
                Error::invalid(
                    "strategy",
                    format!(
                        "unknown strategy '{s}'; choose one of: {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// Partitions `support` (a parent's live input indices, ascending) into `alpha` disjoint, non-empty sets.
///
/// `groups` (disjoint feature groups over the layer's inputs) is required by [`Strategy::Clause`]; inputs of the
/// support that belong to no group are treated as groups of one.
pub fn partition(
    support: &[usize],
    alpha: usize,
    strategy: Strategy,
    groups: Option<&[Vec<usize>]>,
    rng: &mut Rng,
) -> Result<Vec<Vec<usize>>> {
    if alpha < 2 {
        return Err(Error::invalid(
            "alpha",
            format!("{alpha} is too small: FPE splits each neuron into alpha >= 2"),
        ));
    }
    if support.len() < alpha {
        return Err(Error::invalid(
            "alpha",
            format!("{alpha} children cannot share {} live inputs without an empty child: use alpha <= {}", support.len(), support.len()),
        ));
    }
    let mut children = vec![Vec::new(); alpha];
    match strategy {
        Strategy::Random => {
            let mut shuffled = support.to_vec();
            shuffled.shuffle(rng);
            for (i, &x) in shuffled.iter().enumerate() {
                children[i % alpha].push(x);
            }
        }
        Strategy::Clause => {
            let groups = groups.ok_or_else(|| {
                Error::invalid("strategy", "clause split needs feature groups (clauses); the data set has none: use --strategy random")
            })?;
            let max = support.iter().copied().max().unwrap_or(0);
            let mut in_support = vec![false; max + 1];
            for &s in support {
                in_support[s] = true;
            }
            let mut grouped = vec![false; max + 1];
            let mut parts: Vec<Vec<usize>> = Vec::new();
            for g in groups {
                let part: Vec<usize> = g
                    .iter()
                    .copied()
                    .filter(|&i| i <= max && in_support[i])
                    .collect();
                for &i in &part {
                    if grouped[i] {
                        return Err(Error::invalid(
                            "feature groups",
                            format!("input {i} belongs to more than one group"),
                        ));
                    }
                    grouped[i] = true;
                }
                if !part.is_empty() {
                    parts.push(part);
                }
            }
            parts.extend(support.iter().filter(|&&i| !grouped[i]).map(|&i| vec![i]));
            if parts.len() < alpha {
                return Err(Error::invalid(
                    "alpha",
                    format!(
                        "{alpha} children but only {} feature groups to deal: use alpha <= {}",
                        parts.len(),
                        parts.len()
                    ),
                ));
            }
            parts.shuffle(rng);
            parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
            let mut load = vec![0usize; alpha];
            for p in parts {
                let child = (0..alpha).min_by_key(|&c| (load[c], c)).unwrap();
                load[child] += p.len();
                children[child].extend(p);
            }
        }
    }
    for c in &mut children {
        c.sort_unstable();
    }
    Ok(children)
}
