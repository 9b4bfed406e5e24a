//! A user's own data files: compressed `.npz` (one written by NumPy itself), CSV with a named label column,
//! IDX folders, validation and test cuts, binary/multiclass labelling, and clear errors.

use std::path::PathBuf;

use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use neurosplit::data::{load_data, DataOptions, Task};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-user-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn numpy_savez_compressed_reads() {
    // Written by `np.savez_compressed` (NumPy 2.4): float32/float64 features, int64/int32 labels.
    let s = load_data(&fixture("numpy_compressed.npz"), &DataOptions::default()).unwrap();
    assert_eq!((s.train.n, s.train.d, s.test.n), (4, 3, 2));
    assert_eq!(s.train.x[4], 1.0); // arange(12) / 4, row 1 column 1
    assert_eq!(s.test.x[5], -5.0);
    assert_eq!(s.train.y, vec![0, 1, 1, 0]);
    let s = s.for_task(Task::Binary).unwrap();
    assert_eq!(s.train.task, Task::Binary);

    // The same through ndarray-npy's compressed writer, with three classes: a binary model refuses it.
    let dir = tmp("npz");
    let path = dir.join("c.npz");
    let mut w = NpzWriter::new_compressed(std::fs::File::create(&path).unwrap());
    w.add_array("x_train", &Array2::<f32>::ones((6, 2)))
        .unwrap();
    w.add_array("y_train", &Array1::from(vec![0i64, 1, 2, 0, 1, 2]))
        .unwrap();
    w.add_array("x_test", &Array2::<f32>::zeros((2, 2)))
        .unwrap();
    w.add_array("y_test", &Array1::from(vec![2i64, 0])).unwrap();
    w.finish().unwrap();
    let s = load_data(&path, &DataOptions::default()).unwrap();
    assert_eq!(s.train.task, Task::Multiclass(3));
    let e = s.clone().for_task(Task::Binary).unwrap_err().to_string();
    assert!(
        e.contains("one output (binary)") && e.contains("up to 2"),
        "{e}"
    );
    assert_eq!(
        s.for_task(Task::Multiclass(5)).unwrap().test.task,
        Task::Multiclass(5)
    );
}

#[test]
fn csv_with_a_named_label_column_and_cuts() {
    let dir = tmp("csv");
    let path = dir.join("d.csv");
    let mut text = String::from("a, target ,b\n");
    for i in 0..50 {
        text.push_str(&format!("{}.5,{},{}\n", i, i % 2, -i));
    }
    std::fs::write(&path, &text).unwrap();
    let e = load_data(&path, &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no column 'label'") && e.contains("target"),
        "{e}"
    );
    let opts = DataOptions {
        label: "target".into(),
        val_fraction: 0.25,
        seed: 7,
        ..DataOptions::default()
    };
    let s = load_data(&path, &opts).unwrap();
    assert_eq!(
        (s.test.n, s.val.as_ref().unwrap().n, s.train.n),
        (10, 10, 30)
    );
    assert_eq!(s.train.d, 2);
    // Every row lands in exactly one set, with its label beside its features.
    let mut firsts: Vec<f32> = [&s.train, s.val.as_ref().unwrap(), &s.test]
        .iter()
        .flat_map(|d| {
            (0..d.n).map(|i| {
                let r = d.row(i);
                assert_eq!(r[1], -(r[0] - 0.5));
                assert_eq!(d.y[i], (r[0] - 0.5) as u32 % 2);
                r[0]
            })
        })
        .collect();
    firsts.sort_by(f32::total_cmp);
    assert_eq!(firsts, (0..50).map(|i| i as f32 + 0.5).collect::<Vec<_>>());
    // The seed fixes the cut; another seed gives another cut.
    assert_eq!(load_data(&path, &opts).unwrap().test.x, s.test.x);
    let other = load_data(
        &path,
        &DataOptions {
            seed: 8,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_ne!(other.test.x, s.test.x);

    std::fs::write(&path, "label,x\n1,2\n0,oops\n").unwrap();
    let e = load_data(&path, &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3") && e.contains("'oops'"), "{e}");
    std::fs::write(&path, "label,x\ncat,2\n").unwrap();
    let e = load_data(&path, &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("'cat' is not a class index"), "{e}");

    // A folder with train.csv and test.csv keeps the given split.
    let folder = dir.join("pair");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("train.csv"), "x,label\n1,0\n2,1\n3,1\n").unwrap();
    std::fs::write(folder.join("test.csv"), "x,label\n4,0\n").unwrap();
    let s = load_data(&folder, &DataOptions::default()).unwrap();
    assert_eq!((s.train.n, s.test.n, s.test.x.clone()), (3, 1, vec![4.0]));
}

#[test]
fn idx_folders_and_bad_paths() {
    let dir = tmp("idx");
    let idx = |dims: &[u32], data: &[u8]| {
        let mut b = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    };
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        idx(&[3, 2, 2], &[255; 12]),
    )
    .unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx(&[3], &[0, 1, 2])).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(&[1, 2, 2], &[0; 4])).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[1], &[1])).unwrap();
    let s = load_data(&dir, &DataOptions::default()).unwrap();
    assert_eq!(
        (s.train.n, s.train.d, s.train.task),
        (3, 4, Task::Multiclass(3))
    );
    assert_eq!(s.train.x[0], 1.0);

    let e = load_data(&dir.join("missing.npz"), &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    let empty = tmp("empty");
    let e = load_data(&empty, &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("x_train.npy") && e.contains("train.csv"), "{e}");
    std::fs::write(empty.join("x.txt"), "1").unwrap();
    let e = load_data(&empty.join("x.txt"), &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains(".npz"), "{e}");
    let bad = DataOptions {
        val_fraction: 1.5,
        ..DataOptions::default()
    };
    let e = load_data(&dir, &bad).unwrap_err().to_string();
    assert!(e.contains("validation fraction"), "{e}");
}
