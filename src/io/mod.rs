//! Model files: an [`Mlp`](crate::nn::Mlp) with its masks and provenance, as [safetensors].
//!
//! # Layout
//!
//! Layer `l` (1-based, input layer first) is stored as
//!
//! | tensor | dtype | shape | meaning |
//! |---|---|---|---|
//! | `W{l}` | `F32` | `[out, in]` | weights, row-major as `torch.nn.Linear.weight`; masked entries are `0.0` |
//! | `b{l}` | `F32` | `[out]` | biases |
//! | `M{l}` | `U8` | `[out, in]` | support mask, `1` = live, `0` = masked; only for layers that have a mask |
//!
//! so `W1, b1, W2, b2` is the paper's `z = W_2 ReLU(W_1 x + b_1) + b_2`. The safetensors metadata map (string
//! to string) carries:
//!
//! | key | example | meaning |
//! |---|---|---|
//! | `format` | `neurosplit-mlp` | marks a file written by neurosplit |
//! | `neurosplit_version` | `0.1.0` | the writer's version |
//! | `architecture` | `[32,16,1]` | widths `[d, h_1, ..., outputs]` (JSON) |
//! | `task` | `binary` or `multiclass:10` | what the logits mean |
//! | `budget` | `264` | live weights (the non-zero budget), checked against the masks on load |
//! | `strategy`, `alpha`, `expanded_layer` | `random`, `2`, `0` | the last FPE expansion, if any |
//! | `seed` | `0` | the seed the model came from, if known |
//! | `groups` | `[[0,1,2,3],[4,5,6,7]]` | feature groups over the inputs (for DNF data: the clauses), if known |
//!
//! Every other key is kept as it is in [`ModelMeta::extra`].
//!
//! # Importing a model trained elsewhere
//!
//! Any file with `W1, b1, ..., WL, bL` (`F16`, `BF16`, `F32` or `F64`) loads as a dense MLP with ReLU between
//! layers; the task is read from `task`, or else taken from the last width (1 output = binary, more =
//! multiclass). Every shape is checked, and an error names the tensor and the shape it should have.
//!
//! PyTorch state dicts load as they are, saved by `torch.save(net.state_dict(), path)` (the zip format of
//! torch >= 1.6, read by a restricted unpickler that never runs code: only dicts, tensor rebuilds and float
//! storages) or by `safetensors.torch.save_file(net.state_dict(), path)`; the file's content, not its name, tells
//! which. A whole pickled module, a TorchScript archive, the legacy format or an integer tensor is refused with a
//! sentence saying what to save instead. Names are read as:
//!
//! | names in the file | read as |
//! |---|---|
//! | `0.weight`, `0.bias`, `2.weight`, ... (`nn.Sequential`) | `W1`, `b1`, `W2`, ...: linear modules in index order |
//! | `fc1.weight`, `fc2.weight`, ... (any prefix with a number) | the same, in the numbers' order (`fc2` < `fc10`) |
//! | `0.weight_orig` + `0.weight_mask` (`torch.nn.utils.prune`) | `W1 = weight_orig ⊙ weight_mask`, `M1 = weight_mask` |
//! | `0.weight_mask` beside `0.weight` ([`TorchMasks::Separate`]) | `M1` |
//! | a 1-D `weight` + `bias` after a linear module (`nn.LayerNorm`) | `G1`, `B1` (the LayerNorm of that layer) |
//! | a linear module without bias (`bias=False`) | a zero bias |
//!
//! Anything else is renamed with a [`NameMap`] (`--map encoder.weight=W1,...` on the command line, or a file
//! of `from=to` lines). A model read from PyTorch names remembers them ([`ModelMeta::torch_names`], kept in
//! safetensors metadata too), and [`save_as`] with [`Layout::Torch`] writes it back under the same keys (`fc1.weight`,
//! `3.bias`, ...; without remembered names, those of the matching `nn.Sequential(Linear, [LayerNorm,] ReLU, ...,
//! Linear)`), so the user's own module with the widened sizes loads it; the masks as [`TorchMasks`] says (by
//! default as `torch.nn.utils.prune` keeps them). A path ending in `.pt` or `.pth` is written as the zip archive
//! `torch.save` writes ([`to_pt_bytes`]), any other as safetensors with metadata `format = pt`.
//!
//! # Example
//!
//! ```
//! use neurosplit::data::Task;
//! use neurosplit::io::{from_bytes, to_bytes, ModelMeta};
//! use neurosplit::nn::Mlp;
//! use neurosplit::rng::stream;
//!
//! # fn main() -> neurosplit::Result<()> {
//! let model = Mlp::new(&[32, 8, 1], Task::Binary, &mut stream(0, &[]))?;
//! let meta = ModelMeta { seed: Some(0), ..ModelMeta::default() };
//! let bytes = to_bytes(&model, &meta)?; // what `io::save` writes to a file
//! let (back, back_meta) = from_bytes(&bytes).expect("a valid model file");
//! assert_eq!(back, model);
//! assert_eq!(back_meta.seed, Some(0));
//! assert!(from_bytes(&bytes[..bytes.len() - 1]).is_err()); // truncated: a clear error
//! # Ok(())
//! # }
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

pub mod atomic;
mod model_file;
mod pickle;
mod pt;
mod torch;

pub use model_file::{
    check_save_path, from_bytes, from_bytes_with, is_pt_path, load, load_with, save, save_as,
    to_bytes, to_bytes_as, to_pt_bytes, ModelMeta, FORMAT, FORMAT_PT,
};
pub use torch::{Layout, NameMap, TorchMasks, TorchNames};
