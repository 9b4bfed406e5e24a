use neurosplit::kernels::adam::{adam_body, Penalty};
use neurosplit::kernels::{adam_update_masked, Isa, Par};
use neurosplit::sparse::Mask;
use std::time::Instant;

fn cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0) / 1e3
}

fn old(mask: &Mask, p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    let (l1, two_l2) = (1e-7f32, 2e-5f32);
    for (g, &w) in g.iter_mut().zip(p.iter()) {
        let sign = if w > 0.0 { 1.0 } else if w < 0.0 { -1.0 } else { 0.0 };
        *g += two_l2 * w + l1 * sign;
    }
    let cols = mask.cols();
    for r in 0..mask.rows() {
        for (wi, &word) in mask.row_words(r).iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let start = w.trailing_zeros() as usize;
                let len = (w >> start).trailing_ones() as usize;
                let lo = r * cols + wi * 64 + start;
                let hi = lo + len;
                adam_body(&mut p[lo..hi], &g[lo..hi], &mut m[lo..hi], &mut v[lo..hi], h);
                w = if start + len >= 64 { 0 } else { w & !(((1u64 << len) - 1) << start) };
            }
        }
    }
}

fn main() {
    for (rows, cols, dens) in [(512usize, 512usize, 0.145f64), (100, 512, 0.787), (16, 32, 0.5)] {
        let mut s = 12345u64;
        let live: Vec<bool> = (0..rows * cols).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % 1000) as f64 / 1000.0 < dens }).collect();
        let mask = Mask::from_bools(rows, cols, &live);
        let n = rows * cols;
        let g0: Vec<f32> = (0..n).map(|i| if live[i] { (i as f32 * 0.37).sin() } else { 0.0 }).collect();
        let mut p: Vec<f32> = (0..n).map(|i| if live[i] { (i as f32 * 0.91).cos() } else { 0.0 }).collect();
        let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
        let mut g = g0.clone();
        let h = [1e-6, 0.9, 0.999, 0.5, 1e-8];
        let reps = (20_000_000 / n).max(10);
        let (mut to, mut tn) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let c = cpu();
            for _ in 0..reps { g.copy_from_slice(&g0); old(&mask, &mut p, &mut g, &mut m, &mut v, h); }
            to.push((cpu() - c) / reps as f64);
            let c = cpu();
            for _ in 0..reps { g.copy_from_slice(&g0); adam_update_masked(Isa::best(), Par::Seq, &mask, &mut p, &g, &mut m, &mut v, h, Some(Penalty::Weight { l1: 1e-7, two_l2: 2e-5 })); }
            tn.push((cpu() - c) / reps as f64);
        }
        to.sort_by(f64::total_cmp); tn.sort_by(f64::total_cmp);
        let _ = Instant::now();
        println!("{rows}x{cols} density {dens}: old (add_grad + runs) min {:.1} med {:.1} us; new (fused, chunks) min {:.1} med {:.1} us (CPU time, incl. a grad copy)", to[0], to[3], tn[0], tn[3]);
    }
}
