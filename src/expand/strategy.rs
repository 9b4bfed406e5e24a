//! How a parent neuron's live inputs are dealt to its `alpha` children.
//!
//! Every strategy returns `alpha` disjoint sets whose union is exactly the parent's support.
//!
//! | strategy | what goes to a child | needs |
//! |---|---|---|
//! | `random` | a balanced random share (shuffle, deal round-robin) | nothing |
//! | `clause` | whole feature groups, balanced by size | feature groups (DNF clauses) |
//! | `gram` | whole clusters of the first-layer Gram matrix, as `clause` (Sec. 3.3) | the layer's weights ([`super::gram`]) |
//! | `two-four` | in every block of 4 consecutive inputs, 2 live inputs per child (A.7; alpha = 2) | nothing |
//! | `custom` | what the user says ([`super::Assignment`]) | an assignment |

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A split strategy. Serialized as its [`name`](Strategy::name); deserialized through [`FromStr`], so an unknown
/// name is an error that lists the known ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Strategy {
    /// Balanced random partition: shuffle the support, deal round-robin; child sizes differ by at most one.
    Random,
    /// Feature groups (for DNF data, the clauses) are kept whole; groups are dealt so that children's sizes
    /// are balanced (largest group first, to the least-loaded child).
    Clause,
    /// Feature clustering (Sec. 3.3): the rows of the layer's Gram matrix `G = W^T W` are clustered
    /// ([`super::gram::gram_groups`]) and the clusters are dealt as [`Strategy::Clause`] deals groups.
    Gram,
    /// 2:4 structured split (A.7), alpha = 2 only: in every block of 4 consecutive inputs (`4b..4b+4`) the live
    /// inputs are shuffled and dealt alternately, so each child gets at most 2 (exactly 2 for a dense block).
    TwoFour,
    /// A user-supplied assignment ([`super::Assignment`]), validated against the layer.
    Custom,
}

impl Strategy {
    /// Every strategy, for help texts and error messages.
    pub const ALL: [Strategy; 5] = [
        Strategy::Random,
        Strategy::Clause,
        Strategy::Gram,
        Strategy::TwoFour,
        Strategy::Custom,
    ];

    /// The strategy's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Clause => "clause",
            Strategy::Gram => "gram",
            Strategy::TwoFour => "two-four",
            Strategy::Custom => "custom",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Strategy {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Strategy> for &'static str {
    fn from(s: Strategy) -> &'static str {
        s.name()
    }
}

impl FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Strategy::ALL
            .iter()
            .copied()
            .find(|st| st.name() == s || (s == "2:4" && *st == Strategy::TwoFour))
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
/// `groups` (disjoint feature groups over the layer's inputs) is required by [`Strategy::Clause`] and
/// [`Strategy::Gram`] (which deals the Gram clusters it is given as groups); inputs of the support that belong
/// to no group are treated as groups of one. [`Strategy::Custom`] has no rule of its own: use
/// [`super::Assignment::parts`] (or [`super::expand_with`]).
pub fn partition(
    support: &[usize],
    alpha: usize,
    strategy: Strategy,
    groups: Option<&[Vec<usize>]>,
    rng: &mut Rng,
) -> Result<Vec<Vec<usize>>> {
    super::Alpha::new(alpha)?;
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
        Strategy::TwoFour => {
            if alpha != 2 {
                return Err(Error::invalid(
                    "alpha",
                    format!("the two-four (2:4) split puts 2 of every 4 inputs on each of 2 children, so it needs alpha = 2, not {alpha}"),
                ));
            }
            // One counter over all blocks: a full block gives 2 to each child, the odd leftovers of partial
            // blocks alternate between children, and with >= 2 live inputs no child is empty.
            let mut dealt = 0usize;
            let mut block: Vec<usize> = Vec::with_capacity(4);
            let mut rest = support;
            while let Some(&first) = rest.first() {
                let b = first / 4;
                let len = rest.iter().take_while(|&&i| i / 4 == b).count();
                block.clear();
                block.extend_from_slice(&rest[..len]);
                block.shuffle(rng);
                for &x in &block {
                    children[dealt % 2].push(x);
                    dealt += 1;
                }
                rest = &rest[len..];
            }
        }
        Strategy::Custom => {
            return Err(Error::invalid(
                "strategy",
                "the custom split needs a user assignment: pass it with --assignment FILE (library: expand_with)",
            ));
        }
        Strategy::Clause | Strategy::Gram => {
            let groups = groups.ok_or_else(|| {
                Error::invalid("strategy", "clause split needs feature groups (clauses); the data set has none: use --strategy random or gram")
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
