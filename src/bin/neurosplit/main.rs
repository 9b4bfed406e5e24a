//! The `neurosplit` command line: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use neurosplit::Result;

mod expand;
mod export;
mod finetune;
mod inspect;
mod merge;
mod reproduce;
mod theory;
mod train;

use expand::ExpandArgs;
use export::ExportArgs;
use finetune::FinetuneArgs;
use inspect::InspectArgs;
use merge::MergeArgs;
use reproduce::ReproduceArgs;
use theory::TheoryArgs;
use train::TrainArgs;

/// Fixed Parameter Expansion: split every hidden neuron into `alpha` children with disjoint inputs, and keep
/// training at exactly the same number of non-zero weights ("Expand Neurons, Not Parameters", arXiv 2510.04500).
#[derive(Parser, Debug)]
#[command(name = "neurosplit", version, about, long_about = None, after_help = "Examples:\n  \
    neurosplit reproduce case-study                 the paper's Sec. 3.1 (8 clauses, 8 neurons, alpha 2, 5 trials)\n  \
    neurosplit reproduce case-study --trials 2 --pre-epochs 200 --post-epochs 200   a quicker look\n  \
    neurosplit train --neurons 8 --alpha 4 --strategy random   one dense model, expanded, retrained\n  \
    neurosplit theory --literals 32 --k 4 --alpha 2 --neurons 8   coverage and collisions of a random FPE layer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reproduce one of the paper's experiments from its spec (resumable; see --list).
    #[command(
        after_help = "Examples:\n  neurosplit reproduce --list                 the experiments, with estimated run times\n  \
            neurosplit reproduce case-study             Sec. 3.1 (8 clauses, 8 neurons, alpha 2, 5 trials)\n  \
            neurosplit reproduce heatmap --shard 2/8    one slice of Fig. 3c's grid\n  \
            neurosplit reproduce my-spec.toml           a spec of your own"
    )]
    Reproduce(Box<ReproduceArgs>),
    /// Join results files (e.g. the shards of a job array) into one.
    Merge(MergeArgs),
    /// Write a results file as CSV: one row per trial x model, a column per grid axis and per number.
    Export(ExportArgs),
    /// Train one model on DNF data: dense, then optionally expanded with FPE and trained on.
    Train(Box<TrainArgs>),
    /// Expand a saved model with FPE (same non-zero budget, alpha times the neurons) and save the result.
    Expand(ExpandArgs),
    /// FPE on your own trained model and data: load (PyTorch state dicts too), optionally expand, retrain at the
    /// same non-zero budget, evaluate, write the model and a report.
    #[command(
        after_help = "Examples:\n  neurosplit finetune net.safetensors --data data.npz --alpha 2 --epochs 20 -o wide.safetensors\n  \
        neurosplit finetune net.safetensors --data data.npz --alpha 2 --epochs 20 --torch -o wide_pt.safetensors"
    )]
    Finetune(Box<FinetuneArgs>),
    /// Write a saved model's interference metrics (JSON) and its Fig. 2 pictures (W and Gram heatmaps).
    Inspect(InspectArgs),
    /// Coverage and collisions of a random FPE layer (Sec. 2.5): exact, approximate, Monte Carlo.
    Theory(TheoryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Train on your own data instead of a generated DNF formula: an .npz (x_train, y_train, x_test, y_test), a
    /// folder of those .npy files, an IDX folder, a .csv (cut by --test-fraction) or a folder with train.csv
    /// and test.csv. Training defaults then follow `finetune`'s (batch 128, no penalties).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub user: UserDataArgs,
    /// Clauses of the DNF formula (features to learn).
    #[arg(long, default_value_t = 8, conflicts_with = "data")]
    pub clauses: usize,
    /// Literals per clause.
    #[arg(long, default_value_t = 4, conflicts_with = "data")]
    pub k: usize,
    /// Training samples (the paper does not say; 10 000 as the PyTorch reference).
    #[arg(long, default_value_t = 10_000, conflicts_with = "data")]
    pub n_train: usize,
    /// Test samples.
    #[arg(long, default_value_t = 2_000, conflicts_with = "data")]
    pub n_test: usize,
    /// Hidden neurons of the dense model [default: 8].
    #[arg(long)]
    pub neurons: Option<usize>,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Base seed; every trial and purpose derives its own stream from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// How a user's data file is read and cut (`train --data`, `finetune`).
#[derive(Args, Debug, Clone)]
pub struct UserDataArgs {
    /// Name of the CSV label column.
    #[arg(long, default_value = "label")]
    pub label: String,
    /// Fraction of a single CSV file's rows held out for testing.
    #[arg(long, default_value_t = neurosplit::pipeline::defaults::TEST_FRACTION)]
    pub test_fraction: f64,
}

impl UserDataArgs {
    /// How to read the data, with `val_fraction` of the training rows held out for validation.
    pub fn options(&self, seed: u64, val_fraction: f64) -> neurosplit::data::DataOptions {
        neurosplit::data::DataOptions {
            label: self.label.clone(),
            test_fraction: self.test_fraction,
            val_fraction,
            seed,
        }
    }
}

/// The expansion and its rewiring (`train`, `finetune`): FPE after the dense model is trained or loaded.
#[derive(Args, Debug, Clone)]
pub struct ExpansionArgs {
    /// Expand with FPE into ALPHA children per neuron (2 to 1024; alternating expansion of hidden layers 0, 2,
    /// ... for deep models, never the output head).
    #[arg(long)]
    pub alpha: Option<neurosplit::expand::Alpha>,
    /// Split strategy (needs --alpha): random (default), clause (needs feature groups), gram, two-four (alpha 2)
    /// or custom (with --assignment).
    #[arg(long, requires = "alpha")]
    pub strategy: Option<neurosplit::expand::Strategy>,
    /// JSON file of the custom split (one object, or a list with one per expanded layer); see
    /// `neurosplit::expand::Assignment`.
    #[arg(long, value_name = "FILE", requires = "alpha")]
    pub assignment: Option<PathBuf>,
    /// Clusters of the gram split (default: round(sqrt(inputs)), at least alpha).
    #[arg(long, requires = "alpha")]
    pub clusters: Option<usize>,
    /// After the expansion, rewire the masks every EPOCHS post-split epochs (unmask a fraction of masked weights
    /// at random, prune as many smallest-magnitude live ones), as a spec's `extras.rewiring.every`.
    #[arg(long, value_name = "EPOCHS", requires = "alpha")]
    pub rewire_every: Option<usize>,
    /// Fraction of each layer's masked weights unmasked per rewiring, in (0, 1) (default 0.1; at the start
    /// with --rewire-decay cosine).
    #[arg(long, value_name = "FRACTION", requires = "rewire_every")]
    pub rewire_fraction: Option<f64>,
    /// Schedule of the rewired fraction: constant (default) or cosine.
    #[arg(long, requires = "rewire_every")]
    pub rewire_decay: Option<neurosplit::expand::Decay>,
}

impl ExpansionArgs {
    /// These flags into the pipeline's settings (reading the custom split's file).
    pub fn apply(&self, s: &mut neurosplit::pipeline::Settings) -> Result<()> {
        s.alpha = self.alpha.map(neurosplit::expand::Alpha::get);
        s.strategy = self.strategy;
        s.assignments = self
            .assignment
            .as_deref()
            .map(neurosplit::expand::Assignment::load)
            .transpose()?
            .unwrap_or_default();
        s.clusters = self.clusters;
        s.rewire_every = self.rewire_every;
        s.rewire_fraction = self.rewire_fraction;
        s.rewire_decay = self.rewire_decay;
        Ok(())
    }
}

/// The optimiser's settings; what is not given follows `neurosplit::pipeline::defaults` (the paper's on DNF
/// data and in specs, `finetune`'s on a user's data).
#[derive(Args, Debug, Clone)]
pub struct OptimArgs {
    /// Samples per optimisation step [default: 500 on DNF data (the paper's), 128 on your own data].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long)]
    pub lr: Option<f32>,
    /// L1 penalty on the first layer's weights [default: 1e-7 on DNF data, 0 on your own data].
    #[arg(long)]
    pub l1: Option<f32>,
    /// L2 penalty on all parameters [default: 1e-5 on DNF data, 0 on your own data].
    #[arg(long)]
    pub l2: Option<f32>,
    /// Precision of the products: fp32, or bf16 (mixed precision; needs a CPU with AVX512-BF16) [default: fp32].
    #[arg(long)]
    pub precision: Option<neurosplit::kernels::Precision>,
}

impl OptimArgs {
    /// These flags into the pipeline's settings.
    pub fn apply(&self, s: &mut neurosplit::pipeline::Settings) {
        s.batch_size = self.batch_size;
        s.lr = self.lr;
        s.l1 = self.l1;
        s.l2 = self.l2;
        s.precision = self.precision;
    }
}

/// Ends the process quietly when stdout is a closed pipe (`neurosplit ... | head`), the way command-line tools
/// do, instead of reporting `println!`'s "failed printing to stdout" panic. Any other panic is reported as usual.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141); // 128 + SIGPIPE, what a shell reports for a process ended by a closed pipe
        }
        default(info)
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reproduce(args) => reproduce::reproduce(*args),
        Command::Merge(args) => merge::merge(args),
        Command::Export(args) => export::export(args),
        Command::Train(args) => train::train(*args),
        Command::Expand(args) => expand::expand(args),
        Command::Finetune(args) => finetune::finetune(*args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Theory(args) => theory::theory(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn write_json(path: &PathBuf, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    neurosplit::io::atomic::write(path, text + "\n")
}

pub fn progress(len: u64, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (ETA {eta})",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
