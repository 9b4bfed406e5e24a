//! PyTorch-native model files: `nn.Sequential` and `fcN` names, the prune layout, name maps, half-precision
//! dtypes, and the `format = pt` writer.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use neurosplit::data::Task;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::io::{self, Layout, ModelMeta, NameMap, TorchMasks};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

fn raw(tensors: &[Raw], meta: &[(&str, &str)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dt, s, d)| (n.clone(), TensorView::new(*dt, s.clone(), d).unwrap()))
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

fn t(name: &str, dt: Dtype, shape: &[usize], data: Vec<u8>) -> Raw {
    (name.to_string(), dt, shape.to_vec(), data)
}

/// A 3 -> 2 -> 1 model under the names `w1`, `b1`, `w2`, `b2` (each a format string over the layer index).
fn named(w: impl Fn(usize) -> String, b: impl Fn(usize) -> String) -> Vec<Raw> {
    vec![
        t(&w(0), Dtype::F32, &[2, 3], f32s(&[1., 2., 3., 4., 5., 6.])),
        t(&b(0), Dtype::F32, &[2], f32s(&[0.5, -0.5])),
        t(&w(1), Dtype::F32, &[1, 2], f32s(&[1., -1.])),
        t(&b(1), Dtype::F32, &[1], f32s(&[0.25])),
    ]
}

fn canonical() -> Mlp {
    io::from_bytes(&raw(
        &named(|l| format!("W{}", l + 1), |l| format!("b{}", l + 1)),
        &[],
    ))
    .unwrap()
    .0
}

#[test]
fn sequential_and_fc_names_read_as_the_canonical_model() {
    let want = canonical();
    let seq = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    assert_eq!(io::from_bytes(&raw(&seq, &[])).unwrap().0, want);
    let fc = named(
        |l| format!("fc{}.weight", l + 1),
        |l| format!("fc{}.bias", l + 1),
    );
    assert_eq!(io::from_bytes(&raw(&fc, &[])).unwrap().0, want);
    let nested = named(
        |l| format!("net.{}.weight", 2 * l),
        |l| format!("net.{}.bias", 2 * l),
    );
    assert_eq!(io::from_bytes(&raw(&nested, &[])).unwrap().0, want);
    // Natural order: layer "10" comes after layer "2", not before.
    let mut ten = named(
        |l| format!("{}.weight", 2 + 8 * l),
        |l| format!("{}.bias", 2 + 8 * l),
    );
    ten.reverse();
    assert_eq!(io::from_bytes(&raw(&ten, &[])).unwrap().0, want);
}

#[test]
fn prune_layout_applies_the_mask() {
    let mut v = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    v[0].0 = "0.weight_orig".into();
    v.push(t(
        "0.weight_mask",
        Dtype::F32,
        &[2, 3],
        f32s(&[1., 0., 1., 0., 1., 1.]),
    ));
    let (m, _) = io::from_bytes(&raw(&v, &[])).unwrap();
    assert_eq!(m.layers()[0].weight(), vec![1., 0., 3., 0., 5., 6.]);
    assert_eq!(m.layers()[0].nnz(), 4);
    assert!(m.layers()[1].mask().is_none());

    v.pop();
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("0.weight_mask"), "{e}");
    v.push(t(
        "0.weight_mask",
        Dtype::F32,
        &[2, 3],
        f32s(&[1., 0.5, 1., 0., 1., 1.]),
    ));
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("other than 0 or 1"), "{e}");
}

#[test]
fn half_precision_and_layernorm_and_missing_bias() {
    let h = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect()
    };
    let bf = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect()
    };
    let v = vec![
        t(
            "0.weight",
            Dtype::F16,
            &[2, 3],
            h(&[1., 2., 3., 4., 5., 6.]),
        ),
        t("1.weight", Dtype::BF16, &[2], bf(&[2., 0.5])),
        t("1.bias", Dtype::F32, &[2], f32s(&[0.0, 1.0])),
        t(
            "3.weight",
            Dtype::F32,
            &[4, 2],
            f32s(&[1., -1., 0., 2., 3., 1., 1., 1.]),
        ),
        t("3.bias", Dtype::F32, &[4], f32s(&[0.; 4])),
    ];
    let (m, _) = io::from_bytes(&raw(&v, &[])).unwrap();
    assert_eq!(m.dims(), vec![3, 2, 4]);
    assert_eq!(m.task(), Task::Multiclass(4));
    assert_eq!(m.layers()[0].weight(), vec![1., 2., 3., 4., 5., 6.]);
    assert_eq!(m.layers()[0].bias(), vec![0., 0.]); // Linear(bias=False)
    let norm = m.norms()[0].as_ref().expect("LayerNorm read");
    assert_eq!(
        (norm.gain.clone(), norm.bias.clone()),
        (vec![2., 0.5], vec![0., 1.])
    );
}

#[test]
fn name_maps_rename_anything_else() {
    let v = named(
        |l| ["encoder.weight", "head.weight"][l].to_string(),
        |l| ["encoder.bias", "head.bias"][l].to_string(),
    );
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("order") && e.contains("--map"), "{e}");
    let map =
        NameMap::parse("encoder.weight=W1,encoder.bias=b1,head.weight=W2,head.bias=b2").unwrap();
    assert_eq!(
        io::from_bytes_with(&raw(&v, &[]), &map).unwrap().0,
        canonical()
    );
    // Mapping to PyTorch names works too.
    let map = NameMap::parse(
        "encoder.weight=0.weight,encoder.bias=0.bias,head.weight=2.weight,head.bias=2.bias",
    )
    .unwrap();
    assert_eq!(
        io::from_bytes_with(&raw(&v, &[]), &map).unwrap().0,
        canonical()
    );
    let map = NameMap::parse("decoder.weight=W1").unwrap();
    let e = io::from_bytes_with(&raw(&v, &[]), &map).unwrap_err();
    assert!(
        e.contains("no such tensor") && e.contains("encoder.weight"),
        "{e}"
    );
}

#[test]
fn bad_names_get_clear_errors() {
    let mut v = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    v.push(t("1.running_mean", Dtype::F32, &[2], f32s(&[0., 0.])));
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(
        e.contains("unexpected tensor '1.running_mean'") && e.contains("--map"),
        "{e}"
    );
    let mut v = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    v[0].0 = "W1".into();
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("mixes"), "{e}");
    // A shape error names the PyTorch tensor it came from.
    let mut v = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    v[2] = t("2.weight", Dtype::F32, &[1, 3], f32s(&[1., 1., 1.]));
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("W2") && e.contains("'2.weight'"), "{e}");
    let mut v = named(
        |l| format!("{}.weight", 2 * l),
        |l| format!("{}.bias", 2 * l),
    );
    v[0].1 = Dtype::I32;
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("F16, BF16, F32 or F64"), "{e}");
    // Names of two patterns leave the order ambiguous (a natural sort would put `dec1` before `enc1`).
    let names = ["enc1", "dec1"];
    let v = named(
        |l| format!("{}.weight", names[l]),
        |l| format!("{}.bias", names[l]),
    );
    let e = io::from_bytes(&raw(&v, &[])).unwrap_err();
    assert!(e.contains("ambiguous") && e.contains("--map"), "{e}");
    // One pattern, numbered: ordered by the numbers (`layers.10` after `layers.2`).
    let names = ["layers.2", "layers.10"];
    let v = named(
        |l| format!("{}.weight", names[l]),
        |l| format!("{}.bias", names[l]),
    );
    assert_eq!(io::from_bytes(&raw(&v, &[])).unwrap().0, canonical());
}

#[test]
fn torch_layout_round_trips_with_masks_and_norms() {
    let dense = Mlp::new(&[12, 4, 4, 1], Task::Binary, &mut stream(3, &[]))
        .unwrap()
        .with_layernorm();
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&dense, &cfg, None, &mut stream(3, &[1])).unwrap();
    let meta = ModelMeta {
        seed: Some(3),
        ..ModelMeta::default()
    };
    let separate = Layout::Torch {
        masks: TorchMasks::Separate,
    };
    let bytes = io::to_bytes_as(&wide, &meta, separate).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = st.names().into_iter().collect();
    names.sort();
    // Sequential(Linear, LayerNorm, ReLU, Linear, LayerNorm, ReLU, Linear).
    assert_eq!(
        names,
        [
            "0.bias",
            "0.weight",
            "0.weight_mask",
            "1.bias",
            "1.weight",
            "3.bias",
            "3.weight",
            "3.weight_mask",
            "4.bias",
            "4.weight",
            "6.bias",
            "6.weight"
        ]
    );
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["format"], "pt");
    let (back, back_meta) = io::from_bytes(&bytes).unwrap();
    assert_eq!(back, wide);
    assert_eq!(back_meta.seed, Some(3));
    assert_eq!(back.nnz(), dense.nnz());
    // The neurosplit layout is unchanged by the new writer.
    assert_eq!(
        io::to_bytes(&wide, &meta).unwrap(),
        io::to_bytes_as(&wide, &meta, Layout::Neurosplit).unwrap()
    );
    assert!("onnx".parse::<Layout>().is_err());
}
