//! Custom-split assignments (JSON): parse and validate against a small layer, then expand with them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neurosplit::data::Task;
use neurosplit::expand::{expand_with, Assignment, FpeConfig, SplitInputs, Strategy};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(list) = Assignment::parse_json(text) else {
        return;
    };
    let model = Mlp::new(&[12, 4, 1], Task::Binary, &mut stream(0, &[])).unwrap();
    for a in &list {
        let alpha = a.alpha;
        if a.validate(&model.layers()[0], alpha).is_ok() {
            let cfg = FpeConfig {
                alpha,
                strategy: Strategy::Custom,
                layer: 0,
            };
            let inputs = SplitInputs {
                assignment: Some(a),
                ..SplitInputs::default()
            };
            let (wide, _) = expand_with(&model, &cfg, &inputs, &mut stream(1, &[])).unwrap();
            assert_eq!(wide.nnz(), model.nnz());
        }
    }
});
