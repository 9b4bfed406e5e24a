//! The `neurosplit` command line: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use neurosplit::nn::{Regularizer, TrainConfig};
use neurosplit::{Error, Result};

mod device;
mod reproduce;
mod train;

use reproduce::CaseStudyArgs;
use train::TrainArgs;

/// Fixed Parameter Expansion: split every hidden neuron into `alpha` children with disjoint inputs, and keep
/// training at exactly the same number of non-zero weights ("Expand Neurons, Not Parameters", arXiv 2510.04500).
#[derive(Parser, Debug)]
#[command(name = "neurosplit", version, about, long_about = None, after_help = "Examples:\n  \
    neurosplit reproduce case-study                 the paper's Sec. 3.1 (8 clauses, 8 neurons, alpha 2, 5 trials)\n  \
    neurosplit reproduce case-study --trials 2 --pre-epochs 200 --post-epochs 200   a quicker look\n  \
    neurosplit train --neurons 8 --alpha 4 --strategy random   one dense model, expanded, retrained")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reproduce one of the paper's experiments.
    #[command(
        after_help = "Experiments:\n  case-study   Sec. 3.1: dense vs clause-split vs random-split FPE on 8 clauses x 4 literals, h = 8"
    )]
    Reproduce {
        /// Which experiment (e.g. `case-study`).
        name: String,
        #[command(flatten)]
        args: CaseStudyArgs,
    },
    /// Train one model on DNF data: dense, then optionally expanded with FPE and trained on.
    Train(TrainArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Clauses of the DNF formula (features to learn).
    #[arg(long, default_value_t = 8)]
    pub clauses: usize,
    /// Literals per clause.
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    /// Training samples (the paper does not say; 10 000 as the PyTorch reference).
    #[arg(long, default_value_t = 10_000)]
    pub n_train: usize,
    /// Test samples.
    #[arg(long, default_value_t = 2_000)]
    pub n_test: usize,
    /// Hidden neurons of the dense model.
    #[arg(long, default_value_t = 8)]
    pub neurons: usize,
    /// Samples per optimisation step.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// L1 penalty on the first layer's weights.
    #[arg(long, default_value_t = 1e-7)]
    pub l1: f32,
    /// L2 penalty on all parameters.
    #[arg(long, default_value_t = 1e-5)]
    pub l2: f32,
    /// Base seed; every trial and purpose derives its own stream from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl DataArgs {
    pub fn train_config(&self, epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            reg: Regularizer {
                l1_first: self.l1,
                l2: self.l2,
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reproduce { name, args } => reproduce::reproduce(&name, args),
        Command::Train(args) => train::train(args),
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
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
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
