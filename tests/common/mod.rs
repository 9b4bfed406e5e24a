//! Helpers shared by the command-line tests.

use std::path::PathBuf;
use std::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_neurosplit");

/// A scratch folder for this test process, used as the working directory of every spawned command so that
/// nothing a command writes by default (e.g. `results/`) lands in the source tree.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-test-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Runs `neurosplit ARGS` in the scratch folder; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(scratch())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
