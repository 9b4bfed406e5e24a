//! One training step of the case-study model (batch 500, m = 32): dense h = 8 and FPE-expanded h' = 16 with
//! masks, on a feature-major batch. Reports time per step and useful GFLOP/s (2 x live weights x batch per product, three products
//! for the first layer minus the input gradient it does not need).
//!
//! Also the CLIP-sized step of `examples/clip_epoch.rs` (d = 512, C = 100, dense h = 128 and FPE h' = 512,
//! alpha 4) on one and two threads, and its parts outside the products: the penalty and Adam over the FPE model's
//! live weights (as two passes, fused in one pass on one and two threads, and on the CSR layer's compact values),
//! the softmax cross-entropy, the
//! gathering of a shuffled batch; and a whole epoch of 2000 samples on one and two threads (the next batch
//! gathered during a step on two).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::seq::SliceRandom;
use rand::Rng as _;

use neurosplit::data::{Dataset, Dnf, Task};
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::loss;
use neurosplit::kernels::Par;
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{Adam, Mlp, Regularizer, TrainConfig, Trainer};
use neurosplit::rng::stream;

fn step(c: &mut Criterion) {
    let dnf = Dnf::with_clauses(8, 4).unwrap();
    let data = dnf.generate(500, &mut stream(0, &[1])).unwrap();
    let dense = Mlp::new(&[32, 8, 1], data.task, &mut stream(0, &[2])).unwrap();
    let fpe = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &fpe, data.groups.as_deref(), &mut stream(0, &[3])).unwrap();
    let mut xt = vec![0f32; 500 * data.d];
    let mut y = vec![0u32; 500];
    data.gather_t(0..500, &mut xt, &mut y);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut group = c.benchmark_group("case_study_step");
    for (name, model) in [("dense_h8", dense), ("fpe_masked_h16", wide)] {
        // Useful work: forward and weight gradient for both layers, input gradient for the second.
        let dims = model.dims();
        let dense_flops: usize = dims
            .windows(2)
            .map(|w| 2 * w[0] * w[1] * 500)
            .sum::<usize>()
            * 3
            - 2 * dims[0] * dims[1] * 500;
        group.throughput(Throughput::Elements(dense_flops as u64));
        let mut m = model.clone();
        let mut trainer = Trainer::new(&m, cfg).unwrap();
        group.bench_function(name, |b| b.iter(|| trainer.step(&mut m, &xt, &y, 500)));
    }
    group.finish();
}

/// Useful work of one step as the issue counts it: `2 x live weights x batch` per product; the first layer runs
/// forward and weight gradient, later layers also the input gradient.
fn useful_flops(m: &Mlp, batch: usize) -> u64 {
    m.layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| (if l == 0 { 2 } else { 3 }) * 2 * layer.nnz() * batch)
        .sum::<usize>() as u64
}

fn clip(c: &mut Criterion) {
    let (d, classes, h, batch) = (512, 100, 128, 500);
    let mut rng = stream(0, &[1]);
    let n = 2000;
    let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.gen_range(0..classes as u32)).collect();
    let data = Dataset::new(x, y, d, Task::Multiclass(classes)).unwrap();
    let dense = Mlp::new(&[d, h, classes], data.task, &mut stream(0, &[2])).unwrap();
    let fpe = FpeConfig {
        alpha: 4,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &fpe, None, &mut stream(0, &[3])).unwrap();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut stream(0, &[4]));
    let (mut xt, mut yt) = (vec![0f32; batch * d], vec![0u32; batch]);
    data.gather_t(order[..batch].iter().copied(), &mut xt, &mut yt);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };

    let mut group = c.benchmark_group("clip_step");
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
        for (name, model) in [("dense_h128", &dense), ("fpe_h512", &wide)] {
            group.throughput(Throughput::Elements(useful_flops(model, batch)));
            let mut m = model.clone();
            let mut trainer =
                Trainer::new(&m, cfg)
                    .unwrap()
                    .with_format(&m, FormatChoice::Auto, par);
            group.bench_function(format!("{name}/t{threads}"), |b| {
                b.iter(|| pool.install(|| trainer.step(&mut m, &xt, &yt, batch)))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("clip_parts");
    let mut m = wide.clone();
    let mut adam = Adam::new(&m, 1e-3);
    let mut grads = m.zero_grads();
    let mut ws = m.workspace(batch);
    m.backward(&xt, &yt, batch, &mut ws, &mut grads);
    group.throughput(Throughput::Elements(m.nnz() as u64));
    // The penalty as a separate pass, then Adam (what a step did before the two were fused).
    group.bench_function("adam_penalty_fpe_h512", |b| {
        b.iter(|| {
            Regularizer::default().add_grad(&m, &mut grads);
            adam.step(&mut m, &grads)
        })
    });
    // The penalty inside the Adam pass (what `Trainer::step` runs), masked rows split over 1 and 2 threads.
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
        let reg = Regularizer::default();
        group.bench_function(format!("adam_fused_penalty_fpe_h512/t{threads}"), |b| {
            b.iter(|| pool.install(|| adam.step_penalised(&mut m, &grads, &reg, par)))
        });
        // The CSR first layer updated on its compact values and moments (what `Trainer::step` runs without the
        // orthogonality penalty); the dense second layer as above.
        let mut wsp = m.workspace(batch).with_par(par);
        m.backward(&xt, &yt, batch, &mut wsp, &mut grads);
        group.bench_function(format!("adam_compact_fpe_h512/t{threads}"), |b| {
            b.iter(|| pool.install(|| adam.step_compact(&mut m, &grads, &reg, &mut wsp)))
        });
    }
    let logits: Vec<f32> = (0..classes * batch)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0)
        .collect();
    let mut g = vec![0f32; classes * batch];
    group.throughput(Throughput::Elements((classes * batch) as u64));
    group.bench_function("softmax_ce_100x500", |b| {
        b.iter(|| loss::softmax_ce(&logits, &yt, classes, &mut g))
    });
    group.throughput(Throughput::Elements((batch * d) as u64));
    let mut at = 0;
    group.bench_function("gather_t_500x512", |b| {
        b.iter(|| {
            at = (at + batch) % (n - batch);
            data.gather_t(order[at..at + batch].iter().copied(), &mut xt, &mut yt)
        })
    });
    group.finish();

    // A whole epoch over the 2000 samples (4 steps): on two threads the next batch is gathered during a step.
    let mut group = c.benchmark_group("clip_epoch_2000");
    group.sample_size(10);
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
        group.throughput(Throughput::Elements(useful_flops(&wide, n)));
        let mut m = wide.clone();
        let mut trainer = Trainer::new(&m, cfg)
            .unwrap()
            .with_format(&m, FormatChoice::Auto, par);
        let mut rng = stream(0, &[5]);
        group.bench_function(format!("fpe_h512/t{threads}"), |b| {
            b.iter(|| pool.install(|| trainer.epoch(&mut m, &data, &mut rng)))
        });
    }
    group.finish();
}

criterion_group!(benches, step, clip);
criterion_main!(benches);
