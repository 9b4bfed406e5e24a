//! Wall time of one training epoch of the CLIP-sized FPE model (the PyTorch reference's `fpe_torch.py clip`):
//! d = 512 Gaussian inputs, C = 100 classes, 50 000 samples, batch 500 (100 steps), softmax cross-entropy, Adam;
//! dense h = 128 and its FPE expansion h' = 512 (alpha = 4, random split, same non-zero budget). Median of three
//! epochs after one warm-up, on 1 and 2 threads, with the formats the layers pick and with every layer forced
//! dense (masked weights multiplied as zeros, what masked PyTorch does). Also prints the CPU time the process
//! spent (all threads), which a machine shared with other jobs inflates much less than the wall time.
//!
//! ```text
//! cargo run --release --example clip_epoch [-- --fpe-only | --dense-only] [--threads 1,2]
//! ```
//!
//! `--fpe-only` runs the FPE model on the formats it picks, `--dense-only` the dense model; `--threads` lists
//! the thread counts (default `1,2`).
//!
//! `--precision bf16` runs every row at fp32 and at bf16 (mixed precision), alternating `--rounds` times (default
//! 2), and prints for each precision the fastest and the median epoch over the rounds, the useful GFLOP/s and the
//! bf16 / fp32 time ratio. `--loss-trials N [--epochs E]` instead trains the FPE model from N seeds for E
//! epochs (default 6) at fp32 and at bf16 on two threads and prints the mean +- SEM of the last epoch's loss.

use std::time::Instant;

use rand::Rng as _;
use rand_distr_free::normal;

use neurosplit::data::{Dataset, Task};
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::{Par, Precision};
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::Format;

/// Standard normal samples by Box-Muller (keeps the example free of extra dependencies).
mod rand_distr_free {
    use rand::Rng;
    pub fn normal(rng: &mut impl Rng) -> f32 {
        let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = rng.gen();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

/// CPU time of every thread of this process so far, in ms (Linux schedstat; 0 elsewhere).
fn cpu_ms() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}

/// FNV-1a hash of the bits of every weight and bias: equal for bit-identical models.
fn checksum(m: &Mlp) -> u64 {
    m.layers()
        .iter()
        .flat_map(|l| l.weight().iter().chain(l.bias()))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3)
        })
}

/// (median wall ms, fastest wall ms, CPU ms of the fastest run, formats, checksum of the model after the four
/// epochs) over three epochs after a warm-up.
fn epoch_ms(
    model: &Mlp,
    data: &Dataset,
    formats: FormatChoice,
    threads: usize,
    precision: Precision,
) -> (f64, f64, f64, Vec<Format>, u64) {
    let cfg = TrainConfig {
        epochs: 1,
        precision,
        ..TrainConfig::default()
    };
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::Rayon(threads)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut m = model.clone();
    let mut trainer = Trainer::new(&m, cfg).unwrap().with_format(&m, formats, par);
    let mut rng = stream(0, &[9]);
    let mut times: Vec<(f64, f64)> = (0..4)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_ms());
            pool.install(|| trainer.epoch(&mut m, data, &mut rng));
            (t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c)
        })
        .skip(1)
        .collect();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    (
        times[1].0,
        times[0].0,
        times[0].1,
        trainer.formats(),
        checksum(&m),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "clip_epoch [--fpe-only | --dense-only] [--threads 1,2]: median/fastest epoch of the CLIP-sized models"
        );
        return;
    }
    let threads_list: Vec<usize> = match args.iter().position(|a| a == "--threads") {
        Some(i) => args
            .get(i + 1)
            .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
            .unwrap_or_default(),
        None => vec![1, 2],
    };
    if threads_list.is_empty() || threads_list.contains(&0) {
        eprintln!("--threads takes a comma-separated list of positive counts, e.g. 1,2");
        std::process::exit(2);
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let bf16 = match value("--precision").map(|p| p.parse::<Precision>()) {
        None | Some(Ok(Precision::Fp32)) => false,
        Some(Ok(Precision::Bf16)) => true,
        Some(Err(e)) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let loss_trials: usize = value("--loss-trials").map_or(0, |v| v.parse().unwrap_or(0));
    if bf16 || loss_trials > 0 {
        if let Err(e) = Precision::Bf16.check_supported() {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    let (d, c, n, h, alpha) = (512, 100, 50_000, 128, 4);
    let mut rng = stream(0, &[1]);
    let x: Vec<f32> = (0..n * d).map(|_| normal(&mut rng)).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.gen_range(0..c as u32)).collect();
    let data = Dataset::new(x, y, d, Task::Multiclass(c)).unwrap();
    let dense = Mlp::new(&[d, h, c], data.task, &mut stream(0, &[2])).unwrap();
    let fpe = FpeConfig {
        alpha,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &fpe, None, &mut stream(0, &[3])).unwrap();
    println!(
        "CLIP-sized epoch: d={d} C={c} N={n} batch=500; dense h={h} ({} weights), FPE h'={} ({} live weights; densities {:.3} / {:.3})",
        dense.nnz(),
        h * alpha,
        wide.nnz(),
        wide.layers()[0].density(),
        wide.layers()[1].density()
    );
    // Useful work as the issue counts it: `2 x live weights x batch` per product; the first layer runs its
    // forward pass and weight gradient, every later layer also its input gradient.
    let useful = |m: &Mlp| -> f64 {
        m.layers()
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                (if l == 0 { 2.0 } else { 3.0 }) * 2.0 * layer.nnz() as f64 * n as f64
            })
            .sum::<f64>()
            / 1e9
    };
    println!(
        "useful GFLOP per epoch: dense {:.2}, FPE {:.2}",
        useful(&dense),
        useful(&wide)
    );
    if loss_trials > 0 {
        let epochs: usize = value("--epochs").map_or(6, |v| v.parse().unwrap_or(6));
        return loss_parity(&data, &fpe, loss_trials, epochs);
    }
    if bf16 {
        let rounds: usize = value("--rounds")
            .map_or(2, |v| v.parse().unwrap_or(2))
            .max(1);
        return bf16_table(&dense, &wide, &data, &threads_list, rounds, &useful, &args);
    }
    println!("| threads | model | formats | median ms/epoch | fastest ms/epoch | CPU ms (fastest) | us/step (fastest) | model checksum |");
    println!("|---|---|---|---|---|---|---|---|");
    let fpe_only = args.iter().any(|a| a == "--fpe-only");
    let dense_only = args.iter().any(|a| a == "--dense-only");
    for &threads in &threads_list {
        for (name, model, formats) in [
            ("dense h=128", &dense, FormatChoice::Auto),
            ("FPE h'=512", &wide, FormatChoice::Auto),
            ("FPE h'=512", &wide, FormatChoice::Force(Format::Dense)),
        ] {
            if fpe_only && !(name.starts_with("FPE") && formats == FormatChoice::Auto)
                || dense_only && !name.starts_with("dense")
            {
                continue;
            }
            let (med, fast, cpu, f, sum) =
                epoch_ms(model, &data, formats, threads, Precision::Fp32);
            let f: Vec<String> = f.iter().map(Format::to_string).collect();
            println!(
                "| {threads} | {name} | {} ({formats}) | {med:.1} | {fast:.1} | {cpu:.1} | {:.0} | {sum:016x} |",
                f.join("+"),
                fast * 1e3 / (n / 500) as f64
            );
        }
    }
}

/// Each row at fp32 and at bf16, alternating `rounds` times.
fn bf16_table(
    dense: &Mlp,
    wide: &Mlp,
    data: &Dataset,
    threads_list: &[usize],
    rounds: usize,
    useful: &dyn Fn(&Mlp) -> f64,
    args: &[String],
) {
    let n = data.n;
    println!("fp32 and bf16 alternating {rounds} times per row; fastest = fastest epoch of all rounds, median = median of the rounds' medians; CPU = CPU time of all threads in the fastest epoch");
    println!("| threads | model | precision | formats | fastest ms/epoch | median ms/epoch | CPU ms (min) | useful GFLOP/s (fastest) | bf16 / fp32 (fastest) | bf16 / fp32 (median) | bf16 / fp32 (CPU) | model checksum |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let fpe_only = args.iter().any(|a| a == "--fpe-only");
    let dense_only = args.iter().any(|a| a == "--dense-only");
    for &threads in threads_list {
        for (name, model) in [("dense h=128", dense), ("FPE h'=512", wide)] {
            if fpe_only && !name.starts_with("FPE") || dense_only && !name.starts_with("dense") {
                continue;
            }
            type Run = (f64, f64, f64, Vec<Format>, u64);
            let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
            for _ in 0..rounds {
                for (i, p) in [Precision::Fp32, Precision::Bf16].into_iter().enumerate() {
                    let (med, fast, cpu, f, sum) =
                        epoch_ms(model, data, FormatChoice::Auto, threads, p);
                    runs[i].push((fast, med, cpu, f, sum));
                }
            }
            let stats = |r: &[Run]| {
                let fast = r.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
                let cpu = r.iter().map(|x| x.2).fold(f64::INFINITY, f64::min);
                let mut meds: Vec<f64> = r.iter().map(|x| x.1).collect();
                meds.sort_by(f64::total_cmp);
                (fast, meds[meds.len() / 2], cpu)
            };
            let (f32_fast, f32_med, f32_cpu) = stats(&runs[0]);
            for (i, p) in [Precision::Fp32, Precision::Bf16].into_iter().enumerate() {
                let (fast, med, cpu) = stats(&runs[i]);
                let f: Vec<String> = runs[i][0].3.iter().map(Format::to_string).collect();
                println!(
                    "| {threads} | {name} | {p} | {} | {fast:.1} | {med:.1} | {cpu:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:016x} |",
                    f.join("+"),
                    useful(model) / (fast * 1e-3),
                    fast / f32_fast,
                    med / f32_med,
                    cpu / f32_cpu,
                    runs[i][0].4
                );
            }
        }
    }
    let _ = n;
}

/// Mean and standard error of the mean.
fn mean_sem(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    (m, (var / v.len() as f64).sqrt())
}

/// The FPE model trained from `trials` seeds for `epochs` epochs at fp32 and at bf16 (two threads): the last
/// epoch's mean training loss, mean +- SEM over the seeds, and the mean paired difference.
fn loss_parity(data: &Dataset, fpe: &FpeConfig, trials: usize, epochs: usize) {
    let (d, c, h) = (data.d, 100, 128);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut last = [Vec::new(), Vec::new()];
    for t in 0..trials as u64 {
        let dense = Mlp::new(&[d, h, c], data.task, &mut stream(t, &[2])).unwrap();
        let (wide, _) = expand(&dense, fpe, None, &mut stream(t, &[3])).unwrap();
        for (i, p) in [Precision::Fp32, Precision::Bf16].into_iter().enumerate() {
            let cfg = TrainConfig {
                epochs,
                precision: p,
                ..TrainConfig::default()
            };
            let mut m = wide.clone();
            let mut trainer =
                Trainer::new(&m, cfg)
                    .unwrap()
                    .with_format(&m, FormatChoice::Auto, Par::Rayon(2));
            let mut rng = stream(t, &[9]);
            let mut loss = 0.0;
            pool.install(|| trainer.fit(&mut m, data, &mut rng, |_, l| loss = l));
            println!("trial {t} {p}: loss after {epochs} epochs {loss:.6}");
            last[i].push(f64::from(loss));
        }
    }
    let diff: Vec<f64> = last[1].iter().zip(&last[0]).map(|(b, f)| b - f).collect();
    let ((m32, s32), (m16, s16), (md, sd)) =
        (mean_sem(&last[0]), mean_sem(&last[1]), mean_sem(&diff));
    println!("| workload | epochs | trials | fp32 loss | bf16 loss | bf16 - fp32 (paired) |");
    println!("|---|---|---|---|---|---|");
    println!("| CLIP-sized FPE h'=512 | {epochs} | {trials} | {m32:.5} +- {s32:.5} | {m16:.5} +- {s16:.5} | {md:+.5} +- {sd:.5} |");
}
