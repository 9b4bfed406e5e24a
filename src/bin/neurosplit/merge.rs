//! `neurosplit merge`: join results files (e.g. one per shard of a job array) into one.

use std::path::PathBuf;

use clap::Args;

use neurosplit::experiment::store;
use neurosplit::Result;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The merged results file (if it exists, its records are kept and merged too).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Results files to join (JSONL, as written by `neurosplit reproduce`).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
}

pub fn merge(args: MergeArgs) -> Result<()> {
    let mut inputs = args.inputs.clone();
    if args.output.is_file() && !inputs.contains(&args.output) {
        inputs.insert(0, args.output.clone());
    }
    let (n, warnings) = store::merge(&inputs, &args.output)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{n} trials from {} files written to {}",
        inputs.len(),
        args.output.display()
    );
    Ok(())
}
