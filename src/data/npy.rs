//! Pre-computed embeddings (e.g. CLIP ViT-B/16 features of CIFAR-100) from NumPy files.
//!
//! Two layouts are accepted:
//! - one `.npz` archive (written by `numpy.savez` or `numpy.savez_compressed`) holding `x_train`, `y_train`, `x_test`,
//!   `y_test`;
//! - a folder holding `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
//!
//! Features are 2-D `float32` or `float64` arrays (`n x d`); labels are 1-D integer arrays with values
//! `0..C`. The number of classes `C` is the largest label plus one (over both splits), at most
//! [`MAX_CLASSES`].
//!
//! Every array's header is checked against the bytes that really follow it before anything is allocated: a
//! header announcing more values than the file holds is an error, never a huge allocation.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyExt, ReadableElement};

use crate::data::{Dataset, Task};
use crate::error::{Error, Result};

/// The four array names every embeddings source must provide.
pub const ARRAYS: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

/// The most classes an embeddings file may name (the largest label plus one): a label is an index into the
/// model's output layer, so one stray huge label would otherwise ask for a huge model.
pub const MAX_CLASSES: usize = 100_000;

/// Checks an `.npy` file's header against its length: the magic string, a header that fits in the file, a
/// plain `descr` with an item size, a `shape` whose element count times the item size is exactly the number of
/// data bytes after the header. Returns the shape. Nothing is allocated beyond the header text.
pub fn check_npy(bytes: &[u8]) -> std::result::Result<Vec<usize>, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err("not an .npy file (no \\x93NUMPY magic string)".into());
    }
    let (len_bytes, start) = match bytes[6] {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => {
            return Err(format!(
                ".npy format version {v} is not supported (1, 2 or 3)"
            ))
        }
    };
    if bytes.len() < start {
        return Err("truncated .npy header".into());
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let header = start
        .checked_add(header_len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| {
            format!(
                "the header claims {header_len} bytes but the file has only {}",
                bytes.len()
            )
        })?;
    let data = bytes.len() - start - header_len;
    let text =
        std::str::from_utf8(header).map_err(|_| "the .npy header is not text".to_string())?;
    let value: py_literal::Value = text
        .trim()
        .parse()
        .map_err(|_| "the .npy header is not a Python dict literal".to_string())?;
    let py_literal::Value::Dict(entries) = value else {
        return Err("the .npy header is not a Python dict".into());
    };
    let get = |key: &str| {
        entries.iter().find_map(|(k, v)| match k {
            py_literal::Value::String(s) if s == key => Some(v),
            _ => None,
        })
    };
    let item = match get("descr") {
        Some(py_literal::Value::String(d)) => d
            .trim_start_matches(['<', '>', '|', '='])
            .get(1..)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| format!(".npy dtype '{d}' is not a plain number type"))?,
        _ => return Err("the .npy header has no plain 'descr' (dtype)".into()),
    };
    let shape: Vec<usize> = match get("shape") {
        Some(py_literal::Value::Tuple(dims)) => dims
            .iter()
            .map(|d| match d {
                py_literal::Value::Integer(n) => usize::try_from(n.clone()).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| "the .npy shape is not a tuple of non-negative integers".to_string())?,
        _ => return Err("the .npy header has no 'shape' tuple".into()),
    };
    let need = shape
        .iter()
        .try_fold(item, |a, &d| a.checked_mul(d))
        .filter(|&n| n == data)
        .ok_or_else(|| {
            format!("the header announces shape {shape:?} of {item}-byte values but {data} data bytes follow")
        })?;
    debug_assert_eq!(need, data);
    Ok(shape)
}

/// A source of named arrays: an `.npz` archive or a folder of `.npy` files.
enum Source {
    Npz(Box<zip::ZipArchive<File>>, u64),
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
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // Each array read from the archive is at most its length.
        crate::limits::check_memory(&format!("reading {}", path.display()), Some(len as u128))?;
        let npz = zip::ZipArchive::new(file).map_err(|e| {
            Error::invalid(
                "embeddings",
                format!(
                    "{} is neither a folder nor a readable .npz archive ({e}); save with numpy.savez \
                     or numpy.savez_compressed",
                    path.display()
                ),
            )
        })?;
        Ok(Source::Npz(Box::new(npz), len))
    }

    /// The bytes of array `name`'s `.npy` data, at most as many as the archive or file holds.
    fn bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let what = format!("embeddings array '{name}'");
        match self {
            Source::Npz(npz, len) => {
                let file = format!("{name}.npy");
                let index = npz
                    .index_for_name(&file)
                    .or_else(|| npz.index_for_name(name))
                    .ok_or_else(|| Error::invalid(&what, "not found in the archive"))?;
                let mut entry = npz
                    .by_index(index)
                    .map_err(|e| Error::invalid(&what, format!("unreadable archive entry: {e}")))?;
                let mut out = Vec::new();
                // An uncompressed entry is never longer than the archive; read no more than that.
                (&mut entry)
                    .take(*len)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::invalid(&what, format!("unreadable archive entry: {e}")))?;
                Ok(out)
            }
            Source::Dir(dir) => {
                let path = dir.join(format!("{name}.npy"));
                crate::limits::read_file(&path)
            }
        }
    }

    /// Reads array `name` as element type `T` and dimension `D`; `Ok(None)` when its dtype or rank differs.
    fn features(&mut self, name: &str) -> Result<Array2<f32>> {
        let bytes = self.bytes(name)?;
        parse_features(&bytes, name)
    }

    fn labels(&mut self, name: &str) -> Result<Vec<i64>> {
        let bytes = self.bytes(name)?;
        parse_labels(&bytes, name)
    }
}

/// Reads `.npy` bytes as element type `T` and dimension `D` after [`check_npy`]; `Ok(None)` when the dtype or
/// rank differs.
fn read<T: ReadableElement, D: ndarray::Dimension>(
    bytes: &[u8],
    name: &str,
) -> Result<Option<ndarray::Array<T, D>>> {
    let what = format!("embeddings array '{name}'");
    check_npy(bytes).map_err(|why| Error::invalid(&what, why))?;
    match ndarray::Array::<T, D>::read_npy(Cursor::new(bytes)) {
        Ok(a) => Ok(Some(a)),
        Err(
            ndarray_npy::ReadNpyError::WrongDescriptor(_)
            | ndarray_npy::ReadNpyError::WrongNdim(..),
        ) => Ok(None),
        Err(e) => Err(Error::invalid(what, e.to_string())),
    }
}

/// Parses the bytes of a `.npy` file holding features: a 2-D `float32` or `float64` array (`name` is for
/// messages).
pub fn parse_features(bytes: &[u8], name: &str) -> Result<Array2<f32>> {
    if let Some(a) = read::<f32, ndarray::Ix2>(bytes, name)? {
        return Ok(a);
    }
    if let Some(a) = read::<f64, ndarray::Ix2>(bytes, name)? {
        return Ok(a.mapv(|v| v as f32));
    }
    Err(Error::invalid(
        format!("embeddings array '{name}'"),
        "must be a 2-D float32 or float64 array (samples x features)",
    ))
}

/// Parses the bytes of a `.npy` file holding class labels: a 1-D integer array (`name` is for messages).
pub fn parse_labels(bytes: &[u8], name: &str) -> Result<Vec<i64>> {
    macro_rules! try_int {
        ($($t:ty),*) => {$(
            if let Some(a) = read::<$t, ndarray::Ix1>(bytes, name)? {
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
    if let Some(bad) = all.clone().find(|&&c| c < 0 || c >= MAX_CLASSES as i64) {
        return Err(Error::invalid(
            "embeddings",
            format!("label {bad} is not a class index 0..C with C <= {MAX_CLASSES}"),
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
