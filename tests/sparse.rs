//! Sparse formats and kernels: every product against a dense `matrixmultiply` oracle and `sprs`, every thread
//! count bit-identical to sequential, every instruction set within the rounding bound of the baseline
//! (`2 K u sum |w x|`, see `kernels::simd`), and training on dense / bitmask / CSR layers giving the same model.

use rand::Rng as _;

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::{self, bitmask, csr, gemm, Isa, Par};
use neurosplit::nn::{accuracy, FormatChoice, LayerExec, Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::{Csr, Format, Mask, Pattern};

#[path = "common/bitmask.rs"]
mod bitmask_matrix;
use bitmask_matrix::Bitmask;

#[test]
fn bitmask_is_validated_and_round_trips_through_csr() {
    bitmask_matrix::tests::validated_and_round_trips_through_csr();
}

fn random_layer(n: usize, k: usize, density: f64, seed: u64) -> (Mask, Vec<f32>) {
    let mut rng = stream(seed, &[]);
    let mut mask = Mask::empty(n, k);
    let mut w = vec![0f32; n * k];
    for i in 0..n {
        for j in 0..k {
            if rng.gen_bool(density) {
                mask.set(i, j, true);
                w[i * k + j] = rng.gen_range(-1.0..1.0);
            }
        }
    }
    (mask, w)
}

fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = stream(seed, &[]);
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `|got - base| <= 2 K u sum |w x|` element by element (`u = 2^-24`): two sums of the same `K` products, each
/// computed with at most one rounding per term (fused or not, in any order), are each within `K u sum |w x|` of
/// the exact sum, so within twice that of each other.
fn assert_within_rounding(got: &[f32], base: &[f32], absum: &[f32], terms: usize, what: &str) {
    assert_eq!(got.len(), base.len(), "{what}: length");
    let u = f32::EPSILON as f64 / 2.0;
    for (i, ((g, b), a)) in got.iter().zip(base).zip(absum).enumerate() {
        let bound = 2.0 * terms as f64 * u * *a as f64 * (1.0 + 1e-3);
        assert!(
            ((g - b) as f64).abs() <= bound,
            "{what}: element {i}: {g} vs {b}, more than the rounding bound {bound}"
        );
    }
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

/// All outputs of one configuration: forward (ReLU and not), dX, dW for CSR and bitmask.
#[allow(clippy::too_many_arguments)]
fn products(
    isa: Isa,
    par: Par,
    mask: &Mask,
    w: &[f32],
    x: &[f32],
    dy: &[f32],
    bias: &[f32],
    b: usize,
) -> Vec<Vec<f32>> {
    let (n, k) = (mask.rows(), mask.cols());
    let csr = Csr::from_dense_masked(mask, w);
    let (pt, perm) = csr.pattern().transpose();
    let mask_t = mask.transpose();
    let mut out = Vec::new();
    for relu in [false, true] {
        let mut y = vec![f32::NAN; n * b];
        csr::csr_forward(
            isa,
            par,
            csr.pattern(),
            csr.values(),
            x,
            b,
            bias,
            relu,
            &mut y,
        );
        out.push(y);
        let mut y = vec![f32::NAN; n * b];
        bitmask::bitmask_forward(isa, par, mask, w, x, b, bias, relu, &mut y);
        out.push(y);
    }
    let mut dx = vec![f32::NAN; k * b];
    csr::csr_backward_input(isa, par, &pt, Some(&perm), csr.values(), dy, b, &mut dx);
    let mut vt = vec![0f32; csr.nnz()];
    csr::transpose_values(&perm, csr.values(), &mut vt);
    let mut dx2 = vec![f32::NAN; k * b];
    csr::csr_backward_input(isa, par, &pt, None, &vt, dy, b, &mut dx2);
    assert!(dx == dx2, "permuted and pre-transposed values disagree");
    out.push(dx);
    let mut dx = vec![f32::NAN; k * b];
    bitmask::bitmask_backward_input(isa, par, &mask_t, w, dy, b, &mut dx);
    out.push(dx);
    let mut g = vec![f32::NAN; csr.nnz()];
    csr::csr_backward_weight(isa, par, csr.pattern(), dy, x, b, &mut g);
    let mut dw = vec![0f32; n * k];
    Csr::new(csr.pattern().clone(), g).unwrap().scatter(&mut dw);
    out.push(dw);
    let mut dw = vec![0f32; n * k];
    bitmask::bitmask_backward_weight(isa, par, mask, dy, x, b, &mut dw);
    out.push(dw);
    out
}

#[test]
fn sparse_products_match_dense_oracle_bit_identical_across_threads_and_isas_within_rounding() {
    // Batch sizes cover every block tier (128, 64, 48, 32, 16) and partly filled last blocks; widths cover partial mask
    // words; the last three shapes have enough entries a row to be cut into input-row tiles (2 tiles of 32,
    // 3 of 80 that cross mask words, 4 of 48 in both directions).
    let shapes = [
        (1, 1, 1, 1.0),
        (3, 5, 17, 0.5),
        (7, 70, 129, 0.3),
        (16, 32, 500, 0.5),
        (33, 65, 100, 0.12),
        (40, 130, 64, 0.06),
        (5, 9, 15, 0.0),
        (64, 64, 211, 1.0),
        (20, 200, 140, 0.5),
        (150, 150, 70, 0.9),
        // Batches whose last row-product block is partly filled at each tier (7 + 1/4 chunks in the
        // 8-chunk block, 3 + 1/16 in the 4-chunk one, a 3-chunk and a 1-chunk remainder), one of them with
        // input-row tiles.
        (9, 40, 116, 0.4),
        (6, 30, 49, 0.3),
        (4, 12, 33, 0.5),
        (12, 300, 372, 0.5),
        (3, 7, 5, 0.7),
        // CSR row products on enough rows for groups (rows not a multiple of the group), past one input-row
        // tile (at any reported L1 size), and 32-column blocks full, partly filled and single.
        (70, 1500, 37, 0.05),
        (66, 2600, 64, 0.03),
        (67, 40, 33, 0.3),
    ];
    for (s, &(n, k, b, density)) in shapes.iter().enumerate() {
        let (mask, w) = random_layer(n, k, density, 10 + s as u64);
        let x = random_vec(k * b, 100 + s as u64);
        let dy = random_vec(n * b, 200 + s as u64);
        let bias = random_vec(n, 300 + s as u64);

        let mut y_ref = vec![0f32; n * b];
        gemm::fwd_ref(n, k, b, &w, &x, &mut y_ref);
        for (i, row) in y_ref.chunks_mut(b).enumerate() {
            row.iter_mut().for_each(|v| *v += bias[i]);
        }
        let relu_ref: Vec<f32> = y_ref.iter().map(|v| v.max(0.0)).collect();
        let mut dx_ref = vec![0f32; k * b];
        gemm::dx_ref(n, k, b, &w, &dy, &mut dx_ref);
        let mut dw_ref = vec![0f32; n * k];
        gemm::dw_ref(n, k, b, &dy, &x, &mut dw_ref);
        mask.apply(&mut dw_ref);

        let oracle = products(Isa::Scalar, Par::Seq, &mask, &w, &x, &dy, &bias, b);
        let want = [
            &y_ref, &y_ref, &relu_ref, &relu_ref, &dx_ref, &dx_ref, &dw_ref, &dw_ref,
        ];
        for (o, (got, want)) in oracle.iter().zip(want).enumerate() {
            assert_close(got, want, &format!("shape {s} output {o}"));
        }

        // sprs as a second oracle for the forward product (row-major `W X` on the CSR matrix).
        let sp = Csr::from_dense_masked(&mask, &w).to_sprs();
        for i in 0..n {
            for c in 0..b {
                let mut sum = bias[i];
                for (j, &v) in sp.outer_view(i).unwrap().iter() {
                    sum += v * x[j * b + c];
                }
                assert!((oracle[0][i * b + c] - sum).abs() <= 1e-4 * (1.0 + sum.abs()));
            }
        }

        // Sums of absolute terms, for the rounding bound between instruction sets.
        let (aw, ax, ady) = (abs(&w), abs(&x), abs(&dy));
        let mut fwd_abs = vec![0f32; n * b];
        gemm::fwd_ref(n, k, b, &aw, &ax, &mut fwd_abs);
        for (i, row) in fwd_abs.chunks_mut(b).enumerate() {
            row.iter_mut().for_each(|v| *v += bias[i].abs());
        }
        let mut dx_abs = vec![0f32; k * b];
        gemm::dx_ref(n, k, b, &aw, &ady, &mut dx_abs);
        let mut dw_abs = vec![0f32; n * k];
        gemm::dw_ref(n, k, b, &ady, &ax, &mut dw_abs);
        let bounds = [
            (&fwd_abs, k + 1),
            (&fwd_abs, k + 1),
            (&fwd_abs, k + 1),
            (&fwd_abs, k + 1),
            (&dx_abs, n),
            (&dx_abs, n),
            (&dw_abs, b),
            (&dw_abs, b),
        ];

        for isa in Isa::available() {
            let seq = products(isa, Par::Seq, &mask, &w, &x, &dy, &bias, b);
            for (o, (g, base)) in seq.iter().zip(&oracle).enumerate() {
                let (absum, terms) = bounds[o];
                assert_within_rounding(
                    g,
                    base,
                    absum,
                    terms,
                    &format!("shape {s} output {o} {isa:?}"),
                );
            }
            for par in [Par::Rayon(1), Par::Rayon(2), Par::Rayon(3), Par::Rayon(7)] {
                let got = products(isa, par, &mask, &w, &x, &dy, &bias, b);
                for (o, (g, r)) in got.iter().zip(&seq).enumerate() {
                    assert!(
                        g.iter().zip(r).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "shape {s} output {o}: {isa:?} {par:?} is not bit-identical to {isa:?} sequential"
                    );
                }
            }
        }
    }
}

#[test]
fn a_samples_outputs_do_not_depend_on_the_batch_around_it() {
    // The row products cut the batch into blocks and pad the last one: each output element must still see the
    // same terms in the same order, so a sample's outputs are bit-identical whether it is computed in a batch
    // of 1, of 37 or of 500 samples, at any position.
    for (n, k, density) in [(24, 300, 0.45), (17, 40, 0.2), (5, 1, 1.0)] {
        let (mask, w) = random_layer(n, k, density, 77);
        let big = 500;
        let x = random_vec(k * big, 78);
        let dy = random_vec(n * big, 79);
        let bias = random_vec(n, 80);
        for isa in Isa::available() {
            let all = products(isa, Par::Seq, &mask, &w, &x, &dy, &bias, big);
            for (start, b) in [(0, 1), (499, 1), (13, 37), (100, 128), (371, 129)] {
                let cols = |m: &[f32], rows: usize| -> Vec<f32> {
                    (0..rows)
                        .flat_map(|r| m[r * big + start..r * big + start + b].to_vec())
                        .collect()
                };
                let part = products(
                    isa,
                    Par::Seq,
                    &mask,
                    &w,
                    &cols(&x, k),
                    &cols(&dy, n),
                    &bias,
                    b,
                );
                // Forward (4 variants) and input gradient (2): the same columns of the full batch's result.
                for o in 0..6 {
                    let rows = if o < 4 { n } else { k };
                    let want = cols(&all[o], rows);
                    assert!(
                        part[o].iter().zip(&want).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "{n}x{k} output {o} {isa:?}: samples {start}..{} differ from the batch of {big}",
                        start + b
                    );
                }
            }
        }
    }
}

/// One weight-gradient dot in the order of `kernels::dense::dot`: lane-wise products summed per lane over the
/// full 16-lane chunks, the lane sums reduced pairwise, then the tail (`b % 16` terms) added one by one, each
/// product-add fused or not (`fused`).
fn dot_in_order(g: &[f32], x: &[f32], fused: bool) -> f32 {
    let madd = |a: f32, b: f32, c: f32| if fused { a.mul_add(b, c) } else { a * b + c };
    let full = g.len() / 16 * 16;
    let mut acc = [0f32; 16];
    for c in (0..full).step_by(16) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = madd(g[c + l], x[c + l], *a);
        }
    }
    let mut w = 8;
    while w > 0 {
        for l in 0..w {
            acc[l] += acc[l + w];
        }
        w /= 2;
    }
    let mut s = acc[0];
    for c in full..g.len() {
        s = madd(g[c], x[c], s);
    }
    s
}

#[test]
fn sampled_products_keep_the_dot_order_at_every_tail_and_group_size() {
    // Row `i` of the pattern holds `i` live entries (0..=20: groups of eight, of four and single dots, short
    // groups padded); batches cover every tail `b % 16` below one chunk, between one and two, at 48 and at 500.
    // The weight-gradient dots must equal the scalar emulation of their order bit for bit on every instruction
    // set (fused where the instantiation fuses) and at 1 and 2 threads, CSR and bitmask alike, and match
    // matrixmultiply.
    let baseline_fused = cfg!(any(target_feature = "fma", target_arch = "aarch64"));
    let n = 21;
    // 70 inputs: bitmask rows of two words.
    for k in [24, 70] {
        for b in (1..=33).chain([48, 500]) {
            let mut rng = stream(500 + b as u64, &[k as u64]);
            let mut mask = Mask::empty(n, k);
            let mut order: Vec<usize> = (0..k).collect();
            for i in 0..n {
                for t in 0..i {
                    let j = rng.gen_range(t..k);
                    order.swap(t, j);
                    mask.set(i, order[t], true);
                }
            }
            let x = random_vec(k * b, 600 + b as u64);
            let dy = random_vec(n * b, 700 + b as u64);
            let mut dw_ref = vec![0f32; n * k];
            gemm::dw_ref(n, k, b, &dy, &x, &mut dw_ref);
            mask.apply(&mut dw_ref);
            let pattern = Csr::from_dense_masked(&mask, &vec![0f32; n * k])
                .pattern()
                .clone();
            for isa in Isa::available() {
                let fused = isa != Isa::Scalar || baseline_fused;
                let mut want = vec![0f32; n * k];
                for i in 0..n {
                    for c in (0..k).filter(|&c| mask.get(i, c)) {
                        want[i * k + c] =
                            dot_in_order(&dy[i * b..(i + 1) * b], &x[c * b..(c + 1) * b], fused);
                    }
                }
                for par in [Par::Seq, Par::Rayon(2)] {
                    let what = format!("k {k} b {b} {isa:?} {par:?}");
                    let mut g = vec![f32::NAN; pattern.nnz()];
                    csr::csr_backward_weight(isa, par, &pattern, &dy, &x, b, &mut g);
                    let mut dw = vec![0f32; n * k];
                    Csr::new(pattern.clone(), g).unwrap().scatter(&mut dw);
                    assert!(
                        dw.iter()
                            .zip(&want)
                            .all(|(p, q)| p.to_bits() == q.to_bits()),
                        "CSR dW, {what}: not in the order of the dense dot"
                    );
                    assert_close(&dw, &dw_ref, &format!("CSR dW, {what}"));
                    let mut dw = vec![0f32; n * k];
                    bitmask::bitmask_backward_weight(isa, par, &mask, &dy, &x, b, &mut dw);
                    assert!(
                        dw.iter()
                            .zip(&want)
                            .all(|(p, q)| p.to_bits() == q.to_bits()),
                        "bitmask dW, {what}: not in the order of the dense dot"
                    );
                }
            }
        }
    }
}

#[test]
fn adam_kernel_is_bit_identical_across_isas() {
    for len in [0, 1, 15, 16, 17, 100, 1000] {
        let g = random_vec(len, 1);
        let p0 = random_vec(len, 2);
        let m0: Vec<f32> = random_vec(len, 3).iter().map(|v| v * 0.1).collect();
        let v0: Vec<f32> = random_vec(len, 4).iter().map(|v| v * v).collect();
        let h = [1e-3 / 0.1, 0.9, 0.999, (1.0f32 - 0.999).sqrt(), 1e-8];
        let mut reference = None;
        for isa in Isa::available() {
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            kernels::adam_update(isa, &mut p, &g, &mut m, &mut v, h);
            // The formula, element by element.
            for i in 0..len {
                let mi = 0.9 * m0[i] + (1.0 - 0.9) * g[i];
                let vi = 0.999 * v0[i] + (1.0 - 0.999) * g[i] * g[i];
                let pi = p0[i] - h[0] * mi / (vi.sqrt() / h[3] + h[4]);
                assert_eq!(
                    (p[i].to_bits(), m[i].to_bits(), v[i].to_bits()),
                    (pi.to_bits(), mi.to_bits(), vi.to_bits())
                );
            }
            match &reference {
                None => reference = Some((p, m, v)),
                Some(r) => assert!(r == &(p, m, v), "{isa:?} differs"),
            }
        }
    }
}

#[test]
fn formats_convert_between_each_other() {
    let (mask, w) = random_layer(9, 77, 0.3, 5);
    let bm = Bitmask::new(mask.clone(), w.clone()).unwrap();
    let csr = bm.to_csr();
    assert_eq!(csr.nnz(), mask.count());
    assert_eq!(csr.to_dense(), w);
    assert_eq!(Bitmask::from_csr(&csr), bm);
    assert_eq!(Csr::from_sprs(&csr.to_sprs()).unwrap(), csr);
    assert_eq!(Pattern::from_mask(&mask).to_mask(), mask);
    assert_eq!(mask.transpose().transpose(), mask);
}

#[test]
fn format_names_parse_and_bad_names_say_what_to_use() {
    for f in Format::ALL {
        assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
    }
    assert_eq!("auto".parse::<FormatChoice>().unwrap(), FormatChoice::Auto);
    let e = "coo".parse::<FormatChoice>().unwrap_err().to_string();
    assert!(e.contains("coo") && e.contains("csr"), "{e}");
}

/// The case-study model (32 inputs, h = 8, alpha = 2 random split) trained after FPE on each format, same seed.
#[test]
fn training_on_dense_bitmask_and_csr_gives_the_same_model() {
    let dnf = Dnf::with_clauses(8, 4).unwrap();
    let train = dnf.generate(2000, &mut stream(7, &[1])).unwrap();
    let test = dnf.generate(500, &mut stream(7, &[2])).unwrap();
    let mut dense = Mlp::new(&[32, 8, 1], train.task, &mut stream(7, &[3])).unwrap();
    let cfg = TrainConfig {
        epochs: 5,
        ..TrainConfig::default()
    };
    Trainer::new(&dense, cfg)
        .unwrap()
        .fit(&mut dense, &train, &mut stream(7, &[4]), |_, _| {});
    let fpe = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &fpe, train.groups.as_deref(), &mut stream(7, &[5])).unwrap();
    let cfg = TrainConfig {
        epochs: 8,
        ..TrainConfig::default()
    };
    let mut results = Vec::new();
    for format in Format::ALL {
        for par in [Par::Seq, Par::Rayon(2)] {
            let mut m = wide.clone();
            let mut trainer =
                Trainer::new(&m, cfg)
                    .unwrap()
                    .with_format(&m, FormatChoice::Force(format), par);
            assert_eq!(trainer.formats(), vec![format; 2]);
            let mut losses = Vec::new();
            trainer.fit(&mut m, &train, &mut stream(7, &[6]), |_, l| losses.push(l));
            assert_eq!(m.nnz(), wide.nnz(), "{format}: the budget changed");
            for (l, layer) in m.layers().iter().enumerate() {
                for r in 0..layer.out_dim() {
                    for c in 0..layer.in_dim() {
                        if !layer.is_live(r, c) {
                            assert_eq!(
                                layer.weight()[r * layer.in_dim() + c],
                                0.0,
                                "{format} layer {l}"
                            );
                        }
                    }
                }
            }
            results.push((format, par, m, losses));
        }
    }
    let (_, _, m0, l0) = &results[0];
    let acc0 = accuracy(m0, &test);
    for (format, par, m, losses) in &results[1..] {
        for (a, b) in losses.iter().zip(l0) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{format} {par:?}: loss {a} vs {b}"
            );
        }
        for (la, lb) in m.layers().iter().zip(m0.layers()) {
            for (a, b) in la
                .weight()
                .iter()
                .chain(la.bias())
                .zip(lb.weight().iter().chain(lb.bias()))
            {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{format} {par:?}: weight {a} vs {b}"
                );
            }
        }
        assert!(
            (accuracy(m, &test) - acc0).abs() <= 0.01,
            "{format} {par:?}: accuracy"
        );
    }
    // Thread count never changes a bit.
    for pair in results.chunks(2) {
        assert_eq!(
            pair[0].2, pair[1].2,
            "{}: Rayon(2) differs from Seq",
            pair[0].0
        );
        assert_eq!(pair[0].3, pair[1].3);
    }
}

#[test]
fn auto_picks_by_density_and_plans_follow_a_changed_mask() {
    assert_eq!(Format::choose(100, 100, 9000), Format::Dense);
    assert_eq!(Format::choose(100, 100, 2500), Format::Csr);
    let (mask, w) = random_layer(12, 40, 0.3, 9);
    let layer =
        neurosplit::nn::Linear::from_parts(12, 40, w, random_vec(12, 10), Some(mask)).unwrap();
    let mut plan = LayerExec::new(&layer, FormatChoice::Auto);
    assert_eq!(plan.format(), Format::Csr);
    let b = 37;
    let x = random_vec(40 * b, 11);
    // Another mask on the same shape: the plan must rebuild itself, not reuse the old pattern.
    let (mask2, w2) = random_layer(12, 40, 0.2, 12);
    let layer2 =
        neurosplit::nn::Linear::from_parts(12, 40, w2.clone(), layer.bias().to_vec(), Some(mask2))
            .unwrap();
    let mut y = vec![0f32; 12 * b];
    plan.forward(Isa::best(), Par::Seq, &layer, &x, b, false, &mut y);
    plan.forward(Isa::best(), Par::Seq, &layer2, &x, b, false, &mut y);
    let mut want = vec![0f32; 12 * b];
    gemm::fwd_ref(12, 40, b, &w2, &x, &mut want);
    for (i, row) in want.chunks_mut(b).enumerate() {
        row.iter_mut().for_each(|v| *v += layer.bias()[i]);
    }
    assert_close(&y, &want, "forward after a mask change");
}

/// Dense-format layers, through the GEMM micro-kernel (large) and the row kernels (small): every thread count
/// gives the bits of the sequential run, masked weight-gradient entries are exactly `0.0`, and the products
/// match the `matrixmultiply` oracle.
#[test]
fn dense_layers_are_bit_identical_across_threads_and_zero_on_masked_entries() {
    use neurosplit::nn::Linear;
    // 96 x 130 x 200 cuts every GEMM product into column ranges across threads (the batch, or the inputs, is the
    // wider dimension of the output), 300 x 100 x 40 into row ranges; the other two take the row kernels.
    for &(n, k, b, density) in &[
        (96, 130, 200, 0.8),
        (300, 100, 40, 0.8),
        (8, 32, 500, 1.0),
        (33, 70, 61, 0.75),
    ] {
        let (mask, w) = random_layer(n, k, density, 40);
        let masked = density < 1.0;
        let layer = Linear::from_parts(
            n,
            k,
            w.clone(),
            random_vec(n, 41),
            masked.then_some(mask.clone()),
        )
        .unwrap();
        let x = random_vec(k * b, 42);
        let dy = random_vec(n * b, 43);
        let isa = Isa::best();
        let run = |par: Par| {
            let mut plan = LayerExec::new(&layer, FormatChoice::Force(Format::Dense));
            let mut y = vec![f32::NAN; n * b];
            plan.forward(isa, par, &layer, &x, b, true, &mut y);
            let mut dw = vec![f32::NAN; n * k];
            plan.backward_weight(isa, par, &layer, &dy, &x, b, &mut dw);
            let mut dx = vec![f32::NAN; k * b];
            plan.backward_input(isa, par, &layer, &dy, b, &mut dx);
            [y, dw, dx].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        };
        let seq = run(Par::Seq);
        for par in [Par::Rayon(2), Par::Rayon(3), Par::Rayon(7)] {
            assert!(
                run(par) == seq,
                "{n}x{k}x{b}: {par:?} differs from sequential"
            );
        }
        let [y, dw, dx] = seq.map(|v| v.into_iter().map(f32::from_bits).collect::<Vec<_>>());
        let mut y_ref = vec![0f32; n * b];
        gemm::fwd_ref(n, k, b, &w, &x, &mut y_ref);
        for (i, row) in y_ref.chunks_mut(b).enumerate() {
            row.iter_mut()
                .for_each(|v| *v = (*v + layer.bias()[i]).max(0.0));
        }
        assert_close(&y, &y_ref, "dense forward");
        let mut dx_ref = vec![0f32; k * b];
        gemm::dx_ref(n, k, b, &w, &dy, &mut dx_ref);
        assert_close(&dx, &dx_ref, "dense dX");
        let mut dw_ref = vec![0f32; n * k];
        gemm::dw_ref(n, k, b, &dy, &x, &mut dw_ref);
        if masked {
            mask.apply(&mut dw_ref);
            for (i, v) in dw.iter().enumerate() {
                assert!(
                    mask.get_flat(i) || v.to_bits() == 0,
                    "masked dW entry {i} is {v}"
                );
            }
        }
        assert_close(&dw, &dw_ref, "dense dW");
    }
}

/// A model whose dense layers take the GEMM path (at least 32 rows and 1 M multiply-adds per product), masked like
/// an FPE output layer, trained on one and on several threads: the products cut into column ranges (forward
/// passes, the input gradient, the output layer's weight gradient) and into row ranges (the first layer's
/// weight gradient, 128 rows against 64 inputs) give exactly the model of the sequential run.
#[test]
fn training_through_gemm_column_and_row_cuts_is_bit_identical_across_threads() {
    use neurosplit::data::{Dataset, Task};
    use neurosplit::nn::Linear;
    let (d, h, c, n) = (64, 128, 40, 768);
    let mut rng = stream(50, &[]);
    let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.gen_range(0..c as u32)).collect();
    let data = Dataset::new(x, y, d, Task::Multiclass(c)).unwrap();
    let (_, w1) = random_layer(h, d, 1.0, 51);
    let (m2, w2) = random_layer(c, h, 0.8, 52);
    let layers = vec![
        Linear::from_parts(h, d, w1, random_vec(h, 53), None).unwrap(),
        Linear::from_parts(c, h, w2, random_vec(c, 54), Some(m2)).unwrap(),
    ];
    let model = Mlp::from_layers(layers, data.task).unwrap();
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 256,
        ..TrainConfig::default()
    };
    let isa = Isa::best();
    assert!(
        isa == Isa::Scalar || (gemm::pays(isa, h, d, 256) && gemm::pays(isa, c, h, 256)),
        "the layers must take the GEMM path"
    );
    let train = |par: Par| {
        let mut m = model.clone();
        let mut trainer =
            Trainer::new(&m, cfg)
                .unwrap()
                .with_format(&m, FormatChoice::Force(Format::Dense), par);
        let mut losses = Vec::new();
        trainer.fit(&mut m, &data, &mut stream(55, &[]), |_, l| losses.push(l));
        (m, losses)
    };
    let (seq, seq_losses) = train(Par::Seq);
    assert!(seq_losses.iter().all(|l| l.is_finite()));
    for (l, layer) in seq.layers().iter().enumerate() {
        for (i, &w) in layer.weight().iter().enumerate() {
            assert!(
                layer.is_live(i / layer.in_dim(), i % layer.in_dim()) || w == 0.0,
                "layer {l}: masked weight {i} is {w}"
            );
        }
    }
    for par in [Par::Rayon(2), Par::Rayon(3)] {
        let (m, losses) = train(par);
        assert_eq!(losses, seq_losses, "{par:?}: losses differ from sequential");
        assert!(m == seq, "{par:?}: the model differs from sequential");
    }
}
