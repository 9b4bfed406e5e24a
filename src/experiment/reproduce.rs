//! The reproduce workflow as one library call: a spec (built in or a user's file) with its overrides, run
//! resumably, summarised, compared with the paper, and written as a report with its figures.
//!
//! Every front calls the same functions: `neurosplit reproduce` parses its flags into [`Overrides`] and
//! [`ReproduceOptions`], calls [`Experiment::load`] and [`run`], and prints what they return; the Python
//! package's `neurosplit.reproduce` does the same. The steps of [`run`]:
//! 1. the effective spec is validated once ([`Experiment::load`]), and what the run needs besides
//!    ([`runner::check_runnable`]) before anything is written;
//! 2. the run's one fingerprint ([`runner::fingerprint`], device included) names the default output folder,
//!    checks the joined shards ([`merge`]) and the results file;
//! 3. the runner reads the results file once, trains the pending trials and appends each
//!    ([`runner::run_checked`]); progress goes to the caller's `on_event` as [`Event`]s, never to the console;
//! 4. the records are summarised ([`report::summarize`], with the spec's p-value correction), compared with the
//!    paper where [`PaperScope`] admits it, and, for a whole run (not one shard), written as `report.md` with its
//!    figures beside it; with [`ReproduceOptions::json`], the results and summaries as JSON too.
//!
//! A run whose expanded models do not keep the dense model's non-zero count still writes its report (so the
//! discrepancy can be read), and [`Reproduction::check_budget`] turns it into an error.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::expand::{Alpha, Strategy};
use crate::experiment::estimate::{estimate as estimate_spec, CostModel};
use crate::experiment::paper_scope::PaperScope;
use crate::experiment::report::{self, CellSummary, ReportContext};
use crate::experiment::runner::{self, RunEvent, RunOptions, Shard, TrialRecord};
use crate::experiment::spec::{self, DatasetSpec, Spec, BUILTIN};
use crate::experiment::{ablation, figures, paper_tables};

/// Changes to a spec's values before it runs: each `Some` replaces the spec's value (a list replaces the whole
/// axis), then `holm`, then the `set` assignments. Every change shows in the report as an override of the
/// committed spec and is part of the fingerprint.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Trials per grid cell.
    pub trials: Option<usize>,
    /// Base seed.
    pub seed: Option<u64>,
    /// DNF clause counts (DNF specs only).
    pub clauses: Option<Vec<usize>>,
    /// DNF literals per clause (DNF specs only).
    pub k: Option<usize>,
    /// Hidden widths of the dense model.
    pub neurons: Option<Vec<usize>>,
    /// Expansion factors.
    pub alpha: Option<Vec<Alpha>>,
    /// Split strategies.
    pub strategies: Option<Vec<Strategy>>,
    /// LayerNorm before every hidden activation.
    pub layernorm: Option<bool>,
    /// Epochs before the split.
    pub pre_epochs: Option<Vec<usize>>,
    /// Epochs after the split (replaces a `total_epochs`).
    pub post_epochs: Option<usize>,
    /// Training samples.
    pub n_train: Option<usize>,
    /// Test samples.
    pub n_test: Option<usize>,
    /// Samples per step.
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    pub lr: Option<f32>,
    /// L1 penalty on the first layer's weights.
    pub l1: Option<f32>,
    /// L2 penalty on all parameters.
    pub l2: Option<f32>,
    /// Holm-adjust the per-cell p-values over the grid (`report.correction = "holm"`).
    pub holm: bool,
    /// `KEY=VALUE` assignments of any spec key, the value as TOML (e.g. `model.depth=[3,5]`; a bare word that
    /// is not TOML is a string), applied last.
    pub set: Vec<String>,
}

impl Overrides {
    /// Applies the value overrides and `holm` to `spec` (not the assignments; nothing is validated here).
    fn apply_values(&self, spec: &mut Spec) -> Result<()> {
        let set = |dst: &mut Option<usize>, v: Option<usize>| {
            if v.is_some() {
                *dst = v;
            }
        };
        if let Some(v) = self.trials {
            spec.trials = v;
        }
        if let Some(v) = self.seed {
            spec.seed = v;
        }
        match &mut spec.dataset {
            DatasetSpec::Dnf {
                clauses,
                k,
                n_train,
                n_test,
            } => {
                if let Some(v) = &self.clauses {
                    *clauses = v.clone();
                }
                *k = self.k.unwrap_or(*k);
                *n_train = self.n_train.unwrap_or(*n_train);
                *n_test = self.n_test.unwrap_or(*n_test);
            }
            DatasetSpec::FashionMnist {
                n_train, n_test, ..
            }
            | DatasetSpec::Embeddings {
                n_train, n_test, ..
            } => {
                if self.clauses.is_some() || self.k.is_some() {
                    return Err(Error::invalid(
                        "--clauses/--k",
                        "only DNF experiments have clauses",
                    ));
                }
                set(n_train, self.n_train);
                set(n_test, self.n_test);
            }
        }
        if let Some(v) = &self.neurons {
            spec.model.neurons = v.clone();
        }
        if let Some(v) = &self.alpha {
            spec.model.alpha = v.clone();
        }
        if let Some(v) = &self.strategies {
            spec.model.strategies = v.clone();
        }
        if self.layernorm.is_some() {
            spec.model.layernorm = self.layernorm;
        }
        if let Some(v) = &self.pre_epochs {
            spec.train.pre_epochs = v.clone();
        }
        if let Some(v) = self.post_epochs {
            spec.train.post_epochs = Some(v);
            spec.train.total_epochs = None;
        }
        spec.train.batch_size = self.batch_size.unwrap_or(spec.train.batch_size);
        spec.train.lr = self.lr.unwrap_or(spec.train.lr);
        spec.train.l1 = self.l1.unwrap_or(spec.train.l1);
        spec.train.l2 = self.l2.unwrap_or(spec.train.l2);
        if self.holm {
            spec.report.correction = crate::stats::Correction::Holm;
        }
        Ok(())
    }
}

/// Applies `KEY=VALUE` assignments to a spec: the spec as a TOML table, each dotted key set to its value parsed
/// as TOML (a bare word that is not TOML is taken as a string), then read back, so that an unknown key or a
/// value of the wrong type is an error that names it. The result is not validated here.
fn assign(spec: Spec, assignments: &[String]) -> Result<Spec> {
    if assignments.is_empty() {
        return Ok(spec);
    }
    let bad = |what: &str, msg: String| Error::invalid(format!("--set {what}"), msg);
    let mut root = toml::Table::try_from(&spec).map_err(|e| bad("", e.to_string()))?;
    for a in assignments {
        let (key, text) = a
            .split_once('=')
            .ok_or_else(|| bad(a, "is not KEY=VALUE (e.g. model.depth=[3,5])".into()))?;
        let key = key.trim();
        let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
            Ok(mut t) => t.remove("v").expect("parsed the key v"),
            Err(_) if !text.trim().is_empty() && !text.contains(['[', '{', '"', '\'', '=']) => {
                toml::Value::String(text.trim().to_string())
            }
            Err(e) => return Err(bad(a, format!("the value is not TOML: {e}"))),
        };
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad(a, "empty key".into()));
        }
        let mut table = &mut root;
        for p in &parts[..parts.len() - 1] {
            let entry = table
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| bad(a, format!("'{p}' is a value, not a table of keys")))?;
        }
        table.insert(parts[parts.len() - 1].to_string(), value);
    }
    let text = toml::to_string(&root).map_err(|e| bad("", e.to_string()))?;
    toml::from_str(&text).map_err(|e| {
        Error::invalid(
            format!(
                "experiment spec after --set {}",
                assignments.join(" --set ")
            ),
            e.to_string(),
        )
    })
}

/// A spec ready to run: the committed spec (the built-in file, or the user's file as written: the settings its
/// paper numbers assume) and the effective one (with the overrides), validated.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The spec as committed.
    pub committed: Spec,
    /// The spec this run uses.
    pub spec: Spec,
}

impl Experiment {
    /// Loads a built-in spec by name or a spec file by path, applies `overrides` and validates the result
    /// (once: an override that makes the spec invalid or too large is an error naming it).
    pub fn load(name_or_path: &str, overrides: &Overrides) -> Result<Experiment> {
        let committed = Spec::load(name_or_path)?;
        let mut spec = committed.clone();
        overrides.apply_values(&mut spec)?;
        let spec = assign(spec, &overrides.set)?;
        spec.validate()?;
        Ok(Experiment { committed, spec })
    }

    /// The effective spec as TOML: itself a valid spec file.
    pub fn toml(&self) -> Result<String> {
        toml::to_string(&self.spec).map_err(|e| Error::invalid("spec", e.to_string()))
    }

    /// Which cells may show the paper's numbers, and the overrides of the committed spec.
    pub fn scope(&self) -> PaperScope {
        PaperScope::new(&self.committed, &self.spec)
    }
}

/// `threads` with 0 (all cores) resolved to the size of the thread pool.
pub fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    }
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
    pub estimate: crate::experiment::estimate::Estimate,
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

/// How to run an [`Experiment`].
#[derive(Clone, Debug, Default)]
pub struct ReproduceOptions {
    /// Folder for the results file and the report (default: `results/NAME-FINGERPRINT`, the fingerprint's first
    /// 8 hex digits).
    pub out: Option<PathBuf>,
    /// The JSONL results file (default: `OUT/trials.jsonl`, or `OUT/trials.shard-K-of-N.jsonl` with a shard).
    pub results: Option<PathBuf>,
    /// Run only this slice of the grid (no report is written; join the slices with `merge_shards`).
    pub shard: Option<Shard>,
    /// Join the N slices of a sharded run (`OUT/trials.shard-K-of-N.jsonl`) into the results file first (see
    /// [`merge`]).
    pub merge_shards: Option<usize>,
    /// Worker threads (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Where the trials train.
    pub device: Device,
    /// FashionMNIST folder, or the folder an embeddings path is relative to.
    pub data_dir: Option<PathBuf>,
    /// Also write the per-trial results and the summaries to this JSON file (checked writable before any
    /// trial runs).
    pub json: Option<PathBuf>,
    /// The command recorded in the report (e.g. the command line).
    pub command: String,
}

impl ReproduceOptions {
    /// The output folder of a run of `spec` under fingerprint `fp`.
    fn out_dir(&self, spec: &Spec, fp: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/{}-{}", spec.name, &fp[..8])))
    }

    /// The results file in `out`.
    fn results_in(&self, out: &Path) -> PathBuf {
        self.results.clone().unwrap_or_else(|| match self.shard {
            Some(s) => out.join(format!("trials.shard-{}-of-{}.jsonl", s.k, s.n)),
            None => out.join("trials.jsonl"),
        })
    }
}

/// What [`run`] reports while it runs, for the caller to show (a progress bar, log lines) or ignore.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Something the caller should be told (e.g. a capped thread count).
    Warning(&'a str),
    /// The slices of a sharded run were joined into the results file.
    Merged {
        /// Distinct trials in the results file now.
        trials: usize,
        /// Slices joined.
        slices: usize,
        /// The results file.
        results: &'a Path,
    },
    /// The results file is read and the plan made; no trial has run yet.
    Planned {
        /// Grid cells.
        cells: usize,
        /// Trials this run trains.
        todo: usize,
        /// Trials of this run's share found finished in the results file.
        skipped: usize,
        /// The results file.
        results: &'a Path,
        /// Worker threads (0 resolved to the cores).
        threads: usize,
    },
    /// A trial finished and was appended to the results file.
    Trial {
        /// Its record.
        record: &'a TrialRecord,
        /// Trials finished by this run so far.
        done: usize,
        /// Trials this run trains.
        total: usize,
        /// Seconds since the trials started.
        elapsed: f64,
        /// Mean final test accuracy so far of each model (`dense`, `clause@2`, ...), over this run's trials.
        means: &'a [(String, f64)],
    },
}

/// Joins the `n` slices of a sharded run in `out` (`trials.shard-K-of-N.jsonl`, and any earlier `results`)
/// into `results`, after checking that every slice is present and finished under the run's fingerprint
/// ([`runner::fingerprint`] of `spec` on `device`: the one its shards recorded). Names every missing or
/// unfinished slice, with the array task id that reruns it, instead of merging a partial run; nothing is
/// written then. Returns the count of distinct trials merged.
pub fn merge(spec: &Spec, device: Device, out: &Path, n: usize, results: &Path) -> Result<usize> {
    if n == 0 {
        return Err(Error::invalid("--merge-shards", "must be at least 1"));
    }
    let fp = runner::fingerprint(spec, device);
    let grid = runner::cells(spec);
    let mut files = Vec::new();
    let mut missing = Vec::new();
    let mut ids = Vec::new();
    for k in 1..=n {
        let shard = Shard { k, n };
        let path = out.join(format!("trials.shard-{k}-of-{n}.jsonl"));
        let owed = runner::pending(spec, &grid, Some(shard), &HashSet::new())
            .0
            .len();
        let done: HashSet<(String, usize)> = runner::read_records(&path, Some(&fp))?
            .iter()
            .map(|r| (r.cell.clone(), r.trial))
            .collect();
        let left = runner::pending(spec, &grid, Some(shard), &done).0.len();
        if left > 0 {
            let what = if path.is_file() {
                format!("{left} of {owed} trials not finished")
            } else {
                "no results file".to_string()
            };
            missing.push(format!("slice {k}/{n} (array task {}): {what}", k - 1));
            ids.push((k - 1).to_string());
        }
        if path.is_file() {
            files.push(path);
        }
    }
    if !missing.is_empty() {
        return Err(Error::invalid(
            "merge",
            format!(
                "{} of {n} slices are incomplete in {}:\n  {}\nrerun them (e.g. sbatch --array={} \
                 scripts/slurm-array.sh ... --shards {n}), then merge again",
                missing.len(),
                out.display(),
                missing.join("\n  "),
                ids.join(",")
            ),
        ));
    }
    if results.is_file() {
        files.insert(0, results.to_path_buf());
    }
    runner::merge(&files, results)
}

/// What a reproduction produced.
#[derive(Clone, Debug)]
pub struct Reproduction {
    /// The effective spec.
    pub spec: Spec,
    /// Which cells show the paper's numbers, and the overrides of the committed spec.
    pub scope: PaperScope,
    /// The run's fingerprint ([`runner::fingerprint`]).
    pub fingerprint: String,
    /// The output folder.
    pub out: PathBuf,
    /// The results file.
    pub results: PathBuf,
    /// The slice run, if one.
    pub shard: Option<Shard>,
    /// Every trial in the results file (earlier runs' included), in grid order.
    pub records: Vec<TrialRecord>,
    /// Per-cell summaries (p-values corrected as the spec says).
    pub summaries: Vec<CellSummary>,
    /// Trials trained by this run.
    pub ran: usize,
    /// Trials found finished and skipped.
    pub skipped: usize,
    /// Wall seconds of this run's trials.
    pub wall_seconds: f64,
    /// Worker threads (0 resolved to the cores).
    pub threads: usize,
    /// What reading the results file warned about.
    pub warnings: Vec<String>,
    /// The report written (`OUT/report.md`), or `None` for a shard.
    pub report: Option<PathBuf>,
    /// The JSON file written, if asked for.
    pub json: Option<PathBuf>,
    /// Whether every expanded model kept the dense model's non-zero count in every trial.
    pub budget_equal: bool,
    /// The comparison with the paper's tables: `(key, alpha, mean abs. relative deviation, rows)`.
    pub readings: Vec<(&'static str, Option<usize>, f64, usize)>,
    /// The protocol variants against the reference (markdown; empty without variants).
    pub variants: String,
}

/// Runs `exp`: merges shards if asked, trains the pending trials (resumable), summarises them and writes the
/// report and its figures (for a whole run) and the JSON (if asked), reporting progress to `on_event`. See
/// the module docs; check [`Reproduction::check_budget`] afterwards.
pub fn run(
    exp: &Experiment,
    opts: &ReproduceOptions,
    on_event: impl Fn(Event<'_>) + Sync,
) -> Result<Reproduction> {
    let spec = &exp.spec;
    let (threads, warning) = crate::limits::cap_threads(opts.threads);
    if let Some(w) = &warning {
        on_event(Event::Warning(w));
    }
    if opts.merge_shards.is_some() && opts.shard.is_some() {
        return Err(Error::invalid(
            "--merge-shards",
            "joins the slices of a sharded run: it cannot run one slice (--shard) too",
        ));
    }
    runner::check_runnable(spec, opts.device)?;
    if let Some(path) = &opts.json {
        // Fail now, not after the run, if the results cannot be written.
        crate::io::atomic::check_writable(path)?;
    }
    let fp = runner::fingerprint(spec, opts.device);
    let out = opts.out_dir(spec, &fp);
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let results = opts.results_in(&out);
    if let Some(n) = opts.merge_shards {
        let trials = merge(spec, opts.device, &out, n, &results)?;
        on_event(Event::Merged {
            trials,
            slices: n,
            results: &results,
        });
    }
    let cells = runner::cells(spec).len();
    let start = Instant::now();
    let means: Mutex<BTreeMap<String, (f64, usize)>> = Mutex::new(BTreeMap::new());
    let run_opts = RunOptions {
        threads,
        shard: opts.shard,
        results: results.clone(),
        data_dir: opts.data_dir.clone(),
        device: opts.device,
    };
    let outcome = runner::run_checked(spec, &run_opts, &fp, |event| match event {
        RunEvent::Planned {
            todo,
            skipped,
            threads,
        } => on_event(Event::Planned {
            cells,
            todo,
            skipped,
            results: &results,
            threads,
        }),
        RunEvent::Trial {
            record,
            done,
            total,
        } => {
            let mut m = means.lock().unwrap_or_else(|p| p.into_inner());
            for model in &record.models {
                let label = match model.alpha {
                    Some(a) => format!("{}@{a}", model.model),
                    None => "dense".into(),
                };
                let e = m.entry(label).or_insert((0.0, 0));
                e.0 += model.test_acc;
                e.1 += 1;
            }
            let now: Vec<(String, f64)> = m
                .iter()
                .map(|(k, (s, c))| (k.clone(), s / *c as f64))
                .collect();
            on_event(Event::Trial {
                record,
                done,
                total,
                elapsed: start.elapsed().as_secs_f64(),
                means: &now,
            });
        }
    })?;
    let threads = resolve_threads(threads);
    let records = outcome.records;
    let mut summaries = report::summarize(spec, &records);
    report::correct(&mut summaries, spec.report.correction);
    let scope = exp.scope();
    let readings = paper_tables::summary(spec, &scope, &summaries);
    let variants = ablation::markdown(spec, &records);
    let budget_equal = records
        .iter()
        .all(|r| r.models.iter().all(|m| m.nnz == r.pre_nnz));
    let report_path = if opts.shard.is_none() {
        let ctx = ReportContext {
            command: opts.command.clone(),
            wall_seconds: outcome.wall_seconds,
            trials_run: outcome.ran,
            compute_seconds: report::compute_seconds(&records),
            threads,
            expected_trials: cells * spec.trials,
            scope: scope.clone(),
            provenance: outcome.provenance.clone(),
            trial_provenance: crate::provenance::Provenance::tally(
                records.iter().map(|r| r.provenance.as_ref()),
            ),
        };
        let figs = figures::write(spec, &summaries, &out);
        let tables = paper_tables::markdown(spec, &scope, &summaries);
        let md = report::markdown(spec, &summaries, &ctx, &tables, &figs);
        let md = ablation::insert_section(md, &variants);
        let path = out.join("report.md");
        crate::io::atomic::write(&path, md)?;
        Some(path)
    } else {
        None
    };
    let mut rep = Reproduction {
        spec: spec.clone(),
        scope,
        fingerprint: fp,
        out,
        results,
        shard: opts.shard,
        records,
        summaries,
        ran: outcome.ran,
        skipped: outcome.skipped,
        wall_seconds: outcome.wall_seconds,
        threads,
        warnings: outcome.warnings,
        report: report_path,
        json: None,
        budget_equal,
        readings,
        variants,
    };
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&rep.json_value())?;
        crate::io::atomic::write(path, text + "\n")?;
        rep.json = Some(path.clone());
    }
    Ok(rep)
}

impl Reproduction {
    /// The results and summaries as `--json` writes them: `{"result": {"spec", "trials", "wall_seconds"},
    /// "summary": [...]}` (the spec without the paper's numbers when no cell is the paper's configuration).
    pub fn json_value(&self) -> Value {
        serde_json::json!({
            "result": {
                "spec": report::spec_as_shown(&self.spec, &self.scope),
                "trials": self.records,
                "wall_seconds": self.wall_seconds
            },
            "summary": self.summaries,
        })
    }

    /// An error if an expanded model's non-zero count differs from the dense model's in any trial (a bug: FPE
    /// keeps the budget by construction).
    pub fn check_budget(&self) -> Result<()> {
        if self.budget_equal {
            Ok(())
        } else {
            Err(Error::invalid(
                "budget",
                "an expanded model's non-zero count differs from the dense model's",
            ))
        }
    }

    /// One flat row per trial x post-split model, for a data frame: `spec`, `fingerprint`, `cell`, the grid
    /// axes (`clauses`, `depth`, `neurons`, `pre_epochs` as integers, `protocol` as its name), the trial's
    /// numbers (`trial`, `seed`, `pre_test_acc`, `pre_nnz`, `pre_seconds`, `n_train`, `n_test`), the model's
    /// (`model`, `alpha` (null for the dense model), `hidden`, `nnz`, `test_acc_at_split`, `test_acc`,
    /// `train_acc`, `seconds`, `rewired`), every interference metric by name, `clause_capacity_I` and
    /// `curve_test_acc_epoch_E`. A value a row does not have is absent from it. The numbers are the records'
    /// own, bit for bit.
    pub fn rows(&self) -> Vec<Map<String, Value>> {
        let mut rows = Vec::new();
        for r in &self.records {
            let mut base = Map::new();
            base.insert("spec".into(), r.spec.clone().into());
            base.insert("fingerprint".into(), r.fingerprint.clone().into());
            base.insert("cell".into(), r.cell.clone().into());
            for part in r.cell.split_whitespace() {
                if let Some((name, value)) = part.split_once('=') {
                    let name = if name == "pre" { "pre_epochs" } else { name };
                    let value = value
                        .parse::<u64>()
                        .map_or_else(|_| Value::from(value), Value::from);
                    base.insert(name.into(), value);
                }
            }
            base.insert("trial".into(), r.trial.into());
            base.insert("seed".into(), r.seed.into());
            base.insert("pre_test_acc".into(), r.pre_test_acc.into());
            base.insert("pre_nnz".into(), r.pre_nnz.into());
            base.insert("pre_seconds".into(), r.pre_seconds.into());
            if let Some(n) = r.n_train {
                base.insert("n_train".into(), n.into());
            }
            if let Some(n) = r.n_test {
                base.insert("n_test".into(), n.into());
            }
            for m in &r.models {
                let mut row = base.clone();
                row.insert("model".into(), m.model.clone().into());
                row.insert("alpha".into(), m.alpha.into());
                row.insert("hidden".into(), m.hidden.into());
                row.insert("nnz".into(), m.nnz.into());
                row.insert("test_acc_at_split".into(), m.test_acc_at_split.into());
                row.insert("test_acc".into(), m.test_acc.into());
                row.insert("train_acc".into(), m.train_acc.into());
                row.insert("seconds".into(), m.seconds.into());
                if let Some(n) = m.rewired {
                    row.insert("rewired".into(), n.into());
                }
                for (k, v) in &m.metrics {
                    row.insert(k.clone(), (*v).into());
                }
                for (i, v) in m.clause_capacity.iter().enumerate() {
                    row.insert(format!("clause_capacity_{i}"), (*v).into());
                }
                for (e, v) in &m.curve {
                    row.insert(format!("curve_test_acc_epoch_{e}"), (*v).into());
                }
                rows.push(row);
            }
        }
        rows
    }

    /// What `neurosplit reproduce` prints after the run: the overrides, the table beside the paper's numbers,
    /// the comparison with the paper's tables, the protocol variants, the budget check, the wall time and the
    /// files written.
    pub fn text(&self) -> String {
        let spec = &self.spec;
        let mut s = String::new();
        if !self.scope.overrides().is_empty() {
            let _ = writeln!(
                s,
                "\noverrides of the committed spec: {}",
                self.scope.title_suffix()
            );
            let blocking: Vec<&str> = self.scope.blocking().map(|o| o.key.as_str()).collect();
            if !spec.paper.is_empty() && !blocking.is_empty() {
                let _ = writeln!(
                    s,
                    "no paper number is shown: the paper did not run this configuration ({} differ from the \
                     committed spec)",
                    blocking.join(", ")
                );
            }
        }
        if !spec.report.correction.is_none() {
            s.push_str("p-values: Holm-adjusted over the grid (one family per kind of test)\n");
        }
        let _ = writeln!(s, "\n{}", report::table(spec, &self.scope, &self.summaries));
        if !self.readings.is_empty() {
            s.push_str(
                "the paper's tables beside each reading (mean abs. relative deviation; rows in report.md):\n",
            );
            for (key, alpha, dev, n) in &self.readings {
                let models = alpha.map_or("dense".to_string(), |a| format!("FPE alpha={a}"));
                let _ = writeln!(
                    s,
                    "  {key:<28} {models:<12} {:>6.1}% over {n} rows",
                    100.0 * dev
                );
            }
            s.push('\n');
        }
        if !self.variants.is_empty() {
            let _ = writeln!(
                s,
                "protocol variants against the reference:\n\n{}",
                self.variants
            );
        }
        let _ = writeln!(
            s,
            "non-zero weights (every layer, biases not counted): {}",
            if self.budget_equal {
                "equal in every trial"
            } else {
                "NOT EQUAL: this is a bug"
            }
        );
        let _ = writeln!(
            s,
            "wall time: {:.1} s on {} threads ({} trials run, {} resumed from {})",
            self.wall_seconds,
            self.threads,
            self.ran,
            self.skipped,
            self.results.display()
        );
        if let Some(sh) = self.shard {
            let _ = writeln!(
                s,
                "shard {}/{} done; join the shards with `neurosplit merge -o {} {}/trials.shard-*-of-{}.jsonl`, \
                 then rerun without --shard to write the report",
                sh.k,
                sh.n,
                self.out.join("trials.jsonl").display(),
                self.out.display(),
                sh.n
            );
        }
        if let Some(path) = &self.report {
            let _ = writeln!(s, "report written to {}", path.display());
        }
        if let Some(path) = &self.json {
            let _ = writeln!(s, "results written to {}", path.display());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_then_assignments_validated_once() {
        let o = Overrides {
            trials: Some(2),
            post_epochs: Some(10),
            set: vec!["train.lr=0.01".into(), "model.depth=[2]".into()],
            ..Overrides::default()
        };
        let exp = Experiment::load("case-study", &o).unwrap();
        assert_eq!(exp.spec.trials, 2);
        assert_eq!(exp.spec.train.post_epochs, Some(10));
        assert_eq!(exp.spec.train.lr, 0.01);
        assert_ne!(exp.spec.fingerprint(), exp.committed.fingerprint());
        // An override that makes the spec invalid is an error naming it; so is an unknown key.
        let bad = Overrides {
            trials: Some(0),
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("trials"), "{e}");
        let unknown = Overrides {
            set: vec!["train.momentum=0.9".into()],
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &unknown)
            .unwrap_err()
            .to_string();
        assert!(e.contains("momentum"), "{e}");
        let not_kv = Overrides {
            set: vec!["trials".into()],
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &not_kv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn the_device_is_part_of_the_one_fingerprint() {
        let spec = Spec::load("case-study").unwrap();
        let cpu = runner::fingerprint(&spec, Device::Cpu);
        assert_eq!(cpu, format!("{:016x}", spec.fingerprint()));
        let gpu = runner::fingerprint(&spec, Device::Cuda(0));
        assert_eq!(gpu.len(), 16);
        assert_ne!(cpu, gpu);
        assert_eq!(gpu, runner::fingerprint(&spec, Device::Cuda(1)));
    }
}
