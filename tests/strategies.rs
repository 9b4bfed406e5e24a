//! The split strategies beyond random/clause (gram, two-four, custom), alternating deep expansion and mask
//! rewiring: behaviour on planted structure and clear errors on bad input.

use rand::Rng as _;

use neurosplit::data::{Dnf, Task};
use neurosplit::expand::rewire::rewire;
use neurosplit::expand::{
    expand_alternating, expand_with, Assignment, Decay, DeepInputs, FpeConfig, RewireConfig,
    Rewirer, SplitInputs, Strategy,
};
use neurosplit::nn::{Linear, Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::Mask;
use neurosplit::theory::measure_layer;

/// A `[32, h, 1]` model whose first-layer columns are, per clause of 4 literals, one random direction (times a
/// per-literal scale close to 1): features of a clause interact with every other feature alike, as in a model
/// that has learnt the clauses.
fn planted(h: usize, seed: u64) -> Mlp {
    let (d, k) = (32, 4);
    let mut rng = stream(seed, &[0]);
    let dirs: Vec<Vec<f32>> = (0..d / k)
        .map(|_| (0..h).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    let mut w = vec![0f32; h * d];
    for c in 0..d {
        let scale = rng.gen_range(0.9..1.1);
        for r in 0..h {
            w[r * d + c] = dirs[c / k][r] * scale;
        }
    }
    let first = Linear::from_parts(h, d, w, vec![0.0; h], None).unwrap();
    let mut model = Mlp::new(&[d, h, 1], Task::Binary, &mut stream(seed, &[1])).unwrap();
    model.set_layer(0, first).unwrap();
    model
}

#[test]
fn gram_split_recovers_planted_clauses() {
    let clauses = Dnf::with_clauses(8, 4).unwrap().groups();
    let dense = planted(8, 3);
    for alpha in [2, 4] {
        let cfg = FpeConfig {
            alpha,
            strategy: Strategy::Gram,
            layer: 0,
        };
        let inputs = SplitInputs {
            clusters: Some(8),
            ..SplitInputs::default()
        };
        let (wide, report) =
            expand_with(&dense, &cfg, &inputs, &mut stream(4, &[alpha as u64])).unwrap();
        assert_eq!(wide.nnz(), dense.nnz());
        // Before pruning, every child holds whole clauses: check the split through the children's supports,
        // ignoring inputs pruned afterwards (at most `pruned_in` of them).
        let w1 = &wide.layers()[0];
        let mut split_clauses = 0;
        for p in 0..8 {
            for clause in &clauses {
                let holders = (0..alpha)
                    .filter(|&j| clause.iter().any(|&i| w1.is_live(p * alpha + j, i)))
                    .count();
                if holders > 1 {
                    split_clauses += 1;
                }
            }
        }
        assert_eq!(
            split_clauses, 0,
            "alpha {alpha}: {split_clauses} clauses split ({report:?})"
        );
    }
}

#[test]
fn two_four_masks_have_at_most_two_live_per_child_per_block() {
    let dense = Mlp::new(&[16, 6, 3], Task::Multiclass(3), &mut stream(5, &[0])).unwrap();
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::TwoFour,
        layer: 0,
    };
    let (wide, _) =
        expand_with(&dense, &cfg, &SplitInputs::default(), &mut stream(5, &[1])).unwrap();
    let w1 = &wide.layers()[0];
    for child in 0..12 {
        for b in 0..4 {
            let live = (4 * b..4 * b + 4).filter(|&i| w1.is_live(child, i)).count();
            assert!(live <= 2, "child {child} block {b}: {live} live");
        }
    }
    let e = expand_with(
        &dense,
        &FpeConfig { alpha: 3, ..cfg },
        &SplitInputs::default(),
        &mut stream(5, &[1]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("alpha = 2"), "{e}");
}

#[test]
fn custom_assignment_is_used_and_validated() {
    let dense = Mlp::new(&[4, 2, 1], Task::Binary, &mut stream(6, &[0])).unwrap();
    let text = r#"{"alpha": 2, "neurons": [[[0, 3], [1, 2]], [[2], [0, 1, 3]]]}"#;
    let a = Assignment::parse_json(text).unwrap();
    assert_eq!(a.len(), 1);
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Custom,
        layer: 0,
    };
    let expand = |a: &Assignment| {
        let inputs = SplitInputs {
            assignment: Some(a),
            ..SplitInputs::default()
        };
        expand_with(&dense, &cfg, &inputs, &mut stream(6, &[1]))
    };
    let (wide, report) = expand(&a[0]).unwrap();
    // The output layer has 2 weights, duplicated to 4: 2 of the 10 weights are pruned jointly; every surviving
    // first-layer weight sits where the assignment put it.
    assert_eq!(report.nnz_final, 10);
    for (p, children) in a[0].neurons.iter().enumerate() {
        for (j, inputs) in children.iter().enumerate() {
            for i in 0..4 {
                if wide.layers()[0].is_live(p * 2 + j, i) {
                    assert!(inputs.contains(&i), "input {i} live in child {j} of {p}");
                }
            }
        }
    }
    for (json, needle) in [
        (
            r#"{"alpha": 2, "neurons": [[[0, 3], [1, 3, 2]], [[2], [0, 1, 3]]]}"#,
            "both child 0 and child 1",
        ),
        (
            r#"{"alpha": 2, "neurons": [[[0], [1, 2]], [[2], [0, 1, 3]]]}"#,
            "live input 3 is given to no child",
        ),
        (
            r#"{"alpha": 2, "neurons": [[[0, 3], [1, 2, 7]], [[2], [0, 1, 3]]]}"#,
            "out of range",
        ),
        (
            r#"{"alpha": 2, "neurons": [[[0, 3], [1, 2]]]}"#,
            "1 neurons but the layer has 2",
        ),
        (
            r#"{"alpha": 2, "neurons": [[[0, 1, 2, 3], []], [[2], [0, 1, 3]]]}"#,
            "has no inputs",
        ),
        (
            r#"{"alpha": 3, "neurons": [[[0], [3], [1, 2]], [[2], [0], [1, 3]]]}"#,
            "alpha = 3",
        ),
        (
            r#"{"alpha": 2, "neurons": [[[0, 1, 2, 3]], [[2], [0, 1, 3]]]}"#,
            "1 children, expected 2",
        ),
    ] {
        let a = Assignment::parse_json(json).unwrap();
        let e = expand(&a[0]).unwrap_err().to_string();
        assert!(e.contains(needle), "{json}: {e}");
    }
    let e = Assignment::parse_json(r#"{"alpha": 2, "nodes": []}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected {\"alpha\""), "{e}");
    let many = Assignment::parse_json(&format!("[{text}, {text}]")).unwrap();
    assert_eq!(many.len(), 2);
    // A masked input cannot be assigned.
    let mut sparse = dense.clone();
    sparse
        .set_mask(
            0,
            Some(Mask::from_bools(
                2,
                4,
                &[true, true, true, false, true, true, true, true],
            )),
        )
        .unwrap();
    let inputs = SplitInputs {
        assignment: Some(&a[0]),
        ..SplitInputs::default()
    };
    let e = expand_with(&sparse, &cfg, &inputs, &mut stream(6, &[1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("input 3 is not a live input"), "{e}");
    let e = expand_with(&dense, &cfg, &SplitInputs::default(), &mut stream(6, &[1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--assignment"), "{e}");
}

#[test]
fn alternating_expansion_widens_every_other_layer() {
    let dense = Mlp::new(
        &[12, 6, 5, 4, 3, 2],
        Task::Multiclass(2),
        &mut stream(7, &[0]),
    )
    .unwrap()
    .with_layernorm();
    let (wide, report) = expand_alternating(
        &dense,
        2,
        Strategy::Random,
        &DeepInputs::default(),
        &mut stream(7, &[1]),
    )
    .unwrap();
    assert_eq!(report.dims_after, vec![12, 12, 5, 8, 3, 2]);
    assert_eq!(wide.dims(), report.dims_after);
    assert_eq!(wide.nnz(), dense.nnz());
    assert_eq!(
        report.steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![0, 2]
    );
    // Each pair keeps its own budget; the head's rows and the unexpanded layers' rows are unchanged.
    for (layer, r) in &report.steps {
        assert_eq!(
            r.budget,
            dense.layers()[*layer].nnz() + dense.layers()[layer + 1].nnz()
        );
        assert_eq!(
            wide.layers()[*layer].nnz() + wide.layers()[layer + 1].nnz(),
            r.budget
        );
    }
    assert_eq!(
        wide.layers()[4],
        dense.layers()[4],
        "layer outside every pair untouched"
    );
    // LayerNorms follow their layers' widths; children copy their parent's gain.
    let widths: Vec<usize> = wide
        .norms()
        .iter()
        .map(|n| n.as_ref().map_or(0, |n| n.width))
        .collect();
    assert_eq!(widths, vec![12, 5, 8, 3, 0]);
    // It trains.
    let data = Dnf::with_clauses(3, 4)
        .unwrap()
        .generate(64, &mut stream(7, &[2]))
        .unwrap();
    let dense2 = Mlp::new(&[12, 6, 5, 1], Task::Binary, &mut stream(7, &[3]))
        .unwrap()
        .with_layernorm();
    let (mut wide2, _) = expand_alternating(
        &dense2,
        2,
        Strategy::Gram,
        &DeepInputs::default(),
        &mut stream(7, &[4]),
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 16,
        ..TrainConfig::default()
    };
    Trainer::new(&wide2, cfg)
        .unwrap()
        .fit(&mut wide2, &data, &mut stream(7, &[5]), |_, l| {
            assert!(l.is_finite())
        });
    assert_eq!(wide2.nnz(), dense2.nnz());

    let e = expand_alternating(
        &dense,
        2,
        Strategy::Clause,
        &DeepInputs::default(),
        &mut stream(7, &[1]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("feature groups"), "{e}");
    let groups: Vec<Vec<usize>> = (0..3).map(|c| (4 * c..4 * c + 4).collect()).collect();
    let inputs = DeepInputs {
        groups: Some(&groups),
        ..DeepInputs::default()
    };
    let e = expand_alternating(&dense, 2, Strategy::Clause, &inputs, &mut stream(7, &[1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 2 reads hidden neurons"), "{e}");
    let e = expand_alternating(
        &dense,
        2,
        Strategy::Custom,
        &DeepInputs::default(),
        &mut stream(7, &[1]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs 2 assignments"), "{e}");
}

#[test]
fn rewiring_moves_the_stated_number_and_keeps_the_budget() {
    let dense = Mlp::new(&[20, 6, 2], Task::Multiclass(2), &mut stream(8, &[0])).unwrap();
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) =
        expand_with(&dense, &cfg, &SplitInputs::default(), &mut stream(8, &[1])).unwrap();
    let mut model = wide.clone();
    let masked: Vec<usize> = model
        .layers()
        .iter()
        .map(|l| l.weight().len() - l.nnz())
        .collect();
    let moved = rewire(&mut model, None, 0.25, &mut stream(8, &[2]));
    let want: usize = masked.iter().map(|&m| m / 4).sum();
    assert_eq!(moved, want);
    for (l, (a, b)) in model.layers().iter().zip(wide.layers()).enumerate() {
        assert_eq!(a.nnz(), b.nnz(), "layer {l} budget");
        let (ma, mb) = (a.mask().unwrap(), b.mask().unwrap());
        let grown: Vec<usize> = (0..a.weight().len())
            .filter(|&i| ma.get_flat(i) && !mb.get_flat(i))
            .collect();
        let pruned: Vec<usize> = (0..a.weight().len())
            .filter(|&i| !ma.get_flat(i) && mb.get_flat(i))
            .collect();
        assert_eq!(grown.len(), masked[l] / 4);
        assert_eq!(pruned.len(), grown.len());
        assert!(
            grown.iter().all(|&i| a.weight()[i] == 0.0),
            "grown weights start at 0"
        );
        assert!(pruned.iter().all(|&i| a.weight()[i] == 0.0));
        // The pruned weights were the smallest live ones.
        let max_pruned = pruned
            .iter()
            .map(|&i| b.weight()[i].abs())
            .fold(0f32, f32::max);
        let min_kept = (0..a.weight().len())
            .filter(|&i| ma.get_flat(i) && mb.get_flat(i))
            .map(|i| b.weight()[i].abs())
            .fold(f32::INFINITY, f32::min);
        assert!(max_pruned <= min_kept);
    }
    // Schedules and validation.
    let r = Rewirer::new(
        RewireConfig {
            every: 1,
            fraction: 0.5,
            decay: Decay::Cosine,
        },
        10,
        stream(0, &[0]),
    )
    .unwrap();
    assert_eq!(r.fraction_at(0), 0.5);
    assert!((r.fraction_at(5) - 0.25).abs() < 1e-12);
    assert!(r.fraction_at(10).abs() < 1e-12);
    for (bad, needle) in [
        (
            RewireConfig {
                every: 0,
                fraction: 0.1,
                decay: Decay::Constant,
            },
            "interval",
        ),
        (
            RewireConfig {
                every: 1,
                fraction: 1.5,
                decay: Decay::Constant,
            },
            "fraction",
        ),
        (
            RewireConfig {
                every: 1,
                fraction: f64::NAN,
                decay: Decay::Constant,
            },
            "fraction",
        ),
    ] {
        let e = Rewirer::new(bad, 10, stream(0, &[0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
    }
    assert!("linear"
        .parse::<Decay>()
        .unwrap_err()
        .to_string()
        .contains("constant or cosine"));
}

#[test]
fn training_with_rewiring_is_deterministic() {
    let data = Dnf::with_clauses(4, 4)
        .unwrap()
        .generate(300, &mut stream(9, &[0]))
        .unwrap();
    let dense = Mlp::new(&[16, 4, 1], Task::Binary, &mut stream(9, &[1])).unwrap();
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) =
        expand_with(&dense, &cfg, &SplitInputs::default(), &mut stream(9, &[2])).unwrap();
    let run = || {
        let mut m = wide.clone();
        let tcfg = TrainConfig {
            epochs: 3,
            batch_size: 50,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&m, tcfg).unwrap();
        let rcfg = RewireConfig {
            every: 2,
            fraction: 0.3,
            decay: Decay::Constant,
        };
        let mut rewirer =
            Rewirer::new(rcfg, 3 * trainer.steps_per_epoch(data.n), stream(9, &[3])).unwrap();
        rewirer.fit(&mut trainer, &mut m, &data, &mut stream(9, &[4]), |_, _| {});
        assert_eq!(rewirer.history().len(), 3 * 6 / 2);
        assert!(rewirer
            .history()
            .iter()
            .all(|r| r.moved > 0 && r.nnz == wide.nnz()));
        m
    };
    let a = run();
    assert_eq!(a, run());
    assert_ne!(a.layers()[0].mask(), wide.layers()[0].mask(), "masks moved");
}

#[test]
fn measured_collisions_of_a_clause_split() {
    // alpha = number of clauses: each child gets exactly one clause, so no child covers two (no collision) and
    // every clause stays covered; the dense layer covers all 8 with every neuron: 8 * C(8, 2) collisions.
    let clauses = Dnf::with_clauses(8, 4).unwrap().groups();
    let mut dense = Mlp::new(&[32, 8, 1], Task::Binary, &mut stream(10, &[0])).unwrap();
    // Large first-layer weights, so that pruning takes from the (duplicated) output layer only.
    dense.update_weights(0, |w| w.iter_mut().for_each(|w| *w = 10.0 + w.abs()));
    let cfg = FpeConfig {
        alpha: 8,
        strategy: Strategy::Clause,
        layer: 0,
    };
    let inputs = SplitInputs {
        groups: Some(&clauses),
        ..SplitInputs::default()
    };
    let (wide, report) = expand_with(&dense, &cfg, &inputs, &mut stream(10, &[1])).unwrap();
    assert_eq!(report.pruned_in, 0);
    let before = measure_layer(&dense.layers()[0], &clauses);
    let after = measure_layer(&wide.layers()[0], &clauses);
    assert_eq!((before.covered, before.collisions), (8, 8 * 28));
    assert_eq!(
        (after.covered, after.collisions, after.neuron_clause_covers),
        (8, 0, 64)
    );
}
