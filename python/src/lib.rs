//! Python bindings of neurosplit: numpy arrays in and out, errors as `neurosplit.NeurosplitError` (a
//! `ValueError`) with the engine's own messages. Training releases the GIL.

mod arrays;
mod sparse_linear;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use neurosplit::data::{Dataset, Task};
use neurosplit::expand::{expand_alternating, DeepInputs, Strategy};
use neurosplit::nn::{Linear, Mlp};
use neurosplit::rng::{self, purpose};
use neurosplit::sparse::Mask;

mod reproduce;

pyo3::create_exception!(
    _neurosplit,
    NeurosplitError,
    PyValueError,
    "Bad input to neurosplit (arguments, arrays, files); the message says what to fix."
);

fn err(e: neurosplit::Error) -> PyErr {
    NeurosplitError::new_err(e.to_string())
}

pub(crate) fn invalid(what: &str, why: impl Into<String>) -> PyErr {
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
        let (rows, cols, weight) =
            arrays::float_matrix(&parts[0], &format!("layer {l} weight [out, in]"))?;
        if rows == 0 || cols == 0 {
            return Err(invalid(
                "layers",
                format!("layer {l}: the weight has shape [{rows}, {cols}]: empty"),
            ));
        }
        let bias = match parts.get(1).filter(|b| !b.is_none()) {
            Some(b) => {
                let (shape, bias) = arrays::floats(b, &format!("layer {l} bias [out]"), 1)?;
                if shape[0] != rows {
                    return Err(invalid(
                        "layers",
                        format!(
                            "layer {l}: the bias has {} entries for {rows} outputs",
                            shape[0]
                        ),
                    ));
                }
                bias
            }
            None => vec![0.0; rows],
        };
        let mask = match parts.get(2).filter(|m| !m.is_none()) {
            Some(m) => {
                let (mr, mc, bools) = arrays::bool_matrix(m, &format!("layer {l} mask [out, in]"))?;
                if [mr, mc] != [rows, cols] {
                    return Err(invalid(
                        "layers",
                        format!("layer {l}: mask shape [{mr}, {mc}] differs from the weight's [{rows}, {cols}]"),
                    ));
                }
                Some(Mask::from_bools(rows, cols, &bools))
            }
            None => None,
        };
        out.push(Linear::from_parts(rows, cols, weight, bias, mask).map_err(err)?);
    }
    let outputs = out.last().map_or(1, Linear::out_dim);
    let task = if outputs == 1 {
        Task::Binary
    } else {
        Task::Multiclass(outputs)
    };
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
    // Through a JSON value, as the CLI writes its reports, so both print every number alike.
    let text = serde_json::to_value(value)
        .and_then(|v| serde_json::to_string(&v))
        .map_err(|e| invalid("report", e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// Feature groups over `inputs` features: every index in range, no group empty.
fn groups_arg(groups: Option<Vec<Vec<usize>>>, inputs: usize) -> PyResult<Option<Vec<Vec<usize>>>> {
    for (g, group) in groups.iter().flatten().enumerate() {
        if group.is_empty() {
            return Err(invalid("groups", format!("group {g} is empty")));
        }
        if let Some(&i) = group.iter().find(|&&i| i >= inputs) {
            return Err(invalid(
                "groups",
                format!("group {g} holds feature {i}, but the model has {inputs} inputs"),
            ));
        }
    }
    Ok(groups)
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
    groups: Option<&Bound<'py, PyAny>>,
    seed: u64,
    clusters: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    let model = model_from_layers(layers)?;
    let strategy: Strategy = strategy.parse().map_err(err)?;
    let groups = groups_arg(arrays::groups(groups)?, model.input_dim())?;
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
    w: &Bound<'py, PyAny>,
    groups: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (rows, cols, weight) = arrays::float_matrix(w, "w")?;
    if rows == 0 || cols == 0 {
        return Err(invalid("w", format!("shape [{rows}, {cols}] is empty")));
    }
    let groups = groups_arg(arrays::groups(groups)?, cols)?;
    let layer = Linear::from_parts(rows, cols, weight, vec![0.0; rows], None).map_err(err)?;
    let m = neurosplit::metrics::LayerMetrics::of(
        &Mlp::from_layers(
            vec![layer],
            if rows == 1 {
                Task::Binary
            } else {
                Task::Multiclass(rows)
            },
        )
        .map_err(err)?,
        0,
        groups.as_deref(),
    )
    .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("neurons", m.neurons)?;
    d.set_item("inputs", m.inputs)?;
    d.set_item("nnz", m.nnz)?;
    d.set_item(
        "gram",
        PyArray1::from_vec(py, m.gram).reshape([cols, cols])?,
    )?;
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
            .detach(|| neurosplit::theory::monte_carlo(&setting, sampling, samples, seed))
            .map_err(err)?;
        d.set_item("monte_carlo", to_py(py, &mc)?)?;
    }
    Ok(d)
}

/// Features ``x`` ``[n, d]`` (float32) and labels ``y`` ``[n]`` (integers) as a data set for ``task``.
fn dataset(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    task: Task,
    what: &str,
) -> PyResult<Dataset> {
    let (n, d, x) = arrays::float_matrix(x, &format!("{what} x"))?;
    let y = arrays::labels(y, &format!("{what} y"))?;
    if y.len() != n {
        return Err(invalid(
            what,
            format!("x has {n} rows but y has {} labels", y.len()),
        ));
    }
    Dataset::new(x, y, d, task).map_err(err)
}

/// The data of a ``train``/``finetune`` call: without ``(x_test, y_test)``, ``test_fraction`` of the training rows
/// become the test set (the same seeded cut as the CLI's for a single CSV file); ``val_fraction`` of the rest are
/// held out for validation. One rule for every front: ``neurosplit::data::hold_out``.
#[allow(clippy::too_many_arguments)]
fn splits(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    x_test: Option<&Bound<'_, PyAny>>,
    y_test: Option<&Bound<'_, PyAny>>,
    task: Task,
    seed: u64,
    test_fraction: f64,
    val_fraction: f64,
) -> PyResult<neurosplit::data::Splits> {
    let train = dataset(x, y, task, "training data")?;
    let test = match (x_test, y_test) {
        (Some(xt), Some(yt)) => Some(dataset(xt, yt, task, "test data")?),
        (None, None) => None,
        _ => return Err(invalid("test data", "give both x_test and y_test, or neither")),
    };
    let opts = neurosplit::data::DataOptions {
        test_fraction,
        val_fraction,
        seed,
        ..neurosplit::data::DataOptions::default()
    };
    neurosplit::data::hold_out(train, test, &opts).map_err(err)
}

/// Fine-tune a model on ``(x, y)`` with the Rust engine (the GIL is released while it trains), as
/// ``neurosplit finetune`` does: optionally expand it with FPE (``alpha``, ``strategy``), retrain for ``epochs``
/// at the same non-zero budget, evaluate on ``(x_test, y_test)`` (default: ``test_fraction`` of the rows held
/// out), and train the model as loaded for the same epochs as the baseline (``baseline=False`` skips it) over
/// ``trials`` trials. ``model`` is a list of ``(weight, bias[, mask])`` tuples or the path of a model file.
/// Every setting left ``None`` takes the CLI's default. Returns ``(layers, report)``; the same settings give the
/// same model and report as the CLI.
#[pyfunction]
#[pyo3(signature = (model, x, y, x_test = None, y_test = None, alpha = None, strategy = None, groups = None,
    epochs = None, batch_size = None, lr = None, l1 = None, l2 = None, seed = 0, rewire_every = None,
    rewire_fraction = None, trials = 1, baseline = true, test_fraction = 0.2, val_fraction = 0.0, threads = 1,
    checkpoint = None, precision = None))]
#[allow(clippy::too_many_arguments)]
fn finetune<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    x_test: Option<&Bound<'py, PyAny>>,
    y_test: Option<&Bound<'py, PyAny>>,
    alpha: Option<usize>,
    strategy: Option<&str>,
    groups: Option<&Bound<'py, PyAny>>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    lr: Option<f32>,
    l1: Option<f32>,
    l2: Option<f32>,
    seed: u64,
    rewire_every: Option<usize>,
    rewire_fraction: Option<f64>,
    trials: usize,
    baseline: bool,
    test_fraction: f64,
    val_fraction: f64,
    threads: usize,
    checkpoint: Option<std::path::PathBuf>,
    precision: Option<&str>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    use neurosplit::pipeline::finetune::Finetune;
    use neurosplit::pipeline::settings::{Profile, Settings};
    let (mlp, path) = match model.extract::<std::path::PathBuf>() {
        Ok(path) => (neurosplit::io::load(&path).map_err(err)?.0, Some(path)),
        Err(_) => (model_from_layers(model)?, None),
    };
    if let (Some(c), Some(m)) = (&checkpoint, &path) {
        neurosplit::pipeline::guard::distinct_outputs(&[("checkpoint", c)], &[("the model", m)]).map_err(err)?;
    }
    let mut data = splits(x, y, x_test, y_test, mlp.task(), seed, test_fraction, val_fraction)?;
    data.train.groups = arrays::groups(groups)?;
    let settings = Settings {
        epochs,
        batch_size,
        lr,
        l1,
        l2,
        alpha,
        strategy: strategy.map(str::parse).transpose().map_err(err)?,
        rewire_every,
        rewire_fraction,
        threads: Some(threads),
        precision: precision.map(str::parse).transpose().map_err(err)?,
        ..Settings::new(Profile::UserData)
    };
    let cfg = settings.build().map_err(err)?;
    let job = Finetune {
        model: &mlp,
        data: &data,
        cfg: &cfg,
        seed,
        trials,
        baseline,
        checkpoint: checkpoint.as_deref(),
    };
    let (out, report) = py
        .detach(|| neurosplit::pipeline::finetune::finetune(&job, &|_| {}, &mut |_| Ok(())))
        .map_err(err)?;
    Ok((layers_to_py(py, &out)?, to_py(py, &report)?))
}

/// Train a dense MLP with hidden widths ``hidden`` from scratch on ``(x, y)`` for ``epochs``, then, with
/// ``alpha``, expand it with FPE and train it on for ``post_epochs`` beside the dense model trained as long: the
/// stages of ``neurosplit train --data`` and of every spec trial, with the same defaults. ``classes`` sets the
/// output width (default: the largest label + 1; 2 classes train one binary output). Returns ``(layers,
/// summary)``: the final model (the FPE model with ``alpha``) and the run's summary with every model's record.
#[pyfunction]
#[pyo3(signature = (x, y, hidden = None, x_test = None, y_test = None, classes = None, epochs = None,
    post_epochs = None, alpha = None, strategy = None, groups = None, batch_size = None, lr = None, l1 = None,
    l2 = None, seed = 0, rewire_every = None, rewire_fraction = None, layernorm = None, test_fraction = 0.2,
    threads = 1, precision = None))]
#[allow(clippy::too_many_arguments)]
fn train<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    hidden: Option<Vec<usize>>,
    x_test: Option<&Bound<'py, PyAny>>,
    y_test: Option<&Bound<'py, PyAny>>,
    classes: Option<usize>,
    epochs: Option<usize>,
    post_epochs: Option<usize>,
    alpha: Option<usize>,
    strategy: Option<&str>,
    groups: Option<&Bound<'py, PyAny>>,
    batch_size: Option<usize>,
    lr: Option<f32>,
    l1: Option<f32>,
    l2: Option<f32>,
    seed: u64,
    rewire_every: Option<usize>,
    rewire_fraction: Option<f64>,
    layernorm: Option<bool>,
    test_fraction: f64,
    threads: usize,
    precision: Option<&str>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyAny>)> {
    use neurosplit::pipeline::settings::{Profile, Settings};
    use neurosplit::pipeline::trial::{self, Streams};
    let labels = dataset(x, y, Task::Multiclass(u32::MAX as usize), "training data")?;
    let classes = classes.unwrap_or(labels.y.iter().copied().max().unwrap_or(0) as usize + 1);
    let task = if classes <= 2 { Task::Binary } else { Task::Multiclass(classes) };
    let mut data = splits(x, y, x_test, y_test, task, seed, test_fraction, 0.0)?;
    data.train.groups = arrays::groups(groups)?;
    let settings = Settings {
        hidden,
        layernorm,
        epochs,
        post_epochs,
        batch_size,
        lr,
        l1,
        l2,
        alpha,
        strategy: strategy.map(str::parse).transpose().map_err(err)?,
        rewire_every,
        rewire_fraction,
        threads: Some(threads),
        precision: precision.map(str::parse).transpose().map_err(err)?,
        ..Settings::new(Profile::UserData)
    };
    let cfg = settings.build().map_err(err)?;
    let key = trial::model_key(None, &cfg.hidden, cfg.pre.epochs);
    let streams = Streams::for_model(seed, &key, 0);
    let (train, test) = (&data.train, &data.test);
    let out = py
        .detach(|| trial::run_one(&cfg, train, test, streams, &|_| {}))
        .map_err(err)?;
    let (model, _) = out.final_model(&cfg, seed, None);
    let summary = out.summary(&cfg);
    Ok((layers_to_py(py, model)?, to_py(py, &summary)?))
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
    m.add_function(wrap_pyfunction!(reproduce::reproduce, m)?)?;
    m.add_class::<sparse_linear::SparseKernel>()?;
    m.add("DENSE_CROSSOVER", neurosplit::sparse::DENSE_CROSSOVER)?;
    Ok(())
}
