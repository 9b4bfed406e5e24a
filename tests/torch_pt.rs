//! PyTorch's own files (`torch.save`): the fixtures in tests/fixtures/torch/ were written by torch itself
//! (tests/fixtures/make_pt.py); each readable one has a safetensors twin holding the same tensors, read through
//! the safetensors reader as the oracle. The files neurosplit writes are checked by torch where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use neurosplit::data::Task;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::io::{self, Layout, ModelMeta, TorchMasks, TorchNames};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

fn load(name: &str) -> (Mlp, ModelMeta) {
    io::load(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn names(linear: &[&str], norm: &[Option<&str>]) -> TorchNames {
    TorchNames {
        linear: linear.iter().map(|s| s.to_string()).collect(),
        norm: norm.iter().map(|n| n.map(str::to_string)).collect(),
        bias: vec![true; linear.len()],
    }
}

#[test]
fn torch_files_read_as_their_safetensors_twins() {
    for (pt, twin) in [
        ("seq_dropout.pt", "seq_dropout.safetensors"),
        ("fc.pth", "fc.safetensors"),
        ("seq_norm.pt", "seq_norm.safetensors"),
        ("pruned.pt", "pruned.safetensors"),
        ("f16.pt", "f16.safetensors"),
        ("bf16.pt", "bf16.safetensors"),
        ("f64.pt", "f64.safetensors"),
        ("views.pt", "views.safetensors"),
    ] {
        let (a, a_meta) = load(pt);
        let (b, b_meta) = load(twin);
        assert_eq!(a, b, "{pt}");
        assert_eq!(a_meta.torch_names, b_meta.torch_names, "{pt}");
        assert!(a_meta.torch_names.is_some(), "{pt}");
    }
}

#[test]
fn torch_files_remember_the_users_module_names() {
    let (m, meta) = load("seq_dropout.pt");
    assert_eq!(m.dims(), [4, 6, 2]);
    assert_eq!(m.task(), Task::Multiclass(2));
    assert_eq!(meta.torch_names, Some(names(&["0", "3"], &[None, None])));
    let (m, meta) = load("fc.pth");
    assert_eq!(m.dims(), [4, 5, 3, 1]);
    assert!(m.layers()[2].bias().iter().all(|&b| b == 0.0)); // fc3 has no bias
    let mut want = names(&["fc1", "fc2", "fc3"], &[None, None, None]);
    want.bias[2] = false;
    assert_eq!(meta.torch_names, Some(want));
    let (m, meta) = load("seq_norm.pt");
    assert!(m.norms()[0].is_some());
    assert_eq!(
        meta.torch_names,
        Some(names(&["0", "4"], &[Some("1"), None]))
    );
    // torch.nn.utils.prune: the mask is kept, so the budget is what the pruned module has.
    let (m, _) = load("pruned.pt");
    assert!(m.layers().iter().all(|l| l.mask().is_some()));
    assert_eq!(m.nnz(), 12 + 9); // half of 4 x 6, three quarters of 6 x 2
}

#[test]
fn files_that_are_not_state_dicts_say_what_to_save() {
    for (name, want) in [
        ("whole_module.pt", "whole pickled module"),
        ("legacy.pt", "legacy format"),
        ("script.pt", "TorchScript"),
        ("int32.pt", "int32"),
    ] {
        let e = io::load(fixture(name)).unwrap_err().to_string();
        assert!(e.contains(want), "{name}: {e}");
        assert!(
            e.contains("torch.save(model.state_dict(), path)") || e.contains("tensor.float()"),
            "{name}: {e}"
        );
    }
}

#[test]
fn damaged_torch_files_are_errors() {
    let bytes = std::fs::read(fixture("seq_dropout.pt")).unwrap();
    for cut in [10, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(io::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // Every single-byte change either still loads or is an error, never a panic.
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        let _ = io::from_bytes(&b);
    }
}

/// seq_dropout.pt widened 2x at the same budget.
fn widened() -> (Mlp, ModelMeta) {
    let (m, meta) = load("seq_dropout.pt");
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    let (wide, _) = expand(&m, &cfg, None, &mut stream(0, &[])).unwrap();
    assert_eq!(wide.nnz(), m.nnz());
    (wide, meta)
}

fn keys(bytes: &[u8]) -> Vec<String> {
    // The pickle's keys, as `torch.load` would list them: read back through neurosplit's reader is not enough
    // (it renames), so look at the safetensors twin of the same layout instead.
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut k: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    k.sort();
    k
}

#[test]
fn written_files_keep_the_users_keys_in_every_mask_style() {
    let (wide, meta) = widened();
    let cases = [
        (
            TorchMasks::Prune,
            vec![
                "0.bias",
                "0.weight_mask",
                "0.weight_orig",
                "3.bias",
                "3.weight_mask",
                "3.weight_orig",
            ],
        ),
        (
            TorchMasks::Plain,
            vec!["0.bias", "0.weight", "3.bias", "3.weight"],
        ),
        (
            TorchMasks::Separate,
            vec![
                "0.bias",
                "0.weight",
                "0.weight_mask",
                "3.bias",
                "3.weight",
                "3.weight_mask",
            ],
        ),
    ];
    for (masks, want) in cases {
        let st = io::to_bytes_as(&wide, &meta, Layout::Torch { masks }).unwrap();
        assert_eq!(keys(&st), want, "{masks:?}");
        let pt = io::to_pt_bytes(&wide, &meta, masks).unwrap();
        let (back, back_meta) = io::from_bytes(&pt).unwrap();
        assert_eq!(back_meta.torch_names, meta.torch_names, "{masks:?}");
        let (from_st, _) = io::from_bytes(&st).unwrap();
        assert_eq!(back, from_st, "{masks:?}");
        if masks == TorchMasks::Plain {
            // No masks: the same weights, dense, with the masked entries zero.
            assert_eq!(back.layers()[0].weight(), wide.layers()[0].weight());
            assert!(back.layers()[0].mask().is_none());
            let live = |m: &Mlp| m.layers()[0].weight().iter().filter(|&&w| w != 0.0).count();
            assert_eq!(live(&back), live(&wide));
        } else {
            assert_eq!(back, wide, "{masks:?}");
        }
    }
    // The neurosplit layout keeps the names in its metadata, for a later PyTorch write.
    let (_, back_meta) = io::from_bytes(&io::to_bytes(&wide, &meta).unwrap()).unwrap();
    assert_eq!(back_meta.torch_names, meta.torch_names);
    // Names that do not fit the model are refused, not written.
    let bad = ModelMeta {
        torch_names: Some(names(&["0"], &[None])),
        ..meta
    };
    let e = io::to_pt_bytes(&wide, &bad, TorchMasks::Prune).unwrap_err();
    assert!(e.to_string().contains("do not fit"), "{e}");
}

#[test]
fn the_output_extension_chooses_the_file_kind() {
    let (wide, meta) = widened();
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("wide.pth");
    io::save(&pt, &wide, &meta).unwrap();
    assert_eq!(&std::fs::read(&pt).unwrap()[..4], b"PK\x03\x04");
    let st = dir.path().join("wide.safetensors");
    io::save_as(&st, &wide, &meta, Layout::TORCH).unwrap();
    assert_eq!(io::load(&pt).unwrap().0, io::load(&st).unwrap().0);
    // The content decides how a file is read, not its name.
    let swapped = dir.path().join("really_a_pt.safetensors");
    std::fs::copy(&pt, &swapped).unwrap();
    assert_eq!(io::load(&swapped).unwrap().0, wide);
}

/// A Python with torch: `NEUROSPLIT_TEST_PYTHON`, else `python3`; `None` (the test skips) when torch is absent.
fn torch_python() -> Option<String> {
    let py = std::env::var("NEUROSPLIT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped: {py} cannot import torch (set NEUROSPLIT_TEST_PYTHON to a Python with torch)"
        );
    }
    ok.then_some(py)
}

#[test]
fn torch_loads_written_files_into_the_users_own_widened_module() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = FpeConfig {
        alpha: 2,
        strategy: Strategy::Random,
        layer: 0,
    };
    for (input, kind) in [
        ("seq_dropout.pt", "seq_dropout"),
        ("fc.pth", "fc"),
        ("seq_norm.pt", "seq_norm"),
    ] {
        let (m, meta) = load(input);
        let (wide, _) = expand(&m, &cfg, None, &mut stream(1, &[])).unwrap();
        let hidden: Vec<String> = wide.dims()[1..wide.dims().len() - 1]
            .iter()
            .map(usize::to_string)
            .collect();
        for masks in [TorchMasks::Prune, TorchMasks::Plain] {
            let out = dir.path().join(format!("{kind}_{masks:?}.pt"));
            io::save_as(&out, &wide, &meta, Layout::Torch { masks }).unwrap();
            let run = Command::new(&py)
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_pt.py"))
                .arg("--check")
                .arg(&out)
                .arg(kind)
                .args(&hidden)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&run.stdout).to_string()
                + &String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "{input} {masks:?}: {said}");
            assert!(
                said.contains(&format!("non-zero weights {}", wide.nnz()))
                    || masks == TorchMasks::Plain,
                "{input} {masks:?}: {said}"
            );
        }
    }
}

/// The fixture's pickle and storage records, rewrapped after `mutate` changed the pickle.
fn rewrap(pt: &[u8], mutate: &mut dyn FnMut(&mut Vec<u8>)) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(pt)).unwrap();
    let mut zout = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if f.name().ends_with("/data.pkl") {
            mutate(&mut data);
        }
        zout.start_file(f.name(), opts).unwrap();
        zout.write_all(&data).unwrap();
    }
    zout.finish().unwrap().into_inner()
}

#[test]
fn mutated_pickles_load_or_are_errors() {
    // A bounded, seeded mutation loop over the fixtures' pickles (the archive rebuilt around each, so that
    // the mutations reach the unpickler rather than the zip checksums): every result loads, and then saves and
    // loads back the same, or is an error; a panic or an abort fails the test. fuzz/ runs the same for longer.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut loaded, mut refused) = (0, 0);
    for name in [
        "seq_dropout.pt",
        "fc.pth",
        "seq_norm.pt",
        "pruned.pt",
        "views.pt",
        "whole_module.pt",
    ] {
        let pt = std::fs::read(fixture(name)).unwrap();
        for _ in 0..1500 {
            let r = next();
            let bytes = rewrap(&pt, &mut |p: &mut Vec<u8>| {
                for k in 0..1 + r % 4 {
                    let at = (next() as usize) % p.len().max(1);
                    match (r >> (8 + 2 * k)) % 5 {
                        0 => p[at] ^= 1 << (next() % 8),
                        1 => {
                            p[at] =
                                [0, 0x7f, 0x80, 0xff, b'(', b'R', b'h', b'q'][(next() % 8) as usize]
                        }
                        2 => p.insert(at, next() as u8),
                        3 if p.len() > 1 => {
                            p.remove(at);
                        }
                        _ => {
                            let len = ((next() % 16) as usize).min(p.len() - at);
                            let chunk = p[at..at + len].to_vec();
                            let to = (next() as usize) % p.len();
                            p.splice(to..to, chunk);
                        }
                    }
                }
            });
            match io::from_bytes(&bytes) {
                Ok((model, meta)) => {
                    loaded += 1;
                    let again = io::to_pt_bytes(&model, &meta, TorchMasks::Prune).unwrap();
                    assert_eq!(io::from_bytes(&again).unwrap().0, model);
                }
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!("mutated pickles: {loaded} loaded, {refused} refused");
    assert!(loaded > 0 && refused > 0);
}

#[test]
fn finetune_reads_a_pt_file_and_writes_one_under_its_keys() {
    use ndarray::{Array1, Array2};
    use rand::Rng;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.npz");
    let mut g = stream(7, &[]);
    let mut draw = |n: usize| {
        let x = Array2::from_shape_fn((n, 4), |_| g.gen_range(-1.0f32..1.0));
        let y = Array1::from_shape_fn(n, |i| i64::from(x[[i, 0]] + x[[i, 1]] > 0.0));
        (x, y)
    };
    let (xtr, ytr) = draw(300);
    let (xte, yte) = draw(100);
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&data).unwrap());
    w.add_array("x_train", &xtr).unwrap();
    w.add_array("y_train", &ytr).unwrap();
    w.add_array("x_test", &xte).unwrap();
    w.add_array("y_test", &yte).unwrap();
    w.finish().unwrap();
    let (dense, _) = load("fc.pth");
    for (out, masks) in [("wide.pt", None), ("plain.pth", Some("plain"))] {
        let out = dir.path().join(out);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_neurosplit"));
        cmd.arg("finetune")
            .arg(fixture("fc.pth"))
            .arg("--data")
            .arg(&data)
            .args(["--alpha", "2", "--epochs", "1", "--quiet", "-o"])
            .arg(&out);
        if let Some(m) = masks {
            cmd.args(["--torch-masks", m]);
        }
        let run = cmd.output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(&std::fs::read(&out).unwrap()[..2], b"PK");
        let (wide, meta) = io::load(&out).unwrap();
        assert_eq!(wide.dims()[..2], [4, 10]);
        let n = meta.torch_names.unwrap();
        assert_eq!(n.linear, ["fc1", "fc2", "fc3"]);
        match masks {
            None => assert_eq!(wide.nnz(), dense.nnz()),
            Some(_) => assert!(wide.layers().iter().all(|l| l.mask().is_none())),
        }
    }
}
