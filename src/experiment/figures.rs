//! The pictures of an experiment report, drawn from its cell summaries into the report's folder (PNG + SVG):
//!
//! * a sweep over hidden widths or clause counts (Fig. 3a/3b): relative improvement with SEM bars per
//!   alpha x strategy (and depth, for deep specs), and accuracy per non-zero weight per model;
//! * a grid over clauses x neurons (Fig. 3c): one heatmap file per strategy, one panel per alpha;
//! * interference metrics (Fig. 4a/4b): fold change of every metric against the dense model along the sweep;
//!   along a neuron sweep also Fig. 4c, the least-squares regression of the relative improvement on the
//!   feature-capacity and the cosine-similarity fold changes ([`regression_groups`]), one line per strategy and
//!   alpha (alpha 2 dotted, others solid), `R^2` in the legend and in the report;
//! * training curves when recorded (Fig. 6b): test accuracy against the epoch, dense and FPE, per split point.
//!
//! Which pictures are drawn follows from the shape of the grid, so a user's spec gets the same pictures.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::Result;
use crate::experiment::export::{float, Table};
use crate::experiment::report::{CellSummary, MeanSem, ModelSummary};
use crate::experiment::runner::Cell;
use crate::experiment::spec::Spec;
use crate::metrics::Metric;
use crate::plot::{
    draw_heatmaps, draw_line_chart, draw_regression_chart, share_scale, ColorMap, Corner, Heatmap,
    LineChart, RegressionChart, RegressionGroup, Series, XScale,
};

const SIZE: (u32, u32) = (960, 640);

/// The axis a sweep runs along.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Axis {
    Neurons,
    Clauses,
}

impl Axis {
    fn of(self, c: &Cell) -> usize {
        match self {
            Axis::Neurons => c.neurons,
            Axis::Clauses => c.clauses.unwrap_or(0),
        }
    }
    fn label(self) -> &'static str {
        match self {
            Axis::Neurons => "hidden neurons before expansion",
            Axis::Clauses => "clauses",
        }
    }
}

fn distinct(summaries: &[CellSummary], f: impl Fn(&Cell) -> Option<usize>) -> Vec<usize> {
    summaries
        .iter()
        .filter_map(|s| f(&s.cell))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn model_label(m: &ModelSummary) -> String {
    match m.alpha {
        Some(a) => format!("{} split, alpha={a}", m.model),
        None => "dense".into(),
    }
}

/// Cells grouped by everything but the sweep axis (so each group is one line per model).
fn group_label(summaries: &[CellSummary], c: &Cell, axis: Axis) -> String {
    let mut parts = Vec::new();
    if distinct(summaries, |c| Some(c.depth)).len() > 1 {
        parts.push(format!("{} layers", c.depth));
    }
    if distinct(summaries, |c| Some(c.pre_epochs)).len() > 1 {
        parts.push(format!("split at {}", c.pre_epochs));
    }
    if axis == Axis::Clauses && distinct(summaries, |c| Some(c.neurons)).len() > 1 {
        parts.push(format!("{} neurons", c.neurons));
    }
    if axis == Axis::Neurons && distinct(summaries, |c| c.clauses).len() > 1 {
        parts.push(format!("{} clauses", c.clauses.unwrap_or(0)));
    }
    parts.join(", ")
}

/// One series per (group, model) of `value(model) -> Option<MeanSem>` along `axis`; points where `mark(model)`
/// holds are marked significant.
fn sweep_series(
    summaries: &[CellSummary],
    axis: Axis,
    include: impl Fn(&ModelSummary) -> bool,
    value: impl Fn(&CellSummary, &ModelSummary) -> Option<MeanSem>,
    mark: impl Fn(&ModelSummary) -> bool,
) -> Vec<Series> {
    // Series in one order whatever cell comes first (a first cell without some model, e.g. no clause split
    // at alpha 4 on 3 clauses, must not change the colours): by group, then in the fullest cell's model order.
    let fullest = summaries
        .iter()
        .max_by_key(|s| s.models.len())
        .map_or(&[][..], |s| &s.models[..]);
    let rank = |m: &ModelSummary| {
        fullest
            .iter()
            .position(|f| f.model == m.model && f.alpha == m.alpha)
            .unwrap_or(usize::MAX)
    };
    let mut groups: Vec<String> = Vec::new();
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut out: Vec<Series> = Vec::new();
    for s in summaries {
        let group = group_label(summaries, &s.cell, axis);
        for m in s.models.iter().filter(|m| include(m)) {
            let Some(v) = value(s, m).filter(|v| v.mean.is_finite()) else {
                continue;
            };
            let label = if group.is_empty() {
                model_label(m)
            } else {
                format!("{}, {group}", model_label(m))
            };
            let i = match out.iter().position(|x| x.label == label) {
                Some(i) => i,
                None => {
                    let g = groups.iter().position(|x| *x == group).unwrap_or_else(|| {
                        groups.push(group.clone());
                        groups.len() - 1
                    });
                    keys.push((g, rank(m)));
                    out.push(Series {
                        label,
                        x: Vec::new(),
                        mean: Vec::new(),
                        sem: Some(Vec::new()),
                        significant: Vec::new(),
                        dashed: false,
                        color: None,
                    });
                    out.len() - 1
                }
            };
            let x = &mut out[i];
            x.x.push(axis.of(&s.cell) as f64);
            x.mean.push(v.mean);
            if let Some(e) = x.sem.as_mut() {
                e.push(if v.sem.is_finite() { v.sem } else { 0.0 });
            }
            x.significant.push(mark(m));
        }
    }
    let mut keyed: Vec<((usize, usize), Series)> = keys.into_iter().zip(out).collect();
    keyed.sort_by_key(|k| k.0);
    let mut out: Vec<Series> = keyed.into_iter().map(|(_, s)| s).collect();
    // No marks at all: leave the field empty (nothing to draw, nothing to list in the CSV).
    for s in &mut out {
        if !s.significant.contains(&true) {
            s.significant.clear();
        }
    }
    out
}

/// Whether Welch's test puts the model's accuracy apart from the dense model's at p < 0.05 (the paper's
/// stars), with the p-value the report shows (Holm-adjusted when the report asks for it).
fn significant(m: &ModelSummary) -> bool {
    m.p_welch_shown().is_some_and(|p| p < 0.05)
}

/// The star's meaning for a chart title.
fn star_note(spec: &Spec) -> &'static str {
    match spec.report.correction {
        crate::stats::Correction::None => "* p < 0.05",
        crate::stats::Correction::Holm => "* Holm-adjusted p < 0.05",
    }
}

/// The caption line on error bars: what they are and over how many trials.
fn bars_caption(spec: &Spec, what: &str) -> String {
    format!(
        "Error bars: ± one standard error of the mean (SEM) of {what} over the {} trials (one seed each) of every \
         point.",
        spec.trials
    )
}

/// The caption line on stars.
fn star_caption(spec: &Spec) -> String {
    match spec.report.correction {
        crate::stats::Correction::None => {
            "*: p < 0.05, Welch's t-test of the FPE model's accuracy against the dense model's."
                .into()
        }
        crate::stats::Correction::Holm => {
            "*: Holm-adjusted p < 0.05 (Welch's t-test of FPE against dense, \
                                          adjusted over the grid)."
                .into()
        }
    }
}

/// A metric key in words, for axis labels (`cosine-similarity-abs-full` -> mean |cosine similarity| ...).
pub fn metric_words(name: &str) -> String {
    match name {
        "feature-capacity" => "feature capacity (sum over the inputs)".into(),
        "feature-capacity-clauses" => "feature capacity (each clause one feature)".into(),
        "clause-capacity-min" => "smallest capacity of a clause".into(),
        "clause-capacity-mean" => "mean capacity of a clause".into(),
        "cosine-similarity" => "mean cosine similarity of neuron pairs".into(),
        "cosine-similarity-abs" => "mean |cosine similarity| of neuron pairs".into(),
        "cosine-similarity-abs-full" => "mean |cosine similarity| between neurons".into(),
        other => other.replace('-', " "),
    }
}

/// The paper's numbers for `metric` along the sweep, as dashed series in the colour of the curve of ours they
/// belong to (`ours` are the chart's series; `scale` maps the printed number to the chart's unit).
fn paper_series(
    spec: &Spec,
    summaries: &[CellSummary],
    axis: Axis,
    metric: &str,
    ours: &[Series],
    scale: f64,
) -> Vec<Series> {
    let scope = crate::experiment::paper_scope::PaperScope::committed(spec);
    let mut out: Vec<Series> = Vec::new();
    for s in summaries {
        let group = group_label(summaries, &s.cell, axis);
        for m in &s.models {
            let found = crate::experiment::report::paper_value(
                spec, &scope, &s.cell, &m.model, m.alpha, metric,
            );
            let Some(p) = found.value() else {
                continue;
            };
            let label = if group.is_empty() {
                model_label(m)
            } else {
                format!("{}, {group}", model_label(m))
            };
            let color = ours.iter().position(|o| o.label == label);
            let shown = format!("paper ({}): {label}", spec.paper_ref);
            let i = match out.iter().position(|x| x.label == shown) {
                Some(i) => i,
                None => {
                    out.push(Series {
                        label: shown,
                        x: Vec::new(),
                        mean: Vec::new(),
                        sem: None,
                        significant: Vec::new(),
                        dashed: true,
                        color,
                    });
                    out.len() - 1
                }
            };
            let x = &mut out[i];
            x.x.push(axis.of(&s.cell) as f64);
            x.mean.push(scale * p.value);
        }
    }
    out
}

/// The caption line for dashed paper series.
fn paper_caption(spec: &Spec) -> String {
    format!(
        "Dashed lines, hollow squares: the numbers the paper prints ({}) for its own runs (its data set and \
         encoder; the spec says where this run differs), in the colour of the matching curve of ours; no error \
         bars printed.",
        spec.paper_ref
    )
}

/// A log2 axis where the swept values span several doublings (4, 8, 16, 32: FashionMNIST's widths), else
/// linear.
fn x_scale(summaries: &[CellSummary], axis: Axis) -> XScale {
    let xs: Vec<usize> = summaries.iter().map(|s| axis.of(&s.cell)).collect();
    let (lo, hi) = (
        xs.iter().copied().min().unwrap_or(0),
        xs.iter().copied().max().unwrap_or(0),
    );
    if lo > 0 && hi >= 8 * lo {
        XScale::Log2
    } else {
        XScale::Linear
    }
}

/// The numbers a line chart draws, one row per point: series, x, mean, SEM, and whether it is marked
/// significant (1/0; empty when the chart marks nothing).
fn chart_table(chart: &LineChart) -> Table {
    let mut t = Table::new(["series", "x", "mean", "sem", "significant"]);
    for s in &chart.series {
        for (i, (&x, &m)) in s.x.iter().zip(&s.mean).enumerate() {
            t.push(vec![
                s.label.clone(),
                float(x),
                float(m),
                s.sem.as_ref().map_or(String::new(), |e| float(e[i])),
                s.significant
                    .get(i)
                    .map_or(String::new(), |&b| u8::from(b).to_string()),
            ]);
        }
    }
    t
}

fn pct(v: MeanSem) -> MeanSem {
    MeanSem {
        mean: 100.0 * v.mean,
        sem: 100.0 * v.sem,
    }
}

/// Draws `chart` as `NAME.png` and `NAME.svg` in `dir` (the legend beside the plot, where it covers no
/// data); returns the markdown image link, or a line saying why the picture is missing.
fn save_chart(dir: &Path, name: &str, chart: &LineChart) -> String {
    let chart = &LineChart {
        legend: Corner::Outside,
        ..chart.clone()
    };
    let drawn = draw_line_chart(&dir.join(format!("{name}.png")), chart, SIZE)
        .and_then(|_| draw_line_chart(&dir.join(format!("{name}.svg")), chart, SIZE))
        .and_then(|_| chart_table(chart).save_csv(&dir.join(format!("{name}.csv"))));
    link(name, &chart.title, drawn)
}

fn link(name: &str, title: &str, drawn: Result<()>) -> String {
    match drawn {
        Ok(()) => format!("![{title}]({name}.png) ([SVG]({name}.svg), [numbers]({name}.csv))"),
        Err(e) => format!("*{name} could not be drawn: {e}*"),
    }
}

fn sweeps(spec: &Spec, summaries: &[CellSummary], axis: Axis, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let what = match axis {
        Axis::Neurons => "neurons",
        Axis::Clauses => "clauses",
    };
    let scale = x_scale(summaries, axis);
    let ri = sweep_series(
        summaries,
        axis,
        |m| m.alpha.is_some(),
        |_, m| m.ri.map(pct),
        significant,
    );
    if !ri.is_empty() {
        let paper = paper_series(spec, summaries, axis, "ri", &ri, 1.0);
        let mut caption = vec![
            "Relative improvement = mean FPE accuracy / mean dense accuracy - 1, the dense model trained as long; \
             dashed black line: no improvement."
                .to_string(),
            bars_caption(spec, "the relative improvement (delta method)"),
        ];
        if ri.iter().any(|s| s.significant.contains(&true)) {
            caption.push(star_caption(spec));
        }
        if !paper.is_empty() {
            caption.push(paper_caption(spec));
        }
        let chart = LineChart {
            title: format!(
                "{}: relative improvement of FPE over dense vs {what}",
                spec.name
            ),
            x_label: axis.label().into(),
            y_label: "relative improvement over dense (%)".into(),
            series: ri.into_iter().chain(paper).collect(),
            reference: Some(0.0),
            markers: true,
            legend: Corner::Outside,
            x_scale: scale,
            dodge: true,
            caption,
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        out.push(save_chart(dir, &format!("ri-vs-{what}"), &chart));
    }
    if axis == Axis::Neurons {
        if let Some(link) = accuracy_chart(spec, summaries, dir) {
            out.push(link);
        }
    }
    let per_nnz = sweep_series(
        summaries,
        axis,
        |_| true,
        |_, m| {
            let k = 100.0 * 1000.0 / m.nnz.max(1) as f64;
            Some(MeanSem {
                mean: m.test_acc.mean * k,
                sem: m.test_acc.sem * k,
            })
        },
        |_| false,
    );
    if !per_nnz.is_empty() {
        let chart = LineChart {
            title: format!("{}: test accuracy per non-zero weight vs {what}", spec.name),
            x_label: axis.label().into(),
            y_label: "test accuracy (%) per 1000 non-zero weights".into(),
            series: per_nnz,
            reference: None,
            markers: true,
            legend: Corner::Outside,
            x_scale: scale,
            dodge: true,
            caption: vec![bars_caption(spec, "the accuracy")],
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        out.push(save_chart(dir, &format!("acc-per-nnz-vs-{what}"), &chart));
    }
    // Fig. 4 / Fig. 6c: the capacity and cosine fold changes (the per-clause capacities are in the report's
    // table).
    let names: BTreeSet<String> = summaries
        .iter()
        .flat_map(|s| s.models.iter().flat_map(|m| m.metric_fold.keys().cloned()))
        .filter(|n| !n.starts_with("clause-capacity"))
        .collect();
    for name in names {
        let series = sweep_series(
            summaries,
            axis,
            |m| m.alpha.is_some(),
            |_, m| m.metric_fold.get(&name).copied(),
            |_| false,
        );
        if series.is_empty() {
            continue;
        }
        let words = metric_words(&name);
        let chart = LineChart {
            title: format!("{}: {words}, FPE relative to dense, vs {what}", spec.name),
            x_label: axis.label().into(),
            y_label: format!("{words}: FPE / dense"),
            series,
            reference: Some(1.0),
            markers: true,
            legend: Corner::Outside,
            x_scale: scale,
            dodge: true,
            caption: vec![
                format!(
                    "Fold change of the first layer's {words} (metric `{name}`) of the FPE model against the dense \
                     model of the same trial; dashed black line: equal to dense."
                ),
                bars_caption(spec, "the fold change"),
            ],
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        out.push(save_chart(dir, &format!("{name}-fold-vs-{what}"), &chart));
    }
    // Tables A1/A2: the metrics themselves per model, with the paper's numbers beside ours.
    let metric_names: BTreeSet<String> = summaries
        .iter()
        .flat_map(|s| s.models.iter().flat_map(|m| m.metrics.keys().cloned()))
        .filter(|n| spec.paper.iter().any(|p| &p.metric == n))
        .collect();
    for name in metric_names {
        let ours = sweep_series(
            summaries,
            axis,
            |_| true,
            |_, m| m.metrics.get(&name).copied(),
            |_| false,
        );
        if ours.is_empty() {
            continue;
        }
        let paper = paper_series(spec, summaries, axis, &name, &ours, 1.0);
        let words = metric_words(&name);
        let mut caption = vec![
            format!("The first layer's {words} (metric `{name}`) of every final model."),
            bars_caption(spec, "the metric"),
        ];
        if !paper.is_empty() {
            caption.push(paper_caption(spec));
        }
        let chart = LineChart {
            title: format!("{}: {words} vs {what}", spec.name),
            x_label: axis.label().into(),
            y_label: words.clone(),
            series: ours.into_iter().chain(paper).collect(),
            reference: None,
            markers: true,
            legend: Corner::Outside,
            x_scale: scale,
            dodge: true,
            caption,
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        out.push(save_chart(dir, &format!("{name}-vs-{what}"), &chart));
    }
    if axis == Axis::Neurons {
        out.extend(regressions(spec, summaries, dir));
    }
    out
}

/// The dense width whose parameter count matches accuracy `acc` on the dense curve `(nnz, acc)` (sorted by
/// nnz), by linear interpolation in the number of non-zero weights; `None` outside the curve's range (the
/// bool says whether `acc` is above the best dense model).
fn equivalent_nnz(dense: &[(f64, f64)], acc: f64) -> Result<f64, bool> {
    if dense.is_empty() {
        return Err(false);
    }
    for w in dense.windows(2) {
        let ((n0, a0), (n1, a1)) = (w[0], w[1]);
        if (a0 <= acc && acc <= a1) || (a1 <= acc && acc <= a0) {
            if (a1 - a0).abs() < 1e-12 {
                return Ok(n0);
            }
            return Ok(n0 + (acc - a0) / (a1 - a0) * (n1 - n0));
        }
    }
    let best = dense.iter().map(|d| d.1).fold(f64::NEG_INFINITY, f64::max);
    Err(acc > best)
}

/// Fig. 6a: test accuracy of the dense and FPE models against the width, and above each point of the FPE
/// model with the largest alpha the parameter count a dense model needs for the same accuracy, as a multiple
/// of the FPE model's (by interpolating the dense curve in non-zero weights).
fn accuracy_chart(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Option<String> {
    let axis = Axis::Neurons;
    let series = sweep_series(
        summaries,
        axis,
        |_| true,
        |_, m| Some(pct(m.test_acc)),
        |_| false,
    );
    if series.is_empty() {
        return None;
    }
    let groups = distinct(summaries, |c| Some(c.depth)).len()
        * distinct(summaries, |c| Some(c.pre_epochs)).len();
    let mut annotations = Vec::new();
    let top_alpha = summaries
        .iter()
        .flat_map(|s| s.models.iter().filter_map(|m| m.alpha))
        .max();
    if groups == 1 && distinct(summaries, |c| c.clauses).len() <= 1 {
        if let Some(top) = top_alpha {
            let mut dense: Vec<(f64, f64)> = summaries
                .iter()
                .filter_map(|s| s.models.iter().find(|m| m.alpha.is_none()))
                .map(|m| (m.nnz as f64, 100.0 * m.test_acc.mean))
                .collect();
            dense.sort_by(|a, b| a.0.total_cmp(&b.0));
            let strategies: BTreeSet<&String> = summaries
                .iter()
                .flat_map(|s| {
                    s.models
                        .iter()
                        .filter(|m| m.alpha == Some(top))
                        .map(|m| &m.model)
                })
                .collect();
            // The first strategy only (random, where run): one row of labels stays readable.
            let first = strategies
                .iter()
                .find(|s| s.as_str() == "random")
                .or_else(|| strategies.iter().next())
                .copied();
            for s in summaries {
                let Some(m) = s
                    .models
                    .iter()
                    .find(|m| m.alpha == Some(top) && Some(&m.model) == first)
                else {
                    continue;
                };
                let acc = 100.0 * m.test_acc.mean;
                let text = match equivalent_nnz(&dense, acc) {
                    Ok(n) => format!("{:.2}x", n / m.nnz.max(1) as f64),
                    Err(true) => {
                        let most = dense.last().map_or(0.0, |d| d.0);
                        format!(">{:.1}x", most / m.nnz.max(1) as f64)
                    }
                    Err(false) => "<1x".into(),
                };
                let idx = series.iter().position(|x| x.label == model_label(m));
                annotations.push(crate::plot::Annotation {
                    x: s.cell.neurons as f64,
                    y: acc + 100.0 * m.test_acc.sem,
                    text,
                    series: idx,
                });
            }
        }
    }
    let mut caption = vec![bars_caption(spec, "the test accuracy")];
    if !annotations.is_empty() {
        caption.push(format!(
            "Numbers above the {} split, alpha={} points: the non-zero weights a dense model needs for the same \
             accuracy (the dense curve interpolated linearly in non-zero weights), as a multiple of the FPE \
             model's (equal to the dense model's at its width); '>' beyond the widest dense model, '<1x' below \
             the narrowest.",
            series
                .iter()
                .zip(0..)
                .find(|(_, i)| annotations.first().and_then(|a| a.series) == Some(*i))
                .map_or("FPE", |(s, _)| s.label.split(' ').next().unwrap_or("FPE")),
            top_alpha.unwrap_or(0)
        ));
    }
    let chart = LineChart {
        title: format!(
            "{}: test accuracy of dense and FPE models vs width",
            spec.name
        ),
        x_label: axis.label().into(),
        y_label: "test accuracy (%)".into(),
        series,
        reference: None,
        markers: true,
        legend: Corner::Outside,
        x_scale: x_scale(summaries, axis),
        dodge: true,
        caption,
        annotations,
        categories: Vec::new(),
    };
    Some(save_chart(dir, "acc-vs-neurons", &chart))
}

/// The fold-change metrics Fig. 4c regresses the relative improvement on: every reading of the paper's feature
/// capacity and cosine similarity ([`Metric::readings`] whose key starts with the metric's name; the paper
/// does not say which it used, and Tables A1/A2 point at `feature-capacity-clauses` and
/// `cosine-similarity-abs-full`).
fn fig4c_metrics() -> impl Iterator<Item = &'static str> {
    [Metric::FeatureCapacity, Metric::CosineSimilarity]
        .into_iter()
        .flat_map(|m| {
            m.readings()
                .iter()
                .map(|&(k, _)| k)
                .filter(move |k| k.starts_with(m.name()))
        })
}

/// The numbers a regression chart draws, one row per point: group, x (± SEM), y (± SEM), and the group's
/// fitted line (slope, intercept, R^2; empty when no line is defined).
fn regression_table(chart: &RegressionChart) -> Table {
    let mut t = Table::new([
        "group",
        "x",
        "x_sem",
        "y",
        "y_sem",
        "slope",
        "intercept",
        "r2",
    ]);
    for g in &chart.groups {
        let fit = g.fit();
        let part = |f: fn((f64, f64, f64)) -> f64| fit.map_or(String::new(), |v| float(f(v)));
        for i in 0..g.x.len() {
            let sem = |e: &Option<Vec<f64>>| e.as_ref().map_or(String::new(), |e| float(e[i]));
            t.push(vec![
                g.label.clone(),
                float(g.x[i]),
                sem(&g.x_sem),
                float(g.y[i]),
                sem(&g.y_sem),
                part(|v| v.0),
                part(|v| v.1),
                part(|v| v.2),
            ]);
        }
    }
    t
}

/// Fig. 4c's groups for fold-change metric `name`: per strategy and alpha, one point per cell of the sweep,
/// x = the metric's fold change against dense (mean ± SEM over trials), y = the relative improvement in %
/// (mean ± SEM).
pub fn regression_groups(summaries: &[CellSummary], name: &str) -> Vec<RegressionGroup> {
    let mut out: Vec<RegressionGroup> = Vec::new();
    let mut strategies: Vec<String> = Vec::new();
    for s in summaries {
        for m in s.models.iter().filter(|m| m.alpha.is_some()) {
            let (Some(f), Some(ri)) = (m.metric_fold.get(name), m.ri) else {
                continue;
            };
            if !(f.mean.is_finite() && ri.mean.is_finite()) {
                continue;
            }
            let label = model_label(m);
            let i = match out.iter().position(|g| g.label == label) {
                Some(i) => i,
                None => {
                    let color = match strategies.iter().position(|x| *x == m.model) {
                        Some(c) => c,
                        None => {
                            strategies.push(m.model.clone());
                            strategies.len() - 1
                        }
                    };
                    out.push(RegressionGroup {
                        label,
                        x: Vec::new(),
                        y: Vec::new(),
                        x_sem: Some(Vec::new()),
                        y_sem: Some(Vec::new()),
                        dotted: m.alpha == Some(2),
                        color,
                    });
                    out.len() - 1
                }
            };
            let g = &mut out[i];
            let fin = |v: f64| if v.is_finite() { v } else { 0.0 };
            g.x.push(f.mean);
            g.y.push(100.0 * ri.mean);
            g.x_sem.get_or_insert_with(Vec::new).push(fin(f.sem));
            g.y_sem
                .get_or_insert_with(Vec::new)
                .push(fin(100.0 * ri.sem));
        }
    }
    out
}

/// Fig. 4c: one chart per fold-change metric, and a markdown line per group with the fitted line and `R^2`.
fn regressions(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for name in fig4c_metrics() {
        let groups = regression_groups(summaries, name);
        if groups.is_empty() {
            continue;
        }
        let mut text = format!(
            "Fig. 4c, relative improvement (%) on the {name} fold change, least squares across the sweep \
             (one point per width):\n"
        );
        for g in &groups {
            text.push_str(&match g.fit() {
                Some((b, a, r2)) => format!(
                    "\n- {}: RI = {a:.2} {} {:.2} x fold, R^2 = {r2:.3} ({} points)",
                    g.label,
                    if b < 0.0 { "-" } else { "+" },
                    b.abs(),
                    g.x.len()
                ),
                None => format!("\n- {}: no line ({} points)", g.label, g.x.len()),
            });
        }
        let words = metric_words(name);
        let chart = RegressionChart {
            title: format!("{}: relative improvement vs {words} (FPE / dense)", spec.name),
            x_label: format!("{words}, FPE / dense"),
            y_label: "relative improvement over dense (%)".into(),
            groups,
            caption: vec![
                format!(
                    "One point per width of the sweep: x = fold change of the first layer's {words} (metric \
                     `{name}`) against the dense model of the same trial, y = relative improvement in accuracy. \
                     Lines: least squares per group (alpha 2 dotted, hollow points)."
                ),
                format!(
                    "Error bars: ± one standard error of the mean (SEM) in x and in y over the {} trials (one \
                     seed each) of every point.",
                    spec.trials
                ),
            ],
        };
        let file = format!("ri-vs-{name}-fold");
        let drawn = draw_regression_chart(&dir.join(format!("{file}.png")), &chart, SIZE)
            .and_then(|_| draw_regression_chart(&dir.join(format!("{file}.svg")), &chart, SIZE))
            .and_then(|_| regression_table(&chart).save_csv(&dir.join(format!("{file}.csv"))));
        out.push(format!("{}\n\n{text}", link(&file, &chart.title, drawn)));
    }
    out
}

/// Fig. 3c: relative improvement over clauses (rows) x neurons (columns), one file per strategy, one panel
/// per alpha (and per depth and split point, when those vary too).
fn heatmaps(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Vec<String> {
    let clauses = distinct(summaries, |c| c.clauses);
    let neurons = distinct(summaries, |c| Some(c.neurons));
    let rest: BTreeSet<(usize, usize)> = summaries
        .iter()
        .map(|s| (s.cell.depth, s.cell.pre_epochs))
        .collect();
    let fpe: BTreeSet<(String, usize)> = summaries
        .iter()
        .flat_map(|s| {
            s.models
                .iter()
                .filter_map(|m| Some((m.model.clone(), m.alpha?)))
        })
        .collect();
    let strategies: BTreeSet<&String> = fpe.iter().map(|(s, _)| s).collect();
    let mut out = Vec::new();
    for strategy in strategies {
        let mut panels = Vec::new();
        for (name, alpha) in fpe.iter().filter(|(s, _)| s == strategy) {
            for &(depth, pre) in &rest {
                let mut values = Vec::new();
                let mut masked = Vec::new();
                let mut stars = Vec::new();
                for &c in &clauses {
                    for &n in &neurons {
                        let v = summaries
                            .iter()
                            .find(|s| {
                                s.cell.clauses == Some(c)
                                    && s.cell.neurons == n
                                    && s.cell.depth == depth
                                    && s.cell.pre_epochs == pre
                            })
                            .and_then(|s| {
                                s.models
                                    .iter()
                                    .find(|m| &m.model == name && m.alpha == Some(*alpha))
                            });
                        stars.push(v.is_some_and(significant));
                        let v = v.and_then(|m| m.ri).map(|r| 100.0 * r.mean);
                        values.push(v.unwrap_or(0.0));
                        masked.push(v.is_none());
                    }
                }
                let mut title = format!("alpha = {alpha}");
                if rest.len() > 1 {
                    title.push_str(&format!(", {depth} layers, split at {pre}"));
                }
                let mut h = Heatmap::new(title, clauses.len(), neurons.len(), values);
                h.masked = masked.iter().any(|&m| m).then_some(masked);
                h.colormap = ColorMap::Diverging;
                h.annotate = Some(1);
                h.row_labels = Some(clauses.iter().map(|c| c.to_string()).collect());
                h.col_labels = Some(neurons.iter().map(|n| n.to_string()).collect());
                h.x_label = "hidden neurons before expansion".into();
                h.y_label = "clauses".into();
                h.value_label = "relative improvement % (FPE / dense - 1)".into();
                if stars.contains(&true) {
                    h.significant = stars;
                }
                panels.push(h);
            }
        }
        share_scale(&mut panels);
        let file = format!("heatmap-{strategy}");
        let title = format!(
            "{}: relative improvement % of the {strategy} split over dense (mean of {} trials; {})",
            spec.name,
            spec.trials,
            star_note(spec)
        );
        let drawn = draw_heatmaps(
            &dir.join(format!("{file}.png")),
            &title,
            &panels,
            (560, 460),
        )
        .and_then(|_| {
            draw_heatmaps(
                &dir.join(format!("{file}.svg")),
                &title,
                &panels,
                (560, 460),
            )
        })
        .and_then(|_| {
            heatmap_table(&panels, &clauses, &neurons).save_csv(&dir.join(format!("{file}.csv")))
        });
        out.push(link(&file, &title, drawn));
    }
    out
}

/// The numbers heatmap panels draw, one row per cell: panel, clauses, neurons, value (empty where the cell is
/// crossed out), and the significance mark (1/0).
fn heatmap_table(panels: &[Heatmap], clauses: &[usize], neurons: &[usize]) -> Table {
    let mut t = Table::new(["panel", "clauses", "neurons", "value", "significant"]);
    for p in panels {
        for (r, c) in clauses.iter().enumerate() {
            for (k, n) in neurons.iter().enumerate() {
                let i = r * p.cols + k;
                let masked = p.masked.as_ref().is_some_and(|m| m[i]);
                t.push(vec![
                    p.title.clone(),
                    c.to_string(),
                    n.to_string(),
                    if masked {
                        String::new()
                    } else {
                        float(p.values[i])
                    },
                    u8::from(p.significant.get(i) == Some(&true)).to_string(),
                ]);
            }
        }
    }
    t
}

/// Fig. 6b: test accuracy against the epoch (pre-training + post-split epochs), one chart per cell group.
fn curves(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Vec<String> {
    let mut groups: Vec<(String, Vec<&CellSummary>)> = Vec::new();
    for s in summaries {
        if s.models.iter().all(|m| m.curve.is_empty()) {
            continue;
        }
        let c = &s.cell;
        let key = format!(
            "{}depth={} neurons={}",
            c.clauses.map_or(String::new(), |c| format!("clauses={c} ")),
            c.depth,
            c.neurons
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(s),
            None => groups.push((key, vec![s])),
        }
    }
    let many = groups.len() > 1;
    let mut out = Vec::new();
    for (gi, (key, cells)) in groups.iter().enumerate() {
        let split_points = cells.len() > 1;
        let mut series = Vec::new();
        for s in cells {
            let pre = s.cell.pre_epochs;
            for m in s.models.iter().filter(|m| !m.curve.is_empty()) {
                let mut label = model_label(m);
                if split_points {
                    label.push_str(&format!(", split at {pre}"));
                }
                series.push(Series {
                    label,
                    x: m.curve.iter().map(|(e, _)| (pre + e) as f64).collect(),
                    mean: m.curve.iter().map(|(_, v)| 100.0 * v.mean).collect(),
                    sem: Some(m.curve.iter().map(|(_, v)| 100.0 * v.sem).collect()),
                    significant: Vec::new(),
                    dashed: false,
                    color: None,
                });
            }
        }
        let chart = LineChart {
            title: format!("{}: test accuracy during training ({key})", spec.name),
            x_label: "epoch (dense training before the split included)".into(),
            y_label: "test accuracy (%)".into(),
            series,
            reference: None,
            markers: false,
            legend: Corner::Outside,
            x_scale: XScale::Linear,
            dodge: false,
            caption: vec![
                "Each FPE curve starts at its split point; the dense curve of the same split point is the \
                 dense model trained on from there."
                    .into(),
                bars_caption(spec, "the test accuracy"),
            ],
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        let name = if many {
            format!("curves-{}", gi + 1)
        } else {
            "curves".into()
        };
        out.push(save_chart(dir, &name, &chart));
    }
    out
}

/// A grid of one cell whose spec transcribes the paper's accuracies (Sec. 3.1, Table A5): the test accuracy
/// of every model, ours with SEM bars and the paper's beside it.
fn single_cell(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Option<String> {
    let [s] = summaries else {
        return None;
    };
    let scope = crate::experiment::paper_scope::PaperScope::committed(spec);
    let models: Vec<&ModelSummary> = s.models.iter().collect();
    let names: Vec<String> = models
        .iter()
        .map(|m| match m.alpha {
            Some(a) => format!("{} a={a}", m.model),
            None if m.model == "dense" => "dense".into(),
            None => m.model.clone(),
        })
        .collect();
    let paper: Vec<(f64, f64)> = models
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            crate::experiment::report::paper_value(
                spec, &scope, &s.cell, &m.model, m.alpha, "test_acc",
            )
            .value()
            .map(|p| (i as f64, p.value))
        })
        .collect();
    if paper.is_empty() {
        return None;
    }
    let ours = Series {
        label: "ours (mean ± SEM)".into(),
        x: (0..models.len()).map(|i| i as f64).collect(),
        mean: models.iter().map(|m| 100.0 * m.test_acc.mean).collect(),
        sem: Some(models.iter().map(|m| 100.0 * m.test_acc.sem).collect()),
        significant: models.iter().map(|m| significant(m)).collect(),
        dashed: false,
        color: Some(0),
    };
    let printed = Series {
        label: format!("paper ({})", spec.paper_ref),
        x: paper.iter().map(|p| p.0).collect(),
        mean: paper.iter().map(|p| p.1).collect(),
        sem: None,
        significant: Vec::new(),
        dashed: true,
        color: Some(3),
    };
    let mut caption = vec![
        format!(
            "Test accuracy of every model of the one cell ({} neurons before expansion; dense: the dense model \
             trained as long as the FPE models; a = alpha).",
            s.cell.neurons
        ),
        bars_caption(spec, "the test accuracy"),
        format!(
            "Hollow squares: the accuracies the paper prints ({}) for its own runs (its data set and encoder; the \
             spec says where this run differs); no error bars printed.",
            spec.paper_ref
        ),
    ];
    if ours.significant.contains(&true) {
        caption.push(star_caption(spec));
    }
    let mut ours = ours;
    if !ours.significant.contains(&true) {
        ours.significant.clear();
    }
    let chart = LineChart {
        title: format!(
            "{}: test accuracy per model, ours and the paper's",
            spec.name
        ),
        x_label: "model".into(),
        y_label: "test accuracy (%)".into(),
        series: vec![ours, printed],
        reference: None,
        markers: true,
        legend: Corner::Outside,
        x_scale: XScale::Linear,
        dodge: true,
        caption,
        annotations: Vec::new(),
        categories: names,
    };
    Some(save_chart(dir, "acc-by-model", &chart))
}

/// Draws every picture the grid allows into `dir` and returns their markdown links (see the module docs).
pub fn write(spec: &Spec, summaries: &[CellSummary], dir: &Path) -> Vec<String> {
    if summaries.is_empty() {
        return Vec::new();
    }
    let clauses = distinct(summaries, |c| c.clauses).len();
    let neurons = distinct(summaries, |c| Some(c.neurons)).len();
    let mut out = Vec::new();
    if clauses > 1 && neurons > 1 {
        out.extend(heatmaps(spec, summaries, dir));
    } else if neurons > 1 {
        out.extend(sweeps(spec, summaries, Axis::Neurons, dir));
    } else if clauses > 1 {
        out.extend(sweeps(spec, summaries, Axis::Clauses, dir));
    } else if let Some(link) = single_cell(spec, summaries, dir) {
        out.push(link);
    }
    out.extend(curves(spec, summaries, dir));
    out
}
