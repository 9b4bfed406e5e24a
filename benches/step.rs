//! One training step of the case-study model (batch 500, m = 32): dense h = 8 and FPE-expanded h' = 16 with
//! masks, on a feature-major batch. Reports time per step and useful GFLOP/s (2 x live weights x batch per product, three products
//! for the first layer minus the input gradient it does not need).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::nn::{Mlp, TrainConfig, Trainer};
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

criterion_group!(benches, step);
criterion_main!(benches);
