//! Feature clustering for the `gram` split (Sec. 3.3): features whose first-layer weight columns point the same
//! way are kept on the same child, as clauses are in the `clause` split.
//!
//! The paper computes the feature Gram matrix `G = W^T W` (`d x d`) of the layer being split, clusters its rows
//! and balances the clusters over the children; it does not name the clustering algorithm. We use **k-means++
//! seeding followed by Lloyd iterations on the rows of `G` normalised to unit length** (so two features are close
//! when they interact with all other features in the same proportions, whatever their scale):
//!
//! - it is deterministic for a seed (the seeding draws from the split's random stream; Lloyd's iterations are
//!   deterministic, ties go to the lower cluster index) and always returns exactly `k` non-empty clusters (an
//!   emptied cluster is re-seeded with the point farthest from its centre);
//! - its cost is `O(d^2 k)` per iteration, against `O(d^3)` for agglomerative clustering, which matters for
//!   embedding inputs (`d` in the hundreds or thousands);
//! - k-means++ seeding gives an `O(log k)`-competitive start, so a fixed, small number of iterations suffices.
//!
//! The number of clusters is a parameter; without one, [`default_clusters`] picks `round(sqrt(d))` (at least
//! `alpha`), a common rule of thumb when the number of features is unknown. For DNF data, the number of clauses
//! is the natural choice.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::nn::Linear;
use crate::rng::Rng;

/// Lloyd iterations after seeding (the loop stops earlier once assignments no longer change).
pub const MAX_ITERS: usize = 50;

/// The default number of clusters for a layer with `d` inputs split into `alpha` children:
/// `max(alpha, round(sqrt(d)))`, at most `d`.
pub fn default_clusters(d: usize, alpha: usize) -> usize {
    ((d as f64).sqrt().round() as usize).max(alpha).min(d)
}

/// The Gram matrix `G = W^T W` (`in x in`, row-major) of a layer's weights (masked weights count as 0).
pub fn gram_matrix(layer: &Linear) -> Vec<f64> {
    let d = layer.in_dim();
    let mut g = vec![0f64; d * d];
    for r in 0..layer.out_dim() {
        let row = layer.row(r);
        for (a, &wa) in row.iter().enumerate() {
            if wa == 0.0 {
                continue;
            }
            let ga = &mut g[a * d..(a + 1) * d];
            for (gab, &wb) in ga.iter_mut().zip(row) {
                *gab += wa as f64 * wb as f64;
            }
        }
    }
    g
}

/// Clusters the layer's inputs into `clusters` groups by the rows of its normalised Gram matrix (see the module
/// docs); returns the groups, each ascending, in order of their smallest input.
pub fn gram_groups(layer: &Linear, clusters: usize, rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
    let d = layer.in_dim();
    if clusters == 0 || clusters > d {
        return Err(Error::invalid(
            "clusters",
            format!("{clusters} clusters of {d} inputs: choose between 1 and {d}"),
        ));
    }
    let mut points = gram_matrix(layer);
    for row in points.chunks_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    let labels = kmeans(&points, d, d, clusters, rng);
    let mut groups = vec![Vec::new(); clusters];
    for (i, &c) in labels.iter().enumerate() {
        groups[c].push(i);
    }
    groups.retain(|g| !g.is_empty());
    groups.sort_by_key(|g| g[0]);
    Ok(groups)
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ then Lloyd on `n` points of dimension `dim` (row-major); returns a label in `0..k` per point, every
/// label used.
pub fn kmeans(points: &[f64], n: usize, dim: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    assert!(k >= 1 && k <= n && points.len() == n * dim);
    let point = |i: usize| &points[i * dim..(i + 1) * dim];
    // k-means++ seeding.
    let mut centres: Vec<f64> = Vec::with_capacity(k * dim);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(point(first));
    let mut best: Vec<f64> = (0..n).map(|i| dist2(point(i), point(first))).collect();
    for _ in 1..k {
        let total: f64 = best.iter().sum();
        let pick = if total > 0.0 {
            let mut u = rng.gen_range(0.0..total);
            let mut chosen = n - 1;
            for (i, &b) in best.iter().enumerate() {
                if u < b {
                    chosen = i;
                    break;
                }
                u -= b;
            }
            chosen
        } else {
            // Every point coincides with a centre: any point will do.
            rng.gen_range(0..n)
        };
        centres.extend_from_slice(point(pick));
        for (i, b) in best.iter_mut().enumerate() {
            *b = b.min(dist2(point(i), point(pick)));
        }
    }
    // Lloyd iterations.
    let mut labels = vec![usize::MAX; n];
    for _ in 0..MAX_ITERS {
        let mut changed = false;
        for (i, label) in labels.iter_mut().enumerate() {
            let mut arg = 0;
            let mut min = f64::INFINITY;
            for c in 0..k {
                let dd = dist2(point(i), &centres[c * dim..(c + 1) * dim]);
                if dd < min {
                    min = dd;
                    arg = c;
                }
            }
            if *label != arg {
                *label = arg;
                changed = true;
            }
        }
        // Re-seed empty clusters with the point farthest from its centre (a point of a cluster of two or more).
        let mut sizes = vec![0usize; k];
        labels.iter().for_each(|&l| sizes[l] += 1);
        for c in 0..k {
            if sizes[c] > 0 {
                continue;
            }
            let far = (0..n)
                .filter(|&i| sizes[labels[i]] > 1)
                .max_by(|&a, &b| {
                    let da = dist2(point(a), &centres[labels[a] * dim..(labels[a] + 1) * dim]);
                    let db = dist2(point(b), &centres[labels[b] * dim..(labels[b] + 1) * dim]);
                    da.total_cmp(&db).then(b.cmp(&a))
                })
                .expect("k <= n leaves a cluster with two points");
            sizes[labels[far]] -= 1;
            labels[far] = c;
            sizes[c] = 1;
            changed = true;
        }
        // Update centres.
        centres.iter_mut().for_each(|v| *v = 0.0);
        for (i, &l) in labels.iter().enumerate() {
            for (cv, &pv) in centres[l * dim..(l + 1) * dim].iter_mut().zip(point(i)) {
                *cv += pv;
            }
        }
        for c in 0..k {
            let s = sizes[c] as f64;
            centres[c * dim..(c + 1) * dim]
                .iter_mut()
                .for_each(|v| *v /= s);
        }
        if !changed {
            break;
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn recovers_planted_blocks() {
        // Each of 4 neurons reads one block of 3 inputs: the Gram matrix is block-diagonal.
        let (h, d) = (4, 12);
        let mut w = vec![0f32; h * d];
        for r in 0..h {
            for c in 0..3 {
                w[r * d + r * 3 + c] = 1.0 + 0.1 * c as f32;
            }
        }
        let layer = Linear::from_parts(h, d, w, vec![0.0; h], None).unwrap();
        let groups = gram_groups(&layer, 4, &mut stream(3, &[0])).unwrap();
        let want: Vec<Vec<usize>> = (0..4).map(|b| (b * 3..b * 3 + 3).collect()).collect();
        assert_eq!(groups, want);
        let again = gram_groups(&layer, 4, &mut stream(3, &[0])).unwrap();
        assert_eq!(groups, again, "deterministic for a seed");
    }

    #[test]
    fn always_k_nonempty_clusters() {
        // Identical points: k-means++ cannot spread the seeds, the re-seeding must.
        let labels = kmeans(&[1.0; 10], 10, 1, 4, &mut stream(1, &[1]));
        for c in 0..4 {
            assert!(labels.contains(&c), "{labels:?}");
        }
        let layer = Linear::from_parts(2, 5, vec![1.0; 10], vec![0.0; 2], None).unwrap();
        assert!(gram_groups(&layer, 6, &mut stream(0, &[0])).is_err());
    }
}
