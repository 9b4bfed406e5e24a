//! Monotone read-once DNF data, exactly as Algorithm A2 of the paper (Sec. A.2.1).
//!
//! The formula over `m` literals has `C = m / k` clauses of `k` literals each, clause `c` being the contiguous
//! block `{c*k, ..., c*k + k - 1}` (Sec. 3.1 writes it as `OR_j AND_i x_{4(j-1)+i}`). A sample is a set of active
//! literals, labelled by whether it satisfies some clause:
//!
//! * **positives** (exactly half): all literals of a uniformly chosen clause, then random extra literals until
//!   `s ~ UniformInt[floor(m/4), floor(m/4) + floor(m/8)]` are active (`s` clamped to at least `k`);
//! * **negatives**: alternately a *near miss* (a positive-style set with one literal of its clause removed) and
//!   a uniform random set of size `s`; a negative that satisfies any clause is rejected and redrawn with the same
//!   `s` (the `u` bookkeeping of Alg. A2).
//!
//! Active literals take values in `U[3, 3.5]`, inactive ones in `U[0, 0.5]` ("small continuous variability").
//! Rows are shuffled at the end so that positives and negatives are interleaved.

use rand::seq::SliceRandom;
use rand::Rng as _;

use super::dataset::{Dataset, Task};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// How many rejected draws one negative sample may take before generation gives up.
const MAX_REJECTIONS: usize = 100_000;

/// A monotone read-once DNF formula with contiguous clauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dnf {
    literals: usize,
    k: usize,
}

impl Dnf {
    /// The formula over `literals` variables with clauses of `k` literals; `k` must divide `literals`.
    pub fn new(literals: usize, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid("clause size k", "must be at least 1"));
        }
        if literals == 0 || !literals.is_multiple_of(k) {
            return Err(Error::invalid(
                "literals",
                format!("{literals} literals cannot be cut into clauses of {k}: use a positive multiple of {k}"),
            ));
        }
        Ok(Dnf { literals, k })
    }

    /// The formula with `clauses` clauses of `k` literals.
    pub fn with_clauses(clauses: usize, k: usize) -> Result<Self> {
        if clauses == 0 {
            return Err(Error::invalid("clauses", "must be at least 1"));
        }
        let literals = clauses.checked_mul(k).ok_or_else(|| {
            Error::invalid(
                "clauses",
                format!("{clauses} clauses of {k} literals overflow"),
            )
        })?;
        Self::new(literals, k)
    }

    /// Number of literals `m`.
    pub fn literals(&self) -> usize {
        self.literals
    }

    /// Literals per clause `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of clauses `C = m / k`.
    pub fn clauses(&self) -> usize {
        self.literals / self.k
    }

    /// The literal indices of clause `c`.
    pub fn clause(&self, c: usize) -> std::ops::Range<usize> {
        c * self.k..(c + 1) * self.k
    }

    /// The clauses as feature groups (for the clause-aligned split).
    pub fn groups(&self) -> Vec<Vec<usize>> {
        (0..self.clauses())
            .map(|c| self.clause(c).collect())
            .collect()
    }

    /// Evaluates the formula on a truth assignment of length `m`.
    pub fn eval(&self, bits: &[bool]) -> bool {
        assert_eq!(
            bits.len(),
            self.literals,
            "assignment length must equal the number of literals"
        );
        (0..self.clauses()).any(|c| bits[self.clause(c)].iter().all(|&b| b))
    }

    /// Evaluates the formula on a real-valued input, reading a literal as on when its value exceeds `threshold`.
    pub fn eval_values(&self, x: &[f32], threshold: f32) -> bool {
        let bits: Vec<bool> = x.iter().map(|&v| v > threshold).collect();
        self.eval(&bits)
    }

    /// The active-bit range `[floor(m/4), floor(m/4) + floor(m/8)]`, clamped below at `k` and above at `m`.
    pub fn active_range(&self) -> (usize, usize) {
        let m = self.literals;
        let lo = (m / 4).max(self.k).min(m);
        let hi = (m / 4 + m / 8).max(lo).min(m);
        (lo, hi)
    }

    /// Generates `n` labelled samples (Alg. A2): `floor(n/2)` positives, the rest negatives.
    pub fn generate(&self, n: usize, rng: &mut Rng) -> Result<Dataset> {
        let m = self.literals;
        let (lo, hi) = self.active_range();
        let n_pos = n / 2;
        let mut bits = vec![false; n * m];
        let mut labels = vec![0u32; n];
        let mut scratch: Vec<usize> = Vec::with_capacity(m);
        for i in 0..n {
            let row = &mut bits[i * m..(i + 1) * m];
            if i < n_pos {
                let c = rng.gen_range(0..self.clauses());
                let s = rng.gen_range(lo..=hi);
                self.positive_style(row, c, s, rng, &mut scratch);
                labels[i] = 1;
                continue;
            }
            // Negatives alternate between near misses and uniform random sets, so each kind is half of them.
            let near_miss = (i - n_pos).is_multiple_of(2);
            let s = rng.gen_range(lo..=hi);
            let mut tries = 0;
            loop {
                row.fill(false);
                if near_miss {
                    let c = rng.gen_range(0..self.clauses());
                    self.positive_style(row, c, s, rng, &mut scratch);
                    let drop = self.clause(c).start + rng.gen_range(0..self.k);
                    row[drop] = false;
                } else {
                    scratch.clear();
                    scratch.extend(0..m);
                    let (chosen, _) = scratch.partial_shuffle(rng, s);
                    for &j in chosen.iter() {
                        row[j] = true;
                    }
                }
                if !self.eval(row) {
                    break;
                }
                tries += 1;
                if tries >= MAX_REJECTIONS {
                    return Err(Error::Data(format!(
                        "no negative sample of {s} active literals out of {m} misses every clause of size {}; \
                         use more literals or larger clauses",
                        self.k
                    )));
                }
            }
        }
        // Continuous values, then a joint shuffle of the rows.
        let mut x = vec![0f32; n * m];
        for (v, &b) in x.iter_mut().zip(&bits) {
            let u: f32 = rng.gen();
            *v = if b { 3.0 + 0.5 * u } else { 0.5 * u };
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let mut xs = vec![0f32; n * m];
        let mut ys = vec![0u32; n];
        for (dst, &src) in order.iter().enumerate() {
            xs[dst * m..(dst + 1) * m].copy_from_slice(&x[src * m..(src + 1) * m]);
            ys[dst] = labels[src];
        }
        let mut ds = Dataset::new(xs, ys, m, Task::Binary)?;
        ds.groups = Some(self.groups());
        Ok(ds)
    }

    /// Sets `row` to clause `c` plus `s - k` random other literals.
    fn positive_style(
        &self,
        row: &mut [bool],
        c: usize,
        s: usize,
        rng: &mut Rng,
        scratch: &mut Vec<usize>,
    ) {
        let clause = self.clause(c);
        for j in clause.clone() {
            row[j] = true;
        }
        scratch.clear();
        scratch.extend((0..self.literals).filter(|j| !clause.contains(j)));
        let extra = s.saturating_sub(self.k).min(scratch.len());
        let (chosen, _) = scratch.partial_shuffle(rng, extra);
        for &j in chosen.iter() {
            row[j] = true;
        }
    }
}
