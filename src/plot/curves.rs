//! Curves of means with SEM error bars: Fig. 3a/b (relative improvement vs neurons / clauses), Fig. 4 (fold
//! changes), Fig. 6b (training curves of dense vs FPE).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

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
            let all = s.x.iter().chain(&s.mean).chain(s.sem.iter().flatten());
            if all.clone().any(|v| !v.is_finite()) {
                return Err(format!("series '{}' holds a non-finite value", s.label));
            }
        }
        Ok(())
    }

    /// Bounds of everything drawn, padded by 5% (x) and 8% (y).
    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for s in &self.series {
            for (i, (&x, &m)) in s.x.iter().zip(&s.mean).enumerate() {
                let e = s.sem.as_ref().map_or(0.0, |e| e[i].abs());
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
        let pad = |a: f64, b: f64, f: f64| {
            let w = if b > a { b - a } else { a.abs().max(1.0) };
            (a - f * w, b + f * w)
        };
        (pad(x0, x1, 0.05), pad(y0, y1, 0.08))
    }
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
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
            .x_label_formatter(&|v| trim(*v))
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
        for (i, s) in self.series.iter().enumerate() {
            let c = series_color(i);
            let pts: Vec<(f64, f64)> = s.x.iter().copied().zip(s.mean.iter().copied()).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(msg)?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                });
            if self.markers {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                    .map_err(msg)?;
            }
            if let Some(sem) = &s.sem {
                chart
                    .draw_series(pts.iter().zip(sem).map(|(&(x, m), &e)| {
                        ErrorBar::new_vertical(
                            x,
                            m - e.abs(),
                            m,
                            m + e.abs(),
                            c.stroke_width(2),
                            10,
                        )
                    }))
                    .map_err(msg)?;
            }
        }
        chart
            .configure_series_labels()
            .position(match self.legend {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(msg)?;
        Ok(())
    }
}

/// A tick label without trailing zeros (`2`, `0.5`, `1.25`).
fn trim(v: f64) -> String {
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
    fn bad_series_are_refused() {
        let mut c = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "a".into(),
                x: vec![1.0, 2.0],
                mean: vec![1.0],
                sem: None,
            }],
            reference: None,
            markers: true,
            legend: Corner::default(),
        };
        assert!(c.check().is_err());
        c.series[0].mean.push(f64::NAN);
        assert!(c.check().is_err());
        c.series[0].mean[1] = 2.0;
        assert!(c.check().is_ok());
    }
}
