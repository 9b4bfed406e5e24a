//! Dense layer products with criterion, batch 500: the layer's dense path (`LayerExec` on `Format::Dense`, the
//! GEMM micro-kernel where `gemm::pays` says so) against plain `matrixmultiply` sgemm of the same product, on
//! the sweep's shapes (d, h) in {(512, 512), (784, 1024), (2048, 2048)}, 1 and 2 threads; and, on small
//! products, the crate's row kernels against the GEMM path (where `gemm::pays` draws the line). Throughput is
//! `2 x n x k x batch` flops per product, so criterion's "elem/s" reads as FLOP/s.
//!
//! Short by default (10 samples, 0.5 s of measurement per benchmark). Filter as usual, e.g.
//! `cargo bench --bench dense -- 'layer/fwd/512x512'` or `cargo bench --bench dense -- small`.
//! `examples/sparse_sweep.rs` (dense rows) and `examples/dense_isa.rs` print the same figures as tables.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use neurosplit::kernels::Par;
use neurosplit::kernels::{dense, gemm, simd, Isa};
use neurosplit::nn::Linear;
use neurosplit::nn::{FormatChoice, LayerExec};
use neurosplit::sparse::Format;

const B: usize = 500;

fn data(len: usize, m: usize) -> Vec<f32> {
    (0..len).map(|i| ((i % m) as f32 - 6.0) * 0.01).collect()
}

fn short(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
}

fn layers(c: &mut Criterion) {
    let isa = Isa::best();
    for (d, h) in [(512, 512), (784, 1024), (2048, 2048)] {
        let (n, k) = (h, d);
        let l = Linear::from_parts(n, k, data(n * k, 17), vec![0.01; n], None).unwrap();
        let x = data(k * B, 13);
        let dy = data(n * B, 11);
        let (mut y, mut dx, mut dw) = (vec![0f32; n * B], vec![0f32; k * B], vec![0f32; n * k]);
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
            let mut e = LayerExec::new(&l, FormatChoice::Force(Format::Dense));
            e.forward(isa, par, &l, &x, B, true, &mut y);
            for op in ["fwd", "dx", "dw"] {
                let mut g = c.benchmark_group(format!("layer/{op}/{d}x{h}/t{threads}"));
                short(&mut g);
                g.throughput(Throughput::Elements((2 * n * k * B) as u64));
                if threads == 1 {
                    g.bench_function("sgemm", |bch| {
                        bch.iter(|| match op {
                            "fwd" => gemm::fwd_ref(n, k, B, l.weight(), &x, &mut y),
                            "dx" => gemm::dx_ref(n, k, B, l.weight(), &dy, &mut dx),
                            _ => gemm::dw_ref(n, k, B, &dy, &x, &mut dw),
                        })
                    });
                }
                g.bench_function("dense layer", |bch| {
                    pool.install(|| {
                        bch.iter(|| match op {
                            "fwd" => e.forward(isa, par, &l, &x, B, true, &mut y),
                            "dx" => e.backward_input(isa, par, &l, &dy, B, &mut dx),
                            _ => e.backward_weight(isa, par, &l, &dy, &x, B, &mut dw),
                        })
                    })
                });
                g.finish();
            }
        }
    }
}

fn small(c: &mut Criterion) {
    let isa = Isa::best();
    for (n, k) in [(8, 32), (16, 32), (64, 64), (128, 128)] {
        let w = data(n * k, 17);
        let x = data(k * B, 13);
        let dy = data(n * B, 11);
        let bias = vec![0.1f32; n];
        let (mut y, mut dx, mut dw) = (vec![0f32; n * B], vec![0f32; k * B], vec![0f32; n * k]);
        let mut wt = vec![0f32; n * k];
        let mut g = c.benchmark_group(format!("small/{n}x{k}"));
        short(&mut g);
        g.throughput(Throughput::Elements((2 * n * k * B) as u64));
        g.bench_function("fwd/row kernel", |bch| {
            bch.iter(|| simd::rows(isa, n, k, B, &w, k, &x, Some(&bias), true, &mut y))
        });
        g.bench_function("fwd/gemm", |bch| {
            bch.iter(|| gemm::forward_rows(n, k, B, &w, &x, &bias, true, &mut y))
        });
        g.bench_function("dx/row kernel (with transpose)", |bch| {
            bch.iter(|| {
                dense::transpose(n, k, &w, &mut wt);
                simd::rows(isa, k, n, B, &wt, n, &dy, None, false, &mut dx)
            })
        });
        g.bench_function("dx/gemm", |bch| {
            bch.iter(|| gemm::input_grad_rows(k, n, k, B, &w, &dy, &mut dx))
        });
        g.bench_function("dw/row kernel", |bch| {
            bch.iter(|| simd::dots(isa, n, k, B, &dy, &x, None, &mut dw))
        });
        g.bench_function("dw/gemm", |bch| {
            bch.iter(|| gemm::weight_grad_rows(0, n, k, B, &dy, &x, None, &mut dw))
        });
        g.finish();
    }
}

criterion_group!(benches, layers, small);
criterion_main!(benches);
