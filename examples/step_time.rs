//! Time of one training step of the case-study model (batch 500, 32 inputs): dense h = 8 and FPE h' = 16
//! (alpha = 2, random split) on the formats `auto` picks and on each format forced, single thread. Prints the
//! fastest of 8 rounds of 2000 steps (wall time) and the thread's CPU time per step in that round, which other
//! jobs on a shared machine inflate much less. `cargo bench --bench step` measures the same steps with criterion.
//!
//! ```text
//! cargo run --release --example step_time
//! cargo run --release --example step_time -- auto    # only the rows whose model or formats contain `auto`
//! ```

use std::time::Instant;

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::Par;
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::Format;

/// CPU time of the calling thread so far, in microseconds (Linux schedstat; 0 elsewhere).
fn thread_cpu_us() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e3)
}

fn main() {
    let dnf = Dnf::with_clauses(8, 4).unwrap();
    let data = dnf.generate(500, &mut stream(0, &[1])).unwrap();
    let dense = Mlp::new(&[32, 8, 1], data.task, &mut stream(0, &[2])).unwrap();
    let fpe = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &fpe, data.groups.as_deref(), &mut stream(0, &[3])).unwrap();
    let mut xt = vec![0f32; 500 * data.d];
    let mut y = vec![0u32; 500];
    data.gather_t(0..500, &mut xt, &mut y);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let filter = std::env::args().nth(1).unwrap_or_default();
    if filter == "--help" || filter == "-h" {
        println!(
            "step_time [FILTER]: one training step of the case-study model (dense h = 8, FPE h' = 16), batch 500, \
             one thread, on each format; FILTER keeps the rows whose model or formats contain it (e.g. `auto`)"
        );
        return;
    }
    println!("| model | formats | fastest us/step (wall) | CPU us/step (same round) |");
    println!("|---|---|---|---|");
    let choices = [
        FormatChoice::Auto,
        FormatChoice::Force(Format::Dense),
        FormatChoice::Force(Format::Bitmask),
        FormatChoice::Force(Format::Csr),
    ];
    for (name, model) in [("dense h=8", &dense), ("FPE h'=16", &wide)] {
        for choice in choices {
            if !format!("{name} {choice}").contains(&filter) {
                continue;
            }
            let mut m = model.clone();
            let mut trainer = Trainer::new(&m, cfg)
                .unwrap()
                .with_format(&m, choice, Par::Seq);
            const STEPS: usize = 2000;
            let mut best = (f64::INFINITY, 0.0);
            for _ in 0..8 {
                let (t, c) = (Instant::now(), thread_cpu_us());
                for _ in 0..STEPS {
                    trainer.step(&mut m, &xt, &y, 500);
                }
                let wall = t.elapsed().as_secs_f64() * 1e6 / STEPS as f64;
                let cpu = (thread_cpu_us() - c) / STEPS as f64;
                if wall < best.0 {
                    best = (wall, cpu);
                }
            }
            let f: Vec<String> = trainer.formats().iter().map(Format::to_string).collect();
            println!(
                "| {name} | {} ({choice}) | {:.1} | {:.1} |",
                f.join("+"),
                best.0,
                best.1
            );
        }
    }
}
