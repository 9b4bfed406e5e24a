//! `neurosplit train`: one trial of the library's pipeline (`neurosplit::pipeline::trial`) on DNF data or a
//! user's data file, dense, then optionally expanded with FPE and trained on (beside the dense model trained as
//! long); it prints what happens and can save the model.

use std::path::PathBuf;

use clap::Args;

use neurosplit::data::load_data;
use neurosplit::device::Device;
use neurosplit::nn::FormatChoice;
use neurosplit::pipeline::settings::Profile;
use neurosplit::pipeline::trial::{self, Event, Log, Protocol, Streams};
use neurosplit::pipeline::{guard, Settings};
use neurosplit::sparse::Format;
use neurosplit::Result;

use crate::{write_json, DataArgs, ExpansionArgs};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Epochs of dense training.
    #[arg(long, default_value_t = 1000)]
    epochs: usize,
    #[command(flatten)]
    expansion: ExpansionArgs,
    /// Hidden widths (neurons per layer) of a deeper model, e.g. 8,8,8 (replaces --neurons). FPE then expands
    /// hidden layers 0, 2, 4, ... (alternating expansion), never the output head.
    #[arg(long, value_delimiter = ',', conflicts_with = "neurons")]
    hidden: Option<Vec<usize>>,
    /// LayerNorm before every hidden activation: `--layernorm` or `--layernorm true` / `false` (default: on
    /// with more than one hidden layer, as `reproduce` does for depth > 2).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    layernorm: Option<bool>,
    /// Epochs of training after the expansion (default: as many as --epochs).
    #[arg(long, requires = "alpha")]
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
    /// Threads (0 = every core); results are bit-identical for any count.
    #[arg(long, default_value_t = neurosplit::pipeline::defaults::THREADS)]
    threads: usize,
    /// Write the run's results to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    protocol: ProtocolArgs,
}

/// Alg. A3's open choices (`neurosplit::pipeline::trial::protocol`); every default is the paper's reading. A
/// spec sets the same switches in its `[protocol]` table (`reproduce --set protocol.KEY=VALUE`).
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Protocol (what Alg. A3 leaves open; defaults: the paper's reading)")]
pub struct ProtocolArgs {
    /// What the warm-up factor r = min(1, e/W) of Alg. A3 scales: off (default: r is not used, as in Alg. A3),
    /// lr (the learning rate), reg (lambda_1, lambda_2 and lambda_orth) or both.
    #[arg(long, value_name = "off|lr|reg|both")]
    warmup: Option<String>,
    /// W, the warm-up length in epochs (default: the phase's epochs, the paper's W = N); needs --warmup.
    #[arg(long, value_name = "EPOCHS", requires = "warmup")]
    warmup_epochs: Option<usize>,
    /// The phases that warm up, each counting e from its own first epoch: both (default), pre or post.
    #[arg(long, value_name = "both|pre|post", requires = "warmup")]
    warmup_phase: Option<String>,
    /// lambda_orth of the penalty lambda_orth * ||W1 W1^T - I||_F^2 on the first layer (Alg. A3 lines 16-17),
    /// in both phases; default 0 (Sec. A.3.1 lists no value).
    #[arg(long, value_name = "LAMBDA")]
    orth: Option<f32>,
    /// A child's bias at the split: copy (default, as the paper) or divide (the parent's bias / alpha).
    #[arg(long, value_name = "copy|divide", requires = "alpha")]
    child_bias: Option<String>,
    /// A child's column of the next layer at the split: copy (default: duplicated) or divide (/ alpha).
    #[arg(long, value_name = "copy|divide", requires = "alpha")]
    out_column: Option<String>,
    /// Adam state of the model after the split: fresh (default) or carry (the dense model's moments, weight by
    /// weight; the step count goes on).
    #[arg(long, value_name = "fresh|carry", requires = "alpha")]
    adam_at_split: Option<String>,
    /// Pruning back to the budget: joint (default, over W1' and W2' together) or per-layer (each layer back to
    /// its own count before the split).
    #[arg(long, value_name = "joint|per-layer", requires = "alpha")]
    prune: Option<String>,
}

impl ProtocolArgs {
    /// The protocol these flags select.
    pub fn protocol(&self) -> Result<Protocol> {
        let mut p = Protocol::default();
        let text = [
            ("warmup", self.warmup.clone()),
            ("warmup_epochs", self.warmup_epochs.map(|w| w.to_string())),
            ("warmup_phase", self.warmup_phase.clone()),
            ("orth", self.orth.map(|o| o.to_string())),
            ("child_bias", self.child_bias.clone()),
            ("out_column", self.out_column.clone()),
            ("adam", self.adam_at_split.clone()),
            ("prune", self.prune.clone()),
        ];
        for (key, value) in text {
            if let Some(v) = value {
                p.set(key, &v)?;
            }
        }
        p.validate()?;
        Ok(p)
    }
}

impl TrainArgs {
    /// The pipeline's settings of these flags (built and checked by the library, as every front's).
    fn settings(&self) -> Result<Settings> {
        let d = &self.data;
        let mut s = Settings::new(if d.data.is_some() {
            Profile::UserData
        } else {
            Profile::Paper
        });
        s.hidden = self.hidden.clone().or(d.neurons.map(|n| vec![n]));
        s.layernorm = self.layernorm;
        s.epochs = Some(self.epochs);
        s.post_epochs = self.post_epochs;
        d.optim.apply(&mut s);
        self.expansion.apply(&mut s)?;
        s.protocol = Some(self.protocol.protocol()?);
        s.device = Some(self.device);
        s.gpu_format = self.gpu_format;
        s.formats = Some(self.format);
        s.threads = Some(self.threads);
        Ok(s)
    }
}

pub fn train(args: TrainArgs) -> Result<()> {
    let d = &args.data;
    let outputs: Vec<(&str, &std::path::Path)> = [("--save", &args.save), ("--json", &args.json)]
        .into_iter()
        .filter_map(|(w, p)| p.as_deref().map(|p| (w, p)))
        .collect();
    let inputs: Vec<(&str, &std::path::Path)> = [
        ("--data", &d.data),
        ("--assignment", &args.expansion.assignment),
    ]
    .into_iter()
    .filter_map(|(w, p)| p.as_deref().map(|p| (w, p)))
    .collect();
    guard::distinct_outputs(&outputs, &inputs)?;
    let cfg = args.settings()?.build_with(&mut |w| eprintln!("{w}"))?;
    args.save
        .as_ref()
        .map_or(Ok(()), neurosplit::io::check_save_path)?;
    let (train, test, key, about) = match &d.data {
        Some(path) => {
            let splits = load_data(path, &d.user.options(d.seed, 0.0))?;
            let key = trial::model_key(None, &cfg.hidden, cfg.pre.epochs);
            let about = serde_json::json!({ "path": path, "seed": d.seed });
            (splits.train, splits.test, key, about)
        }
        None => {
            let (train, test) = trial::dnf_data(d.seed, d.clauses, d.k, d.n_train, d.n_test, 0)?;
            let key = trial::model_key(Some(d.clauses), &cfg.hidden, cfg.pre.epochs);
            let about = serde_json::json!({ "clauses": d.clauses, "k": d.k, "seed": d.seed });
            (train, test, key, about)
        }
    };
    let log = Log::new(&cfg, &train, &test, args.log_every);
    let print = |e: Event<'_>| log.event(&e).iter().for_each(|l| println!("{l}"));
    let streams = Streams::for_model(d.seed, &key, 0);
    let out = trial::run_one(&cfg, &train, &test, streams, &print)?;
    out.posts
        .iter()
        .flat_map(|p| log.post(p))
        .for_each(|l| println!("{l}"));
    if let Some(path) = &args.save {
        let (model, meta) = out.final_model(&cfg, d.seed, train.groups.clone());
        neurosplit::io::save(path, model, &meta)?;
        println!("model written to {}", path.display());
    }
    if let Some(path) = &args.json {
        let mut json = out.summary(&cfg);
        json["data"] = about;
        write_json(path, &json)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
