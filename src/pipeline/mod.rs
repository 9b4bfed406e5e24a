//! The one pipeline every front runs: settings -> data -> pre-train -> expand -> post-train (rewire) ->
//! metrics -> record.
//!
//! * [`settings`]: [`Settings`], every knob a front may set (each `None` = the default), its one builder
//!   ([`Settings::build`]) with its one validation, and [`defaults`], the one place for every default. The CLI's
//!   `train` and `finetune`, the experiment runner and the Python package all build their [`TrialConfig`] here.
//! * [`trial`]: one trial on a data set (the stages above), used by `neurosplit train` (DNF data or a user's
//!   file), every spec trial of `neurosplit reproduce`, and Python's `train`.
//! * [`finetune`]: the post-split stage on a user's trained model, with the dense model trained for the same
//!   epochs from the same start as its baseline, over one or more trials, checkpointed.
//! * [`guard`]: the checks that protect a user's files and memory before any work: no output may name an input,
//!   the memory a user's sizes ask for is checked against the budget, feature groups are checked against the
//!   data.
//!
//! Threads are an argument ([`resolve_threads`]: one meaning everywhere, 0 = every core); nothing here reads a
//! thread count from the environment.

pub mod finetune;
pub mod guard;
pub mod settings;
pub mod trial;

pub use settings::{defaults, Settings};
pub use trial::TrialConfig;

/// The number of threads a requested count means: 0 = every core the process may use, `n >= 1` = `n`, capped at
/// [`crate::limits::THREADS_PER_CORE`] per core (and [`crate::limits::MAX_THREADS`]), with a warning when capped.
/// Results never depend on it. Every front resolves its `threads` setting here.
pub fn resolve_threads(requested: usize) -> (usize, Option<String>) {
    if requested == 0 {
        (crate::limits::cores(), None)
    } else {
        crate::limits::cap_threads(requested)
    }
}

/// Runs `f` on a rayon pool of exactly `threads` threads (`threads >= 1`; see [`resolve_threads`]).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> crate::Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| crate::Error::invalid("threads", e.to_string()))?;
    Ok(pool.install(f))
}
