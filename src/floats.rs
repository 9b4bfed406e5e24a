//! `f32` settings in text without `f64` widening noise.
//!
//! An `f32` learning rate of `1e-3` is really `0.0010000000474974513`; converted to `f64` (as
//! `serde_json::to_value` and `json!` do) it prints with that noise. These helpers widen through the `f32`'s
//! shortest decimal instead, so `0.001f32` prints as `0.001` everywhere, and reads back as the same `f32`.

use serde::Serializer;

/// The `f64` nearest to `x`'s shortest decimal representation (`0.001f32` -> `0.001f64`); reading it back as
/// an `f32` gives `x` again. Non-finite values are widened as they are.
pub fn widen(x: f32) -> f64 {
    if x.is_finite() {
        x.to_string().parse().unwrap_or(x as f64)
    } else {
        x as f64
    }
}

/// `serialize_with` for `f32` fields: serialises [`widen`]`(x)`, so JSON values (`to_value`, `json!`) and
/// TOML print the `f32`'s shortest decimal. Deserialising as `f32` needs no helper.
pub fn serialize<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(widen(*x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_settings_print_as_written_and_read_back_exactly() {
        for (x, text) in [
            (1e-3f32, "0.001"),
            (1e-7, "1e-7"),
            (0.1, "0.1"),
            (3.0, "3.0"),
        ] {
            let json = serde_json::to_string(&widen(x)).unwrap();
            assert_eq!(json, text);
            assert_eq!(json.parse::<f32>().unwrap().to_bits(), x.to_bits());
        }
        // The noise this removes.
        assert_eq!(
            serde_json::to_value(1e-3f32).unwrap().to_string(),
            "0.0010000000474974513"
        );
        #[derive(serde::Serialize)]
        struct S {
            #[serde(serialize_with = "serialize")]
            lr: f32,
        }
        let v = serde_json::to_value(S { lr: 1e-3 }).unwrap();
        assert_eq!(v.to_string(), r#"{"lr":0.001}"#);
    }
}
