//! bf16 mixed precision: the [`Precision`] a model trains at, the bf16 layouts of weights and activations, and
//! the two products every layer format runs on at bf16, each with a portable reference and an AVX512-BF16
//! instantiation (`vdpbf16ps`, in `bf16_x86.rs`).
//!
//! **Mixed precision as on GPUs.** The master weights, the Adam moments, the loss and every accumulation stay
//! fp32; the products read bf16 copies of the weights (made again from the fp32 weights at each forward pass, so
//! after every optimizer step) and of the activations and output gradients (made from their fp32 buffers before
//! each product). A bf16 value is the top half of an fp32 one, rounded to nearest even.
//!
//! **The instruction.** `vdpbf16ps` multiplies pairs of bf16 values and adds both products to one fp32 lane:
//! `acc = (acc + a.hi * b.hi) + a.lo * b.lo`, each addition rounded to nearest even, bf16 denormals read as zero.
//! A pair must run along the summed dimension, so the activations of the row products are stored **pair
//! interleaved** ([`pack_pairs`]: rows `2j` and `2j + 1` side by side, one `u32` per sample) and the weights as
//! pairs of inputs (`w[i, 2j]` low, `w[i, 2j + 1]` high); the sampled products sum over the batch, so they read
//! plain bf16 rows ([`pack_rows`]) whose neighbouring samples are the pairs.
//!
//! | product | kernel |
//! |---|---|
//! | forward `Y = W X + bias` (+ ReLU), input gradient `dX = W^T dY` | [`pair_rows`]: rows of weight pairs |
//! | weight gradient `dW = dY X^T` on the live entries | [`dots`]: bf16 dot products over the batch |
//!
//! Both take their entries as [`Entries`]: every pair or column of a row ([`Entries::Dense`]), or a CSR
//! pattern ([`Entries::Sparse`]). A sparse layer's pattern of pairs keeps a pair where either weight is live.
//!
//! **What is guaranteed.** The portable body ([`BfIsa::Scalar`]) computes each lane's sum in the instruction's
//! order with the instruction's rounding (the product of two bf16 values is exact in fp32), so the AVX512-BF16
//! instantiation gives **the same bits** wherever no partial sum or product is an fp32 denormal (the instruction
//! flushes those to zero; the reference keeps them, a difference below `2^-126` per term). Both are bit-identical
//! at any thread count. Against the fp32 product, each bf16 operand carries a relative rounding of at most
//! `2^-8` (8 significant bits), so `|y_bf16 - y| <= (2^-7 + 2^-16) sum |w x| + (fp32 summation rounding)`; the
//! tests check both.

use super::parallel::{run_pieces, Par};

pub use super::bf16_base::*;
use super::bf16_base::{pair_at, reduce_lanes, DenseRows, Rows, SparseRows};

/// The pair-interleaved bf16 copy of a row-major `rows x b` matrix: `out[j * padded(b) + c]` holds
/// `x[2j, c]` (low) and `x[2j + 1, c]` (high; zero past the last row), zero for `c >= b`.
pub fn pack_pairs(rows: usize, b: usize, x: &[f32], out: &mut Vec<u32>) {
    assert!(x.len() >= rows * b, "pack_pairs: input too short");
    let bp = padded(b);
    out.clear();
    out.resize(rows.div_ceil(2) * bp, 0);
    super::simd::bf16_pack_pairs(super::Isa::best(), rows, b, x, out);
}

/// The bf16 copy of a row-major `rows x b` matrix, each row padded with zeros to `padded(b)` values.
pub fn pack_rows(rows: usize, b: usize, x: &[f32], out: &mut Vec<u16>) {
    assert!(x.len() >= rows * b, "pack_rows: input too short");
    out.clear();
    out.resize(rows * padded(b), 0);
    super::simd::bf16_pack_rows(super::Isa::best(), b, &x[..rows * b], out);
}

/// `y[i, c] = relu?(init_i + sum_e vals[e] . x2[pair(e), c])` for rows `r0..r1` of `entries` (`y` holds those
/// rows, `b` samples each), the pair products summed lane by lane in entry order as [`dp_lane`] does; `init_i`
/// is `bias[i]`, or zero.
///
/// `vals` are weight pairs (one per entry), `x2` the pair-interleaved activations of [`pack_pairs`] (`padded(b)`
/// samples a pair row). This is the forward product (weight pairs along the inputs, `x2` the layer's input) and
/// the input gradient (pairs of `W^T` along the outputs, `x2` the output gradient).
#[allow(clippy::too_many_arguments)]
pub fn pair_rows(
    isa: BfIsa,
    par: Par,
    rows: usize,
    entries: Entries<'_>,
    vals: &[u32],
    x2: &[u32],
    b: usize,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let bp = padded(b);
    assert!(
        vals.len() >= entries.total(rows)
            && x2.len() >= entries.width() * bp
            && y.len() >= rows * b
            && bias.is_none_or(|v| v.len() >= rows),
        "pair_rows: shape mismatch"
    );
    if let Entries::Sparse { row_ptr, .. } = entries {
        assert!(
            row_ptr.len() > rows && row_ptr.windows(2).all(|w| w[0] <= w[1]),
            "pair_rows: bad row pointers"
        );
    }
    run_pieces(
        &entries.bounds(rows, par),
        |r| r * b,
        &mut y[..rows * b],
        |r0, r1, yp| match entries {
            Entries::Dense { per_row } => pair_rows_piece(
                isa,
                &DenseRows(per_row),
                r0,
                r1,
                vals,
                x2,
                b,
                bias,
                relu,
                yp,
            ),
            Entries::Sparse { row_ptr, col } => pair_rows_piece(
                isa,
                &SparseRows(row_ptr, col),
                r0,
                r1,
                vals,
                x2,
                b,
                bias,
                relu,
                yp,
            ),
        },
    );
}

#[allow(clippy::too_many_arguments)]
fn pair_rows_piece<R: Rows>(
    isa: BfIsa,
    rows: &R,
    r0: usize,
    r1: usize,
    vals: &[u32],
    x2: &[u32],
    b: usize,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if isa == BfIsa::Avx512Bf16 && isa.is_supported() {
        if let Some(per_row) = rows.dense() {
            // SAFETY: as below.
            return unsafe {
                super::bf16_x86::pair_rows_dense(per_row, r0, r1, vals, x2, b, bias, relu, y)
            };
        }
        // SAFETY: AVX512-BF16 and AVX-512F were confirmed at run time just above (the kernel reads memory only
        // through bounds-checked slices).
        return unsafe { super::bf16_x86::pair_rows(rows, r0, r1, vals, x2, b, bias, relu, y) };
    }
    let _ = isa;
    pair_rows_ref(rows, r0, r1, vals, x2, b, bias, relu, y);
}

/// The portable reference of [`pair_rows`] on rows `r0..r1`.
#[allow(clippy::too_many_arguments)]
fn pair_rows_ref<R: Rows>(
    rows: &R,
    r0: usize,
    r1: usize,
    vals: &[u32],
    x2: &[u32],
    b: usize,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let bp = padded(b);
    let mut acc = vec![0f32; bp];
    for i in r0..r1 {
        acc.fill(bias.map_or(0.0, |v| v[i]));
        let range = rows.range(i);
        let start = range.start;
        for e in range {
            let (w, xr) = (vals[e], &x2[rows.index(e, start) * bp..][..bp]);
            for (a, &x) in acc.iter_mut().zip(xr) {
                *a = dp_lane(*a, w, x);
            }
        }
        for (o, &a) in y[(i - r0) * b..(i - r0 + 1) * b].iter_mut().zip(&acc) {
            *o = if !relu || a > 0.0 { a } else { 0.0 };
        }
    }
}

/// `out[e] = sum_c dy[i, c] * x[col(e), c]` for every entry `e` of rows `0..rows` of `entries` (compact, in
/// entry order), where `dy` and `x` are bf16 rows of [`pack_rows`] (`padded(b)` values each). Each dot sums
/// [`DOT_LANES`] lanes over the batch with [`dp_lane`] (lane `l` of step `s` takes samples `32 s + 2 l` and
/// `32 s + 2 l + 1`), then the lanes pairwise (`h[l] += h[l + w]`, `w` = 8, 4, 2, 1).
#[allow(clippy::too_many_arguments)]
pub fn dots(
    isa: BfIsa,
    par: Par,
    rows: usize,
    entries: Entries<'_>,
    dy: &[u16],
    x: &[u16],
    b: usize,
    out: &mut [f32],
) {
    let bp = padded(b);
    let total = entries.total(rows);
    assert!(
        dy.len() >= rows * bp && x.len() >= entries.width() * bp && out.len() >= total,
        "dots: shape mismatch"
    );
    let offset = |r: usize| match entries {
        Entries::Dense { per_row } => r * per_row,
        Entries::Sparse { row_ptr, .. } => row_ptr[r],
    };
    if let Entries::Sparse { row_ptr, .. } = entries {
        assert!(
            row_ptr.len() > rows && row_ptr.windows(2).all(|w| w[0] <= w[1]),
            "dots: bad row pointers"
        );
    }
    run_pieces(
        &entries.bounds(rows, par),
        offset,
        &mut out[..total],
        |r0, r1, op| match entries {
            Entries::Dense { per_row } => {
                dots_piece(isa, &DenseRows(per_row), r0, r1, dy, x, bp, op)
            }
            Entries::Sparse { row_ptr, col } => {
                dots_piece(isa, &SparseRows(row_ptr, col), r0, r1, dy, x, bp, op)
            }
        },
    );
}

#[allow(clippy::too_many_arguments)]
fn dots_piece<R: Rows>(
    isa: BfIsa,
    rows: &R,
    r0: usize,
    r1: usize,
    dy: &[u16],
    x: &[u16],
    bp: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if isa == BfIsa::Avx512Bf16 && isa.is_supported() {
        if let Some(k) = rows.dense() {
            // SAFETY: as below.
            return unsafe { super::bf16_x86::dots_dense(k, r0, r1, dy, x, bp, out) };
        }
        // SAFETY: AVX512-BF16 and AVX-512F were confirmed at run time just above (the kernel reads memory only
        // through bounds-checked slices).
        return unsafe { super::bf16_x86::dots(rows, r0, r1, dy, x, bp, out) };
    }
    let _ = isa;
    dots_ref(rows, r0, r1, dy, x, bp, out);
}

/// The portable reference of [`dots`] on rows `r0..r1` (`out` starts at row `r0`'s first entry).
#[allow(clippy::too_many_arguments)]
fn dots_ref<R: Rows>(
    rows: &R,
    r0: usize,
    r1: usize,
    dy: &[u16],
    x: &[u16],
    bp: usize,
    out: &mut [f32],
) {
    let first = rows.range(r0).start;
    for i in r0..r1 {
        let range = rows.range(i);
        let start = range.start;
        let d = &dy[i * bp..(i + 1) * bp];
        for e in range {
            let xr = &x[rows.index(e, start) * bp..][..bp];
            let mut acc = [0f32; DOT_LANES];
            for (dc, xc) in d
                .chunks_exact(2 * DOT_LANES)
                .zip(xr.chunks_exact(2 * DOT_LANES))
            {
                for (l, a) in acc.iter_mut().enumerate() {
                    *a = dp_lane(*a, pair_at(dc, l), pair_at(xc, l));
                }
            }
            out[e - first] = reduce_lanes(&acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.754).sin())
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even (1.0).
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY);
        for v in data(1000, 0.5) {
            let r = from_bf16(to_bf16(v * 100.0));
            assert!((r - v * 100.0).abs() <= (v * 100.0).abs() * 2f32.powi(-8));
        }
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert!("fp16".parse::<Precision>().is_err());
    }

    #[test]
    fn packing_interleaves_pairs_and_pads_with_zeros() {
        let (rows, b) = (5, 37);
        let x = data(rows * b, 1.0);
        let (mut p, mut r) = (Vec::new(), Vec::new());
        pack_pairs(rows, b, &x, &mut p);
        pack_rows(rows, b, &x, &mut r);
        let bp = padded(b);
        assert_eq!(bp, 64);
        for j in 0..rows.div_ceil(2) {
            for c in 0..bp {
                let lo = if c < b { to_bf16(x[2 * j * b + c]) } else { 0 };
                let hi = if c < b && 2 * j + 1 < rows {
                    to_bf16(x[(2 * j + 1) * b + c])
                } else {
                    0
                };
                assert_eq!(p[j * bp + c], u32::from(lo) | (u32::from(hi) << 16));
            }
        }
        for i in 0..rows {
            for c in 0..bp {
                let want = if c < b { to_bf16(x[i * b + c]) } else { 0 };
                assert_eq!(r[i * bp + c], want);
            }
        }
    }

    /// A sparse pattern with empty rows, single entries and full rows.
    fn pattern(rows: usize, cols: usize, seed: usize) -> (Vec<usize>, Vec<u32>) {
        let mut rp = vec![0];
        let mut col = Vec::new();
        for i in 0..rows {
            for j in 0..cols {
                let live = match i % 4 {
                    0 => false,
                    1 => j == (i + seed) % cols,
                    2 => true,
                    _ => (i * 7 + j * 3 + seed) % 5 < 2,
                };
                if live {
                    col.push(j as u32);
                }
            }
            rp.push(col.len());
        }
        (rp, col)
    }

    /// Every instantiation against the portable reference, bit for bit, at every thread count; the reference
    /// against the fp32 sum of the bf16-rounded operands within the fp32 summation bound, and against the fp32
    /// sum of the unrounded operands within the bf16 bound of the module documentation.
    #[test]
    fn pair_rows_match_the_reference_and_the_fp32_sum() {
        for &(rows, pairs, b) in &[
            (1, 1, 1),
            (3, 5, 17),
            (9, 7, 64),
            (6, 40, 100),
            (13, 33, 500),
        ] {
            let w = data(rows * 2 * pairs, 1.0);
            let x = data(2 * pairs * b, 2.0);
            let bias = data(rows, 3.0);
            let wp: Vec<u32> = (0..rows * pairs)
                .map(|e| pair(w[2 * e], w[2 * e + 1]))
                .collect();
            let mut x2 = Vec::new();
            pack_pairs(2 * pairs, b, &x, &mut x2);
            let (rp, col) = pattern(rows, pairs, 1);
            let sp_vals: Vec<u32> = (0..rows)
                .flat_map(|i| (rp[i]..rp[i + 1]).map(move |e| (i, e)))
                .map(|(i, e)| wp[i * pairs + col[e] as usize])
                .collect();
            for (entries, vals) in [
                (Entries::Dense { per_row: pairs }, &wp),
                (
                    Entries::Sparse {
                        row_ptr: &rp,
                        col: &col,
                    },
                    &sp_vals,
                ),
            ] {
                for relu in [false, true] {
                    let mut reference = vec![f32::NAN; rows * b];
                    let run = |isa, par, y: &mut [f32]| {
                        pair_rows(isa, par, rows, entries, vals, &x2, b, Some(&bias), relu, y)
                    };
                    run(BfIsa::Scalar, Par::Seq, &mut reference);
                    // Against fp32 sums: exact products of the rounded operands, and the unrounded ones.
                    let live = |i: usize, j: usize| match entries {
                        Entries::Dense { .. } => true,
                        Entries::Sparse { row_ptr, col } => {
                            col[row_ptr[i]..row_ptr[i + 1]].contains(&(j as u32))
                        }
                    };
                    for i in 0..rows {
                        for c in 0..b {
                            let (mut s, mut exact, mut abs) = (bias[i] as f64, bias[i] as f64, 0.0);
                            for p in 0..2 * pairs {
                                if live(i, p / 2) {
                                    let (wv, xv) = (w[i * 2 * pairs + p], x[p * b + c]);
                                    let r = |v: f32| from_bf16(to_bf16(v)) as f64;
                                    s += r(wv) * r(xv);
                                    exact += wv as f64 * xv as f64;
                                    abs += (wv as f64 * xv as f64).abs();
                                }
                            }
                            let (want, exact) = if relu {
                                (s.max(0.0), exact.max(0.0))
                            } else {
                                (s, exact)
                            };
                            let got = reference[i * b + c] as f64;
                            let terms = (2 * pairs + 1) as f64;
                            let sum_bound = terms * 2f64.powi(-24) * (abs + bias[i].abs() as f64);
                            assert!((got - want).abs() <= sum_bound * 1.01, "{rows}x{pairs}x{b}");
                            let bf_bound = (2f64.powi(-7) + 2f64.powi(-16)) * abs + 2.0 * sum_bound;
                            assert!(
                                (got - exact).abs() <= bf_bound,
                                "{rows}x{pairs}x{b} vs fp32"
                            );
                        }
                    }
                    for isa in BfIsa::available() {
                        for par in [Par::Seq, Par::Rayon(2), Par::Rayon(3)] {
                            let mut y = vec![f32::NAN; rows * b];
                            run(isa, par, &mut y);
                            let bits =
                                |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                            assert_eq!(
                                bits(&y),
                                bits(&reference),
                                "{isa:?} {par:?} {rows}x{pairs}x{b}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn dots_match_the_reference_and_the_fp32_sum() {
        for &(rows, cols, b) in &[
            (1, 1, 1),
            (3, 5, 17),
            (9, 12, 64),
            (6, 19, 100),
            (13, 33, 500),
        ] {
            let dy = data(rows * b, 4.0);
            let x = data(cols * b, 5.0);
            let (mut dyr, mut xr) = (Vec::new(), Vec::new());
            pack_rows(rows, b, &dy, &mut dyr);
            pack_rows(cols, b, &x, &mut xr);
            let (rp, col) = pattern(rows, cols, 2);
            for entries in [
                Entries::Dense { per_row: cols },
                Entries::Sparse {
                    row_ptr: &rp,
                    col: &col,
                },
            ] {
                let total = entries.total(rows);
                let mut reference = vec![f32::NAN; total];
                dots(
                    BfIsa::Scalar,
                    Par::Seq,
                    rows,
                    entries,
                    &dyr,
                    &xr,
                    b,
                    &mut reference,
                );
                let mut e = 0;
                for i in 0..rows {
                    let cs: Vec<usize> = match entries {
                        Entries::Dense { .. } => (0..cols).collect(),
                        Entries::Sparse { row_ptr, col } => col[row_ptr[i]..row_ptr[i + 1]]
                            .iter()
                            .map(|&c| c as usize)
                            .collect(),
                    };
                    for j in cs {
                        let r = |v: f32| from_bf16(to_bf16(v)) as f64;
                        let (mut s, mut exact, mut abs) = (0.0, 0.0, 0.0);
                        for c in 0..b {
                            s += r(dy[i * b + c]) * r(x[j * b + c]);
                            exact += dy[i * b + c] as f64 * x[j * b + c] as f64;
                            abs += (dy[i * b + c] as f64 * x[j * b + c] as f64).abs();
                        }
                        let got = reference[e] as f64;
                        let sum_bound = b as f64 * 2f64.powi(-24) * abs;
                        assert!((got - s).abs() <= sum_bound * 1.01, "dot {i},{j}");
                        let bf_bound = (2f64.powi(-7) + 2f64.powi(-16)) * abs + 2.0 * sum_bound;
                        assert!((got - exact).abs() <= bf_bound, "dot {i},{j} vs fp32");
                        e += 1;
                    }
                }
                assert_eq!(e, total);
                for isa in BfIsa::available() {
                    for par in [Par::Seq, Par::Rayon(2), Par::Rayon(3)] {
                        let mut out = vec![f32::NAN; total];
                        dots(isa, par, rows, entries, &dyr, &xr, b, &mut out);
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&out),
                            bits(&reference),
                            "{isa:?} {par:?} {rows}x{cols}x{b}"
                        );
                    }
                }
            }
        }
    }

    /// Fails where the host has AVX512-BF16 but the AVX512-BF16 instantiation was not among those tested
    /// (set `NEUROSPLIT_EXPECT_BF16=1` where the path must run).
    #[test]
    fn the_bf16_instruction_path_is_tested_where_expected() {
        let expected = std::env::var("NEUROSPLIT_EXPECT_BF16").is_ok_and(|v| v == "1");
        let have = BfIsa::available().contains(&BfIsa::Avx512Bf16);
        if !have {
            eprintln!("AVX512-BF16 is absent here: only the portable bf16 reference was tested");
        }
        assert!(have || !expected, "AVX512-BF16 expected but not detected");
    }
}
