//! `neurosplit export`: a results file as a flat CSV table (one row per trial x model).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use neurosplit::experiment::export::{cell_axes, trials_table};
use neurosplit::experiment::runner::{self, TrialRecord};
use neurosplit::{Error, Result};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A results folder (with trials.jsonl) or a results file (JSONL, as written by `neurosplit reproduce`).
    #[arg(value_name = "RESULTS")]
    pub results: PathBuf,
    /// Write CSV: one row per trial x model, a column per grid axis and per number.
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn export(args: ExportArgs) -> Result<()> {
    if !args.csv {
        return Err(Error::invalid("export", "choose a format: --csv"));
    }
    let path = if args.results.is_dir() {
        args.results.join("trials.jsonl")
    } else {
        args.results.clone()
    };
    if !path.is_file() {
        return Err(Error::invalid(
            "export",
            format!(
                "{} is not a results file (a folder must hold trials.jsonl; merge shards first)",
                path.display()
            ),
        ));
    }
    let mut records: Vec<TrialRecord> = runner::read_records(&path, None)?;
    // Grid order: by the cell's axis values (numerically), then trial.
    let mut keyed = Vec::with_capacity(records.len());
    for r in records.drain(..) {
        let axes: Vec<u64> = cell_axes(&r.cell)?.into_iter().map(|(_, v)| v).collect();
        keyed.push(((axes, r.trial), r));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let records: Vec<TrialRecord> = keyed.into_iter().map(|(_, r)| r).collect();
    let table = trials_table(&records)?;
    match &args.output {
        Some(out) => {
            table.save_csv(out)?;
            eprintln!(
                "{} rows ({} trials) x {} columns written to {}",
                table.rows.len(),
                records.len(),
                table.header.len(),
                out.display()
            );
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            table.write_csv(&mut lock)?;
            lock.flush().ok();
        }
    }
    Ok(())
}
