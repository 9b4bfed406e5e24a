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
    /// Value range of the colour scale; default: `±max|v|` (diverging) or `min..max` (sequential).
    pub range: Option<(f64, f64)>,
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
        let areas = body.split_evenly((1, self.panels.len()));
        for (area, p) in areas.iter().zip(self.panels) {
            draw_panel(area, p)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Heatmap,
) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(100));
    let (rows, cols) = (p.rows, p.cols);
    let range = p.value_range();
    let ylab_width = p
        .row_labels
        .as_ref()
        .map_or(3, |l| l.iter().map(String::len).max().unwrap_or(1))
        .max(2) as u32;
    let mut chart = ChartBuilder::on(&main)
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
                let ink = if p.colormap == ColorMap::Sequential && t < 0.55 {
                    WHITE
                } else {
                    BLACK
                };
                let style = ("sans-serif", 13)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                Text::new(
                    format!("{v:.dec$}"),
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
    colorbar(&bar, p.colormap, range)
}

fn colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: ColorMap,
    (lo, hi): (f64, f64),
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(56)
        .margin_right(4)
        .y_label_area_size(0)
        .right_y_label_area_size(66)
        .build_cartesian_2d(0f64..1.0, lo..hi)
        .map_err(msg)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .label_style(("sans-serif", 12))
        .y_label_formatter(&|v| format!("{v:.2}"))
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
