//! `neurosplit train`: one model, dense, then optionally expanded with FPE and trained on.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::io::ModelMeta;
use neurosplit::metrics;
use neurosplit::nn::{accuracy, Mlp, Trainer};
use neurosplit::rng::{self, purpose};
use neurosplit::{Error, Result};

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
    /// Split strategy for the expansion: random or clause.
    #[arg(long, default_value = "random")]
    strategy: String,
    /// Epochs of training after the expansion (default: as many as --epochs).
    #[arg(long)]
    post_epochs: Option<usize>,
    /// Print the loss every N epochs (0 = never).
    #[arg(long, default_value_t = 100)]
    log_every: usize,
    /// Write the run's results to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Save the final model (the FPE model if --alpha is given, else the dense one) as safetensors, with the
    /// data's clauses as feature groups, for `neurosplit expand` and `neurosplit inspect`.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
}

pub fn train(args: TrainArgs) -> Result<()> {
    let d = &args.data;
    let strategy: Strategy = args.strategy.parse()?;
    let dnf = Dnf::with_clauses(d.clauses, d.k)?;
    if d.neurons == 0 {
        return Err(Error::invalid("neurons", "must be at least 1"));
    }
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
    let train = dnf.generate(
        d.n_train,
        &mut rng::stream(d.seed, &[0, purpose::DATA_TRAIN]),
    )?;
    let test = dnf.generate(d.n_test, &mut rng::stream(d.seed, &[0, purpose::DATA_TEST]))?;
    let mut model = Mlp::new(
        &[train.d, d.neurons, 1],
        train.task,
        &mut rng::stream(d.seed, &[0, purpose::INIT]),
    )?;
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
        if every > 0 && ((e + 1) % every == 0 || e + 1 == total) {
            println!("  [{phase}] epoch {:>5}/{total}  loss {loss:.4}", e + 1);
        }
    };
    let start = Instant::now();
    let mut trainer = Trainer::new(&model, pre)?;
    trainer.fit(
        &mut model,
        &train,
        &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_PRE]),
        |e, l| log("dense", e, l, args.log_every, pre.epochs),
    );
    let dense_acc = accuracy(&model, &test);
    println!(
        "dense: h = {}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
        d.neurons,
        model.nnz(),
        100.0 * dense_acc,
        start.elapsed().as_secs_f64()
    );
    let mut out = serde_json::json!({
        "config": { "clauses": d.clauses, "k": d.k, "neurons": d.neurons, "seed": d.seed, "pre": pre },
        "dense": { "hidden": d.neurons, "nnz": model.nnz(), "test_acc": dense_acc,
                   "capacity_total": metrics::feature_capacity(&model.layers[0]).iter().sum::<f64>(),
                   "mean_cosine": metrics::mean_cosine(&model.layers[0]) },
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
        let fcfg = FpeConfig {
            alpha,
            strategy,
            layer: 0,
        };
        let (mut wide, report) = expand(
            &model,
            &fcfg,
            train.groups.as_deref(),
            &mut rng::stream(d.seed, &[0, purpose::SPLIT]),
        )?;
        println!(
            "FPE ({strategy}, alpha = {alpha}): h {} -> {}; non-zero weights {} -> {} after split -> {} after pruning \
             ({} from W1, {} from W2); test accuracy at split {:.2}%",
            report.width_before,
            report.width_after,
            report.budget,
            report.nnz_after_split,
            report.nnz_final,
            report.pruned_in,
            report.pruned_out,
            100.0 * accuracy(&wide, &test)
        );
        let start = Instant::now();
        let mut trainer = Trainer::new(&wide, post)?;
        trainer.fit(
            &mut wide,
            &train,
            &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_POST]),
            |e, l| log("fpe", e, l, args.log_every, post.epochs),
        );
        let acc = accuracy(&wide, &test);
        println!(
            "FPE: h = {}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
            report.width_after,
            wide.nnz(),
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
        out["fpe"] = serde_json::json!({ "strategy": strategy, "alpha": alpha, "report": report, "nnz": wide.nnz(), "test_acc": acc, "post": post,
            "capacity_total": metrics::feature_capacity(&wide.layers[0]).iter().sum::<f64>(),
            "mean_cosine": metrics::mean_cosine(&wide.layers[0]) });
        to_save = (
            wide,
            ModelMeta {
                strategy: Some(strategy.to_string()),
                alpha: Some(alpha),
                expanded_layer: Some(0),
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
