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
        root.fill(&WHITE).map_err(msg)?;
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 20))
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
            let Some((b, a, r2)) = g.fit() else { continue };
            let lo = g.x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = g.x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let line = vec![(lo, a + b * lo), (hi, a + b * hi)];
            let label = format!("{}: R^2 = {r2:.2}", g.label);
            let style = c.stroke_width(2);
            let drawn = if g.dotted {
                chart
                    .draw_series(DashedLineSeries::new(line, 3, 5, style))
                    .map_err(msg)?
            } else {
                chart
                    .draw_series(LineSeries::new(line, style))
                    .map_err(msg)?
            };
            let dotted = g.dotted;
            drawn.label(label).legend(move |(x, y)| {
                // The line as drawn (three dashes when dotted) and the group's marker in its middle.
                // Solid: three overlapping pieces make one line.
                let p = if dotted {
                    [(0, 4), (9, 13), (18, 22)]
                } else {
                    [(0, 8), (7, 15), (14, 22)]
                };
                let marker = if dotted {
                    c.stroke_width(2)
                } else {
                    c.filled()
                };
                let dash =
                    |(a, b): (i32, i32)| PathElement::new(vec![(a, 0), (b, 0)], c.stroke_width(3));
                EmptyElement::at((x, y))
                    + dash(p[0])
                    + dash(p[1])
                    + dash(p[2])
                    + Circle::new((11, 0), 4, marker)
            });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(msg)?;
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
