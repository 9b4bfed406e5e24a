//! `.npz` archives of embeddings: the whole loader (zip entries, the four arrays, labels and classes).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("neurosplit-fuzz-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("e.npz");
    std::fs::write(&path, data).unwrap();
    if let Ok((train, test)) = neurosplit::data::npy::load_embeddings(&path) {
        assert!(train.n > 0 && test.n > 0 && train.d == test.d);
        assert!(train.x.len() * 4 <= data.len() * 2);
    }
});
