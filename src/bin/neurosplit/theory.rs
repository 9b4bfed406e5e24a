//! `neurosplit theory`: clause coverage and collisions of a random FPE network (Sec. 2.5, A.5), exact,
//! approximate and by Monte Carlo.

use std::path::PathBuf;

use clap::Args;

use neurosplit::theory::{monte_carlo, Sampling, Setting};
use neurosplit::{Error, Result};

use crate::write_json;

#[derive(Args, Debug)]
pub struct TheoryArgs {
    /// Literals m (inputs of the DNF formula).
    #[arg(long)]
    literals: u64,
    /// Literals per clause.
    #[arg(long)]
    k: u64,
    /// Expansion factor: the FPE layer has alpha * neurons neurons of m / alpha inputs each.
    #[arg(long)]
    alpha: u64,
    /// Neurons r of the dense layer.
    #[arg(long)]
    neurons: u64,
    /// Clauses C (disjoint; default m / k, every literal in a clause).
    #[arg(long)]
    clauses: Option<u64>,
    /// Random networks sampled for the Monte Carlo estimates (0 = skip them).
    #[arg(long, default_value_t = 10_000)]
    samples: u64,
    /// How networks are sampled: independent (the paper's model: every neuron draws its inputs on its own) or
    /// partitioned (FPE's random split: each dense neuron's inputs dealt into alpha disjoint children).
    #[arg(long, default_value = "independent")]
    sampling: String,
    /// Seed of the Monte Carlo streams.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the values to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn theory(args: TheoryArgs) -> Result<()> {
    let sampling = match args.sampling.as_str() {
        "independent" => Sampling::Independent,
        "partitioned" => Sampling::Partitioned,
        s => {
            return Err(Error::invalid(
                "sampling",
                format!("unknown sampling '{s}'; choose independent or partitioned"),
            ))
        }
    };
    if args.k == 0 {
        return Err(Error::invalid("k", "clauses need at least 1 literal"));
    }
    let setting = Setting {
        literals: args.literals,
        k: args.k,
        clauses: args.clauses.unwrap_or(args.literals / args.k),
        alpha: args.alpha,
        neurons: args.neurons,
    };
    let ex = setting.exact()?;
    let mc = if args.samples > 0 {
        Some(monte_carlo(&setting, sampling, args.samples, args.seed)?)
    } else {
        None
    };
    println!(
        "random FPE layer: m = {} literals, C = {} clauses of k = {}, dense r = {} neurons -> FPE alpha r = {} neurons of d = {} inputs",
        setting.literals,
        setting.clauses,
        setting.k,
        setting.neurons,
        setting.alpha * setting.neurons,
        ex.d
    );
    let mcs = |e: Option<neurosplit::theory::Estimate>| {
        e.map_or_else(
            || "-".to_string(),
            |e| format!("{:.6e} ± {:.1e}", e.mean, e.ci95()),
        )
    };
    println!(
        "{:<38} {:>14} {:>14} {:>26}",
        "quantity",
        "exact",
        "approximation",
        match mc {
            Some(m) => format!("Monte Carlo ({}, 95% CI)", m.samples),
            None => "Monte Carlo".into(),
        }
    );
    println!(
        "{:<38} {:>14.6e} {:>14.6e} {:>26}",
        "coverage p = C(m-k,d-k)/C(m,d)",
        ex.coverage_p,
        ex.coverage_p_approx,
        mcs(mc.map(|m| m.coverage_p))
    );
    println!(
        "{:<38} {:>14.6} {:>14} {:>26}",
        "P(all covered) >= 1 - C(1-p)^(alpha r)",
        ex.all_covered_bound,
        "-",
        mcs(mc.map(|m| m.all_covered))
    );
    println!(
        "{:<38} {:>14.6e} {:>14.6e} {:>26}",
        "E_FPE/E_dense = alpha C(m-2k,d-2k)/C(m,d)",
        ex.ratio,
        ex.ratio_approx,
        mcs(mc.map(|m| m.ratio))
    );
    if ex.all_covered_bound <= 0.0 {
        println!("(the union bound on P(all covered) is vacuous here: it is not positive)");
    }
    println!(
        "E_dense = r C(C,2) = {:.0}; E_FPE = {:.6}; approximation alpha^-(2k-1) = {}^-{}",
        ex.e_dense,
        ex.e_fpe,
        setting.alpha,
        2 * setting.k - 1
    );
    if let Some(path) = &args.json {
        let out = serde_json::json!({ "setting": setting, "sampling": sampling, "exact": ex, "monte_carlo": mc });
        write_json(path, &out)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
