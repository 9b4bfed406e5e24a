//! A user's own data from files, for fine-tuning a model on it ([`load_data`]).
//!
//! | `path` | read as |
//! |---|---|
//! | `data.npz` (`numpy.savez` or `numpy.savez_compressed`) | arrays `x_train`, `y_train`, `x_test`, `y_test` |
//! | a folder with `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy` | the same four arrays |
//! | a folder with `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...` (MNIST-style IDX) | pixels scaled to `[0, 1]` |
//! | `data.csv` | one header row, one column of integer labels (named by [`DataOptions::label`]), every other column a feature; [`DataOptions::test_fraction`] of the rows (a seeded shuffle) become the test set |
//! | a folder with `train.csv` and `test.csv` | the same columns, the given split |
//!
//! Labels are class indices `0..C`; a model with one output (binary) needs labels 0 and 1 only
//! ([`Splits::for_task`]). An optional validation set is cut from the training rows
//! ([`DataOptions::val_fraction`]).

use std::path::Path;

use rand::seq::SliceRandom;

use crate::data::npy::load_embeddings;
use crate::data::{idx, Dataset, Task};
use crate::error::{Error, Result};
use crate::rng::{self, purpose};

/// How to read and split a user's data.
#[derive(Clone, Debug, PartialEq)]
pub struct DataOptions {
    /// Name of the CSV label column.
    pub label: String,
    /// Fraction of a single CSV file's rows held out as the test set.
    pub test_fraction: f64,
    /// Fraction of the training rows held out for validation (0 = no validation set).
    pub val_fraction: f64,
    /// Seed of the shuffles that cut the test and validation sets.
    pub seed: u64,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            label: "label".into(),
            test_fraction: 0.2,
            val_fraction: 0.0,
            seed: 0,
        }
    }
}

/// Train, optional validation, and test sets.
#[derive(Clone, Debug)]
pub struct Splits {
    /// What the model trains on.
    pub train: Dataset,
    /// Held out from `train` for validation, if asked for.
    pub val: Option<Dataset>,
    /// What the model is evaluated on.
    pub test: Dataset,
}

impl Splits {
    /// The same data labelled for `task`: a binary model needs labels 0/1, a `C`-class model labels below `C`.
    pub fn for_task(self, task: Task) -> Result<Self> {
        let relabel = |d: Dataset, which: &str| -> Result<Dataset> {
            let max = d.y.iter().copied().max().unwrap_or(0) as usize;
            if max >= task.outputs().max(2) {
                return Err(Error::invalid(
                    "data",
                    match task {
                        Task::Binary => format!(
                            "the model has one output (binary) but the {which} labels go up to {max}; \
                             binary data has labels 0 and 1"
                        ),
                        Task::Multiclass(c) => format!(
                            "the model has {c} outputs but the {which} labels go up to {max}; labels must be 0..{c}"
                        ),
                    },
                ));
            }
            Dataset::new(d.x, d.y, d.d, task)
        };
        Ok(Splits {
            train: relabel(self.train, "training")?,
            val: self.val.map(|v| relabel(v, "validation")).transpose()?,
            test: relabel(self.test, "test")?,
        })
    }
}

/// Loads a user's data set from `path` (see the module docs for the accepted layouts).
pub fn load_data(path: &Path, opts: &DataOptions) -> Result<Splits> {
    check_fractions(opts)?;
    let (train, test) = read(path, opts)?;
    hold_out(train, Some(test), opts)
}

fn check_fractions(opts: &DataOptions) -> Result<()> {
    for (what, f) in [
        ("test fraction", opts.test_fraction),
        ("validation fraction", opts.val_fraction),
    ] {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::invalid(what, format!("{f} is not in [0, 1)")));
        }
    }
    Ok(())
}

/// The splits of a user's data given as arrays (the Python package) or read from files: without a test set,
/// [`DataOptions::test_fraction`] of the training rows become one (the same seeded cut as a single CSV file's);
/// then [`DataOptions::val_fraction`] of the remaining training rows become the validation set. Every front
/// holds data out by this one rule.
pub fn hold_out(train: Dataset, test: Option<Dataset>, opts: &DataOptions) -> Result<Splits> {
    check_fractions(opts)?;
    let (train, test) = match test {
        Some(test) => (train, test),
        None if opts.test_fraction > 0.0 => cut(train, opts.test_fraction, opts.seed, 1, "test")?,
        None => {
            return Err(Error::invalid(
                "test data",
                "no test set was given and the test fraction is 0: give a test set or a test fraction in (0, 1)",
            ))
        }
    };
    if train.d != test.d {
        return Err(Error::invalid(
            "data",
            format!(
                "the training rows have {} features but the test rows {}",
                train.d, test.d
            ),
        ));
    }
    if opts.val_fraction > 0.0 {
        let (train, val) = cut(train, opts.val_fraction, opts.seed, 2, "validation")?;
        Ok(Splits {
            train,
            val: Some(val),
            test,
        })
    } else {
        Ok(Splits {
            train,
            val: None,
            test,
        })
    }
}

fn read(path: &Path, opts: &DataOptions) -> Result<(Dataset, Dataset)> {
    if path.is_dir() {
        if path.join("x_train.npy").is_file() {
            return load_embeddings(path);
        }
        let has =
            |stem: &str| path.join(stem).is_file() || path.join(format!("{stem}.gz")).is_file();
        if has("train-images-idx3-ubyte") {
            return idx_folder(path);
        }
        if path.join("train.csv").is_file() && path.join("test.csv").is_file() {
            let (train, columns) = read_csv_columns(&path.join("train.csv"), &opts.label, None)?;
            let (test, _) = read_csv_columns(&path.join("test.csv"), &opts.label, Some(&columns))?;
            return Ok((train, test));
        }
        return Err(Error::invalid(
            "data",
            format!(
                "{} holds none of x_train.npy (NumPy), train-images-idx3-ubyte[.gz] (IDX), or train.csv + test.csv",
                path.display()
            ),
        ));
    }
    if !path.exists() {
        return Err(Error::invalid(
            "data",
            format!("{} does not exist", path.display()),
        ));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => load_embeddings(path),
        Some("csv") => {
            let all = read_csv(path, &opts.label)?;
            if opts.test_fraction == 0.0 {
                return Err(Error::invalid(
                    "test fraction",
                    "a single CSV file needs a test fraction in (0, 1) to hold out its test set",
                ));
            }
            cut(all, opts.test_fraction, opts.seed, 1, "test")
        }
        _ => Err(Error::invalid(
            "data",
            format!(
                "{}: expected a .npz archive, a .csv file, or a folder (of .npy, IDX or train/test .csv files)",
                path.display()
            ),
        )),
    }
}

fn idx_folder(dir: &Path) -> Result<(Dataset, Dataset)> {
    let find = |stem: &str| -> Result<std::path::PathBuf> {
        [format!("{stem}.gz"), stem.to_string()]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::invalid(
                    "IDX data",
                    format!("{stem}(.gz) not found in {}", dir.display()),
                )
            })
    };
    let read = |img: &str, lab: &str| -> Result<(idx::IdxArray, idx::IdxArray)> {
        Ok((idx::read_idx(&find(img)?)?, idx::read_idx(&find(lab)?)?))
    };
    let (xi, yi) = read("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let (xt, yt) = read("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let classes = yi.data.iter().chain(&yt.data).copied().max().unwrap_or(0) as usize + 1;
    Ok((
        idx::idx_dataset(&xi, &yi, classes.max(2))?,
        idx::idx_dataset(&xt, &yt, classes.max(2))?,
    ))
}

/// Reads a CSV file with a header row; `label` names the label column.
pub fn read_csv(path: &Path, label: &str) -> Result<Dataset> {
    read_csv_columns(path, label, None).map(|(d, _)| d)
}

/// Reads a CSV file with a header row and returns it with its feature columns' names, in the order of the
/// dataset's features. With `columns` (another file's feature names, e.g. the training file's for a test file),
/// the features are matched **by name** and put in that order; a file whose feature names differ from them, as a
/// set, is refused with both lists.
pub fn read_csv_columns(
    path: &Path,
    label: &str,
    columns: Option<&[String]>,
) -> Result<(Dataset, Vec<String>)> {
    let shown = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::invalid("CSV data", format!("{shown}: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid("CSV data", format!("{shown}: {e}")))?
        .clone();
    let Some(li) = headers.iter().position(|h| h == label) else {
        return Err(Error::invalid(
            "CSV data",
            format!(
                "{shown} has no column '{label}' (its columns: {}); name the label column with --label",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let d = headers.len() - 1;
    if d == 0 {
        return Err(Error::invalid(
            "CSV data",
            format!("{shown} has no feature columns besides '{label}'"),
        ));
    }
    let names: Vec<String> = (0..headers.len())
        .filter(|&c| c != li)
        .map(|c| headers[c].to_string())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::invalid(
            "CSV data",
            format!("{shown} has two feature columns named '{dup}': name every column once"),
        ));
    }
    // Where each column of the file goes among the features (the label column goes nowhere).
    let mut slot = vec![usize::MAX; headers.len()];
    let order: Vec<String> = match columns {
        None => {
            let mut f = 0;
            for (c, s) in slot.iter_mut().enumerate() {
                if c != li {
                    *s = f;
                    f += 1;
                }
            }
            names
        }
        Some(want) => {
            let mut sorted_want: Vec<&String> = want.iter().collect();
            let mut sorted_have: Vec<&String> = names.iter().collect();
            sorted_want.sort();
            sorted_have.sort();
            if sorted_want != sorted_have {
                let missing: Vec<&str> = want
                    .iter()
                    .filter(|w| !names.contains(w))
                    .map(String::as_str)
                    .collect();
                let extra: Vec<&str> = names
                    .iter()
                    .filter(|n| !want.contains(n))
                    .map(String::as_str)
                    .collect();
                return Err(Error::invalid(
                    "CSV data",
                    format!(
                        "{shown}'s feature columns differ from the training file's: missing [{}], extra [{}]; \
                         both files need the same named columns (in any order)",
                        missing.join(", "),
                        extra.join(", ")
                    ),
                ));
            }
            for (c, s) in slot.iter_mut().enumerate() {
                if c != li {
                    *s = want
                        .iter()
                        .position(|w| *w == headers[c])
                        .expect("the name sets are equal");
                }
            }
            want.to_vec()
        }
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut row = vec![0.0f32; d];
    for (r, record) in reader.records().enumerate() {
        let line = r + 2;
        let record = record.map_err(|e| Error::invalid("CSV data", format!("{shown}: {e}")))?;
        for (c, field) in record.iter().enumerate() {
            if c == li {
                let v: u32 = field.parse().map_err(|_| {
                    Error::invalid(
                        "CSV data",
                        format!("{shown} line {line}: label '{field}' is not a class index 0, 1, 2, ..."),
                    )
                })?;
                y.push(v);
            } else {
                let v: f32 = field
                    .parse()
                    .ok()
                    .filter(|v: &f32| v.is_finite())
                    .ok_or_else(|| {
                        Error::invalid(
                            "CSV data",
                            format!(
                                "{shown} line {line}, column '{}': '{field}' is not a finite number",
                                &headers[c]
                            ),
                        )
                    })?;
                row[slot[c]] = v;
            }
        }
        x.extend_from_slice(&row);
    }
    if y.is_empty() {
        return Err(Error::invalid("CSV data", format!("{shown} has no rows")));
    }
    let classes = y.iter().copied().max().unwrap_or(0) as usize + 1;
    Ok((
        Dataset::new(x, y, d, Task::Multiclass(classes.max(2)))?,
        order,
    ))
}

/// Splits `data` into (kept, held out) with `fraction` of the rows held out, chosen by a seeded shuffle; both
/// keep the rows' original order.
fn cut(
    data: Dataset,
    fraction: f64,
    seed: u64,
    which: u64,
    what: &str,
) -> Result<(Dataset, Dataset)> {
    let held = (data.n as f64 * fraction).round() as usize;
    if held == 0 || held == data.n {
        return Err(Error::invalid(
            format!("{what} fraction"),
            format!("{fraction} of {} rows leaves an empty set", data.n),
        ));
    }
    let mut order: Vec<usize> = (0..data.n).collect();
    order.shuffle(&mut rng::stream(seed, &[purpose::DATA_SPLIT, which]));
    let mut out = vec![false; data.n];
    for &i in &order[..held] {
        out[i] = true;
    }
    let pick = |want: bool| -> Result<Dataset> {
        let rows: Vec<usize> = (0..data.n).filter(|&i| out[i] == want).collect();
        let x = rows
            .iter()
            .flat_map(|&i| data.row(i).iter().copied())
            .collect();
        let y = rows.iter().map(|&i| data.y[i]).collect();
        Dataset::new(x, y, data.d, data.task)
    };
    Ok((pick(false)?, pick(true)?))
}
