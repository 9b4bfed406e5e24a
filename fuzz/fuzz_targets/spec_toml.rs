//! Experiment specs (TOML): parse, validate and plan the grid; never a panic or a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neurosplit::experiment::{runner, spec::Spec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = Spec::parse(text, "fuzz") else {
        return;
    };
    if spec.validate().is_ok() {
        let grid = runner::cells(&spec);
        assert!(grid.len() * spec.trials <= neurosplit::limits::MAX_JOBS);
        let _ = spec.check_available();
        let _ = spec.fingerprint();
    }
});
