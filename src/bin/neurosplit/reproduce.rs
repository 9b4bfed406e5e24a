//! `neurosplit reproduce`: run an experiment spec (built in or a user's file), resumably, and report it.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;

use neurosplit::device::Device;
use neurosplit::expand::{Alpha, Strategy};
use neurosplit::experiment::estimate::{estimate, CostModel};
use neurosplit::experiment::figures;
use neurosplit::experiment::paper_tables;
use neurosplit::experiment::report::{self, PaperScope, ReportContext};
use neurosplit::experiment::runner::{self, RunOptions, Shard, TrialRecord};
use neurosplit::experiment::spec::{self, DatasetSpec, Spec, BUILTIN};
use neurosplit::{Error, Result};

use crate::{progress, write_json};

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// A built-in experiment (see --list) or the path of a spec .toml.
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the built-in experiments with an estimated run time on this machine.
    #[arg(long)]
    pub list: bool,
    /// Folder for the results file and the report (default: results/NAME-FINGERPRINT).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The JSONL results file (default: OUT/trials.jsonl, or OUT/trials.shard-K-of-N.jsonl with --shard).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Run only slice K of N of the grid (e.g. 3/8), for a cluster job array; join with `neurosplit merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Join the N slices of a sharded run (OUT/trials.shard-K-of-N.jsonl) into OUT/trials.jsonl and write the
    /// report; fails, naming them, if any slice is absent or unfinished (nothing is run).
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub merge_shards: Option<usize>,
    /// Print the estimated run time of this run (of one slice with --shard) on --threads threads and exit.
    #[arg(long)]
    pub estimate: bool,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where the trials train: cpu, cuda (GPU 0) or cuda:N (needs a build with --features cuda; trials then run
    /// one after the other; results differ from the CPU's within float rounding).
    #[arg(long, default_value_t = Device::Cpu, value_name = "DEVICE")]
    pub device: Device,
    /// FashionMNIST folder, or the folder an embeddings path is relative to.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Also write the per-trial results and the summary to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print the effective spec (after the overrides below) as TOML and exit.
    #[arg(long)]
    pub print_spec: bool,
    /// No progress output; print only the final table.
    #[arg(long, short)]
    pub quiet: bool,
    /// Holm-adjust the per-cell p-values over the grid (every FPE-vs-dense test one family per kind of test);
    /// the tables, stars and figures show the adjusted values. Same as `--set report.correction=holm`.
    #[arg(long)]
    pub holm: bool,
    /// Set any spec key, as TOML (e.g. --set model.depth=[3,5] --set train.curve_every=10); repeatable,
    /// applied after the flags above, shown by --print-spec, part of the fingerprint. Alg. A3's open choices
    /// are the `protocol` table: --set protocol.warmup=lr|reg|both, protocol.warmup_epochs=W,
    /// protocol.warmup_phase=both|pre|post, protocol.orth=LAMBDA, protocol.child_bias=copy|divide,
    /// protocol.out_column=copy|divide, protocol.adam=fresh|carry, protocol.prune=joint|per-layer (defaults:
    /// the paper's reading; see `neurosplit train --help`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub assign: Vec<String>,
    #[command(flatten)]
    pub set: Overrides,
}

/// Applies `--set KEY=VALUE` assignments to a spec: the spec as a TOML table, each dotted key set to its value
/// parsed as TOML (a bare word that is not TOML is taken as a string), then parsed and validated again, so an
/// unknown key or a bad value is an error that names it.
fn assign(spec: &Spec, assignments: &[String]) -> Result<Spec> {
    if assignments.is_empty() {
        return Ok(spec.clone());
    }
    let bad = |what: &str, msg: String| Error::invalid(format!("--set {what}"), msg);
    let mut root = toml::Table::try_from(spec).map_err(|e| bad("", e.to_string()))?;
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
    Spec::parse(
        &text,
        &format!("after --set {}", assignments.join(" --set ")),
    )
}

/// Overrides of spec values (a list flag replaces the whole axis, e.g. --neurons 4,8).
#[derive(Args, Debug, Default)]
pub struct Overrides {
    /// Trials per grid cell.
    #[arg(long)]
    pub trials: Option<usize>,
    /// Base seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// DNF clause counts.
    #[arg(long, value_delimiter = ',')]
    pub clauses: Option<Vec<usize>>,
    /// DNF literals per clause.
    #[arg(long)]
    pub k: Option<usize>,
    /// Hidden widths of the dense model.
    #[arg(long, value_delimiter = ',')]
    pub neurons: Option<Vec<usize>>,
    /// Expansion factors (children per split neuron, 2 to 1024).
    #[arg(long, value_delimiter = ',')]
    pub alpha: Option<Vec<Alpha>>,
    /// Split strategies (e.g. clause,random; also gram, two-four).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<Strategy>>,
    /// LayerNorm before every hidden activation: true or false (default: the spec's choice, which follows the
    /// depth: on for depth > 2).
    #[arg(long, value_name = "BOOL")]
    pub layernorm: Option<bool>,
    /// Epochs before the split.
    #[arg(long, alias = "epochs1", value_delimiter = ',')]
    pub pre_epochs: Option<Vec<usize>>,
    /// Epochs after the split.
    #[arg(long, alias = "epochs2")]
    pub post_epochs: Option<usize>,
    /// Training samples.
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Test samples.
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Samples per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// L1 penalty on the first layer's weights.
    #[arg(long)]
    pub l1: Option<f32>,
    /// L2 penalty on all parameters.
    #[arg(long)]
    pub l2: Option<f32>,
}

impl Overrides {
    fn apply(&self, spec: &mut Spec) -> Result<()> {
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
        spec.validate()
    }
}

fn fmt_secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
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
            problems.push(format!(
                "{e}; --strategies {} works",
                partial
                    .model
                    .strategies
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        } else {
            problems.push(e.to_string());
        }
    }
    match &spec.dataset {
        DatasetSpec::FashionMnist { data_dir, .. } => {
            let dir = data_dir
                .clone()
                .unwrap_or_else(|| neurosplit::data::idx::FASHION_MNIST_DIR.into());
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

fn list(threads: usize) -> Result<()> {
    let threads = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    };
    eprintln!("measuring the per-step cost on this machine ...");
    let cost = CostModel::measure();
    println!(
        "{:<16} {:<22} {:>7} {:>10} {:>12}  status",
        "name", "paper", "trials", "steps", "est. time"
    );
    for (name, _) in BUILTIN {
        let spec = Spec::load(name)?;
        let est = estimate(&spec, &cost, threads);
        let n_trials = runner::cells(&spec).len() * spec.trials;
        println!(
            "{:<16} {:<22} {:>7} {:>10} {:>12}  {}",
            name,
            spec.paper_ref,
            n_trials,
            est.steps,
            format!(
                "{}{}",
                if est.exact_shape { "" } else { "~" },
                fmt_secs(est.seconds)
            ),
            blocker(&spec).map_or("runs now".to_string(), |b| b),
        );
    }
    println!(
        "\nEstimated for {threads} threads from a cost model measured just now: one step of batch b through \
         widths d -> h -> C takes c0 + c1 * b * (d h + h C) s, with c0 = {:.1} us and c1 = {:.3} ns fitted by \
         timing [32, 8, 1] and [784, 64, 10] at b = 500; expanded layers cost as dense ones of their width. \
         '~': embeddings are assumed 50 000 x 512 with 100 classes (CIFAR-100 CLIP).",
        cost.c0 * 1e6,
        cost.c1 * 1e9
    );
    Ok(())
}

/// `--estimate`: the estimated wall time of this run (one slice of `shard.n` with `--shard`) on `threads`.
fn print_estimate(spec: &Spec, shard: Option<Shard>, threads: usize) -> Result<()> {
    let threads = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    };
    eprintln!("measuring the per-step cost on this machine ...");
    let cost = CostModel::measure();
    // The whole grid's work on one thread, then this run's share of it on the threads its trials can use.
    let serial = estimate(spec, &cost, 1);
    let grid = runner::cells(spec);
    let (todo, _) = runner::pending(spec, &grid, shard, &HashSet::new());
    let jobs = grid.len() * spec.trials;
    let n_post = 1 + spec.model.alpha.len() * spec.model.strategies.len();
    let busy = threads.min(todo.len() * n_post).max(1);
    let seconds = serial.seconds * todo.len() as f64 / jobs.max(1) as f64 / busy as f64;
    println!(
        "{seconds:.0} s estimated for {} of {jobs} trials{} on {threads} threads{}",
        todo.len(),
        shard.map_or(String::new(), |s| format!(" (slice {}/{})", s.k, s.n)),
        if serial.exact_shape {
            ""
        } else {
            " (embeddings assumed 50 000 x 512, 100 classes)"
        }
    );
    Ok(())
}

/// `--merge-shards N`: checks that every slice of an N-way sharded run is present and finished, then joins the
/// slices (and any earlier `trials.jsonl`) into `results`. Names every missing slice, with the array task id
/// that reruns it, instead of merging a partial run.
fn merge_shards(
    spec: &Spec,
    out: &std::path::Path,
    n: usize,
    results: &std::path::Path,
) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("--merge-shards", "must be at least 1"));
    }
    let fp = format!("{:016x}", spec.fingerprint());
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
    let count = runner::merge(&files, results)?;
    println!(
        "{count} trials from {n} slices merged into {}",
        results.display()
    );
    Ok(())
}

pub fn reproduce(mut args: ReproduceArgs) -> Result<()> {
    let (threads, warning) = neurosplit::limits::cap_threads(args.threads);
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    args.threads = threads;
    if args.list {
        return list(args.threads);
    }
    let name = args
        .name
        .as_deref()
        .expect("clap requires a name without --list");
    // The committed spec (the built-in file, or the user's file as written): the settings its paper numbers
    // assume.
    let committed = Spec::load(name)?;
    let mut spec = committed.clone();
    args.set.apply(&mut spec)?;
    if args.holm {
        spec.report.correction = neurosplit::stats::Correction::Holm;
    }
    let spec = assign(&spec, &args.assign)?;
    // The overrides may have made the spec invalid or too large: check before anything is planned.
    spec.validate()?;
    if args.print_spec {
        print!(
            "{}",
            toml::to_string(&spec).map_err(|e| Error::invalid("spec", e.to_string()))?
        );
        return Ok(());
    }
    spec.check_available()?;
    if args.estimate {
        return print_estimate(&spec, args.shard, args.threads);
    }
    let fp = runner::fingerprint(&spec, args.device);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("results/{}-{:08x}", spec.name, fp >> 32)));
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let results = args.results.clone().unwrap_or_else(|| match args.shard {
        Some(s) => out.join(format!("trials.shard-{}-of-{}.jsonl", s.k, s.n)),
        None => out.join("trials.jsonl"),
    });
    if let Some(path) = &args.json {
        // Fail now, not after the run, if the results cannot be written.
        neurosplit::io::atomic::check_writable(path)?;
    }
    let threads = if args.threads == 0 {
        rayon::current_num_threads()
    } else {
        args.threads
    };
    let grid = runner::cells(&spec);
    if let Some(n) = args.merge_shards {
        merge_shards(&spec, &out, n, &results)?;
    }
    let before = runner::read_records(&results, Some(&format!("{fp:016x}")))?;
    let done: HashSet<(String, usize)> = before.iter().map(|r| (r.cell.clone(), r.trial)).collect();
    let (todo, skipped) = runner::pending(&spec, &grid, args.shard, &done);
    if !args.quiet {
        println!(
            "neurosplit reproduce {} ({}): {}\n{} cells x {} trials{}; {} to run, {} already in {}; {} threads",
            spec.name,
            spec.paper_ref,
            spec.title,
            grid.len(),
            spec.trials,
            args.shard.map_or(String::new(), |s| format!(", shard {}/{}", s.k, s.n)),
            todo.len(),
            skipped,
            results.display(),
            threads
        );
    }
    let bar = progress(todo.len() as u64, args.quiet);
    let start = Instant::now();
    let means: Mutex<BTreeMap<String, (f64, usize)>> = Mutex::new(BTreeMap::new());
    let on_trial = |r: &TrialRecord, n: usize, total: usize| {
        let mut m = means.lock().unwrap_or_else(|p| p.into_inner());
        for model in &r.models {
            let label = match model.alpha {
                Some(a) => format!("{}@{a}", model.model),
                None => "dense".into(),
            };
            let e = m.entry(label).or_insert((0.0, 0));
            e.0 += model.test_acc;
            e.1 += 1;
        }
        let mean_text: Vec<String> = m
            .iter()
            .map(|(k, (s, c))| format!("{k} {:.1}%", 100.0 * s / *c as f64))
            .collect();
        match &bar {
            Some(b) => {
                b.inc(1);
                b.set_message(format!("mean acc: {}", mean_text.join(" ")));
            }
            None if !args.quiet => {
                let el = start.elapsed().as_secs_f64();
                let eta = el / n as f64 * (total - n) as f64;
                let accs: Vec<String> = r
                    .models
                    .iter()
                    .map(|m| format!("{} {:.1}%", m.model, 100.0 * m.test_acc))
                    .collect();
                eprintln!(
                    "[{n}/{total}] {} trial {}: {}  (elapsed {}, ETA {}; mean acc: {})",
                    r.cell,
                    r.trial,
                    accs.join("  "),
                    fmt_secs(el),
                    fmt_secs(eta),
                    mean_text.join(" ")
                );
            }
            None => {}
        }
    };
    let opts = RunOptions {
        threads: args.threads,
        shard: args.shard,
        results: results.clone(),
        data_dir: args.data_dir.clone(),
        device: args.device,
    };
    let outcome = runner::run(&spec, &opts, on_trial)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    let mut summaries = report::summarize(&spec, &outcome.records);
    report::correct(&mut summaries, spec.report.correction);
    let scope = PaperScope::new(&committed, &spec);
    if !scope.overrides().is_empty() {
        println!(
            "\noverrides of the committed spec: {}",
            scope.title_suffix()
        );
        let blocking: Vec<&str> = scope.blocking().map(|o| o.key.as_str()).collect();
        if !spec.paper.is_empty() && !blocking.is_empty() {
            println!(
                "no paper number is shown: the paper did not run this configuration ({} differ from the committed spec)",
                blocking.join(", ")
            );
        }
    }
    if !spec.report.correction.is_none() {
        println!("p-values: Holm-adjusted over the grid (one family per kind of test)");
    }
    println!("\n{}", report::table(&spec, &scope, &summaries));
    let readings = paper_tables::summary(&spec, &scope, &summaries);
    if !readings.is_empty() {
        println!("the paper's tables beside each reading (mean abs. relative deviation; rows in report.md):");
        for (key, alpha, dev, n) in readings {
            let models = alpha.map_or("dense".to_string(), |a| format!("FPE alpha={a}"));
            println!(
                "  {key:<28} {models:<12} {:>6.1}% over {n} rows",
                100.0 * dev
            );
        }
        println!();
    }
    let variants = neurosplit::experiment::ablation::markdown(&spec, &outcome.records);
    if !variants.is_empty() {
        println!("protocol variants against the reference:\n\n{variants}");
    }
    let equal = outcome
        .records
        .iter()
        .all(|r| r.models.iter().all(|m| m.nnz == r.pre_nnz));
    println!(
        "non-zero weights (every layer, biases not counted): {}",
        if equal {
            "equal in every trial"
        } else {
            "NOT EQUAL: this is a bug"
        }
    );
    println!(
        "wall time: {:.1} s on {threads} threads ({} trials run, {} resumed from {})",
        outcome.wall_seconds,
        outcome.ran,
        outcome.skipped,
        results.display()
    );
    let command = std::iter::once("neurosplit".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(s) = args.shard {
        println!(
            "shard {}/{} done; join the shards with `neurosplit merge -o {} {}/trials.shard-*-of-{}.jsonl`, \
             then rerun without --shard to write the report",
            s.k,
            s.n,
            out.join("trials.jsonl").display(),
            out.display(),
            s.n
        );
    } else {
        let ctx = ReportContext {
            command,
            wall_seconds: outcome.wall_seconds,
            trials_run: outcome.ran,
            compute_seconds: report::compute_seconds(&outcome.records),
            threads,
            expected_trials: grid.len() * spec.trials,
            scope: scope.clone(),
            provenance: outcome.provenance.clone(),
            trial_provenance: neurosplit::provenance::Provenance::tally(
                outcome.records.iter().map(|r| r.provenance.as_ref()),
            ),
        };
        let figs = figures::write(&spec, &summaries, &out);
        let tables = paper_tables::markdown(&spec, &scope, &summaries);
        let md = report::markdown(&spec, &summaries, &ctx, &tables, &figs);
        let md = neurosplit::experiment::ablation::insert_section(md, &variants);
        let path = out.join("report.md");
        neurosplit::io::atomic::write(&path, md)?;
        println!("report written to {}", path.display());
    }
    if let Some(path) = &args.json {
        let value = serde_json::json!({
            "result": {
                "spec": report::spec_as_shown(&spec, &scope),
                "trials": outcome.records,
                "wall_seconds": outcome.wall_seconds
            },
            "summary": summaries,
        });
        write_json(path, &value)?;
        println!("results written to {}", path.display());
    }
    if !equal {
        return Err(Error::invalid(
            "budget",
            "an expanded model's non-zero count differs from the dense model's",
        ));
    }
    Ok(())
}
