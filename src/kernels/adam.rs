//! The bodies of the one Adam update of the crate (`torch.optim.Adam`'s formula), instantiated per instruction
//! set by [`super::simd`]. [`crate::nn::Adam`] runs them through [`super::adam_update`] /
//! [`super::adam_update_penalised`] (contiguous values: biases, LayerNorm parameters, unmasked weights) and
//! [`super::adam_update_masked`] (the live entries of a masked weight: chunks of 16 columns computed together and
//! stored back only where the mask is live, so masked values and moments keep their bits). The optional penalty
//! of [`crate::nn::Regularizer`] is added to the gradient inside the update (the expression and order of
//! [`crate::nn::Regularizer::add_grad`]), saving a pass over every parameter. Everything
//! is element-wise with no fused multiply-add, so every instruction set, chunking and thread count gives
//! bit-identical results.

/// A penalty added to a parameter's gradient before its update, in the form
/// [`crate::nn::Regularizer::add_grad`] adds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Penalty {
    /// A weight: `g + (2 l2 p + l1 sign(p))`, subgradient `sign(0) = 0`.
    Weight {
        /// `l1`.
        l1: f32,
        /// `2 l2`.
        two_l2: f32,
    },
    /// A bias: `g + 2 l2 p`.
    Bias {
        /// `2 l2`.
        two_l2: f32,
    },
}

/// The gradient with the penalty added, as [`crate::nn::Regularizer::add_grad`] computes it; `g` itself without
/// a penalty.
#[inline(always)]
fn penalised(g: f32, p: f32, pen: Option<Penalty>) -> f32 {
    match pen {
        None => g,
        Some(Penalty::Weight { l1, two_l2 }) => {
            let sign = if p > 0.0 {
                1.0
            } else if p < 0.0 {
                -1.0
            } else {
                0.0
            };
            g + (two_l2 * p + l1 * sign)
        }
        Some(Penalty::Bias { two_l2 }) => g + two_l2 * p,
    }
}

/// One update of one value: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `p -= step_size * m / (sqrt(v) / bc2 + eps)`; returns the new `(p, m, v)`.
#[inline(always)]
fn update(p: f32, g: f32, m: f32, v: f32, h: [f32; 5]) -> (f32, f32, f32) {
    let [step_size, b1, b2, bc2_sqrt, eps] = h;
    let m = b1 * m + (1.0 - b1) * g;
    let v = b2 * v + (1.0 - b2) * g * g;
    (p - step_size * m / (v.sqrt() / bc2_sqrt + eps), m, v)
}

/// One Adam update over contiguous values, with `h = [step_size, beta1, beta2, sqrt(bias_correction2), eps]`:
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, `p -= step_size * m / (sqrt(v) / bc2 + eps)` (the formula
/// of `torch.optim.Adam`, operation for operation).
#[inline(always)]
pub fn adam_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    adam_penalised_body(p, g, m, v, h, None);
}

/// [`adam_body`] with the penalty `pen` (if any) added to each gradient first.
#[inline(always)]
pub fn adam_penalised_body(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: [f32; 5],
    pen: Option<Penalty>,
) {
    assert!(
        g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "adam: length mismatch"
    );
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        (*p, *m, *v) = update(*p, penalised(g, *p, pen), *m, *v, h);
    }
}

/// Columns per chunk of [`adam_masked_body`] (one 512-bit vector; divides 64, so a chunk never straddles two
/// mask words).
const CHUNK: usize = 16;

/// Adam over the live entries of a masked row-major `rows x cols` weight: `words` holds `wpr` mask words per row
/// (bit `c % 64` of word `c / 64` is column `c`). Each chunk of 16 columns with a live entry is computed as a
/// whole and stored back with a select on its mask bits, so masked entries keep their value and moments (the
/// garbage computed for them is dropped) and the cost does not depend on how the live columns are scattered. Even
/// at 14.5 % density (2.3 live entries a chunk) this beat updating the live entries one by one.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn adam_masked_body(
    cols: usize,
    words: &[u64],
    wpr: usize,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: [f32; 5],
    pen: Option<Penalty>,
) {
    let rows = p.len().checked_div(cols).unwrap_or(0);
    assert!(
        p.len() == rows * cols
            && g.len() == p.len()
            && m.len() == p.len()
            && v.len() == p.len()
            && words.len() == rows * wpr
            && wpr * 64 >= cols,
        "adam_masked: length mismatch"
    );
    for r in 0..rows {
        let row = r * cols..(r + 1) * cols;
        let (p, g, m, v) = (
            &mut p[row.clone()],
            &g[row.clone()],
            &mut m[row.clone()],
            &mut v[row],
        );
        let wr = &words[r * wpr..(r + 1) * wpr];
        for c0 in (0..cols).step_by(CHUNK) {
            let bits = (wr[c0 / 64] >> (c0 % 64)) as u32 & 0xffff;
            if bits == 0 {
                continue;
            }
            let n = CHUNK.min(cols - c0);
            if n == CHUNK {
                let p: &mut [f32; CHUNK] = (&mut p[c0..c0 + CHUNK]).try_into().unwrap();
                let g: &[f32; CHUNK] = g[c0..c0 + CHUNK].try_into().unwrap();
                let m: &mut [f32; CHUNK] = (&mut m[c0..c0 + CHUNK]).try_into().unwrap();
                let v: &mut [f32; CHUNK] = (&mut v[c0..c0 + CHUNK]).try_into().unwrap();
                for i in 0..CHUNK {
                    let (np, nm, nv) = update(p[i], penalised(g[i], p[i], pen), m[i], v[i], h);
                    let live = bits >> i & 1 != 0;
                    p[i] = if live { np } else { p[i] };
                    m[i] = if live { nm } else { m[i] };
                    v[i] = if live { nv } else { v[i] };
                }
            } else {
                // Bits past the row's end (a last, partial chunk) are not entries.
                let mut live = if n == CHUNK {
                    bits
                } else {
                    bits & ((1 << n) - 1)
                };
                while live != 0 {
                    let c = c0 + live.trailing_zeros() as usize;
                    (p[c], m[c], v[c]) = update(p[c], penalised(g[c], p[c], pen), m[c], v[c], h);
                    live &= live - 1;
                }
            }
        }
    }
}
