//! Results files (JSONL trial records): parse, deduplicate, or give an error naming the line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neurosplit::experiment::store;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = store::parse(data, std::path::Path::new("fuzz.jsonl"), None) {
        let mut keys: Vec<_> = r.records.iter().map(|r| (&r.cell, r.trial)).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "a trial counted twice");
    }
});
