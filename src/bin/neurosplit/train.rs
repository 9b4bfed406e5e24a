//! `neurosplit train`: one model, dense, then optionally expanded with FPE and trained on.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use neurosplit::data::Dnf;
use neurosplit::expand::{
    expand_alternating, Assignment, Decay, DeepInputs, RewireConfig, Rewirer, Strategy,
};
use neurosplit::io::ModelMeta;
use neurosplit::kernels::Par;
use neurosplit::metrics;
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{accuracy, Mlp, Trainer};
use neurosplit::rng::{self, purpose};
use neurosplit::theory;
use neurosplit::{Error, Result};

use crate::device::{Backend, Device, GpuFormat};
use crate::{write_json, DataArgs};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Epochs of dense training.
    #[arg(long, default_value_t = 1000)]
    epochs: usize,
    /// Expand with FPE after the dense epochs, into `alpha` children per neuron.
    #[arg(long)]
    alpha: Option<usize>,
    /// Split strategy for the expansion: random, clause, gram, two-four (alpha 2) or custom (with --assignment).
    #[arg(long, default_value = "random")]
    strategy: String,
    /// JSON file of the custom split (one object, or a list with one per expanded layer); see
    /// `neurosplit::expand::Assignment`.
    #[arg(long, value_name = "FILE")]
    assignment: Option<PathBuf>,
    /// Clusters of the gram split (default: round(sqrt(inputs)), at least alpha).
    #[arg(long)]
    clusters: Option<usize>,
    /// Hidden widths of a deeper model, e.g. 8,8,8 (replaces --neurons). FPE then expands hidden layers
    /// 0, 2, 4, ... (alternating expansion), never the output head.
    #[arg(long, value_delimiter = ',', conflicts_with = "neurons")]
    hidden: Option<Vec<usize>>,
    /// LayerNorm before every hidden activation.
    #[arg(long)]
    layernorm: bool,
    /// After the expansion, rewire the masks every T optimisation steps (unmask a fraction of masked weights at
    /// random, prune as many smallest-magnitude live ones).
    #[arg(long, value_name = "T")]
    rewire_every: Option<usize>,
    /// Fraction of each layer's masked weights unmasked per rewiring (at the start, with --rewire-decay cosine).
    #[arg(long, default_value_t = 0.1)]
    rewire_fraction: f64,
    /// Schedule of the rewired fraction: constant or cosine.
    #[arg(long, default_value = "constant")]
    rewire_decay: String,
    /// Epochs of training after the expansion (default: as many as --epochs).
    #[arg(long)]
    post_epochs: Option<usize>,
    /// Print the loss every N epochs (0 = never).
    #[arg(long, default_value_t = 100)]
    log_every: usize,
    /// Save the final model (the FPE model if --alpha is given, else the dense one) as safetensors, with the
    /// data's clauses as feature groups, for `neurosplit expand` and `neurosplit inspect`.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Where to train: cpu, or cuda (an NVIDIA GPU; needs a build with --features cuda).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// With --device cuda: how the masked weights are stored, csr or bitmask.
    #[arg(long, value_enum, default_value_t = GpuFormat::Csr)]
    gpu_format: GpuFormat,
    /// Storage of the layers' weights: auto (picked per layer from its density and shape), dense, bitmask or
    /// csr.
    #[arg(long, default_value = "auto")]
    format: String,
    /// Threads for the kernels within a step (results are bit-identical for any count).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the run's results to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn train(args: TrainArgs) -> Result<()> {
    let d = &args.data;
    let strategy: Strategy = args.strategy.parse()?;
    let formats: FormatChoice = args.format.parse()?;
    if args.threads == 0 {
        return Err(Error::invalid("threads", "must be at least 1"));
    }
    let par = if args.threads == 1 {
        Par::Seq
    } else {
        Par::Rayon(args.threads)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| Error::invalid("threads", e.to_string()))?;
    let show = |formats: &[String]| {
        formats
            .iter()
            .enumerate()
            .map(|(l, f)| format!("layer {} {f}", l + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dnf = Dnf::with_clauses(d.clauses, d.k)?;
    let hidden = args.hidden.clone().unwrap_or_else(|| vec![d.neurons]);
    if hidden.is_empty() || hidden.contains(&0) {
        return Err(Error::invalid(
            "hidden widths",
            "every hidden layer needs at least 1 neuron (e.g. --hidden 8,8,8)",
        ));
    }
    let assignments = match (&args.assignment, strategy) {
        (Some(path), Strategy::Custom) => Assignment::load(path)?,
        (None, Strategy::Custom) => {
            return Err(Error::invalid(
                "strategy",
                "custom needs --assignment FILE with the split",
            ))
        }
        (Some(_), _) => {
            return Err(Error::invalid(
                "assignment",
                "--assignment is only used with --strategy custom",
            ))
        }
        (None, _) => Vec::new(),
    };
    if let Some(alpha) = args.alpha {
        if strategy == Strategy::TwoFour && alpha != 2 {
            return Err(Error::invalid(
                "alpha",
                format!("the two-four (2:4) split needs alpha = 2, not {alpha}"),
            ));
        }
        if let Some(a) = assignments.iter().find(|a| a.alpha != alpha) {
            return Err(Error::invalid(
                "assignment",
                format!(
                    "it splits into alpha = {} children but --alpha is {alpha}",
                    a.alpha
                ),
            ));
        }
    }
    if args.clusters.is_some() && strategy != Strategy::Gram {
        return Err(Error::invalid(
            "clusters",
            "--clusters is only used with --strategy gram",
        ));
    }
    let rewire = match args.rewire_every {
        Some(every) => {
            if args.alpha.is_none() {
                return Err(Error::invalid(
                    "rewire",
                    "--rewire-every moves the masks of an FPE expansion: add --alpha",
                ));
            }
            let cfg = RewireConfig {
                every,
                fraction: args.rewire_fraction,
                decay: args.rewire_decay.parse::<Decay>()?,
            };
            cfg.validate()?;
            Some(cfg)
        }
        None => None,
    };
    let pre = d.train_config(args.epochs);
    pre.validate()?;
    let post = d.train_config(args.post_epochs.unwrap_or(args.epochs));
    if let Some(alpha) = args.alpha {
        post.validate()?;
        if alpha < 2 {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} is too small: FPE splits each neuron into alpha >= 2"),
            ));
        }
        if alpha > dnf.literals() {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} exceeds the {} inputs of a neuron", dnf.literals()),
            ));
        }
    }
    if let Some(dir) = args.save.as_deref().and_then(std::path::Path::parent) {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(Error::invalid(
                "save",
                format!(
                    "directory {} does not exist: create it first",
                    dir.display()
                ),
            ));
        }
    }
    let backend = Backend::open(args.device, args.gpu_format)?;
    let train = dnf.generate(
        d.n_train,
        &mut rng::stream(d.seed, &[0, purpose::DATA_TRAIN]),
    )?;
    let test = dnf.generate(d.n_test, &mut rng::stream(d.seed, &[0, purpose::DATA_TEST]))?;
    let dims: Vec<usize> = std::iter::once(train.d)
        .chain(hidden.iter().copied())
        .chain(std::iter::once(1))
        .collect();
    let mut model = Mlp::new(
        &dims,
        train.task,
        &mut rng::stream(d.seed, &[0, purpose::INIT]),
    )?;
    if args.layernorm {
        model = model.with_layernorm();
    }
    let inputs = DeepInputs {
        groups: train.groups.as_deref(),
        assignments: &assignments,
        clusters: args.clusters,
    };
    if let Some(alpha) = args.alpha {
        // The same expansion of the untrained model (same shapes and supports): a bad setting fails here,
        // before any training time is spent. Its random stream is not the run's.
        expand_alternating(
            &model,
            alpha,
            strategy,
            &inputs,
            &mut rng::stream(d.seed, &[1]),
        )?;
    }
    println!(
        "data: {} clauses x {} literals, {} train / {} test ({:.0}% positive); model {:?}, {} non-zero weights",
        d.clauses,
        d.k,
        train.n,
        test.n,
        100.0 * train.positive_fraction(),
        model.dims(),
        model.nnz()
    );
    let log = |phase: &str, e: usize, loss: f32, every: usize, total: usize| {
        if every > 0 && ((e + 1).is_multiple_of(every) || e + 1 == total) {
            println!("  [{phase}] epoch {:>5}/{total}  loss {loss:.4}", e + 1);
        }
    };
    let start = Instant::now();
    let cpu = (formats, par);
    let fit_pre = pool.install(|| {
        backend.fit(
            &mut model,
            &train,
            pre,
            &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_PRE]),
            |e, l| log("dense", e, l, args.log_every, pre.epochs),
            cpu,
        )
    })?;
    println!("formats ({formats}) before the split: {}", show(&fit_pre));
    let dense_acc = accuracy(&model, &test);
    println!(
        "dense: hidden {:?}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
        hidden,
        model.nnz(),
        100.0 * dense_acc,
        start.elapsed().as_secs_f64()
    );
    let mut out = serde_json::json!({
        "config": { "device": format!("{:?}", args.device).to_lowercase(), "clauses": d.clauses, "k": d.k, "hidden": hidden, "layernorm": args.layernorm, "seed": d.seed, "pre": pre },
        "dense": { "hidden": hidden, "nnz": model.nnz(), "test_acc": dense_acc, "formats": fit_pre,
                   "capacity_total": metrics::feature_capacity(&model.layers()[0]).iter().sum::<f64>(),
                   "mean_cosine": metrics::mean_cosine(&model.layers()[0]) },
    });
    let mut to_save = (
        model.clone(),
        ModelMeta {
            seed: Some(d.seed),
            groups: train.groups.clone(),
            ..ModelMeta::default()
        },
    );
    if let Some(alpha) = args.alpha {
        let (mut wide, report) = expand_alternating(
            &model,
            alpha,
            strategy,
            &inputs,
            &mut rng::stream(d.seed, &[0, purpose::SPLIT]),
        )?;
        for (layer, r) in &report.steps {
            println!(
                "FPE ({strategy}, alpha = {alpha}) of layer {layer}: width {} -> {}; non-zero weights of layers {layer}-{} {} -> {} after split -> {} after pruning ({} pruned from W{}, {} from W{})",
                r.width_before,
                r.width_after,
                layer + 1,
                r.budget,
                r.nnz_after_split,
                r.nnz_final,
                r.pruned_in,
                layer + 1,
                r.pruned_out,
                layer + 2,
            );
        }
        println!(
            "FPE: widths {:?} -> {:?}; network non-zero weights {} -> {}; test accuracy at split {:.2}%",
            model.dims(),
            report.dims_after,
            report.budget,
            report.nnz_final,
            100.0 * accuracy(&wide, &test)
        );
        let collisions = train.groups.as_deref().map(|clauses| {
            let (before, after) = (
                theory::measure_layer(&model.layers()[0], clauses),
                theory::measure_layer(&wide.layers()[0], clauses),
            );
            println!(
                "first layer over {} clauses: covered {} -> {}; clause collisions {} -> {} (ratio {:.4})",
                clauses.len(),
                before.covered,
                after.covered,
                before.collisions,
                after.collisions,
                after.collisions as f64 / before.collisions.max(1) as f64
            );
            serde_json::json!({ "dense": before, "fpe_at_split": after })
        });
        let start = Instant::now();
        let mut shuffle = rng::stream(d.seed, &[0, purpose::SHUFFLE_POST]);
        let mut log_post = |e, l| log("fpe", e, l, args.log_every, post.epochs);
        let rewired = match rewire {
            Some(cfg) => {
                if !matches!(backend, Backend::Cpu) {
                    return Err(Error::invalid(
                        "device",
                        "rewiring runs on the CPU only: drop --device cuda or the --rewire flags",
                    ));
                }
                let mut trainer = Trainer::new(&wide, post)?.with_format(&wide, formats, par);
                let total = post.epochs * trainer.steps_per_epoch(train.n);
                let mut rewirer =
                    Rewirer::new(cfg, total, rng::stream(d.seed, &[0, purpose::REWIRE]))?;
                pool.install(|| {
                    rewirer.fit(&mut trainer, &mut wide, &train, &mut shuffle, &mut log_post)
                });
                let h = rewirer.history();
                let moved: usize = h.iter().map(|r| r.moved).sum();
                println!(
                    "rewiring ({}, every {} steps, fraction {}): {} updates moved {} weights; non-zero weights after each update: {}",
                    cfg.decay,
                    cfg.every,
                    cfg.fraction,
                    h.len(),
                    moved,
                    if h.iter().all(|r| r.nnz == report.budget) { "all equal to the budget" } else { "NOT equal to the budget" }
                );
                Some(serde_json::json!({ "config": cfg, "updates": h.len(), "moved": moved }))
            }
            None => {
                let fit_post = pool.install(|| {
                    backend.fit(&mut wide, &train, post, &mut shuffle, &mut log_post, cpu)
                })?;
                println!("formats ({formats}) after the split: {}", show(&fit_post));
                out["fpe_formats"] = serde_json::json!(fit_post);
                None
            }
        };
        let acc = accuracy(&wide, &test);
        println!(
            "FPE: widths {:?}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
            wide.dims(),
            wide.nnz(),
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
        out["fpe"] = serde_json::json!({ "strategy": strategy, "alpha": alpha, "report": report, "nnz": wide.nnz(), "test_acc": acc, "post": post, "clauses": collisions, "rewiring": rewired,
            "capacity_total": metrics::feature_capacity(&wide.layers()[0]).iter().sum::<f64>(),
            "mean_cosine": metrics::mean_cosine(&wide.layers()[0]) });
        let expanded_layer = report.steps.first().map(|(layer, _)| *layer);
        to_save = (
            wide,
            ModelMeta {
                strategy: Some(strategy.to_string()),
                alpha: Some(alpha),
                expanded_layer,
                ..to_save.1
            },
        );
    }
    if let Some(path) = &args.save {
        neurosplit::io::save(path, &to_save.0, &to_save.1)?;
        println!("model written to {}", path.display());
    }
    if let Some(path) = &args.json {
        write_json(path, &out)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
