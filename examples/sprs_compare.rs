//! The forward product `Y = W X` (W sparse `h' x d`, X `d x 500` batch-contiguous) with `sprs`
//! (`csr_mulacc_dense_rowmaj`, single-threaded) beside our CSR kernel on one thread, on the sweep's shapes and
//! densities. Fastest of several runs.
//!
//! ```text
//! cargo run --release --example sprs_compare            # add --quick for one shape
//! ```

use std::time::Instant;

use ndarray::Array2;
use rand::Rng as _;

use neurosplit::kernels::Isa;
use neurosplit::kernels::{csr, Par};
use neurosplit::rng::stream;
use neurosplit::sparse::{Csr, Mask};

const B: usize = 500;

fn min_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let shapes: &[(usize, usize)] = if quick {
        &[(512, 512)]
    } else {
        &[(512, 512), (784, 1024), (2048, 2048)]
    };
    println!("| d x h' | density | sprs ms | neurosplit csr ms | speed-up | sprs GFLOP/s | neurosplit GFLOP/s |");
    println!("|---|---|---|---|---|---|---|");
    for &(d, h) in shapes {
        let (n, k) = (h, d);
        let x: Vec<f32> = (0..k * B).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let xa = Array2::from_shape_vec((k, B), x.clone()).unwrap();
        for density in [0.5, 0.25, 0.125, 0.06, 0.03] {
            let mut rng = stream(2, &[]);
            let mut mask = Mask::empty(n, k);
            let mut w = vec![0f32; n * k];
            for i in 0..n {
                for j in 0..k {
                    if rng.gen_bool(density) {
                        mask.set(i, j, true);
                        w[i * k + j] = rng.gen_range(-0.1..0.1);
                    }
                }
            }
            let csr = Csr::from_dense_masked(&mask, &w);
            let sp = csr.to_sprs();
            let mut ya = Array2::<f32>::zeros((n, B));
            let reps = if n * k > 1 << 21 { 3 } else { 7 };
            let t_sprs = min_secs(reps, || {
                ya.fill(0.0);
                sprs::prod::csr_mulacc_dense_rowmaj(sp.view(), xa.view(), ya.view_mut());
            });
            let mut y = vec![0f32; n * B];
            let zero = vec![0f32; n];
            let t_ours = min_secs(reps, || {
                csr::csr_forward(
                    Isa::best(),
                    Par::Seq,
                    csr.pattern(),
                    csr.values(),
                    &x,
                    B,
                    &zero,
                    false,
                    &mut y,
                )
            });
            // Same product: check before reporting.
            let diff = y
                .iter()
                .zip(ya.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-3, "sprs and neurosplit disagree by {diff}");
            let gf = |t: f64| 2.0 * csr.nnz() as f64 * B as f64 / t / 1e9;
            println!(
                "| {d} x {h} | {:.1}% | {:.2} | {:.2} | {:.1}x | {:.1} | {:.1} |",
                density * 100.0,
                t_sprs * 1e3,
                t_ours * 1e3,
                t_sprs / t_ours,
                gf(t_sprs),
                gf(t_ours)
            );
        }
    }
}
