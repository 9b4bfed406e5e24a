//! The paper's experiments as declarative specs: [`spec`] (TOML, one per paper result in `experiments/`),
//! [`runner`] (grid cells x trials in parallel, resumable JSONL results, shards), [`report`] (tables beside the
//! paper's numbers, Welch tests), [`figures`], [`export`] (CSV) and [`estimate`] (run-time estimates for `reproduce --list`).

pub mod estimate;
pub mod export;
pub mod figures;
pub mod report;
pub mod runner;
pub mod spec;

/// Runs `f` on a rayon pool of `threads` threads (0 = all cores).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> crate::Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| crate::Error::invalid("threads", e.to_string()))?;
    Ok(pool.install(f))
}
