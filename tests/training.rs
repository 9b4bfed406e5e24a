//! Training: masked weights stay exactly zero, the budget holds, learning works, results are deterministic.

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::experiment::runner::{self, RunOptions};
use neurosplit::experiment::spec::{DatasetSpec, Spec};
use neurosplit::nn::{accuracy, Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;

#[test]
fn masked_weights_stay_exactly_zero_and_budget_holds() {
    let dnf = Dnf::with_clauses(4, 4).unwrap();
    let data = dnf.generate(600, &mut stream(1, &[1])).unwrap();
    let mut dense = Mlp::new(&[16, 4, 1], data.task, &mut stream(1, &[2])).unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 128,
        ..TrainConfig::default()
    };
    Trainer::new(&dense, cfg)
        .unwrap()
        .fit(&mut dense, &data, &mut stream(1, &[3]), |_, _| {});
    let fpe = FpeConfig {
        alpha: 4,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (mut wide, _) = expand(&dense, &fpe, None, &mut stream(1, &[4])).unwrap();
    let budget = dense.nnz();
    let masks: Vec<_> = wide.layers().iter().map(|l| l.mask().cloned()).collect();
    let mut trainer = Trainer::new(&wide, TrainConfig { epochs: 1, ..cfg }).unwrap();
    for _ in 0..5 {
        trainer.epoch(&mut wide, &data, &mut stream(1, &[5]));
        assert_eq!(wide.nnz(), budget);
        for (layer, mask) in wide.layers().iter().zip(&masks) {
            assert_eq!(
                layer.mask(),
                mask.as_ref(),
                "training never changes the pattern"
            );
            let mask = mask.as_ref().unwrap();
            for (i, &w) in layer.weight().iter().enumerate() {
                if !mask.get_flat(i) {
                    assert_eq!(w.to_bits(), 0, "masked weight {i} is {w}, not +0.0");
                }
            }
        }
    }
    assert!(wide.nonzero_weights() <= budget);
}

#[test]
fn a_dense_model_learns_the_dnf() {
    let dnf = Dnf::with_clauses(4, 4).unwrap();
    let train = dnf.generate(4000, &mut stream(2, &[1])).unwrap();
    let test = dnf.generate(1000, &mut stream(2, &[2])).unwrap();
    let mut model = Mlp::new(&[16, 16, 1], train.task, &mut stream(2, &[3])).unwrap();
    let before = accuracy(&model, &test);
    let cfg = TrainConfig {
        epochs: 150,
        batch_size: 200,
        lr: 3e-3,
        ..TrainConfig::default()
    };
    let mut losses = Vec::new();
    Trainer::new(&model, cfg)
        .unwrap()
        .fit(&mut model, &train, &mut stream(2, &[4]), |_, l| {
            losses.push(l)
        });
    let after = accuracy(&model, &test);
    assert!(
        losses.last().unwrap() < &(0.5 * losses[0]),
        "loss {} -> {}",
        losses[0],
        losses.last().unwrap()
    );
    assert!(
        after > 0.9 && after > before + 0.2,
        "accuracy {before} -> {after}"
    );
}

#[test]
fn case_study_spec_is_bit_identical_at_one_and_two_threads() {
    let mut spec = Spec::load("case-study").unwrap();
    spec.trials = 3;
    spec.train.pre_epochs = vec![3];
    spec.train.post_epochs = Some(3);
    if let DatasetSpec::Dnf {
        n_train, n_test, ..
    } = &mut spec.dataset
    {
        (*n_train, *n_test) = (1000, 300);
    }
    let dir = std::env::temp_dir().join(format!("neurosplit-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runs = Vec::new();
    for (i, threads) in [1, 2, 2].into_iter().enumerate() {
        let opts = RunOptions {
            threads,
            shard: None,
            results: dir.join(format!("run{i}.jsonl")),
            data_dir: None,
            device: neurosplit::device::Device::Cpu,
        };
        let out = runner::run(&spec, &opts, |_, _, _| {}).unwrap();
        let mut records: Vec<_> = out.records.iter().map(|r| r.without_timings()).collect();
        records.sort_by(|a, b| (&a.cell, a.trial).cmp(&(&b.cell, b.trial)));
        for r in &records {
            assert!(
                r.models.iter().all(|m| m.nnz == r.pre_nnz),
                "budget differs in {}",
                r.cell
            );
        }
        runs.push(records);
    }
    assert_eq!(runs[0], runs[1], "results depend on the thread count");
    assert_eq!(runs[1], runs[2], "results differ between identical runs");
    // Different trials draw different data and initialisations.
    assert_ne!(
        runs[0][0].models[0].test_acc.to_bits(),
        runs[0][1].models[0].test_acc.to_bits()
    );
    std::fs::remove_dir_all(&dir).ok();
}
