//! The paper's pictures as PNG or SVG (chosen by the file's extension), drawn with `plotters`.
//!
//! No system library is needed: text is laid out with a subset of DejaVu Sans shipped in `assets/fonts/`
//! (Bitstream Vera license, see `assets/fonts/LICENSE-DejaVu.txt`) and compiled into the binary.
//!
//! Every function takes plain data, so callers that ran experiments elsewhere can draw them too:
//!
//! * [`Heatmap`] / [`draw_heatmaps`]: one or more matrices side by side, with masked cells crossed out, lines
//!   between groups of columns and rows, optional cell values and tick labels (Fig. 2, Fig. A1, Fig. 3c);
//!   [`weights_panel`] and [`gram_panel`] build the Fig. 2 pair from a layer.
//! * [`Series`] / [`LineChart`] / [`draw_line_chart`]: curves of means with SEM error bars and an optional
//!   dashed reference line (Fig. 3a/b relative improvement, Fig. 4 fold changes, Fig. 6b training curves).
//! * [`RegressionChart`] / [`draw_regression_chart`]: points with least-squares lines, dotted or solid, and
//!   `R^2` in the legend (Fig. 4c).

mod curves;
mod heatmap;
mod regression;
mod text;

pub use curves::{draw_line_chart, nice_ticks, Annotation, Corner, LineChart, Series, XScale};
pub use heatmap::{draw_heatmaps, gram_panel, share_scale, weights_panel, ColorMap, Heatmap};
pub use regression::{draw_regression_chart, RegressionChart, RegressionGroup};
pub use text::Typeset;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// The font every picture uses, registered once as `sans-serif`.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and tested; a failure here would be a build defect.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled font assets/fonts/DejaVuSans-subset.ttf is not a valid font");
        }
    });
}

/// Output formats, chosen from the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(Error::Plot {
            path: path.display().to_string(),
            why: "unknown picture format: name the file .png or .svg".into(),
        }),
    }
}

/// Something that draws itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `fig` into `path` (`.png` or `.svg`) at `size` pixels.
fn render(fig: &impl Figure, path: &Path, size: (u32, u32)) -> Result<()> {
    ensure_font();
    let format = format_of(path)?;
    let err = |why: String| Error::Plot {
        path: path.display().to_string(),
        why,
    };
    // Drawn to a temporary file beside `path`, then renamed over it: a failed drawing leaves no half picture.
    crate::io::atomic::write_with(path, |tmp| match format {
        Format::Png => {
            let root = Typeset(BitMapBackend::new(tmp, size)).into_drawing_area();
            fig.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))
        }
        Format::Svg => {
            let root = SVGBackend::new(tmp, size).into_drawing_area();
            fig.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))
        }
    })
}

/// A linear `f64` axis with ticks exactly at given values (plotters picks its own otherwise).
#[derive(Clone, Debug)]
struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl plotters::coord::ranged1d::Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + ((limit.1 - limit.0) as f64 * t + 1e-3).floor() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Turns any displayable plotting error into the message [`Figure::draw`] returns.
fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A readable colour for series `i` (the "tab10" palette).
pub fn series_color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TAB10[i % TAB10.len()];
    RGBColor(r, g, b)
}
