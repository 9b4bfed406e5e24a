//! Least-squares regressions drawn over their points (Fig. 4c): per group, the points (means with SEM bars in
//! x and y), the fitted line `y = a + b x` over the group's x range, dotted or solid, and `R^2` in the legend.
//! A dotted group's points are hollow, so points of two groups of one colour stay apart.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{msg, render, series_color, Figure};
use crate::error::{Error, Result};
use crate::stats::linear_fit;

/// One group of points and its regression line.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegressionGroup {
    /// Legend entry (`R^2` is appended).
    pub label: String,
    /// x of every point.
    pub x: Vec<f64>,
    /// y of every point.
    pub y: Vec<f64>,
    /// SEM of x per point (horizontal bars), if known.
    pub x_sem: Option<Vec<f64>>,
    /// SEM of y per point (vertical bars), if known.
    pub y_sem: Option<Vec<f64>>,
    /// Draw the line dotted (else solid).
    pub dotted: bool,
    /// Colour index ([`series_color`]).
    pub color: usize,
}

impl RegressionGroup {
    /// `(slope, intercept, R^2)` of the least-squares line, `None` when undefined
    /// ([`crate::stats::linear_fit`]).
    pub fn fit(&self) -> Option<(f64, f64, f64)> {
        linear_fit(&self.x, &self.y)
    }
}

/// A chart of regression groups.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegressionChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The groups.
    pub groups: Vec<RegressionGroup>,
    /// Lines of text under the plot (what the bars are, over how many trials).
    #[serde(default)]
    pub caption: Vec<String>,
}

impl RegressionChart {
    fn check(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("a regression chart needs at least one group".into());
        }
        for g in &self.groups {
            let n = g.x.len();
            if n == 0 || g.y.len() != n {
                return Err(format!(
                    "group '{}' has {n} x values and {} y values; they must match and not be empty",
                    g.label,
                    g.y.len()
                ));
            }
            if [&g.x_sem, &g.y_sem]
                .iter()
                .any(|e| e.as_ref().is_some_and(|e| e.len() != n))
            {
                return Err(format!(
                    "group '{}' has a different number of SEMs than points",
                    g.label
                ));
            }
            let all =
                g.x.iter()
                    .chain(&g.y)
                    .chain(g.x_sem.iter().flatten())
                    .chain(g.y_sem.iter().flatten());
            if all.clone().any(|v| !v.is_finite()) {
                return Err(format!("group '{}' holds a non-finite value", g.label));
            }
        }
        Ok(())
    }

    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for g in &self.groups {
            for i in 0..g.x.len() {
                let ex = g.x_sem.as_ref().map_or(0.0, |e| e[i].abs());
                let ey = g.y_sem.as_ref().map_or(0.0, |e| e[i].abs());
                x0 = x0.min(g.x[i] - ex);
                x1 = x1.max(g.x[i] + ex);
                y0 = y0.min(g.y[i] - ey);
                y1 = y1.max(g.y[i] + ey);
            }
        }
        let pad = |a: f64, b: f64, f: f64| {
            let w = if b > a { b - a } else { a.abs().max(1.0) };
            (a - f * w, b + f * w)
        };
        (pad(x0, x1, 0.06), pad(y0, y1, 0.1))
    }
}

impl Figure for RegressionChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        use super::curves::{wrap, CAPTION_LINE, LEGEND_CHAR};
        root.fill(&WHITE).map_err(msg)?;
        let (w, h) = root.dim_in_pixel();
        // Caption under the plot, legend beside it (never over the points), title above both.
        let chars = ((w as f64 - 40.0) / 7.6).max(20.0) as usize;
        let caption: Vec<String> = self.caption.iter().flat_map(|l| wrap(l, chars)).collect();
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
        let labels: Vec<String> = self
            .groups
            .iter()
            .map(|g| match g.fit() {
                Some((_, _, r2)) => format!("{}: R^2 = {r2:.2}", g.label),
                None => format!("{}: no line", g.label),
            })
            .collect();
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let legend_w = (((longest + 2) as f64 * LEGEND_CHAR) as u32 + 56).min(w * 2 / 5);
        let (plot, side) = main.split_horizontally(main.dim_in_pixel().0 - legend_w);
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(msg)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(msg)?;
        for g in &self.groups {
            let c = series_color(g.color);
            let pts: Vec<(f64, f64)> = g.x.iter().copied().zip(g.y.iter().copied()).collect();
            let marker = if g.dotted {
                c.stroke_width(2)
            } else {
                c.filled()
            };
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, marker)))
                .map_err(msg)?;
            if let Some(e) = &g.y_sem {
                chart
                    .draw_series(pts.iter().zip(e).map(|(&(x, y), &e)| {
                        ErrorBar::new_vertical(x, y - e.abs(), y, y + e.abs(), c.stroke_width(1), 8)
                    }))
                    .map_err(msg)?;
            }
            if let Some(e) = &g.x_sem {
                chart
                    .draw_series(pts.iter().zip(e).map(|(&(x, y), &e)| {
                        ErrorBar::new_horizontal(
                            y,
                            x - e.abs(),
                            x,
                            x + e.abs(),
                            c.stroke_width(1),
                            8,
                        )
                    }))
                    .map_err(msg)?;
            }
            let Some((b, a, _)) = g.fit() else { continue };
            let lo = g.x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = g.x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let line = vec![(lo, a + b * lo), (hi, a + b * hi)];
            let style = c.stroke_width(2);
            if g.dotted {
                chart
                    .draw_series(DashedLineSeries::new(line, 3, 5, style))
                    .map_err(msg)?;
            } else {
                chart
                    .draw_series(LineSeries::new(line, style))
                    .map_err(msg)?;
            }
        }
        // The legend: the line as drawn (three dashes when dotted), the group's marker, the label with R^2.
        let char_room = ((legend_w.saturating_sub(56)) as f64 / LEGEND_CHAR) as usize;
        let mut y = 24i32;
        for (g, label) in self.groups.iter().zip(&labels) {
            let c = series_color(g.color);
            let p = if g.dotted {
                [(6, 10), (15, 19), (24, 28)]
            } else {
                [(6, 14), (13, 21), (20, 28)]
            };
            for (a, b) in p {
                side.draw(&PathElement::new(vec![(a, y), (b, y)], c.stroke_width(3)))
                    .map_err(msg)?;
            }
            let marker = if g.dotted {
                c.stroke_width(2)
            } else {
                c.filled()
            };
            side.draw(&Circle::new((17, y), 4, marker)).map_err(msg)?;
            let lines = wrap(label, char_room.max(8));
            for (k, line) in lines.iter().enumerate() {
                side.draw(&Text::new(
                    line.as_str(),
                    (40, y - 8 + 18 * k as i32),
                    ("sans-serif", 14).into_font().color(&BLACK),
                ))
                .map_err(msg)?;
            }
            y += 18 * lines.len().max(1) as i32 + 8;
        }
        Ok(())
    }
}

/// Draws `chart` into `path` (`.png` or `.svg`) at `size` pixels.
pub fn draw_regression_chart(path: &Path, chart: &RegressionChart, size: (u32, u32)) -> Result<()> {
    chart.check().map_err(|why| Error::Plot {
        path: path.display().to_string(),
        why,
    })?;
    render(chart, path, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(x: Vec<f64>, y: Vec<f64>) -> RegressionGroup {
        RegressionGroup {
            label: "g".into(),
            x,
            y,
            x_sem: None,
            y_sem: None,
            dotted: true,
            color: 0,
        }
    }

    #[test]
    fn draws_and_refuses_bad_groups() {
        let dir =
            std::env::temp_dir().join(format!("neurosplit-regression-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut chart = RegressionChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            groups: vec![group(vec![1.0, 2.0, 3.0], vec![2.0, 4.5, 6.0])],
            caption: vec!["bars: ± one SEM".into()],
        };
        let (b, _, r2) = chart.groups[0].fit().unwrap();
        assert!(b > 0.0 && r2 > 0.9 && r2 < 1.0);
        let svg = dir.join("r.svg");
        draw_regression_chart(&svg, &chart, (600, 400)).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("R^2 = "));
        chart.groups[0].y.pop();
        assert!(draw_regression_chart(&svg, &chart, (600, 400)).is_err());
        chart.groups.clear();
        assert!(draw_regression_chart(&svg, &chart, (600, 400)).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
