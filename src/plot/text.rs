//! Text on bitmaps, laid out the way type is set: a backend wrapper whose `draw_text` places every glyph at its
//! pen position on one shared baseline.
//!
//! plotters 0.3's own glyph drawing (its `ab_glyph` font backend) positions each glyph by its rounded pixel
//! bounds and drops the glyph's left side bearing, so at the sizes of axis labels letters are unevenly spaced
//! ("improvemen t") and a decimal point sits a pixel or two above the baseline. [`Typeset`] forwards every
//! drawing call to the backend it wraps except text, which it rasterises with `ab_glyph` directly: glyphs at
//! their exact advance (kerning included), outlines positioned before rounding, one baseline per line. The
//! layout box, anchors and rotation are plotters' own, so charts are laid out exactly as before.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(super::FONT).unwrap_or_else(|_| {
            panic!("the bundled font assets/fonts/DejaVuSans-subset.ttf is not a valid font")
        })
    })
}

/// A drawing backend that sets text properly (see the module docs) and draws everything else through `B`.
pub struct Typeset<B>(pub B);

/// Coverage of every pixel of `text` at `size` (plotters' font size), relative to the top-left corner of
/// plotters' layout box `(0, 0) .. (width, size / 1.24)`: the digits' and capitals' middle sits at the box's
/// middle, so vertically centred labels are centred on their tick.
pub fn rasterize(text: &str, size: f64, mut pixel: impl FnMut(i32, i32, f32)) {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let box_h = (size / 1.24) as f32;
    let cap = font
        .outline_glyph(font.glyph_id('0').with_scale(PxScale::from(size as f32)))
        .map_or(0.7 * box_h, |g| -g.px_bounds().min.y);
    let baseline = (box_h + cap) / 2.0;
    let mut pen = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(PxScale::from(size as f32), point(pen, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|x, y, cov| {
                if cov > 0.0 {
                    pixel(
                        b.min.x as i32 + x as i32,
                        b.min.y as i32 + y as i32,
                        cov.min(1.0),
                    );
                }
            });
        }
        pen += scaled.h_advance(id);
    }
}

impl<B: DrawingBackend> DrawingBackend for Typeset<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        // Anchoring and rotation exactly as plotters' default `draw_text`, on plotters' own layout box.
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.0.get_size();
        let mut result = Ok(());
        rasterize(text, style.size(), |x, y, cov| {
            if result.is_err() {
                return;
            }
            let (x, y) = trans.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let c = BackendColor {
                    alpha: color.alpha * cov as f64,
                    rgb: color.rgb,
                };
                result = self.0.draw_pixel((x, y), c);
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows (top, bottom) and columns (left, right) of the ink of `text` at `size`.
    fn ink(text: &str, size: f64) -> ((i32, i32), (i32, i32)) {
        let (mut y0, mut y1, mut x0, mut x1) = (i32::MAX, i32::MIN, i32::MAX, i32::MIN);
        rasterize(text, size, |x, y, cov| {
            if cov > 0.5 {
                (y0, y1, x0, x1) = (y0.min(y), y1.max(y), x0.min(x), x1.max(x));
            }
        });
        ((y0, y1), (x0, x1))
    }

    #[test]
    fn decimal_points_sit_on_the_baseline_of_the_digits() {
        for size in [11.0, 13.0, 15.0, 18.0, 22.0] {
            let ((_, digit_bottom), _) = ink("0", size);
            let ((dot_top, dot_bottom), _) = ink(".", size);
            assert!(
                (dot_bottom - digit_bottom).abs() <= 1,
                "size {size}: dot ends at row {dot_bottom}, digits at {digit_bottom}"
            );
            assert!(
                dot_top > digit_bottom - (size as i32) / 3,
                "size {size}: the dot is raised"
            );
        }
    }

    #[test]
    fn letters_keep_their_advance() {
        // In "nt" the 't' starts where the font's metrics put it (pen advance, kerning and both side bearings)
        // within a pixel, at every label size; plotters' own drawing drops the bearings ("improvemen t").
        let font = font();
        for size in [11.0, 13.0, 15.0, 18.0] {
            let px = PxScale::from(size as f32);
            let scaled = font.as_scaled(px);
            let (n, t) = (scaled.glyph_id('n'), scaled.glyph_id('t'));
            let bearing = |g| scaled.h_side_bearing(g);
            let expected = scaled.h_advance(n) + scaled.kern(n, t) + bearing(t) - bearing(n);
            let (_, (n_left, n_right)) = ink("n", size);
            let mut t_left = i32::MAX;
            rasterize("nt", size, |x, _, cov| {
                if cov > 0.5 && x > n_right {
                    t_left = t_left.min(x);
                }
            });
            let got = (t_left - n_left) as f32;
            assert!(
                (got - expected).abs() <= 1.5,
                "size {size}: t starts {got} px after n, metrics say {expected}"
            );
        }
    }
}
