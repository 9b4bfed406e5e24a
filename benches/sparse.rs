//! Sparse layer products with criterion: batch 500; (d, h') in {(512, 512), (784, 1024), (2048, 2048)};
//! density 100 / 50 / 25 / 12.5 / 6 / 3 %; forward, input gradient (dX), weight gradient (dW) and a full layer
//! step (all three plus the bias gradient); CSR and bitmask; 1 and 2 threads; plus the dense `matrixmultiply`
//! sgemm of each product and shape. Throughput is useful work: `2 x nnz x batch` flops per product, so
//! criterion's "elem/s" reads as FLOP/s.
//!
//! Short by default (10 samples, 0.5 s of measurement per benchmark; one group such as `step/512x512/t2`,
//! 12 benchmarks, took 21 s on the development machine). Filter as usual, e.g.
//! `cargo bench --bench sparse -- 'fwd/512x512'`; `fwd_batch` times the row products at batch sizes
//! with and without a partly filled last block. `examples/sparse_sweep.rs` prints the same sweep as one
//! table with the ratios to dense sgemm.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::Rng as _;

use neurosplit::kernels::Par;
use neurosplit::kernels::{bias_grad, gemm, Isa};
use neurosplit::nn::Linear;
use neurosplit::nn::{FormatChoice, LayerExec};
use neurosplit::rng::stream;
use neurosplit::sparse::{Format, Mask};

const B: usize = 500;

fn layer(n: usize, k: usize, density: f64) -> Linear {
    let mut rng = stream(2, &[]);
    let mut w = vec![0f32; n * k];
    let mut mask = Mask::empty(n, k);
    for i in 0..n {
        for j in 0..k {
            if density >= 1.0 || rng.gen_bool(density) {
                mask.set(i, j, true);
                w[i * k + j] = rng.gen_range(-0.1..0.1);
            }
        }
    }
    Linear::from_parts(n, k, w, vec![0.01; n], (density < 1.0).then_some(mask)).unwrap()
}

fn sweep(c: &mut Criterion) {
    let isa = Isa::best();
    for (d, h) in [(512, 512), (784, 1024), (2048, 2048)] {
        let (n, k) = (h, d);
        let x: Vec<f32> = (0..k * B).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let dy: Vec<f32> = (0..n * B).map(|i| ((i % 11) as f32 - 5.0) * 0.01).collect();
        let (mut y, mut dx, mut dw, mut db) = (
            vec![0f32; n * B],
            vec![0f32; k * B],
            vec![0f32; n * k],
            vec![0f32; n],
        );
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = if threads == 1 {
                Par::Seq
            } else {
                Par::Rayon(threads)
            };
            for op in ["fwd", "dx", "dw", "step"] {
                let mut g = c.benchmark_group(format!("{op}/{d}x{h}/t{threads}"));
                g.sample_size(10)
                    .warm_up_time(Duration::from_millis(200))
                    .measurement_time(Duration::from_millis(500));
                let products = if op == "step" { 3 } else { 1 };
                // Dense sgemm baseline (single-threaded: matrixmultiply is built without threading).
                if threads == 1 {
                    let full = layer(n, k, 1.0);
                    g.throughput(Throughput::Elements((products * 2 * n * k * B) as u64));
                    g.bench_function("sgemm", |bch| {
                        bch.iter(|| {
                            if op == "fwd" || op == "step" {
                                gemm::fwd_ref(n, k, B, full.weight(), &x, &mut y);
                            }
                            if op == "dx" || op == "step" {
                                gemm::dx_ref(n, k, B, full.weight(), &dy, &mut dx);
                            }
                            if op == "dw" || op == "step" {
                                gemm::dw_ref(n, k, B, &dy, &x, &mut dw);
                            }
                        })
                    });
                }
                for density in [1.0, 0.5, 0.25, 0.125, 0.06, 0.03] {
                    let l = layer(n, k, density);
                    g.throughput(Throughput::Elements((products * 2 * l.nnz() * B) as u64));
                    for format in [Format::Csr, Format::Bitmask] {
                        let mut e = LayerExec::new(&l, FormatChoice::Force(format));
                        e.forward(isa, par, &l, &x, B, true, &mut y);
                        let id = BenchmarkId::new(
                            format.to_string(),
                            format!("{:.1}%", density * 100.0),
                        );
                        g.bench_function(id, |bch| {
                            pool.install(|| {
                                bch.iter(|| match op {
                                    "fwd" => e.forward(isa, par, &l, &x, B, true, &mut y),
                                    "dx" => e.backward_input(isa, par, &l, &dy, B, &mut dx),
                                    "dw" => e.backward_weight(isa, par, &l, &dy, &x, B, &mut dw),
                                    _ => {
                                        e.forward(isa, par, &l, &x, B, true, &mut y);
                                        e.backward_weight(isa, par, &l, &dy, &x, B, &mut dw);
                                        bias_grad(isa, n, B, &dy, &mut db);
                                        e.backward_input(isa, par, &l, &dy, B, &mut dx);
                                    }
                                })
                            })
                        });
                    }
                }
                g.finish();
            }
        }
    }
}

/// The row products at batch sizes that fill their last 128-column block fully (512), all but a partial lane
/// chunk (500, the paper's batch) and in one full chunk less (496): the partly filled block should cost about
/// what its share of columns does. 512 x 512 at 14.5 % (the CLIP model's W1'), CSR, one thread.
fn batch_tails(c: &mut Criterion) {
    let isa = Isa::best();
    let (n, k) = (512, 512);
    let l = layer(n, k, 0.145);
    let mut g = c.benchmark_group("fwd_batch/512x512/t1");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    for b in [496, 500, 512] {
        let x: Vec<f32> = (0..k * b).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let dy: Vec<f32> = (0..n * b).map(|i| ((i % 11) as f32 - 5.0) * 0.01).collect();
        let (mut y, mut dx) = (vec![0f32; n * b], vec![0f32; k * b]);
        let mut e = LayerExec::new(&l, FormatChoice::Force(Format::Csr));
        e.forward(isa, Par::Seq, &l, &x, b, true, &mut y);
        g.throughput(Throughput::Elements((2 * l.nnz() * b) as u64));
        g.bench_function(BenchmarkId::new("csr fwd", b), |bch| {
            bch.iter(|| e.forward(isa, Par::Seq, &l, &x, b, true, &mut y))
        });
        g.bench_function(BenchmarkId::new("csr dx", b), |bch| {
            bch.iter(|| e.backward_input(isa, Par::Seq, &l, &dy, b, &mut dx))
        });
    }
    g.finish();
}

criterion_group!(benches, sweep, batch_tails);
criterion_main!(benches);
