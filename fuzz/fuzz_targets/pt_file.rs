//! PyTorch files (`torch.save` zip archives) and their pickles: any bytes load as a model or give an error;
//! never a panic, a hang or a huge allocation.
//!
//! An input that starts with `PK` is read as a file as it is. Any other input is a pickle with its storages,
//! so that mutations reach the unpickler instead of failing the archive's checksums:
//! `[n: u8] [len_0: u16 LE] ... [len_{n-1}: u16 LE] [data.pkl ...]` becomes an archive holding the pickle as
//! `archive/data.pkl` and records `archive/data/0` .. `archive/data/{n-1}` of those lengths (bytes of a fixed
//! pattern). fuzz/make_seeds.py --pt writes both kinds from the torch fixtures.
#![no_main]
use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;

fn archive(data: &[u8]) -> Option<Vec<u8>> {
    let (&n, mut rest) = data.split_first()?;
    let mut lens = Vec::new();
    for _ in 0..n.min(16) {
        let (len, r) = rest.split_at_checked(2)?;
        lens.push(u16::from_le_bytes([len[0], len[1]]) as usize);
        rest = r;
    }
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", opts).ok()?;
    zip.write_all(rest).ok()?;
    zip.start_file("archive/byteorder", opts).ok()?;
    zip.write_all(b"little").ok()?;
    for (i, len) in lens.into_iter().enumerate() {
        zip.start_file(format!("archive/data/{i}"), opts).ok()?;
        // Small floats (0.0, 0.5, 1.0, ... as F32, F16, BF16 or F64 alike are finite).
        let bytes: Vec<u8> = (0..len)
            .map(|j| if j % 4 == 3 { 0x3f } else { 0 })
            .collect();
        zip.write_all(&bytes).ok()?;
    }
    zip.start_file("archive/version", opts).ok()?;
    zip.write_all(b"3\n").ok()?;
    Some(zip.finish().ok()?.into_inner())
}

fn check(bytes: &[u8]) {
    if let Ok((model, meta)) = neurosplit::io::from_bytes(bytes) {
        // What loads must write as PyTorch and load back to the same model under the same names.
        let masks = neurosplit::io::TorchMasks::Prune;
        let pt = neurosplit::io::to_pt_bytes(&model, &meta, masks).expect("a loaded model saves");
        let (back, back_meta) = neurosplit::io::from_bytes(&pt).expect("a saved model loads");
        assert_eq!(back, model);
        if meta.torch_names.is_some() {
            assert_eq!(back_meta.torch_names, meta.torch_names);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"PK") {
        check(data);
    } else if let Some(zip) = archive(data) {
        check(&zip);
    }
});
