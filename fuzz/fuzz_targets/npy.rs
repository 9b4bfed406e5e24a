//! `.npy` arrays: features and labels parse or give an error; the header is checked against the data first.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neurosplit::data::npy;

fuzz_target!(|data: &[u8]| {
    let checked = npy::check_npy(data);
    if let Ok(x) = npy::parse_features(data, "x_train") {
        assert!(checked.is_ok());
        assert!(x.len() * 4 <= data.len() * 2);
    }
    if let Ok(y) = npy::parse_labels(data, "y_train") {
        assert!(checked.is_ok());
        assert!(y.len() <= data.len());
    }
});
