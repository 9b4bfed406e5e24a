//! Python bindings of neurosplit: numpy arrays in and out, errors as `neurosplit.NeurosplitError` (a
//! `ValueError`) with the engine's own messages. Training releases the GIL.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use neurosplit::data::{Dataset, Task};
use neurosplit::expand::{expand_alternating, DeepInputs, Strategy};
use neurosplit::nn::{Linear, Mlp};
use neurosplit::rng::{self, purpose};
use neurosplit::sparse::Mask;

pyo3::create_exception!(
    _neurosplit,
    NeurosplitError,
    PyValueError,
    "Bad input to neurosplit (arguments, arrays, files); the message says what to fix."
);

fn err(e: neurosplit::Error) -> PyErr {
    NeurosplitError::new_err(e.to_string())
}

fn invalid(what: &str, why: impl Into<String>) -> PyErr {
    err(neurosplit::Error::invalid(what, why))
}

/// `(weight, bias, mask)` tuples (bias and mask optional) -> an [`Mlp`].
fn model_from_layers(layers: &Bound<'_, PyAny>) -> PyResult<Mlp> {
    let list: Vec<Bound<'_, PyAny>> = layers
        .try_iter()
        .map_err(|_| invalid("layers", "expected a list of (weight, bias[, mask]) tuples"))?
        .collect::<PyResult<_>>()?;
    if list.is_empty() {
        return Err(invalid("layers", "the list is empty"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (l, item) in list.iter().enumerate() {
        let parts: Vec<Bound<'_, PyAny>> = if let Ok(t) = item.cast::<PyTuple>() {
            t.iter().collect()
        } else if let Ok(t) = item.cast::<PyList>() {
            t.iter().collect()
        } else {
            vec![item.clone()]
        };
        if parts.is_empty() || parts.len() > 3 {
            return Err(invalid(
                "layers",
                format!("layer {l}: expected weight, (weight, bias) or (weight, bias, mask)"),
            ));
        }
        let w: PyReadonlyArray2<'_, f32> = parts[0].extract().map_err(|_| {
            invalid("layers", format!("layer {l}: the weight must be a 2-D float32 array [out, in]"))
        })?;
        let [rows, cols] = [w.shape()[0], w.shape()[1]];
        let weight: Vec<f32> = w.as_array().iter().copied().collect();
        let bias = match parts.get(1).filter(|b| !b.is_none()) {
            Some(b) => {
                let b: PyReadonlyArray1<'_, f32> = b.extract().map_err(|_| {
                    invalid("layers", format!("layer {l}: the bias must be a 1-D float32 array [out]"))
                })?;
                b.as_array().iter().copied().collect()
            }
            None => vec![0.0; rows],
        };
        let mask = match parts.get(2).filter(|m| !m.is_none()) {
            Some(m) => {
                let m: PyReadonlyArray2<'_, bool> = m.extract().map_err(|_| {
                    invalid("layers", format!("layer {l}: the mask must be a 2-D bool array [out, in]"))
                })?;
                if m.shape() != [rows, cols] {
                    return Err(invalid(
                        "layers",
                        format!("layer {l}: mask shape {:?} differs from the weight's [{rows}, {cols}]", m.shape()),
                    ));
                }
                let bools: Vec<bool> = m.as_array().iter().copied().collect();
                Some(Mask::from_bools(rows, cols, &bools))
            }
            None => None,
        };
        out.push(Linear::from_parts(rows, cols, weight, bias, mask).map_err(err)?);
    }
    let outputs = out.last().map_or(1, Linear::out_dim);
    let task = if outputs == 1 { Task::Binary } else { Task::Multiclass(outputs) };
    Mlp::from_layers(out, task).map_err(err)
}

/// An [`Mlp`] -> a list of `(weight, bias, mask or None)` tuples.
fn layers_to_py<'py>(py: Python<'py>, model: &Mlp) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for l in model.layers() {
        let w = PyArray1::from_slice(py, l.weight()).reshape([l.out_dim(), l.in_dim()])?;
        let b = PyArray1::from_slice(py, l.bias());
        let m: Bound<'py, PyAny> = match l.mask() {
            Some(m) => PyArray1::from_vec(py, m.to_bools())
                .reshape([l.out_dim(), l.in_dim()])?
                .into_any(),
            None => py.None().into_bound(py),
        };
        list.append(PyTuple::new(py, [w.into_any(), b.into_any(), m])?)?;
    }
    Ok(list)
}

/// A serde value -> Python objects (through JSON; reports are small).
fn to_py<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| invalid("report", e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

fn groups_arg(groups: Option<Vec<Vec<usize>>>) -> Option<Vec<Vec<usize>>> {
    groups
}

/// Expand a model with FPE at the same non-zero budget (alternating expansion of hidden layers 0, 2, ... when
/// deep). Returns ``(layers, report)``: the expanded ``(weight, bias, mask)`` tuples and the accounting.
#[pyfunction]
#[pyo3(signature = (layers, alpha, strategy = "random", groups = None, seed = 0, clusters = None))]
fn expand<'py>(
    py: Python<'py>,
    layers: &Bound<'py, PyAny>,
    alpha: usize,
    strategy: &str,
    groups: Option<Vec<Vec<usize>>>,
    seed: u64,
    clusters: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    let model = model_from_layers(layers)?;
    let strategy: Strategy = strategy.parse().map_err(err)?;
    let groups = groups_arg(groups);
    let inputs = DeepInputs {
        groups: groups.as_deref(),
        assignments: &[],
        clusters,
    };
    let (wide, report) = expand_alternating(
        &model,
        alpha,
        strategy,
        &inputs,
        &mut rng::stream(seed, &[purpose::SPLIT]),
    )
    .map_err(err)?;
    Ok((layers_to_py(py, &wide)?, to_py(py, &report)?))
}

/// Interference metrics of one weight matrix ``W`` ``[neurons, inputs]``: Gram matrix, per-input feature
/// capacity, their total (and per group), mean signed and absolute neuron cosine similarity.
#[pyfunction]
#[pyo3(signature = (w, groups = None))]
fn metrics<'py>(
    py: Python<'py>,
    w: PyReadonlyArray2<'py, f32>,
    groups: Option<Vec<Vec<usize>>>,
) -> PyResult<Bound<'py, PyDict>> {
    let [rows, cols] = [w.shape()[0], w.shape()[1]];
    let weight: Vec<f32> = w.as_array().iter().copied().collect();
    let layer = Linear::from_parts(rows, cols, weight, vec![0.0; rows], None).map_err(err)?;
    let m = neurosplit::metrics::LayerMetrics::of(
        &Mlp::from_layers(vec![layer], if rows == 1 { Task::Binary } else { Task::Multiclass(rows) })
            .map_err(err)?,
        0,
        groups.as_deref(),
    )
    .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("neurons", m.neurons)?;
    d.set_item("inputs", m.inputs)?;
    d.set_item("nnz", m.nnz)?;
    d.set_item("gram", PyArray1::from_vec(py, m.gram).reshape([cols, cols])?)?;
    d.set_item("capacity", PyArray1::from_vec(py, m.capacity))?;
    d.set_item("capacity_total", m.capacity_total)?;
    d.set_item(
        "capacity_per_group",
        m.capacity_per_group.map(|g| PyArray1::from_vec(py, g)),
    )?;
    d.set_item("mean_cosine", m.mean_cosine)?;
    d.set_item("mean_abs_cosine", m.mean_abs_cosine)?;
    Ok(d)
}

/// Coverage and collision probabilities of a random FPE layer (Sec. 2.5): the closed forms, and a Monte Carlo
/// estimate over ``samples`` sampled networks when ``samples > 0``.
#[pyfunction]
#[pyo3(signature = (literals, k, clauses, alpha, neurons, samples = 0, seed = 0, sampling = "independent"))]
#[allow(clippy::too_many_arguments)]
fn theory<'py>(
    py: Python<'py>,
    literals: u64,
    k: u64,
    clauses: u64,
    alpha: u64,
    neurons: u64,
    samples: u64,
    seed: u64,
    sampling: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let sampling = match sampling {
        "independent" => neurosplit::theory::Sampling::Independent,
        "partitioned" => neurosplit::theory::Sampling::Partitioned,
        other => {
            return Err(invalid(
                "sampling",
                format!("'{other}' is not independent or partitioned"),
            ))
        }
    };
    let setting = neurosplit::theory::Setting {
        literals,
        k,
        clauses,
        alpha,
        neurons,
    };
    let exact = setting.exact().map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("exact", to_py(py, &exact)?)?;
    if samples > 0 {
        let mc = py
            .detach(|| {
                neurosplit::theory::monte_carlo(
                    &setting,
                    sampling,
                    samples,
                    seed,
                )
            })
            .map_err(err)?;
        d.set_item("monte_carlo", to_py(py, &mc)?)?;
    }
    Ok(d)
}

/// Features ``x`` ``[n, d]`` (float32) and labels ``y`` ``[n]`` (integers) as a data set for ``task``.
fn dataset(x: &PyReadonlyArray2<'_, f32>, y: &Bound<'_, PyAny>, task: Task, what: &str) -> PyResult<Dataset> {
    let y: Vec<u32> = if let Ok(a) = y.extract::<PyReadonlyArray1<'_, i64>>() {
        a.as_array()
            .iter()
            .map(|&v| u32::try_from(v).map_err(|_| invalid(what, format!("label {v} is not a class index"))))
            .collect::<PyResult<_>>()?
    } else if let Ok(a) = y.extract::<PyReadonlyArray1<'_, i32>>() {
        a.as_array()
            .iter()
            .map(|&v| u32::try_from(v).map_err(|_| invalid(what, format!("label {v} is not a class index"))))
            .collect::<PyResult<_>>()?
    } else {
        return Err(invalid(what, "labels must be a 1-D int64 or int32 array"));
    };
    let d = x.shape()[1];
    let x: Vec<f32> = x.as_array().iter().copied().collect();
    Dataset::new(x, y, d, task).map_err(err)
}

/// Fine-tune a model on ``(x, y)`` with the Rust engine (the GIL is released while it trains): optionally expand
/// it with FPE (``alpha``, ``strategy``), retrain for ``epochs`` at the same non-zero budget, evaluate on
/// ``(x_test, y_test)`` (default: the training data). ``model`` is a list of ``(weight, bias[, mask])`` tuples
/// or the path of a model file. ``precision`` is ``"fp32"`` or ``"bf16"`` (mixed precision, on a CPU with
/// AVX512-BF16). Returns ``(layers, report)``; the same settings give the same model as ``neurosplit finetune``
/// with ``--seed``.
#[pyfunction]
#[pyo3(signature = (model, x, y, x_test = None, y_test = None, alpha = None, strategy = "random", groups = None,
    epochs = 10, batch_size = 128, lr = 1e-3, l1 = 0.0, l2 = 0.0, seed = 0, rewire_every = None,
    rewire_fraction = 0.1, precision = "fp32"))]
#[allow(clippy::too_many_arguments)]
fn finetune<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    x: PyReadonlyArray2<'py, f32>,
    y: &Bound<'py, PyAny>,
    x_test: Option<PyReadonlyArray2<'py, f32>>,
    y_test: Option<&Bound<'py, PyAny>>,
    alpha: Option<usize>,
    strategy: &str,
    groups: Option<Vec<Vec<usize>>>,
    epochs: usize,
    batch_size: usize,
    lr: f32,
    l1: f32,
    l2: f32,
    seed: u64,
    rewire_every: Option<usize>,
    rewire_fraction: f64,
    precision: &str,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    use neurosplit::experiment::trial::{Rewiring, TrialConfig};
    let mlp = match model.extract::<std::path::PathBuf>() {
        Ok(path) => neurosplit::io::load(&path).map_err(err)?.0,
        Err(_) => model_from_layers(model)?,
    };
    let task = mlp.task();
    let mut train = dataset(&x, y, task, "training data")?;
    train.groups = groups;
    let test = match (x_test, y_test) {
        (Some(xt), Some(yt)) => dataset(&xt, yt, task, "test data")?,
        (None, None) => train.clone(),
        _ => return Err(invalid("test data", "give both x_test and y_test, or neither")),
    };
    if train.d != mlp.input_dim() {
        return Err(invalid(
            "data",
            format!("the model takes {} inputs but x has {} features", mlp.input_dim(), train.d),
        ));
    }
    let strategy: Strategy = strategy.parse().map_err(err)?;
    let expansions = match alpha {
        Some(a) => vec![(neurosplit::expand::Alpha::new(a).map_err(err)?, strategy)],
        None => Vec::new(),
    };
    let cfg = TrialConfig {
        post: neurosplit::nn::TrainConfig {
            epochs,
            batch_size,
            lr,
            reg: neurosplit::nn::Regularizer { l1_first: l1, l2 },
            precision: precision.parse().map_err(err)?,
        },
        expansions,
        rewiring: rewire_every.map(|every| Rewiring {
            every,
            fraction: rewire_fraction,
            decay: neurosplit::expand::Decay::Constant,
        }),
        metrics: neurosplit::metrics::Metric::ALL.to_vec(),
        ..TrialConfig::default()
    };
    let splits = neurosplit::data::Splits { train, val: None, test };
    let (out, report) = py
        .detach(|| neurosplit::experiment::finetune::finetune(&mlp, &splits, &cfg, seed, None, &|_| {}))
        .map_err(err)?;
    Ok((layers_to_py(py, &out)?, to_py(py, &report)?))
}

/// Train a dense model of widths ``dims`` (``[inputs, hidden..., outputs]``) from scratch on ``(x, y)``, then
/// fine-tune it as :func:`finetune` does (``**kwargs`` are its settings). Returns ``(layers, report)``.
#[pyfunction]
#[pyo3(signature = (dims, x, y, init_seed = 0, **kwargs))]
fn train<'py>(
    py: Python<'py>,
    dims: Vec<usize>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    init_seed: u64,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    let outputs = dims.last().copied().unwrap_or(0);
    let task = if outputs == 1 { Task::Binary } else { Task::Multiclass(outputs) };
    let mlp = Mlp::new(&dims, task, &mut rng::stream(init_seed, &[purpose::INIT])).map_err(err)?;
    let layers = layers_to_py(py, &mlp)?;
    let f = wrap_pyfunction!(finetune, py)?;
    let out = f.call((layers, x, y), kwargs)?;
    out.extract()
}

/// The Python module.
#[pymodule]
fn _neurosplit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NeurosplitError", m.py().get_type::<NeurosplitError>())?;
    m.add_function(wrap_pyfunction!(expand, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(finetune, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    Ok(())
}
