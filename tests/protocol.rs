//! Alg. A3's open choices (`neurosplit::pipeline::trial::protocol`): each switch does what it says, the
//! defaults change nothing, and values that make no sense are refused.

use neurosplit::data::{Dataset, Dnf, Task};
use neurosplit::device::Device;
use neurosplit::expand::{
    expand_with_rules, ChildBias, FpeConfig, OutColumn, Pruning, SplitInputs, SplitRules, Strategy,
};
use neurosplit::experiment::runner::{self, cells};
use neurosplit::experiment::spec::Spec;
use neurosplit::nn::schedule::orth_penalty;
use neurosplit::nn::{Mlp, PhaseExtras, Regularizer, TrainConfig, Trainer, Warmup, WarmupTarget};
use neurosplit::pipeline::trial::{self, AdamAtSplit, Protocol, Streams, TrialConfig};
use neurosplit::rng::stream;

fn data(seed: u64) -> (Dataset, Dataset) {
    let dnf = Dnf::with_clauses(4, 3).unwrap();
    (
        dnf.generate(400, &mut stream(seed, &[1])).unwrap(),
        dnf.generate(200, &mut stream(seed, &[2])).unwrap(),
    )
}

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 100,
        lr: 0.01,
        reg: Regularizer {
            l1_first: 1e-4,
            l2: 1e-3,
        },
        precision: Default::default(),
    }
}

/// A dense `[12, 6, 1]` model trained for a few epochs, and its Adam state.
fn trained() -> (Mlp, neurosplit::nn::Adam, Dataset) {
    let (train, _) = data(5);
    let mut model = Mlp::new(&[12, 6, 1], Task::Binary, &mut stream(5, &[3])).unwrap();
    let mut t = Trainer::new(&model, cfg(5)).unwrap();
    t.fit(&mut model, &train, &mut stream(5, &[4]), |_, _| {});
    (model, t.adam().clone(), train)
}

fn split(model: &Mlp, alpha: usize, rules: SplitRules) -> Mlp {
    let (train, _) = data(5);
    let cfg = FpeConfig {
        alpha,
        strategy: Strategy::Random,
        layer: 0,
    };
    let inputs = SplitInputs {
        groups: train.groups.as_deref(),
        ..SplitInputs::default()
    };
    expand_with_rules(
        model,
        &cfg,
        &inputs,
        &rules,
        &mut stream(9, &[alpha as u64]),
    )
    .unwrap()
    .0
}

#[test]
fn per_layer_pruning_keeps_each_layers_own_count_and_joint_keeps_the_total() {
    let (dense, _, _) = trained();
    let (n1, n2) = (dense.layers()[0].nnz(), dense.layers()[1].nnz());
    for alpha in [2, 3, 4] {
        let per = split(
            &dense,
            alpha,
            SplitRules {
                pruning: Pruning::PerLayer,
                ..SplitRules::default()
            },
        );
        assert_eq!(per.layers()[0].nnz(), n1, "alpha {alpha}");
        assert_eq!(per.layers()[1].nnz(), n2, "alpha {alpha}");
        // What per-layer pruning removed from W2' are its smallest duplicates.
        let w2 = per.layers()[1].weight();
        let kept_min = (0..w2.len())
            .filter(|&i| per.layers()[1].is_live(0, i))
            .map(|i| w2[i].abs())
            .fold(f32::INFINITY, f32::min);
        let dropped_max = (0..w2.len())
            .filter(|&i| !per.layers()[1].is_live(0, i))
            .map(|i| dense.layers()[1].weight()[i / alpha].abs())
            .fold(0.0, f32::max);
        assert!(dropped_max <= kept_min, "{dropped_max} > {kept_min}");
        let joint = split(&dense, alpha, SplitRules::default());
        assert_eq!(joint.nnz(), dense.nnz());
    }
    // On this model joint pruning takes some of its cut from W1' (the duplicated W2' entries are large): the two
    // rules are different rules.
    let joint = split(&dense, 4, SplitRules::default());
    assert_ne!(joint.layers()[0].nnz(), n1);
}

#[test]
fn divided_bias_and_column_are_the_parents_over_alpha() {
    let (dense, _, _) = trained();
    for alpha in [2, 4] {
        let copy = split(&dense, alpha, SplitRules::default());
        let div = split(
            &dense,
            alpha,
            SplitRules {
                bias: ChildBias::Divide,
                column: OutColumn::Divide,
                pruning: Pruning::PerLayer,
            },
        );
        let per_copy = split(
            &dense,
            alpha,
            SplitRules {
                pruning: Pruning::PerLayer,
                ..SplitRules::default()
            },
        );
        let (b, w2) = (dense.layers()[0].bias(), dense.layers()[1].weight());
        for child in 0..6 * alpha {
            let p = child / alpha;
            assert_eq!(copy.layers()[0].bias()[child], b[p]);
            assert_eq!(div.layers()[0].bias()[child], b[p] / alpha as f32);
            // Same supports under per-layer pruning (dividing scales every duplicate alike).
            assert_eq!(
                div.layers()[1].is_live(0, child),
                per_copy.layers()[1].is_live(0, child)
            );
            if div.layers()[1].is_live(0, child) {
                assert_eq!(div.layers()[1].weight()[child], w2[p] / alpha as f32);
                assert_eq!(per_copy.layers()[1].weight()[child], w2[p]);
            }
        }
    }
}

#[test]
fn carried_adam_moments_are_the_parents_at_the_same_position() {
    let (dense, adam, _) = trained();
    let alpha = 2;
    let wide = split(&dense, alpha, SplitRules::default());
    let carried = adam.carried(&dense, &wide).unwrap();
    assert_eq!(carried.steps(), adam.steps());
    assert!(carried.fits(&wide));
    let d = 12;
    let (pm, pv) = adam.weight_moments(0);
    let (cm, cv) = carried.weight_moments(0);
    let mut live = 0;
    for r in 0..6 * alpha {
        for c in 0..d {
            if wide.layers()[0].is_live(r, c) {
                live += 1;
                assert_eq!(cm[r * d + c], pm[(r / alpha) * d + c]);
                assert_eq!(cv[r * d + c], pv[(r / alpha) * d + c]);
            } else {
                assert_eq!((cm[r * d + c], cv[r * d + c]), (0.0, 0.0));
            }
        }
        assert_eq!(
            carried.bias_moments(0).0[r],
            adam.bias_moments(0).0[r / alpha]
        );
        // The duplicated W2 column's moments are copied.
        if wide.layers()[1].is_live(0, r) {
            assert_eq!(
                carried.weight_moments(1).0[r],
                adam.weight_moments(1).0[r / alpha]
            );
        } else {
            assert_eq!(carried.weight_moments(1).0[r], 0.0);
        }
    }
    assert!(live > 0 && pm.iter().any(|&m| m != 0.0));
    assert_eq!(carried.bias_moments(1), adam.bias_moments(1));
    // Onto the same model: the state itself.
    let same = adam.carried(&dense, &dense).unwrap();
    assert_eq!(same.weight_moments(0), adam.weight_moments(0));
    // Onto a model that is not a split of the parent: refused.
    let other = Mlp::new(&[12, 7, 1], Task::Binary, &mut stream(1, &[1])).unwrap();
    assert!(adam.carried(&dense, &other).is_err());
    assert!(adam.carried(&wide, &dense).is_err());
}

#[test]
fn warmup_scales_what_it_names_from_epoch_one() {
    let (train, _) = data(7);
    let model = Mlp::new(&[12, 6, 1], Task::Binary, &mut stream(7, &[3])).unwrap();
    let one_epoch = |c: TrainConfig, extras: PhaseExtras| {
        let mut m = model.clone();
        let mut t = Trainer::new(&m, c).unwrap().with_extras(extras).unwrap();
        t.epoch(&mut m, &train, &mut stream(7, &[4]));
        (m, t.adam().lr)
    };
    let warm = |target, epochs| PhaseExtras {
        warmup: Some(Warmup { target, epochs }),
        orth: 0.0,
    };
    let base = cfg(3);
    let half_lr = TrainConfig {
        lr: base.lr * 0.5,
        ..base
    };
    let half_reg = TrainConfig {
        reg: Regularizer {
            l1_first: base.reg.l1_first * 0.5,
            l2: base.reg.l2 * 0.5,
        },
        ..base
    };
    let plain = PhaseExtras::default();
    // Epoch 1 of W = 2: r = 1/2 on exactly what is named.
    let (a, lr) = one_epoch(base, warm(WarmupTarget::Lr, 2));
    assert_eq!(lr, base.lr * 0.5);
    assert_eq!(a, one_epoch(half_lr, plain).0);
    let (b, lr) = one_epoch(base, warm(WarmupTarget::Reg, 2));
    assert_eq!(lr, base.lr);
    assert_eq!(b, one_epoch(half_reg, plain).0);
    assert_ne!(b, one_epoch(base, plain).0);
    // W = 1: r = 1 from the first epoch, so nothing changes.
    assert_eq!(
        one_epoch(base, warm(WarmupTarget::Both, 1)).0,
        one_epoch(base, plain).0
    );
    // After W epochs the learning rate is the configured one.
    let mut m = model.clone();
    let mut t = Trainer::new(&m, base)
        .unwrap()
        .with_extras(warm(WarmupTarget::Lr, 4))
        .unwrap();
    let mut lrs = Vec::new();
    for _ in 0..5 {
        t.epoch(&mut m, &train, &mut stream(7, &[4]));
        lrs.push(t.adam().lr);
    }
    assert_eq!(
        lrs,
        [0.25, 0.5, 0.75, 1.0, 1.0]
            .iter()
            .map(|r| base.lr * r)
            .collect::<Vec<f32>>()
    );
}

#[test]
fn orth_penalty_in_training_makes_the_first_layer_more_orthogonal() {
    let (train, _) = data(8);
    let model = Mlp::new(&[12, 6, 1], Task::Binary, &mut stream(8, &[3])).unwrap();
    let run = |orth: f32| {
        let mut m = model.clone();
        let mut t = Trainer::new(&m, cfg(20))
            .unwrap()
            .with_extras(PhaseExtras { warmup: None, orth })
            .unwrap();
        t.fit(&mut m, &train, &mut stream(8, &[4]), |_, _| {});
        orth_penalty(&m)
    };
    let (without, with) = (run(0.0), run(0.05));
    assert!(with < 0.5 * without, "{with} vs {without}");
}

fn pipeline(protocol: Protocol) -> trial::TrialOutcome {
    let (train, test) = data(3);
    let cfg = TrialConfig {
        hidden: vec![6],
        pre: cfg(4),
        post: cfg(3),
        expansions: vec![(neurosplit::expand::Alpha::new(2).unwrap(), Strategy::Random)],
        protocol,
        ..TrialConfig::default()
    };
    trial::run(&cfg, &train, &test, Streams { seed: 3, trial: 0 }, &|_| {}).unwrap()
}

#[test]
fn every_switch_runs_through_the_pipeline_and_changes_the_result() {
    let paper = pipeline(Protocol::default());
    let fpe = |o: &trial::TrialOutcome| o.posts[1].model.clone();
    for set in [
        "warmup=lr",
        "warmup=reg",
        "warmup=both",
        "orth=0.01",
        "child_bias=divide",
        "out_column=divide",
        "adam=carry",
        "prune=per-layer",
    ] {
        let p = Protocol::default().with(&[set.to_string()]).unwrap();
        let out = pipeline(p);
        assert_eq!(
            out.posts[1].model.nnz(),
            paper.posts[1].model.nnz(),
            "{set}"
        );
        assert_ne!(fpe(&out), fpe(&paper), "{set} changed nothing");
    }
    // A post-split warm-up leaves pre-training alone.
    let post = Protocol::default()
        .with(&["warmup=lr".into(), "warmup_phase=post".into()])
        .unwrap();
    let out = pipeline(post);
    assert_eq!(out.dense, paper.dense);
    assert_ne!(fpe(&out), fpe(&paper));
}

#[test]
fn switches_that_make_no_sense_are_refused() {
    let (train, test) = data(3);
    let carry = Protocol {
        adam: AdamAtSplit::Carry,
        ..Protocol::default()
    };
    let cfg = TrialConfig {
        hidden: vec![6],
        post: cfg(2),
        expansions: vec![(neurosplit::expand::Alpha::new(2).unwrap(), Strategy::Random)],
        protocol: carry,
        ..TrialConfig::default()
    };
    let model = Mlp::new(&[12, 6, 1], Task::Binary, &mut stream(1, &[1])).unwrap();
    let err = trial::post_stage(
        &cfg,
        &model,
        &train,
        &test,
        Streams { seed: 1, trial: 0 },
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("optimizer state"), "{err}");
    let gpu = TrialConfig {
        device: Device::Cuda(0),
        ..cfg.clone()
    };
    let err = gpu.validate().unwrap_err().to_string();
    assert!(err.contains("CPU only"), "{err}");
    assert!(Protocol::default()
        .with(&["warmup_phase=post".into()])
        .is_err());
}

#[test]
fn variants_are_a_grid_axis_sharing_seeds_and_recorded_in_every_record() {
    let spec = Spec::load("protocol-ablation").unwrap();
    let grid = cells(&spec);
    assert_eq!(grid.len(), 3 * spec.variants.len());
    let eight: Vec<_> = grid.iter().filter(|c| c.neurons == 8).collect();
    assert!(eight.iter().all(|c| c.model_key() == eight[0].model_key()));
    assert!(eight
        .iter()
        .any(|c| c.key() == "clauses=8 depth=2 neurons=8 pre=1000 protocol=paper"));
    // The "paper" variant of the 8-neuron cell is the case study's cell: same seeds, same configuration.
    let case = Spec::load("case-study").unwrap();
    assert_eq!(cells(&case)[0].key(), eight[0].model_key());
    assert!(spec.protocol_of(Some("paper")).unwrap().is_paper());
    assert_eq!(
        spec.protocol_of(Some("prune-per-layer")).unwrap().prune,
        Pruning::PerLayer
    );
    // A spec without variants keeps its keys and fingerprint-relevant text.
    assert!(!toml::to_string(&case).unwrap().contains("protocol"));
    let bad = toml::to_string(&spec)
        .unwrap()
        .replacen("warmup=lr", "warmup=sideways", 1);
    let err = Spec::parse(&bad, "x").unwrap_err().to_string();
    assert!(err.contains("sideways"), "{err}");
    // One short trial: the record carries the protocol and the sample counts.
    let text = toml::to_string(&spec)
        .unwrap()
        .replace("pre_epochs = [1000]", "pre_epochs = [2]")
        .replace("post_epochs = 1000", "post_epochs = 2");
    let short = Spec::parse(&text, "short").unwrap();
    let cell = cells(&short)
        .into_iter()
        .find(|c| c.variant.as_deref() == Some("adam-carry"))
        .unwrap();
    let rec = runner::run_trial(&short, &cell, 0, None).unwrap();
    assert_eq!(rec.protocol.unwrap().adam, AdamAtSplit::Carry);
    assert_eq!((rec.n_train, rec.n_test), (Some(10000), Some(2000)));
    let _ = Device::Cpu;
}
