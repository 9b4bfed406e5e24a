//! The generic experiment runner: grid cells x trials in parallel, each finished trial appended at once to a
//! JSONL results file, resumable, shardable.
//!
//! The runner plans (the grid's [`cells`], a shard's [`pending`] trials) and runs; one trial of one cell is the
//! trial pipeline ([`crate::pipeline::trial`]) with the cell's configuration ([`trial_config`]):
//! 1. data: DNF data is generated per trial (the same for every cell with the same clause count); loaded data
//!    sets (FashionMNIST, embeddings) are shared by all trials;
//! 2. the dense model (`depth - 1` hidden layers of the cell's width; LayerNorm before every hidden activation
//!    when `depth > 2` unless `model.layernorm` says otherwise) is trained for the cell's `pre_epochs`;
//! 3. from it, in parallel, the post-split models train for the post-split epochs with a fresh Adam and the
//!    same batch order: the dense model itself (as much total training as the others), then one FPE model per
//!    `alpha` x strategy at the dense model's non-zero budget (alternating expansion of hidden layers
//!    0, 2, 4, ... when deep), with its masks fixed or, with `extras.rewiring`, rewired every `every` epochs;
//! 4. the interference metrics the spec asks for are computed on every final model.
//!
//! Every trial is sequential inside each model, so results are bit-identical at any thread count. A trial is
//! identified by its cell key and index; rerunning skips the ones already in the results file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
pub use crate::experiment::record::TrialRecord;
use crate::experiment::spec::{DatasetSpec, Spec};
use crate::pipeline::settings::{Profile, Settings};
pub use crate::pipeline::trial::ModelRecord;
use crate::pipeline::trial::{self, Streams, TrialConfig};
use crate::provenance::Provenance;

/// One point of the grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// DNF clause count (DNF data only).
    pub clauses: Option<usize>,
    /// Layers including the head.
    pub depth: usize,
    /// Hidden width of the dense model.
    pub neurons: usize,
    /// Epochs before the split.
    pub pre_epochs: usize,
    /// The protocol variant (spec `[[variants]]`), if the spec has variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Cell {
    /// A stable, readable identifier, e.g. `clauses=8 depth=2 neurons=8 pre=1000`, followed by
    /// ` protocol=NAME` for a protocol variant.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} protocol={v}", self.model_key()),
            None => self.model_key(),
        }
    }

    /// The key of the cell's model configuration without its protocol variant: the trials' random streams
    /// derive from it, so every variant of a cell shares seeds, data and initialisations.
    pub fn model_key(&self) -> String {
        trial::model_key(self.clauses, &self.hidden(), self.pre_epochs)
    }

    /// Hidden widths of the cell's dense model: `depth - 1` layers of `neurons` each.
    pub fn hidden(&self) -> Vec<usize> {
        vec![self.neurons; self.depth.saturating_sub(1)]
    }
}

/// The grid of a spec, in a fixed order (clauses, depth, neurons, pre-training, protocol variant).
pub fn cells(spec: &Spec) -> Vec<Cell> {
    let clauses: Vec<Option<usize>> = match &spec.dataset {
        DatasetSpec::Dnf { clauses, .. } => clauses.iter().map(|&c| Some(c)).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for &c in &clauses {
        for &depth in &spec.model.depth {
            for &neurons in &spec.model.neurons {
                for &pre_epochs in &spec.train.pre_epochs {
                    let variants: Vec<Option<String>> = if spec.variants.is_empty() {
                        vec![None]
                    } else {
                        spec.variants.iter().map(|v| Some(v.name.clone())).collect()
                    };
                    for variant in variants {
                        out.push(Cell {
                            clauses: c,
                            depth,
                            neurons,
                            pre_epochs,
                            variant,
                        });
                    }
                }
            }
        }
    }
    out
}

/// One slice of the grid: job `i` (cells x trials, trial-minor) belongs to shard `i mod n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `1..=n`.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "shard",
                format!("'{s}' is not K/N with 1 <= K <= N (e.g. 2/8: the second of eight slices)"),
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether job `i` is this shard's.
    pub fn owns(&self, i: usize) -> bool {
        i % self.n == self.k - 1
    }
}

/// Train and test sets loaded once for every trial (FashionMNIST, embeddings), or `None` for DNF data.
pub fn load_fixed_data(spec: &Spec, data_dir: Option<&Path>) -> Result<Option<(Dataset, Dataset)>> {
    // The first `n` rows; asking for more rows than the data has is an error, never a silent shortfall.
    let take = |mut d: Dataset, n: Option<usize>, what: &str| -> Result<Dataset> {
        if let Some(n) = n {
            if n > d.n {
                return Err(Error::invalid(
                    format!("dataset.{what}"),
                    format!("{n} rows asked for but the data has only {}", d.n),
                ));
            }
            d.x.truncate(n * d.d);
            d.y.truncate(n);
            d.n = n;
        }
        Ok(d)
    };
    match &spec.dataset {
        DatasetSpec::Dnf { .. } => Ok(None),
        DatasetSpec::FashionMnist {
            data_dir: dir,
            n_train,
            n_test,
        } => {
            let dir = data_dir.or(dir.as_deref());
            let (tr, te) = crate::data::idx::fashion_mnist(dir)?;
            Ok(Some((
                take(tr, *n_train, "n_train")?,
                take(te, *n_test, "n_test")?,
            )))
        }
        DatasetSpec::Embeddings {
            path,
            n_train,
            n_test,
        } => {
            let path = data_dir.map_or(path.clone(), |d| d.join(path));
            let (tr, te) = crate::data::npy::load_embeddings(&path)?;
            Ok(Some((
                take(tr, *n_train, "n_train")?,
                take(te, *n_test, "n_test")?,
            )))
        }
    }
}

/// The data files a spec reads (for their checksums): FashionMNIST's four IDX files, the embeddings archive or
/// folder's arrays; none for generated DNF data.
pub fn data_files(spec: &Spec, data_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    match &spec.dataset {
        DatasetSpec::Dnf { .. } => Ok(Vec::new()),
        DatasetSpec::FashionMnist { data_dir: dir, .. } => {
            crate::data::idx::fashion_mnist_files(data_dir.or(dir.as_deref()))
        }
        DatasetSpec::Embeddings { path, .. } => {
            let path = data_dir.map_or(path.clone(), |d| d.join(path));
            Ok(crate::data::npy::embedding_files(&path))
        }
    }
}

/// The fingerprint of `spec`'s results when trained on `device`, as every results record carries it (16 hex
/// digits): [`Spec::fingerprint`] on the CPU, a different one on a GPU (whose results differ from the CPU's by
/// float rounding), so that a results file is only resumed, and shards only merged, on the kind of device that
/// wrote them. The one fingerprint of a run: the runner, the shard merge and the default output folder all use
/// this function.
pub fn fingerprint(spec: &Spec, device: Device) -> String {
    let fp = match device {
        Device::Cpu => spec.fingerprint(),
        Device::Cuda(_) => {
            crate::rng::fnv1a(format!("{:016x} cuda", spec.fingerprint()).as_bytes())
        }
    };
    format!("{fp:016x}")
}

/// Checks what a run of the (validated) `spec` on `device` needs besides the spec's own validity: every
/// strategy built in, and every cell's trial configuration valid on `device`.
pub fn check_runnable(spec: &Spec, device: Device) -> Result<()> {
    spec.check_available()?;
    for cell in cells(spec) {
        trial_config(spec, &cell, device)?.validate()?;
    }
    Ok(())
}

/// The trial pipeline's configuration of `cell` (on `device`). A clause split needs at least as many clauses
/// as children: in a cell with fewer clauses than `alpha`, the clause split at that `alpha` is left out (e.g.
/// Table A1's 3 clauses at alpha 4).
pub fn trial_config(spec: &Spec, cell: &Cell, device: Device) -> Result<TrialConfig> {
    let post_epochs = spec.post_epochs(cell.pre_epochs);
    let mut expansions = Vec::new();
    for &a in &spec.model.alpha {
        for &s in &spec.model.strategies {
            if s == crate::expand::Strategy::Clause && cell.clauses.is_some_and(|c| c < a.get()) {
                continue;
            }
            expansions.push((a, s));
        }
    }
    let rewiring = spec.extras.rewiring;
    Settings {
        hidden: Some(cell.hidden()),
        layernorm: Some(spec.layernorm(cell.depth)),
        epochs: Some(cell.pre_epochs),
        post_epochs: Some(post_epochs),
        batch_size: Some(spec.train.batch_size),
        lr: Some(spec.train.lr),
        l1: Some(spec.train.l1),
        l2: Some(spec.train.l2),
        precision: Some(spec.train.precision),
        expansions,
        rewire_every: rewiring.map(|r| r.every),
        rewire_fraction: rewiring.map(|r| r.fraction),
        rewire_decay: rewiring.map(|r| r.decay),
        dense_baseline: Some(true),
        metrics: Some(spec.extras.metrics.clone()),
        curve_every: Some(spec.train.curve_every),
        device: Some(device),
        protocol: Some(spec.protocol_of(cell.variant.as_deref())?),
        threads: Some(1),
        ..Settings::new(Profile::Paper)
    }
    .build()
}

/// Runs one trial of one cell on the CPU (see the module docs).
pub fn run_trial(
    spec: &Spec,
    cell: &Cell,
    trial: usize,
    fixed: Option<&(Dataset, Dataset)>,
) -> Result<TrialRecord> {
    run_trial_on(spec, cell, trial, fixed, Device::Cpu)
}

/// Runs one trial of one cell on `device`.
pub fn run_trial_on(
    spec: &Spec,
    cell: &Cell,
    trial: usize,
    fixed: Option<&(Dataset, Dataset)>,
    device: Device,
) -> Result<TrialRecord> {
    run_trial_with(spec, cell, trial, fixed, device, &fingerprint(spec, device))
}

/// [`run_trial_on`] with the run's fingerprint computed once by the caller.
fn run_trial_with(
    spec: &Spec,
    cell: &Cell,
    trial: usize,
    fixed: Option<&(Dataset, Dataset)>,
    device: Device,
    fp: &str,
) -> Result<TrialRecord> {
    let owned;
    let (train, test) = match (fixed, cell.clauses, &spec.dataset) {
        (Some((tr, te)), _, _) => (tr, te),
        (
            None,
            Some(c),
            DatasetSpec::Dnf {
                k, n_train, n_test, ..
            },
        ) => {
            owned = trial::dnf_data(spec.seed, c, *k, *n_train, *n_test, trial)?;
            (&owned.0, &owned.1)
        }
        _ => return Err(Error::invalid("dataset", "no data for this cell")),
    };
    let streams = Streams::for_model(spec.seed, &cell.model_key(), trial);
    let cfg = trial_config(spec, cell, device)?;
    let out = trial::run(&cfg, train, test, streams, &|_| {})?;
    Ok(TrialRecord {
        spec: spec.name.clone(),
        fingerprint: fp.to_string(),
        cell: cell.key(),
        trial,
        seed: streams.record_seed(),
        pre_test_acc: out.pre_test_acc,
        pre_nnz: out.dense.nnz(),
        models: out.posts.into_iter().map(|p| p.record).collect(),
        pre_seconds: out.pre_seconds,
        protocol: Some(cfg.protocol),
        n_train: Some(train.n),
        n_test: Some(test.n),
        provenance: None,
    })
}

/// Reads a results file without changing it: its distinct trial records (see
/// [`store::read`](crate::experiment::store::read)); duplicates and a torn last record are left out.
pub fn read_records(path: &Path, fingerprint: Option<&str>) -> Result<Vec<TrialRecord>> {
    Ok(crate::experiment::store::read(path, fingerprint)?.records)
}

/// How to run a spec.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Run only this slice of the grid.
    pub shard: Option<Shard>,
    /// The JSONL results file (appended to, resumed from).
    pub results: PathBuf,
    /// Overrides the data folder of FashionMNIST / the base folder of an embeddings path.
    pub data_dir: Option<PathBuf>,
    /// Where the trials train. On a GPU trials run one after the other (`threads` then only sets the CPU's
    /// share: data, expansion, metrics).
    pub device: Device,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Every record in the results file after the run (earlier ones included), sorted by cell and trial.
    pub records: Vec<TrialRecord>,
    /// Trials run now.
    pub ran: usize,
    /// Trials found finished and skipped.
    pub skipped: usize,
    /// Wall-clock seconds of this run.
    pub wall_seconds: f64,
    /// This run's provenance (also in every record it wrote).
    pub provenance: Provenance,
    /// What reading the results file warned about (dropped duplicates, a repaired torn record).
    pub warnings: Vec<String>,
}

/// The trials (cell index, trial) this run owes: the shard's, minus those in `done`.
pub fn pending(
    spec: &Spec,
    cells: &[Cell],
    shard: Option<Shard>,
    done: &HashSet<(String, usize)>,
) -> (Vec<(usize, usize)>, usize) {
    let mut todo = Vec::new();
    let mut skipped = 0;
    for (ci, cell) in cells.iter().enumerate() {
        for t in 0..spec.trials {
            let job = ci * spec.trials + t;
            if shard.is_some_and(|s| !s.owns(job)) {
                continue;
            }
            if done.contains(&(cell.key(), t)) {
                skipped += 1;
            } else {
                todo.push((ci, t));
            }
        }
    }
    (todo, skipped)
}

/// What a run reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum RunEvent<'a> {
    /// The results file is read and the plan made; no trial has run yet.
    Planned {
        /// Trials this run will train.
        todo: usize,
        /// Trials of this run's share found finished in the results file.
        skipped: usize,
        /// Worker threads (0 resolved to the cores).
        threads: usize,
    },
    /// A trial finished and was appended to the results file.
    Trial {
        /// Its record.
        record: &'a TrialRecord,
        /// Trials finished by this run so far (this one included).
        done: usize,
        /// Trials this run trains.
        total: usize,
    },
}

/// Runs a spec: every pending trial in parallel, each appended to `opts.results` as soon as it finishes;
/// `on_trial(record, finished_now, pending_total)` is called after each append. Validates the spec first.
pub fn run(
    spec: &Spec,
    opts: &RunOptions,
    on_trial: impl Fn(&TrialRecord, usize, usize) + Sync,
) -> Result<RunOutcome> {
    spec.validate()?;
    check_runnable(spec, opts.device)?;
    run_checked(spec, opts, &fingerprint(spec, opts.device), |event| {
        if let RunEvent::Trial {
            record,
            done,
            total,
        } = event
        {
            on_trial(record, done, total);
        }
    })
}

/// [`run`] of a spec already validated and checked ([`check_runnable`]) under its fingerprint `fp` (of
/// [`fingerprint`]), reporting to `on_event`; the results file is read once, when it is locked.
pub(crate) fn run_checked(
    spec: &Spec,
    opts: &RunOptions,
    fp: &str,
    on_event: impl Fn(RunEvent<'_>) + Sync,
) -> Result<RunOutcome> {
    let start = Instant::now();
    if let Some(dir) = opts.results.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    // Locked, read and opened for appending now, so that a busy or unwritable file fails before any work.
    let (writer, read) = crate::experiment::store::Writer::open(&opts.results, Some(fp))?;
    let before = read.records;
    let done: HashSet<(String, usize)> = before.iter().map(|r| (r.cell.clone(), r.trial)).collect();
    let grid = cells(spec);
    let (todo, skipped) = pending(spec, &grid, opts.shard, &done);
    let (threads, _) = crate::pipeline::resolve_threads(opts.threads);
    on_event(RunEvent::Planned {
        todo: todo.len(),
        skipped,
        threads,
    });
    let fixed = if todo.is_empty() {
        None
    } else {
        load_fixed_data(spec, opts.data_dir.as_deref())?
    };
    if let Some((train, _)) = &fixed {
        // The loaded data's real width and class count: the models must fit before any trial starts.
        spec.check_trial_memory(&[train.d], train.task.outputs(), None)?;
    }
    // After loading, so that a missing data file gets the loader's message; only files that are there (with
    // nothing to run, the data may live elsewhere).
    let files: Vec<PathBuf> = match data_files(spec, opts.data_dir.as_deref()) {
        Ok(files) => files.into_iter().filter(|f| f.is_file()).collect(),
        Err(_) if todo.is_empty() => Vec::new(),
        Err(e) => return Err(e),
    };
    let provenance = Provenance::collect(threads, &files)?;
    let sink = Mutex::new((writer, 0usize));
    let total = todo.len();
    let threads = if opts.device == Device::Cpu {
        threads
    } else {
        1
    };
    let new = super::with_threads(threads, || {
        todo.par_iter()
            .map(|&(ci, t)| -> Result<TrialRecord> {
                let mut rec = run_trial_with(spec, &grid[ci], t, fixed.as_ref(), opts.device, fp)?;
                rec.provenance = Some(provenance.clone());
                let mut guard = sink.lock().unwrap_or_else(|p| p.into_inner());
                guard.0.append(&rec)?;
                guard.1 += 1;
                on_event(RunEvent::Trial {
                    record: &rec,
                    done: guard.1,
                    total,
                });
                Ok(rec)
            })
            .collect::<Vec<Result<TrialRecord>>>()
    })?;
    let (writer, _) = sink.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut records = before;
    for r in new {
        records.push(r?);
    }
    writer.sync()?;
    sort_records(&grid, &mut records);
    Ok(RunOutcome {
        records,
        ran: total,
        skipped,
        wall_seconds: start.elapsed().as_secs_f64(),
        provenance,
        warnings: read.warnings,
    })
}

/// Sorts records by grid order, then trial (records of cells not in the grid last, by key).
pub fn sort_records(grid: &[Cell], records: &mut [TrialRecord]) {
    let order: BTreeMap<String, usize> =
        grid.iter().enumerate().map(|(i, c)| (c.key(), i)).collect();
    records.sort_by(|a, b| {
        let ka = (
            order.get(&a.cell).copied().unwrap_or(usize::MAX),
            &a.cell,
            a.trial,
        );
        let kb = (
            order.get(&b.cell).copied().unwrap_or(usize::MAX),
            &b.cell,
            b.trial,
        );
        ka.cmp(&kb)
    });
}

/// Joins result files (e.g. one per shard) into `out` (see
/// [`store::merge`](crate::experiment::store::merge)): records are deduplicated by cell and trial; two different
/// records for the same trial, or records of different specs, are an error; no input is written. Returns the
/// count.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<usize> {
    Ok(crate::experiment::store::merge(inputs, out)?.0)
}
