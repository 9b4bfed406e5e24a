//! `neurosplit reproduce`: parses the flags, calls the library's reproduce workflow
//! ([`neurosplit::experiment::reproduce`]) and prints what it returns.

use std::path::PathBuf;

use clap::Args;

use neurosplit::device::Device;
use neurosplit::expand::{Alpha, Strategy};
use neurosplit::experiment::reproduce::{self, fmt_secs, Event, Experiment, ReproduceOptions};
use neurosplit::experiment::runner::Shard;
use neurosplit::Result;

use crate::progress;

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

impl ReproduceArgs {
    /// The flags' overrides for the library.
    fn overrides(&self) -> reproduce::Overrides {
        let o = &self.set;
        reproduce::Overrides {
            trials: o.trials,
            seed: o.seed,
            clauses: o.clauses.clone(),
            k: o.k,
            neurons: o.neurons.clone(),
            alpha: o.alpha.clone(),
            strategies: o.strategies.clone(),
            layernorm: o.layernorm,
            pre_epochs: o.pre_epochs.clone(),
            post_epochs: o.post_epochs,
            n_train: o.n_train,
            n_test: o.n_test,
            batch_size: o.batch_size,
            lr: o.lr,
            l1: o.l1,
            l2: o.l2,
            holm: self.holm,
            set: self.assign.clone(),
        }
    }
}

fn list(threads: usize) -> Result<()> {
    eprintln!("measuring the per-step cost on this machine ...");
    let listing = reproduce::list(threads)?;
    println!(
        "{:<16} {:<22} {:>7} {:>10} {:>12}  status",
        "name", "paper", "trials", "steps", "est. time"
    );
    for e in &listing.entries {
        let approx = if e.estimate.exact_shape { "" } else { "~" };
        println!(
            "{:<16} {:<22} {:>7} {:>10} {:>12}  {}",
            e.name,
            e.paper_ref,
            e.trials,
            e.estimate.steps,
            format!("{approx}{}", fmt_secs(e.estimate.seconds)),
            e.blocker.as_deref().unwrap_or("runs now"),
        );
    }
    println!("\n{}", listing.method());
    Ok(())
}

pub fn reproduce(args: ReproduceArgs) -> Result<()> {
    let (threads, warning) = neurosplit::limits::cap_threads(args.threads);
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    if args.list {
        return list(threads);
    }
    let name = args
        .name
        .as_deref()
        .expect("clap requires a name without --list");
    let exp = Experiment::load(name, &args.overrides())?;
    if args.print_spec {
        print!("{}", exp.toml()?);
        return Ok(());
    }
    if args.estimate {
        eprintln!("measuring the per-step cost on this machine ...");
        println!("{}", reproduce::estimate(&exp.spec, args.shard, threads)?);
        return Ok(());
    }
    let opts = ReproduceOptions {
        out: args.out.clone(),
        results: args.results.clone(),
        shard: args.shard,
        merge_shards: args.merge_shards,
        threads,
        device: args.device,
        data_dir: args.data_dir.clone(),
        json: args.json.clone(),
        command: std::iter::once("neurosplit".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let spec = &exp.spec;
    let bar = std::sync::OnceLock::new();
    let on_event = |event: Event<'_>| match event {
        Event::Warning(w) => eprintln!("{w}"),
        Event::Merged {
            trials,
            slices,
            results,
        } => println!(
            "{trials} trials from {slices} slices merged into {}",
            results.display()
        ),
        Event::Planned {
            cells,
            todo,
            skipped,
            results,
            threads,
        } => {
            if !args.quiet {
                println!(
                    "neurosplit reproduce {} ({}): {}\n{cells} cells x {} trials{}; {todo} to run, {skipped} \
                     already in {}; {threads} threads",
                    spec.name,
                    spec.paper_ref,
                    spec.title,
                    spec.trials,
                    args.shard
                        .map_or(String::new(), |s| format!(", shard {}/{}", s.k, s.n)),
                    results.display(),
                );
            }
            let _ = bar.set(progress(todo as u64, args.quiet));
        }
        Event::Trial {
            record: r,
            done,
            total,
            elapsed,
            means,
        } => {
            let means: Vec<String> = means
                .iter()
                .map(|(k, m)| format!("{k} {:.1}%", 100.0 * m))
                .collect();
            match bar.get().and_then(Option::as_ref) {
                Some(b) => {
                    b.inc(1);
                    b.set_message(format!("mean acc: {}", means.join(" ")));
                }
                None if !args.quiet => {
                    let eta = elapsed / done as f64 * (total - done) as f64;
                    let accs: Vec<String> = r
                        .models
                        .iter()
                        .map(|m| format!("{} {:.1}%", m.model, 100.0 * m.test_acc))
                        .collect();
                    eprintln!(
                        "[{done}/{total}] {} trial {}: {}  (elapsed {}, ETA {}; mean acc: {})",
                        r.cell,
                        r.trial,
                        accs.join("  "),
                        fmt_secs(elapsed),
                        fmt_secs(eta),
                        means.join(" ")
                    );
                }
                None => {}
            }
        }
    };
    let rep = reproduce::run(&exp, &opts, on_event)?;
    if let Some(Some(b)) = bar.get() {
        b.finish_and_clear();
    }
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", rep.text());
    rep.check_budget()
}
