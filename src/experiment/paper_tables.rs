//! Tables A1 and A2 beside every reading of their metrics: for each paper metric the spec transcribes
//! (`feature-capacity`, `cosine-similarity`), each of our definitions of it ([`readings`]) is put beside the
//! paper's rows, per cell, model and expansion factor, with the relative deviation `(ours - paper) / paper`
//! per row and the mean absolute relative deviation per definition and alpha. Which reading the paper used is
//! not stated; this comparison is how `docs/REPRODUCTION.md` decides.

use crate::experiment::report::{paper_value, CellSummary, MeanSem, PaperScope};
use crate::experiment::spec::Spec;
use crate::metrics::Metric;

/// Our readings of the paper metric `metric` (its name in the spec's `[[paper]]` rows): the keys
/// [`Metric::compute`] records that are totals of the same quantity under another definition (their key starts
/// with the metric's name), with their definitions.
pub fn readings(metric: Metric) -> impl Iterator<Item = (&'static str, &'static str)> {
    metric
        .readings()
        .iter()
        .copied()
        .filter(move |(k, _)| k.starts_with(metric.name()))
}

/// One compared row: the paper's mean and ours for one definition, cell, model and alpha.
#[derive(Clone, Debug, PartialEq)]
pub struct Compared {
    /// Our metric key (the definition).
    pub key: &'static str,
    /// Cell key.
    pub cell: String,
    /// `dense` or a strategy name.
    pub model: String,
    /// Expansion factor (`None` for the dense model).
    pub alpha: Option<usize>,
    /// The paper's mean.
    pub paper: f64,
    /// Ours, mean ± SEM over trials.
    pub ours: MeanSem,
}

impl Compared {
    /// `(ours - paper) / paper`; `None` for a paper value of 0.
    pub fn rel_dev(&self) -> Option<f64> {
        (self.paper != 0.0).then(|| (self.ours.mean - self.paper) / self.paper)
    }
}

/// Every row where the spec transcribes the paper's value of a metric we read in several ways, for the cells
/// `scope` admits (the paper's configurations).
pub fn compare(spec: &Spec, scope: &PaperScope, summaries: &[CellSummary]) -> Vec<Compared> {
    let mut out = Vec::new();
    for metric in Metric::ALL {
        let paper_metric = metric.name();
        for (key, _) in readings(metric) {
            for c in summaries {
                for m in &c.models {
                    let Some(ours) = m.metrics.get(key) else {
                        continue;
                    };
                    let Some(p) =
                        paper_value(spec, scope, &c.cell, &m.model, m.alpha, paper_metric).value()
                    else {
                        continue;
                    };
                    out.push(Compared {
                        key,
                        cell: c.cell.key(),
                        model: m.model.clone(),
                        alpha: m.alpha,
                        paper: p.value,
                        ours: *ours,
                    });
                }
            }
        }
    }
    out
}

fn model_label(m: &Compared) -> String {
    match m.alpha {
        None => m.model.clone(),
        Some(a) => format!("{} (alpha={a})", m.model),
    }
}

fn mean_abs(xs: impl Iterator<Item = f64>) -> Option<(f64, usize)> {
    let v: Vec<f64> = xs.map(f64::abs).collect();
    (!v.is_empty()).then(|| (crate::stats::mean(&v), v.len()))
}

/// The comparison as markdown (empty when the spec transcribes none of the metrics' paper values or no run
/// recorded them, or `scope` admits none of its cells): a summary of the mean absolute relative deviation per
/// definition and alpha (dense rows apart), then every row.
pub fn markdown(spec: &Spec, scope: &PaperScope, summaries: &[CellSummary]) -> String {
    let rows = compare(spec, scope, summaries);
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "| paper metric | our definition | key | models | rows | mean abs. relative deviation |\n\
         |---|---|---|---|---:|---:|\n",
    );
    for (key, alpha, m, n) in summary_of(&rows) {
        let (paper_metric, def) = describe(key);
        let models = alpha.map_or("dense".to_string(), |a| format!("FPE, alpha={a}"));
        s.push_str(&format!(
            "| {paper_metric} | {def} | `{key}` | {models} | {n} | {:.1}% |\n",
            100.0 * m
        ));
    }
    s.push_str(
        "\n| our definition (key) | cell | model | ours (mean ± SEM) | paper | relative deviation |\n\
         |---|---|---|---:|---:|---:|\n",
    );
    for r in &rows {
        let dev = r
            .rel_dev()
            .map_or("-".to_string(), |d| format!("{:+.1}%", 100.0 * d));
        s.push_str(&format!(
            "| `{}` | {} | {} | {:.3} ± {:.3} | {} | {dev} |\n",
            r.key,
            r.cell,
            model_label(r),
            r.ours.mean,
            r.ours.sem,
            r.paper
        ));
    }
    s
}

/// The paper metric and definition of our metric `key`.
fn describe(key: &str) -> (&'static str, &'static str) {
    Metric::ALL
        .into_iter()
        .find_map(|m| {
            readings(m)
                .find(|(k, _)| *k == key)
                .map(|(_, d)| (m.name(), d))
        })
        .unwrap_or(("", ""))
}

/// The summary of [`markdown`]: `(key, alpha, mean abs. relative deviation, rows)` per definition and alpha
/// (`None`: the dense rows), in [`Metric::ALL`] and [`Metric::readings`] order.
pub fn summary(
    spec: &Spec,
    scope: &PaperScope,
    summaries: &[CellSummary],
) -> Vec<(&'static str, Option<usize>, f64, usize)> {
    summary_of(&compare(spec, scope, summaries))
}

fn summary_of(rows: &[Compared]) -> Vec<(&'static str, Option<usize>, f64, usize)> {
    let mut out = Vec::new();
    for metric in Metric::ALL {
        for (key, _) in readings(metric) {
            let mut alphas: Vec<Option<usize>> = rows
                .iter()
                .filter(|r| r.key == key)
                .map(|r| r.alpha)
                .collect();
            alphas.sort();
            alphas.dedup();
            for alpha in alphas {
                let devs = rows
                    .iter()
                    .filter(|r| r.key == key && r.alpha == alpha)
                    .filter_map(Compared::rel_dev);
                if let Some((m, n)) = mean_abs(devs) {
                    out.push((key, alpha, m, n));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::report::summarize;
    use crate::experiment::runner::{cells, ModelRecord, TrialRecord};

    fn model(name: &str, alpha: Option<usize>, metrics: &[(&str, f64)]) -> ModelRecord {
        ModelRecord {
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..ModelRecord::fixture(name, alpha, 0.9)
        }
    }

    #[test]
    fn every_definition_beside_the_paper_rows() {
        let spec = Spec::load("capacity-tables").unwrap();
        // 3 clauses: Table A1 prints 1.896 (dense), 2.740 (clause); Table A2 0.332 (dense), 0.230 (clause).
        let cell = cells(&spec)[0].clone();
        let records: Vec<TrialRecord> = (0..2)
            .map(|t| TrialRecord {
                spec: spec.name.clone(),
                fingerprint: String::new(),
                cell: cell.key(),
                trial: t,
                seed: 0,
                pre_test_acc: 0.7,
                pre_nnz: 264,
                models: vec![
                    model(
                        "dense",
                        None,
                        &[
                            ("feature-capacity", 1.896 * 2.0),
                            ("feature-capacity-clauses", 1.896),
                        ],
                    ),
                    model(
                        "clause",
                        Some(2),
                        &[
                            ("feature-capacity-clauses", 2.740 * (1.0 + 0.1 * t as f64)),
                            ("cosine-similarity-abs-full", 0.230 / 2.0),
                        ],
                    ),
                ],
                pre_seconds: 1.0,
                protocol: None,
                n_train: None,
                n_test: None,
                provenance: None,
            })
            .collect();
        let s = summarize(&spec, &records);
        let scope = PaperScope::committed(&spec);
        let rows = compare(&spec, &scope, &s);
        assert_eq!(rows.len(), 4, "{rows:?}");
        let sum = summary(&spec, &scope, &s);
        let get = |k: &str, a: Option<usize>| {
            sum.iter()
                .find(|(key, alpha, ..)| *key == k && *alpha == a)
                .map(|&(_, _, m, n)| (m, n))
                .unwrap()
        };
        // Dense per input: twice the paper's value -> +100%; per clause: exact.
        assert!((get("feature-capacity", None).0 - 1.0).abs() < 1e-12);
        assert!(get("feature-capacity-clauses", None).0.abs() < 1e-12);
        // Clause split: trials at 1.0x and 1.1x -> mean 1.05x -> 5%.
        let (m, n) = get("feature-capacity-clauses", Some(2));
        assert!((m - 0.05).abs() < 1e-12 && n == 1);
        assert!((get("cosine-similarity-abs-full", Some(2)).0 - 0.5).abs() < 1e-12);
        let md = markdown(&spec, &scope, &s);
        assert!(
            md.contains("| +100.0% |") && md.contains("| 5.0% |") && md.contains("| -50.0% |"),
            "{md}"
        );
        // Under another configuration (fewer epochs after the split), no row is compared.
        let mut shorter = spec.clone();
        shorter.train.post_epochs = Some(10);
        let other = PaperScope::new(&spec, &shorter);
        assert!(compare(&shorter, &other, &s).is_empty());
        assert!(markdown(&shorter, &other, &s).is_empty());
        // Without any of the readings, nothing.
        let cs = Spec::load("case-study").unwrap();
        assert!(markdown(&cs, &PaperScope::committed(&cs), &[]).is_empty());
    }
}
