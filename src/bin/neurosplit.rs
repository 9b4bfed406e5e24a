//! The `neurosplit` command line: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::experiment::case_study::{self, CaseStudyConfig, TrialResult};
use neurosplit::nn::{accuracy, Mlp, Regularizer, TrainConfig, Trainer};
use neurosplit::rng::{self, purpose};
use neurosplit::{Error, Result};

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
struct DataArgs {
    /// Clauses of the DNF formula (features to learn).
    #[arg(long, default_value_t = 8)]
    clauses: usize,
    /// Literals per clause.
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Training samples (the paper does not say; 10 000 as the PyTorch reference).
    #[arg(long, default_value_t = 10_000)]
    n_train: usize,
    /// Test samples.
    #[arg(long, default_value_t = 2_000)]
    n_test: usize,
    /// Hidden neurons of the dense model.
    #[arg(long, default_value_t = 8)]
    neurons: usize,
    /// Samples per optimisation step.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// L1 penalty on the first layer's weights.
    #[arg(long, default_value_t = 1e-7)]
    l1: f32,
    /// L2 penalty on all parameters.
    #[arg(long, default_value_t = 1e-5)]
    l2: f32,
    /// Base seed; every trial and purpose derives its own stream from it.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args, Debug)]
struct CaseStudyArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Expansion factor: children per neuron (integer >= 2).
    #[arg(long, default_value_t = 2)]
    alpha: usize,
    /// Epochs of dense training before the split.
    #[arg(long, alias = "epochs1", default_value_t = 1000)]
    pre_epochs: usize,
    /// Epochs of training after the split (the dense baseline trains as long).
    #[arg(long, alias = "epochs2", default_value_t = 1000)]
    post_epochs: usize,
    /// Independent trials (each with its own data, initialisation and split).
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write the per-trial results and the summary to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print only the final table.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Epochs of dense training.
    #[arg(long, default_value_t = 1000)]
    epochs: usize,
    /// Expand with FPE after the dense epochs, into `alpha` children per neuron.
    #[arg(long)]
    alpha: Option<usize>,
    /// Split strategy for the expansion: random or clause.
    #[arg(long, default_value = "random")]
    strategy: String,
    /// Epochs of training after the expansion (default: as many as --epochs).
    #[arg(long)]
    post_epochs: Option<usize>,
    /// Print the loss every N epochs (0 = never).
    #[arg(long, default_value_t = 100)]
    log_every: usize,
    /// Write the run's results to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl DataArgs {
    fn train_config(&self, epochs: usize) -> TrainConfig {
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
        Command::Reproduce { name, args } => reproduce(&name, args),
        Command::Train(args) => train(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_json(path: &PathBuf, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

fn reproduce(name: &str, args: CaseStudyArgs) -> Result<()> {
    match name {
        "case-study" => run_case_study(args),
        other => Err(Error::invalid(
            "experiment",
            format!("unknown experiment '{other}'; available: case-study"),
        )),
    }
}

fn run_case_study(args: CaseStudyArgs) -> Result<()> {
    let d = &args.data;
    let cfg = CaseStudyConfig {
        clauses: d.clauses,
        k: d.k,
        neurons: d.neurons,
        alpha: args.alpha,
        pre_epochs: args.pre_epochs,
        post_epochs: args.post_epochs,
        trials: args.trials,
        seed: d.seed,
        n_train: d.n_train,
        n_test: d.n_test,
        train: d.train_config(1),
    };
    cfg.validate()?;
    if let Some(path) = &args.json {
        // Fail now, not after the run, if the results cannot be written.
        std::fs::write(path, "").map_err(|e| Error::io(path, e))?;
    }
    let threads = if args.threads == 0 {
        rayon::current_num_threads()
    } else {
        args.threads
    };
    if !args.quiet {
        println!(
            "neurosplit case study (Sec. 3.1): {} clauses x {} literals (m = {}), h = {} -> {} (alpha = {}), \
             {} + {} epochs, {} trials, {} train / {} test samples, seed {}, {} threads",
            cfg.clauses,
            cfg.k,
            cfg.clauses * cfg.k,
            cfg.neurons,
            cfg.neurons * cfg.alpha,
            cfg.alpha,
            cfg.pre_epochs,
            cfg.post_epochs,
            cfg.trials,
            cfg.n_train,
            cfg.n_test,
            cfg.seed,
            threads
        );
    }
    let bar = progress(cfg.trials as u64, args.quiet);
    let done = Mutex::new(0usize);
    let on_trial = |t: &TrialResult| {
        let mut n = done.lock().unwrap();
        *n += 1;
        let accs: Vec<String> = t
            .models
            .iter()
            .map(|m| format!("{} {:.1}%", m.model, 100.0 * m.test_acc))
            .collect();
        let line = format!(
            "trial {} ({}/{}): {}",
            t.trial,
            *n,
            cfg.trials,
            accs.join("  ")
        );
        match &bar {
            Some(b) => {
                b.inc(1);
                b.println(line);
            }
            None if !args.quiet => eprintln!("{line}"),
            None => {}
        }
    };
    let result = case_study::run(&cfg, args.threads, on_trial)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    println!("\n{}", result.table());
    let nnz: Vec<String> = result.summary().iter().map(|s| s.nnz.to_string()).collect();
    println!(
        "non-zero weights (W1 + W2, biases not counted): {} -> {}",
        nnz.join(" / "),
        if result.budgets_equal() {
            "equal in every trial"
        } else {
            "NOT EQUAL: this is a bug"
        }
    );
    println!("paper: dense 78.7 %, clause-split 99.4 %, random-split 88.7 % (single run, no error bars given)");
    println!(
        "wall time: {:.1} s on {} threads",
        result.wall_seconds, threads
    );
    if let Some(path) = &args.json {
        let value = serde_json::json!({ "result": result, "summary": result.summary() });
        write_json(path, &value)?;
        println!("results written to {}", path.display());
    }
    if !result.budgets_equal() {
        return Err(Error::invalid(
            "budget",
            "an expanded model's non-zero count differs from the dense model's",
        ));
    }
    Ok(())
}

fn progress(len: u64, quiet: bool) -> Option<ProgressBar> {
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

fn train(args: TrainArgs) -> Result<()> {
    let d = &args.data;
    let strategy: Strategy = args.strategy.parse()?;
    let dnf = Dnf::with_clauses(d.clauses, d.k)?;
    if d.neurons == 0 {
        return Err(Error::invalid("neurons", "must be at least 1"));
    }
    let pre = d.train_config(args.epochs);
    pre.validate()?;
    let post = d.train_config(args.post_epochs.unwrap_or(args.epochs));
    if let Some(alpha) = args.alpha {
        post.validate()?;
        if alpha < 2 {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} is too small: FPE splits each neuron into alpha >= 2"),
            ));
        }
        if alpha > dnf.literals() {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} exceeds the {} inputs of a neuron", dnf.literals()),
            ));
        }
    }
    let train = dnf.generate(
        d.n_train,
        &mut rng::stream(d.seed, &[0, purpose::DATA_TRAIN]),
    )?;
    let test = dnf.generate(d.n_test, &mut rng::stream(d.seed, &[0, purpose::DATA_TEST]))?;
    let mut model = Mlp::new(
        &[train.d, d.neurons, 1],
        train.task,
        &mut rng::stream(d.seed, &[0, purpose::INIT]),
    )?;
    println!(
        "data: {} clauses x {} literals, {} train / {} test ({:.0}% positive); model {:?}, {} non-zero weights",
        d.clauses,
        d.k,
        train.n,
        test.n,
        100.0 * train.positive_fraction(),
        model.dims(),
        model.nnz()
    );
    let log = |phase: &str, e: usize, loss: f32, every: usize, total: usize| {
        if every > 0 && ((e + 1) % every == 0 || e + 1 == total) {
            println!("  [{phase}] epoch {:>5}/{total}  loss {loss:.4}", e + 1);
        }
    };
    let start = Instant::now();
    let mut trainer = Trainer::new(&model, pre)?;
    trainer.fit(
        &mut model,
        &train,
        &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_PRE]),
        |e, l| log("dense", e, l, args.log_every, pre.epochs),
    );
    let dense_acc = accuracy(&model, &test);
    println!(
        "dense: h = {}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
        d.neurons,
        model.nnz(),
        100.0 * dense_acc,
        start.elapsed().as_secs_f64()
    );
    let mut out = serde_json::json!({
        "config": { "clauses": d.clauses, "k": d.k, "neurons": d.neurons, "seed": d.seed, "pre": pre },
        "dense": { "hidden": d.neurons, "nnz": model.nnz(), "test_acc": dense_acc },
    });
    if let Some(alpha) = args.alpha {
        let fcfg = FpeConfig {
            alpha,
            strategy,
            layer: 0,
        };
        let (mut wide, report) = expand(
            &model,
            &fcfg,
            train.groups.as_deref(),
            &mut rng::stream(d.seed, &[0, purpose::SPLIT]),
        )?;
        println!(
            "FPE ({strategy}, alpha = {alpha}): h {} -> {}; non-zero weights {} -> {} after split -> {} after pruning \
             ({} from W1, {} from W2); test accuracy at split {:.2}%",
            report.width_before,
            report.width_after,
            report.budget,
            report.nnz_after_split,
            report.nnz_final,
            report.pruned_in,
            report.pruned_out,
            100.0 * accuracy(&wide, &test)
        );
        let start = Instant::now();
        let mut trainer = Trainer::new(&wide, post)?;
        trainer.fit(
            &mut wide,
            &train,
            &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_POST]),
            |e, l| log("fpe", e, l, args.log_every, post.epochs),
        );
        let acc = accuracy(&wide, &test);
        println!(
            "FPE: h = {}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
            report.width_after,
            wide.nnz(),
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
        out["fpe"] = serde_json::json!({ "strategy": strategy, "alpha": alpha, "report": report, "nnz": wide.nnz(), "test_acc": acc, "post": post });
    }
    if let Some(path) = &args.json {
        write_json(path, &out)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
