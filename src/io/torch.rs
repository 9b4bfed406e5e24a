//! PyTorch-native tensor names: `nn.Sequential` (`0.weight`, `2.bias`), named layers (`fc1.weight`), the
//! `torch.nn.utils.prune` layout (`weight_orig` + `weight_mask`), and any other names through a [`NameMap`].
//!
//! Reading resolves a file's names to the canonical `W{l}`, `b{l}`, `M{l}`, `G{l}`, `B{l}` of the
//! [module docs](super) before the shapes are checked, so every check (and every error) is the same whatever
//! the names.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};

/// How a model file names its tensors when written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `W1, b1, M1, G1, B1, W2, ...`, metadata `format = neurosplit-mlp`.
    #[default]
    Neurosplit,
    /// A PyTorch state dict: the keys the model was read with ([`TorchNames`], e.g. `fc1.weight`, or a
    /// Sequential's `0.weight`, `3.weight` with its gaps), else those of the matching `torch.nn.Sequential`
    /// (`Linear, [LayerNorm,] ReLU, ..., Linear`: `0.weight`, `0.bias`, `2.weight`, ...); the masks as `masks`
    /// says; in safetensors, metadata `format = pt`.
    Torch {
        /// How the masks are written.
        masks: TorchMasks,
    },
}

impl Layout {
    /// The PyTorch layout with masks written as `torch.nn.utils.prune` writes them.
    pub const TORCH: Layout = Layout::Torch {
        masks: TorchMasks::Prune,
    };
}

impl std::str::FromStr for Layout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "neurosplit" | "safetensors" => Ok(Layout::Neurosplit),
            "pt" | "torch" | "pytorch" => Ok(Layout::TORCH),
            other => Err(Error::invalid(
                "format",
                format!("'{other}' is not a model layout: use neurosplit or pt"),
            )),
        }
    }
}

/// How [`Layout::Torch`] writes a layer's mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TorchMasks {
    /// As `torch.nn.utils.prune` does: `X.weight_orig` (masked entries zero) and `X.weight_mask` (`0.0`/`1.0`
    /// in the weight's dtype); the module loads it after `prune.identity(module, "weight")`, and its forward
    /// uses `weight_orig * weight_mask`, so the non-zero count holds through any optimizer.
    #[default]
    Prune,
    /// Plain weights (`X.weight`, masked entries zero) and no masks: loads into an unchanged module; the zeros
    /// stay zero only if the user keeps them so.
    Plain,
    /// `X.weight` (masked entries zero) with the mask as a separate `U8` tensor `X.weight_mask` (in a `.pt`
    /// file, in the weight's dtype).
    Separate,
}

impl std::str::FromStr for TorchMasks {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "prune" => Ok(TorchMasks::Prune),
            "plain" => Ok(TorchMasks::Plain),
            "separate" | "u8" => Ok(TorchMasks::Separate),
            other => Err(Error::invalid(
                "torch-masks",
                format!("'{other}' is not a mask style: use prune, plain or separate"),
            )),
        }
    }
}

/// The PyTorch module names of a model read from a state dict, so that it is written back under the user's
/// own keys: layer `l` is `{linear[l]}.weight`, `{linear[l]}.bias`, and its LayerNorm, if any,
/// `{norm[l]}.weight`, `{norm[l]}.bias`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TorchNames {
    /// The module of each linear layer, input layer first: `fc1`, `0`, `net.3`, ...
    pub linear: Vec<String>,
    /// The LayerNorm module after each linear layer, where there is one.
    pub norm: Vec<Option<String>>,
    /// Whether each linear layer had a bias (`bias=False` reads as a zero bias; such a bias is written back
    /// only if it is no longer all zero, e.g. after retraining, and then the module needs `bias=True`). Empty:
    /// every layer had one.
    #[serde(default)]
    pub bias: Vec<bool>,
}

impl TorchNames {
    /// Checks that these names fit a model whose layers have LayerNorms where `norms` says.
    pub fn check(&self, norms: &[bool]) -> Result<()> {
        let why = if self.linear.len() != norms.len()
            || self.norm.len() != norms.len()
            || !(self.bias.is_empty() || self.bias.len() == norms.len())
        {
            Some(format!(
                "they name {} linear layers, the model has {}",
                self.linear.len(),
                norms.len()
            ))
        } else {
            self.norm
                .iter()
                .zip(norms)
                .position(|(n, &has)| n.is_some() != has)
                .map(|l| format!("layer {l}'s LayerNorm is in one and not the other"))
        };
        if let Some(why) = why {
            return Err(Error::invalid(
                "torch names",
                format!("the remembered PyTorch names do not fit the model: {why}"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for p in self.linear.iter().chain(self.norm.iter().flatten()) {
            if p.is_empty() || !seen.insert(p.as_str()) {
                return Err(Error::invalid(
                    "torch names",
                    format!("module name '{p}' is empty or given twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Renames applied to a file's tensor names before they are read (`from = to`): `to` is a canonical name
/// (`W1`, `b1`, `M1`, ...) or a PyTorch name (`0.weight`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameMap {
    pairs: Vec<(String, String)>,
}

impl NameMap {
    /// Parses `from=to` pairs separated by commas or new lines; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let Some((from, to)) = item.split_once('=') else {
                return Err(Error::invalid(
                    "map",
                    format!("'{item}' is not a from=to pair (e.g. encoder.weight=W1)"),
                ));
            };
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return Err(Error::invalid("map", format!("'{item}' has an empty name")));
            }
            if pairs.iter().any(|(f, _)| f == from) {
                return Err(Error::invalid("map", format!("'{from}' is mapped twice")));
            }
            if pairs.iter().any(|(_, t)| t == to) {
                return Err(Error::invalid(
                    "map",
                    format!("two names are mapped to '{to}'"),
                ));
            }
            pairs.push((from.into(), to.into()));
        }
        Ok(NameMap { pairs })
    }

    /// A mapping file (see [`NameMap::parse`]) if `arg` names an existing file, else `arg` itself as pairs.
    pub fn from_arg(arg: &str) -> Result<Self> {
        let path = Path::new(arg);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Self::parse(&text)
        } else {
            Self::parse(arg)
        }
    }

    /// No renames.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// One tensor after renaming: borrowed from the file, or built (a pruned weight times its mask).
pub(crate) struct Tensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

/// The file's tensors under canonical names.
pub(crate) struct Resolved<'a> {
    tensors: HashMap<String, Tensor<'a>>,
    /// `canonical <- original` for names that were translated, to explain errors.
    pub(crate) renamed: Vec<(String, String)>,
    /// The PyTorch module names, when the file used them.
    pub(crate) names: Option<TorchNames>,
}

impl Resolved<'_> {
    /// The tensor under canonical `name`.
    pub(crate) fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let t = self.tensors.get(name)?;
        TensorView::new(t.dtype, t.shape.clone(), &t.data).ok()
    }

    /// Canonical names, in no particular order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }
}

/// Decodes a floating-point tensor (`F16`, `BF16`, `F32`, `F64`) to `f32`; `None` for other dtypes.
pub(crate) fn decode_floats(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        _ => return None,
    })
}

/// Is `name` canonical (`W3`, `b1`, `M2`, `G1`, `B1`)?
pub(crate) fn is_canonical(name: &str) -> bool {
    let mut chars = name.chars();
    let kind_ok = chars
        .next()
        .is_some_and(|c| matches!(c, 'W' | 'b' | 'M' | 'G' | 'B'));
    let digits = chars.as_str();
    kind_ok
        && !digits.is_empty()
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

const SUFFIXES: [&str; 6] = [
    "weight",
    "bias",
    "weight_orig",
    "weight_mask",
    "bias_orig",
    "bias_mask",
];

/// A module prefix's sort key: (0, number) for a digit run, (1, text) for the rest.
type NaturalKey = Vec<(u8, u128, String)>;

/// Natural sort key of a module prefix: digit runs compare as numbers (`fc2 < fc10`, `2 < 10`).
fn natural_key(prefix: &str) -> NaturalKey {
    let mut key = Vec::new();
    let mut rest = prefix;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let n = rest[..digits].parse().unwrap_or(u128::MAX);
            key.push((0, n, String::new()));
            rest = &rest[digits..];
        } else {
            let text = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
            key.push((1, 0, rest[..text].to_string()));
            rest = &rest[text..];
        }
    }
    key
}

/// Renames the file's tensors (first through `map`, then from PyTorch names) to canonical names.
pub(crate) fn resolve<'a>(
    file: Vec<(String, TensorView<'a>)>,
    map: &NameMap,
) -> Result<Resolved<'a>, String> {
    let mut named: BTreeMap<String, (String, TensorView<'a>)> = BTreeMap::new();
    let file_names: Vec<String> = file.iter().map(|(n, _)| n.clone()).collect();
    for (from, _) in &map.pairs {
        if !file_names.contains(from) {
            let mut have = file_names.clone();
            have.sort();
            return Err(format!(
                "the name map renames '{from}', but the file has no such tensor (it has: {})",
                have.join(", ")
            ));
        }
    }
    for (name, view) in file {
        let to = map
            .pairs
            .iter()
            .find(|(f, _)| *f == name)
            .map_or(name.clone(), |(_, t)| t.clone());
        if let Some((earlier, _)) = named.get(&to) {
            return Err(format!(
                "tensors '{earlier}' and '{name}' would both be read as '{to}'; fix the name map"
            ));
        }
        named.insert(to, (name, view));
    }
    let canonical = named.keys().filter(|n| is_canonical(n)).count();
    if canonical == named.len() {
        let renamed = named
            .iter()
            .filter(|(to, (from, _))| to != &from)
            .map(|(to, (from, _))| (to.clone(), from.clone()))
            .collect();
        let tensors = named
            .into_iter()
            .map(|(to, (_, v))| (to, borrowed(v)))
            .collect();
        return Ok(Resolved {
            tensors,
            renamed,
            names: None,
        });
    }
    if canonical > 0 {
        let c = named
            .keys()
            .find(|n| is_canonical(n))
            .cloned()
            .unwrap_or_default();
        let t = named
            .keys()
            .find(|n| !is_canonical(n))
            .cloned()
            .unwrap_or_default();
        return Err(format!(
            "the file mixes neurosplit names ('{c}') with other names ('{t}'); use one naming, or rename \
             with --map (e.g. --map {t}=W1)"
        ));
    }
    torch_names(named)
}

fn borrowed(v: TensorView<'_>) -> Tensor<'_> {
    Tensor {
        dtype: v.dtype(),
        shape: v.shape().to_vec(),
        data: Cow::Borrowed(v.data()),
    }
}

/// The tensors of one module (`fc1`, `0`, ...), by suffix.
type Module<'a> = BTreeMap<&'static str, (String, TensorView<'a>)>;

fn torch_names<'a>(
    named: BTreeMap<String, (String, TensorView<'a>)>,
) -> Result<Resolved<'a>, String> {
    let mut modules: BTreeMap<String, Module<'a>> = BTreeMap::new();
    for (name, (orig, view)) in named {
        let Some((prefix, suffix)) = name
            .rsplit_once('.')
            .and_then(|(p, s)| SUFFIXES.iter().find(|&&k| k == s).map(|&k| (p, k)))
        else {
            return Err(format!(
                "unexpected tensor '{name}': neurosplit reads W1, b1, ... or PyTorch state-dict names \
                 (0.weight, fc1.bias, 0.weight_orig + 0.weight_mask); rename it with --map {name}=W1 (or b1, M1, ...)"
            ));
        };
        modules
            .entry(prefix.to_string())
            .or_default()
            .insert(suffix, (orig, view));
    }
    if modules.len() > 1 {
        if let Some(p) = modules
            .keys()
            .find(|p| !p.bytes().any(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "cannot tell the order of the layers from the name '{p}' (no number in it); name the layers \
                 with numbers (0, 2, ... or fc1, fc2, ...) or give the order with --map {p}.weight=W1,{p}.bias=b1,..."
            ));
        }
        // The one rule for the order of layers: by the numbers in their module names, which must all follow
        // one pattern (`0`, `3` of an nn.Sequential; `fc1`, `fc2`; `layers.0`, `layers.1`). Names of two
        // patterns (`enc1`, `enc2`, `dec1`) do not say which comes first.
        let skeleton = |p: &str| -> String {
            let mut out = String::new();
            for c in p.chars() {
                if c.is_ascii_digit() {
                    if !out.ends_with('#') {
                        out.push('#');
                    }
                } else {
                    out.push(c);
                }
            }
            out
        };
        let patterns: std::collections::BTreeSet<String> =
            modules.keys().map(|p| skeleton(p)).collect();
        if patterns.len() > 1 {
            let names: Vec<&str> = modules.keys().map(String::as_str).collect();
            return Err(format!(
                "the module names {} follow {} different patterns ({}), so the order of the layers is ambiguous; \
                 save the model as one nn.Sequential, or give the order with --map (e.g. --map {}.weight=W1,{}.bias=b1,...)",
                names.join(", "),
                patterns.len(),
                patterns.iter().map(|p| p.replace('#', "N")).collect::<Vec<_>>().join(", "),
                names[0],
                names[0]
            ));
        }
    }
    let mut order: Vec<(NaturalKey, String, Module<'a>)> = modules
        .into_iter()
        .map(|(p, m)| (natural_key(&p), p, m))
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));

    let mut tensors = HashMap::new();
    let mut renamed = Vec::new();
    let mut layer = 0usize;
    let mut normed = false;
    let mut names = TorchNames::default();
    for (_, prefix, mut module) in order {
        let weight = match (module.remove("weight"), module.remove("weight_orig")) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "module '{prefix}' has both weight and weight_orig; keep one"
                ))
            }
            (None, None) => {
                return Err(format!("module '{prefix}' has no weight (or weight_orig)"))
            }
            (Some(w), None) => (w, false),
            (None, Some(w)) => (w, true),
        };
        let ((w_name, w_view), pruned) = weight;
        let w_mask = module.remove("weight_mask");
        if pruned && w_mask.is_none() {
            return Err(format!(
                "'{w_name}' needs its '{prefix}.weight_mask' (torch.nn.utils.prune layout)"
            ));
        }
        let bias = match (
            module.remove("bias"),
            module.remove("bias_orig"),
            module.remove("bias_mask"),
        ) {
            (Some(b), None, None) => Some(borrowed_named(b)),
            (None, Some(b), Some(m)) => Some(masked(&b, &m)?),
            (None, None, None) => None,
            _ => {
                return Err(format!(
                "module '{prefix}': a bias must be given as bias, or as bias_orig with bias_mask"
            ))
            }
        };
        match w_view.shape().len() {
            2 => {
                layer += 1;
                normed = false;
                names.linear.push(prefix.clone());
                names.norm.push(None);
                names.bias.push(bias.is_some());
                let mut put = |canon: String, from: String, t: Tensor<'a>| {
                    renamed.push((canon.clone(), from));
                    tensors.insert(canon, t);
                };
                let mask = w_mask.as_ref().map(|m| mask_u8(m)).transpose()?;
                let w = if pruned {
                    let m = w_mask.as_ref().expect("checked above");
                    masked_tensor(&w_name, &w_view, m)?
                } else {
                    borrowed(w_view)
                };
                let out = w.shape[0];
                put(format!("W{layer}"), w_name, w);
                match bias {
                    Some((from, t)) => put(format!("b{layer}"), from, t),
                    None => {
                        put(
                            format!("b{layer}"),
                            format!("(no {prefix}.bias: zeros)"),
                            zeros(out),
                        )
                    }
                }
                if let (Some((from, _)), Some(m)) = (w_mask, mask) {
                    put(format!("M{layer}"), from, m);
                }
            }
            1 => {
                if layer == 0 {
                    return Err(format!(
                        "'{w_name}' is 1-D (a LayerNorm?) but comes before any linear layer"
                    ));
                }
                if normed {
                    return Err(format!(
                        "'{w_name}' is a second 1-D module after linear layer {layer}; neurosplit reads at \
                         most one LayerNorm per hidden layer"
                    ));
                }
                if w_mask.is_some() {
                    return Err(format!("'{prefix}.weight_mask': only linear weights can be masked"));
                }
                let Some((b_from, b)) = bias else {
                    return Err(format!(
                        "LayerNorm '{prefix}' has a weight but no bias (elementwise_affine with bias=True is needed)"
                    ));
                };
                normed = true;
                if let Some(n) = names.norm.last_mut() {
                    *n = Some(prefix.clone());
                }
                renamed.push((format!("G{layer}"), w_name));
                tensors.insert(format!("G{layer}"), borrowed(w_view));
                renamed.push((format!("B{layer}"), b_from));
                tensors.insert(format!("B{layer}"), b);
            }
            _ => {
                return Err(format!(
                    "tensor '{w_name}' has shape {:?}; neurosplit reads linear weights [out, in] and LayerNorm \
                     weights [width] only",
                    w_view.shape()
                ))
            }
        }
        if let Some((extra, _)) = module.into_values().next() {
            return Err(format!("unexpected tensor '{extra}'"));
        }
    }
    Ok(Resolved {
        tensors,
        renamed,
        names: Some(names),
    })
}

fn borrowed_named<'a>((name, v): (String, TensorView<'a>)) -> (String, Tensor<'a>) {
    (name, borrowed(v))
}

fn zeros(n: usize) -> Tensor<'static> {
    Tensor {
        dtype: Dtype::F32,
        shape: vec![n],
        data: Cow::Owned(vec![0; 4 * n]),
    }
}

/// A 0/1 mask of any numeric dtype as `U8`.
fn mask_u8<'a>((name, m): &(String, TensorView<'a>)) -> Result<Tensor<'a>, String> {
    let bytes: Vec<u8> = match m.dtype() {
        Dtype::U8 | Dtype::BOOL => m.data().to_vec(),
        dt => decode_floats(dt, m.data())
            .ok_or_else(|| {
                format!("mask '{name}' has dtype {dt}; masks are BOOL, U8 or floating point 0/1")
            })?
            .into_iter()
            .map(|v| {
                if v == 0.0 {
                    0
                } else if v == 1.0 {
                    1
                } else {
                    2
                }
            })
            .collect(),
    };
    if let Some(i) = bytes.iter().position(|&b| b > 1) {
        return Err(format!(
            "mask '{name}' holds a value other than 0 or 1 at flat index {i}"
        ));
    }
    Ok(Tensor {
        dtype: Dtype::U8,
        shape: m.shape().to_vec(),
        data: Cow::Owned(bytes),
    })
}

/// `orig ⊙ mask` as `F32` (the effective weight of a pruned PyTorch module).
fn masked_tensor(
    name: &str,
    orig: &TensorView<'_>,
    (mask_name, mask): &(String, TensorView<'_>),
) -> Result<Tensor<'static>, String> {
    if orig.shape() != mask.shape() {
        return Err(format!(
            "'{name}' has shape {:?} but '{mask_name}' has shape {:?}",
            orig.shape(),
            mask.shape()
        ));
    }
    let values = decode_floats(orig.dtype(), orig.data()).ok_or_else(|| {
        format!(
            "tensor '{name}' has dtype {}; neurosplit reads F16, BF16, F32 or F64",
            orig.dtype()
        )
    })?;
    let m = mask_u8(&(mask_name.to_string(), mask.clone()))?;
    let data = values
        .iter()
        .zip(m.data.iter())
        .flat_map(|(&v, &keep)| (if keep == 1 { v } else { 0.0 }).to_le_bytes())
        .collect();
    Ok(Tensor {
        dtype: Dtype::F32,
        shape: orig.shape().to_vec(),
        data: Cow::Owned(data),
    })
}

fn masked<'a>(
    (name, orig): &(String, TensorView<'a>),
    mask: &(String, TensorView<'a>),
) -> Result<(String, Tensor<'a>), String> {
    Ok((name.clone(), masked_tensor(name, orig, mask)?))
}

/// Tensor names of layer `l` (0-based) of a model with `norms[l]` telling which hidden layers have a LayerNorm,
/// in `layout`, with the module names `names` if given (checked by [`TorchNames::check`]) for the PyTorch
/// layout: `(weight, bias, mask, norm gain, norm bias)`; the PyTorch weight is `{module}.weight`.
pub(crate) fn layer_names(
    layout: Layout,
    names: Option<&TorchNames>,
    norms: &[bool],
    l: usize,
) -> [String; 5] {
    match layout {
        Layout::Neurosplit => {
            let n = l + 1;
            [
                format!("W{n}"),
                format!("b{n}"),
                format!("M{n}"),
                format!("G{n}"),
                format!("B{n}"),
            ]
        }
        Layout::Torch { .. } => {
            let (linear, norm) = match names {
                Some(t) => (t.linear[l].clone(), t.norm[l].clone().unwrap_or_default()),
                None => {
                    // Sequential(Linear, [LayerNorm], ReLU, Linear, ...): each hidden layer takes 2 or 3 modules.
                    let idx: usize = norms[..l].iter().map(|&n| if n { 3 } else { 2 }).sum();
                    (idx.to_string(), (idx + 1).to_string())
                }
            };
            [
                format!("{linear}.weight"),
                format!("{linear}.bias"),
                format!("{linear}.weight_mask"),
                format!("{norm}.weight"),
                format!("{norm}.bias"),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers() {
        let mut p = vec!["fc10", "fc2", "fc1"];
        p.sort_by_key(|s| natural_key(s));
        assert_eq!(p, ["fc1", "fc2", "fc10"]);
        let mut q = vec!["net.10", "net.2", "net.0"];
        q.sort_by_key(|s| natural_key(s));
        assert_eq!(q, ["net.0", "net.2", "net.10"]);
    }

    #[test]
    fn name_maps_parse_and_refuse_bad_pairs() {
        let m = NameMap::parse("a=W1, b = b1\n# comment\nc=W2").unwrap();
        assert_eq!(m.pairs.len(), 3);
        assert_eq!(m.pairs[1], ("b".to_string(), "b1".to_string()));
        assert!(NameMap::parse("a")
            .unwrap_err()
            .to_string()
            .contains("from=to"));
        assert!(NameMap::parse("a=W1,a=W2")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(NameMap::parse("a=W1,b=W1")
            .unwrap_err()
            .to_string()
            .contains("two names"));
        assert!(NameMap::parse("").unwrap().is_empty());
    }

    #[test]
    fn half_precision_decodes() {
        let one = half::f16::from_f32(1.5).to_le_bytes();
        let two = half::bf16::from_f32(-2.0).to_le_bytes();
        assert_eq!(decode_floats(Dtype::F16, &one), Some(vec![1.5]));
        assert_eq!(decode_floats(Dtype::BF16, &two), Some(vec![-2.0]));
        assert_eq!(decode_floats(Dtype::I32, &[0; 4]), None);
    }

    #[test]
    fn sequential_indices_skip_activations_and_norms() {
        let norms = [true, false, false];
        let t = Layout::TORCH;
        assert_eq!(layer_names(t, None, &norms, 0)[0], "0.weight");
        assert_eq!(layer_names(t, None, &norms, 0)[3], "1.weight");
        assert_eq!(layer_names(t, None, &norms, 1)[0], "3.weight");
        assert_eq!(layer_names(t, None, &norms, 2)[2], "5.weight_mask");
        let names = TorchNames {
            linear: vec!["fc1".into(), "head".into()],
            norm: vec![Some("ln1".into()), None],
            bias: Vec::new(),
        };
        assert!(names.check(&[true, false]).is_ok());
        assert!(names.check(&[false, false]).is_err());
        assert_eq!(
            layer_names(t, Some(&names), &[true, false], 0)[3],
            "ln1.weight"
        );
        assert_eq!(
            layer_names(t, Some(&names), &[true, false], 1)[1],
            "head.bias"
        );
    }
}
