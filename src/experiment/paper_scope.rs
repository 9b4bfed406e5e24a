//! Which cells of a run are configurations the paper ran, and what the run changed from the committed spec.
//!
//! A spec's `[[paper]]` entries are the paper's numbers for the spec's committed settings. A run may change
//! any of them (`reproduce --post-epochs 10`, `--set train.lr=0.01`, another spec file's values); its report
//! then must not put a paper number beside a configuration the paper did not run. [`PaperScope`] compares the
//! effective spec with the committed one, key by key, and sorts every difference into one of three kinds:
//!
//! * **presentation and sampling** keys change no configuration: the title, the seed (another draw of the same
//!   experiment), the shard count, the report options, the metrics recorded, the curve interval, the list of
//!   strategies (each paper entry names its model), the FashionMNIST folder;
//! * **grid axes** (`dataset.clauses`, `model.neurons`, `model.alpha`, `model.depth`, `train.pre_epochs`) are
//!   judged per cell: a cell is the paper's when each axis value equals the entry's own key where the entry
//!   names one (`clauses = 8`), and is one of the committed axis values where it does not;
//! * **every other key** (epochs after the split, batch, learning rate, L1/L2, sample counts, trials, literals
//!   per clause, LayerNorm where it changes a depth's choice, rewiring, and any key added later) makes every
//!   cell another configuration: no paper number is shown at all.
//!
//! The report's title and header list every difference ([`PaperScope::overrides`]).

use crate::experiment::runner::Cell;
use crate::experiment::spec::{DatasetSpec, PaperValue, Spec};

/// One key whose effective value differs from the committed spec's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Dotted spec key (`train.post_epochs`).
    pub key: String,
    /// The committed value as TOML (`unset` when the committed spec does not set it: its default).
    pub committed: String,
    /// The effective value as TOML (`unset` when the run removed it).
    pub effective: String,
    /// What the difference does to the paper comparison.
    pub kind: OverrideKind,
}

/// What a difference from the committed spec does to the paper comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverrideKind {
    /// Changes no configuration (title, seed, report options, ...).
    Neutral,
    /// A grid axis: judged per cell.
    Axis,
    /// Every cell is another configuration than the paper's.
    Blocking,
}

/// Keys that change no configuration the paper's numbers depend on.
const NEUTRAL: &[&str] = &[
    "name",
    "title",
    "paper_ref",
    "seed",
    "shards",
    "report",
    "extras.metrics",
    "train.curve_every",
    "model.strategies",
    "dataset.data_dir",
];

/// The grid axes, judged per cell.
const AXES: &[&str] = &[
    "dataset.clauses",
    "model.neurons",
    "model.alpha",
    "model.depth",
    "train.pre_epochs",
];

/// The committed spec's grid axes and the run's differences from it.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperScope {
    overrides: Vec<Override>,
    clauses: Option<Vec<usize>>,
    neurons: Vec<usize>,
    alpha: Vec<usize>,
    depth: Vec<usize>,
    pre_epochs: Vec<usize>,
}

impl PaperScope {
    /// The scope of a run of `effective`, a copy of `committed` with overrides applied.
    pub fn new(committed: &Spec, effective: &Spec) -> PaperScope {
        let mut overrides = Vec::new();
        let (a, b) = (flatten(committed), flatten(effective));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            if x == y {
                continue;
            }
            let kind = if NEUTRAL
                .iter()
                .any(|n| key == n || key.starts_with(&format!("{n}.")))
            {
                OverrideKind::Neutral
            } else if AXES.contains(&key.as_str()) {
                OverrideKind::Axis
            } else if key == "model.layernorm"
                && effective
                    .model
                    .depth
                    .iter()
                    .all(|&d| effective.layernorm(d) == committed.layernorm(d))
            {
                // `--layernorm false` on a one-hidden-layer spec: the same networks.
                OverrideKind::Neutral
            } else {
                OverrideKind::Blocking
            };
            let text = |v: Option<&toml::Value>| v.map_or("unset".to_string(), show);
            overrides.push(Override {
                key: key.clone(),
                committed: text(x),
                effective: text(y),
                kind,
            });
        }
        PaperScope {
            overrides,
            clauses: match &committed.dataset {
                DatasetSpec::Dnf { clauses, .. } => Some(clauses.clone()),
                _ => None,
            },
            neurons: committed.model.neurons.clone(),
            alpha: committed.model.alpha.iter().map(|a| a.get()).collect(),
            depth: committed.model.depth.clone(),
            pre_epochs: committed.train.pre_epochs.clone(),
        }
    }

    /// The scope of a run at the committed settings of `spec` (no overrides).
    pub fn committed(spec: &Spec) -> PaperScope {
        PaperScope::new(spec, spec)
    }

    /// Every key whose effective value differs from the committed spec's, in key order.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The overrides that make every cell another configuration than the paper's.
    pub fn blocking(&self) -> impl Iterator<Item = &Override> {
        self.overrides
            .iter()
            .filter(|o| o.kind == OverrideKind::Blocking)
    }

    /// Whether the paper's entry `p` (found for `cell` by its own keys) describes `cell` for a model of
    /// expansion factor `alpha` (`None`: dense) as this run trained it.
    pub fn admits(&self, p: &PaperValue, cell: &Cell, alpha: Option<usize>) -> bool {
        if self.blocking().next().is_some() {
            return false;
        }
        let on = |key: Option<usize>, have: usize, committed: &[usize]| match key {
            Some(k) => k == have,
            None => committed.contains(&have),
        };
        let clauses = match (cell.clauses, &self.clauses) {
            (Some(c), Some(committed)) => on(p.clauses, c, committed),
            (None, None) => p.clauses.is_none(),
            _ => false,
        };
        let alpha = match alpha {
            Some(a) => on(p.alpha, a, &self.alpha),
            None => true, // the dense model does not depend on alpha
        };
        clauses
            && alpha
            && on(p.neurons, cell.neurons, &self.neurons)
            && on(p.depth, cell.depth, &self.depth)
            && self.pre_epochs.contains(&cell.pre_epochs)
    }

    /// The overrides in one line for a title (`train.post_epochs = 10, trials = 2`), empty without any.
    pub fn title_suffix(&self) -> String {
        self.overrides
            .iter()
            .map(|o| format!("{} = {}", o.key, o.effective))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The report's header paragraph: every override with its committed value, and which cells may show the
    /// paper's numbers (`has_paper`: the spec transcribes any).
    pub fn markdown(&self, has_paper: bool) -> String {
        if self.overrides.is_empty() {
            return "Run at the committed spec's settings (no overrides).\n".into();
        }
        let mut s = String::from("Overrides of the committed spec (committed -> this run):\n\n");
        for o in &self.overrides {
            let note = match o.kind {
                OverrideKind::Neutral => "changes no configuration",
                OverrideKind::Axis => "grid axis: judged per cell",
                OverrideKind::Blocking => "another configuration than the paper's",
            };
            s.push_str(&format!(
                "- `{}`: {} -> {} ({note})\n",
                o.key, o.committed, o.effective
            ));
        }
        if has_paper {
            let blocking: Vec<String> = self.blocking().map(|o| format!("`{}`", o.key)).collect();
            s.push('\n');
            s.push_str(&if blocking.is_empty() {
                "The paper's numbers are shown only beside cells at a configuration the paper ran; the others \
                 say \"other configuration\".\n"
                    .to_string()
            } else {
                format!(
                    "No paper number is shown: the paper did not run this configuration ({} differ{}); its \
                     cells say \"other configuration\".\n",
                    blocking.join(", "),
                    if blocking.len() == 1 { "s" } else { "" }
                )
            });
        }
        s
    }
}

/// A TOML value for a header: floats as the `f32` the spec holds (`0.001`, not `0.0010000000474974513`).
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) if f.is_finite() && (*f as f32) as f64 == *f => {
            format!("{}", *f as f32)
        }
        toml::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// The spec as dotted keys (`train.lr`) to values, tables flattened, the paper's entries left out.
fn flatten(spec: &Spec) -> std::collections::BTreeMap<String, toml::Value> {
    fn walk(
        prefix: &str,
        table: &toml::Table,
        out: &mut std::collections::BTreeMap<String, toml::Value>,
    ) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                v => {
                    out.insert(key, v.clone());
                }
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if let Ok(mut table) = toml::Table::try_from(spec) {
        table.remove("paper");
        walk("", &table, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::runner::cells;

    #[test]
    fn no_overrides_admit_every_paper_cell() {
        let spec = Spec::load("capacity-tables").unwrap();
        let scope = PaperScope::committed(&spec);
        assert!(scope.overrides().is_empty());
        assert!(scope.markdown(true).contains("no overrides"));
        let cell = &cells(&spec)[0];
        let p = &spec.paper[0];
        assert!(scope.admits(p, cell, None) && scope.admits(p, cell, Some(4)));
    }

    #[test]
    fn another_epoch_count_blocks_every_cell_and_is_listed() {
        let committed = Spec::load("case-study").unwrap();
        let mut run = committed.clone();
        run.train.post_epochs = Some(10);
        run.seed = 3;
        let scope = PaperScope::new(&committed, &run);
        let keys: Vec<(&str, OverrideKind)> = scope
            .overrides()
            .iter()
            .map(|o| (o.key.as_str(), o.kind))
            .collect();
        assert_eq!(
            keys,
            [
                ("seed", OverrideKind::Neutral),
                ("train.post_epochs", OverrideKind::Blocking)
            ]
        );
        let cell = &cells(&run)[0];
        assert!(!scope.admits(&committed.paper[0], cell, Some(2)));
        let md = scope.markdown(true);
        assert!(
            md.contains("`train.post_epochs`: 1000 -> 10") && md.contains("No paper number"),
            "{md}"
        );
        assert_eq!(scope.title_suffix(), "seed = 3, train.post_epochs = 10");
        // The seed alone is another draw of the same experiment.
        let mut reseeded = committed.clone();
        reseeded.seed = 3;
        let scope = PaperScope::new(&committed, &reseeded);
        assert!(scope.admits(&committed.paper[0], cell, Some(2)));
    }

    #[test]
    fn axis_overrides_are_judged_per_cell() {
        let committed = Spec::load("capacity-tables").unwrap();
        let mut run = committed.clone();
        run.model.neurons = vec![8, 16];
        run.model.alpha = vec![crate::expand::Alpha::new(2).unwrap()];
        let scope = PaperScope::new(&committed, &run);
        assert!(scope.blocking().next().is_none());
        let grid = cells(&run);
        let at = |n: usize| grid.iter().find(|c| c.neurons == n).unwrap();
        let p = &committed.paper[0]; // dense, 3 clauses, no neurons key
        assert!(scope.admits(p, at(8), None));
        assert!(
            !scope.admits(p, at(16), None),
            "16 neurons is not the paper's"
        );
        // An entry's own key decides where it names one; alpha outside the committed list does not fit.
        let mut named = p.clone();
        named.neurons = Some(16);
        assert!(scope.admits(&named, at(16), None));
        assert!(!scope.admits(p, at(8), Some(8)));
        // A learning rate is not an axis: every cell is another configuration.
        run.train.lr = 0.01;
        let scope = PaperScope::new(&committed, &run);
        assert!(!scope.admits(p, at(8), None));
        assert!(scope.markdown(true).contains("`train.lr`: 0.001 -> 0.01"));
    }

    #[test]
    fn layernorm_that_changes_nothing_is_neutral() {
        let committed = Spec::load("case-study").unwrap();
        let mut run = committed.clone();
        run.model.layernorm = Some(false); // depth 2 has none anyway
        let scope = PaperScope::new(&committed, &run);
        assert_eq!(scope.overrides().len(), 1);
        assert!(scope.blocking().next().is_none());
        run.model.layernorm = Some(true);
        assert!(PaperScope::new(&committed, &run)
            .blocking()
            .next()
            .is_some());
    }
}
