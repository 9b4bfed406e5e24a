//! Every metric reading against values computed independently with numpy (`tests/data/metrics_reference.py`,
//! whose output is `tests/data/metrics_reference.json`).

use neurosplit::data::Task;
use neurosplit::metrics::{self, LayerMetrics};
use neurosplit::nn::{Linear, Mlp};

const TOL: f64 = 1e-12;

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(case: &str, what: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= TOL * theirs.abs().max(1.0),
        "{case}: {what} = {ours}, numpy says {theirs}"
    );
}

fn assert_all_close(case: &str, what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{case}: {what} length");
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert_close(case, &format!("{what}[{i}]"), a, b);
    }
}

#[test]
fn metrics_match_the_numpy_reference() {
    let text = include_str!("data/metrics_reference.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (h, d) = (
            case["rows"].as_u64().unwrap() as usize,
            case["cols"].as_u64().unwrap() as usize,
        );
        let w: Vec<f32> = f64s(&case["weights"]).iter().map(|&x| x as f32).collect();
        // The fixtures are exact in f32 (multiples of 1/64).
        assert!(f64s(&case["weights"])
            .iter()
            .zip(&w)
            .all(|(&a, &b)| a == b as f64));
        let groups: Vec<Vec<usize>> = case["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| f64s(g).iter().map(|&i| i as usize).collect())
            .collect();
        let e = &case["expected"];
        let layer = Linear::from_parts(h, d, w, vec![0.0; h], None).unwrap();
        // The plain functions.
        let cap = metrics::feature_capacity(&layer);
        assert_all_close(name, "capacity", &cap, &f64s(&e["capacity"]));
        assert_all_close(
            name,
            "capacity_per_group",
            &metrics::group_capacity(&cap, &groups).unwrap(),
            &f64s(&e["capacity_per_group"]),
        );
        assert_all_close(
            name,
            "feature_capacity",
            &metrics::grouped_capacity(&layer, &groups).unwrap(),
            &f64s(&e["feature_capacity"]),
        );
        for (what, ours) in [
            ("mean_cosine", metrics::mean_cosine(&layer)),
            ("mean_abs_cosine", metrics::mean_abs_cosine(&layer)),
            (
                "mean_abs_cosine_full",
                metrics::mean_abs_cosine_full(&layer),
            ),
        ] {
            assert_close(name, what, ours, e[what].as_f64().unwrap());
        }
        // The same readings through LayerMetrics (what `inspect` writes).
        let out = Linear::from_parts(1, h, vec![1.0; h], vec![0.0], None).unwrap();
        let model = Mlp::from_layers(vec![layer, out], Task::Binary).unwrap();
        let m = LayerMetrics::of(&model, 0, Some(&groups)).unwrap();
        assert_close(
            name,
            "capacity_total",
            m.capacity_total,
            e["capacity_total"].as_f64().unwrap(),
        );
        assert_close(
            name,
            "feature_capacity_total",
            m.feature_capacity_total.unwrap(),
            e["feature_capacity_total"].as_f64().unwrap(),
        );
        assert_close(
            name,
            "mean_abs_cosine_full",
            m.mean_abs_cosine_full,
            e["mean_abs_cosine_full"].as_f64().unwrap(),
        );
    }
}
