//! Reading and writing models as safetensors; see the [module docs](super) for the layout.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::Task;
use crate::error::{Error, Result};
use crate::nn::{LayerNorm, Linear, Mlp};
use crate::sparse::Mask;

use super::pt;
use super::torch::{self, Layout, NameMap, TorchMasks, TorchNames};

/// Value of the `format` metadata key in files neurosplit writes.
pub const FORMAT: &str = "neurosplit-mlp";

/// Value of the `format` metadata key in files written in the PyTorch layout ([`Layout::Torch`]), the value
/// Hugging Face loaders expect.
pub const FORMAT_PT: &str = "pt";

/// Keys neurosplit writes and reads itself; everything else goes to [`ModelMeta::extra`].
const KNOWN: [&str; 11] = [
    "format",
    "neurosplit_version",
    "architecture",
    "task",
    "budget",
    "strategy",
    "alpha",
    "expanded_layer",
    "seed",
    "groups",
    "torch_names",
];

/// Provenance stored beside the tensors (architecture, task and budget are derived from the model itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    /// Split strategy of the last FPE expansion (`random`, `clause`, ...).
    pub strategy: Option<String>,
    /// Expansion factor of the last FPE expansion.
    pub alpha: Option<usize>,
    /// Which hidden layer the last expansion widened (0 = first).
    pub expanded_layer: Option<usize>,
    /// Seed the model was trained or expanded with.
    pub seed: Option<u64>,
    /// Feature groups over the model's inputs (the clauses of DNF data).
    pub groups: Option<Vec<Vec<usize>>>,
    /// Version of neurosplit that wrote the file (filled in on load; ignored on save).
    pub version: Option<String>,
    /// Other metadata keys, kept as they are.
    pub extra: BTreeMap<String, String>,
    /// The PyTorch module names the model was read with (from a state dict, `.pt` or safetensors), so that
    /// [`Layout::Torch`] writes it back under the same keys; kept in safetensors metadata as `torch_names`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_names: Option<TorchNames>,
}

/// Serialises `model` and `meta` to safetensors bytes.
///
/// The bytes depend only on the model and the metadata: metadata keys are written sorted, tensors in a fixed
/// order (all `F32` tensors `W1, b1, W2, b2, ...`, then the `U8` masks), so saving the same model twice gives
/// identical files.
pub fn to_bytes(model: &Mlp, meta: &ModelMeta) -> Result<Vec<u8>> {
    to_bytes_as(model, meta, Layout::Neurosplit)
}

/// Serialises `model` and `meta` with the tensor names of `layout` (same order, same metadata otherwise).
pub fn to_bytes_as(model: &Mlp, meta: &ModelMeta, layout: Layout) -> Result<Vec<u8>> {
    let mut info: BTreeMap<String, String> = meta
        .extra
        .iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let format = match layout {
        Layout::Neurosplit => FORMAT,
        Layout::Torch { .. } => FORMAT_PT,
    };
    info.insert("format".into(), format.into());
    info.insert(
        "neurosplit_version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    info.insert("architecture".into(), serde_json::to_string(&model.dims())?);
    info.insert("task".into(), task_name(model.task()));
    // Plain PyTorch weights carry no masks, so a reader cannot check a budget against them.
    if layout
        != (Layout::Torch {
            masks: TorchMasks::Plain,
        })
    {
        info.insert("budget".into(), model.nnz().to_string());
    }
    if let Some(s) = &meta.strategy {
        info.insert("strategy".into(), s.clone());
    }
    if let Some(a) = meta.alpha {
        info.insert("alpha".into(), a.to_string());
    }
    if let Some(l) = meta.expanded_layer {
        info.insert("expanded_layer".into(), l.to_string());
    }
    if let Some(s) = meta.seed {
        info.insert("seed".into(), s.to_string());
    }
    if let Some(g) = &meta.groups {
        info.insert("groups".into(), serde_json::to_string(g)?);
    }
    if let Some(n) = &meta.torch_names {
        info.insert("torch_names".into(), serde_json::to_string(n)?);
    }
    let tensors = named_tensors(model, meta, layout)?;
    let mut header = format!("{{\"__metadata__\":{}", serde_json::to_string(&info)?);
    let mut offset = 0;
    for (name, dtype, shape, data) in &tensors {
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{dtype}\",\"shape\":{},\"data_offsets\":[{offset},{}]}}",
            serde_json::to_string(name)?,
            serde_json::to_string(shape)?,
            offset + data.len()
        ));
        offset += data.len();
    }
    header.push('}');
    // The data starts 8-byte aligned (the format pads the header with spaces).
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header.as_bytes());
    for (_, _, _, data) in &tensors {
        out.extend(data);
    }
    Ok(out)
}

/// Serialises `model` as the PyTorch file `torch.save(state_dict, path)` writes (a zip archive; every tensor
/// `float32`), under the keys of [`Layout::Torch`] with `masks`. `torch.load(path, weights_only=True)` reads it.
/// Only the tensors are written: the task is read back from the last width, the other metadata is not kept.
pub fn to_pt_bytes(model: &Mlp, meta: &ModelMeta, masks: TorchMasks) -> Result<Vec<u8>> {
    let tensors = named_tensors(model, meta, Layout::Torch { masks })?
        .into_iter()
        .map(|(name, dtype, shape, data)| {
            // A .pt file holds masks in the weight's dtype (as torch.nn.utils.prune does).
            let data = if dtype == "U8" {
                data.iter()
                    .flat_map(|&b| f32::from(b).to_le_bytes())
                    .collect()
            } else {
                data
            };
            (name, shape, data)
        })
        .collect::<Vec<_>>();
    pt::write(&tensors).map_err(|why| Error::invalid("save", why))
}

/// `(name, dtype, shape, little-endian bytes)` of every tensor `layout` writes: the `F32` tensors first (so
/// that each stays 4-byte aligned in safetensors), then any `U8` masks.
type Named = (String, &'static str, Vec<usize>, Vec<u8>);

fn named_tensors(model: &Mlp, meta: &ModelMeta, layout: Layout) -> Result<Vec<Named>> {
    let normed: Vec<bool> = model.norms().iter().map(Option::is_some).collect();
    let names = match layout {
        Layout::Torch { .. } => meta.torch_names.as_ref(),
        Layout::Neurosplit => None,
    };
    if let Some(n) = names {
        n.check(&normed)?;
    }
    let masks = match layout {
        Layout::Torch { masks } => masks,
        Layout::Neurosplit => TorchMasks::Separate,
    };
    let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let mut tensors: Vec<Named> = Vec::new();
    let mut u8_masks: Vec<Named> = Vec::new();
    for (i, l) in model.layers().iter().enumerate() {
        let [w_name, b_name, m_name, g_name, nb_name] =
            torch::layer_names(layout, names, &normed, i);
        let shape = vec![l.out_dim(), l.in_dim()];
        let w = f32s(l.weight());
        match (l.mask(), masks) {
            (Some(m), TorchMasks::Prune) => {
                let orig = w_name.clone() + "_orig";
                tensors.push((orig, "F32", shape.clone(), w));
                let ones: Vec<f32> = m.to_bools().into_iter().map(f32::from).collect();
                tensors.push((m_name, "F32", shape, f32s(&ones)));
            }
            (Some(m), TorchMasks::Separate) => {
                tensors.push((w_name, "F32", shape.clone(), w));
                let bytes = m.to_bools().into_iter().map(u8::from).collect();
                u8_masks.push((m_name, "U8", shape, bytes));
            }
            _ => tensors.push((w_name, "F32", shape, w)),
        }
        let had_no_bias = names.is_some_and(|n| n.bias.get(i) == Some(&false));
        if !(had_no_bias && l.bias().iter().all(|&b| b == 0.0)) {
            tensors.push((b_name, "F32", vec![l.out_dim()], f32s(l.bias())));
        }
        if let Some(norm) = &model.norms()[i] {
            tensors.push((g_name, "F32", vec![norm.width], f32s(&norm.gain)));
            tensors.push((nb_name, "F32", vec![norm.width], f32s(&norm.bias)));
        }
    }
    tensors.extend(u8_masks);
    let mut seen = std::collections::HashSet::new();
    if let Some((dup, ..)) = tensors.iter().find(|t| !seen.insert(t.0.as_str())) {
        return Err(Error::invalid(
            "torch names",
            format!("two tensors would both be named '{dup}'"),
        ));
    }
    Ok(tensors)
}

/// Is `path` a PyTorch file by its extension (`.pt`, `.pth`)?
pub fn is_pt_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pt") || e.eq_ignore_ascii_case("pth"))
}

/// Writes `model` and `meta` to `path` atomically: a failure (a full disk, a killed process) leaves the old
/// file as it was, and `path` may be the file the model was loaded from.
pub fn save(path: impl AsRef<Path>, model: &Mlp, meta: &ModelMeta) -> Result<()> {
    save_as(path, model, meta, Layout::Neurosplit)
}

/// Writes `model` and `meta` to `path` (atomically) with the tensor names of `layout`: a PyTorch file
/// ([`to_pt_bytes`]) if `path` ends in `.pt` or `.pth` (with [`Layout::TORCH`] for [`Layout::Neurosplit`]),
/// else safetensors.
pub fn save_as(
    path: impl AsRef<Path>,
    model: &Mlp,
    meta: &ModelMeta,
    layout: Layout,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = match layout {
        _ if !is_pt_path(path) => to_bytes_as(model, meta, layout)?,
        Layout::Torch { masks } => to_pt_bytes(model, meta, masks)?,
        Layout::Neurosplit => to_pt_bytes(model, meta, TorchMasks::default())?,
    };
    super::atomic::write(path, bytes)
}

/// Checks, before any work, that [`save`] can create `path`: its folder must exist.
pub fn check_save_path(path: impl AsRef<Path>) -> Result<()> {
    match path.as_ref().parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(Error::invalid(
            "save",
            format!(
                "directory {} does not exist: create it first",
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Reads a model file.
pub fn load(path: impl AsRef<Path>) -> Result<(Mlp, ModelMeta)> {
    load_with(path, &NameMap::default())
}

/// Reads a model file whose tensor names are first renamed through `map` (see [`NameMap`]).
pub fn load_with(path: impl AsRef<Path>, map: &NameMap) -> Result<(Mlp, ModelMeta)> {
    let path = path.as_ref();
    let bytes = crate::limits::read_file(path)?;
    from_bytes_with(&bytes, map).map_err(|why| Error::ModelFile {
        path: path.display().to_string(),
        why,
    })
}

/// Parses the bytes of a model file (safetensors, or a PyTorch state dict saved by `torch.save`, told apart by
/// their content) into a model; the error is a sentence saying what is wrong.
pub fn from_bytes(bytes: &[u8]) -> Result<(Mlp, ModelMeta), String> {
    from_bytes_with(bytes, &NameMap::default())
}

/// [`from_bytes`] with the tensor names first renamed through `map`; PyTorch names (`0.weight`, `fc1.bias`,
/// `0.weight_orig` + `0.weight_mask`) are recognised without a map.
pub fn from_bytes_with(bytes: &[u8], map: &NameMap) -> Result<(Mlp, ModelMeta), String> {
    if pt::sniff(bytes)? == pt::Kind::Zip {
        let raw = pt::read(bytes)?;
        let views = raw
            .iter()
            .map(|t| {
                TensorView::new(t.dtype, t.shape.clone(), &t.data)
                    .map(|v| (t.name.clone(), v))
                    .map_err(|e| format!("tensor '{}' is unreadable: {e}", t.name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        return from_views(views, map, &HashMap::new());
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        format!(
            "not a readable safetensors file ({e}), nor a PyTorch file; it may be truncated or corrupt"
        )
    })?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a readable safetensors file ({e})"))?;
    let info = header.metadata().clone().unwrap_or_default();
    let views = st
        .names()
        .into_iter()
        .map(|name| {
            st.tensor(name)
                .map(|v| (name.to_string(), v))
                .map_err(|e| format!("tensor '{name}' is unreadable: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    from_views(views, map, &info)
}

fn from_views(
    views: Vec<(String, TensorView<'_>)>,
    map: &NameMap,
    info: &HashMap<String, String>,
) -> Result<(Mlp, ModelMeta), String> {
    let st = torch::resolve(views, map)?;
    let explain = |why: String| {
        let renamed: Vec<String> = st
            .renamed
            .iter()
            .filter(|(to, _)| why.contains(to.as_str()))
            .map(|(to, from)| format!("{to} = '{from}'"))
            .collect();
        if renamed.is_empty() {
            why
        } else {
            format!("{why} (read as {})", renamed.join(", "))
        }
    };
    from_resolved(&st, info).map_err(explain)
}

fn from_resolved(
    st: &torch::Resolved<'_>,
    info: &HashMap<String, String>,
) -> Result<(Mlp, ModelMeta), String> {
    let mut n_layers = 0;
    for name in st.names() {
        match parse_name(name) {
            Some((_, n)) => n_layers = n_layers.max(n),
            None => {
                return Err(format!(
                "unexpected tensor '{name}': a model file holds only W1, b1, M1, G1, B1, W2, ... \
                     (weights, biases, masks, LayerNorm gains and biases of layers 1, 2, ...)"
            ))
            }
        }
    }
    if n_layers == 0 {
        return Err("no layer tensors: expected W1, b1, W2, b2, ...".into());
    }
    // Every layer 1..=n needs tensors, so a layer index above the number of distinct indices names a layer
    // with a gap below it: refuse it before sizing anything by it (a name such as `W1000000000`).
    let indices: std::collections::BTreeSet<usize> =
        st.names().filter_map(parse_name).map(|(_, n)| n).collect();
    if n_layers > indices.len() {
        let missing = (1..=n_layers).find(|k| !indices.contains(k)).unwrap_or(1);
        return Err(format!(
            "tensor W{missing} is missing (tensor names go up to layer {n_layers}, but layer {missing} has no \
             tensors)"
        ));
    }
    let mut layers = Vec::with_capacity(n_layers);
    for n in 1..=n_layers {
        let w = st.tensor(&format!("W{n}")).ok_or_else(|| {
            format!("tensor W{n} is missing (the file has layers up to {n_layers})")
        })?;
        let &[out, inp] = w.shape() else {
            return Err(format!(
                "tensor W{n} has shape {:?}; expected 2 dimensions [out, in]",
                w.shape()
            ));
        };
        if out == 0 || inp == 0 {
            return Err(format!("tensor W{n} has an empty shape {:?}", w.shape()));
        }
        if let Some(prev) = layers.last().map(|l: &Linear| l.out_dim()) {
            if inp != prev {
                return Err(format!(
                    "tensor W{n} has shape [{out}, {inp}]; expected [{out}, {prev}] since layer {} has {prev} outputs",
                    n - 1
                ));
            }
        }
        let weight = floats(&w, &format!("W{n}"))?;
        let b = st
            .tensor(&format!("b{n}"))
            .ok_or_else(|| format!("tensor b{n} is missing: expected shape [{out}]"))?;
        if b.shape() != [out] {
            return Err(format!(
                "tensor b{n} has shape {:?}; expected [{out}] (one bias per row of W{n})",
                b.shape()
            ));
        }
        let bias = floats(&b, &format!("b{n}"))?;
        let mask = match st.tensor(&format!("M{n}")) {
            Some(m) => Some(mask(&m, n, out, inp, &weight)?),
            None => None,
        };
        layers.push(Linear::from_parts(out, inp, weight, bias, mask).map_err(|e| e.to_string())?);
    }
    let outputs = layers.last().map_or(0, |l| l.out_dim());
    let task = match info.get("task") {
        Some(t) => parse_task(t)?,
        None if outputs == 1 => Task::Binary,
        None => Task::Multiclass(outputs),
    };
    if task.outputs() != outputs {
        return Err(format!(
            "metadata task '{}' needs {} outputs but W{n_layers} has {outputs} rows",
            task_name(task),
            task.outputs()
        ));
    }
    let mut model = Mlp::from_layers(layers, task).map_err(|e| e.to_string())?;
    let mut norms = model.norms().to_vec();
    for n in 1..=n_layers {
        let (gain, bias) = (st.tensor(&format!("G{n}")), st.tensor(&format!("B{n}")));
        let (gain, bias) = match (gain, bias) {
            (None, None) => continue,
            (Some(g), Some(b)) => (g, b),
            _ => {
                return Err(format!(
                    "LayerNorm of layer {n} needs both G{n} (gain) and B{n} (bias)"
                ))
            }
        };
        let width = model.layers()[n - 1].out_dim();
        if n == n_layers {
            return Err(format!(
                "G{n}/B{n}: the output layer has no LayerNorm (only hidden layers do)"
            ));
        }
        for (t, name) in [(&gain, "G"), (&bias, "B")] {
            if t.shape() != [width] {
                return Err(format!(
                    "tensor {name}{n} has shape {:?}; expected [{width}] (one per row of W{n})",
                    t.shape()
                ));
            }
        }
        let mut norm = LayerNorm::new(width);
        norm.gain = floats(&gain, &format!("G{n}"))?;
        norm.bias = floats(&bias, &format!("B{n}"))?;
        norms[n - 1] = Some(norm);
    }
    model.set_norms(norms).map_err(|e| e.to_string())?;
    check_recorded(info, &model)?;
    let expanded_layer: Option<usize> = parse_opt(info, "expanded_layer")?;
    if let Some(l) = expanded_layer.filter(|&l| l + 1 >= n_layers) {
        return Err(format!(
            "metadata expanded_layer = {l} names no hidden layer: the model has {} (0..{})",
            n_layers - 1,
            n_layers.saturating_sub(2)
        ));
    }
    let alpha: Option<usize> = parse_opt(info, "alpha")?;
    if let Some(a) = alpha.filter(|&a| a < 2) {
        return Err(format!(
            "metadata alpha = {a} is not an expansion factor (>= 2)"
        ));
    }
    let torch_names = match (&st.names, info.get("torch_names")) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(j)) => {
            let n: TorchNames = serde_json::from_str(j).map_err(|_| {
                "metadata torch_names is not {\"linear\": [...], \"norm\": [...]}".to_string()
            })?;
            let normed: Vec<bool> = model.norms().iter().map(Option::is_some).collect();
            n.check(&normed)
                .map_err(|e| format!("metadata torch_names: {e}"))?;
            Some(n)
        }
        (None, None) => None,
    };
    let meta = ModelMeta {
        torch_names,
        strategy: info.get("strategy").cloned(),
        alpha,
        expanded_layer,
        seed: parse_opt(info, "seed")?,
        groups: groups(info, model.input_dim())?,
        version: info.get("neurosplit_version").cloned(),
        extra: info
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    Ok((model, meta))
}

/// `W3` -> `('W', 3)`; anything else -> `None`.
fn parse_name(name: &str) -> Option<(char, usize)> {
    let mut chars = name.chars();
    let kind = chars
        .next()
        .filter(|c| matches!(c, 'W' | 'b' | 'M' | 'G' | 'B'))?;
    let digits = chars.as_str();
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(|n| (kind, n))
}

fn floats(t: &TensorView<'_>, name: &str) -> Result<Vec<f32>, String> {
    let values = torch::decode_floats(t.dtype(), t.data()).ok_or_else(|| {
        format!(
            "tensor {name} has dtype {}; neurosplit reads F16, BF16, F32 or F64 (in PyTorch: tensor.float())",
            t.dtype()
        )
    })?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "tensor {name} holds a non-finite value ({}) at flat index {i}",
            values[i]
        ));
    }
    Ok(values)
}

fn mask(
    t: &TensorView<'_>,
    n: usize,
    out: usize,
    inp: usize,
    weight: &[f32],
) -> Result<Mask, String> {
    if t.shape() != [out, inp] {
        return Err(format!(
            "tensor M{n} has shape {:?}; expected [{out}, {inp}] (the shape of W{n})",
            t.shape()
        ));
    }
    if !matches!(t.dtype(), Dtype::U8 | Dtype::BOOL) {
        return Err(format!(
            "tensor M{n} has dtype {}; masks are U8 (or BOOL) with 1 = live, 0 = masked",
            t.dtype()
        ));
    }
    let mut bools = Vec::with_capacity(out * inp);
    for (i, &v) in t.data().iter().enumerate() {
        match v {
            0 if weight[i] != 0.0 => {
                return Err(format!(
                    "W{n}[{}, {}] = {} but M{n} masks it: masked weights must be exactly 0",
                    i / inp,
                    i % inp,
                    weight[i]
                ))
            }
            0 => bools.push(false),
            1 => bools.push(true),
            other => {
                return Err(format!(
                    "tensor M{n} holds {other} at [{}, {}]; masks hold only 0 or 1",
                    i / inp,
                    i % inp
                ))
            }
        }
    }
    Ok(Mask::from_bools(out, inp, &bools))
}

fn task_name(task: Task) -> String {
    match task {
        Task::Binary => "binary".into(),
        Task::Multiclass(c) => format!("multiclass:{c}"),
    }
}

fn parse_task(s: &str) -> Result<Task, String> {
    if s == "binary" {
        return Ok(Task::Binary);
    }
    s.strip_prefix("multiclass:")
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 2)
        .map(Task::Multiclass)
        .ok_or_else(|| format!("metadata task '{s}' is not 'binary' or 'multiclass:C' with C >= 2"))
}

fn parse_opt<T: std::str::FromStr>(
    info: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    info.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("metadata {key} = '{v}' is not a non-negative integer"))
        })
        .transpose()
}

/// Architecture and budget, when recorded, must agree with the tensors.
fn check_recorded(info: &HashMap<String, String>, model: &Mlp) -> Result<(), String> {
    if let Some(a) = info.get("architecture") {
        let dims: Vec<usize> = serde_json::from_str(a)
            .map_err(|_| format!("metadata architecture '{a}' is not a JSON list of widths"))?;
        if dims != model.dims() {
            return Err(format!(
                "metadata architecture {dims:?} disagrees with the tensors, which give {:?}",
                model.dims()
            ));
        }
    }
    if let Some(budget) = parse_opt::<usize>(info, "budget")? {
        if budget != model.nnz() {
            return Err(format!(
                "metadata budget {budget} disagrees with the masks, which leave {} live weights",
                model.nnz()
            ));
        }
    }
    Ok(())
}

fn groups(info: &HashMap<String, String>, d: usize) -> Result<Option<Vec<Vec<usize>>>, String> {
    let Some(g) = info.get("groups") else {
        return Ok(None);
    };
    let groups: Vec<Vec<usize>> = serde_json::from_str(g)
        .map_err(|_| "metadata groups is not a JSON list of lists of input indices".to_string())?;
    let mut seen = vec![false; d];
    for (gi, group) in groups.iter().enumerate() {
        for &i in group {
            if i >= d {
                return Err(format!(
                    "metadata group {gi} names input {i}, but the model has {d} inputs"
                ));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!(
                    "metadata groups name input {i} twice; groups must be disjoint"
                ));
            }
        }
    }
    Ok(Some(groups))
}
