//! What one `rayon::join` costs the calling thread on a two-thread pool, against how long the pool's other worker
//! has been idle before it: each iteration runs `gap` microseconds of serial work, then joins two halves of `work`
//! microseconds each (busy-waits of a fixed duration, so the expected time is exactly `gap + work`). The overhead
//! is the fastest of five rounds' time per iteration minus that. An idle rayon worker spins briefly, then sleeps;
//! waking it is a system call on the joining thread plus the other CPU's wake-up latency, which on a virtual
//! machine includes an interrupt to a halted virtual CPU. A training step makes about ten joins, several after a
//! serial pass (loss, bias and ReLU passes of small layers), so this cost is paid per step.
//!
//! ```text
//! cargo run --release --example join_cost
//! ```

use std::time::{Duration, Instant};

fn busy(us: f64) {
    let end = Instant::now() + Duration::from_nanos((us * 1e3) as u64);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

fn main() {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("join_cost: the overhead of one rayon::join on a 2-thread pool after a serial gap (no arguments)");
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a two-thread pool");
    println!("| serial gap us | work us (each half) | us per iteration (fastest of 5) | expected | overhead per join us |");
    println!("|---:|---:|---:|---:|---:|");
    pool.install(|| {
        for work in [20.0f64, 100.0] {
            for gap in [0.0f64, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0] {
                let n = (200_000.0 / (gap + work)).max(200.0) as usize;
                let best = (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        for _ in 0..n {
                            busy(gap);
                            rayon::join(|| busy(work), || busy(work));
                        }
                        t.elapsed().as_secs_f64() * 1e6 / n as f64
                    })
                    .fold(f64::INFINITY, f64::min);
                println!(
                    "| {gap} | {work} | {best:.1} | {:.1} | {:.1} |",
                    gap + work,
                    best - gap - work
                );
            }
        }
    });
}
