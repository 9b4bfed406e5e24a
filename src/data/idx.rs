//! IDX files (the MNIST / FashionMNIST format), plain or gzip-compressed, and the FashionMNIST loader.
//!
//! An IDX file is a big-endian header — two zero bytes, a type code (`0x08` = unsigned byte), the number of
//! dimensions — then one `u32` size per dimension, then the values row-major. Images are `n x 28 x 28` bytes,
//! labels `n` bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::{Dataset, Task};
use crate::error::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` package installs the four files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// How to get FashionMNIST, for error messages.
pub const FASHION_MNIST_HINT: &str = "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), \
     or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and \
     t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist into a folder and pass it \
     with --data-dir";

/// An unsigned-byte IDX array: its dimensions and values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Size of each dimension.
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<u8>,
}

/// The most bytes a gzip stream may expand to per compressed byte: deflate cannot do better than about 1032:1,
/// so a compressed IDX file whose header announces more values than that is refused before decompressing.
pub const MAX_GZIP_RATIO: usize = 1100;

/// Parses an unsigned-byte IDX array from bytes (gzip-compressed or not: detected by the gzip magic number).
///
/// The header's dimensions are checked against the data before anything is allocated: a plain file must hold
/// exactly the announced number of values, a compressed one at most [`MAX_GZIP_RATIO`] values per compressed
/// byte, and its decompressed data must then hold exactly the announced number.
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<IdxArray> {
    let bad = |why: String| Error::invalid(what, why);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut gz = flate2::read::GzDecoder::new(bytes);
        let gz_err = |e: std::io::Error| bad(format!("not a valid gzip file: {e}"));
        let mut head = [0u8; 4];
        gz.read_exact(&mut head).map_err(gz_err)?;
        let mut dims_bytes = vec![0u8; 4 * head[3] as usize];
        gz.read_exact(&mut dims_bytes).map_err(gz_err)?;
        let (dims, count) = header(&head, &dims_bytes, what)?;
        if count > bytes.len().saturating_mul(MAX_GZIP_RATIO) {
            return Err(bad(format!(
                "the header announces dimensions {dims:?} ({count} values), more than a {}-byte gzip \
                 file can hold",
                bytes.len()
            )));
        }
        let mut data = Vec::new();
        data.try_reserve_exact(count).map_err(|_| {
            bad(format!(
                "cannot allocate {count} bytes for dimensions {dims:?}"
            ))
        })?;
        gz.take(count as u64 + 1)
            .read_to_end(&mut data)
            .map_err(gz_err)?;
        if data.len() != count {
            return Err(bad(format!(
                "the header announces dimensions {dims:?} but {}{} data bytes follow",
                data.len().min(count),
                if data.len() > count { "+" } else { "" }
            )));
        }
        return Ok(IdxArray { dims, data });
    }
    if bytes.len() < 4 {
        return Err(bad(
            "not an IDX file (shorter than its 4-byte magic number)".into(),
        ));
    }
    let ndim = bytes[3] as usize;
    let dims_bytes = bytes.get(4..4 + 4 * ndim).unwrap_or(&[]);
    let (dims, count) = header(&bytes[..4], dims_bytes, what)?;
    let header = 4 + 4 * ndim;
    if bytes.len() - header != count {
        return Err(bad(format!(
            "the header announces dimensions {dims:?} but {} data bytes follow",
            bytes.len() - header
        )));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Checks the 4-byte magic number and reads the dimensions; returns them and their product.
fn header(magic: &[u8], dims_bytes: &[u8], what: &str) -> Result<(Vec<usize>, usize)> {
    let bad = |why: String| Error::invalid(what, why);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(bad(
            "not an IDX file (the first two bytes must be zero)".into()
        ));
    }
    if magic[2] != 0x08 {
        return Err(bad(format!(
            "IDX type code {:#04x} is not supported (only 0x08, unsigned bytes)",
            magic[2]
        )));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 || dims_bytes.len() != 4 * ndim {
        return Err(bad("truncated IDX header".into()));
    }
    let dims: Vec<usize> = dims_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    Ok((dims, count))
}

/// Reads an IDX file (plain or `.gz`).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = crate::limits::read_file(path)?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Builds a data set from an IDX image array (`n x ...`) and label array (`n`), scaling pixels to `[0, 1]`.
pub fn idx_dataset(images: &IdxArray, labels: &IdxArray, classes: usize) -> Result<Dataset> {
    if labels.dims.len() != 1 || images.dims.len() < 2 || images.dims[0] != labels.dims[0] {
        return Err(Error::invalid(
            "IDX data",
            format!(
                "images {:?} and labels {:?} do not describe the same samples",
                images.dims, labels.dims
            ),
        ));
    }
    let d: usize = images.dims[1..].iter().product();
    let x = images.data.iter().map(|&p| p as f32 / 255.0).collect();
    let y = labels.data.iter().map(|&c| c as u32).collect();
    Dataset::new(x, y, d, Task::Multiclass(classes))
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::invalid(
        "FashionMNIST",
        format!(
            "{stem}(.gz) not found in {}: {FASHION_MNIST_HINT}",
            dir.display()
        ),
    ))
}

/// The four IDX files (or their `.gz`) [`fashion_mnist`] reads from `dir`, e.g. to checksum them.
pub fn fashion_mnist_files(dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.unwrap_or(Path::new(FASHION_MNIST_DIR));
    [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    .iter()
    .map(|stem| find(dir, stem))
    .collect()
}

/// Loads FashionMNIST's standard train (60 000) and test (10 000) splits from `dir` (default
/// [`FASHION_MNIST_DIR`]): 784 features in `[0, 1]`, 10 classes.
pub fn fashion_mnist(dir: Option<&Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.unwrap_or(Path::new(FASHION_MNIST_DIR));
    let load = |img: &str, lab: &str| -> Result<Dataset> {
        let images = read_idx(&find(dir, img)?)?;
        let labels = read_idx(&find(dir, lab)?)?;
        idx_dataset(&images, &labels, 10)
    };
    let train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    if train.d != test.d {
        return Err(Error::invalid(
            "FashionMNIST",
            format!(
                "the training images have {} pixels but the test images {} (in {}): both splits must \
                 have the same image size",
                train.d,
                test.d,
                dir.display()
            ),
        ));
    }
    Ok((train, test))
}
