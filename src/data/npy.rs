//! Pre-computed embeddings (e.g. CLIP ViT-B/16 features of CIFAR-100) from NumPy files.
//!
//! Two layouts are accepted:
//! - one `.npz` archive (written by `numpy.savez`, uncompressed) holding `x_train`, `y_train`, `x_test`,
//!   `y_test`;
//! - a folder holding `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
//!
//! Features are 2-D `float32` or `float64` arrays (`n x d`); labels are 1-D integer arrays with values
//! `0..C`. The number of classes `C` is the largest label plus one (over both splits).

use std::fs::File;
use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, ReadNpyExt, ReadableElement};

use crate::data::{Dataset, Task};
use crate::error::{Error, Result};

/// The four array names every embeddings source must provide.
pub const ARRAYS: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

/// A source of named arrays: an `.npz` archive or a folder of `.npy` files.
enum Source {
    Npz(Box<NpzReader<File>>),
    Dir(std::path::PathBuf),
}

impl Source {
    fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let file = File::open(path).map_err(|e| {
            Error::invalid(
                "embeddings",
                format!(
                    "cannot open {}: {e}. Produce the file with the recipe in docs/REPRODUCTION.md \
                     (\"Embeddings\") and set `path` in the spec or pass --data-dir",
                    path.display()
                ),
            )
        })?;
        let npz = NpzReader::new(file).map_err(|e| {
            Error::invalid(
                "embeddings",
                format!(
                    "{} is neither a folder nor a readable .npz archive ({e}); save with numpy.savez \
                     (uncompressed)",
                    path.display()
                ),
            )
        })?;
        Ok(Source::Npz(Box::new(npz)))
    }

    /// Reads array `name` as element type `T` and dimension `D`; `Ok(None)` when its dtype or rank differs.
    fn read<T: ReadableElement, D: ndarray::Dimension>(
        &mut self,
        name: &str,
    ) -> Result<Option<ndarray::Array<T, D>>> {
        let what = format!("embeddings array '{name}'");
        match self {
            Source::Npz(npz) => match npz.by_name::<ndarray::OwnedRepr<T>, D>(name) {
                Ok(a) => Ok(Some(a)),
                Err(ndarray_npy::ReadNpzError::Npy(
                    ndarray_npy::ReadNpyError::WrongDescriptor(_),
                )) => Ok(None),
                Err(e) => Err(Error::invalid(what, e.to_string())),
            },
            Source::Dir(dir) => {
                let path = dir.join(format!("{name}.npy"));
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                match ndarray::Array::<T, D>::read_npy(file) {
                    Ok(a) => Ok(Some(a)),
                    Err(
                        ndarray_npy::ReadNpyError::WrongDescriptor(_)
                        | ndarray_npy::ReadNpyError::WrongNdim(..),
                    ) => Ok(None),
                    Err(e) => Err(Error::invalid(what, format!("{}: {e}", path.display()))),
                }
            }
        }
    }

    fn features(&mut self, name: &str) -> Result<Array2<f32>> {
        if let Some(a) = self.read::<f32, ndarray::Ix2>(name)? {
            return Ok(a);
        }
        if let Some(a) = self.read::<f64, ndarray::Ix2>(name)? {
            return Ok(a.mapv(|v| v as f32));
        }
        Err(Error::invalid(
            format!("embeddings array '{name}'"),
            "must be a 2-D float32 or float64 array (samples x features)",
        ))
    }

    fn labels(&mut self, name: &str) -> Result<Vec<i64>> {
        macro_rules! try_int {
            ($($t:ty),*) => {$(
                if let Some(a) = self.read::<$t, ndarray::Ix1>(name)? {
                    let a: Array1<$t> = a;
                    return Ok(a.iter().map(|&v| v as i64).collect());
                }
            )*};
        }
        try_int!(i64, i32, u8, u16, u32, u64, i16, i8);
        Err(Error::invalid(
            format!("embeddings array '{name}'"),
            "must be a 1-D integer array of class labels",
        ))
    }
}

fn dataset(x: Array2<f32>, y: Vec<i64>, classes: usize, split: &str) -> Result<Dataset> {
    let (n, d) = x.dim();
    if y.len() != n {
        return Err(Error::invalid(
            "embeddings",
            format!(
                "x_{split} has {n} rows but y_{split} has {} labels",
                y.len()
            ),
        ));
    }
    let x: Vec<f32> = x.iter().copied().collect(); // logical (row-major) order whatever the memory layout
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "embeddings",
            format!("x_{split} contains a non-finite value ({v})"),
        ));
    }
    let y = y.into_iter().map(|c| c as u32).collect();
    Dataset::new(x, y, d, Task::Multiclass(classes))
}

/// The files [`load_embeddings`] reads from `path`: the archive itself, or a folder's four `.npy` files.
pub fn embedding_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        ARRAYS
            .iter()
            .map(|name| path.join(format!("{name}.npy")))
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

/// Loads train and test embeddings from an `.npz` archive or a folder of `.npy` files (see the module docs).
pub fn load_embeddings(path: &Path) -> Result<(Dataset, Dataset)> {
    let mut src = Source::open(path)?;
    let x_train = src.features("x_train")?;
    let y_train = src.labels("y_train")?;
    let x_test = src.features("x_test")?;
    let y_test = src.labels("y_test")?;
    if x_train.ncols() != x_test.ncols() {
        return Err(Error::invalid(
            "embeddings",
            format!(
                "x_train has {} features but x_test has {}",
                x_train.ncols(),
                x_test.ncols()
            ),
        ));
    }
    let all = y_train.iter().chain(&y_test);
    if let Some(bad) = all.clone().find(|&&c| c < 0 || c > u32::MAX as i64 / 2) {
        return Err(Error::invalid(
            "embeddings",
            format!("label {bad} is not a class index 0..C"),
        ));
    }
    let classes = all.copied().max().unwrap_or(0) as usize + 1;
    if classes < 2 {
        return Err(Error::invalid(
            "embeddings",
            "the labels name fewer than two classes",
        ));
    }
    Ok((
        dataset(x_train, y_train, classes, "train")?,
        dataset(x_test, y_test, classes, "test")?,
    ))
}
