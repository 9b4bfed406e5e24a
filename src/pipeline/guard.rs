//! Checks that run before any work, from every front alike: an output path may not name an input (compared
//! as canonical paths, so through symbolic links and `..`; hard links by device and inode on Unix), feature
//! groups must fit the data, and the memory a user's sizes ask for must fit the budget of
//! [`crate::limits::memory_budget`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::limits::{bytes_of, check_memory, mlp_bytes};
use crate::metrics::Metric;

use super::trial::TrialConfig;

/// The path `p` resolves to: canonical when it exists; otherwise its canonical parent joined with its file
/// name (an output that does not exist yet).
fn resolve(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(parent.join(p.file_name()?))
}

#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

/// Refuses, before anything is written, an output that is the same file as an input or as another output.
/// `outputs` and `inputs` are `(what, path)` pairs, e.g. `("--output", out)` and `("the model", model)`.
pub fn distinct_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    let same = |a: &Path, b: &Path| -> bool {
        match (resolve(a), resolve(b)) {
            (Some(x), Some(y)) if x == y => true,
            _ => same_file(a, b),
        }
    };
    for (i, &(what, out)) in outputs.iter().enumerate() {
        if out.is_dir() {
            return Err(Error::invalid(
                what,
                format!("{} is a folder: name a file to write", out.display()),
            ));
        }
        for &(input, path) in inputs {
            if same(out, path) {
                return Err(Error::invalid(
                    what,
                    format!(
                        "{} is {input} ({}): writing it would destroy an input; choose another output path",
                        out.display(),
                        path.display()
                    ),
                ));
            }
        }
        for &(other, path) in &outputs[..i] {
            if same(out, path) {
                return Err(Error::invalid(
                    what,
                    format!(
                        "{} is also {other}: give each output its own path",
                        out.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Feature groups must be non-empty, disjoint sets of feature indices below `d`.
pub fn check_groups(groups: &[Vec<usize>], d: usize) -> Result<()> {
    let mut seen = vec![false; d];
    for (g, group) in groups.iter().enumerate() {
        if group.is_empty() {
            return Err(Error::invalid(
                "groups",
                format!("group {g} is empty: every feature group needs at least one input"),
            ));
        }
        for &i in group {
            let Some(s) = seen.get_mut(i) else {
                return Err(Error::invalid(
                    "groups",
                    format!("group {g} names input {i}, but the data has {d} inputs (0..{d})"),
                ));
            };
            if std::mem::replace(s, true) {
                return Err(Error::invalid(
                    "groups",
                    format!("input {i} is in two groups: feature groups must be disjoint"),
                ));
            }
        }
    }
    Ok(())
}

/// The memory one run of `cfg` asks for on data of `rows` training rows, `d` inputs and `outputs` outputs,
/// checked against the budget before anything is allocated: every model (the dense one and each expansion at
/// its widened size, with Adam's two moments and the gradients), one batch's activations, the data, and the
/// interference metrics (the Gram matrix is `d x d`).
pub fn check_memory_of(cfg: &TrialConfig, rows: usize, d: usize, outputs: usize) -> Result<()> {
    let alpha = cfg
        .expansions
        .iter()
        .map(|(a, _)| a.get())
        .max()
        .unwrap_or(1);
    let wide: Vec<usize> = cfg
        .hidden
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            if i % 2 == 0 {
                h.saturating_mul(alpha)
            } else {
                h
            }
        })
        .collect();
    let dims = |hidden: &[usize]| -> Vec<usize> {
        std::iter::once(d)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(outputs))
            .collect()
    };
    let models = 1 + cfg.expansions.len() + usize::from(cfg.dense_baseline);
    // Weights, gradients, two Adam moments: four copies of each model.
    let per_model = mlp_bytes(&dims(&wide)).and_then(|m| m.checked_mul(4));
    let widest = wide.iter().copied().chain([d, outputs]).max().unwrap_or(0);
    let batch = cfg.pre.batch_size.max(cfg.post.batch_size);
    // Activations and their gradients of every layer for one batch.
    let activations = bytes_of(&[batch, widest, wide.len() + 2, 2, 4]);
    let gram = if cfg.metrics.contains(&Metric::FeatureCapacity) {
        bytes_of(&[d, d, 8])
    } else {
        Some(0)
    };
    let data = bytes_of(&[rows, d, 4]);
    let total = per_model
        .and_then(|m| m.checked_mul(models as u128))
        .zip(activations)
        .and_then(|(a, b)| a.checked_add(b))
        .zip(gram)
        .and_then(|(a, b)| a.checked_add(b))
        .zip(data)
        .and_then(|(a, b)| a.checked_add(b));
    check_memory(
        &format!(
            "this run ({d} inputs, hidden {:?}, alpha up to {alpha}, batch {batch}{})",
            cfg.hidden,
            if gram.unwrap_or(0) > 0 {
                ", with the d x d Gram matrix of the feature-capacity metric"
            } else {
                ""
            }
        ),
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_may_not_name_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.safetensors");
        std::fs::write(&model, b"x").unwrap();
        let out = dir.path().join("out.safetensors");
        distinct_outputs(&[("--output", &out)], &[("the model", &model)]).unwrap();
        let e = distinct_outputs(&[("--output", &model)], &[("the model", &model)]).unwrap_err();
        assert!(e.to_string().contains("destroy an input"), "{e}");
        // The same file reached through `..` and through a symbolic link.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let dotted = sub.join("..").join("m.safetensors");
        assert!(distinct_outputs(&[("-o", &dotted)], &[("the model", &model)]).is_err());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.safetensors");
            std::os::unix::fs::symlink(&model, &link).unwrap();
            assert!(distinct_outputs(&[("-o", &link)], &[("the model", &model)]).is_err());
            let hard = dir.path().join("hard.safetensors");
            std::fs::hard_link(&model, &hard).unwrap();
            assert!(distinct_outputs(&[("-o", &hard)], &[("the model", &model)]).is_err());
        }
        let e = distinct_outputs(&[("-o", &out), ("--checkpoint", &out)], &[]).unwrap_err();
        assert!(e.to_string().contains("its own path"), "{e}");
    }

    #[test]
    fn groups_must_fit_the_data() {
        check_groups(&[vec![0, 1], vec![2]], 3).unwrap();
        assert!(check_groups(&[vec![0, 3]], 3).is_err());
        assert!(check_groups(&[vec![0], vec![0]], 3).is_err());
        assert!(check_groups(&[vec![]], 3).is_err());
    }

    #[test]
    fn absurd_sizes_are_refused_before_allocation() {
        let cfg = TrialConfig {
            hidden: vec![1 << 30],
            ..TrialConfig::default()
        };
        let e = check_memory_of(&cfg, 10, 32, 1).unwrap_err();
        assert!(e.to_string().contains("memory"), "{e}");
        let cfg = TrialConfig {
            metrics: vec![Metric::FeatureCapacity],
            ..TrialConfig::default()
        };
        let e = check_memory_of(&cfg, 10, 1_000_000, 1).unwrap_err();
        assert!(e.to_string().contains("Gram"), "{e}");
        check_memory_of(&TrialConfig::default(), 10_000, 32, 1).unwrap();
    }
}
