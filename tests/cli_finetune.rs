//! `neurosplit finetune` end to end: a PyTorch-named model and a CSV / compressed npz data set, the report, the
//! PyTorch-layout output, checkpoint and resume, the library call giving the same model, and clear errors.

mod common;

use std::path::Path;

use common::run;
use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;

use neurosplit::data::{load_data, DataOptions, Task};
use neurosplit::io::{self, Layout, ModelMeta};
use neurosplit::nn::Mlp;
use neurosplit::pipeline::finetune::{finetune, Finetune};
use neurosplit::pipeline::settings::{Profile, Settings};
use neurosplit::rng::stream;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 3-class problem on 6 features: the class is the argmax of three feature pairs' sums.
fn write_data(path: &Path) {
    let mut g = stream(5, &[]);
    use rand::Rng;
    let mut draw = |n: usize| {
        let x = Array2::from_shape_fn((n, 6), |_| g.gen_range(-1.0f32..1.0));
        let y = Array1::from_shape_fn(n, |i| {
            let s: Vec<f32> = (0..3).map(|c| x[[i, 2 * c]] + x[[i, 2 * c + 1]]).collect();
            (0..3).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap() as i64
        });
        (x, y)
    };
    let (xtr, ytr) = draw(600);
    let (xte, yte) = draw(200);
    let mut w = NpzWriter::new_compressed(std::fs::File::create(path).unwrap());
    w.add_array("x_train", &xtr).unwrap();
    w.add_array("y_train", &ytr).unwrap();
    w.add_array("x_test", &xte).unwrap();
    w.add_array("y_test", &yte).unwrap();
    w.finish().unwrap();
}

#[test]
fn finetune_a_torch_model_on_npz_data() {
    let dir = std::env::temp_dir().join(format!("neurosplit-cli-finetune-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data.npz");
    write_data(&data);
    // The model as PyTorch would save it: nn.Sequential names.
    let dense = Mlp::new(&[6, 4, 3], Task::Multiclass(3), &mut stream(1, &[])).unwrap();
    let model = dir.join("net.safetensors");
    io::save_as(&model, &dense, &ModelMeta::default(), Layout::TORCH).unwrap();

    let out = dir.join("wide.safetensors");
    let args = [
        "finetune",
        s(&model),
        "--data",
        s(&data),
        "--alpha",
        "2",
        "--epochs",
        "4",
        "--batch-size",
        "50",
        "--seed",
        "3",
        "--quiet",
        "--torch",
        "-o",
        s(&out),
    ];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test accuracy before the split") && stdout.contains("right after"),
        "{stdout}"
    );
    let (wide, meta) = io::load(&out).unwrap();
    assert_eq!(wide.dims(), vec![6, 8, 3]);
    assert_eq!(wide.nnz(), dense.nnz());
    assert_eq!(
        (meta.alpha, meta.strategy.as_deref()),
        (Some(2), Some("random"))
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("wide.safetensors.json")).unwrap())
            .unwrap();
    assert_eq!(report["nnz_after"], report["nnz_before"]);
    assert_eq!(report["epochs"], 4);
    assert!(report["metrics"]["feature-capacity"].is_number());

    // The library call with the same settings gives the same model, bit for bit.
    let splits = load_data(
        &data,
        &DataOptions {
            seed: 3,
            ..DataOptions::default()
        },
    )
    .unwrap()
    .for_task(Task::Multiclass(3))
    .unwrap();
    let cfg = Settings {
        epochs: Some(4),
        batch_size: Some(50),
        alpha: Some(2),
        ..Settings::new(Profile::UserData)
    }
    .build()
    .unwrap();
    let job = Finetune {
        model: &dense,
        data: &splits,
        cfg: &cfg,
        seed: 3,
        trials: 1,
        baseline: true,
        checkpoint: None,
    };
    let (lib, rep) = finetune(&job, &|_| {}, &mut |_| Ok(())).unwrap();
    assert_eq!(lib, wide);
    assert_eq!(
        serde_json::json!(rep.test_acc_after),
        report["test_acc_after"]
    );

    // Checkpoint each epoch; a second run with the same checkpoint resumes (and a finished one says so).
    let ckpt = dir.join("ckpt.safetensors");
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--checkpoint", s(&ckpt)]);
    let (code, stdout, stderr) = run(&a);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (ck, _) = io::load(&ckpt).unwrap();
    assert_eq!(ck, wide, "the last checkpoint is the final model");
    let (code, _, stderr) = run(&a);
    assert_ne!(code, 0);
    assert!(stderr.contains("run is finished"), "{stderr}");
    // Pretend the run stopped after epoch 2: it resumes there and runs the 2 remaining epochs.
    let state = dir.join("ckpt.safetensors.json");
    let text = std::fs::read_to_string(&state)
        .unwrap()
        .replace("\"epoch\": 4", "\"epoch\": 2");
    std::fs::write(&state, text).unwrap();
    let (code, stdout, stderr) = run(&a);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("resumed from the checkpoint at epoch 2"),
        "{stdout}"
    );
    let (resumed, _) = io::load(&out).unwrap();
    assert_eq!((resumed.dims(), resumed.nnz()), (wide.dims(), dense.nnz()));

    // Clear errors: binary labels expected, wrong feature count, bad map, missing data.
    let bin = Mlp::new(&[6, 4, 1], Task::Binary, &mut stream(1, &[])).unwrap();
    let bin_path = dir.join("bin.safetensors");
    io::save(&bin_path, &bin, &ModelMeta::default()).unwrap();
    let (code, _, stderr) = run(&[
        "finetune",
        s(&bin_path),
        "--data",
        s(&data),
        "--epochs",
        "1",
        "-o",
        s(&out),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("one output (binary)"), "{stderr}");
    let other = Mlp::new(&[5, 4, 3], Task::Multiclass(3), &mut stream(1, &[])).unwrap();
    let other_path = dir.join("other.safetensors");
    io::save(&other_path, &other, &ModelMeta::default()).unwrap();
    let (code, _, stderr) = run(&[
        "finetune",
        s(&other_path),
        "--data",
        s(&data),
        "--epochs",
        "1",
        "-o",
        s(&out),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("takes 5 inputs but the data has 6 features"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "finetune",
        s(&model),
        "--map",
        "fc1.weight=W1",
        "--data",
        s(&data),
        "--epochs",
        "1",
        "-o",
        s(&out),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no such tensor"), "{stderr}");
    let (code, _, stderr) = run(&[
        "finetune",
        s(&model),
        "--data",
        s(&dir.join("nope.npz")),
        "--epochs",
        "1",
        "-o",
        s(&out),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("does not exist"), "{stderr}");
}
