//! `neurosplit inspect`: a saved model's interference metrics and its Fig. 2 pictures.

use std::path::PathBuf;

use clap::Args;

use neurosplit::expand::gram::gram_groups;
use neurosplit::io;
use neurosplit::metrics::{LayerMetrics, DEFINITIONS};
use neurosplit::nn::Mlp;
use neurosplit::plot::{draw_heatmaps, gram_panel, weights_panel};
use neurosplit::rng::{self, purpose};
use neurosplit::{Error, Result};

use crate::expand::feature_groups;
use crate::write_json;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The model to inspect (.safetensors).
    model: PathBuf,
    /// Directory for `metrics.json`, `fig2.png` and `fig2.svg` (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Layer to inspect (0 = first, the paper's W1).
    #[arg(long, default_value_t = 0)]
    layer: usize,
    /// Treat the inputs as this many contiguous, equal clauses instead of the groups recorded in the file.
    #[arg(long)]
    clauses: Option<usize>,
    /// Feature groups from a JSON file (a list of lists of input indices, e.g. `[[0,1],[2,3]]`) instead of the
    /// groups recorded in the file; for the feature-level capacity of user-defined features.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["clauses", "gram_clusters"])]
    groups: Option<PathBuf>,
    /// Group the inputs into this many Gram clusters (k-means on the rows of the normalised Gram matrix, as
    /// the Gram split does) instead of the groups recorded in the file.
    #[arg(long, value_name = "K", conflicts_with = "clauses")]
    gram_clusters: Option<usize>,
    /// Seed of the Gram clustering.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A baseline model (e.g. the dense model before expansion): its metrics and the fold changes
    /// `metric / baseline metric` (Fig. 4) are reported too.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

/// `a / b`, or `None` where `b` is 0 (no fold change is defined).
fn fold(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// The feature groups `inspect` uses for `model`: `--groups FILE`, `--gram-clusters K` (on the first layer),
/// `--clauses C`, or those recorded in the model file, in that order.
fn inspect_groups(
    args: &InspectArgs,
    model: &Mlp,
    recorded: Option<&[Vec<usize>]>,
) -> Result<Option<Vec<Vec<usize>>>> {
    if let Some(path) = &args.groups {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let groups: Vec<Vec<usize>> = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                "groups",
                format!(
                    "{}: {e}; expected a JSON list of lists of input indices, e.g. [[0,1],[2,3]]",
                    path.display()
                ),
            )
        })?;
        let d = model.input_dim();
        if let Some(bad) = groups.iter().flatten().find(|&&i| i >= d) {
            return Err(Error::invalid(
                "groups",
                format!(
                    "{} names input {bad}, but the model has {d} inputs",
                    path.display()
                ),
            ));
        }
        return Ok(Some(groups));
    }
    if let Some(k) = args.gram_clusters {
        let mut rng = rng::stream(args.seed, &[purpose::SPLIT]);
        return gram_groups(&model.layers()[0], k, &mut rng).map(Some);
    }
    feature_groups(args.clauses, recorded, model.input_dim())
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let (model, meta) = io::load(&args.model)?;
    let groups = inspect_groups(&args, &model, meta.groups.as_deref())?;
    // Groups describe the model's inputs, hence only the first layer's columns.
    let layer_groups = if args.layer == 0 {
        groups.as_deref()
    } else {
        None
    };
    let m = LayerMetrics::of(&model, args.layer, layer_groups)?;
    let groups_used = layer_groups.map(<[_]>::to_vec);
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let layer = &model.layers()[args.layer];
    let children = meta
        .alpha
        .filter(|_| meta.expanded_layer == Some(args.layer));
    let panels = [
        weights_panel(layer, layer_groups, children),
        gram_panel(layer, layer_groups),
    ];
    let name = args.model.file_name().map_or_else(
        || args.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let title = match (&meta.strategy, meta.alpha) {
        (Some(s), Some(a)) => format!("{name}: layer {} after FPE ({s}, alpha = {a})", args.layer),
        _ => format!("{name}: layer {}", args.layer),
    };
    let mut written = Vec::new();
    for ext in ["png", "svg"] {
        let path = args.out.join(format!("fig2.{ext}"));
        draw_heatmaps(&path, &title, &panels, (760, 620))?;
        written.push(path);
    }
    let baseline = match &args.baseline {
        Some(path) => {
            let (base, base_meta) = io::load(path)?;
            if base.input_dim() != model.input_dim() {
                return Err(Error::invalid(
                    "baseline",
                    format!(
                        "{} has {} inputs but the model has {}: compare models of the same data",
                        path.display(),
                        base.input_dim(),
                        model.input_dim()
                    ),
                ));
            }
            let bg = inspect_groups(&args, &base, base_meta.groups.as_deref())?;
            let bg = if args.layer == 0 { bg } else { None };
            Some((path, LayerMetrics::of(&base, args.layer, bg.as_deref())?))
        }
        None => None,
    };
    let mut json = serde_json::json!({
        "model": args.model.display().to_string(),
        "architecture": model.dims(),
        "task": format!("{:?}", model.task()),
        "nnz": model.nnz(),
        "metadata": meta,
        "definitions": DEFINITIONS.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "groups": groups_used,
        "metrics": m,
    });
    if let Some((path, b)) = &baseline {
        json["baseline"] = serde_json::json!({
            "model": path.display().to_string(),
            "capacity_total": b.capacity_total,
            "feature_capacity_total": b.feature_capacity_total,
            "mean_cosine": b.mean_cosine,
            "mean_abs_cosine": b.mean_abs_cosine,
            "mean_abs_cosine_full": b.mean_abs_cosine_full,
        });
        json["fold_change"] = serde_json::json!({
            "capacity_total": fold(m.capacity_total, b.capacity_total),
            "feature_capacity_total": m.feature_capacity_total.zip(b.feature_capacity_total).and_then(|(a, b)| fold(a, b)),
            "mean_cosine": fold(m.mean_cosine, b.mean_cosine),
            "mean_abs_cosine": fold(m.mean_abs_cosine, b.mean_abs_cosine),
            "mean_abs_cosine_full": fold(m.mean_abs_cosine_full, b.mean_abs_cosine_full),
        });
    }
    let json_path = args.out.join("metrics.json");
    write_json(&json_path, &json)?;
    println!(
        "{name}: {:?}, {} non-zero weights; layer {}: {} neurons x {} inputs, {} live",
        model.dims(),
        model.nnz(),
        args.layer,
        m.neurons,
        m.inputs,
        m.nnz
    );
    let def = |key: &str| {
        DEFINITIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, v)| *v)
    };
    let fmt_list = |v: &[f64]| {
        let s: Vec<String> = v.iter().map(|c| format!("{c:.3}")).collect();
        format!("[{}]", s.join(", "))
    };
    println!(
        "  readings: feature capacity total per input and per feature group, and three neuron cosine means \
         (f64; metrics.json has every value and these definitions):"
    );
    println!(
        "  capacity_total         {:>9.4}  (at most {})  {}; {}",
        m.capacity_total,
        m.neurons.min(m.inputs),
        def("capacity_total"),
        def("capacity")
    );
    match (&m.capacity_per_group, &m.feature_capacity, m.feature_capacity_total) {
        (Some(per_input), Some(feature), Some(total)) => {
            println!(
                "  capacity_per_group     {}  {}",
                fmt_list(per_input),
                def("capacity_per_group")
            );
            println!(
                "  feature_capacity_total {total:>9.4}  (at most {})  {}",
                m.neurons.min(feature.len()),
                def("feature_capacity_total")
            );
            println!(
                "  feature_capacity       {}  {}",
                fmt_list(feature),
                def("feature_capacity")
            );
        }
        _ => println!(
            "  feature_capacity       (no feature groups: pass --clauses, --groups or --gram-clusters, or a model that records groups; layer 0 only)"
        ),
    }
    for (key, value) in [
        ("mean_cosine", m.mean_cosine),
        ("mean_abs_cosine", m.mean_abs_cosine),
        ("mean_abs_cosine_full", m.mean_abs_cosine_full),
    ] {
        println!("  {key:<22} {value:>9.4}  {}", def(key));
    }
    if let Some((path, b)) = &baseline {
        let f = |a: f64, b: f64| {
            fold(a, b).map_or_else(|| "undefined".to_string(), |x| format!("{x:.3}"))
        };
        println!("  vs {} (fold change = model / baseline):", path.display());
        let mut rows = vec![("capacity_total", m.capacity_total, b.capacity_total)];
        if let (Some(a), Some(bb)) = (m.feature_capacity_total, b.feature_capacity_total) {
            rows.push(("feature_capacity_total", a, bb));
        }
        rows.extend([
            ("mean_cosine", m.mean_cosine, b.mean_cosine),
            ("mean_abs_cosine", m.mean_abs_cosine, b.mean_abs_cosine),
            (
                "mean_abs_cosine_full",
                m.mean_abs_cosine_full,
                b.mean_abs_cosine_full,
            ),
        ]);
        for (key, a, bb) in rows {
            println!("  {key:<22} baseline {bb:>9.4}, fold change {}", f(a, bb));
        }
    }
    println!("  wrote {}", json_path.display());
    for p in written {
        println!("  wrote {}", p.display());
    }
    Ok(())
}
