//! The paper's experiments as declarative specs, and the one trial pipeline every front runs:
//! [`spec`] (TOML, one per paper result in `experiments/`: data plus validation), [`runner`] (plans grid
//! cells x trials, runs them in parallel, resumable JSONL results, shards), [`trial`] (data -> pre-train ->
//! expand -> post-train -> metrics -> record, shared with `neurosplit train`), [`report`] (tables beside the
//! paper's numbers where [`paper_scope`] says the paper ran the cell, Welch and paired tests, Holm), [`figures`] (pictures from the report's summaries, with their numbers as CSV), [`export`] (results as CSV) and
//! [`estimate`]
//! (run-time estimates for `reproduce --list`); [`reproduce`] is the whole reproduce workflow as one call
//! (overrides, shard merge, run, report and figures), which the CLI and the Python package both call.
//!
//! Imports point one way: `reproduce -> {figures, report, ablation, paper_tables, estimate, runner}`,
//! `runner -> {spec, trial}`, `figures -> report -> {paper_scope, runner, spec}`.

pub mod ablation;
pub mod estimate;
pub mod export;
pub mod figures;
pub mod paper_scope;
pub mod paper_tables;
pub mod record;
pub mod report;
pub mod reproduce;
pub mod runner;
pub mod spec;
pub mod store;

// The pipeline lives one floor down; these names stay for callers of the experiment API.
pub use crate::pipeline::{finetune, trial, with_threads};
