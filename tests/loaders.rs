//! Data loaders: IDX (FashionMNIST) on files the test writes and on the real files when installed, and NumPy
//! embeddings (`.npz`, folder of `.npy`) on generated files.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ndarray_npy::{write_npy, NpzWriter};
use neurosplit::data::idx::{fashion_mnist, parse_idx, read_idx, FASHION_MNIST_DIR};
use neurosplit::data::npy::load_embeddings;
use neurosplit::data::Task;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-load-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a FashionMNIST-shaped folder with `n` train and `m` test images of 2 x 3 pixels.
fn write_fake_fashion(dir: &Path, n: u32, m: u32, compress: bool) {
    for (stem, count) in [("train", n), ("t10k", m)] {
        let pixels: Vec<u8> = (0..count * 6).map(|i| (i * 51 % 256) as u8).collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        for (kind, bytes) in [
            ("images-idx3-ubyte", idx_bytes(&[count, 2, 3], &pixels)),
            ("labels-idx1-ubyte", idx_bytes(&[count], &labels)),
        ] {
            let (name, bytes) = if compress {
                (format!("{stem}-{kind}.gz"), gz(&bytes))
            } else {
                (format!("{stem}-{kind}"), bytes)
            };
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn idx_files_plain_and_gzipped() {
    for compress in [false, true] {
        let dir = tmp(&format!("idx{compress}"));
        write_fake_fashion(&dir, 7, 3, compress);
        let (train, test) = fashion_mnist(Some(&dir)).unwrap();
        assert_eq!((train.n, train.d, test.n, test.d), (7, 6, 3, 6));
        assert_eq!(train.task, Task::Multiclass(10));
        // Pixel i is (i * 51) mod 256, scaled to [0, 1].
        assert_eq!(train.x[1], 51.0 / 255.0);
        assert_eq!(train.x[5], 255.0 / 255.0);
        assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(train.y, vec![0, 1, 2, 3, 4, 5, 6]);
        // Provenance checksums exactly the four files the loader read, and tells their contents apart.
        let files = neurosplit::data::idx::fashion_mnist_files(Some(&dir)).unwrap();
        assert_eq!(files.len(), 4);
        assert!(files.iter().all(|f| f.starts_with(&dir) && f.is_file()));
        assert_eq!(
            files
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == "gz")),
            compress
        );
        let p = neurosplit::provenance::Provenance::collect(1, &files).unwrap();
        assert_eq!(p.data_sha256.len(), 4);
        let distinct: std::collections::BTreeSet<&String> = p.data_sha256.values().collect();
        assert_eq!(
            distinct.len(),
            4,
            "four different files, four different digests"
        );
        assert!(p.markdown().contains("train-images-idx3-ubyte"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn malformed_idx_is_an_error_not_a_panic() {
    let good = idx_bytes(&[2, 2], &[1, 2, 3, 4]);
    assert_eq!(parse_idx(&good, "t").unwrap().dims, vec![2, 2]);
    for (bytes, needle) in [
        (good[..good.len() - 1].to_vec(), "data bytes follow"),
        (vec![1, 0, 8, 1], "not an IDX file"),
        (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "not supported"),
        (vec![0, 0, 8, 3, 0], "truncated"),
        (vec![0x1f, 0x8b, 1, 2, 3], "gzip"),
    ] {
        let err = parse_idx(&bytes, "t").unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
    let dir = tmp("missing");
    let err = fashion_mnist(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_fashion_mnist_when_installed() {
    if !Path::new(FASHION_MNIST_DIR).is_dir() {
        eprintln!(
            "skipped: {FASHION_MNIST_DIR} is not installed (apt-get install dataset-fashion-mnist)"
        );
        return;
    }
    let labels = read_idx(&Path::new(FASHION_MNIST_DIR).join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.dims, vec![10_000]);
    let (train, test) = fashion_mnist(None).unwrap();
    assert_eq!(
        (train.n, train.d, test.n, test.d),
        (60_000, 784, 10_000, 784)
    );
    assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(train.x.contains(&1.0) && train.x.contains(&0.0));
    // The standard splits are balanced: 6 000 and 1 000 images per class.
    for c in 0..10 {
        assert_eq!(train.y.iter().filter(|&&y| y == c).count(), 6_000);
        assert_eq!(test.y.iter().filter(|&&y| y == c).count(), 1_000);
    }
}

fn arrays() -> (Array2<f32>, Array1<i64>, Array2<f32>, Array1<i64>) {
    let xtr = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f32 * 0.5);
    let ytr = Array1::from(vec![0i64, 1, 2, 1, 0]);
    let xte = Array2::from_shape_fn((2, 3), |(i, j)| -((i * 3 + j) as f32));
    let yte = Array1::from(vec![3i64, 0]);
    (xtr, ytr, xte, yte)
}

#[test]
fn embeddings_from_npz_and_npy_folder() {
    let dir = tmp("emb");
    let (xtr, ytr, xte, yte) = arrays();
    let npz = dir.join("emb.npz");
    let mut w = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    w.add_array("x_train", &xtr).unwrap();
    w.add_array("y_train", &ytr).unwrap();
    w.add_array("x_test", &xte.mapv(f64::from)).unwrap(); // float64 is accepted too
    w.add_array("y_test", &yte.mapv(|v| v as u8)).unwrap(); // and any integer label type
    w.finish().unwrap();
    let folder = dir.join("npy");
    std::fs::create_dir_all(&folder).unwrap();
    write_npy(folder.join("x_train.npy"), &xtr).unwrap();
    write_npy(folder.join("y_train.npy"), &ytr.mapv(|v| v as i32)).unwrap();
    write_npy(folder.join("x_test.npy"), &xte).unwrap();
    write_npy(folder.join("y_test.npy"), &yte).unwrap();
    for path in [&npz, &folder] {
        let (train, test) = load_embeddings(path).unwrap();
        assert_eq!((train.n, train.d, test.n, test.d), (5, 3, 2, 3));
        assert_eq!(
            train.task,
            Task::Multiclass(4),
            "classes = max label + 1 over both splits"
        );
        assert_eq!(train.x[4], 2.0); // row 1, column 1 = (1 * 3 + 1) * 0.5
        assert_eq!(test.x[5], -5.0);
        assert_eq!(train.y, vec![0, 1, 2, 1, 0]);
        assert_eq!(test.y, vec![3, 0]);
    }
    // Wrong shapes and types are clear errors.
    write_npy(folder.join("y_test.npy"), &Array1::from(vec![0i64, 1, 2])).unwrap();
    let err = load_embeddings(&folder).unwrap_err().to_string();
    assert!(
        err.contains("x_test has 2 rows but y_test has 3 labels"),
        "{err}"
    );
    write_npy(folder.join("y_test.npy"), &Array1::from(vec![0.5f32, 1.0])).unwrap();
    let err = load_embeddings(&folder).unwrap_err().to_string();
    assert!(err.contains("integer array"), "{err}");
    write_npy(folder.join("x_test.npy"), &Array1::from(vec![0.5f32, 1.0])).unwrap();
    let err = load_embeddings(&folder).unwrap_err().to_string();
    assert!(err.contains("2-D float32"), "{err}");
    let err = load_embeddings(&dir.join("none.npz"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("docs/REPRODUCTION.md"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
