//! The protocol lines of a report's header, and the comparison of protocol variants (a spec's `[[variants]]`,
//! e.g. `experiments/protocol-ablation.toml`) with the reference variant.
//!
//! Per model cell, FPE model and variant: the relative improvement over the dense model of the same trial,
//! `RI_t = acc_t(FPE) / acc_t(dense) - 1`, as mean ± SEM over trials, its difference from the reference
//! variant's, and the two-sided p-value of that difference: the paired t-test over trials when every trial of
//! the variant has its reference trial (variants share seeds, data and initialisations, see
//! [`crate::experiment::runner::Cell::model_key`]), else Welch's. The reference is the first variant that
//! changes nothing (`set = []`), else the first variant.

use std::collections::BTreeMap;

use crate::experiment::record::TrialRecord;
use crate::experiment::runner::cells;
use crate::experiment::spec::{DatasetSpec, Spec};
use crate::stats;

/// The report header's lines on the protocol and the sample counts (markdown list items).
pub fn header(spec: &Spec) -> String {
    let mut s = format!(
        "- protocol (Alg. A3's open choices, spec `[protocol]`): {}\n",
        spec.protocol.describe()
    );
    for v in &spec.variants {
        s.push_str(&format!(
            "  - variant `{}`: {}\n",
            v.name,
            if v.set.is_empty() {
                "as above".to_string()
            } else {
                v.set.join(", ")
            }
        ));
    }
    let count = |n: Option<usize>| n.map_or("all".to_string(), |n| n.to_string());
    let (train, test) = match &spec.dataset {
        DatasetSpec::Dnf {
            n_train, n_test, ..
        } => (n_train.to_string(), n_test.to_string()),
        DatasetSpec::FashionMnist {
            n_train, n_test, ..
        }
        | DatasetSpec::Embeddings {
            n_train, n_test, ..
        } => (count(*n_train), count(*n_test)),
    };
    s.push_str(&format!(
        "- samples: {train} training, {test} test (per trial for generated data)\n- trials: {} per cell; \
         tables give mean ± SEM and the best of them (Alg. A3 keeps the best of T)\n",
        spec.trials
    ));
    s
}

/// One variant of one model cell: per FPE model label, the per-trial relative improvements by trial index.
type Ris = BTreeMap<String, BTreeMap<usize, f64>>;

/// The relative improvement of one FPE model under one variant, against the reference variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariantRi {
    /// Trials.
    pub trials: usize,
    /// Mean RI over trials (fraction).
    pub mean: f64,
    /// Its SEM.
    pub sem: f64,
    /// The mean minus the reference's (0 for the reference).
    pub delta: f64,
    /// p against the reference (None for the reference itself or when undefined).
    pub p: Option<f64>,
    /// Whether `p` is paired (else Welch's).
    pub paired: bool,
}

/// A row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The model cell's key (without the variant).
    pub cell: String,
    /// Hidden width of the cell.
    pub neurons: usize,
    /// The variant.
    pub variant: String,
    /// Its changes to the protocol (`-` for none).
    pub changes: String,
    /// Per FPE model label (`random@2`).
    pub models: BTreeMap<String, VariantRi>,
    /// Dense accuracy after the post-split epochs, mean over trials.
    pub dense_acc: f64,
}

/// Every row of the comparison, in grid order; empty without variants.
pub fn rows(spec: &Spec, records: &[TrialRecord]) -> Vec<Row> {
    if spec.variants.is_empty() {
        return Vec::new();
    }
    let reference = spec
        .variants
        .iter()
        .find(|v| v.set.is_empty())
        .unwrap_or(&spec.variants[0])
        .name
        .clone();
    let mut by_cell: BTreeMap<String, (Ris, Vec<f64>)> = BTreeMap::new();
    for r in records {
        let Some(dense) = r.models.iter().find(|m| m.alpha.is_none()) else {
            continue;
        };
        let entry = by_cell.entry(r.cell.clone()).or_default();
        entry.1.push(dense.test_acc);
        for m in r.models.iter().filter(|m| m.alpha.is_some()) {
            if dense.test_acc > 0.0 {
                entry
                    .0
                    .entry(format!("{}@{}", m.model, m.alpha.unwrap_or(0)))
                    .or_default()
                    .insert(r.trial, m.test_acc / dense.test_acc - 1.0);
            }
        }
    }
    let mut out = Vec::new();
    let grid = cells(spec);
    for cell in &grid {
        let Some(variant) = cell.variant.clone() else {
            continue;
        };
        let Some((ris, dense)) = by_cell.get(&cell.key()) else {
            continue;
        };
        let reference_key = format!("{} protocol={reference}", cell.model_key());
        let reference_ris = by_cell.get(&reference_key).map(|c| &c.0);
        let mut models = BTreeMap::new();
        for (label, trials) in ris {
            let xs: Vec<f64> = trials.values().copied().collect();
            let base = reference_ris.and_then(|r| r.get(label));
            let (delta, p, paired) = match base {
                Some(b) if variant != reference => {
                    let bs: Vec<f64> = b.values().copied().collect();
                    let matched: Option<Vec<(f64, f64)>> = trials
                        .iter()
                        .map(|(t, &x)| b.get(t).map(|&y| (x, y)))
                        .collect();
                    let delta = stats::mean(&xs) - stats::mean(&bs);
                    match matched.filter(|m| m.len() == b.len()) {
                        Some(pairs) => {
                            let (a, c): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                            (delta, stats::paired_t_test(&a, &c).map(|t| t.2), true)
                        }
                        None => (delta, stats::welch_t_test(&xs, &bs).map(|t| t.2), false),
                    }
                }
                _ => (0.0, None, false),
            };
            models.insert(
                label.clone(),
                VariantRi {
                    trials: xs.len(),
                    mean: stats::mean(&xs),
                    sem: stats::sem(&xs),
                    delta,
                    p,
                    paired,
                },
            );
        }
        let set = spec
            .variants
            .iter()
            .find(|v| v.name == variant)
            .map_or(Vec::new(), |v| v.set.clone());
        out.push(Row {
            cell: cell.model_key(),
            neurons: cell.neurons,
            variant,
            changes: if set.is_empty() {
                "-".into()
            } else {
                set.join(", ")
            },
            models,
            dense_acc: stats::mean(dense),
        });
    }
    out
}

/// The comparison as a markdown section body (empty without variants): a table per model cell, then, per FPE
/// model, the variants whose relative improvement differs from the reference's at p < 0.05.
pub fn markdown(spec: &Spec, records: &[TrialRecord]) -> String {
    let rows = rows(spec, records);
    if rows.is_empty() {
        return String::new();
    }
    let labels: Vec<String> = {
        let mut l: Vec<String> = rows.iter().flat_map(|r| r.models.keys().cloned()).collect();
        l.sort();
        l.dedup();
        l
    };
    let mut s = String::from("| cell | variant | changes | dense % |");
    for l in &labels {
        s.push_str(&format!(" {l} RI % (± SEM) | Δ RI pp | p vs reference |"));
    }
    s.push_str("\n|---|---|---|---:|");
    for _ in &labels {
        s.push_str("---:|---:|---:|");
    }
    s.push('\n');
    for r in &rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} |",
            r.cell,
            r.variant,
            r.changes,
            100.0 * r.dense_acc
        ));
        for l in &labels {
            match r.models.get(l) {
                Some(&VariantRi {
                    trials: n,
                    mean,
                    sem,
                    delta,
                    p,
                    paired,
                }) => s.push_str(&format!(
                    " {:+.1} ± {:.1} (n={n}) | {} | {} |",
                    100.0 * mean,
                    100.0 * sem,
                    if p.is_some() {
                        format!("{:+.1}", 100.0 * delta)
                    } else {
                        String::new()
                    },
                    p.map_or(String::new(), |p| format!(
                        "{p:.3}{}{}",
                        if paired { "" } else { " (Welch)" },
                        if p < 0.05 { " *" } else { "" }
                    ))
                )),
                None => s.push_str(" | | |"),
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\nRI per trial: acc(FPE) / acc(dense) - 1 with the dense model of the same trial and variant; mean ± SEM \
         over trials. Δ RI: the variant's mean minus the reference's, in percentage points. p: two-sided paired \
         t-test of the per-trial RI against the reference variant's (the variants of a cell share seeds, data and \
         initialisations), Welch's where trials do not pair; * marks p < 0.05, uncorrected for the number of \
         comparisons.\n\nVariants that move the relative improvement at p < 0.05:\n\n",
    );
    let mut any = false;
    for l in &labels {
        for r in &rows {
            if let Some(&VariantRi {
                delta, p: Some(p), ..
            }) = r.models.get(l)
            {
                if p < 0.05 {
                    any = true;
                    s.push_str(&format!(
                        "- {l}, {} neurons: `{}` ({}) {:+.1} pp, p = {p:.3}\n",
                        r.neurons,
                        r.variant,
                        r.changes,
                        100.0 * delta
                    ));
                }
            }
        }
    }
    if !any {
        s.push_str("- none\n");
    }
    s
}

/// `md` with `section` (a markdown body) inserted as "## Protocol variants" before its provenance section (at
/// the end if it has none); `md` unchanged when `section` is empty.
pub fn insert_section(md: String, section: &str) -> String {
    if section.is_empty() {
        return md;
    }
    let block = format!("\n## Protocol variants against the reference\n\n{section}");
    match md.find("\n## Provenance") {
        Some(i) => format!("{}{block}{}", &md[..i], &md[i..]),
        None => md + &block,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::trial::ModelRecord;

    fn model(name: &str, alpha: Option<usize>, acc: f64) -> ModelRecord {
        ModelRecord::fixture(name, alpha, acc)
    }

    #[test]
    fn variants_compare_trial_by_trial_with_the_reference() {
        let spec = Spec::load("protocol-ablation").unwrap();
        let grid = cells(&spec);
        let cell = |v: &str| {
            grid.iter()
                .find(|c| c.neurons == 12 && c.variant.as_deref() == Some(v))
                .unwrap()
                .key()
        };
        // (dense, random) accuracies per trial of the reference and of one variant.
        let paper = [(0.8, 0.8), (0.9, 0.81), (0.5, 0.55)];
        let carry = [(0.8, 0.84), (0.9, 0.9), (0.5, 0.6)];
        let mut records = Vec::new();
        for (v, accs) in [("paper", paper), ("adam-carry", carry)] {
            for (t, &(d, r)) in accs.iter().enumerate() {
                records.push(TrialRecord {
                    spec: spec.name.clone(),
                    fingerprint: String::new(),
                    cell: cell(v),
                    trial: t,
                    seed: 0,
                    pre_test_acc: d,
                    pre_nnz: 264,
                    models: vec![model("dense", None, d), model("random", Some(2), r)],
                    pre_seconds: 1.0,
                    protocol: None,
                    n_train: None,
                    n_test: None,
                    provenance: None,
                });
            }
        }
        let rows = rows(&spec, &records);
        assert_eq!(rows.len(), 2);
        let ri = |a: &[(f64, f64)]| -> Vec<f64> { a.iter().map(|(d, r)| r / d - 1.0).collect() };
        let (rp, rc) = (ri(&paper), ri(&carry));
        let reference = &rows.iter().find(|r| r.variant == "paper").unwrap().models["random@2"];
        assert_eq!(reference.p, None);
        assert!((reference.mean - stats::mean(&rp)).abs() < 1e-12);
        assert!((reference.sem - stats::sem(&rp)).abs() < 1e-12);
        let variant = &rows
            .iter()
            .find(|r| r.variant == "adam-carry")
            .unwrap()
            .models["random@2"];
        assert!((variant.delta - (stats::mean(&rc) - stats::mean(&rp))).abs() < 1e-12);
        assert_eq!(variant.p, Some(stats::paired_t_test(&rc, &rp).unwrap().2));
        assert!(variant.paired);
        let md = markdown(&spec, &records);
        assert!(md.contains("adam=carry"), "{md}");
        let with = insert_section("# r\n\n## Provenance, machine\n".into(), &md);
        assert!(with.find("## Protocol variants").unwrap() < with.find("## Provenance").unwrap());
        assert!(header(&spec).contains("10000 training, 2000 test"));
        assert!(header(&spec).contains("variant `prune-per-layer`: prune=per-layer"));
    }
}
