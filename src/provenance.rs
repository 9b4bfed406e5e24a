//! Where a result comes from: the neurosplit version and git commit, the instruction set the kernels
//! dispatched to, the OS, architecture and CPU model, the thread count, and the SHA-256 of every data file
//! read. Every results record ([`crate::experiment::runner::TrialRecord`]) and every report carries one, so a
//! number can be traced to the code, the machine and the exact data that produced it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The provenance of a run (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// neurosplit's version (`Cargo.toml`).
    pub version: String,
    /// The git commit the binary was built from, or `unknown` (built outside a git checkout).
    pub commit: String,
    /// The instruction set the kernels dispatched to ([`crate::kernels::Isa::best`]).
    pub isa: String,
    /// Operating system (`linux`, `macos`, ...).
    pub os: String,
    /// CPU architecture (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// CPU model name (`/proc/cpuinfo` on Linux, `sysctl machdep.cpu.brand_string` on macOS).
    pub cpu: String,
    /// Worker threads of the run.
    pub threads: usize,
    /// SHA-256 (hex) of every data file read, by path (empty for generated data).
    #[serde(default)]
    pub data_sha256: BTreeMap<String, String>,
}

/// The git commit this binary was built from (set by `build.rs`), or `unknown`.
pub const COMMIT: &str = env!("NEUROSPLIT_GIT_COMMIT");

impl Provenance {
    /// This process's provenance for a run on `threads` worker threads that reads `data_files` (each is
    /// hashed; an unreadable file is an error).
    pub fn collect(threads: usize, data_files: &[PathBuf]) -> Result<Provenance> {
        let mut data_sha256 = BTreeMap::new();
        for path in data_files {
            data_sha256.insert(path.display().to_string(), sha256_file(path)?);
        }
        Ok(Provenance {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: COMMIT.to_string(),
            isa: format!("{:?}", crate::kernels::Isa::best()).to_lowercase(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpu: cpu_model(),
            threads,
            data_sha256,
        })
    }

    /// One line naming the build and the machine (not the thread count or the data).
    pub fn summary(&self) -> String {
        format!(
            "neurosplit {} ({}), {} kernels, {} on {} {}",
            self.version, self.commit, self.isa, self.cpu, self.os, self.arch
        )
    }

    /// The distinct [`summary`](Self::summary) lines of `records`' provenances with their counts, in first-seen
    /// order; records without provenance count as "not recorded".
    pub fn tally<'a>(
        records: impl IntoIterator<Item = Option<&'a Provenance>>,
    ) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for p in records {
            let line = p.map_or_else(|| "not recorded".to_string(), Provenance::summary);
            match out.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += 1,
                None => out.push((line, 1)),
            }
        }
        out
    }

    /// A markdown list, for reports.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "- neurosplit {} (commit {})\n- kernels: {} instruction set\n- machine: {} on {} {}, {} threads\n",
            self.version, self.commit, self.isa, self.cpu, self.os, self.arch, self.threads
        );
        if self.data_sha256.is_empty() {
            s.push_str("- data: generated (no data files read)\n");
        }
        for (path, hash) in &self.data_sha256 {
            s.push_str(&format!("- data: `{path}` sha256 `{hash}`\n"));
        }
        s
    }
}

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The CPU's model name: `/proc/cpuinfo`'s `model name` on Linux (x86) or its `Hardware`/`CPU part` lines on
/// ARM boards, `sysctl -n machdep.cpu.brand_string` on macOS; `unknown` where neither answers.
pub fn cpu_model() -> String {
    if let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") {
        for key in ["model name", "Hardware", "Processor", "cpu model"] {
            let found = text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
            });
            if let Some(v) = found {
                return v;
            }
        }
    }
    if cfg!(target_os = "macos") {
        if let Ok(out) = std::process::Command::new("sysctl")
            .args(["-n", "machdep.cpu.brand_string"])
            .output()
        {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !v.is_empty() {
                return v;
            }
        }
    }
    "unknown".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let path = std::env::temp_dir().join(format!("neurosplit-sha-{}", std::process::id()));
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_file(&path).ok();
        assert!(sha256_file(&path).is_err());
    }

    #[test]
    fn provenance_names_version_commit_isa_and_machine() {
        let p = Provenance::collect(3, &[]).unwrap();
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert!(
            p.commit == "unknown"
                || (p.commit.len() == 40 && p.commit.chars().all(|c| c.is_ascii_hexdigit())),
            "{}",
            p.commit
        );
        assert!(
            ["scalar", "avx2", "avx512"].contains(&p.isa.as_str()),
            "{}",
            p.isa
        );
        assert_eq!(p.threads, 3);
        assert_eq!(p.os, std::env::consts::OS);
        #[cfg(target_os = "linux")]
        assert_ne!(
            p.cpu, "unknown",
            "Linux CPUs name their model in /proc/cpuinfo"
        );
        let md = p.markdown();
        assert!(md.contains(&p.commit) && md.contains(&p.isa), "{md}");
        // Records written before provenance existed still read.
        let old: Provenance = serde_json::from_str(
            r#"{"version":"0.1.0","commit":"x","isa":"scalar","os":"linux","arch":"x86_64","cpu":"c","threads":1}"#,
        )
        .unwrap();
        assert!(old.data_sha256.is_empty());
    }
}
