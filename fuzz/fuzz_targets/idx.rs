//! IDX arrays (plain or gzipped): the header's dimensions are checked before any allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neurosplit::data::idx;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = idx::parse_idx(data, "fuzz") {
        assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        // Labels for the images, as a labels file of that many bytes would give (never more than the input).
        if a.dims.len() >= 2 && a.dims[0] <= data.len() {
            let labels = idx::IdxArray {
                dims: vec![a.dims[0]],
                data: vec![0; a.dims[0]],
            };
            let _ = idx::idx_dataset(&a, &labels, 10);
        }
    }
});
