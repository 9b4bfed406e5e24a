//! User-supplied splits (the `custom` strategy): for every parent neuron, which of its live inputs go to which
//! child.
//!
//! File format (JSON), one object per expanded layer, or a list of them (in expansion order, for deep
//! networks):
//!
//! ```json
//! { "alpha": 2, "neurons": [ [[0, 1, 4], [2, 3, 5]], [[0, 2], [1, 3, 4, 5]] ] }
//! ```
//!
//! `neurons[p][j]` lists the inputs of child `j` of parent `p`. An assignment is valid for a layer when it has
//! one entry per neuron, `alpha` non-empty children per neuron, and the children of each neuron are disjoint and
//! cover exactly that neuron's live inputs.

use std::path::Path;

use crate::error::{Error, Result};
use crate::nn::Linear;

/// A custom split of one layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// Children per neuron.
    pub alpha: usize,
    /// `neurons[p][j]`: the inputs of child `j` of parent `p`.
    pub neurons: Vec<Vec<Vec<usize>>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Assignment),
    Many(Vec<Assignment>),
}

impl Assignment {
    /// Parses one assignment or a list of them from JSON text.
    pub fn parse_json(text: &str) -> Result<Vec<Assignment>> {
        match serde_json::from_str::<OneOrMany>(text) {
            Ok(OneOrMany::One(a)) => Ok(vec![a]),
            Ok(OneOrMany::Many(v)) => Ok(v),
            Err(e) => Err(Error::invalid(
                "assignment",
                format!("{e}; expected {{\"alpha\": A, \"neurons\": [[[inputs of child 0], [inputs of child 1], ...], ...]}} or a list of such objects"),
            )),
        }
    }

    /// Reads [`Assignment::parse_json`] from a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Vec<Assignment>> {
        let path = path.as_ref();
        let text = crate::limits::read_text(path)?;
        Self::parse_json(&text).map_err(|e| match e {
            Error::InvalidArgument { what, why } => {
                Error::invalid(what, format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// Checks that this assignment is a valid split of `layer` into `alpha` children per neuron.
    pub fn validate(&self, layer: &Linear, alpha: usize) -> Result<()> {
        let bad = |why: String| Err(Error::invalid("assignment", why));
        if self.alpha != alpha {
            return bad(format!(
                "it splits into alpha = {} children but the expansion uses alpha = {alpha}",
                self.alpha
            ));
        }
        if self.neurons.len() != layer.out_dim() {
            return bad(format!(
                "it has {} neurons but the layer has {}",
                self.neurons.len(),
                layer.out_dim()
            ));
        }
        let d = layer.in_dim();
        let mut owner = vec![usize::MAX; d];
        for (p, children) in self.neurons.iter().enumerate() {
            if children.len() != alpha {
                return bad(format!(
                    "neuron {p} has {} children, expected {alpha}",
                    children.len()
                ));
            }
            owner.iter_mut().for_each(|o| *o = usize::MAX);
            for (j, child) in children.iter().enumerate() {
                if child.is_empty() {
                    return bad(format!(
                        "child {j} of neuron {p} has no inputs; every child needs at least one"
                    ));
                }
                for &i in child {
                    if i >= d {
                        return bad(format!("neuron {p}, child {j}: input {i} is out of range (the layer has {d} inputs: 0..{})", d - 1));
                    }
                    if !layer.is_live(p, i) {
                        return bad(format!(
                            "neuron {p}, child {j}: input {i} is not a live input of the neuron"
                        ));
                    }
                    if owner[i] != usize::MAX {
                        return bad(format!("neuron {p}: input {i} is given to both child {} and child {j}; children must be disjoint", owner[i]));
                    }
                    owner[i] = j;
                }
            }
            if let Some(i) = (0..d).find(|&i| layer.is_live(p, i) && owner[i] == usize::MAX) {
                return bad(format!("neuron {p}: live input {i} is given to no child; children must cover every live input"));
            }
        }
        Ok(())
    }

    /// The children of parent `p`, each sorted ascending.
    pub fn parts(&self, p: usize) -> Vec<Vec<usize>> {
        self.neurons[p]
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.sort_unstable();
                c
            })
            .collect()
    }
}
