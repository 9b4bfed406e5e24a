//! `neurosplit.reproduce`: the library's reproduce workflow
//! ([`neurosplit::experiment::reproduce::run`]), the same call `neurosplit reproduce` makes.

use std::path::PathBuf;

use pyo3::prelude::*;

use neurosplit::device::Device;
use neurosplit::experiment::reproduce::{run, Experiment, Overrides, ReproduceOptions};
use neurosplit::experiment::runner::Shard;

/// Run one of the paper's experiments (a built-in name such as ``"case-study"``, or the path of a spec
/// ``.toml``) as ``neurosplit reproduce`` does, with the same results: resumable in ``out`` (default
/// ``results/NAME-FINGERPRINT``), with the report and its figures written there. ``set`` takes the CLI's
/// ``--set KEY=VALUE`` assignments (e.g. ``["train.post_epochs=20", "trials=2"]``); ``trials``, ``seed`` and
/// ``holm`` its flags of those names; ``shard`` a slice ``"K/N"`` (no report is written; join the slices with
/// ``merge_shards=N``); ``threads`` 0 uses every core (results do not depend on it). The GIL is released while
/// the trials run. Returns ``(records, report_path)``: one plain dict per trial x model (``pandas.DataFrame``
/// takes the list; the numbers are those of the results file, bit for bit), and the report's path (``None``
/// for a shard).
#[pyfunction]
#[pyo3(signature = (name_or_path, out = None, set = None, shard = None, threads = 0, trials = None,
    seed = None, holm = false, device = "cpu", data_dir = None, results = None, merge_shards = None,
    json = None))]
#[allow(clippy::too_many_arguments)]
pub fn reproduce<'py>(
    py: Python<'py>,
    name_or_path: PathBuf,
    out: Option<PathBuf>,
    set: Option<Vec<String>>,
    shard: Option<&str>,
    threads: usize,
    trials: Option<usize>,
    seed: Option<u64>,
    holm: bool,
    device: &str,
    data_dir: Option<PathBuf>,
    results: Option<PathBuf>,
    merge_shards: Option<usize>,
    json: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyAny>, Option<PathBuf>)> {
    let name = name_or_path.to_string_lossy().into_owned();
    let set = set.unwrap_or_default();
    let mut call = format!("neurosplit.reproduce({name:?}");
    if !set.is_empty() {
        call.push_str(&format!(", set={set:?}"));
    }
    for (key, value) in [
        ("trials", trials.map(|v| v.to_string())),
        ("seed", seed.map(|v| v.to_string())),
        ("shard", shard.map(|v| format!("{v:?}"))),
        ("merge_shards", merge_shards.map(|v| v.to_string())),
        ("holm", holm.then(|| "True".to_string())),
        ("device", (device != "cpu").then(|| format!("{device:?}"))),
    ] {
        if let Some(v) = value {
            call.push_str(&format!(", {key}={v}"));
        }
    }
    call.push(')');
    let overrides = Overrides {
        trials,
        seed,
        holm,
        set,
        ..Overrides::default()
    };
    let opts = ReproduceOptions {
        out,
        results,
        shard: shard
            .map(str::parse::<Shard>)
            .transpose()
            .map_err(crate::err)?,
        merge_shards,
        threads,
        device: device.parse::<Device>().map_err(crate::err)?,
        data_dir,
        json,
        command: call,
    };
    let rep = py
        .detach(|| {
            let exp = Experiment::load(&name, &overrides)?;
            let rep = run(&exp, &opts, |_| {})?;
            rep.check_budget()?;
            Ok::<_, neurosplit::Error>(rep)
        })
        .map_err(crate::err)?;
    Ok((crate::to_py(py, &rep.rows())?, rep.report.clone()))
}
