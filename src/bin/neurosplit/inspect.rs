//! `neurosplit inspect`: a saved model's interference metrics and its Fig. 2 pictures.

use std::path::PathBuf;

use clap::Args;

use neurosplit::io;
use neurosplit::metrics::LayerMetrics;
use neurosplit::plot::{draw_heatmaps, gram_panel, weights_panel};
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
    /// A baseline model (e.g. the dense model before expansion): its metrics and the fold changes
    /// `metric / baseline metric` (Fig. 4) are reported too.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

/// `a / b`, or `None` where `b` is 0 (no fold change is defined).
fn fold(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let (model, meta) = io::load(&args.model)?;
    let groups = feature_groups(args.clauses, meta.groups.as_deref(), model.input_dim())?;
    // Groups describe the model's inputs, hence only the first layer's columns.
    let layer_groups = if args.layer == 0 {
        groups.as_deref()
    } else {
        None
    };
    let m = LayerMetrics::of(&model, args.layer, layer_groups)?;
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
            let bg = feature_groups(args.clauses, base_meta.groups.as_deref(), base.input_dim())?;
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
        "definitions": {
            "gram": "G = W^T W over the layer's inputs",
            "capacity": "C_i = G_ii^2 / sum_j G_ij^2 per input i (column of W); 0 for an all-zero column",
            "capacity_total": "sum_i C_i",
            "capacity_per_group": "sum of C_i over the group's inputs",
            "mean_cosine": "signed mean cosine similarity over all pairs of distinct neurons (rows of W); 0 for a pair with a zero row",
            "mean_abs_cosine": "mean of |cosine similarity| over the same pairs",
        },
        "metrics": m,
    });
    if let Some((path, b)) = &baseline {
        json["baseline"] = serde_json::json!({
            "model": path.display().to_string(),
            "capacity_total": b.capacity_total,
            "mean_cosine": b.mean_cosine,
            "mean_abs_cosine": b.mean_abs_cosine,
        });
        json["fold_change"] = serde_json::json!({
            "capacity_total": fold(m.capacity_total, b.capacity_total),
            "mean_cosine": fold(m.mean_cosine, b.mean_cosine),
            "mean_abs_cosine": fold(m.mean_abs_cosine, b.mean_abs_cosine),
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
    println!(
        "  feature capacity total {:.4} (of at most {}), mean neuron cosine similarity {:.4} (of |cos|: {:.4})",
        m.capacity_total,
        m.neurons.min(m.inputs),
        m.mean_cosine,
        m.mean_abs_cosine
    );
    if let Some(g) = &m.capacity_per_group {
        let s: Vec<String> = g.iter().map(|c| format!("{c:.2}")).collect();
        println!("  capacity per group: [{}]", s.join(", "));
    }
    if let Some((path, b)) = &baseline {
        let f = |a: f64, b: f64| {
            fold(a, b).map_or_else(|| "undefined".to_string(), |x| format!("{x:.3}"))
        };
        println!(
            "  vs {}: capacity total {:.4} (fold change {}), mean |cos| {:.4} (fold change {})",
            path.display(),
            b.capacity_total,
            f(m.capacity_total, b.capacity_total),
            b.mean_abs_cosine,
            f(m.mean_abs_cosine, b.mean_abs_cosine)
        );
    }
    println!("  wrote {}", json_path.display());
    for p in written {
        println!("  wrote {}", p.display());
    }
    Ok(())
}
