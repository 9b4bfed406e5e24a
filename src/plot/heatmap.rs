//! Matrix heatmaps: Fig. 2 (W1 and its Gram matrix), Fig. A1, and Fig. 3c (relative improvement over
//! clauses x neurons).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{msg, render, Figure};
use crate::error::{Error, Result};
use crate::metrics;
use crate::nn::Linear;

/// How values map to colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMap {
    /// Blue (negative) - white (0) - red (positive), symmetric around 0: weights and Gram matrices.
    Diverging,
    /// Dark blue - green - yellow (viridis-like), low to high: accuracies, ratios.
    Sequential,
}

/// One heatmap panel: a `rows x cols` matrix, row 0 drawn at the top.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Panel title.
    pub title: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Values, `rows x cols`, row-major.
    pub values: Vec<f64>,
    /// Cells to cross out (`true` = masked), `rows x cols`; masked cells are drawn as value 0 with a black x.
    pub masked: Option<Vec<bool>>,
    /// A horizontal line is drawn above each of these row indices (e.g. between children of one parent).
    pub row_breaks: Vec<usize>,
    /// A vertical line is drawn left of each of these column indices (e.g. between clauses).
    pub col_breaks: Vec<usize>,
    /// Label of the x axis (columns).
    pub x_label: String,
    /// Label of the y axis (rows).
    pub y_label: String,
    /// Tick labels of the rows (default: the row index).
    pub row_labels: Option<Vec<String>>,
    /// Tick labels of the columns (default: the column index).
    pub col_labels: Option<Vec<String>>,
    /// Write each cell's value in it, with this many decimals.
    pub annotate: Option<usize>,
    /// Colour scale.
    pub colormap: ColorMap,
    /// Value range of the colour scale; default: `±max|v|` (diverging) or `min..max` (sequential). Panels
    /// drawn together with equal ranges share one colour bar ([`share_scale`] sets that up).
    pub range: Option<(f64, f64)>,
    /// What the colours mean (e.g. "relative improvement %"), written along the colour bar.
    pub value_label: String,
    /// Cells marked significant (e.g. p < 0.05): a star follows the cell's value. Empty or `rows x cols`.
    pub significant: Vec<bool>,
}

impl Heatmap {
    /// A panel with default decorations (no breaks, index tick labels, diverging colours).
    pub fn new(title: impl Into<String>, rows: usize, cols: usize, values: Vec<f64>) -> Self {
        Heatmap {
            title: title.into(),
            rows,
            cols,
            values,
            masked: None,
            row_breaks: Vec::new(),
            col_breaks: Vec::new(),
            x_label: String::new(),
            y_label: String::new(),
            row_labels: None,
            col_labels: None,
            annotate: None,
            colormap: ColorMap::Diverging,
            range: None,
            value_label: String::new(),
            significant: Vec::new(),
        }
    }

    fn check(&self) -> Result<(), String> {
        let n = self.rows * self.cols;
        if n == 0 {
            return Err(format!("heatmap '{}' is empty", self.title));
        }
        if self.values.len() != n {
            return Err(format!(
                "heatmap '{}' has {} values for {} x {} cells",
                self.title,
                self.values.len(),
                self.rows,
                self.cols
            ));
        }
        if self.masked.as_ref().is_some_and(|m| m.len() != n) {
            return Err(format!("heatmap '{}': mask size differs", self.title));
        }
        if !self.significant.is_empty() && self.significant.len() != n {
            return Err(format!(
                "heatmap '{}': significance marks for {} of {n} cells",
                self.title,
                self.significant.len()
            ));
        }
        if self
            .row_labels
            .as_ref()
            .is_some_and(|l| l.len() != self.rows)
            || self
                .col_labels
                .as_ref()
                .is_some_and(|l| l.len() != self.cols)
        {
            return Err(format!(
                "heatmap '{}': one tick label per row/column is needed",
                self.title
            ));
        }
        Ok(())
    }

    fn value_range(&self) -> (f64, f64) {
        if let Some(r) = self.range {
            return r;
        }
        let finite = || self.values.iter().copied().filter(|v| v.is_finite());
        match self.colormap {
            ColorMap::Diverging => {
                let m = finite().fold(0f64, |a, v| a.max(v.abs()));
                let m = if m > 0.0 { m } else { 1.0 };
                (-m, m)
            }
            ColorMap::Sequential => {
                let lo = finite().fold(f64::INFINITY, f64::min);
                let hi = finite().fold(f64::NEG_INFINITY, f64::max);
                if lo.is_finite() && hi > lo {
                    (lo, hi)
                } else if lo.is_finite() {
                    (lo - 0.5, lo + 0.5)
                } else {
                    (0.0, 1.0)
                }
            }
        }
    }
}

/// The smallest "round" number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at least `v > 0`.
fn nice_ceil(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag)
}

/// Gives every panel one colour scale: the range covering all their values (diverging: `±m` with `m` rounded
/// up to a round number, so the colour bar ends on a tick), so equal colours mean equal values across the
/// panels, which are then drawn with a single colour bar. Panels must share their colour map.
pub fn share_scale(panels: &mut [Heatmap]) {
    let Some(map) = panels.first().map(|p| p.colormap) else {
        return;
    };
    let ranges: Vec<(f64, f64)> = panels
        .iter()
        .map(|p| {
            Heatmap {
                range: None,
                ..p.clone()
            }
            .value_range()
        })
        .collect();
    let range = match map {
        ColorMap::Diverging => {
            let m = ranges
                .iter()
                .fold(0f64, |a, r| a.max(r.1.abs()).max(r.0.abs()));
            let m = nice_ceil(m);
            (-m, m)
        }
        ColorMap::Sequential => ranges
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, r| {
                (a.0.min(r.0), a.1.max(r.1))
            }),
    };
    for p in panels {
        p.range = Some(range);
    }
}

/// Colour of `v` on `map` over `range`.
fn color(map: ColorMap, v: f64, (lo, hi): (f64, f64)) -> RGBColor {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let stops: &[(u8, u8, u8)] = match map {
        ColorMap::Diverging => &[
            (33, 102, 172),
            (146, 197, 222),
            (247, 247, 247),
            (244, 165, 130),
            (178, 24, 43),
        ],
        ColorMap::Sequential => &[
            (68, 1, 84),
            (59, 82, 139),
            (33, 145, 140),
            (94, 201, 98),
            (253, 231, 37),
        ],
    };
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Tick formatter: the label of the cell whose centre is at `v` (`-v` for rows, which are drawn downwards),
/// blank between cells.
fn tick(v: f64, n: usize, labels: Option<&Vec<String>>, negate: bool) -> String {
    let v = if negate { -v } else { v };
    let r = v.round();
    if (v - r).abs() > 1e-6 || r < 0.0 || r >= n as f64 {
        return String::new();
    }
    let i = r as usize;
    labels.map_or_else(|| i.to_string(), |l| l[i].clone())
}

struct Panels<'a> {
    title: &'a str,
    panels: &'a [Heatmap],
}

impl Figure for Panels<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let body = if self.title.is_empty() {
            root.clone()
        } else {
            root.titled(self.title, ("sans-serif", 26)).map_err(msg)?
        };
        let first = &self.panels[0];
        let shared = self.panels.len() > 1
            && self.panels.iter().all(|p| {
                p.colormap == first.colormap
                    && p.value_range() == first.value_range()
                    && p.value_label == first.value_label
            });
        if !shared {
            let areas = body.split_evenly((1, self.panels.len()));
            for (area, p) in areas.iter().zip(self.panels) {
                let (w, _) = area.dim_in_pixel();
                let (main, bar) = area.split_horizontally(w.saturating_sub(BAR_PX));
                draw_panel(&main, p)?;
                colorbar(&bar, p.colormap, p.value_range(), &p.value_label)?;
            }
            return Ok(());
        }
        // One colour scale: the panels side by side, one colour bar at the right.
        let (w, _) = body.dim_in_pixel();
        let (main, bar) = body.split_horizontally(w.saturating_sub(BAR_PX));
        for (area, p) in main
            .split_evenly((1, self.panels.len()))
            .iter()
            .zip(self.panels)
        {
            draw_panel(area, p)?;
        }
        colorbar(
            &bar,
            first.colormap,
            first.value_range(),
            &first.value_label,
        )
    }
}

/// Width of a colour bar with its ticks and label, in pixels.
const BAR_PX: u32 = 120;

fn draw_panel<DB: DrawingBackend>(
    main: &DrawingArea<DB, Shift>,
    p: &Heatmap,
) -> Result<(), String> {
    let (rows, cols) = (p.rows, p.cols);
    let range = p.value_range();
    let ylab_width = p
        .row_labels
        .as_ref()
        .map_or(3, |l| l.iter().map(String::len).max().unwrap_or(1))
        .max(2) as u32;
    let mut chart = ChartBuilder::on(main)
        .caption(&p.title, ("sans-serif", 20))
        .margin(8)
        .x_label_area_size(48)
        .y_label_area_size(30 + 9 * ylab_width)
        .build_cartesian_2d(-0.5f64..cols as f64 - 0.5, 0.5 - rows as f64..0.5f64)
        .map_err(msg)?;
    let xf = |v: &f64| tick(*v, cols, p.col_labels.as_ref(), false);
    let yf = |v: &f64| tick(*v, rows, p.row_labels.as_ref(), true);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(cols.min(17))
        .y_labels(rows.min(17))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(msg)?;
    // Row r is drawn at y = -r so that row 0 is on top.
    let y_of = |r: usize| -(r as f64);
    let masked = |i: usize| p.masked.as_ref().is_some_and(|m| m[i]);
    chart
        .draw_series((0..rows * cols).map(|i| {
            let (r, c) = (i / cols, i % cols);
            let v = if masked(i) { 0.0 } else { p.values[i] };
            let (x, y) = (c as f64, y_of(r));
            Rectangle::new(
                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                color(p.colormap, v, range).filled(),
            )
        }))
        .map_err(msg)?;
    let cross = BLACK.stroke_width(1);
    chart
        .draw_series((0..rows * cols).filter(|&i| masked(i)).flat_map(|i| {
            let (x, y) = ((i % cols) as f64, y_of(i / cols));
            let d = 0.3;
            [
                PathElement::new(vec![(x - d, y - d), (x + d, y + d)], cross),
                PathElement::new(vec![(x - d, y + d), (x + d, y - d)], cross),
            ]
        }))
        .map_err(msg)?;
    if let Some(dec) = p.annotate {
        let (lo, hi) = range;
        chart
            .draw_series((0..rows * cols).map(|i| {
                let v = p.values[i];
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                // White on the dark ends of the scale, black elsewhere.
                let dark = match p.colormap {
                    ColorMap::Sequential => t < 0.55,
                    ColorMap::Diverging => !(0.12..=0.85).contains(&t),
                };
                let ink = if dark { WHITE } else { BLACK };
                let star = if p.significant.get(i) == Some(&true) {
                    "*"
                } else {
                    ""
                };
                let style = ("sans-serif", 13)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                Text::new(
                    format!("{v:.dec$}{star}"),
                    ((i % cols) as f64, y_of(i / cols)),
                    style,
                )
            }))
            .map_err(msg)?;
    }
    let line = BLACK.stroke_width(2);
    let (top, bottom) = (0.5, 0.5 - rows as f64);
    chart
        .draw_series(
            p.col_breaks
                .iter()
                .filter(|&&c| c > 0 && c < cols)
                .map(|&c| {
                    PathElement::new(vec![(c as f64 - 0.5, bottom), (c as f64 - 0.5, top)], line)
                }),
        )
        .map_err(msg)?;
    chart
        .draw_series(
            p.row_breaks
                .iter()
                .filter(|&&r| r > 0 && r < rows)
                .map(|&r| {
                    let y = y_of(r) + 0.5;
                    PathElement::new(vec![(-0.5, y), (cols as f64 - 0.5, y)], line)
                }),
        )
        .map_err(msg)?;
    Ok(())
}

/// A vertical colour bar over `lo..hi` with round tick values and `label` written along its right side.
fn colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: ColorMap,
    (lo, hi): (f64, f64),
    label: &str,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let (bar_area, label_area) = area.split_horizontally(w.saturating_sub(26));
    let ticks = super::nice_ticks(lo, hi, 6);
    let mut chart = ChartBuilder::on(&bar_area)
        .margin_top(44)
        .margin_bottom(60)
        .margin_right(4)
        .y_label_area_size(0)
        .right_y_label_area_size(58)
        .build_cartesian_2d(0f64..1.0, super::TickedAxis { lo, hi, ticks })
        .map_err(msg)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style(("sans-serif", 13))
        .y_label_formatter(&|v| super::curves::trim(*v))
        .draw()
        .map_err(msg)?;
    let n = 100;
    let step = (hi - lo) / n as f64;
    chart
        .draw_series((0..n).map(|k| {
            let a = lo + k as f64 * step;
            Rectangle::new(
                [(0.0, a), (1.0, a + step)],
                color(map, a + step / 2.0, (lo, hi)).filled(),
            )
        }))
        .map_err(msg)?;
    if !label.is_empty() {
        // Centred on the bar (whose plotting area runs from 44 px below the top to 60 px above the bottom).
        let mid = 44 + (h.saturating_sub(104) / 2) as i32;
        let style = ("sans-serif", 15)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        label_area
            .draw(&Text::new(label.to_string(), (12, mid), style))
            .map_err(msg)?;
    }
    Ok(())
}

/// Draws `panels` side by side into `path` (`.png` or `.svg`) under a common `title`.
///
/// Each panel gets about `panel_px.0 x panel_px.1` pixels.
pub fn draw_heatmaps(
    path: &Path,
    title: &str,
    panels: &[Heatmap],
    panel_px: (u32, u32),
) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::Plot {
            path: path.display().to_string(),
            why: "no panels to draw".into(),
        });
    }
    for p in panels {
        p.check().map_err(|why| Error::Plot {
            path: path.display().to_string(),
            why,
        })?;
    }
    let title_px = if title.is_empty() { 0 } else { 40 };
    let size = (panel_px.0 * panels.len() as u32, panel_px.1 + title_px);
    render(&Panels { title, panels }, path, size)
}

/// Where contiguous groups of inputs start (vertical lines between clauses); empty if the groups are not
/// contiguous ranges in order.
fn group_starts(groups: &[Vec<usize>]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut next = None;
    for g in groups {
        let (Some(&first), Some(&last)) = (g.iter().min(), g.iter().max()) else {
            continue;
        };
        if last + 1 - first != g.len() || next.is_some_and(|n| n != first) {
            return Vec::new();
        }
        starts.push(first);
        next = Some(last + 1);
    }
    starts
}

/// The Fig. 2 weight panel of `layer`: `W` (neurons x inputs) with masked weights crossed out, lines between
/// feature groups (contiguous groups only) and, if `children` is given, between the children of each parent
/// (every `children` rows).
pub fn weights_panel(
    layer: &Linear,
    groups: Option<&[Vec<usize>]>,
    children: Option<usize>,
) -> Heatmap {
    let mut p = Heatmap::new(
        format!(
            "W ({} neurons x {} inputs)",
            layer.out_dim(),
            layer.in_dim()
        ),
        layer.out_dim(),
        layer.in_dim(),
        layer.weight().iter().map(|&v| v as f64).collect(),
    );
    p.masked = layer
        .mask()
        .as_ref()
        .map(|m| m.to_bools().into_iter().map(|b| !b).collect());
    p.col_breaks = groups.map(group_starts).unwrap_or_default();
    if let Some(a) = children.filter(|&a| a >= 2) {
        p.row_breaks = (a..layer.out_dim()).step_by(a).collect();
    }
    p.x_label = "input (literal)".into();
    p.y_label = "neuron".into();
    p
}

/// The Fig. 2 Gram panel of `layer`: `G = W^T W` (inputs x inputs), with lines between feature groups.
pub fn gram_panel(layer: &Linear, groups: Option<&[Vec<usize>]>) -> Heatmap {
    let d = layer.in_dim();
    let mut p = Heatmap::new(
        format!("Gram matrix W^T W ({d} x {d})"),
        d,
        d,
        metrics::gram(layer),
    );
    let starts = groups.map(group_starts).unwrap_or_default();
    p.col_breaks = starts.clone();
    p.row_breaks = starts;
    p.x_label = "input (literal)".into();
    p.y_label = "input (literal)".into();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_scales_are_one_round_range() {
        // The case: panels of +-28 and +-57 get one scale, +-60, whose ends are round ticks.
        let mut panels = vec![
            Heatmap::new("a", 1, 2, vec![-3.0, 28.1]),
            Heatmap::new("b", 1, 2, vec![57.4, 0.0]),
        ];
        share_scale(&mut panels);
        assert_eq!(panels[0].range, Some((-60.0, 60.0)));
        assert_eq!(panels[1].range, panels[0].range);
        assert_eq!(nice_ceil(28.1), 30.0);
        assert_eq!(nice_ceil(0.07), 0.08);
        assert_eq!(nice_ceil(20.0), 20.0);
        let seq = |v: f64| Heatmap {
            colormap: ColorMap::Sequential,
            ..Heatmap::new("s", 1, 1, vec![v])
        };
        let mut panels = vec![seq(-3.0), seq(90.0)];
        share_scale(&mut panels);
        assert_eq!(panels[1].range, panels[0].range);
        let (lo, hi) = panels[0].range.unwrap();
        assert!(lo <= -3.0 && hi >= 90.0, "{lo}..{hi}");
    }

    #[test]
    fn colour_scale_ends_and_middle() {
        let r = (-1.0, 1.0);
        assert_eq!(color(ColorMap::Diverging, 0.0, r), RGBColor(247, 247, 247));
        assert_eq!(color(ColorMap::Diverging, -5.0, r), RGBColor(33, 102, 172));
        assert_eq!(color(ColorMap::Diverging, 1.0, r), RGBColor(178, 24, 43));
    }

    #[test]
    fn group_lines_only_for_contiguous_groups() {
        assert_eq!(
            group_starts(&[vec![0, 1], vec![2, 3], vec![4]]),
            vec![0, 2, 4]
        );
        assert!(group_starts(&[vec![0, 2], vec![1, 3]]).is_empty());
    }

    #[test]
    fn ticks_label_cell_centres_only() {
        assert_eq!(tick(2.0, 4, None, false), "2");
        assert_eq!(tick(-2.0, 4, None, true), "2");
        assert_eq!(tick(2.0, 4, None, true), "");
        assert_eq!(tick(2.5, 4, None, false), "");
        assert_eq!(tick(4.0, 4, None, false), "");
    }
}
