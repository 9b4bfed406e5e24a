//! `neurosplit expand`: FPE on a saved model, at the same non-zero budget.

use std::path::PathBuf;

use clap::Args;

use neurosplit::expand::{expand as fpe, Alpha, FpeConfig, Strategy};
use neurosplit::io::{self, Layout, ModelMeta, TorchMasks};
use neurosplit::rng::{self, purpose};
use neurosplit::{Error, Result};

#[derive(Args, Debug)]
pub struct ExpandArgs {
    /// The model to expand (.safetensors, e.g. from `neurosplit train --save`, or a PyTorch state dict).
    model: PathBuf,
    /// Children per neuron (2 to 1024).
    #[arg(long)]
    alpha: Alpha,
    /// How a neuron's inputs are dealt to its children (random, clause, ...).
    #[arg(long, default_value = "random")]
    strategy: String,
    /// Hidden layer to widen (0 = first).
    #[arg(long, default_value_t = 0)]
    layer: usize,
    /// Treat the inputs as this many contiguous, equal clauses (feature groups) instead of the groups recorded
    /// in the model file.
    #[arg(long)]
    clauses: Option<usize>,
    /// Seed of the split's random choices.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Masks in the PyTorch layout (implies it): prune (default for .pt/.pth), plain or separate.
    #[arg(long, value_name = "STYLE")]
    torch_masks: Option<TorchMasks>,
    /// Where to write the expanded model (.pt/.pth: a PyTorch file under the input's own keys).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// Feature groups over `d` inputs: `clauses` contiguous equal groups if given, else the file's groups.
pub fn feature_groups(
    clauses: Option<usize>,
    recorded: Option<&[Vec<usize>]>,
    d: usize,
) -> Result<Option<Vec<Vec<usize>>>> {
    match clauses {
        Some(c) if c == 0 || !d.is_multiple_of(c) => Err(Error::invalid(
            "clauses",
            format!("{c} clauses cannot cut the model's {d} inputs into equal contiguous groups: use a divisor of {d}"),
        )),
        Some(c) => {
            let k = d / c;
            Ok(Some((0..c).map(|g| (g * k..(g + 1) * k).collect()).collect()))
        }
        None => Ok(recorded.map(<[_]>::to_vec)),
    }
}

pub fn expand(args: ExpandArgs) -> Result<()> {
    let strategy: Strategy = args.strategy.parse()?;
    let (model, meta) = io::load(&args.model)?;
    let groups = feature_groups(args.clauses, meta.groups.as_deref(), model.input_dim())?;
    if strategy == Strategy::Clause {
        if groups.is_none() {
            return Err(Error::invalid(
                "strategy",
                format!(
                    "the clause split needs feature groups, and {} records none: pass --clauses C, or use --strategy random",
                    args.model.display()
                ),
            ));
        }
        if args.layer != 0 {
            return Err(Error::invalid(
                "layer",
                "feature groups describe the model's inputs, so the clause split applies only to --layer 0",
            ));
        }
    }
    let cfg = FpeConfig {
        alpha: args.alpha.get(),
        strategy,
        layer: args.layer,
    };
    println!(
        "before: {:?}, {} non-zero weights",
        model.dims(),
        model.nnz()
    );
    let (wide, report) = fpe(
        &model,
        &cfg,
        groups.as_deref(),
        &mut rng::stream(args.seed, &[purpose::SPLIT]),
    )?;
    println!(
        "FPE ({strategy}, alpha = {}, layer {}): width {} -> {}; the two layers' budget {} -> {} after the split \
         -> {} after pruning ({} pruned from the widened layer, {} from the next)",
        args.alpha,
        args.layer,
        report.width_before,
        report.width_after,
        report.budget,
        report.nnz_after_split,
        report.nnz_final,
        report.pruned_in,
        report.pruned_out
    );
    println!("after:  {:?}, {} non-zero weights", wide.dims(), wide.nnz());
    let out_meta = ModelMeta {
        strategy: Some(strategy.to_string()),
        alpha: Some(args.alpha.get()),
        expanded_layer: Some(args.layer),
        seed: Some(args.seed),
        groups,
        version: None,
        extra: meta.extra,
        torch_names: meta.torch_names,
    };
    let layout = args
        .torch_masks
        .map_or(Layout::Neurosplit, |masks| Layout::Torch { masks });
    io::save_as(&args.output, &wide, &out_meta, layout)?;
    println!("written to {}", args.output.display());
    Ok(())
}
