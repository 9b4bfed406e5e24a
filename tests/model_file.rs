//! Model files: bit-exact round trips, imports of plain `W1, b1, ...` files, and clear errors for bad files.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};

use neurosplit::data::Task;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::io::{self, ModelMeta};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;
use neurosplit::Error;

fn expanded_model() -> (Mlp, ModelMeta) {
    let dense = Mlp::new(&[12, 4, 3], Task::Multiclass(3), &mut stream(1, &[0])).unwrap();
    let groups: Vec<Vec<usize>> = (0..3).map(|g| (g * 4..g * 4 + 4).collect()).collect();
    let cfg = FpeConfig {
        alpha: 3,
        strategy: Strategy::Clause,
        layer: 0,
    };
    let (mut wide, _) = expand(&dense, &cfg, Some(&groups), &mut stream(1, &[1])).unwrap();
    // Values that text formats tend to lose.
    wide.update_weights(1, |w| {
        if let Some(v) = w.iter_mut().find(|v| **v != 0.0) {
            *v = f32::MIN_POSITIVE / 3.0; // subnormal
        }
    });
    wide.bias_mut(0)[0] = -0.0;
    wide.bias_mut(1)[1] = 1.0e-30;
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("note".to_string(), "kept as is".to_string());
    let meta = ModelMeta {
        strategy: Some("clause".into()),
        alpha: Some(3),
        expanded_layer: Some(0),
        seed: Some(1),
        groups: Some(groups),
        version: None,
        extra,
        torch_names: None,
    };
    (wide, meta)
}

fn bits(m: &Mlp) -> Vec<u32> {
    m.layers()
        .iter()
        .flat_map(|l| l.weight().iter().chain(l.bias()).map(|v| v.to_bits()))
        .collect()
}

#[test]
fn round_trip_is_bit_exact_through_a_file() {
    let (model, meta) = expanded_model();
    let dir = std::env::temp_dir().join(format!("neurosplit-model-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("wide.safetensors");
    io::save(&path, &model, &meta).unwrap();
    let (back, back_meta) = io::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(bits(&back), bits(&model));
    assert_eq!(back, model);
    assert_eq!(back.nnz(), model.nnz());
    for (a, b) in back.layers().iter().zip(model.layers()) {
        assert_eq!(a.mask(), b.mask());
    }
    assert_eq!(
        back_meta.version.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        ModelMeta {
            version: None,
            ..back_meta
        },
        meta
    );
    // Saving the loaded model gives the same bytes.
    assert_eq!(
        io::to_bytes(&back, &meta).unwrap(),
        io::to_bytes(&model, &meta).unwrap()
    );
}

/// A safetensors buffer from `(name, dtype, shape, bytes)` and metadata, as another tool would write it.
fn raw(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], meta: &[(&str, &str)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dt, s, d)| (n.to_string(), TensorView::new(*dt, s.clone(), d).unwrap()))
        .collect();
    let info: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::tensor::serialize(views, Some(info)).unwrap()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A dense 3 -> 2 -> 1 model's tensors.
fn dense_tensors() -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
    vec![
        (
            "W1",
            Dtype::F32,
            vec![2, 3],
            f32s(&[1., 2., 3., 4., 5., 6.]),
        ),
        ("b1", Dtype::F32, vec![2], f32s(&[0.5, -0.5])),
        ("W2", Dtype::F32, vec![1, 2], f32s(&[1., -1.])),
        ("b2", Dtype::F32, vec![1], f32s(&[0.25])),
    ]
}

fn err(bytes: &[u8]) -> String {
    match io::from_bytes(bytes) {
        Ok(_) => panic!("a bad file loaded"),
        Err(e) => e,
    }
}

#[test]
fn dense_models_from_elsewhere_import() {
    let (m, meta) = io::from_bytes(&raw(&dense_tensors(), &[])).unwrap();
    assert_eq!(m.dims(), vec![3, 2, 1]);
    assert_eq!(m.task(), Task::Binary);
    assert_eq!(m.layers()[0].weight(), vec![1., 2., 3., 4., 5., 6.]);
    assert!(m.layers().iter().all(|l| l.mask().is_none()));
    assert_eq!(meta, ModelMeta::default());

    // F64 tensors and three outputs: a multiclass model.
    let t = vec![
        ("W1", Dtype::F64, vec![2, 2], f64s(&[1., 0., 0., 1.])),
        ("b1", Dtype::F64, vec![2], f64s(&[0., 0.])),
        (
            "W2",
            Dtype::F64,
            vec![3, 2],
            f64s(&[1., 2., 3., 4., 5., 6.]),
        ),
        ("b2", Dtype::F64, vec![3], f64s(&[0., 0., 0.])),
    ];
    let (m, _) = io::from_bytes(&raw(&t, &[])).unwrap();
    assert_eq!(m.task(), Task::Multiclass(3));
    assert_eq!(m.layers()[1].weight(), vec![1., 2., 3., 4., 5., 6.]);
}

#[test]
fn shape_errors_name_the_tensor_and_the_expected_shape() {
    let mut t = dense_tensors();
    t[2] = ("W2", Dtype::F32, vec![1, 3], f32s(&[1., -1., 0.]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W2") && e.contains("[1, 2]"), "{e}");

    let mut t = dense_tensors();
    t[1] = ("b1", Dtype::F32, vec![3], f32s(&[0., 0., 0.]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("b1") && e.contains("[2]"), "{e}");

    let mut t = dense_tensors();
    t.remove(3);
    let e = err(&raw(&t, &[]));
    assert!(e.contains("b2 is missing") && e.contains("[1]"), "{e}");

    let mut t = dense_tensors();
    t.remove(0);
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W1 is missing"), "{e}");

    let mut t = dense_tensors();
    t[0] = ("W1", Dtype::F32, vec![6], f32s(&[1., 2., 3., 4., 5., 6.]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W1") && e.contains("2 dimensions"), "{e}");

    let mut t = dense_tensors();
    t.push(("fc3.weight", Dtype::F32, vec![1], f32s(&[1.])));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("fc3.weight"), "{e}");

    let mut t = dense_tensors();
    t[0] = ("W1", Dtype::I32, vec![2, 3], vec![0u8; 24]);
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W1") && e.contains("F32"), "{e}");

    let mut t = dense_tensors();
    t[0] = (
        "W1",
        Dtype::F32,
        vec![2, 3],
        f32s(&[1., f32::NAN, 3., 4., 5., 6.]),
    );
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W1") && e.contains("non-finite"), "{e}");

    let e = err(&raw(&[], &[("format", "neurosplit-mlp")]));
    assert!(e.contains("no layer"), "{e}");
}

#[test]
fn bad_masks_are_refused() {
    let mut t = dense_tensors();
    t.push(("M1", Dtype::U8, vec![3, 2], vec![1; 6]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("M1") && e.contains("[2, 3]"), "{e}");

    let mut t = dense_tensors();
    t.push(("M1", Dtype::U8, vec![2, 3], vec![1, 1, 1, 1, 2, 1]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("M1") && e.contains("0 or 1"), "{e}");

    // W1[0, 1] = 2 is live in the weights but masked: ambiguous, so refused.
    let mut t = dense_tensors();
    t.push(("M1", Dtype::U8, vec![2, 3], vec![1, 0, 1, 1, 1, 1]));
    let e = err(&raw(&t, &[]));
    assert!(e.contains("W1[0, 1]") && e.contains("masked"), "{e}");

    // A consistent mask loads, as BOOL too.
    let mut t = dense_tensors();
    t[0] = (
        "W1",
        Dtype::F32,
        vec![2, 3],
        f32s(&[1., 0., 3., 4., 5., 6.]),
    );
    t.push(("M1", Dtype::BOOL, vec![2, 3], vec![1, 0, 1, 1, 1, 1]));
    let (m, _) = io::from_bytes(&raw(&t, &[])).unwrap();
    assert_eq!(m.nnz(), 7);
    assert!(!m.layers()[0].is_live(0, 1));
}

#[test]
fn metadata_that_disagrees_with_the_tensors_is_refused() {
    let t = dense_tensors();
    let e = err(&raw(&t, &[("budget", "7")]));
    assert!(e.contains("budget 7") && e.contains("8"), "{e}");
    let e = err(&raw(&t, &[("architecture", "[3,4,1]")]));
    assert!(e.contains("architecture"), "{e}");
    let e = err(&raw(&t, &[("task", "multiclass:3")]));
    assert!(e.contains("task"), "{e}");
    let e = err(&raw(&t, &[("task", "regression")]));
    assert!(e.contains("regression"), "{e}");
    let e = err(&raw(&t, &[("alpha", "two")]));
    assert!(e.contains("alpha"), "{e}");
    let e = err(&raw(&t, &[("groups", "[[0,1],[1,2]]")]));
    assert!(e.contains("twice"), "{e}");
    let e = err(&raw(&t, &[("groups", "[[0,5]]")]));
    assert!(e.contains("input 5"), "{e}");
    let (_, meta) = io::from_bytes(&raw(&t, &[("groups", "[[0,1],[2]]"), ("alpha", "2")])).unwrap();
    assert_eq!(meta.groups, Some(vec![vec![0, 1], vec![2]]));
    assert_eq!(meta.alpha, Some(2));
}

#[test]
fn truncated_and_corrupt_files_are_errors_not_panics() {
    let (model, meta) = expanded_model();
    let good = io::to_bytes(&model, &meta).unwrap();
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for cut in [0, 1, 7, 8, 9, 8 + header / 2, 8 + header, good.len() - 1] {
        let e = err(&good[..cut]);
        assert!(e.contains("truncated or corrupt"), "cut at {cut}: {e}");
    }
    // Every single-byte corruption of the header either still parses into a valid model or is an error.
    for i in 0..8 + header {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        let _ = io::from_bytes(&bad);
    }
    // A header length far beyond the file.
    let mut bad = good.clone();
    bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    err(&bad);
    // Not a safetensors file at all.
    err(b"PK\x03\x04 this is a zip file, not a model");
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("neurosplit-bad-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.safetensors");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    let e = io::load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
    assert!(e.to_string().contains("broken.safetensors"), "{e}");
    let e = io::load(dir.join("missing.safetensors")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn layernorm_models_round_trip() {
    let mut model = Mlp::new(&[6, 5, 4, 1], Task::Binary, &mut stream(3, &[0]))
        .unwrap()
        .with_layernorm();
    for i in 0..2 {
        let norm = model.norm_mut(i).unwrap();
        norm.gain.iter_mut().for_each(|g| *g = 1.5 + i as f32);
        norm.bias[0] = -0.25;
    }
    let bytes = io::to_bytes(&model, &ModelMeta::default()).unwrap();
    let (back, _) = io::from_bytes(&bytes).unwrap();
    assert_eq!(back, model);
    assert!(back.norms()[0].is_some() && back.norms()[1].is_some() && back.norms()[2].is_none());
    // A gain without its bias is refused with a message naming both.
    let plain = Mlp::new(&[6, 5, 1], Task::Binary, &mut stream(3, &[1])).unwrap();
    let mut tensors = Vec::new();
    for (i, l) in plain.layers().iter().enumerate() {
        tensors.push((
            format!("W{}", i + 1),
            l.weight().to_vec(),
            vec![l.out_dim(), l.in_dim()],
        ));
        tensors.push((format!("b{}", i + 1), l.bias().to_vec(), vec![l.out_dim()]));
    }
    tensors.push(("G1".to_string(), vec![1.0; 5], vec![5]));
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, v, s)| {
            let bytes: &[u8] = bytemuck_f32(v);
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let file = safetensors::serialize(views, None).unwrap();
    let e = io::from_bytes(&file).unwrap_err();
    assert!(e.contains("G1") && e.contains("B1"), "{e}");
}

fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // Little-endian hosts only (the test suite runs on x86-64 and aarch64).
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Box::leak(bytes.into_boxed_slice())
}
