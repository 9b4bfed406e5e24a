//! FPE's split and re-sparsification: disjoint children, exact budget, bias copy, duplicated outgoing weights.

use neurosplit::data::{Dnf, Task};
use neurosplit::expand::{expand, partition, FpeConfig, Strategy};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

fn model(d: usize, h: usize, c: usize, seed: u64) -> Mlp {
    let task = if c == 1 {
        Task::Binary
    } else {
        Task::Multiclass(c)
    };
    Mlp::new(&[d, h, c], task, &mut stream(seed, &[0])).unwrap()
}

#[test]
fn children_partition_the_parent_and_budget_is_exact() {
    let groups = Dnf::with_clauses(8, 4).unwrap().groups();
    for (alpha, strategy, c) in [
        (2, Strategy::Random, 1),
        (4, Strategy::Random, 3),
        (2, Strategy::Clause, 1),
        (4, Strategy::Clause, 10),
    ] {
        let dense = model(32, 8, c, alpha as u64);
        let cfg = FpeConfig {
            alpha,
            strategy,
            layer: 0,
        };
        let (wide, report) =
            expand(&dense, &cfg, Some(&groups), &mut stream(1, &[alpha as u64])).unwrap();
        assert_eq!(wide.nnz(), dense.nnz(), "{strategy} alpha={alpha}");
        assert_eq!(report.budget, 32 * 8 + c * 8);
        assert_eq!(report.nnz_final, report.budget);
        assert_eq!(report.pruned_in + report.pruned_out, (alpha - 1) * c * 8);
        let (w1, w1d) = (&wide.layers()[0], &dense.layers()[0]);
        assert_eq!(w1.out_dim(), 8 * alpha);
        for p in 0..8 {
            let mut seen = vec![0usize; 32];
            for j in 0..alpha {
                let child = p * alpha + j;
                assert_eq!(w1.bias()[child], w1d.bias()[p], "bias copied");
                for (i, seen_i) in seen.iter_mut().enumerate() {
                    let v = w1.weight()[child * 32 + i];
                    if w1.is_live(child, i) {
                        *seen_i += 1;
                        assert_eq!(
                            v,
                            w1d.weight()[p * 32 + i],
                            "child keeps the parent's weight"
                        );
                    } else {
                        assert_eq!(v, 0.0, "masked weight is exactly zero");
                    }
                }
                for o in 0..c {
                    let v = wide.layers()[1].weight()[o * 8 * alpha + child];
                    if wide.layers()[1].is_live(o, child) {
                        assert_eq!(
                            v,
                            dense.layers()[1].weight()[o * 8 + p],
                            "outgoing weight duplicated"
                        );
                    } else {
                        assert_eq!(v, 0.0);
                    }
                }
            }
            // Disjoint (no input twice); pruning may remove inputs, but never adds any.
            assert!(seen.iter().all(|&s| s <= 1), "children overlap: {seen:?}");
        }
        assert_eq!(
            wide.layers()[1].bias(),
            dense.layers()[1].bias(),
            "b2 copied"
        );
    }
}

#[test]
fn pruned_weights_are_the_smallest() {
    let dense = model(32, 8, 1, 7);
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &cfg, None, &mut stream(2, &[0])).unwrap();
    // Every weight that was pruned has magnitude <= every weight that survived (over W1' and W2' jointly).
    let mut survived = f32::INFINITY;
    let mut pruned = 0f32;
    let parents = |l: usize, i: usize| -> f32 {
        if l == 0 {
            let (child, col) = (i / 32, i % 32);
            dense.layers()[0].weight()[(child / 2) * 32 + col].abs()
        } else {
            dense.layers()[1].weight()[i / 2].abs()
        }
    };
    // The random split assigns each parent input to one child; reconstruct which child owned each input.
    for p in 0..8 {
        for col in 0..32 {
            let owners: Vec<usize> = (0..2)
                .filter(|j| wide.layers()[0].is_live(p * 2 + j, col))
                .collect();
            let m = parents(0, (p * 2) * 32 + col);
            if owners.is_empty() {
                pruned = pruned.max(m);
            } else {
                survived = survived.min(m);
            }
        }
    }
    for child in 0..16 {
        let m = parents(1, child);
        if wide.layers()[1].is_live(0, child) {
            survived = survived.min(m);
        } else {
            pruned = pruned.max(m);
        }
    }
    assert!(pruned <= survived, "pruned {pruned} > survived {survived}");
}

#[test]
fn clause_split_keeps_clauses_whole_and_balanced() {
    let groups = Dnf::with_clauses(8, 4).unwrap().groups();
    let support: Vec<usize> = (0..32).collect();
    for alpha in [2, 4, 8] {
        let parts = partition(
            &support,
            alpha,
            Strategy::Clause,
            Some(&groups),
            &mut stream(5, &[alpha as u64]),
        )
        .unwrap();
        for part in &parts {
            assert_eq!(part.len(), 32 / alpha, "balanced");
            for g in &groups {
                let inside = g.iter().filter(|i| part.contains(i)).count();
                assert!(inside == 0 || inside == 4, "clause split across children");
            }
        }
    }
    let parts = partition(&support, 3, Strategy::Random, None, &mut stream(5, &[9])).unwrap();
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 32);
    assert!(
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
        "{sizes:?}"
    );
}

#[test]
fn bad_expansions_are_clear_errors() {
    let dense = model(4, 3, 1, 0);
    let cfg = |alpha, strategy| FpeConfig {
        alpha,
        strategy,
        layer: 0,
    };
    let e = expand(
        &dense,
        &cfg(1, Strategy::Random),
        None,
        &mut stream(0, &[0]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("alpha >= 2"), "{e}");
    let e = expand(
        &dense,
        &cfg(5, Strategy::Random),
        None,
        &mut stream(0, &[0]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("alpha <= 4"), "{e}");
    let e = expand(
        &dense,
        &cfg(2, Strategy::Clause),
        None,
        &mut stream(0, &[0]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("feature groups"), "{e}");
    let e = expand(
        &dense,
        &FpeConfig {
            alpha: 2,
            strategy: Strategy::Random,
            layer: 1,
        },
        None,
        &mut stream(0, &[0]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("output head"), "{e}");
    let e = "nonsense".parse::<Strategy>().unwrap_err().to_string();
    assert!(e.contains("random, clause, gram, two-four, custom"), "{e}");
}
