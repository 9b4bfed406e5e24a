//! Inputs as PyTorch and numpy users hold them: anything `numpy.asarray` can view (numpy arrays, torch CPU
//! tensors through `__array__`, objects with `__dlpack__`, nested lists), float16/float64 converted to float32,
//! labels of any integer dtype. Every bad input is a `NeurosplitError` that names the argument and the problem.

use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;

pub(crate) use crate::invalid;

/// Most elements one array argument may hold (2^31: 8 GiB of float32), before anything is copied.
const MAX_ELEMENTS: usize = 1 << 31;

/// `obj` as a numpy array (no copy where numpy can view it), its dtype kind (`'f'`, `'i'`, `'u'`, `'b'`, ...)
/// and its shape.
fn view<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<(Bound<'py, PyAny>, char, Vec<usize>)> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let mut obj = obj.clone();
    // A torch tensor that requires grad refuses `__array__`; its values are what is meant.
    if obj.hasattr("requires_grad")?
        && obj.getattr("requires_grad")?.is_truthy()?
        && obj.hasattr("detach")?
    {
        obj = obj.call_method0("detach")?;
    }
    let arr = match np.call_method1("asarray", (&obj,)) {
        Ok(a) => a,
        Err(first) => match np.call_method1("from_dlpack", (&obj,)) {
            Ok(a) => a,
            Err(_) => {
                let ty = obj
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                return Err(invalid(
                    what,
                    format!("a {ty} cannot be read as an array: {}", first.value(py)),
                ));
            }
        },
    };
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    let kind = kind.chars().next().unwrap_or('?');
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    if shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_none_or(|n| n > MAX_ELEMENTS)
    {
        return Err(invalid(
            what,
            format!("shape {shape:?} holds more than {MAX_ELEMENTS} elements"),
        ));
    }
    Ok((arr, kind, shape))
}

fn dtype_name(arr: &Bound<'_, PyAny>) -> String {
    arr.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A floating-point array of `ndim` dimensions as float32, row-major: its shape and values. Integer, bool,
/// complex and object arrays, another number of dimensions, NaN and infinite values are errors.
pub fn floats(obj: &Bound<'_, PyAny>, what: &str, ndim: usize) -> PyResult<(Vec<usize>, Vec<f32>)> {
    let (arr, kind, shape) = view(obj, what)?;
    if kind != 'f' {
        return Err(invalid(
            what,
            format!(
                "expected floating-point values (float32, or float16/float64 to convert), got {}",
                dtype_name(&arr)
            ),
        ));
    }
    if shape.len() != ndim {
        return Err(invalid(
            what,
            format!(
                "expected a {ndim}-D array, got {}-D with shape {shape:?}",
                shape.len()
            ),
        ));
    }
    let arr = if dtype_name(&arr) == "float32" {
        arr
    } else {
        arr.call_method1("astype", ("float32",))?
    };
    let a: PyReadonlyArrayDyn<'_, f32> = arr.extract()?;
    let values: Vec<f32> = match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let at = unravel(i, &shape);
        return Err(invalid(
            what,
            format!("value {} at index {at:?} is not finite", values[i]),
        ));
    }
    Ok((shape, values))
}

/// A 2-D float array `[rows, cols]` as float32: `(rows, cols, values)`; see [`floats`].
pub fn float_matrix(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(usize, usize, Vec<f32>)> {
    let (shape, values) = floats(obj, what, 2)?;
    Ok((shape[0], shape[1], values))
}

/// A 2-D mask: bool, or numbers where non-zero is live (the float masks `torch.nn.utils.prune` keeps).
pub fn bool_matrix(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(usize, usize, Vec<bool>)> {
    let (arr, kind, shape) = view(obj, what)?;
    if shape.len() != 2 {
        return Err(invalid(
            what,
            format!(
                "expected a 2-D array, got {}-D with shape {shape:?}",
                shape.len()
            ),
        ));
    }
    let arr = match kind {
        'b' => arr,
        'f' | 'i' | 'u' => {
            if kind == 'f' {
                let finite: bool = obj
                    .py()
                    .import("numpy")?
                    .call_method1("isfinite", (&arr,))?
                    .call_method0("all")?
                    .extract()?;
                if !finite {
                    return Err(invalid(what, "holds NaN or infinite values"));
                }
            }
            arr.call_method1("__ne__", (0,))?
        }
        _ => {
            return Err(invalid(
                what,
                format!(
                    "expected bool or numbers (non-zero = live), got {}",
                    dtype_name(&arr)
                ),
            ))
        }
    };
    let a: PyReadonlyArrayDyn<'_, bool> = arr.extract()?;
    let live: Vec<bool> = a.as_array().iter().copied().collect();
    Ok((shape[0], shape[1], live))
}

/// Class labels: a 1-D array of any integer dtype (or bool), each `0 <= y < 2^32`.
pub fn labels(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    let (arr, kind, shape) = view(obj, what)?;
    if !matches!(kind, 'i' | 'u' | 'b') {
        return Err(invalid(
            what,
            format!(
                "labels must be integers (any integer dtype), got {}",
                dtype_name(&arr)
            ),
        ));
    }
    if shape.len() != 1 {
        return Err(invalid(
            what,
            format!("labels must be a 1-D array, got shape {shape:?}"),
        ));
    }
    let arr = arr.call_method1("astype", ("int64",))?;
    let a: PyReadonlyArrayDyn<'_, i64> = arr.extract()?;
    // uint64 labels beyond i64 wrap to negatives here: refused as well, as out of range.
    a.as_array()
        .iter()
        .map(|&v| {
            u32::try_from(v).map_err(|_| invalid(what, format!("label {v} is not a class index")))
        })
        .collect()
}

/// Feature groups: a sequence of sequences of non-negative feature indices (lists, tuples, integer arrays).
pub fn groups(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<Vec<usize>>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let shape = || {
        invalid(
            "groups",
            "expected a list of lists of feature indices (non-negative integers)",
        )
    };
    let mut out = Vec::new();
    for (g, group) in obj.try_iter().map_err(|_| shape())?.enumerate() {
        let mut idx = Vec::new();
        for i in group?.try_iter().map_err(|_| shape())? {
            let i = i?;
            let v: i64 = i
                .call_method0("__index__")
                .and_then(|v| v.extract())
                .map_err(|_| {
                    invalid(
                        "groups",
                        format!("group {g} holds {i}, not an integer feature index"),
                    )
                })?;
            idx.push(
                usize::try_from(v)
                    .map_err(|_| invalid("groups", format!("group {g} holds feature {v}")))?,
            );
        }
        out.push(idx);
    }
    Ok(Some(out))
}

/// The index of the `i`-th element of a row-major array of `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for (a, &d) in at.iter_mut().zip(shape).rev() {
        if d > 0 {
            *a = i % d;
            i /= d;
        }
    }
    at
}
