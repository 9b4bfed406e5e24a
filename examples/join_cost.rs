//! What one hand-off of two tasks costs the calling thread on two threads, against how long the other thread has
//! been idle before it, for a `rayon::join` on a two-thread pool and for `neurosplit::kernels::parallel::run_tasks`
//! (the team of spinning workers the kernels use): each iteration runs `gap` microseconds of serial work, then
//! hands off two tasks of `work` microseconds each (busy-waits of a fixed duration, so the expected time is exactly
//! `gap + work`). The overhead is the fastest of five rounds' time per iteration minus that. An idle rayon worker
//! spins briefly, then sleeps; waking it is a system call on the joining thread plus the other CPU's wake-up
//! latency, which on a virtual machine includes an interrupt to a halted virtual CPU. A team worker spins for
//! `NEUROSPLIT_TEAM_SPIN_US` (default 200) microseconds before it parks, so gaps shorter than that reach a worker
//! that is awake. A training step makes about ten hand-offs, most a few microseconds after the previous one.
//!
//! ```text
//! cargo run --release --example join_cost
//! ```

use std::time::{Duration, Instant};

use neurosplit::kernels::parallel::run_tasks;

fn busy(us: f64) {
    let end = Instant::now() + Duration::from_nanos((us * 1e3) as u64);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Fastest of five rounds of `gap` us of serial work followed by `hand_off`, in us per iteration.
fn fastest(gap: f64, work: f64, hand_off: impl Fn()) -> f64 {
    let n = (200_000.0 / (gap + work)).max(200.0) as usize;
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                busy(gap);
                hand_off();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!(
            "join_cost: the overhead of one hand-off of two tasks on two threads after a serial gap, rayon::join \
             against the kernels' team (no arguments)"
        );
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a two-thread pool");
    println!(
        "| serial gap us | work us (each half) | expected us | rayon::join us per iteration (fastest of 5) | \
         overhead us | team us per iteration | overhead us |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    pool.install(|| {
        for work in [20.0f64, 100.0] {
            for gap in [0.0f64, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0] {
                let join = fastest(gap, work, || {
                    rayon::join(|| busy(work), || busy(work));
                });
                let team = fastest(gap, work, || run_tasks(2, &|_| busy(work)));
                let expected = gap + work;
                println!(
                    "| {gap} | {work} | {expected:.1} | {join:.1} | {:.1} | {team:.1} | {:.1} |",
                    join - expected,
                    team - expected
                );
            }
        }
    });
}
