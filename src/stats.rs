//! Summary statistics over trials; Welch's and the paired t-test (Student's t CDF via the regularized
//! incomplete beta); the Holm-Bonferroni correction for a family of tests (a grid such as the heatmap).
//!
//! Which test: FPE and dense models of one trial share the pre-training and the batch order, so their
//! accuracies are paired by trial and [`paired_t_test`] (on the per-trial differences) is the matched test;
//! [`welch_t_test`] treats the two samples as independent and is kept beside it.

/// Arithmetic mean (0 for an empty slice).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (`n - 1` denominator; 0 for fewer than two values).
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Standard error of the mean, `std_dev / sqrt(n)`.
pub fn sem(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    std_dev(xs) / (xs.len() as f64).sqrt()
}

/// Natural log of the gamma function for `x > 0` (Lanczos approximation, g = 7, 9 terms; within 1e-12 of
/// the exact values the tests check).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |a, (i, &g)| a + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized incomplete beta function `I_x(a, b)` for `a, b > 0`, `0 <= x <= 1`, by the continued fraction
/// of Numerical Recipes (modified Lentz), using the symmetry `I_x(a, b) = 1 - I_{1-x}(b, a)` where the
/// fraction converges slowly.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Two-sided p-value of Student's t statistic `t` with `df` degrees of freedom:
/// `P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2)`.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    inc_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// Welch's unequal-variance t-test of `a` against `b`: `(t, df, two-sided p)`, or `None` when either sample
/// has fewer than two values or both have zero variance (the test is undefined).
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        std_dev(a).powi(2) / a.len() as f64,
        std_dev(b).powi(2) / b.len() as f64,
    );
    if va + vb == 0.0 {
        return None;
    }
    let t = (mean(a) - mean(b)) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    Some((t, df, t_two_sided_p(t, df)))
}

/// Paired t-test of `a` against `b` (same length, `a[i]` and `b[i]` from the same trial): the one-sample t-test
/// of the differences `a[i] - b[i]` against 0, `t = mean(diff) / (sd(diff) / sqrt(n))`, `df = n - 1`.
/// Returns `(t, df, two-sided p)`, or `None` when the lengths differ, there are fewer than two pairs, or every
/// difference is the same (zero variance: the test is undefined).
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let se = sem(&diff);
    if se == 0.0 {
        return None;
    }
    let t = mean(&diff) / se;
    let df = (diff.len() - 1) as f64;
    Some((t, df, t_two_sided_p(t, df)))
}

/// Holm-Bonferroni adjusted p-values of a family of `m` tests, in the input order: with the p-values sorted
/// ascending `p_(1) <= ... <= p_(m)`, `adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`. Rejecting where
/// `adj < 0.05` controls the family-wise error rate at 5%. Ties keep their input order; NaN p-values stay NaN
/// and do not count in `m`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = order.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// A correction for multiple comparisons, applied to a family of p-values (a report's option: spec key
/// `[report] correction`, or `reproduce --holm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    /// The raw p-values.
    #[default]
    None,
    /// Holm-Bonferroni ([`holm`]).
    Holm,
}

impl Correction {
    /// The adjusted p-values of the family `p`, in its order (the raw values for [`Correction::None`]).
    pub fn adjust(self, p: &[f64]) -> Vec<f64> {
        match self {
            Correction::None => p.to_vec(),
            Correction::Holm => holm(p),
        }
    }

    /// Whether this is [`Correction::None`].
    pub fn is_none(&self) -> bool {
        *self == Correction::None
    }
}

/// Ordinary least-squares line `y = intercept + slope * x` through the points `(xs[i], ys[i])`, with the
/// coefficient of determination `R^2 = 1 - SS_res / SS_tot`: `(slope, intercept, r2)`, or `None` with fewer
/// than two points, different lengths, or all `x` equal (no line is defined). `R^2` is `1` when every `y` is
/// equal (the line fits exactly).
pub fn linear_fit(xs: &[f64], ys: &[f64]) -> Option<(f64, f64, f64)> {
    if xs.len() != ys.len() || xs.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(xs), mean(ys));
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = ys.iter().map(|y| (y - my) * (y - my)).sum();
    let ss_res: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let e = y - (intercept + slope * x);
            e * e
        })
        .sum();
    let r2 = if ss_tot == 0.0 {
        1.0
    } else {
        1.0 - ss_res / ss_tot
    };
    Some((slope, intercept, r2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&xs), 5.0);
        assert!((std_dev(&xs) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!((sem(&xs) - (32.0f64 / 7.0).sqrt() / 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(sem(&[1.0]), 0.0);
    }

    #[test]
    fn special_functions_match_known_values() {
        // Gamma(5) = 24, Gamma(0.5) = sqrt(pi).
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // I_0.5(2, 3) = 11/16; I_x(1, 1) = x; I_0.3(2, 5) = 0.579825 (Simpson integration of the beta density).
        assert!((inc_beta(2.0, 3.0, 0.5) - 0.6875).abs() < 1e-12);
        assert!((inc_beta(1.0, 1.0, 0.37) - 0.37).abs() < 1e-12);
        assert!((inc_beta(2.0, 5.0, 0.3) - 0.579825).abs() < 1e-6);
        // two-sided t p-values (Simpson integration of the t density): df 1, t 1 -> 0.5 exactly (Cauchy);
        // df 10, t 2.228139 -> 0.05; df 4, t 2.776445 -> 0.05; df 30, t 1 -> 0.325309.
        assert!((t_two_sided_p(1.0, 1.0) - 0.5).abs() < 1e-12);
        assert!((t_two_sided_p(2.228_139, 10.0) - 0.05).abs() < 1e-6);
        assert!((t_two_sided_p(-2.776_445, 4.0) - 0.05).abs() < 1e-6);
        assert!((t_two_sided_p(1.0, 30.0) - 0.325_309).abs() < 1e-5);
        assert_eq!(t_two_sided_p(0.0, 7.0), 1.0);
    }

    #[test]
    fn welch_hand_computed() {
        // a: mean 2, var 1; b: mean 5, var 1 -> t = -3 / sqrt(2/3), df = 4 (equal n and variances).
        let (t, df, p) = welch_t_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!((t + 3.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((df - 4.0).abs() < 1e-12);
        assert!((p - t_two_sided_p(t, 4.0)).abs() < 1e-15 && p > 0.01 && p < 0.05);
        assert!(welch_t_test(&[1.0], &[2.0, 3.0]).is_none());
        assert!(welch_t_test(&[1.0, 1.0], &[2.0, 2.0]).is_none());
    }

    #[test]
    fn paired_matches_scipy() {
        // tests/data/stats_reference.py: scipy.stats.ttest_rel.
        let a = [0.912, 0.874, 0.901, 0.935, 0.888];
        let b = [0.881, 0.869, 0.879, 0.902, 0.880];
        let (t, df, p) = paired_t_test(&a, &b).unwrap();
        assert!((t - 3.439_449_507_538_446).abs() < 1e-9, "{t}");
        assert_eq!(df, 4.0);
        assert!((p - 0.026_306_992_452_457_295).abs() < 1e-9, "{p}");
        let c = [1.0, 2.5, 2.0, 4.0, 3.5, 6.0];
        let d = [1.5, 2.0, 3.0, 3.0, 5.0, 5.5];
        let (t, df, p) = paired_t_test(&c, &d).unwrap();
        assert!((t + 0.415_227_399_268_699_84).abs() < 1e-9, "{t}");
        assert_eq!(df, 5.0);
        assert!((p - 0.695_192_295_931_711_1).abs() < 1e-9, "{p}");
        // Pairing matters: a constant shift has zero variance of differences (undefined), while Welch's
        // test on the same samples is defined.
        assert!(paired_t_test(&[1.0, 2.0, 3.0], &[0.5, 1.5, 2.5]).is_none());
        assert!(welch_t_test(&[1.0, 2.0, 3.0], &[0.5, 1.5, 2.5]).is_some());
        assert!(paired_t_test(&[1.0, 2.0], &[1.0]).is_none());
        assert!(paired_t_test(&[1.0], &[2.0]).is_none());
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.005, 0.01, 0.03, 0.04, 0.04, 0.2 times 6, 5, 4, 3, 2, 1 = 0.03, 0.05, 0.12, 0.12, 0.08, 0.2;
        // the running maximum lifts the 0.08 to 0.12 (also printed by tests/data/stats_reference.py).
        let adj = holm(&[0.01, 0.04, 0.03, 0.005, 0.2, 0.04]);
        let want = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        // Capped at 1; NaN stays NaN and does not count.
        let adj = holm(&[0.6, f64::NAN, 0.3]);
        assert!((adj[0] - 0.6).abs() < 1e-12 && adj[1].is_nan() && (adj[2] - 0.6).abs() < 1e-12);
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
        assert_eq!(Correction::Holm.adjust(&[0.01, 0.04]), holm(&[0.01, 0.04]));
        assert_eq!(Correction::None.adjust(&[0.01, 0.04]), vec![0.01, 0.04]);
    }

    #[test]
    fn linear_fit_by_hand() {
        // (0,1), (1,3), (2,2): mean x 1, mean y 2; sxy = (-1)(-1) + 0 + (1)(0) = 1, sxx = 2 -> slope 0.5,
        // intercept 1.5; residuals -0.5, 1, -0.5 -> SS_res 1.5, SS_tot 2 -> R^2 0.25.
        let (b, a, r2) = linear_fit(&[0.0, 1.0, 2.0], &[1.0, 3.0, 2.0]).unwrap();
        assert!((b - 0.5).abs() < 1e-12 && (a - 1.5).abs() < 1e-12 && (r2 - 0.25).abs() < 1e-12);
        // An exact line.
        let (b, a, r2) = linear_fit(&[1.0, 2.0, 4.0], &[-1.0, -3.0, -7.0]).unwrap();
        assert!((b + 2.0).abs() < 1e-12 && (a - 1.0).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        assert!(linear_fit(&[1.0, 1.0], &[2.0, 3.0]).is_none());
        assert!(linear_fit(&[1.0], &[2.0]).is_none());
        assert!(linear_fit(&[1.0, 2.0], &[2.0]).is_none());
    }
}
