//! The bf16 half of a layer's plan ([`super::LayerExec`] at [`Precision::Bf16`]): the bf16 copies of the
//! layer's weights and of the activations its products read, and the three products on the kernels of
//! [`crate::kernels::bf16`] (see there for the layouts and what is guaranteed).
//!
//! At bf16 the products of every format run on two kernels: rows of weight pairs (forward, input gradient) and
//! bf16 dots (weight gradient). A dense layer stores every pair and reads its pair `j` as the `j`-th of its
//! row; a sparse layer (CSR or bitmask) stores the pairs where either weight is live, with their indices. The
//! weight pairs are made again from the fp32 weights at every forward pass (so after every optimizer step), the
//! pairs of `W^T` at the first input gradient after it.

use crate::kernels::bf16::{self, BfIsa, Entries};
use crate::kernels::{Isa, Par, Precision};
use crate::nn::Linear;
use crate::sparse::csr::scatter_from;
use crate::sparse::{Mask, Pattern};

/// Density from which a layer runs dense at bf16 under [`super::FormatChoice::Auto`]: where a layer step (the
/// three products and the bf16 copies they read) costs the same on the dense kernels (four rows or four by four
/// dots sharing their loads) and on the sparse ones (one row at a time, a pair kept where either weight is live).
/// Measured with `cargo run --release --example sparse_sweep -- --precision bf16 --ops step --cpu` on AMD Zen 4,
/// one thread: equal near 0.35 at 512 x 512 and between 0.25 and 0.35 at 784 x 1024 (see `docs/PERFORMANCE.md`,
/// section bf16).
pub const BF16_DENSE_CROSSOVER: f64 = 0.33;

/// A weight matrix as pairs along its summed dimension.
#[derive(Clone, Debug)]
enum Pairs {
    /// Every pair: `per_row` a row.
    Dense { per_row: usize, vals: Vec<u32> },
    /// The pairs where either weight is live.
    Sparse {
        row_ptr: Vec<usize>,
        col: Vec<u32>,
        vals: Vec<u32>,
    },
}

impl Pairs {
    /// The pattern of pairs of a mask's rows: pair `j` of row `i` is live if column `2j` or `2j + 1` is.
    fn sparse(mask: &Mask) -> Pairs {
        let mut row_ptr = Vec::with_capacity(mask.rows() + 1);
        let mut col: Vec<u32> = Vec::new();
        row_ptr.push(0);
        for r in 0..mask.rows() {
            let first = col.len();
            for c in mask.row_iter(r) {
                let j = (c / 2) as u32;
                if col.len() == first || col[col.len() - 1] != j {
                    col.push(j);
                }
            }
            row_ptr.push(col.len());
        }
        let vals = vec![0; col.len()];
        Pairs::Sparse { row_ptr, col, vals }
    }

    fn entries(&self) -> (Entries<'_>, &[u32]) {
        match self {
            Pairs::Dense { per_row, vals } => (Entries::Dense { per_row: *per_row }, vals),
            Pairs::Sparse { row_ptr, col, vals } => (Entries::Sparse { row_ptr, col }, vals),
        }
    }

    /// The pair values from `w` (row-major `rows x cols`, zeros where masked), the pair of row `r` at index
    /// `j` being `(w[at(r, 2j)], w[at(r, 2j + 1)])` with `at(r, c) = r * rs + c * cs`, zero past `width`.
    fn refresh(&mut self, w: &[f32], rs: usize, cs: usize, width: usize) {
        let get = |r: usize, c: usize| if c < width { w[r * rs + c * cs] } else { 0.0 };
        match self {
            Pairs::Dense { per_row, vals } => {
                for (r, row) in vals.chunks_exact_mut(*per_row).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = bf16::pair(get(r, 2 * j), get(r, 2 * j + 1));
                    }
                }
            }
            Pairs::Sparse { row_ptr, col, vals } => {
                for r in 0..row_ptr.len() - 1 {
                    for e in row_ptr[r]..row_ptr[r + 1] {
                        let j = col[e] as usize;
                        vals[e] = bf16::pair(get(r, 2 * j), get(r, 2 * j + 1));
                    }
                }
            }
        }
    }
}

/// The bf16 plan of one layer.
#[derive(Clone, Debug)]
pub(crate) struct Bf16Plan {
    /// `W`'s pairs along its inputs (forward).
    fwd: Pairs,
    /// `W^T`'s pairs along its outputs (input gradient).
    bwd: Pairs,
    /// Whether `bwd` holds the weights of the last forward pass.
    bwd_fresh: bool,
    /// A bitmask layer's live entries (its weight gradient runs on them); `None` for the other formats.
    live: Option<Pattern>,
    /// The layer's input as pairs (forward) and as rows (weight gradient); the output gradient as rows (weight
    /// gradient) and as pairs (input gradient); a bitmask layer's compact weight gradient.
    x2: Vec<u32>,
    xr: Vec<u16>,
    dyr: Vec<u16>,
    dy2: Vec<u32>,
    grad: Vec<f32>,
}

/// The bf16 instantiation for the workspace's instruction set: AVX512-BF16 where the workspace runs AVX-512
/// and the host has it, else the portable reference (how tests run whole models on it).
fn bf_isa(isa: Isa) -> BfIsa {
    if isa == Isa::Avx512 {
        BfIsa::best()
    } else {
        BfIsa::Scalar
    }
}

impl Bf16Plan {
    /// The plan of `layer` on a dense (`dense`) or sparse format; `bitmask` keeps the live entries for the
    /// weight gradient.
    pub(crate) fn new(layer: &Linear, dense: bool, bitmask: bool) -> Bf16Plan {
        let (n, k) = (layer.out_dim(), layer.in_dim());
        let mask = || layer.mask().cloned().unwrap_or_else(|| Mask::full(n, k));
        let (fwd, bwd) = if dense {
            let (kp, np) = (k.div_ceil(2), n.div_ceil(2));
            (
                Pairs::Dense {
                    per_row: kp,
                    vals: vec![0; n * kp],
                },
                Pairs::Dense {
                    per_row: np,
                    vals: vec![0; k * np],
                },
            )
        } else {
            let m = mask();
            (Pairs::sparse(&m), Pairs::sparse(&m.transpose()))
        };
        Bf16Plan {
            fwd,
            bwd,
            bwd_fresh: false,
            live: bitmask.then(|| Pattern::from_mask(&mask())),
            x2: Vec::new(),
            xr: Vec::new(),
            dyr: Vec::new(),
            dy2: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// `Y = W X + bias` (then ReLU if `relu`) on bf16 copies of `W` and `X`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        x: &[f32],
        b: usize,
        relu: bool,
        y: &mut [f32],
    ) {
        let (n, k) = (layer.out_dim(), layer.in_dim());
        self.fwd.refresh(layer.weight(), k, 1, k);
        self.bwd_fresh = false;
        bf16::pack_pairs(k, b, x, &mut self.x2);
        let (entries, vals) = self.fwd.entries();
        bf16::pair_rows(
            bf_isa(isa),
            par,
            n,
            entries,
            vals,
            &self.x2,
            b,
            Some(layer.bias()),
            relu,
            y,
        );
    }

    /// `dX = W^T dY` on bf16 copies of `W` (as of the last forward pass) and `dY`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_input(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        dy: &[f32],
        b: usize,
        dx: &mut [f32],
    ) {
        let (n, k) = (layer.out_dim(), layer.in_dim());
        if !self.bwd_fresh {
            self.bwd.refresh(layer.weight(), 1, k, n);
            self.bwd_fresh = true;
        }
        bf16::pack_pairs(n, b, dy, &mut self.dy2);
        let (entries, vals) = self.bwd.entries();
        bf16::pair_rows(
            bf_isa(isa),
            par,
            k,
            entries,
            vals,
            &self.dy2,
            b,
            None,
            false,
            dx,
        );
    }

    /// Packs `dY` and `X` as bf16 rows for a weight gradient.
    fn pack_grad_operands(&mut self, layer: &Linear, dy: &[f32], x: &[f32], b: usize) {
        bf16::pack_rows(layer.out_dim(), b, dy, &mut self.dyr);
        bf16::pack_rows(layer.in_dim(), b, x, &mut self.xr);
    }

    /// `dW = dY X^T` into the dense `dw`, on bf16 copies of `dY` and `X`: every entry of a dense layer (masked
    /// ones then set to `0.0`), only the live entries of a bitmask layer (the others untouched).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_weight(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        dy: &[f32],
        x: &[f32],
        b: usize,
        dw: &mut [f32],
    ) {
        self.pack_grad_operands(layer, dy, x, b);
        let (n, k) = (layer.out_dim(), layer.in_dim());
        let isa = bf_isa(isa);
        match &self.live {
            None => {
                bf16::dots(
                    isa,
                    par,
                    n,
                    Entries::Dense { per_row: k },
                    &self.dyr,
                    &self.xr,
                    b,
                    dw,
                );
                if let Some(mask) = layer.mask() {
                    mask.apply(dw);
                }
            }
            Some(live) => {
                self.grad.resize(live.nnz(), 0.0);
                let entries = Entries::Sparse {
                    row_ptr: live.row_ptr(),
                    col: live.col_idx(),
                };
                bf16::dots(isa, par, n, entries, &self.dyr, &self.xr, b, &mut self.grad);
                scatter_from(live, &self.grad, dw);
            }
        }
    }

    /// The compact weight gradient of a CSR layer on `pattern`, on bf16 copies of `dY` and `X`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_weight_csr(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        pattern: &Pattern,
        dy: &[f32],
        x: &[f32],
        b: usize,
        grad: &mut [f32],
    ) {
        self.pack_grad_operands(layer, dy, x, b);
        let entries = Entries::Sparse {
            row_ptr: pattern.row_ptr(),
            col: pattern.col_idx(),
        };
        bf16::dots(
            bf_isa(isa),
            par,
            pattern.rows(),
            entries,
            &self.dyr,
            &self.xr,
            b,
            grad,
        );
    }
}

/// The plan's precision as the format choice sees it: at bf16 the dense crossover is
/// [`BF16_DENSE_CROSSOVER`].
pub(crate) fn crossover(precision: Precision) -> Option<f64> {
    (precision == Precision::Bf16).then_some(BF16_DENSE_CROSSOVER)
}

#[cfg(test)]
mod tests {
    use crate::data::Task;
    use crate::kernels::bf16::BfIsa;
    use crate::kernels::{Isa, Par, Precision};
    use crate::nn::{FormatChoice, Grads, Mlp};
    use crate::rng::stream;
    use crate::sparse::{Format, Mask};

    fn model() -> Mlp {
        let (d, h) = (27, 33);
        let mut model =
            Mlp::new(&[d, h, 18, 5], Task::Multiclass(5), &mut stream(3, &[1])).unwrap();
        let live = |k: usize, len: usize| (0..len).map(|i| (i * 5 + k) % 7 < 2).collect::<Vec<_>>();
        model
            .set_mask(0, Some(Mask::from_bools(h, d, &live(0, h * d))))
            .unwrap();
        model
            .set_mask(1, Some(Mask::from_bools(18, h, &live(3, 18 * h))))
            .unwrap();
        model
    }

    fn grads_at(
        model: &Mlp,
        formats: FormatChoice,
        p: Precision,
        isa: Isa,
        par: Par,
    ) -> (f32, Grads) {
        let (d, b) = (model.input_dim(), 45);
        let x: Vec<f32> = (0..d * b).map(|i| (i as f32 * 0.61).sin()).collect();
        let y: Vec<u32> = (0..b as u32).map(|i| (i * 7) % 5).collect();
        let mut ws = model
            .workspace_at(b, formats, p)
            .with_isa(isa)
            .with_par(par);
        let mut grads = model.zero_grads();
        let loss = model.backward(&x, &y, b, &mut ws, &mut grads);
        (loss, grads)
    }

    /// At bf16 every format, instantiation and thread count gives the same bits (zero pairs add exact zeros),
    /// and the gradients are those of fp32 within bf16 rounding.
    #[test]
    fn bf16_gradients_agree_across_formats_and_isas_and_approach_fp32() {
        let model = model();
        let (loss32, g32) = grads_at(
            &model,
            FormatChoice::Auto,
            Precision::Fp32,
            Isa::best(),
            Par::Seq,
        );
        let mut isas = vec![Isa::Scalar];
        if BfIsa::Avx512Bf16.is_supported() {
            isas.push(Isa::Avx512);
        } else {
            eprintln!("AVX512-BF16 is absent here: only the portable bf16 reference was run");
        }
        let mut first: Option<(f32, Grads)> = None;
        for format in Format::ALL {
            for &isa in &isas {
                for par in [Par::Seq, Par::Rayon(2)] {
                    let got = grads_at(
                        &model,
                        FormatChoice::Force(format),
                        Precision::Bf16,
                        isa,
                        par,
                    );
                    match &first {
                        None => first = Some(got),
                        Some((loss, g)) => {
                            assert_eq!(got.0.to_bits(), loss.to_bits(), "{format} {isa:?} {par:?}");
                            assert_eq!(got.1.w, g.w, "{format} {isa:?} {par:?}");
                        }
                    }
                }
            }
        }
        let (loss16, g16) = first.unwrap();
        assert!(
            (loss16 - loss32).abs() <= 1e-2 * loss32.abs(),
            "{loss16} vs {loss32}"
        );
        for (l, (a, b)) in g16.w.iter().zip(&g32.w).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= 3e-2 * scale,
                    "layer {l} entry {i}: {x} vs {y}"
                );
                if let Some(mask) = model.layers()[l].mask() {
                    assert!(
                        mask.get_flat(i) || x.to_bits() == 0,
                        "layer {l}: masked entry {i}"
                    );
                }
            }
        }
    }
}
