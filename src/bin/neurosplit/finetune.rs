//! `neurosplit finetune`: FPE on a user's own trained model and data; a thin front over
//! `neurosplit::experiment::finetune`.

use std::path::PathBuf;

use clap::Args;

use neurosplit::data::{load_data, DataOptions};
use neurosplit::device::Device;
use neurosplit::expand::{Alpha, Assignment, Decay, Strategy};
use neurosplit::experiment::finetune::finetune as run_finetune;
use neurosplit::experiment::trial::{Event, Phase, Rewiring, TrialConfig};
use neurosplit::experiment::with_threads;
use neurosplit::io::{self, Layout, ModelMeta, NameMap, TorchMasks};
use neurosplit::metrics::Metric;
use neurosplit::nn::{FormatChoice, Regularizer, TrainConfig};
use neurosplit::sparse::Format;
use neurosplit::{Error, Result};

use crate::{progress, write_json};

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// The trained model: a neurosplit file, or a PyTorch state dict saved by torch.save (.pt/.pth) or with
    /// safetensors (nn.Sequential names 0.weight, 3.bias, ...; fcN names; the torch.nn.utils.prune layout;
    /// F16/BF16/F32/F64); the kind is read from the file's content.
    model: PathBuf,
    /// The data: .npz (x_train, y_train, x_test, y_test; savez_compressed too), a folder of those .npy files,
    /// an IDX folder, a .csv file (cut by --test-fraction) or a folder with train.csv and test.csv.
    #[arg(long)]
    data: PathBuf,
    /// Rename the model's tensors first: a file of from=to lines, or from=to pairs (e.g.
    /// encoder.weight=W1,encoder.bias=b1,head.weight=W2,head.bias=b2).
    #[arg(long, value_name = "FILE|PAIRS")]
    map: Option<String>,
    /// Expand with FPE first, into ALPHA children per neuron (alternating expansion of hidden layers 0, 2, ...
    /// for deep models); without it the model is retrained as it is.
    #[arg(long)]
    alpha: Option<Alpha>,
    /// Split strategy: random (default), clause (needs --clauses or groups in the model file), gram,
    /// two-four (alpha 2) or custom (with --assignment).
    #[arg(long, requires = "alpha")]
    strategy: Option<Strategy>,
    /// Treat the inputs as this many contiguous, equal feature groups (for the clause split).
    #[arg(long, requires = "alpha")]
    clauses: Option<usize>,
    /// JSON file of the custom split.
    #[arg(long, value_name = "FILE", requires = "alpha")]
    assignment: Option<PathBuf>,
    /// Clusters of the gram split.
    #[arg(long, requires = "alpha")]
    clusters: Option<usize>,
    /// Rewire the masks every EPOCHS epochs instead of keeping them fixed.
    #[arg(long, value_name = "EPOCHS", requires = "alpha")]
    rewire_every: Option<usize>,
    /// Fraction of masked weights unmasked per rewiring (default 0.1).
    #[arg(long, value_name = "FRACTION", requires = "rewire_every")]
    rewire_fraction: Option<f64>,
    /// Schedule of the rewired fraction: constant (default) or cosine.
    #[arg(long, requires = "rewire_every")]
    rewire_decay: Option<Decay>,
    /// Epochs of retraining.
    #[arg(long)]
    epochs: usize,
    /// Samples per optimisation step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// L1 penalty on the first layer's weights.
    #[arg(long, default_value_t = 0.0)]
    l1: f32,
    /// L2 penalty on all parameters.
    #[arg(long, default_value_t = 0.0)]
    l2: f32,
    /// Name of the CSV label column.
    #[arg(long, default_value = "label")]
    label: String,
    /// Fraction of a single CSV file's rows held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Fraction of the training rows held out for validation (0 = none).
    #[arg(long, default_value_t = 0.0)]
    val_fraction: f64,
    /// Seed of the split, the batch order and the data cuts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checkpoint written after every epoch; a run started again with the same path resumes from it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Where to train: cpu, cuda or cuda:N.
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
    /// With --device cuda: csr (default) or bitmask.
    #[arg(long)]
    gpu_format: Option<Format>,
    /// Storage of the layers' weights on the CPU: auto, dense, bitmask or csr.
    #[arg(long, default_value_t = FormatChoice::Auto)]
    format: FormatChoice,
    /// Threads for the kernels within a step.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    threads: usize,
    /// Write the model in PyTorch's layout (nn.Sequential state-dict names, masks as separate tensors,
    /// format = pt), the same as --model-format pt.
    #[arg(long)]
    torch: bool,
    /// Layout of the written model: neurosplit (default) or pt.
    #[arg(long, value_name = "LAYOUT")]
    model_format: Option<Layout>,
    /// Masks in the PyTorch layout (implies it): prune (X.weight_orig + X.weight_mask, as torch.nn.utils.prune;
    /// the default for .pt/.pth), plain (masked weights zero, no masks) or separate (X.weight + a U8
    /// X.weight_mask; the default for --torch in safetensors).
    #[arg(long, value_name = "STYLE")]
    torch_masks: Option<TorchMasks>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Where to write the model (.pt/.pth: a PyTorch file under the input's own keys; else safetensors); the
    /// report goes beside it as OUT.json.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

pub fn finetune(args: FinetuneArgs) -> Result<()> {
    io::check_save_path(&args.output)?;
    let map = args
        .map
        .as_deref()
        .map(NameMap::from_arg)
        .transpose()?
        .unwrap_or_default();
    let (model, meta) = io::load_with(&args.model, &map)?;
    let opts = DataOptions {
        label: args.label.clone(),
        test_fraction: args.test_fraction,
        val_fraction: args.val_fraction,
        seed: args.seed,
    };
    let mut data = load_data(&args.data, &opts)?.for_task(model.task())?;
    if data.train.d != model.input_dim() {
        return Err(Error::invalid(
            "data",
            format!(
                "the model takes {} inputs but the data has {} features",
                model.input_dim(),
                data.train.d
            ),
        ));
    }
    let groups =
        crate::expand::feature_groups(args.clauses, meta.groups.as_deref(), model.input_dim())?;
    data.train.groups.clone_from(&groups);
    let strategy = args.strategy.unwrap_or(Strategy::Random);
    let post = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        reg: Regularizer {
            l1_first: args.l1,
            l2: args.l2,
        },
    };
    let cfg = TrialConfig {
        post,
        expansions: args.alpha.map(|a| (a, strategy)).into_iter().collect(),
        assignments: args
            .assignment
            .as_deref()
            .map(Assignment::load)
            .transpose()?
            .unwrap_or_default(),
        clusters: args.clusters,
        rewiring: args.rewire_every.map(|every| Rewiring {
            every,
            fraction: args.rewire_fraction.unwrap_or(0.1),
            decay: args.rewire_decay.unwrap_or(Decay::Constant),
        }),
        metrics: Metric::ALL.to_vec(),
        device: args.device,
        gpu_format: args.gpu_format,
        formats: args.format,
        threads: args.threads,
        ..TrialConfig::default()
    };
    println!(
        "model {}: {:?}, {} non-zero weights; data {}: {} train{} / {} test, {} features",
        args.model.display(),
        model.dims(),
        model.nnz(),
        args.data.display(),
        data.train.n,
        data.val
            .as_ref()
            .map_or(String::new(), |v| format!(" / {} validation", v.n)),
        data.test.n,
        data.train.d
    );
    let bar = progress(args.epochs as u64, args.quiet);
    let on = |e: Event<'_>| {
        if let (
            Some(bar),
            Event::Epoch {
                phase: Phase::Post(_),
                epoch,
                loss,
                ..
            },
        ) = (&bar, &e)
        {
            bar.set_position(*epoch as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
    };
    let (out, report) = with_threads(args.threads, || {
        run_finetune(
            &model,
            &data,
            &cfg,
            args.seed,
            args.checkpoint.as_deref(),
            &on,
        )
    })??;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(from) = report.resumed_from {
        println!("resumed from the checkpoint at epoch {from}");
    }
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    println!(
        "test accuracy before the split: {}",
        pct(report.test_acc_before)
    );
    if let Some(x) = &report.expansion {
        println!(
            "FPE ({strategy}, alpha = {}): widths {:?} -> {:?}; non-zero weights {} -> {}; test accuracy right after: {}",
            cfg.expansions[0].0,
            report.dims_before,
            x.dims_after,
            x.budget,
            x.nnz_final,
            pct(report.test_acc_at_split)
        );
    }
    println!(
        "after {} epochs: test accuracy {}, train accuracy {}{}; non-zero weights {} (before: {})",
        report.epochs,
        pct(report.test_acc_after),
        pct(report.train_acc_after),
        report.val_acc.map_or(String::new(), |(b, a)| format!(
            ", validation {} -> {}",
            pct(b),
            pct(a)
        )),
        report.nnz_after,
        report.nnz_before
    );
    for (k, v) in &report.metrics {
        println!("  {k}: {v:.4}");
    }
    // Masks default to the prune layout in a .pt file, and to separate U8 masks in safetensors (what
    // neurosplit.torch.load_into reads).
    let default_masks = if io::is_pt_path(&args.output) {
        TorchMasks::Prune
    } else {
        TorchMasks::Separate
    };
    let layout = match (args.torch_masks, args.torch, args.model_format) {
        (Some(masks), _, _) => Layout::Torch { masks },
        (None, true, _) | (None, false, Some(Layout::Torch { .. })) => Layout::Torch {
            masks: default_masks,
        },
        (None, false, other) => other.unwrap_or_default(),
    };
    let out_meta = ModelMeta {
        strategy: args.alpha.map(|_| strategy.to_string()),
        alpha: args.alpha.map(Alpha::get),
        expanded_layer: report
            .expansion
            .as_ref()
            .and_then(|x| x.steps.first().map(|s| s.0)),
        seed: Some(args.seed),
        groups,
        version: None,
        extra: meta.extra,
        torch_names: meta.torch_names,
    };
    io::save_as(&args.output, &out, &out_meta, layout)?;
    let json_path = {
        let mut p = args.output.as_os_str().to_owned();
        p.push(".json");
        PathBuf::from(p)
    };
    write_json(&json_path, &serde_json::to_value(&report)?)?;
    println!(
        "model written to {} ({}), report to {}",
        args.output.display(),
        match layout {
            _ if io::is_pt_path(&args.output) => "PyTorch file",
            Layout::Torch { .. } => "PyTorch layout",
            Layout::Neurosplit => "neurosplit layout",
        },
        json_path.display()
    );
    Ok(())
}
