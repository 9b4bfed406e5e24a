//! Results as flat tables for analysis elsewhere (pandas, R, a spreadsheet): `neurosplit export RESULTS --csv`.
//!
//! One row per trial x post-split model. The grid position, stored in the results file as one key such as
//! `clauses=8 depth=2 neurons=4 pre=20`, becomes one integer column per axis (`clauses`, `depth`, `neurons`,
//! `pre_epochs`); every number of the record is its own column: the trial's (`pre_test_acc`, `pre_nnz`, ...),
//! the model's (`test_acc`, `nnz`, ...), every interference metric by name, every clause's capacity
//! (`clause_capacity_0`, ...), and every recorded point of the test curve (`curve_test_acc_epoch_E`). A value a
//! row does not have (a dense model's `alpha`, a metric not computed) is an empty field, which CSV readers read
//! as missing. Floats are written shortest-round-trip ([`float`]): reading a field back gives exactly the
//! stored `f64`. Records with provenance add its `version`, `commit`, `isa`, `cpu` and `threads` columns.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::experiment::runner::TrialRecord;

/// A table of text fields with a header, as written to CSV.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many fields as columns: a programming error otherwise).
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.header.len(), "row width != header width");
        self.rows.push(row);
    }

    /// Writes the table as CSV (RFC 4180 quoting, `\n` line ends).
    pub fn write_csv(&self, out: impl Write) -> Result<()> {
        let err = |e: csv::Error| Error::invalid("csv", e.to_string());
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(&self.header).map_err(err)?;
        for row in &self.rows {
            w.write_record(row).map_err(err)?;
        }
        w.flush().map_err(|e| Error::invalid("csv", e.to_string()))
    }

    /// Writes the table as CSV to `path`, atomically ([`crate::io::atomic::write`]).
    pub fn save_csv(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        self.write_csv(&mut bytes)?;
        crate::io::atomic::write(path, bytes)
    }
}

/// A float as CSV text: Rust's shortest representation that reads back as exactly `x` (never an exponent;
/// `NaN`, `inf` and `-inf` as pandas and R read them).
pub fn float(x: f64) -> String {
    format!("{x}")
}

/// An optional float; `None` is an empty (missing) field.
pub fn opt_float(x: Option<f64>) -> String {
    x.map_or_else(String::new, float)
}

/// The grid axes of a cell key (`clauses=8 depth=2 neurons=4 pre=20`), as `(column, value)`; the key's `pre`
/// is the column `pre_epochs`.
pub fn cell_axes(key: &str) -> Result<Vec<(String, u64)>> {
    key.split_whitespace()
        .map(|part| {
            let bad = || {
                Error::invalid(
                    "results file",
                    format!("cell '{key}' is not a list of name=number"),
                )
            };
            let (name, value) = part.split_once('=').ok_or_else(bad)?;
            let value: u64 = value.parse().map_err(|_| bad())?;
            let name = if name == "pre" { "pre_epochs" } else { name };
            Ok((name.to_string(), value))
        })
        .collect()
}

/// One row per trial x post-split model (see the module docs), in the records' order.
pub fn trials_table(records: &[TrialRecord]) -> Result<Table> {
    // Columns that only some rows have: the union over all records, axes in first-seen order.
    let mut axes: Vec<String> = Vec::new();
    let mut metrics = BTreeSet::new();
    let mut clause_cols = 0;
    let mut epochs = BTreeSet::new();
    let mut rewired = false;
    let provenance = records.iter().any(|r| r.provenance.is_some());
    let mut parsed = Vec::with_capacity(records.len());
    for r in records {
        let cell: BTreeMap<String, u64> = cell_axes(&r.cell)?.into_iter().collect();
        for (name, _) in cell_axes(&r.cell)? {
            if !axes.contains(&name) {
                axes.push(name);
            }
        }
        for m in &r.models {
            metrics.extend(m.metrics.keys().cloned());
            clause_cols = clause_cols.max(m.clause_capacity.len());
            epochs.extend(m.curve.iter().map(|&(e, _)| e));
            rewired |= m.rewired.is_some();
        }
        parsed.push(cell);
    }
    let mut header: Vec<String> = ["spec", "fingerprint"].map(String::from).to_vec();
    header.extend(axes.iter().cloned());
    header.extend(
        [
            "trial",
            "seed",
            "pre_test_acc",
            "pre_nnz",
            "pre_seconds",
            "model",
            "alpha",
            "hidden",
            "nnz",
            "test_acc_at_split",
            "test_acc",
            "train_acc",
            "seconds",
        ]
        .map(String::from),
    );
    if rewired {
        header.push("rewired".into());
    }
    header.extend(metrics.iter().cloned());
    header.extend((0..clause_cols).map(|i| format!("clause_capacity_{i}")));
    header.extend(epochs.iter().map(|e| format!("curve_test_acc_epoch_{e}")));
    if provenance {
        header.extend(["version", "commit", "isa", "cpu", "threads"].map(String::from));
    }
    let mut table = Table::new(header);
    for (r, cell) in records.iter().zip(&parsed) {
        for m in &r.models {
            let mut row = vec![r.spec.clone(), r.fingerprint.clone()];
            row.extend(
                axes.iter()
                    .map(|a| cell.get(a).map_or(String::new(), u64::to_string)),
            );
            row.extend([
                r.trial.to_string(),
                r.seed.to_string(),
                float(r.pre_test_acc),
                r.pre_nnz.to_string(),
                float(r.pre_seconds),
                m.model.clone(),
                m.alpha.map_or(String::new(), |a| a.to_string()),
                m.hidden.to_string(),
                m.nnz.to_string(),
                float(m.test_acc_at_split),
                float(m.test_acc),
                float(m.train_acc),
                float(m.seconds),
            ]);
            if rewired {
                row.push(m.rewired.map_or(String::new(), |n| n.to_string()));
            }
            row.extend(metrics.iter().map(|k| opt_float(m.metrics.get(k).copied())));
            row.extend((0..clause_cols).map(|i| opt_float(m.clause_capacity.get(i).copied())));
            let curve: BTreeMap<usize, f64> = m.curve.iter().copied().collect();
            row.extend(epochs.iter().map(|e| opt_float(curve.get(e).copied())));
            if provenance {
                let p = r.provenance.as_ref();
                let text =
                    |f: fn(&crate::provenance::Provenance) -> String| p.map_or(String::new(), f);
                row.extend([
                    text(|p| p.version.clone()),
                    text(|p| p.commit.clone()),
                    text(|p| p.isa.clone()),
                    text(|p| p.cpu.clone()),
                    text(|p| p.threads.to_string()),
                ]);
            }
            table.push(row);
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_keys_become_integer_columns() {
        assert_eq!(
            cell_axes("clauses=8 depth=2 neurons=4 pre=20").unwrap(),
            vec![
                ("clauses".to_string(), 8),
                ("depth".to_string(), 2),
                ("neurons".to_string(), 4),
                ("pre_epochs".to_string(), 20)
            ]
        );
        let err = cell_axes("depth=two").unwrap_err().to_string();
        assert!(err.contains("name=number"), "{err}");
    }

    #[test]
    fn floats_read_back_exactly() {
        for x in [
            0.1,
            1.0 / 3.0,
            1e-7,
            123456.789,
            0.0010000000474974513,
            5e-324,
        ] {
            let text = float(x);
            assert!(!text.contains('e'), "{text}");
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                x.to_bits(),
                "{text}"
            );
        }
        assert_eq!(float(0.5), "0.5");
        assert_eq!(opt_float(None), "");
    }
}
