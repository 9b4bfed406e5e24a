//! Bounds on sizes that come from files, specs and flags, checked before memory is taken.
//!
//! Every size a user controls (a shape in a file, a width or count in a spec, a flag) is checked against the
//! input's real length where there is one, and against the bounds here, before anything of that size is
//! allocated; `docs/RELIABILITY.md` lists them all. Memory estimates are compared with a budget: the value of
//! the environment variable `NEUROSPLIT_MAX_MEMORY` (bytes, or with a `K`, `M`, `G` or `T` suffix) if set,
//! else half of the machine's physical memory (8 GiB where that cannot be read).

use crate::error::{Error, Result};

/// The most worker threads a `--threads` flag gets: four per core, and never above [`MAX_THREADS`].
pub const THREADS_PER_CORE: usize = 4;

/// The absolute cap on worker threads.
pub const MAX_THREADS: usize = 1024;

/// The most trials (grid cells x trials) one spec may ask for.
pub const MAX_JOBS: usize = 1_000_000;

/// The most layers (`model.depth`) a spec may ask for: far beyond the paper's deepest network (9 layers, Section A.7), and
/// small enough that per-layer bookkeeping stays negligible whatever the widths.
pub const MAX_DEPTH: usize = 1024;

/// The memory budget in bytes (see the module docs).
pub fn memory_budget() -> u128 {
    if let Some(v) = std::env::var("NEUROSPLIT_MAX_MEMORY")
        .ok()
        .and_then(|v| parse_bytes(&v))
    {
        return v;
    }
    physical_memory().map_or(8 << 30, |m| m / 2)
}

/// `"512M"` -> 536870912; plain numbers are bytes.
fn parse_bytes(s: &str) -> Option<u128> {
    let s = s.trim();
    let (num, shift) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    num.trim().parse::<u128>().ok().map(|n| n << shift)
}

fn physical_memory() -> Option<u128> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Human-readable bytes, e.g. `18.6 GiB`.
pub fn show_bytes(b: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The product of `factors` in bytes, or `None` on overflow.
pub fn bytes_of(factors: &[usize]) -> Option<u128> {
    factors
        .iter()
        .try_fold(1u128, |a, &f| a.checked_mul(f as u128))
}

/// Refuses `what` when it needs more than the memory budget (`bytes = None`: more than can be counted).
pub fn check_memory(what: &str, bytes: Option<u128>) -> Result<()> {
    let budget = memory_budget();
    match bytes {
        Some(b) if b <= budget => Ok(()),
        b => Err(Error::TooLarge {
            what: what.to_string(),
            why: format!(
                "needs {} of memory, above the budget of {} (half the machine's memory; set \
                 NEUROSPLIT_MAX_MEMORY, e.g. to 64G, to change it)",
                b.map_or("more than 2^128 bytes".to_string(), show_bytes),
                show_bytes(budget)
            ),
        }),
    }
}

/// Bytes to train an MLP of widths `dims`: per weight its value, gradient, two Adam moments and a mask bit
/// (4 + 4 + 8 + 1 bytes), per sample row of a batch its activations; a lower bound, good for refusing
/// impossible sizes before anything is allocated.
pub fn mlp_bytes(dims: &[usize]) -> Option<u128> {
    dims.windows(2).try_fold(0u128, |acc, w| {
        let weights = bytes_of(&[w[0], w[1]])?.checked_add(w[1] as u128)?;
        acc.checked_add(weights.checked_mul(17)?)
    })
}

/// Reads a whole input file after checking that it is a regular file (a device such as `/dev/zero` would never
/// end) whose length fits the memory budget; the buffer is reserved with `try_reserve`, so a failed allocation is
/// an error naming the file, not an abort.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            "input file",
            format!("{} is not a regular file", path.display()),
        ));
    }
    let len = meta.len();
    check_memory(&format!("reading {}", path.display()), Some(len as u128))?;
    let len = usize::try_from(len).map_err(|_| Error::TooLarge {
        what: format!("reading {}", path.display()),
        why: format!("{len} bytes do not fit in memory"),
    })?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| Error::TooLarge {
        what: format!("reading {}", path.display()),
        why: format!("cannot allocate {}", show_bytes(len as u128)),
    })?;
    file.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Reads a whole input text file as [`read_file`] does; invalid UTF-8 is an error naming the file.
pub fn read_text(path: &std::path::Path) -> Result<String> {
    String::from_utf8(read_file(path)?).map_err(|_| {
        Error::invalid(
            "input file",
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

/// The cores this process may run on (from the operating system, never from an environment variable).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `requested` worker threads capped at [`THREADS_PER_CORE`] per core and [`MAX_THREADS`], with a warning
/// when capped; 0 stays 0 (all cores).
pub fn cap_threads(requested: usize) -> (usize, Option<String>) {
    let cores = cores();
    let cap = (cores * THREADS_PER_CORE).min(MAX_THREADS);
    if requested > cap {
        (
            cap,
            Some(format!(
                "warning: --threads {requested} capped at {cap} ({THREADS_PER_CORE} per core on {cores} cores, at \
                 most {MAX_THREADS}); results do not depend on the thread count"
            )),
        )
    } else {
        (requested, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2g"), Some(2 << 30));
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("lots"), None);
    }

    #[test]
    fn an_overflowing_size_is_refused_not_wrapped() {
        assert_eq!(bytes_of(&[usize::MAX, usize::MAX, 4]), None);
        assert!(check_memory("x", None).is_err());
        assert!(check_memory("x", bytes_of(&[usize::MAX, 8])).is_err());
        assert!(check_memory("x", Some(1024)).is_ok());
    }

    #[test]
    fn endless_devices_are_not_read() {
        let e = read_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn threads_are_capped_with_a_warning() {
        let (n, warn) = cap_threads(100_000);
        assert!((1..=MAX_THREADS).contains(&n));
        assert!(warn.unwrap().contains("100000"));
        assert_eq!(cap_threads(1), (1, None));
        assert_eq!(cap_threads(0), (0, None));
    }
}
