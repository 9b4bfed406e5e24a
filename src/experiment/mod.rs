//! Experiments built from the library's pieces. [`case_study`] is the paper's Sec. 3.1; [`spec`], [`runner`],
//! [`report`] and [`estimate`] run any declarative experiment spec (every paper result has one in `experiments/`).

pub mod case_study;
pub mod estimate;
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
