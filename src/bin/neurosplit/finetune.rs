//! `neurosplit finetune`: FPE on a user's own trained model and data; a thin front over
//! `neurosplit::pipeline::finetune`.

use std::path::{Path, PathBuf};

use clap::Args;

use neurosplit::data::load_data;
use neurosplit::device::Device;
use neurosplit::expand::Alpha;
use neurosplit::io::{self, Layout, ModelMeta, NameMap, TorchMasks};
use neurosplit::nn::FormatChoice;
use neurosplit::pipeline::finetune::{finetune as run_finetune, Finetune};
use neurosplit::pipeline::settings::Profile;
use neurosplit::pipeline::trial::{Event, Phase};
use neurosplit::pipeline::{guard, Settings};
use neurosplit::sparse::Format;
use neurosplit::Result;

use crate::{progress, write_json, ExpansionArgs, OptimArgs, UserDataArgs};

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
    #[command(flatten)]
    expansion: ExpansionArgs,
    /// Treat the inputs as this many contiguous, equal feature groups (for the clause split).
    #[arg(long, requires = "alpha")]
    clauses: Option<usize>,
    /// Epochs of retraining [default: 10].
    #[arg(long)]
    epochs: Option<usize>,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    user: UserDataArgs,
    /// Fraction of the training rows held out for validation (0 = none).
    #[arg(long, default_value_t = neurosplit::pipeline::defaults::VAL_FRACTION)]
    val_fraction: f64,
    /// Seed of the split, the batch order and the data cuts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Trials, each with its own batch order and split: the report gives mean +- SEM and a paired t-test
    /// against the baseline.
    #[arg(long, default_value_t = neurosplit::pipeline::defaults::TRIALS)]
    trials: usize,
    /// Do not train the baseline (the model as loaded, trained for the same epochs without expansion).
    #[arg(long)]
    no_baseline: bool,
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
    /// Threads (0 = every core); results are bit-identical for any count.
    #[arg(long, default_value_t = neurosplit::pipeline::defaults::THREADS)]
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

impl FinetuneArgs {
    /// The pipeline's settings of these flags.
    fn settings(&self) -> Result<Settings> {
        let mut s = Settings::new(Profile::UserData);
        s.epochs = self.epochs;
        self.optim.apply(&mut s);
        self.expansion.apply(&mut s)?;
        s.device = Some(self.device);
        s.gpu_format = self.gpu_format;
        s.formats = Some(self.format);
        s.threads = Some(self.threads);
        Ok(s)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

pub fn finetune(args: FinetuneArgs) -> Result<()> {
    let json_path = with_suffix(&args.output, ".json");
    let state = args.checkpoint.as_deref().map(|c| with_suffix(c, ".json"));
    let mut outputs: Vec<(&str, &Path)> =
        vec![("--output", &args.output), ("the report", &json_path)];
    if let (Some(c), Some(s)) = (&args.checkpoint, &state) {
        outputs.push(("--checkpoint", c));
        outputs.push(("the checkpoint's state", s));
    }
    let map_file = args.map.as_deref().map(Path::new).filter(|p| p.is_file());
    let inputs: Vec<(&str, &Path)> = [
        ("the model", Some(args.model.as_path())),
        ("--data", Some(args.data.as_path())),
        ("--map", map_file),
        ("--assignment", args.expansion.assignment.as_deref()),
    ]
    .into_iter()
    .filter_map(|(w, p)| p.map(|p| (w, p)))
    .collect();
    guard::distinct_outputs(&outputs, &inputs)?;
    io::check_save_path(&args.output)?;
    let cfg = args.settings()?.build_with(&mut |w| eprintln!("{w}"))?;
    let map = args
        .map
        .as_deref()
        .map(NameMap::from_arg)
        .transpose()?
        .unwrap_or_default();
    let (model, meta) = io::load_with(&args.model, &map)?;
    let mut data = load_data(&args.data, &args.user.options(args.seed, args.val_fraction))?
        .for_task(model.task())?;
    let groups =
        crate::expand::feature_groups(args.clauses, meta.groups.as_deref(), model.input_dim())?;
    data.train.groups.clone_from(&groups);
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
    let bar = progress(cfg.post.epochs as u64, args.quiet);
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
    let strategy = cfg.expansions.first().map(|(_, s)| *s);
    let out_meta = ModelMeta {
        strategy: strategy.map(|s| s.to_string()),
        alpha: args.expansion.alpha.map(Alpha::get),
        expanded_layer: args.expansion.alpha.map(|_| 0),
        seed: Some(args.seed),
        groups,
        version: None,
        extra: meta.extra,
        torch_names: meta.torch_names,
    };
    let job = Finetune {
        model: &model,
        data: &data,
        cfg: &cfg,
        seed: args.seed,
        trials: args.trials,
        baseline: !args.no_baseline,
        checkpoint: args.checkpoint.as_deref(),
    };
    let mut save = |m: &neurosplit::nn::Mlp| io::save_as(&args.output, m, &out_meta, layout);
    let (_, report) = run_finetune(&job, &on, &mut save)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for line in finetune_lines(&report) {
        println!("{line}");
    }
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

/// The report in words.
fn finetune_lines(report: &neurosplit::pipeline::finetune::FinetuneReport) -> Vec<String> {
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    let mut lines = Vec::new();
    if let Some(from) = report.resumed_from {
        lines.push(format!("resumed from the checkpoint at epoch {from}"));
    }
    lines.push(format!(
        "test accuracy before the split: {}",
        pct(report.test_acc_before)
    ));
    if let (Some(x), Some(name)) = (&report.expansion, &report.expansion_name) {
        lines.push(format!(
            "FPE ({name}): widths {:?} -> {:?}; non-zero weights {} -> {}; test accuracy right after: {}",
            report.dims_before,
            x.dims_after,
            x.budget,
            x.nnz_final,
            pct(report.test_acc_at_split)
        ));
    }
    lines.push(format!(
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
    ));
    let t = &report.trials;
    let n = t.test_acc.len();
    if let (Some(b), Some(c)) = (&report.baseline, &report.comparison) {
        let spread = |x: &neurosplit::pipeline::finetune::Trials| {
            if n > 1 {
                format!(
                    "{} +- {} (mean +- SEM, {n} trials)",
                    pct(x.mean),
                    pct(x.sem)
                )
            } else {
                format!("{} (1 trial)", pct(x.mean))
            }
        };
        lines.push(format!(
            "baseline (the model as loaded, trained {} epochs without expansion): test accuracy {}",
            report.epochs,
            spread(b)
        ));
        let (gain_sem, ri_sem) = if n > 1 {
            (
                format!(" +- {:.2}", 100.0 * c.gain_sem),
                format!(" +- {:.4}", c.relative_improvement_sem),
            )
        } else {
            (String::new(), String::new())
        };
        lines.push(format!(
            "{}: test accuracy {}; gain {:+.2}{gain_sem} points, relative improvement {:.4}{ri_sem}{}",
            report.expansion_name.as_deref().unwrap_or("retrained"),
            spread(t),
            100.0 * c.gain,
            c.relative_improvement,
            c.paired_p
                .map_or(String::new(), |p| format!(", paired t-test p = {p:.3}"))
        ));
    } else if n > 1 {
        lines.push(format!(
            "test accuracy over {n} trials: {} +- {} (mean +- SEM)",
            pct(t.mean),
            pct(t.sem)
        ));
    }
    for (k, v) in &report.metrics {
        lines.push(format!("  {k}: {v:.4}"));
    }
    for e in &report.metric_errors {
        lines.push(format!("  not computed: {e}"));
    }
    lines
}
