//! The theory of Sec. 2.5 / A.5: clause coverage and clause collisions of a random FPE network, exactly, in the
//! paper's approximation, and by Monte Carlo.
//!
//! **Model.** A DNF formula has `C` clauses of `k` literals over `m` literals (here: disjoint clauses
//! `{ik, ..., ik+k-1}`, as Alg. A2's read-once formulas). A dense layer has `r` neurons, each reading all `m`
//! literals. The FPE layer with the same budget has `alpha r` neurons, each reading `d = m / alpha` literals.
//! A neuron **covers** a clause when all `k` of the clause's literals are among its inputs. A **collision** is a
//! (neuron, pair of clauses) such that the neuron covers both clauses.
//!
//! - coverage of one clause by one neuron: `p = C(m-k, d-k) / C(m, d)`;
//! - with independent supports: `P(all clauses covered) >= 1 - C (1-p)^(alpha r)` (union bound);
//! - collision of one pair by one neuron: `p' = C(m-2k, d-2k) / C(m, d)`; `E_dense = r C(C,2)`,
//!   `E_FPE = alpha r C(C,2) p'`, so `E_FPE / E_dense = alpha p' ~ alpha^-(2k-1)` for large `m`.
//!
//! Binomial coefficients are evaluated in log space ([`ln_binom`]), so `m` may be in the millions.
//!
//! Two samplers ([`Sampling`]) estimate these quantities: the paper's model (every neuron draws its support
//! independently) and FPE's actual random split (each dense neuron's `m` inputs dealt into `alpha` disjoint
//! children of `d`). By linearity of expectation, `E_FPE` is the same under both; the coverage bound holds under
//! both (children of one parent cannot both cover a clause, which only lowers the miss probability).
//! [`measure_layer`] counts the same on an actual expanded layer's mask.

use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::{derive_seed, Rng};
use crate::sparse::Mask;
use rand::SeedableRng;

/// `ln C(n, k)` (`-inf` when `k > n`), summed term by term in log space.
pub fn ln_binom(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let k = k.min(n - k);
    (1..=k)
        .map(|i| ((n - k + i) as f64).ln() - (i as f64).ln())
        .sum()
}

/// `C(m-j, d-j) / C(m, d)`: the probability that a uniform `d`-subset of `m` items contains `j` given items.
///
/// Evaluated in log space as `sum_{i<j} ln((d-i)/(m-i))`, which equals `ln C(m-j, d-j) - ln C(m, d)` exactly
/// but costs `O(j)` and avoids subtracting two huge logarithms (for `m` in the billions they would cancel to
/// a few significant digits).
pub fn subset_contains(m: u64, d: u64, j: u64) -> f64 {
    if j > d || d > m {
        return 0.0;
    }
    (0..j)
        .map(|i| ((d - i) as f64 / (m - i) as f64).ln())
        .sum::<f64>()
        .exp()
}

/// A random FPE layer against a dense one (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    /// Literals `m`.
    pub literals: u64,
    /// Literals per clause `k`.
    pub k: u64,
    /// Clauses `C` (at most `m / k`).
    pub clauses: u64,
    /// Expansion factor `alpha`.
    pub alpha: u64,
    /// Dense neurons `r` (the FPE layer has `alpha r`).
    pub neurons: u64,
}

/// The closed forms of one [`Setting`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Exact {
    /// Inputs per FPE neuron, `d = m / alpha`.
    pub d: u64,
    /// `p = C(m-k, d-k) / C(m, d)`.
    pub coverage_p: f64,
    /// The paper's approximation of `p`, `alpha^-k`.
    pub coverage_p_approx: f64,
    /// `1 - C (1-p)^(alpha r)` (a lower bound on `P(all covered)`; vacuous when negative).
    pub all_covered_bound: f64,
    /// `p' = C(m-2k, d-2k) / C(m, d)`.
    pub collision_p: f64,
    /// `E_dense = r C(C, 2)`.
    pub e_dense: f64,
    /// `E_FPE = alpha r C(C, 2) p'`.
    pub e_fpe: f64,
    /// `E_FPE / E_dense = alpha p'`.
    pub ratio: f64,
    /// `alpha^-(2k-1)`.
    pub ratio_approx: f64,
}

impl Setting {
    /// Checks the setting, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let Setting {
            literals: m,
            k,
            clauses: c,
            alpha,
            neurons: r,
        } = *self;
        if k == 0 || m == 0 || alpha == 0 || r == 0 {
            return Err(Error::invalid(
                "theory setting",
                "literals, k, alpha and neurons must all be at least 1",
            ));
        }
        crate::expand::Alpha::new(usize::try_from(alpha).unwrap_or(usize::MAX))?;
        if alpha.checked_mul(r).is_none_or(|n| n > 1 << 40) || c > 1 << 31 {
            return Err(Error::invalid(
                "theory setting",
                "alpha * neurons must be at most 2^40 and clauses at most 2^31",
            ));
        }
        if m % alpha != 0 {
            return Err(Error::invalid(
                "literals",
                format!("{m} literals cannot be split evenly into alpha = {alpha} children (d = m / alpha must be an integer): use a multiple of {alpha}"),
            ));
        }
        if c < 2 || c.saturating_mul(k) > m {
            return Err(Error::invalid(
                "clauses",
                format!(
                    "{c} disjoint clauses of {k} literals need between 2 and m / k = {} clauses",
                    m / k
                ),
            ));
        }
        Ok(())
    }

    /// The closed forms.
    pub fn exact(&self) -> Result<Exact> {
        self.validate()?;
        let (m, k, c, a, r) = (
            self.literals,
            self.k,
            self.clauses,
            self.alpha,
            self.neurons,
        );
        let d = m / a;
        let p = subset_contains(m, d, k);
        let pp = subset_contains(m, d, 2 * k);
        let pairs = (c * (c - 1) / 2) as f64;
        let e_dense = r as f64 * pairs;
        let e_fpe = (a * r) as f64 * pairs * pp;
        // (1-p)^(alpha r) through ln_1p for accuracy when p is tiny.
        let miss_all = ((a * r) as f64 * (-p).ln_1p()).exp();
        Ok(Exact {
            d,
            coverage_p: p,
            coverage_p_approx: (a as f64).powi(-(k as i32)),
            all_covered_bound: 1.0 - c as f64 * miss_all,
            collision_p: pp,
            e_dense,
            e_fpe,
            ratio: a as f64 * pp,
            ratio_approx: (a as f64).powi(-(2 * k as i32 - 1)),
        })
    }
}

/// How random FPE networks are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// The paper's model: each of the `alpha r` neurons draws `d` of the `m` literals independently.
    Independent,
    /// FPE's random split: each of the `r` dense neurons deals its `m` literals into `alpha` disjoint children.
    Partitioned,
}

/// One counted network (or layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Clauses covered by at least one neuron.
    pub covered: u64,
    /// (neuron, clause) pairs where the neuron covers the clause.
    pub neuron_clause_covers: u64,
    /// (neuron, clause pair) collisions.
    pub collisions: u64,
}

/// A Monte Carlo estimate: mean and half-width of its 95% normal confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Standard error of the mean.
    pub sem: f64,
}

impl Estimate {
    /// The 95% confidence interval's half-width (`1.96 sem`).
    pub fn ci95(&self) -> f64 {
        1.96 * self.sem
    }

    fn of(sum: f64, sum_sq: f64, n: u64) -> Self {
        let nf = n as f64;
        let mean = sum / nf;
        let var = if n > 1 {
            ((sum_sq - nf * mean * mean) / (nf - 1.0)).max(0.0)
        } else {
            0.0
        };
        Estimate {
            mean,
            sem: (var / nf).sqrt(),
        }
    }
}

/// Monte Carlo estimates over sampled random FPE networks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonteCarlo {
    /// Networks sampled.
    pub samples: u64,
    /// Estimate of `p` (fraction of (neuron, clause) pairs covered).
    pub coverage_p: Estimate,
    /// Estimate of `P(all clauses covered)`.
    pub all_covered: Estimate,
    /// Estimate of `E_FPE / E_dense` (collisions per network over `r C(C,2)`).
    pub ratio: Estimate,
}

/// Counts coverage and collisions of the neurons (rows) of `mask` over disjoint `clauses` (input indices).
pub fn count_mask(mask: &Mask, clauses: &[Vec<usize>]) -> Counts {
    let mut covered_by_any = vec![false; clauses.len()];
    let mut counts = Counts {
        covered: 0,
        neuron_clause_covers: 0,
        collisions: 0,
    };
    for r in 0..mask.rows() {
        let mut here = 0u64;
        for (ci, clause) in clauses.iter().enumerate() {
            if clause.iter().all(|&i| mask.get(r, i)) {
                here += 1;
                covered_by_any[ci] = true;
            }
        }
        counts.neuron_clause_covers += here;
        counts.collisions += here * here.saturating_sub(1) / 2;
    }
    counts.covered = covered_by_any.iter().filter(|&&c| c).count() as u64;
    counts
}

/// Counts an actual layer (e.g. the first layer of an FPE-expanded model): its mask (`None`: dense) over
/// `clauses`. Divide `collisions` by `r C(C,2)` of the dense layer it came from for the measured ratio.
pub fn measure_layer(layer: &crate::nn::Linear, clauses: &[Vec<usize>]) -> Counts {
    let mask = layer
        .mask()
        .cloned()
        .unwrap_or_else(|| Mask::full(layer.out_dim(), layer.in_dim()));
    count_mask(&mask, clauses)
}

/// Samples one random FPE layer of `setting` as a mask (`alpha r x m`).
pub fn sample_mask(setting: &Setting, sampling: Sampling, rng: &mut Rng) -> Mask {
    let (m, a, r) = (
        setting.literals as usize,
        setting.alpha as usize,
        setting.neurons as usize,
    );
    let d = m / a;
    let mut mask = Mask::empty(a * r, m);
    match sampling {
        Sampling::Independent => {
            for n in 0..a * r {
                for i in sample(rng, m, d) {
                    mask.set(n, i, true);
                }
            }
        }
        Sampling::Partitioned => {
            let mut perm: Vec<usize> = (0..m).collect();
            for p in 0..r {
                perm.shuffle(rng);
                for (pos, &i) in perm.iter().enumerate() {
                    mask.set(p * a + pos % a, i, true);
                }
            }
        }
    }
    mask
}

/// Networks per independent random stream of [`monte_carlo`] (fixed, so results do not depend on threads).
const CHUNK: u64 = 256;

/// The most networks one [`monte_carlo`] call samples (a billion: hours of work at the largest sizes).
pub const MAX_SAMPLES: u64 = 1_000_000_000;

/// Samples `samples` random FPE networks of `setting` and estimates `p`, `P(all covered)` and the collision
/// ratio. Deterministic for `seed` at any thread count.
pub fn monte_carlo(
    setting: &Setting,
    sampling: Sampling,
    samples: u64,
    seed: u64,
) -> Result<MonteCarlo> {
    setting.validate()?;
    let work = setting
        .alpha
        .saturating_mul(setting.neurons)
        .saturating_mul(setting.literals);
    if work > 1 << 28 {
        return Err(Error::invalid(
            "samples",
            format!("one sampled network has alpha * neurons * literals = {work} connections, too many to sample (at most 2^28): use --samples 0 for the exact values only"),
        ));
    }
    if samples > MAX_SAMPLES {
        return Err(Error::invalid(
            "samples",
            format!(
                "{samples} is more than the {MAX_SAMPLES} Monte Carlo samples one run may draw"
            ),
        ));
    }
    if samples < 2 {
        return Err(Error::invalid(
            "samples",
            "a confidence interval needs at least 2 samples",
        ));
    }
    let k = setting.k as usize;
    let clauses: Vec<Vec<usize>> = (0..setting.clauses as usize)
        .map(|c| (c * k..(c + 1) * k).collect())
        .collect();
    let chunks = samples.div_ceil(CHUNK);
    let sums = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut rng = Rng::seed_from_u64(derive_seed(seed, &[chunk]));
            let n = CHUNK.min(samples - chunk * CHUNK);
            let mut s = [0f64; 6];
            for _ in 0..n {
                let c = count_mask(&sample_mask(setting, sampling, &mut rng), &clauses);
                let vals = [
                    c.neuron_clause_covers as f64,
                    f64::from(u8::from(c.covered == setting.clauses)),
                    c.collisions as f64,
                ];
                for (j, v) in vals.iter().enumerate() {
                    s[2 * j] += v;
                    s[2 * j + 1] += v * v;
                }
            }
            s
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold([0f64; 6], |mut acc, s| {
            acc.iter_mut().zip(s).for_each(|(a, v)| *a += v);
            acc
        });
    let cover_pairs = (setting.alpha * setting.neurons * setting.clauses) as f64;
    let e_dense = setting.neurons as f64 * (setting.clauses * (setting.clauses - 1) / 2) as f64;
    let scaled = |j: usize, by: f64| {
        let e = Estimate::of(sums[2 * j], sums[2 * j + 1], samples);
        Estimate {
            mean: e.mean / by,
            sem: e.sem / by,
        }
    };
    Ok(MonteCarlo {
        samples,
        coverage_p: scaled(0, cover_pairs),
        all_covered: scaled(1, 1.0),
        ratio: scaled(2, e_dense),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_binom_matches_small_exact_values() {
        let exact =
            |n: u64, k: u64| -> f64 { (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product() };
        for (n, k) in [(0, 0), (5, 2), (32, 16), (60, 7), (10, 10)] {
            let want = exact(n, k);
            assert!(
                (ln_binom(n, k).exp() / want - 1.0).abs() < 1e-10,
                "C({n},{k})"
            );
        }
        assert_eq!(ln_binom(3, 4), f64::NEG_INFINITY);
        // p for m = 32, d = 16, k = 4: C(28,12)/C(32,16) = 16*15*14*13 / (32*31*30*29).
        let cases: [(u64, u64, u64); 4] = [(32, 16, 4), (60, 20, 6), (1000, 250, 8), (5, 5, 5)];
        for (m, d, j) in cases {
            let want = (ln_binom(m - j, d - j) - ln_binom(m, d)).exp();
            let got = subset_contains(m, d, j);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "{m} {d} {j}: {got} vs {want}"
            );
        }
        assert_eq!(subset_contains(5, 4, 5), 0.0);
        let p = subset_contains(32, 16, 4);
        assert!((p - (16.0 * 15.0 * 14.0 * 13.0) / (32.0 * 31.0 * 30.0 * 29.0)).abs() < 1e-14);
    }
}
