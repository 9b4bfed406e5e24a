//! The DNF generator follows Algorithm A2.

use neurosplit::data::Dnf;
use neurosplit::rng::stream;

#[test]
fn labels_counts_and_values_follow_algorithm_a2() {
    let dnf = Dnf::with_clauses(8, 4).unwrap();
    let n = 4001;
    let data = dnf.generate(n, &mut stream(3, &[1])).unwrap();
    assert_eq!((data.n, data.d), (n, 32));
    assert_eq!(
        data.y.iter().filter(|&&y| y == 1).count(),
        n / 2,
        "exactly floor(n/2) positives"
    );
    let (lo, hi) = dnf.active_range();
    assert_eq!((lo, hi), (8, 12));
    let mut near_miss = 0;
    let mut counts = std::collections::BTreeSet::new();
    for i in 0..n {
        let row = data.row(i);
        for &v in row {
            assert!(
                (0.0..=0.5).contains(&v) || (3.0..=3.5).contains(&v),
                "value {v} outside U[0,0.5] and U[3,3.5]"
            );
        }
        let bits: Vec<bool> = row.iter().map(|&v| v > 1.0).collect();
        let active = bits.iter().filter(|&&b| b).count();
        assert_eq!(
            dnf.eval(&bits),
            data.y[i] == 1,
            "label disagrees with the evaluator on row {i}"
        );
        if data.y[i] == 1 {
            assert!(
                (lo..=hi).contains(&active),
                "positive with {active} active literals"
            );
            counts.insert(active);
        } else {
            assert!(
                (lo - 1..=hi).contains(&active),
                "negative with {active} active literals"
            );
            // A near miss has exactly k-1 literals of some clause on.
            if active < lo || (0..8).any(|c| dnf.clause(c).filter(|&j| bits[j]).count() == 3) {
                near_miss += 1;
            }
        }
    }
    assert_eq!(
        counts.len(),
        hi - lo + 1,
        "every active count of the range occurs"
    );
    // Near misses are half of the negatives; uniform random sets hit k-1 of a clause too, so this is a lower bound.
    assert!(
        near_miss >= (n - n / 2) / 2,
        "{near_miss} negatives look like near misses"
    );
}

#[test]
fn generation_is_seeded() {
    let dnf = Dnf::new(16, 4).unwrap();
    let a = dnf.generate(100, &mut stream(1, &[1])).unwrap();
    let b = dnf.generate(100, &mut stream(1, &[1])).unwrap();
    let c = dnf.generate(100, &mut stream(2, &[1])).unwrap();
    assert_eq!(a.x, b.x);
    assert_eq!(a.y, b.y);
    assert_ne!(a.x, c.x);
}

#[test]
fn clauses_are_contiguous_blocks() {
    let dnf = Dnf::new(12, 4).unwrap();
    assert_eq!(
        dnf.groups(),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9, 10, 11]]
    );
    let mut bits = vec![false; 12];
    bits[4..8].fill(true);
    assert!(dnf.eval(&bits));
    bits[5] = false;
    bits[0..3].fill(true);
    assert!(!dnf.eval(&bits));
}

#[test]
fn bad_shapes_are_errors() {
    let e = Dnf::new(30, 4).unwrap_err().to_string();
    assert!(e.contains("30") && e.contains("multiple of 4"), "{e}");
    assert!(Dnf::new(8, 0).is_err());
    assert!(Dnf::with_clauses(0, 4).is_err());
    // One clause of 4 literals: every random set of s = 4 literals satisfies it, so negatives cannot exist.
    let e = Dnf::new(4, 4)
        .unwrap()
        .generate(10, &mut stream(0, &[0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("misses every clause"), "{e}");
}
