//! `neurosplit train`: one model, dense, then optionally expanded with FPE and trained on.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::spmm::Par;
use neurosplit::nn::{accuracy, Mlp, Trainer};
use neurosplit::rng::{self, purpose};
use neurosplit::sparse::FormatChoice;
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
    let show = |t: &Trainer| {
        t.formats()
            .iter()
            .enumerate()
            .map(|(l, f)| format!("layer {} {f}", l + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
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
    let mut trainer = Trainer::new(&model, pre)?.with_format(&model, formats, par);
    println!("formats ({formats}): {}", show(&trainer));
    let dense_formats = trainer.formats();
    pool.install(|| {
        trainer.fit(
            &mut model,
            &train,
            &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_PRE]),
            |e, l| log("dense", e, l, args.log_every, pre.epochs),
        )
    });
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
        "dense": { "hidden": d.neurons, "nnz": model.nnz(), "test_acc": dense_acc, "formats": dense_formats },
    });
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
        let mut trainer = Trainer::new(&wide, post)?.with_format(&wide, formats, par);
        println!("formats ({formats}): {}", show(&trainer));
        out["fpe_formats"] = serde_json::json!(trainer.formats());
        pool.install(|| {
            trainer.fit(
                &mut wide,
                &train,
                &mut rng::stream(d.seed, &[0, purpose::SHUFFLE_POST]),
                |e, l| log("fpe", e, l, args.log_every, post.epochs),
            )
        });
        let acc = accuracy(&wide, &test);
        println!(
            "FPE: h = {}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
            report.width_after,
            wide.nnz(),
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
        out["fpe"] = serde_json::json!({ "strategy": strategy, "alpha": alpha, "report": report, "nnz": wide.nnz(), "test_acc": acc, "post": post });
    }
    if let Some(path) = &args.json {
        write_json(path, &out)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
