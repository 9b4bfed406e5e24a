//! The built-in experiments with run-time estimates (`reproduce --list`), and the estimate of one run
//! (`reproduce --estimate`).

use std::collections::HashSet;

use crate::error::Result;
use crate::experiment::estimate::{estimate as estimate_spec, CostModel, Estimate};
use crate::experiment::runner::{self, Shard};
use crate::experiment::spec::{self, DatasetSpec, Spec, BUILTIN};

/// `threads` with 0 meaning every core, as everywhere ([`crate::pipeline::resolve_threads`]).
pub fn resolve_threads(threads: usize) -> usize {
    crate::pipeline::resolve_threads(threads).0
}

/// Seconds as a short human duration (`42 s`, `17 min`, `3.5 h`).
pub fn fmt_secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// One built-in experiment with its estimated run time here.
#[derive(Clone, Debug)]
pub struct ListEntry {
    /// Its name (`neurosplit reproduce NAME`).
    pub name: &'static str,
    /// The paper's section, table or figure.
    pub paper_ref: String,
    /// Trials of the whole grid.
    pub trials: usize,
    /// The estimate of the whole grid.
    pub estimate: Estimate,
    /// Why it cannot run here yet, if it cannot (a strategy not built in, data not found).
    pub blocker: Option<String>,
}

/// The built-in experiments with run-time estimates from a per-step cost model measured now (a second or so).
#[derive(Clone, Debug)]
pub struct Listing {
    /// The measured cost model.
    pub cost: CostModel,
    /// Threads the estimates assume.
    pub threads: usize,
    /// One entry per built-in spec.
    pub entries: Vec<ListEntry>,
}

impl Listing {
    /// How the estimates were made, in one paragraph.
    pub fn method(&self) -> String {
        format!(
            "Estimated for {} threads from a cost model measured just now: one step of batch b through \
             widths d -> h -> C takes c0 + c1 * b * (d h + h C) s, with c0 = {:.1} us and c1 = {:.3} ns fitted by \
             timing [32, 8, 1] and [784, 64, 10] at b = 500; expanded layers cost as dense ones of their width. \
             '~': embeddings are assumed 50 000 x 512 with 100 classes (CIFAR-100 CLIP).",
            self.threads,
            self.cost.c0 * 1e6,
            self.cost.c1 * 1e9
        )
    }
}

/// Lists the built-in experiments with their estimated run times on `threads` threads (0: all cores).
pub fn list(threads: usize) -> Result<Listing> {
    let threads = resolve_threads(threads);
    let cost = CostModel::measure();
    let mut entries = Vec::new();
    for (name, _) in BUILTIN {
        let spec = Spec::load(name)?;
        entries.push(ListEntry {
            name,
            paper_ref: spec.paper_ref.clone(),
            trials: runner::cells(&spec).len() * spec.trials,
            estimate: estimate_spec(&spec, &cost, threads),
            blocker: blocker(&spec),
        });
    }
    Ok(Listing {
        cost,
        threads,
        entries,
    })
}

/// Why a spec cannot run here yet, if it cannot.
fn blocker(spec: &Spec) -> Option<String> {
    let mut problems = Vec::new();
    if let Err(e) = spec.check_available() {
        // Say whether the strategies this build has would do.
        let mut partial = spec.clone();
        partial
            .model
            .strategies
            .retain(|&s| spec::available(s).is_ok());
        let n = partial.model.strategies.len();
        if n > 0 && n < spec.model.strategies.len() && partial.check_available().is_ok() {
            let names: Vec<&str> = partial.model.strategies.iter().map(|s| s.name()).collect();
            problems.push(format!("{e}; --strategies {} works", names.join(",")));
        } else {
            problems.push(e.to_string());
        }
    }
    match &spec.dataset {
        DatasetSpec::FashionMnist { data_dir, .. } => {
            let dir = data_dir
                .clone()
                .unwrap_or_else(|| crate::data::idx::FASHION_MNIST_DIR.into());
            if !dir.is_dir() {
                problems.push(format!("needs FashionMNIST in {}", dir.display()));
            }
        }
        DatasetSpec::Embeddings { path, .. } => {
            if !path.exists() {
                problems.push(format!(
                    "needs embeddings at {} (see docs/REPRODUCTION.md)",
                    path.display()
                ));
            }
        }
        DatasetSpec::Dnf { .. } => {}
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// The estimated wall time of one run (of one slice with a shard).
#[derive(Clone, Copy, Debug)]
pub struct RunEstimate {
    /// Estimated wall seconds.
    pub seconds: f64,
    /// Trials this run owes.
    pub trials: usize,
    /// Trials of the whole grid.
    pub grid_trials: usize,
    /// Threads assumed.
    pub threads: usize,
    /// The slice estimated, if one.
    pub shard: Option<Shard>,
    /// Whether the data shape is known (false for embeddings, assumed 50 000 x 512 with 100 classes).
    pub exact_shape: bool,
}

impl std::fmt::Display for RunEstimate {
    /// E.g. `42 s estimated for 3 of 6 trials (slice 1/2) on 2 threads`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} s estimated for {} of {} trials{} on {} threads{}",
            self.seconds,
            self.trials,
            self.grid_trials,
            self.shard
                .map_or(String::new(), |s| format!(" (slice {}/{})", s.k, s.n)),
            self.threads,
            if self.exact_shape {
                ""
            } else {
                " (embeddings assumed 50 000 x 512, 100 classes)"
            }
        )
    }
}

/// Estimates the wall time of a run of `spec` (one slice with `shard`) on `threads` threads (0: all cores),
/// from a per-step cost model measured now.
pub fn estimate(spec: &Spec, shard: Option<Shard>, threads: usize) -> Result<RunEstimate> {
    spec.check_available()?;
    let threads = resolve_threads(threads);
    let cost = CostModel::measure();
    // The whole grid's work on one thread, then this run's share of it on the threads its trials can use.
    let serial = estimate_spec(spec, &cost, 1);
    let grid = runner::cells(spec);
    let (todo, _) = runner::pending(spec, &grid, shard, &HashSet::new());
    let jobs = grid.len() * spec.trials;
    let n_post = 1 + spec.model.alpha.len() * spec.model.strategies.len();
    let busy = threads.min(todo.len() * n_post).max(1);
    Ok(RunEstimate {
        seconds: serial.seconds * todo.len() as f64 / jobs.max(1) as f64 / busy as f64,
        trials: todo.len(),
        grid_trials: jobs,
        threads,
        shard,
        exact_shape: serial.exact_shape,
    })
}
