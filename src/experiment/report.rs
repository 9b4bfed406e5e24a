//! Reports: per-cell summaries over trials and a markdown report with the paper's numbers beside ours.
//!
//! Per cell and post-split model: mean +- SEM of test accuracy over trials; the relative improvement over the
//! dense model trained as long, `RI = mean(FPE) / mean(dense) - 1`, with its SEM by the delta method for a
//! ratio of independent means, `SEM(RI) = (mean(FPE) / mean(dense)) * sqrt((SEM_F / mean_F)^2 +
//! (SEM_D / mean_D)^2)` (conservative here: the two share each trial's pre-trained model, so they are positively
//! correlated); Welch's t-test of FPE against dense accuracies (unequal variances, two-sided), starred at
//! p < 0.05 as in the paper, and the paired t-test beside it; optionally Holm-adjusted over the grid
//! ([`correct`]); and accuracy per non-zero weight.
//!
//! The paper's numbers sit beside ours only for cells at a configuration the paper ran ([`PaperScope`]); the
//! header lists every override of the committed spec.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::experiment::paper_scope::PaperScope;
use crate::experiment::runner::{cells, Cell, TrialRecord};
use crate::experiment::spec::{PaperValue, Spec};
use crate::stats::{self, Correction};

/// Mean +- SEM over trials.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanSem {
    /// Mean.
    pub mean: f64,
    /// Standard error of the mean.
    pub sem: f64,
}

impl MeanSem {
    fn of(xs: &[f64]) -> MeanSem {
        MeanSem {
            mean: stats::mean(xs),
            sem: stats::sem(xs),
        }
    }
}

/// One post-split model of one cell, over its trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// `dense` or a strategy name.
    pub model: String,
    /// Expansion factor (FPE models).
    pub alpha: Option<usize>,
    /// Hidden width.
    pub hidden: usize,
    /// Live weights.
    pub nnz: usize,
    /// Test accuracy (fraction).
    pub test_acc: MeanSem,
    /// Relative improvement over the dense model (fraction), FPE models only.
    pub ri: Option<MeanSem>,
    /// Welch t-test p-value against the dense model, FPE models only (None when undefined).
    pub p_value: Option<f64>,
    /// Paired t-test p-value against the dense model of the same trial (they share the pre-training and the
    /// batch order), FPE models only (None when undefined).
    #[serde(default)]
    pub p_paired: Option<f64>,
    /// `p_value` adjusted for multiple comparisons over the grid (see [`correct`]); `None` without a correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_adjusted: Option<f64>,
    /// `p_paired` adjusted for multiple comparisons over the grid; `None` without a correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_paired_adjusted: Option<f64>,
    /// The best test accuracy over the trials (Alg. A3 returns the best of T trials).
    #[serde(default)]
    pub best_test_acc: f64,
    /// Mean test accuracy per non-zero weight.
    pub acc_per_nnz: f64,
    /// Interference metrics, by name.
    pub metrics: BTreeMap<String, MeanSem>,
    /// Fold change of every metric against the dense model of the same trial (`metric(FPE) / metric(dense)`,
    /// mean ± SEM over the trials whose dense value is not zero), FPE models only.
    #[serde(default)]
    pub metric_fold: BTreeMap<String, MeanSem>,
    /// Test accuracy every `curve_every` post-split epochs, mean ± SEM over trials.
    #[serde(default)]
    pub curve: Vec<(usize, MeanSem)>,
}

impl ModelSummary {
    /// The Welch p-value the report shows and stars: adjusted when a correction was applied, else raw.
    pub fn p_welch_shown(&self) -> Option<f64> {
        self.p_value_adjusted.or(self.p_value)
    }

    /// The paired p-value the report shows and stars: adjusted when a correction was applied, else raw.
    pub fn p_paired_shown(&self) -> Option<f64> {
        self.p_paired_adjusted.or(self.p_paired)
    }
}

/// One grid cell over its trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// The cell.
    pub cell: Cell,
    /// Trials found.
    pub trials: usize,
    /// Dense test accuracy before the split.
    pub pre_test_acc: MeanSem,
    /// Dense live weights.
    pub pre_nnz: usize,
    /// Post-split models: dense first.
    pub models: Vec<ModelSummary>,
}

/// Summarises `records` cell by cell, in grid order (cells without records, and trials beyond the spec's
/// count, are left out).
pub fn summarize(spec: &Spec, records: &[TrialRecord]) -> Vec<CellSummary> {
    let mut out = Vec::new();
    for cell in cells(spec) {
        let key = cell.key();
        // One record per trial (the store already drops duplicates; n must count distinct trials whatever the
        // caller passes), all with the same post-split models as the first.
        let mut seen = std::collections::HashSet::new();
        let mut recs: Vec<&TrialRecord> = records
            .iter()
            .filter(|r| r.cell == key && r.trial < spec.trials && seen.insert(r.trial))
            .collect();
        let Some(&first) = recs.first() else { continue };
        if first.models.is_empty() {
            continue;
        }
        recs.retain(|r| r.models.len() == first.models.len());
        let pre: Vec<f64> = recs.iter().map(|r| r.pre_test_acc).collect();
        let accs = |i: usize| -> Vec<f64> { recs.iter().map(|r| r.models[i].test_acc).collect() };
        let dense = accs(0);
        let md = MeanSem::of(&dense);
        let models = first
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let a = accs(i);
                let ms = MeanSem::of(&a);
                let fpe = m.alpha.is_some();
                let ri = (fpe && md.mean > 0.0 && ms.mean > 0.0).then(|| {
                    let r = ms.mean / md.mean;
                    MeanSem {
                        mean: r - 1.0,
                        sem: r * ((ms.sem / ms.mean).powi(2) + (md.sem / md.mean).powi(2)).sqrt(),
                    }
                });
                let mut metrics = BTreeMap::new();
                let mut metric_fold = BTreeMap::new();
                for name in m.metrics.keys() {
                    let v: Vec<f64> = recs
                        .iter()
                        .filter_map(|r| r.models[i].metrics.get(name).copied())
                        .collect();
                    metrics.insert(name.clone(), MeanSem::of(&v));
                    let fold: Vec<f64> = recs
                        .iter()
                        .filter_map(|r| {
                            let d = *r.models[0].metrics.get(name)?;
                            let x = *r.models[i].metrics.get(name)?;
                            (d != 0.0).then(|| x / d)
                        })
                        .collect();
                    if fpe && !fold.is_empty() {
                        metric_fold.insert(name.clone(), MeanSem::of(&fold));
                    }
                }
                let curve = m
                    .curve
                    .iter()
                    .enumerate()
                    .map(|(j, &(e, _))| {
                        let v: Vec<f64> = recs
                            .iter()
                            .filter_map(|r| r.models[i].curve.get(j).map(|p| p.1))
                            .collect();
                        (e, MeanSem::of(&v))
                    })
                    .collect();
                ModelSummary {
                    model: m.model.clone(),
                    alpha: m.alpha,
                    hidden: m.hidden,
                    nnz: m.nnz,
                    test_acc: ms,
                    ri,
                    p_value: if fpe {
                        stats::welch_t_test(&a, &dense).map(|t| t.2)
                    } else {
                        None
                    },
                    p_paired: if fpe {
                        stats::paired_t_test(&a, &dense).map(|t| t.2)
                    } else {
                        None
                    },
                    p_value_adjusted: None,
                    p_paired_adjusted: None,
                    best_test_acc: a.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    acc_per_nnz: ms.mean / m.nnz.max(1) as f64,
                    metrics,
                    metric_fold,
                    curve,
                }
            })
            .collect();
        out.push(CellSummary {
            cell,
            trials: recs.len(),
            pre_test_acc: MeanSem::of(&pre),
            pre_nnz: first.pre_nnz,
            models,
        });
    }
    out
}

/// Adjusts the per-cell p-values of `summaries` for multiple comparisons with `correction`: every FPE-vs-dense
/// Welch test of the grid (all cells, strategies and alphas) is one family, every paired test another. The
/// raw values stay in `p_value` / `p_paired`; the adjusted ones go to `p_value_adjusted` /
/// `p_paired_adjusted` (cleared by [`Correction::None`]), which the tables, stars and figures then show.
pub fn correct(summaries: &mut [CellSummary], correction: Correction) {
    type Get = fn(&ModelSummary) -> Option<f64>;
    type Put = fn(&mut ModelSummary, Option<f64>);
    let families: [(Get, Put); 2] = [
        (|m| m.p_value, |m, p| m.p_value_adjusted = p),
        (|m| m.p_paired, |m, p| m.p_paired_adjusted = p),
    ];
    for (get, put) in families {
        let raw: Vec<f64> = summaries
            .iter()
            .flat_map(|c| c.models.iter().filter_map(get))
            .collect();
        let mut adjusted = match correction {
            Correction::None => Vec::new(),
            c => c.adjust(&raw),
        }
        .into_iter();
        for m in summaries.iter_mut().flat_map(|c| c.models.iter_mut()) {
            let p = get(m).and_then(|_| adjusted.next());
            put(m, p);
        }
    }
}

/// The paper's number for one cell and model, as far as a report may show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PaperLookup<'a> {
    /// The spec transcribes no number for it.
    None,
    /// The spec has one, but this run's cell is not the configuration the paper ran (see [`PaperScope`]).
    OtherConfiguration,
    /// The paper's number, for this very configuration.
    Value(&'a PaperValue),
}

impl<'a> PaperLookup<'a> {
    /// The value, when it may be shown.
    pub fn value(self) -> Option<&'a PaperValue> {
        match self {
            PaperLookup::Value(p) => Some(p),
            _ => None,
        }
    }
}

/// The paper's number for `metric` of `model` (with `alpha`) in `cell`, if the spec transcribes one and
/// `scope` says the paper ran this cell as this run did.
pub fn paper_value<'a>(
    spec: &'a Spec,
    scope: &PaperScope,
    cell: &Cell,
    model: &str,
    alpha: Option<usize>,
    metric: &str,
) -> PaperLookup<'a> {
    let fits = |want: Option<usize>, have: Option<usize>| want.is_none() || want == have;
    let found = spec.paper.iter().find(|p| {
        p.model == model
            && p.metric == metric
            && fits(p.clauses, cell.clauses)
            && fits(p.neurons, Some(cell.neurons))
            && fits(p.depth, Some(cell.depth))
            && (p.alpha.is_none() || p.alpha == alpha)
    });
    match found {
        None => PaperLookup::None,
        Some(p) if scope.admits(p, cell, alpha) => PaperLookup::Value(p),
        Some(_) => PaperLookup::OtherConfiguration,
    }
}

fn paper_text(p: PaperLookup) -> String {
    match p {
        PaperLookup::Value(PaperValue {
            value,
            sem: Some(s),
            ..
        }) => format!("{value} ± {s}"),
        PaperLookup::Value(p) => format!("{}", p.value),
        PaperLookup::OtherConfiguration => "other configuration".into(),
        PaperLookup::None => "-".into(),
    }
}

/// A p-value with the paper's star at < 0.05.
fn p_text(p: Option<f64>) -> String {
    p.map_or(String::new(), |p| {
        format!("{p:.3}{}", if p < 0.05 { " *" } else { "" })
    })
}

/// The p-value column headers: `(Welch, paired)`, naming the correction when one is applied.
fn p_headers(correction: Correction) -> (String, String) {
    match correction {
        Correction::None => ("p (Welch)".into(), "p (paired)".into()),
        Correction::Holm => ("p (Welch, Holm)".into(), "p (paired, Holm)".into()),
    }
}

fn label(spec: &Spec, cell: &Cell, m: &ModelSummary) -> String {
    match m.alpha {
        None => format!(
            "dense @ {} epochs",
            cell.pre_epochs + spec.post_epochs(cell.pre_epochs)
        ),
        Some(a) => format!("FPE {}-split (alpha={a})", m.model),
    }
}

/// The result table as markdown: one row per cell and model, the paper's figures beside ours where `scope`
/// admits them; the p-values adjusted when the spec's report asks for a correction (see [`correct`]).
pub fn table(spec: &Spec, scope: &PaperScope, summaries: &[CellSummary]) -> String {
    let (welch, paired) = p_headers(spec.report.correction);
    let mut s = format!(
        "| cell | model | hidden | non-zero weights | test accuracy % (mean ± SEM) | paper % | RI % (± SEM) | paper RI % | {welch} | accuracy % per 1k non-zero | best of n % | {paired} |",
    );
    s.push_str("\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in summaries {
        let cell = &c.cell;
        let key = format!("{} (n={})", cell.key(), c.trials);
        let pre = paper_value(spec, scope, cell, "dense-pre", None, "test_acc");
        s.push_str(&format!(
            "| {key} | dense @ {} epochs (before split) | {} | {} | {:.1} ± {:.1} | {} | | | | {:.2} | | |\n",
            cell.pre_epochs,
            cell.neurons,
            c.pre_nnz,
            100.0 * c.pre_test_acc.mean,
            100.0 * c.pre_test_acc.sem,
            paper_text(pre),
            100.0 * c.pre_test_acc.mean / c.pre_nnz.max(1) as f64 * 1000.0,
        ));
        for m in &c.models {
            let acc = paper_value(spec, scope, cell, &m.model, m.alpha, "test_acc");
            let ri_p = paper_value(spec, scope, cell, &m.model, m.alpha, "ri");
            let ri_p = if m.alpha.is_none() && ri_p == PaperLookup::None {
                String::new()
            } else {
                paper_text(ri_p)
            };
            let ri = m.ri.map_or(String::new(), |r| {
                format!("{:+.1} ± {:.1}", 100.0 * r.mean, 100.0 * r.sem)
            });
            let p = p_text(m.p_welch_shown());
            let paired = p_text(m.p_paired_shown());
            s.push_str(&format!(
                "| {key} | {} | {} | {} | {:.1} ± {:.1} | {} | {ri} | {} | {p} | {:.2} | {:.1} | {paired} |",
                label(spec, cell, m),
                m.hidden,
                m.nnz,
                100.0 * m.test_acc.mean,
                100.0 * m.test_acc.sem,
                paper_text(acc),
                ri_p,
                100.0 * m.acc_per_nnz * 1000.0,
                100.0 * m.best_test_acc,
            ));
            s.push('\n');
        }
    }
    s
}

/// The interference-metric table as markdown (empty without metrics): per cell and model, every metric
/// (mean ± SEM over trials) and its fold change against the dense model, with the paper's value and the fold
/// change its values imply beside ours where the spec transcribes them and `scope` admits them.
pub fn metrics_table(spec: &Spec, scope: &PaperScope, summaries: &[CellSummary]) -> String {
    let names: Vec<String> = summaries
        .iter()
        .flat_map(|c| c.models.iter().flat_map(|m| m.metrics.keys().cloned()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.is_empty() {
        return String::new();
    }
    let has_paper = |n: &str| spec.paper.iter().any(|p| p.metric == n);
    let mut head = String::from("| cell | model |");
    let mut rule = String::from("|---|---|");
    for n in &names {
        head.push_str(&format!(" {n} | fold vs dense |"));
        rule.push_str("---:|---:|");
        if has_paper(n) {
            head.push_str(&format!(" paper {n} | paper fold |"));
            rule.push_str("---:|---:|");
        }
    }
    let mut s = format!("{head}\n{rule}\n");
    for c in summaries {
        let cell = &c.cell;
        for m in &c.models {
            s.push_str(&format!(
                "| {} (n={}) | {} |",
                cell.key(),
                c.trials,
                label(spec, cell, m)
            ));
            for n in &names {
                let ours = m
                    .metrics
                    .get(n)
                    .map_or(String::new(), |v| format!("{:.3} ± {:.3}", v.mean, v.sem));
                let fold = m
                    .metric_fold
                    .get(n)
                    .map_or(String::new(), |v| format!("{:.2} ± {:.2}", v.mean, v.sem));
                s.push_str(&format!(" {ours} | {fold} |"));
                if has_paper(n) {
                    let theirs = paper_value(spec, scope, cell, &m.model, m.alpha, n);
                    let dense = paper_value(spec, scope, cell, "dense", None, n);
                    let pfold = match (theirs.value(), dense.value(), m.alpha) {
                        (Some(t), Some(d), Some(_)) if d.value != 0.0 => {
                            format!("{:.2}", t.value / d.value)
                        }
                        _ => String::new(),
                    };
                    s.push_str(&format!(" {} | {pfold} |", paper_text(theirs)));
                }
            }
            s.push('\n');
        }
    }
    s
}

/// Everything the markdown report says besides the table.
#[derive(Clone, Debug)]
pub struct ReportContext {
    /// The command that produced the results.
    pub command: String,
    /// Wall seconds of the last run.
    pub wall_seconds: f64,
    /// Trials the last run trained (0 when every trial was read back from the results file).
    pub trials_run: usize,
    /// Sum of the recorded per-trial seconds (all runs, across resumes and shards).
    pub compute_seconds: f64,
    /// Threads of the last run.
    pub threads: usize,
    /// Trials expected by the spec vs found.
    pub expected_trials: usize,
    /// Which cells are the paper's configurations, and every override of the committed spec.
    pub scope: PaperScope,
    /// Version, commit, instruction set, machine, threads and data checksums of the run.
    pub provenance: crate::provenance::Provenance,
    /// Where the trials in the results file were run: each distinct [`Provenance::summary`] with its trial
    /// count (several when shards ran on different machines or builds; empty to leave it out).
    ///
    /// [`Provenance::summary`]: crate::provenance::Provenance::summary
    pub trial_provenance: Vec<(String, usize)>,
}

/// The markdown report of one experiment. `readings` is the comparison of the paper's tables with every
/// reading of their metrics (see `crate::experiment::paper_tables::markdown`; empty when the spec has none);
/// `figs` are the markdown fragments of its pictures (see `crate::experiment::figures::write`), placed under a
/// Figures heading. Both are made by the caller from this report's summaries, so the report imports neither.
pub fn markdown(
    spec: &Spec,
    summaries: &[CellSummary],
    ctx: &ReportContext,
    readings: &str,
    figs: &[String],
) -> String {
    let found: usize = summaries.iter().map(|c| c.trials).sum();
    let overridden = ctx.scope.title_suffix();
    let mut s = format!(
        "# {} ({}){}\n\n{}\n\n",
        spec.name,
        spec.paper_ref,
        if overridden.is_empty() {
            String::new()
        } else {
            format!(", overridden: {overridden}")
        },
        spec.title
    );
    s.push_str(&format!("Produced by `{}`.\n\n", ctx.command));
    s.push_str(&super::ablation::header(spec));
    s.push('\n');
    s.push_str(&ctx.scope.markdown(!spec.paper.is_empty()));
    s.push('\n');
    if found < ctx.expected_trials {
        s.push_str(&format!(
            "**Incomplete:** {found} of {} trials are in the results file; rerun the command to finish.\n\n",
            ctx.expected_trials
        ));
    }
    s.push_str("## Results\n\n");
    s.push_str(&table(spec, &ctx.scope, summaries));
    s.push_str(
        "\nRI: relative improvement of the FPE model over the dense model trained as long, \
         mean(FPE) / mean(dense) - 1; its SEM by the delta method for a ratio of means. \
         p: Welch's two-sided t-test of FPE against dense accuracies over trials; * marks p < 0.05. \
         p (paired): the two-sided paired t-test on the per-trial differences (FPE and dense of one trial \
         share the pre-training and the batch order). Best of n: the best trial's accuracy (Alg. A3 returns \
         the best of its T trials); the mean ± SEM is what the paper's figures show. \
         Non-zero weights count the live weights of every layer (biases and LayerNorm parameters not counted).\n",
    );
    if spec.report.correction == Correction::Holm {
        let m = summaries
            .iter()
            .flat_map(|c| &c.models)
            .filter(|m| m.p_value.is_some())
            .count();
        s.push_str(&format!(
            "\n**Holm-adjusted p-values** (`[report] correction = \"holm\"` or `reproduce --holm`): the p columns \
             and their stars are Holm-Bonferroni adjusted over the whole grid, every FPE-vs-dense Welch test one \
             family ({m} tests here) and every paired test another, which holds the family-wise error rate at \
             5%. The raw p-values are in the `--json` output (`p_value`, `p_paired`).\n"
        ));
    }
    let metrics = metrics_table(spec, &ctx.scope, summaries);
    if !metrics.is_empty() {
        s.push_str("\n## Interference metrics\n\n");
        s.push_str(&metrics);
        s.push_str(
            "\nMetrics of the first layer of every final model (see `neurosplit::metrics`): feature-capacity is \
             the total feature capacity over its input columns, clause-capacity-min/-mean the smallest and the \
             mean capacity of a clause (summed over its literals); cosine-similarity is the mean signed cosine \
             similarity over all pairs of neurons, cosine-similarity-abs the mean of |cos| over the same pairs, \
             cosine-similarity-abs-full the mean of |cos| over the full neuron x neuron matrix (diagonal included); \
             feature-capacity-clauses the feature-level total capacity with each clause as one feature \
             (v_f = W1 1_f). Fold change: \
             metric(FPE) / metric(dense) per trial, mean ± SEM; the paper's fold is the ratio of its printed \
             means.\n",
        );
    }
    if !readings.is_empty() {
        s.push_str("\n## The paper's tables beside every reading of their metrics\n\n");
        s.push_str(readings);
        s.push_str(
            "\nRelative deviation: (ours - paper) / paper per row; the summary averages its absolute value over \
             the rows of one definition and alpha (dense rows apart: they do not depend on alpha). The paper does \
             not say which reading, nor which alpha, its Tables A1 and A2 use; see `neurosplit::metrics`.\n",
        );
    }
    if !figs.is_empty() {
        s.push_str("\n## Figures\n");
        for fig in figs {
            s.push('\n');
            s.push_str(fig);
            s.push('\n');
        }
    }
    s.push_str("\n## Provenance, machine and time\n\n");
    s.push_str(&ctx.provenance.markdown());
    if !ctx.trial_provenance.is_empty() {
        s.push_str("- the trials were run by:\n");
        for (line, n) in &ctx.trial_provenance {
            s.push_str(&format!("  - {n} trials: {line}\n"));
        }
    }
    if ctx.trials_run == 0 {
        s.push_str(
            "- the last run trained no trial: this report was written from the recorded results\n",
        );
    } else {
        s.push_str(&format!(
            "- wall time of the last run: {:.1} s on {} threads ({} trials trained)\n",
            ctx.wall_seconds, ctx.threads, ctx.trials_run
        ));
    }
    s.push_str(&format!(
        "- compute recorded over all runs: {:.1} s (sum of per-trial seconds)\n",
        ctx.compute_seconds
    ));
    s.push_str("\n## Spec\n\n```toml\n");
    let shown = spec_as_shown(spec, &ctx.scope);
    if shown.paper.len() < spec.paper.len() {
        s.push_str(
            "# The paper's numbers ([[paper]]) are left out: this run is another configuration.\n",
        );
    }
    s.push_str(
        &toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot print the spec: {e}\n")),
    );
    s.push_str("```\n");
    s
}

/// The effective spec as a report or an export prints it: without the paper's numbers when `scope` makes every
/// cell another configuration than the paper's (so that none of them is shown beside this run's results).
pub fn spec_as_shown(spec: &Spec, scope: &PaperScope) -> Spec {
    let mut shown = spec.clone();
    if scope.blocking().next().is_some() {
        shown.paper.clear();
    }
    shown
}

/// Sum of the per-trial seconds recorded in `records`.
pub fn compute_seconds(records: &[TrialRecord]) -> f64 {
    records
        .iter()
        .map(|r| r.pre_seconds + r.models.iter().map(|m| m.seconds).sum::<f64>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::runner::ModelRecord;

    fn model(name: &str, alpha: Option<usize>, acc: f64) -> ModelRecord {
        ModelRecord::fixture(name, alpha, acc)
    }

    #[test]
    fn summary_statistics_by_hand() {
        let spec = Spec::load("case-study").unwrap();
        let cell = cells(&spec)[0].clone();
        let dense = [0.70, 0.80, 0.90];
        let clause = [0.95, 0.97, 0.99];
        let records: Vec<TrialRecord> = (0..3)
            .map(|t| TrialRecord {
                spec: spec.name.clone(),
                fingerprint: String::new(),
                cell: cell.key(),
                trial: t,
                seed: 0,
                pre_test_acc: 0.7,
                pre_nnz: 264,
                models: vec![
                    model("dense", None, dense[t]),
                    model("clause", Some(2), clause[t]),
                ],
                pre_seconds: 1.0,
                protocol: None,
                n_train: None,
                n_test: None,
                provenance: None,
            })
            .collect();
        let s = summarize(&spec, &records);
        assert_eq!(s.len(), 1);
        let (d, c) = (&s[0].models[0], &s[0].models[1]);
        assert!((d.test_acc.mean - 0.8).abs() < 1e-12);
        assert!((d.test_acc.sem - 0.1 / 3f64.sqrt()).abs() < 1e-12);
        assert!(d.ri.is_none() && d.p_value.is_none());
        let ri = c.ri.unwrap();
        let r = 0.97 / 0.8;
        assert!((ri.mean - (r - 1.0)).abs() < 1e-12);
        let (sf, sd) = (0.02 / 3f64.sqrt(), 0.1 / 3f64.sqrt());
        let want = r * ((sf / 0.97f64).powi(2) + (sd / 0.8f64).powi(2)).sqrt();
        assert!((ri.sem - want).abs() < 1e-12);
        let (_, _, p) = crate::stats::welch_t_test(&clause, &dense).unwrap();
        assert_eq!(c.p_value, Some(p));
        // Paired by trial: differences 0.25, 0.17, 0.09.
        let (_, _, pp) = crate::stats::paired_t_test(&clause, &dense).unwrap();
        assert_eq!(c.p_paired, Some(pp));
        assert!(pp != p);
        assert!(d.p_paired.is_none());
        assert!((c.best_test_acc - 0.99).abs() < 1e-15 && (d.best_test_acc - 0.90).abs() < 1e-15);
        assert!((c.acc_per_nnz - 0.97 / 264.0).abs() < 1e-15);
        // The paper's numbers sit beside ours.
        let table = table(&spec, &PaperScope::committed(&spec), &s);
        assert!(
            table.contains("| 99.4 |") && table.contains("| 78.7 |"),
            "{table}"
        );
        assert!(table.contains("FPE clause-split (alpha=2)"), "{table}");
    }

    #[test]
    fn metric_fold_changes_and_the_paper_tables() {
        let spec = Spec::load("capacity-tables").unwrap();
        let cell = cells(&spec)[0].clone(); // 3 clauses: Table A1 prints 1.896 (dense), 2.740 (clause)
        let with = |name: &str, alpha, cap: f64, cos: f64| {
            let mut m = model(name, alpha, 0.9);
            m.metrics.insert("feature-capacity".into(), cap);
            m.metrics.insert("cosine-similarity".into(), cos);
            m
        };
        let caps = [(2.0, 3.0), (4.0, 4.0)];
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
                    with("dense", None, caps[t].0, 0.5),
                    with("clause", Some(2), caps[t].1, 0.0),
                ],
                pre_seconds: 1.0,
                protocol: None,
                n_train: None,
                n_test: None,
                provenance: None,
            })
            .collect();
        let s = summarize(&spec, &records);
        let clause = &s[0].models[1];
        // Per-trial folds 1.5 and 1.0: mean 1.25, SEM 0.25.
        let fold = clause.metric_fold["feature-capacity"];
        assert!((fold.mean - 1.25).abs() < 1e-12 && (fold.sem - 0.25).abs() < 1e-12);
        assert_eq!(clause.metric_fold["cosine-similarity"].mean, 0.0);
        assert!(s[0].models[0].metric_fold.is_empty(), "dense has no fold");
        let t = metrics_table(&spec, &PaperScope::committed(&spec), &s);
        assert!(
            t.contains("| 3.500 ± 0.500 | 1.25 ± 0.25 | 2.74 ± 0.114 | 1.45 |"),
            "{t}"
        );
        assert!(t.contains("| 3.000 ± 1.000 |  | 1.896 ± 0.377 |  |"), "{t}");
        let cs = Spec::load("case-study").unwrap();
        assert!(metrics_table(&cs, &PaperScope::committed(&cs), &[]).is_empty());
    }

    /// Records of `cells` with per-trial accuracies `dense[t]` and `fpe[t]` (one clause-split model).
    fn grid_records(spec: &Spec, dense: &[f64], fpe: &[&[f64]]) -> Vec<TrialRecord> {
        let grid = cells(spec);
        let mut out = Vec::new();
        for (c, cell) in grid.iter().enumerate().take(fpe.len()) {
            for (t, &d) in dense.iter().enumerate() {
                out.push(TrialRecord {
                    spec: spec.name.clone(),
                    fingerprint: String::new(),
                    cell: cell.key(),
                    trial: t,
                    seed: 0,
                    pre_test_acc: 0.7,
                    pre_nnz: 264,
                    models: vec![model("dense", None, d), model("clause", Some(2), fpe[c][t])],
                    pre_seconds: 1.0,
                    protocol: None,
                    n_train: None,
                    n_test: None,
                    provenance: None,
                });
            }
        }
        out
    }

    #[test]
    fn holm_adjusts_every_cell_of_the_grid_and_the_stars_follow() {
        let mut spec = Spec::load("heatmap").unwrap();
        spec.model.alpha.truncate(1);
        spec.model.strategies = vec![crate::expand::Strategy::Clause];
        let dense = [0.70, 0.80, 0.90, 0.75, 0.85];
        // Three cells: a clear gain, a borderline one, none.
        let clear: &[f64] = &[0.95, 0.96, 0.97, 0.95, 0.96];
        let border: &[f64] = &[0.84, 0.90, 0.97, 0.89, 0.96];
        let none: &[f64] = &[0.71, 0.79, 0.91, 0.74, 0.86];
        let mut s = summarize(&spec, &grid_records(&spec, &dense, &[clear, border, none]));
        assert_eq!(s.len(), 3);
        let raw: Vec<f64> = s.iter().map(|c| c.models[1].p_value.unwrap()).collect();
        let raw_paired: Vec<f64> = s.iter().map(|c| c.models[1].p_paired.unwrap()).collect();
        assert!(s.iter().all(|c| c.models[1].p_value_adjusted.is_none()));
        correct(&mut s, Correction::Holm);
        let adjusted: Vec<f64> = s
            .iter()
            .map(|c| c.models[1].p_value_adjusted.unwrap())
            .collect();
        assert_eq!(adjusted, crate::stats::holm(&raw));
        let paired: Vec<f64> = s
            .iter()
            .map(|c| c.models[1].p_paired_adjusted.unwrap())
            .collect();
        assert_eq!(paired, crate::stats::holm(&raw_paired));
        // The raw values stay; the dense rows have none; the shown values are the adjusted ones.
        assert_eq!(s[1].models[1].p_value, Some(raw[1]));
        assert!(s[0].models[0].p_value_adjusted.is_none());
        assert_eq!(s[1].models[1].p_welch_shown(), Some(adjusted[1]));
        // The borderline cell is significant alone but not after the correction: its star goes.
        assert!(raw[1] < 0.05 && adjusted[1] >= 0.05, "{raw:?} {adjusted:?}");
        let star = |p: f64| format!("| {p:.3} * |");
        spec.report.correction = Correction::Holm;
        let t = table(&spec, &PaperScope::committed(&spec), &s);
        assert!(
            t.contains("p (Welch, Holm)") && t.contains("p (paired, Holm)"),
            "{t}"
        );
        assert!(
            !t.contains(&star(adjusted[1])) && !t.contains(&star(raw[1])),
            "{t}"
        );
        assert!(t.contains(&format!("| {:.3} |", adjusted[1])), "{t}");
        // Undone by Correction::None.
        correct(&mut s, Correction::None);
        assert!(s.iter().all(|c| c.models[1].p_value_adjusted.is_none()));
        spec.report.correction = Correction::None;
        let t = table(&spec, &PaperScope::committed(&spec), &s);
        assert!(t.contains(&star(raw[1])), "{t}");
    }

    #[test]
    fn no_paper_number_beside_another_configuration() {
        let committed = Spec::load("case-study").unwrap();
        let recs = grid_records(&committed, &[0.7, 0.8, 0.9], &[&[0.95, 0.97, 0.99]]);
        let s = summarize(&committed, &recs);
        let t = table(&committed, &PaperScope::committed(&committed), &s);
        assert!(
            t.contains("| 99.4 |") && !t.contains("other configuration"),
            "{t}"
        );
        let mut shorter = committed.clone();
        shorter.train.post_epochs = Some(10);
        let scope = PaperScope::new(&committed, &shorter);
        let t = table(&shorter, &scope, &s);
        assert!(!t.contains("99.4") && !t.contains("78.7"), "{t}");
        assert!(t.contains("| other configuration |"), "{t}");
        let lookup = paper_value(&shorter, &scope, &s[0].cell, "clause", Some(2), "test_acc");
        assert_eq!(lookup, PaperLookup::OtherConfiguration);
        assert_eq!(
            paper_value(&shorter, &scope, &s[0].cell, "clause", Some(2), "entropy"),
            PaperLookup::None
        );
    }
}
