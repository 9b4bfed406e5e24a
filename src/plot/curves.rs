//! Curves of means with SEM error bars: Fig. 3a/b (relative improvement vs neurons / clauses), Fig. 4 (fold
//! changes), Fig. 6b (training curves of dense vs FPE).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{msg, render, series_color, Figure};
use crate::error::{Error, Result};

/// One curve: a mean per x, and optionally its standard error (drawn as a vertical bar `mean ± sem`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// x values, one per point.
    pub x: Vec<f64>,
    /// Mean y value per point.
    pub mean: Vec<f64>,
    /// Standard error of the mean per point; `None` draws no bars.
    pub sem: Option<Vec<f64>>,
    /// Points marked significant (e.g. p < 0.05 against a baseline): a star is drawn above them. Empty (the
    /// default) or one entry per point.
    #[serde(default)]
    pub significant: Vec<bool>,
    /// Draw the curve dashed with hollow square markers (e.g. the numbers a paper printed, beside ours).
    #[serde(default)]
    pub dashed: bool,
    /// Colour index ([`series_color`]); `None` takes the series' position in the chart.
    #[serde(default)]
    pub color: Option<usize>,
}

impl Series {
    /// A series without error bars or marks.
    pub fn new(label: impl Into<String>, x: Vec<f64>, mean: Vec<f64>) -> Series {
        Series {
            label: label.into(),
            x,
            mean,
            sem: None,
            significant: Vec::new(),
            dashed: false,
            color: None,
        }
    }
}

/// A text drawn just above a point (e.g. Fig. 6a's equivalent dense parameter count above each FPE point).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    /// x of the point (data units; shifted with its series when the chart dodges).
    pub x: f64,
    /// y of the point.
    pub y: f64,
    /// The text.
    pub text: String,
    /// The series the point belongs to (its colour and sideways shift), if any.
    #[serde(default)]
    pub series: Option<usize>,
}

/// How the x axis maps values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum XScale {
    /// Evenly spaced values (the default).
    #[default]
    Linear,
    /// Base-2 logarithmic, for widths or counts that double (4, 8, 16, ...): every doubling is the same
    /// distance; ticks at the data's x values. All x must be positive.
    Log2,
}

/// A chart of several series.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// A dashed horizontal line at this y (e.g. 1.0 for "same as dense").
    pub reference: Option<f64>,
    /// Draw markers at the points (turn off for long training curves).
    pub markers: bool,
    /// Corner of the plot that holds the legend (pick one the curves leave free).
    pub legend: Corner,
    /// Linear or base-2 logarithmic x axis.
    #[serde(default)]
    pub x_scale: XScale,
    /// Shift the series sideways by a small step each (centred on the true x), so that series measured at the
    /// same x do not hide each other's error bars.
    #[serde(default)]
    pub dodge: bool,
    /// Lines of text under the plot: what the error bars are and over how many trials, what the marks mean.
    /// When the chart dodges, a line saying so is added.
    #[serde(default)]
    pub caption: Vec<String>,
    /// Texts drawn above points.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// Names of categories: when given, x = 0, 1, ... indexes them, the ticks show the names and the points
    /// of a series are not joined (they are not a sequence).
    #[serde(default)]
    pub categories: Vec<String>,
}

/// A corner of the plotting area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Corner {
    /// Top right (the default).
    #[default]
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom right.
    LowerRight,
    /// Bottom left.
    LowerLeft,
    /// Beside the plot, on its right (never covers data).
    Outside,
}

impl LineChart {
    fn check(&self) -> Result<(), String> {
        if self.series.is_empty() {
            return Err("a chart needs at least one series".into());
        }
        for s in &self.series {
            if s.x.is_empty() || s.x.len() != s.mean.len() {
                return Err(format!(
                    "series '{}' has {} x values and {} means; they must match and not be empty",
                    s.label,
                    s.x.len(),
                    s.mean.len()
                ));
            }
            if s.sem.as_ref().is_some_and(|e| e.len() != s.x.len()) {
                return Err(format!(
                    "series '{}' has a different number of SEMs than points",
                    s.label
                ));
            }
            if !s.significant.is_empty() && s.significant.len() != s.x.len() {
                return Err(format!(
                    "series '{}' marks {} points significant of {}",
                    s.label,
                    s.significant.len(),
                    s.x.len()
                ));
            }
            if self.x_scale == XScale::Log2 && s.x.iter().any(|&x| x <= 0.0) {
                return Err(format!(
                    "series '{}' has an x <= 0, which a log2 axis cannot show",
                    s.label
                ));
            }
            let all = s.x.iter().chain(&s.mean).chain(s.sem.iter().flatten());
            if all.clone().any(|v| !v.is_finite()) {
                return Err(format!("series '{}' holds a non-finite value", s.label));
            }
        }
        if !self.categories.is_empty() {
            let n = self.categories.len() as f64;
            if let Some(s) = self
                .series
                .iter()
                .find(|s| s.x.iter().any(|&x| x < 0.0 || x >= n || x.fract() != 0.0))
            {
                return Err(format!(
                    "series '{}' has an x that is not a category index",
                    s.label
                ));
            }
        }
        for a in &self.annotations {
            if !(a.x.is_finite() && a.y.is_finite()) || (self.x_scale == XScale::Log2 && a.x <= 0.0)
            {
                return Err(format!(
                    "annotation '{}' is not at a point the chart can show",
                    a.text
                ));
            }
            if a.series.is_some_and(|i| i >= self.series.len()) {
                return Err(format!(
                    "annotation '{}' names a series the chart lacks",
                    a.text
                ));
            }
        }
        Ok(())
    }

    /// The x label as drawn: a log2 axis says so.
    fn x_label_shown(&self) -> String {
        if self.x_scale == XScale::Log2 && !self.x_label.contains("log") {
            format!("{} (log2 scale)", self.x_label)
        } else {
            self.x_label.clone()
        }
    }

    /// The caption lines as drawn: the chart's own, then a note on the sideways shift when there is one.
    pub fn caption_lines(&self) -> Vec<String> {
        let mut lines = self.caption.clone();
        let step = self
            .series
            .iter()
            .filter(|s| s.sem.is_some())
            .map(|s| self.bar_step(s))
            .max()
            .unwrap_or(1);
        if step > 1 {
            lines.push(format!(
                "Error bars are drawn on every {step}th point of the long curves only, so that they stay readable."
            ));
        }
        if self.dodge && self.series.len() > 1 && self.axis_xs().len() > 1 {
            lines.push(
                "Points of different curves at one x are spread sideways (over a quarter of the gap between \
                 neighbouring x values) so their error bars do not overlap; each belongs to the x tick below it."
                    .into(),
            );
        }
        lines
    }

    /// Error bars on every point, or on every k-th point of a long curve drawn without markers (a training
    /// curve), so that about 20 bars per curve stay readable.
    fn bar_step(&self, s: &Series) -> usize {
        if self.markers || s.x.len() <= 40 {
            1
        } else {
            s.x.len().div_ceil(20)
        }
    }

    fn color(&self, i: usize) -> RGBColor {
        series_color(self.series[i].color.unwrap_or(i))
    }

    /// The plotted x of a data x (log2 of it on a log2 axis).
    fn to_axis(&self, x: f64) -> f64 {
        match self.x_scale {
            XScale::Linear => x,
            XScale::Log2 => x.log2(),
        }
    }

    /// The distinct plotted x values of all series, sorted.
    fn axis_xs(&self) -> Vec<f64> {
        let mut xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.x.iter().map(|&x| self.to_axis(x)))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        xs
    }

    /// The sideways shift of series `i` in plotted units: with `dodge`, series are spread over a quarter of
    /// the smallest gap between x values, centred on the true x.
    fn offset(&self, i: usize) -> f64 {
        let n = self.series.len();
        if !self.dodge || n < 2 {
            return 0.0;
        }
        let xs = self.axis_xs();
        let gap = xs
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        let span = if gap.is_finite() { gap } else { 1.0 };
        let step = 0.25 * span / (n - 1) as f64;
        (i as f64 - (n - 1) as f64 / 2.0) * step
    }

    /// Tick positions on the x axis in plotted coordinates: on a log2 axis the data's x values (or the whole
    /// powers of two in range, when there are many); on a linear axis round numbers (1, 2 or 5 x 10^k apart).
    fn x_ticks(&self, x0: f64, x1: f64) -> Vec<f64> {
        if !self.categories.is_empty() {
            return (0..self.categories.len()).map(|i| i as f64).collect();
        }
        if self.x_scale == XScale::Log2 {
            let xs = self.axis_xs();
            if xs.len() <= 12 {
                return xs;
            }
            return (x0.ceil() as i64..=x1.floor() as i64)
                .map(|e| e as f64)
                .collect();
        }
        nice_ticks(x0, x1, 8)
    }

    /// Bounds of everything drawn in plotted coordinates, padded by 5% (x) and 8% (y; 14% above when stars
    /// are drawn).
    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for (si, s) in self.series.iter().enumerate() {
            for (i, (&x, &m)) in s.x.iter().zip(&s.mean).enumerate() {
                let e = s.sem.as_ref().map_or(0.0, |e| e[i].abs());
                let x = self.to_axis(x) + self.offset(si);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(m - e);
                y1 = y1.max(m + e);
            }
        }
        if let Some(r) = self.reference {
            y0 = y0.min(r);
            y1 = y1.max(r);
        }
        for a in &self.annotations {
            y0 = y0.min(a.y);
            y1 = y1.max(a.y);
        }
        let stars = self.series.iter().any(|s| s.significant.contains(&true))
            || !self.annotations.is_empty();
        let pad = |a: f64, b: f64, lo: f64, hi: f64| {
            let w = if b > a { b - a } else { a.abs().max(1.0) };
            (a - lo * w, b + hi * w)
        };
        let top = if stars { 0.14 } else { 0.08 };
        if !self.categories.is_empty() {
            let n = self.categories.len() as f64;
            return ((-0.5, n - 0.5), pad(y0, y1, 0.08, top));
        }
        (pad(x0, x1, 0.05, 0.05), pad(y0, y1, 0.08, top))
    }
}

/// Pixel height of one caption line and width of one legend character (15 px sans-serif, generous).
pub(super) const CAPTION_LINE: u32 = 20;
pub(super) const LEGEND_CHAR: f64 = 8.4;

/// Splits `text` into lines of at most `width` characters at spaces.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (w, h) = root.dim_in_pixel();
        // Caption under the plot, legend beside it (when outside), title above both.
        let chars = ((w as f64 - 40.0) / 7.6).max(20.0) as usize;
        let caption: Vec<String> = self
            .caption_lines()
            .iter()
            .flat_map(|l| wrap(l, chars))
            .collect();
        let cap_h = if caption.is_empty() {
            0
        } else {
            (8 + CAPTION_LINE * caption.len() as u32).min(h / 3)
        };
        let (main, bottom) = root.split_vertically(h - cap_h);
        for (i, line) in caption.iter().enumerate() {
            bottom
                .draw(&Text::new(
                    line.as_str(),
                    (20, 4 + CAPTION_LINE as i32 * i as i32),
                    ("sans-serif", 14).into_font().color(&BLACK.mix(0.8)),
                ))
                .map_err(msg)?;
        }
        let main = main.titled(&self.title, ("sans-serif", 20)).map_err(msg)?;
        let outside = self.legend == Corner::Outside;
        let legend_w = if outside {
            let longest = self
                .series
                .iter()
                .map(|s| s.label.chars().count())
                .max()
                .unwrap_or(0);
            (((longest + 2) as f64 * LEGEND_CHAR) as u32 + 56).min(w * 2 / 5)
        } else {
            0
        };
        let (plot, side) = main.split_horizontally(main.dim_in_pixel().0 - legend_w);
        let ((x0, x1), (y0, y1)) = self.bounds();
        let log2 = self.x_scale == XScale::Log2;
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(
                super::TickedAxis {
                    lo: x0,
                    hi: x1,
                    ticks: self.x_ticks(x0, x1),
                },
                y0..y1,
            )
            .map_err(msg)?;
        let names = &self.categories;
        let x_label = |v: &f64| {
            if !names.is_empty() {
                let i = v.round();
                return if i >= 0.0 && (i as usize) < names.len() && (v - i).abs() < 1e-9 {
                    names[i as usize].clone()
                } else {
                    String::new()
                };
            }
            if log2 {
                trim(v.exp2())
            } else {
                trim(*v)
            }
        };
        let x_desc = self.x_label_shown();
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_desc(x_desc.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 18))
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| trim(*v))
            .draw()
            .map_err(msg)?;
        if let Some(r) = self.reference {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, r), (x1, r)],
                    8,
                    6,
                    BLACK.stroke_width(2),
                ))
                .map_err(msg)?;
        }
        let star = ("sans-serif", 20)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, s) in self.series.iter().enumerate() {
            let c = self.color(i);
            let dx = self.offset(i);
            let pts: Vec<(f64, f64)> =
                s.x.iter()
                    .map(|&x| self.to_axis(x) + dx)
                    .zip(s.mean.iter().copied())
                    .collect();
            let dashed = s.dashed;
            let joined = if names.is_empty() {
                pts.clone()
            } else {
                Vec::new()
            };
            let drawn = if dashed {
                chart
                    .draw_series(DashedLineSeries::new(joined, 7, 5, c.stroke_width(2)))
                    .map_err(msg)?
            } else {
                chart
                    .draw_series(LineSeries::new(joined, c.stroke_width(2)))
                    .map_err(msg)?
            };
            if !outside {
                drawn.label(s.label.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                });
            }
            if self.markers || dashed {
                if dashed {
                    chart
                        .draw_series(pts.iter().map(|&p| {
                            EmptyElement::at(p)
                                + Rectangle::new([(-5, -5), (5, 5)], c.stroke_width(2))
                        }))
                        .map_err(msg)?;
                } else {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                        .map_err(msg)?;
                }
            }
            let sem = |k: usize| s.sem.as_ref().map_or(0.0, |e| e[k].abs());
            if s.sem.is_some() {
                let every = self.bar_step(s);
                chart
                    .draw_series(
                        pts.iter()
                            .enumerate()
                            .filter(|(k, _)| (k + 1) % every == 0 || every == 1)
                            .map(|(k, &(x, m))| {
                                ErrorBar::new_vertical(
                                    x,
                                    m - sem(k),
                                    m,
                                    m + sem(k),
                                    c.stroke_width(2),
                                    10,
                                )
                            }),
                    )
                    .map_err(msg)?;
            }
            // A star above the error bar of every significant point, in the series' colour.
            let star = star.clone().color(&c);
            chart
                .draw_series(
                    pts.iter()
                        .enumerate()
                        .filter(|&(k, _)| s.significant.get(k) == Some(&true))
                        .map(|(k, &(x, m))| {
                            EmptyElement::at((x, m + sem(k)))
                                + Text::new("*", (0, -2), star.clone())
                        }),
                )
                .map_err(msg)?;
        }
        for a in &self.annotations {
            let (dx, c) = match a.series {
                Some(i) => (self.offset(i), self.color(i)),
                None => (0.0, RGBColor(0, 0, 0)),
            };
            let font = ("sans-serif", 14)
                .into_font()
                .color(&c)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((self.to_axis(a.x) + dx, a.y))
                        + Text::new(a.text.clone(), (0, -8), font),
                ))
                .map_err(msg)?;
        }
        if outside {
            // The legend beside the plot: a line sample (dashed and a hollow square for dashed series), then
            // the label, one row per series, from the top of the plotting area.
            let char_room = ((legend_w.saturating_sub(56)) as f64 / LEGEND_CHAR) as usize;
            let mut y = 24i32;
            for (i, s) in self.series.iter().enumerate() {
                let c = self.color(i);
                let lines = wrap(&s.label, char_room.max(8));
                if s.dashed {
                    for k in 0..3 {
                        side.draw(&PathElement::new(
                            vec![(6 + 9 * k, y), (12 + 9 * k, y)],
                            c.stroke_width(3),
                        ))
                        .map_err(msg)?;
                    }
                    side.draw(&Rectangle::new(
                        [(12, y - 5), (22, y + 5)],
                        c.stroke_width(2),
                    ))
                    .map_err(msg)?;
                } else {
                    side.draw(&PathElement::new(vec![(6, y), (34, y)], c.stroke_width(3)))
                        .map_err(msg)?;
                    if self.markers {
                        side.draw(&Circle::new((20, y), 4, c.filled()))
                            .map_err(msg)?;
                    }
                }
                for (k, line) in lines.iter().enumerate() {
                    side.draw(&Text::new(
                        line.as_str(),
                        (42, y - 8 + 18 * k as i32),
                        ("sans-serif", 15).into_font().color(&BLACK),
                    ))
                    .map_err(msg)?;
                }
                y += 18 * lines.len().max(1) as i32 + 8;
            }
        } else {
            chart
                .configure_series_labels()
                .position(match self.legend {
                    Corner::UpperRight | Corner::Outside => SeriesLabelPosition::UpperRight,
                    Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                    Corner::LowerRight => SeriesLabelPosition::LowerRight,
                    Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                })
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(msg)?;
        }
        Ok(())
    }
}

/// Round tick values in `lo..=hi`, at most about `max` of them, spaced 1, 2 or 5 times a power of ten.
pub fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || max == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Multiples of the step, so that 0.1 + 0.2 style sums never reach a label.
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick label without trailing zeros (`2`, `0.5`, `1.25`).
pub(super) fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Draws `chart` into `path` (`.png` or `.svg`) at `size` pixels (e.g. `(900, 600)`).
pub fn draw_line_chart(path: &Path, chart: &LineChart, size: (u32, u32)) -> Result<()> {
    chart.check().map_err(|why| Error::Plot {
        path: path.display().to_string(),
        why,
    })?;
    render(chart, path, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(trim(2.0), "2");
        assert_eq!(trim(0.5), "0.5");
        assert_eq!(trim(-0.0001), "0");
        assert_eq!(trim(1.25), "1.25");
    }

    #[test]
    fn nice_ticks_are_round_multiples() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(
            nice_ticks(-57.0, 57.0, 6),
            vec![-40.0, -20.0, 0.0, 20.0, 40.0]
        );
        assert_eq!(nice_ticks(3.0, 3.0, 5), vec![3.0]);
        let t = nice_ticks(0.0, 1.0, 10);
        assert!(t.iter().all(|v| trim(*v).len() <= 3), "{t:?}");
    }

    #[test]
    fn dodged_series_are_centred_and_fit_between_x_values() {
        let mut c = chart_of(vec![
            Series::new("a", vec![4.0, 8.0, 16.0], vec![1.0; 3]),
            Series::new("b", vec![4.0, 8.0, 16.0], vec![1.0; 3]),
            Series::new("c", vec![4.0, 8.0, 16.0], vec![1.0; 3]),
        ]);
        assert_eq!(c.offset(1), 0.0, "no dodge unless asked");
        c.dodge = true;
        c.x_scale = XScale::Log2;
        // log2 spacing of doublings is 1: the three series sit at -1/8, 0, +1/8.
        assert_eq!(
            (c.offset(0), c.offset(1), c.offset(2)),
            (-0.125, 0.0, 0.125)
        );
        assert_eq!(c.x_ticks(1.0, 5.0), vec![2.0, 3.0, 4.0]);
        assert_eq!(trim(c.x_ticks(1.0, 5.0)[1].exp2()), "8");
        c.series[0].x[0] = 0.0;
        assert!(c.check().unwrap_err().contains("log2"));
    }

    fn chart_of(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series,
            reference: None,
            markers: true,
            legend: Corner::default(),
            x_scale: XScale::Linear,
            dodge: false,
            caption: Vec::new(),
            annotations: Vec::new(),
            categories: Vec::new(),
        }
    }

    #[test]
    fn bad_series_are_refused() {
        let mut c = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series::new("a", vec![1.0, 2.0], vec![1.0])],
            reference: None,
            markers: true,
            legend: Corner::default(),
            x_scale: XScale::Linear,
            dodge: false,
            caption: Vec::new(),
            annotations: Vec::new(),
            categories: Vec::new(),
        };
        assert!(c.check().is_err());
        c.series[0].mean.push(f64::NAN);
        assert!(c.check().is_err());
        c.series[0].mean[1] = 2.0;
        assert!(c.check().is_ok());
        c.series[0].significant = vec![true];
        assert!(c.check().unwrap_err().contains("significant"));
    }
}
