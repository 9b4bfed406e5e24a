//! Model files (safetensors): any bytes load as a model or give an error; never a panic or a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((model, meta)) = neurosplit::io::from_bytes(data) {
        // What loads must save and load back to the same model.
        let bytes = neurosplit::io::to_bytes(&model, &meta).expect("a loaded model saves");
        let (back, _) = neurosplit::io::from_bytes(&bytes).expect("a saved model loads");
        assert_eq!(back, model);
    }
});
