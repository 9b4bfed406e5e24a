//! `neurosplit train`: one trial of the library's pipeline (`neurosplit::experiment::trial`) on DNF data, dense,
//! then optionally expanded with FPE and trained on; it prints what happens and can save the model.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use neurosplit::device::Device;
use neurosplit::expand::{Alpha, Assignment, Decay, Strategy};
use neurosplit::experiment::trial::{self, Event, Log, Rewiring, Streams, TrialConfig};
use neurosplit::io::ModelMeta;
use neurosplit::kernels::spmm::Par;
use neurosplit::nn::Mlp;
use neurosplit::sparse::{Format, FormatChoice};
use neurosplit::{metrics, Error, Result};

use crate::{write_json, DataArgs};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Epochs of dense training.
    #[arg(long, default_value_t = 1000)]
    epochs: usize,
    /// Expand with FPE after the dense epochs, into ALPHA children per neuron (2 to 1024).
    #[arg(long)]
    alpha: Option<Alpha>,
    /// Split strategy of the expansion (needs --alpha): random (default), clause, gram, two-four (alpha 2) or
    /// custom (with --assignment).
    #[arg(long)]
    strategy: Option<Strategy>,
    /// JSON file of the custom split (one object, or a list with one per expanded layer); see
    /// `neurosplit::expand::Assignment`.
    #[arg(long, value_name = "FILE")]
    assignment: Option<PathBuf>,
    /// Clusters of the gram split (default: round(sqrt(inputs)), at least alpha).
    #[arg(long)]
    clusters: Option<usize>,
    /// Hidden widths (neurons per layer) of a deeper model, e.g. 8,8,8 (replaces --neurons). FPE then expands
    /// hidden layers 0, 2, 4, ... (alternating expansion), never the output head.
    #[arg(long, value_delimiter = ',', conflicts_with = "neurons")]
    hidden: Option<Vec<usize>>,
    /// LayerNorm before every hidden activation: `--layernorm` or `--layernorm true` / `false` (default: on
    /// with more than one hidden layer, as `reproduce` does for depth > 2).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    layernorm: Option<bool>,
    /// After the expansion, rewire the masks every T post-split epochs (unmask a fraction of masked weights at
    /// random, prune as many smallest-magnitude live ones), as a spec's `extras.rewiring.every`.
    #[arg(long, value_name = "EPOCHS")]
    rewire_every: Option<usize>,
    /// Fraction of each layer's masked weights unmasked per rewiring, in (0, 1) (default 0.1; at the start
    /// with --rewire-decay cosine).
    #[arg(long, value_name = "FRACTION")]
    rewire_fraction: Option<f64>,
    /// Schedule of the rewired fraction: constant (default) or cosine.
    #[arg(long)]
    rewire_decay: Option<Decay>,
    /// Epochs of training after the expansion (default: as many as --epochs).
    #[arg(long)]
    post_epochs: Option<usize>,
    /// Print the loss every N epochs (0 = never).
    #[arg(long, default_value_t = 100, value_name = "EPOCHS")]
    log_every: usize,
    /// Save the final model (the FPE model if --alpha is given, else the dense one) as safetensors, with the
    /// data's clauses as feature groups, for `neurosplit expand` and `neurosplit inspect`.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Where to train: cpu, cuda (GPU 0) or cuda:N (an NVIDIA GPU; needs a build with --features cuda).
    #[arg(long, default_value_t = Device::Cpu)]
    device: Device,
    /// With --device cuda: how the masked weights are stored, csr (default) or bitmask.
    #[arg(long)]
    gpu_format: Option<Format>,
    /// Storage of the layers' weights on the CPU: auto (picked per layer from its density and shape), dense,
    /// bitmask or csr.
    #[arg(long, default_value_t = FormatChoice::Auto)]
    format: FormatChoice,
    /// Threads for the kernels within a step (results are bit-identical for any count).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the run's results to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl TrainArgs {
    /// The pipeline's configuration; refuses contradictory flags.
    fn config(&self) -> Result<TrialConfig> {
        let needs_alpha = [
            ("--strategy", self.strategy.is_some()),
            ("--assignment", self.assignment.is_some()),
            ("--clusters", self.clusters.is_some()),
            ("--rewire-every", self.rewire_every.is_some()),
            ("--post-epochs", self.post_epochs.is_some()),
        ];
        if let (None, Some((flag, _))) = (self.alpha, needs_alpha.iter().find(|f| f.1)) {
            return Err(Error::invalid(
                *flag,
                "it sets up an FPE expansion: add --alpha",
            ));
        }
        if self.rewire_every.is_none()
            && (self.rewire_fraction.is_some() || self.rewire_decay.is_some())
        {
            return Err(Error::invalid(
                "rewire",
                "--rewire-fraction/--rewire-decay need --rewire-every",
            ));
        }
        if self.gpu_format.is_some() && self.device == Device::Cpu {
            return Err(Error::invalid(
                "gpu-format",
                "it applies to --device cuda only",
            ));
        }
        if self.threads == 0 {
            return Err(Error::invalid("threads", "must be at least 1"));
        }
        let d = &self.data;
        let strategy = self.strategy.unwrap_or(Strategy::Random);
        Ok(TrialConfig {
            hidden: self.hidden.clone().unwrap_or_else(|| vec![d.neurons]),
            layernorm: self.layernorm,
            pre: d.train_config(self.epochs),
            post: d.train_config(self.post_epochs.unwrap_or(self.epochs)),
            dense_baseline: false,
            expansions: self.alpha.map(|a| (a, strategy)).into_iter().collect(),
            assignments: self
                .assignment
                .as_deref()
                .map_or(Ok(Vec::new()), Assignment::load)?,
            clusters: self.clusters,
            rewiring: self.rewire_every.map(|every| Rewiring {
                every,
                fraction: self.rewire_fraction.unwrap_or(0.1),
                decay: self.rewire_decay.unwrap_or(Decay::Constant),
            }),
            metrics: Vec::new(),
            curve_every: 0,
            device: self.device,
            gpu_format: self.gpu_format.unwrap_or(Format::Csr),
            formats: self.format,
            par: if self.threads == 1 {
                Par::Seq
            } else {
                Par::Rayon(self.threads)
            },
        })
    }
}

pub fn train(args: TrainArgs) -> Result<()> {
    let (d, cfg) = (&args.data, args.config()?);
    if let Some(dir) = args.save.as_deref().and_then(std::path::Path::parent) {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            let msg = format!(
                "directory {} does not exist: create it first",
                dir.display()
            );
            return Err(Error::invalid("save", msg));
        }
    }
    let (train, test) = trial::dnf_data(d.seed, d.clauses, d.k, d.n_train, d.n_test, 0)?;
    let key = trial::model_key(Some(d.clauses), &cfg.hidden, cfg.pre.epochs);
    let streams = Streams {
        seed: trial::cell_seed(d.seed, &key),
        trial: 0,
    };
    let log = Log {
        cfg: &cfg,
        data: (&train, &test),
        log_every: args.log_every,
        start: Instant::now(),
    };
    let print = |e: Event<'_>| log.event(&e).iter().for_each(|l| println!("{l}"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build();
    let pool = pool.map_err(|e| Error::invalid("threads", e.to_string()))?;
    let out = pool.install(|| trial::run(&cfg, &train, &test, streams, &print))?;
    let layer0 = |m: &Mlp| {
        let capacity: f64 = metrics::feature_capacity(&m.layers[0]).iter().sum();
        (capacity, metrics::mean_cosine(&m.layers[0]))
    };
    let (cap, cos) = layer0(&out.dense);
    let mut json = serde_json::json!({
        "config": { "device": cfg.device, "clauses": d.clauses, "k": d.k, "hidden": cfg.hidden,
                    "layernorm": cfg.uses_layernorm(), "seed": d.seed, "pre": cfg.pre },
        "dense": { "hidden": cfg.hidden, "nnz": out.dense.nnz(), "test_acc": out.pre_test_acc,
                   "formats": out.pre_phase.formats, "capacity_total": cap, "mean_cosine": cos },
    });
    let mut meta = ModelMeta {
        seed: Some(d.seed),
        groups: train.groups.clone(),
        ..ModelMeta::default()
    };
    let mut model = &out.dense;
    if let (Some(post), Some(&(alpha, strategy))) = (out.posts.first(), cfg.expansions.first()) {
        log.post(post).iter().for_each(|l| println!("{l}"));
        let (r, (cap, cos)) = (&post.record, layer0(&post.model));
        let moved: usize = post.rewiring.iter().map(|u| u.moved).sum();
        let rewiring = cfg.rewiring.map(
            |c| serde_json::json!({ "config": c, "updates": post.rewiring.len(), "moved": moved }),
        );
        json["fpe"] = serde_json::json!({ "strategy": strategy, "alpha": alpha, "report": post.expansion,
            "nnz": r.nnz, "test_acc": r.test_acc, "test_acc_at_split": r.test_acc_at_split, "post": cfg.post,
            "formats": post.phase.formats, "rewiring": rewiring, "capacity_total": cap, "mean_cosine": cos });
        let expanded_layer = post
            .expansion
            .as_ref()
            .and_then(|e| e.steps.first())
            .map(|s| s.0);
        meta = ModelMeta {
            strategy: Some(strategy.to_string()),
            alpha: Some(alpha.get()),
            expanded_layer,
            ..meta
        };
        model = &post.model;
    }
    if let Some(path) = &args.save {
        neurosplit::io::save(path, model, &meta)?;
        println!("model written to {}", path.display());
    }
    if let Some(path) = &args.json {
        write_json(path, &json)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
