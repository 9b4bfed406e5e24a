//! `neurosplit reproduce`: the paper's experiments.

use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;

use neurosplit::experiment::case_study::{self, CaseStudyConfig, TrialResult};
use neurosplit::{Error, Result};

use crate::{progress, write_json, DataArgs};

#[derive(Args, Debug)]
pub struct CaseStudyArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Expansion factor: children per neuron (integer >= 2).
    #[arg(long, default_value_t = 2)]
    pub alpha: usize,
    /// Epochs of dense training before the split.
    #[arg(long, alias = "epochs1", default_value_t = 1000)]
    pub pre_epochs: usize,
    /// Epochs of training after the split (the dense baseline trains as long).
    #[arg(long, alias = "epochs2", default_value_t = 1000)]
    pub post_epochs: usize,
    /// Independent trials (each with its own data, initialisation and split).
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write the per-trial results and the summary to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print only the final table.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn reproduce(name: &str, args: CaseStudyArgs) -> Result<()> {
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
