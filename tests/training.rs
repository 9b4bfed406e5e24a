//! Training: masked weights stay exactly zero, the budget holds, learning works, results are deterministic.

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::experiment::case_study::{self, CaseStudyConfig};
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
    let masks: Vec<_> = wide.layers.iter().map(|l| l.mask.clone()).collect();
    let mut trainer = Trainer::new(&wide, TrainConfig { epochs: 1, ..cfg }).unwrap();
    for _ in 0..5 {
        trainer.epoch(&mut wide, &data, &mut stream(1, &[5]));
        assert_eq!(wide.nnz(), budget);
        for (layer, mask) in wide.layers.iter().zip(&masks) {
            assert_eq!(&layer.mask, mask, "training never changes the pattern");
            let mask = mask.as_ref().unwrap();
            for (i, &w) in layer.weight.iter().enumerate() {
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
fn case_study_is_bit_identical_at_one_and_two_threads() {
    let cfg = CaseStudyConfig {
        pre_epochs: 3,
        post_epochs: 3,
        trials: 3,
        n_train: 1000,
        n_test: 300,
        ..CaseStudyConfig::default()
    };
    let one = case_study::run(&cfg, 1, |_| {}).unwrap();
    let two = case_study::run(&cfg, 2, |_| {}).unwrap();
    let again = case_study::run(&cfg, 2, |_| {}).unwrap();
    let key = |r: &case_study::CaseStudyResult| {
        r.trials
            .iter()
            .map(|t| {
                (
                    t.pre_test_acc.to_bits(),
                    t.models
                        .iter()
                        .map(|m| (m.test_acc.to_bits(), m.train_acc.to_bits(), m.nnz))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&one), key(&two));
    assert_eq!(key(&two), key(&again));
    assert!(one.budgets_equal());
    // Different trials draw different data and initialisations.
    assert_ne!(
        one.trials[0].pre_test_acc.to_bits(),
        one.trials[1].pre_test_acc.to_bits()
    );
}

#[test]
fn case_study_config_errors_name_the_setting() {
    let bad = |f: fn(&mut CaseStudyConfig)| {
        let mut c = CaseStudyConfig::default();
        f(&mut c);
        c.validate().unwrap_err().to_string()
    };
    assert!(bad(|c| c.alpha = 1).contains("alpha"));
    assert!(bad(|c| c.alpha = 9).contains("alpha <= 8"));
    assert!(bad(|c| c.pre_epochs = 0).contains("epochs"));
    assert!(bad(|c| c.trials = 0).contains("trials"));
    assert!(bad(|c| c.k = 0).contains("k"));
    assert!(bad(|c| c.train.lr = -1.0).contains("learning rate"));
}
