//! The reproduce workflow as one library call: a spec (built in or a user's file) with its overrides, run
//! resumably, summarised, compared with the paper, and written as a report with its figures.
//!
//! Every front calls the same functions: `neurosplit reproduce` parses its flags into [`Overrides`] and
//! [`ReproduceOptions`], calls [`Experiment::load`] and [`run`], and prints what they return; the Python
//! package's `neurosplit.reproduce` does the same. The steps of [`run`]:
//! 1. the effective spec is validated once ([`Experiment::load`]), and what the run needs besides
//!    ([`runner::check_runnable`]) before anything is written;
//! 2. the run's one fingerprint ([`runner::fingerprint`], device included) names the default output folder,
//!    checks the joined shards ([`merge`]) and the results file;
//! 3. the runner reads the results file once, trains the pending trials and appends each
//!    (`runner::run_checked`); progress goes to the caller's `on_event` as [`Event`]s, never to the console;
//! 4. the records are summarised ([`report::summarize`], with the spec's p-value correction), compared with the
//!    paper where [`PaperScope`] admits it, and, for a whole run (not one shard), written as `report.md` with its
//!    figures beside it; with [`ReproduceOptions::json`], the results and summaries as JSON too.
//!
//! A run whose expanded models do not keep the dense model's non-zero count still writes its report (so the
//! discrepancy can be read), and [`Reproduction::check_budget`] turns it into an error.

mod listing;
mod overrides;

pub use listing::{estimate, fmt_secs, list, resolve_threads, ListEntry, Listing, RunEstimate};
pub use overrides::{Experiment, Overrides};

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::experiment::paper_scope::PaperScope;
use crate::experiment::report::{self, CellSummary, ReportContext};
use crate::experiment::runner::{self, RunEvent, RunOptions, Shard, TrialRecord};
use crate::experiment::spec::Spec;
use crate::experiment::{ablation, figures, paper_tables};

/// How to run an [`Experiment`].
#[derive(Clone, Debug, Default)]
pub struct ReproduceOptions {
    /// Folder for the results file and the report (default: `results/NAME-FINGERPRINT`, the fingerprint's first
    /// 8 hex digits).
    pub out: Option<PathBuf>,
    /// The JSONL results file (default: `OUT/trials.jsonl`, or `OUT/trials.shard-K-of-N.jsonl` with a shard).
    pub results: Option<PathBuf>,
    /// Run only this slice of the grid (no report is written; join the slices with `merge_shards`).
    pub shard: Option<Shard>,
    /// Join the N slices of a sharded run (`OUT/trials.shard-K-of-N.jsonl`) into the results file first (see
    /// [`merge`]).
    pub merge_shards: Option<usize>,
    /// Worker threads (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Where the trials train.
    pub device: Device,
    /// FashionMNIST folder, or the folder an embeddings path is relative to.
    pub data_dir: Option<PathBuf>,
    /// Also write the per-trial results and the summaries to this JSON file (checked writable before any
    /// trial runs).
    pub json: Option<PathBuf>,
    /// The command recorded in the report (e.g. the command line).
    pub command: String,
}

impl ReproduceOptions {
    /// The output folder of a run of `spec` under fingerprint `fp`.
    fn out_dir(&self, spec: &Spec, fp: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/{}-{}", spec.name, &fp[..8])))
    }

    /// The results file in `out`.
    fn results_in(&self, out: &Path) -> PathBuf {
        self.results.clone().unwrap_or_else(|| match self.shard {
            Some(s) => out.join(format!("trials.shard-{}-of-{}.jsonl", s.k, s.n)),
            None => out.join("trials.jsonl"),
        })
    }
}

/// What [`run`] reports while it runs, for the caller to show (a progress bar, log lines) or ignore.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Something the caller should be told (e.g. a capped thread count).
    Warning(&'a str),
    /// The slices of a sharded run were joined into the results file.
    Merged {
        /// Distinct trials in the results file now.
        trials: usize,
        /// Slices joined.
        slices: usize,
        /// The results file.
        results: &'a Path,
    },
    /// The results file is read and the plan made; no trial has run yet.
    Planned {
        /// Grid cells.
        cells: usize,
        /// Trials this run trains.
        todo: usize,
        /// Trials of this run's share found finished in the results file.
        skipped: usize,
        /// The results file.
        results: &'a Path,
        /// Worker threads (0 resolved to the cores).
        threads: usize,
    },
    /// A trial finished and was appended to the results file.
    Trial {
        /// Its record.
        record: &'a TrialRecord,
        /// Trials finished by this run so far.
        done: usize,
        /// Trials this run trains.
        total: usize,
        /// Seconds since the trials started.
        elapsed: f64,
        /// Mean final test accuracy so far of each model (`dense`, `clause@2`, ...), over this run's trials.
        means: &'a [(String, f64)],
    },
}

/// Joins the `n` slices of a sharded run in `out` (`trials.shard-K-of-N.jsonl`, and any earlier `results`)
/// into `results`, after checking that every slice is present and finished under the run's fingerprint
/// ([`runner::fingerprint`] of `spec` on `device`: the one its shards recorded). Names every missing or
/// unfinished slice, with the array task id that reruns it, instead of merging a partial run; nothing is
/// written then. Returns the count of distinct trials merged.
pub fn merge(spec: &Spec, device: Device, out: &Path, n: usize, results: &Path) -> Result<usize> {
    if n == 0 {
        return Err(Error::invalid("--merge-shards", "must be at least 1"));
    }
    let fp = runner::fingerprint(spec, device);
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
    runner::merge(&files, results)
}

/// What a reproduction produced.
#[derive(Clone, Debug)]
pub struct Reproduction {
    /// The effective spec.
    pub spec: Spec,
    /// Which cells show the paper's numbers, and the overrides of the committed spec.
    pub scope: PaperScope,
    /// The run's fingerprint ([`runner::fingerprint`]).
    pub fingerprint: String,
    /// The output folder.
    pub out: PathBuf,
    /// The results file.
    pub results: PathBuf,
    /// The slice run, if one.
    pub shard: Option<Shard>,
    /// Every trial in the results file (earlier runs' included), in grid order.
    pub records: Vec<TrialRecord>,
    /// Per-cell summaries (p-values corrected as the spec says).
    pub summaries: Vec<CellSummary>,
    /// Trials trained by this run.
    pub ran: usize,
    /// Trials found finished and skipped.
    pub skipped: usize,
    /// Wall seconds of this run's trials.
    pub wall_seconds: f64,
    /// Worker threads (0 resolved to the cores).
    pub threads: usize,
    /// What reading the results file warned about.
    pub warnings: Vec<String>,
    /// The report written (`OUT/report.md`), or `None` for a shard.
    pub report: Option<PathBuf>,
    /// The JSON file written, if asked for.
    pub json: Option<PathBuf>,
    /// Whether every expanded model kept the dense model's non-zero count in every trial.
    pub budget_equal: bool,
    /// The comparison with the paper's tables: `(key, alpha, mean abs. relative deviation, rows)`.
    pub readings: Vec<(&'static str, Option<usize>, f64, usize)>,
    /// The protocol variants against the reference (markdown; empty without variants).
    pub variants: String,
}

/// Runs `exp`: merges shards if asked, trains the pending trials (resumable), summarises them and writes the
/// report and its figures (for a whole run) and the JSON (if asked), reporting progress to `on_event`. See
/// the module docs; check [`Reproduction::check_budget`] afterwards.
pub fn run(
    exp: &Experiment,
    opts: &ReproduceOptions,
    on_event: impl Fn(Event<'_>) + Sync,
) -> Result<Reproduction> {
    let spec = &exp.spec;
    let (threads, warning) = crate::limits::cap_threads(opts.threads);
    if let Some(w) = &warning {
        on_event(Event::Warning(w));
    }
    if opts.merge_shards.is_some() && opts.shard.is_some() {
        return Err(Error::invalid(
            "--merge-shards",
            "joins the slices of a sharded run: it cannot run one slice (--shard) too",
        ));
    }
    runner::check_runnable(spec, opts.device)?;
    if let Some(path) = &opts.json {
        // Fail now, not after the run, if the results cannot be written.
        crate::io::atomic::check_writable(path)?;
    }
    let fp = runner::fingerprint(spec, opts.device);
    let out = opts.out_dir(spec, &fp);
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let results = opts.results_in(&out);
    if let Some(n) = opts.merge_shards {
        let trials = merge(spec, opts.device, &out, n, &results)?;
        on_event(Event::Merged {
            trials,
            slices: n,
            results: &results,
        });
    }
    let cells = runner::cells(spec).len();
    let start = Instant::now();
    let means: Mutex<BTreeMap<String, (f64, usize)>> = Mutex::new(BTreeMap::new());
    let run_opts = RunOptions {
        threads,
        shard: opts.shard,
        results: results.clone(),
        data_dir: opts.data_dir.clone(),
        device: opts.device,
    };
    let outcome = runner::run_checked(spec, &run_opts, &fp, |event| match event {
        RunEvent::Planned {
            todo,
            skipped,
            threads,
        } => on_event(Event::Planned {
            cells,
            todo,
            skipped,
            results: &results,
            threads,
        }),
        RunEvent::Trial {
            record,
            done,
            total,
        } => {
            let mut m = means.lock().unwrap_or_else(|p| p.into_inner());
            for model in &record.models {
                let label = match model.alpha {
                    Some(a) => format!("{}@{a}", model.model),
                    None => "dense".into(),
                };
                let e = m.entry(label).or_insert((0.0, 0));
                e.0 += model.test_acc;
                e.1 += 1;
            }
            let now: Vec<(String, f64)> = m
                .iter()
                .map(|(k, (s, c))| (k.clone(), s / *c as f64))
                .collect();
            on_event(Event::Trial {
                record,
                done,
                total,
                elapsed: start.elapsed().as_secs_f64(),
                means: &now,
            });
        }
    })?;
    let threads = resolve_threads(threads);
    let records = outcome.records;
    let mut summaries = report::summarize(spec, &records);
    report::correct(&mut summaries, spec.report.correction);
    let scope = exp.scope();
    let readings = paper_tables::summary(spec, &scope, &summaries);
    let variants = ablation::markdown(spec, &records);
    let budget_equal = records
        .iter()
        .all(|r| r.models.iter().all(|m| m.nnz == r.pre_nnz));
    let report_path = if opts.shard.is_none() {
        let ctx = ReportContext {
            command: opts.command.clone(),
            wall_seconds: outcome.wall_seconds,
            trials_run: outcome.ran,
            compute_seconds: report::compute_seconds(&records),
            threads,
            expected_trials: cells * spec.trials,
            scope: scope.clone(),
            provenance: outcome.provenance.clone(),
            trial_provenance: crate::provenance::Provenance::tally(
                records.iter().map(|r| r.provenance.as_ref()),
            ),
        };
        let figs = figures::write(spec, &summaries, &out);
        let tables = paper_tables::markdown(spec, &scope, &summaries);
        let md = report::markdown(spec, &summaries, &ctx, &tables, &figs);
        let md = ablation::insert_section(md, &variants);
        let path = out.join("report.md");
        crate::io::atomic::write(&path, md)?;
        Some(path)
    } else {
        None
    };
    let mut rep = Reproduction {
        spec: spec.clone(),
        scope,
        fingerprint: fp,
        out,
        results,
        shard: opts.shard,
        records,
        summaries,
        ran: outcome.ran,
        skipped: outcome.skipped,
        wall_seconds: outcome.wall_seconds,
        threads,
        warnings: outcome.warnings,
        report: report_path,
        json: None,
        budget_equal,
        readings,
        variants,
    };
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&rep.json_value())?;
        crate::io::atomic::write(path, text + "\n")?;
        rep.json = Some(path.clone());
    }
    Ok(rep)
}

impl Reproduction {
    /// The results and summaries as `--json` writes them: `{"result": {"spec", "trials", "wall_seconds"},
    /// "summary": [...]}` (the spec without the paper's numbers when no cell is the paper's configuration).
    pub fn json_value(&self) -> Value {
        serde_json::json!({
            "result": {
                "spec": report::spec_as_shown(&self.spec, &self.scope),
                "trials": self.records,
                "wall_seconds": self.wall_seconds
            },
            "summary": self.summaries,
        })
    }

    /// An error if an expanded model's non-zero count differs from the dense model's in any trial (a bug: FPE
    /// keeps the budget by construction).
    pub fn check_budget(&self) -> Result<()> {
        if self.budget_equal {
            Ok(())
        } else {
            Err(Error::invalid(
                "budget",
                "an expanded model's non-zero count differs from the dense model's",
            ))
        }
    }

    /// One flat row per trial x post-split model, for a data frame: `spec`, `fingerprint`, `cell`, the grid
    /// axes (`clauses`, `depth`, `neurons`, `pre_epochs` as integers, `protocol` as its name), the trial's
    /// numbers (`trial`, `seed`, `pre_test_acc`, `pre_nnz`, `pre_seconds`, `n_train`, `n_test`), the model's
    /// (`model`, `alpha` (null for the dense model), `hidden`, `nnz`, `test_acc_at_split`, `test_acc`,
    /// `train_acc`, `seconds`, `rewired`), every interference metric by name, `clause_capacity_I` and
    /// `curve_test_acc_epoch_E`. A value a row does not have is absent from it. The numbers are the records'
    /// own, bit for bit.
    pub fn rows(&self) -> Vec<Map<String, Value>> {
        let mut rows = Vec::new();
        for r in &self.records {
            let mut base = Map::new();
            base.insert("spec".into(), r.spec.clone().into());
            base.insert("fingerprint".into(), r.fingerprint.clone().into());
            base.insert("cell".into(), r.cell.clone().into());
            for part in r.cell.split_whitespace() {
                if let Some((name, value)) = part.split_once('=') {
                    let name = if name == "pre" { "pre_epochs" } else { name };
                    let value = value
                        .parse::<u64>()
                        .map_or_else(|_| Value::from(value), Value::from);
                    base.insert(name.into(), value);
                }
            }
            base.insert("trial".into(), r.trial.into());
            base.insert("seed".into(), r.seed.into());
            base.insert("pre_test_acc".into(), r.pre_test_acc.into());
            base.insert("pre_nnz".into(), r.pre_nnz.into());
            base.insert("pre_seconds".into(), r.pre_seconds.into());
            if let Some(n) = r.n_train {
                base.insert("n_train".into(), n.into());
            }
            if let Some(n) = r.n_test {
                base.insert("n_test".into(), n.into());
            }
            for m in &r.models {
                let mut row = base.clone();
                row.insert("model".into(), m.model.clone().into());
                row.insert("alpha".into(), m.alpha.into());
                row.insert("hidden".into(), m.hidden.into());
                row.insert("nnz".into(), m.nnz.into());
                row.insert("test_acc_at_split".into(), m.test_acc_at_split.into());
                row.insert("test_acc".into(), m.test_acc.into());
                row.insert("train_acc".into(), m.train_acc.into());
                row.insert("seconds".into(), m.seconds.into());
                if let Some(n) = m.rewired {
                    row.insert("rewired".into(), n.into());
                }
                for (k, v) in &m.metrics {
                    row.insert(k.clone(), (*v).into());
                }
                for (i, v) in m.clause_capacity.iter().enumerate() {
                    row.insert(format!("clause_capacity_{i}"), (*v).into());
                }
                for (e, v) in &m.curve {
                    row.insert(format!("curve_test_acc_epoch_{e}"), (*v).into());
                }
                rows.push(row);
            }
        }
        rows
    }

    /// What `neurosplit reproduce` prints after the run: the overrides, the table beside the paper's numbers,
    /// the comparison with the paper's tables, the protocol variants, the budget check, the wall time and the
    /// files written.
    pub fn text(&self) -> String {
        let spec = &self.spec;
        let mut s = String::new();
        if !self.scope.overrides().is_empty() {
            let _ = writeln!(
                s,
                "\noverrides of the committed spec: {}",
                self.scope.title_suffix()
            );
            let blocking: Vec<&str> = self.scope.blocking().map(|o| o.key.as_str()).collect();
            if !spec.paper.is_empty() && !blocking.is_empty() {
                let _ = writeln!(
                    s,
                    "no paper number is shown: the paper did not run this configuration ({} differ from the \
                     committed spec)",
                    blocking.join(", ")
                );
            }
        }
        if !spec.report.correction.is_none() {
            s.push_str("p-values: Holm-adjusted over the grid (one family per kind of test)\n");
        }
        let _ = writeln!(s, "\n{}", report::table(spec, &self.scope, &self.summaries));
        if !self.readings.is_empty() {
            s.push_str(
                "the paper's tables beside each reading (mean abs. relative deviation; rows in report.md):\n",
            );
            for (key, alpha, dev, n) in &self.readings {
                let models = alpha.map_or("dense".to_string(), |a| format!("FPE alpha={a}"));
                let _ = writeln!(
                    s,
                    "  {key:<28} {models:<12} {:>6.1}% over {n} rows",
                    100.0 * dev
                );
            }
            s.push('\n');
        }
        if !self.variants.is_empty() {
            let _ = writeln!(
                s,
                "protocol variants against the reference:\n\n{}",
                self.variants
            );
        }
        let _ = writeln!(
            s,
            "non-zero weights (every layer, biases not counted): {}",
            if self.budget_equal {
                "equal in every trial"
            } else {
                "NOT EQUAL: this is a bug"
            }
        );
        let _ = writeln!(
            s,
            "wall time: {:.1} s on {} threads ({} trials run, {} resumed from {})",
            self.wall_seconds,
            self.threads,
            self.ran,
            self.skipped,
            self.results.display()
        );
        if let Some(sh) = self.shard {
            let _ = writeln!(
                s,
                "shard {}/{} done; join the shards with `neurosplit merge -o {} {}/trials.shard-*-of-{}.jsonl`, \
                 then rerun without --shard to write the report",
                sh.k,
                sh.n,
                self.out.join("trials.jsonl").display(),
                self.out.display(),
                sh.n
            );
        }
        if let Some(path) = &self.report {
            let _ = writeln!(s, "report written to {}", path.display());
        }
        if let Some(path) = &self.json {
            let _ = writeln!(s, "results written to {}", path.display());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::spec::Spec;

    #[test]
    fn the_device_is_part_of_the_one_fingerprint() {
        let spec = Spec::load("case-study").unwrap();
        let cpu = runner::fingerprint(&spec, Device::Cpu);
        assert_eq!(cpu, format!("{:016x}", spec.fingerprint()));
        let gpu = runner::fingerprint(&spec, Device::Cuda(0));
        assert_eq!(gpu.len(), 16);
        assert_ne!(cpu, gpu);
        assert_eq!(gpu, runner::fingerprint(&spec, Device::Cuda(1)));
    }
}
