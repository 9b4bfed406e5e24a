//! `neurosplit reproduce` and `neurosplit merge` end to end: kill-and-resume, shards, spec errors.

mod common;

use common::{run, tiny_spec, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use neurosplit::experiment::runner::{read_records, TrialRecord};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-repro-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.matches('\n').count())
        .unwrap_or(0)
}

/// Records sorted by cell and trial, timings removed: what must be identical between runs.
fn canonical(path: &Path) -> Vec<TrialRecord> {
    let mut r: Vec<TrialRecord> = read_records(path, None)
        .unwrap()
        .iter()
        .map(TrialRecord::without_timings)
        .collect();
    r.sort_by(|a, b| (&a.cell, a.trial).cmp(&(&b.cell, b.trial)));
    r
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn killed_run_resumes_without_losing_or_redoing_trials() {
    let dir = tmp("kill");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(24, 40, 40)).unwrap();
    let (full, part) = (dir.join("full"), dir.join("part"));

    // Uninterrupted, on two threads.
    let (code, out, err) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&full),
        "--threads",
        "2",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let reference = canonical(&full.join("trials.jsonl"));
    assert_eq!(reference.len(), 48);

    // Interrupted with SIGKILL once a few trials are in, on one thread.
    let results = part.join("trials.jsonl");
    let mut child = Command::new(BIN)
        .args([
            "reproduce",
            s(&spec),
            "--out",
            s(&part),
            "--threads",
            "1",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while lines(&results) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no results appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = lines(&results);
    assert!(
        (3..48).contains(&kept),
        "the run was not interrupted mid-way ({kept} lines)"
    );
    // Simulate a record torn by the kill in the middle of a write.
    let mut text = std::fs::read_to_string(&results).unwrap();
    text.push_str("{\"spec\":\"tiny\",\"fingerp");
    std::fs::write(&results, text).unwrap();

    let (code, out, err) = run(&["reproduce", s(&spec), "--out", s(&part), "--threads", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{} to run, {kept} already in", 48 - kept)),
        "{out}"
    );
    // Without a terminal, progress is one plain line per trial on stderr.
    assert_eq!(err.matches("ETA").count(), 48 - kept, "{err}");
    assert_eq!(canonical(&results), reference, "resumed results differ");
    assert_eq!(lines(&results), 48, "a trial was run twice or lost");
    let report = std::fs::read_to_string(part.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("({} trials trained)", 48 - kept)),
        "{report}"
    );

    // A third run has nothing left to do, and its report says so instead of a wall time.
    let (code, out, _) = run(&["reproduce", s(&spec), "--out", s(&part), "--quiet"]);
    assert_eq!(code, 0);
    assert!(out.contains("(0 trials run, 48 resumed"), "{out}");
    let report = std::fs::read_to_string(part.join("report.md")).unwrap();
    assert!(
        report.contains("the last run trained no trial")
            && !report.contains("wall time of the last run"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shards_merge_into_the_unsharded_result() {
    let dir = tmp("shard");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(3, 40, 40)).unwrap();
    let (whole, sharded) = (dir.join("whole"), dir.join("sharded"));
    let (code, out, err) = run(&["reproduce", s(&spec), "--out", s(&whole), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut shards = Vec::new();
    for k in 1..=4 {
        let (code, out, err) = run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&sharded),
            "--shard",
            &format!("{k}/4"),
            "--quiet",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        shards.push(sharded.join(format!("trials.shard-{k}-of-4.jsonl")));
    }
    let sizes: Vec<usize> = shards.iter().map(|p| lines(p)).collect();
    assert_eq!(sizes, vec![2, 2, 1, 1], "6 trials dealt round-robin");
    let merged = sharded.join("trials.jsonl");
    let mut args = vec!["merge", "-o", s(&merged)];
    args.extend(shards.iter().map(|p| s(p)));
    args.push(s(&shards[0])); // a file given twice is harmless
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(canonical(&merged), canonical(&whole.join("trials.jsonl")));
    let (code, out, _) = run(&["reproduce", s(&spec), "--out", s(&sharded), "--quiet"]);
    assert_eq!(code, 0);
    assert!(out.contains("(0 trials run, 6 resumed"), "{out}");

    // Results of another spec are refused, by merge and by a resumed run.
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        tiny_spec(24, 40, 40).replace("seed = 3", "seed = 4"),
    )
    .unwrap();
    let (code, _, _) = run(&[
        "reproduce",
        s(&other),
        "--out",
        s(&dir.join("o")),
        "--trials",
        "1",
        "-q",
    ]);
    assert_eq!(code, 0);
    let foreign = dir.join("o").join("trials.jsonl");
    let (code, _, err) = run(&[
        "merge",
        "-o",
        s(&dir.join("m.jsonl")),
        s(&merged),
        s(&foreign),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("different spec"), "{err}");
    let (code, _, err) = run(&["reproduce", s(&other), "--results", s(&merged), "-q"]);
    assert_ne!(code, 0);
    assert!(err.contains("different spec"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A sharded run on a GPU (`--device cuda --shard K/N`) records the CUDA fingerprint; joining its slices
/// (`--device cuda --merge-shards N`) must check them under that same fingerprint. The slices are written here
/// as such a run writes them (records trained on the CPU, under the CUDA fingerprint), so no GPU is needed:
/// with every trial finished, the merging run trains nothing.
#[test]
fn a_cuda_run_merges_its_own_shards() {
    use neurosplit::device::Device;
    use neurosplit::experiment::reproduce;
    use neurosplit::experiment::runner::{self, cells, run_trial, Shard};
    use neurosplit::experiment::spec::Spec;
    let dir = tmp("cuda-shards");
    let spec_path = dir.join("tiny.toml");
    std::fs::write(&spec_path, tiny_spec(3, 20, 20)).unwrap();
    let spec = Spec::load(s(&spec_path)).unwrap();
    let fp = runner::fingerprint(&spec, Device::Cuda(0));
    assert_ne!(fp, runner::fingerprint(&spec, Device::Cpu));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let grid = cells(&spec);
    for k in 1..=2 {
        let shard = Some(Shard { k, n: 2 });
        let (todo, _) = runner::pending(&spec, &grid, shard, &Default::default());
        let text: String = todo
            .iter()
            .map(|&(ci, t)| {
                let mut r = run_trial(&spec, &grid[ci], t, None).unwrap();
                r.fingerprint = fp.clone();
                serde_json::to_string(&r).unwrap() + "\n"
            })
            .collect();
        std::fs::write(out.join(format!("trials.shard-{k}-of-2.jsonl")), text).unwrap();
    }
    let (code, stdout, err) = run(&[
        "reproduce",
        s(&spec_path),
        "--out",
        s(&out),
        "--device",
        "cuda",
        "--merge-shards",
        "2",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("6 trials from 2 slices merged")
            && stdout.contains("(0 trials run, 6 resumed"),
        "{stdout}"
    );
    assert!(out.join("report.md").is_file());
    assert_eq!(canonical(&out.join("trials.jsonl")).len(), 6);
    // The library call alike; the CPU's fingerprint refuses the slices (no CPU run wrote them).
    let again = dir.join("again.jsonl");
    assert_eq!(
        reproduce::merge(&spec, Device::Cuda(1), &out, 2, &again).unwrap(),
        6
    );
    let e = reproduce::merge(&spec, Device::Cpu, &out, 2, &dir.join("cpu.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("different spec"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The library call behind `neurosplit reproduce`: progress comes as events (the plan once, then one event per
/// trial), the report and the JSON are written, and a second run resumes everything.
#[test]
fn the_library_runs_reports_and_resumes_through_events() {
    use neurosplit::experiment::reproduce::{self, Event, Experiment, Overrides, ReproduceOptions};
    use std::sync::Mutex;
    let dir = tmp("library");
    let spec_path = dir.join("tiny.toml");
    std::fs::write(&spec_path, tiny_spec(24, 20, 20)).unwrap();
    let overrides = Overrides {
        trials: Some(3),
        set: vec!["train.lr=0.02".into()],
        ..Overrides::default()
    };
    let exp = Experiment::load(s(&spec_path), &overrides).unwrap();
    assert_eq!(exp.committed.trials, 24);
    assert_eq!((exp.spec.trials, exp.spec.train.lr), (3, 0.02));
    let opts = ReproduceOptions {
        out: Some(dir.join("out")),
        threads: 2,
        json: Some(dir.join("run.json")),
        command: "a test".into(),
        ..ReproduceOptions::default()
    };
    let events = Mutex::new(Vec::new());
    let record = |e: Event<'_>| {
        let text = match e {
            Event::Planned {
                cells,
                todo,
                skipped,
                ..
            } => format!("plan {cells} {todo} {skipped}"),
            Event::Trial {
                done, total, means, ..
            } => format!("trial {done}/{total} {}", means.len()),
            Event::Merged { .. } => "merged".into(),
            Event::Warning(w) => w.to_string(),
        };
        events.lock().unwrap().push(text);
    };
    let rep = reproduce::run(&exp, &opts, record).unwrap();
    rep.check_budget().unwrap();
    let mut seen = events.into_inner().unwrap();
    assert_eq!(seen.remove(0), "plan 2 6 0");
    let mut trials = seen.clone();
    trials.sort();
    assert_eq!(
        trials,
        (1..=6)
            .map(|n| format!("trial {n}/6 3"))
            .collect::<Vec<_>>()
    );
    assert_eq!((rep.ran, rep.skipped, rep.records.len()), (6, 0, 6));
    assert_eq!(rep.rows().len(), 18);
    let report = std::fs::read_to_string(rep.report.as_ref().unwrap()).unwrap();
    assert!(report.contains("Produced by `a test`"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["result"]["trials"].as_array().unwrap().len(), 6);
    assert!(
        rep.text().contains("(6 trials run, 0 resumed"),
        "{}",
        rep.text()
    );

    let again = reproduce::run(&exp, &opts, |e| {
        if let Event::Planned { todo, skipped, .. } = e {
            assert_eq!((todo, skipped), (0, 6));
        }
        assert!(!matches!(e, Event::Trial { .. }));
    })
    .unwrap();
    let strip = |r: &reproduce::Reproduction| -> Vec<TrialRecord> {
        r.records.iter().map(TrialRecord::without_timings).collect()
    };
    assert_eq!(strip(&again), strip(&rep));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_specs_fail_with_clear_messages() {
    let dir = tmp("bad");
    let cases = [
        (
            tiny_spec(24, 40, 40).replace("lr = 1e-2", "lr = 1e-2\nmomentum = 0.9"),
            "unknown field `momentum`",
        ),
        (
            tiny_spec(24, 40, 40).replace("k = 3", "k = 3\nliterals = 12"),
            "unknown field `literals`",
        ),
        (
            tiny_spec(24, 40, 40).replace("kind = \"dnf\"", "kind = \"mnist\""),
            "unknown variant `mnist`",
        ),
        (
            tiny_spec(24, 40, 40).replace("neurons = [4]", "neurons = []"),
            "model.neurons",
        ),
        (
            tiny_spec(24, 40, 40).replace("neurons = [4]", "neurons = [4, 4]"),
            "repeats",
        ),
        (
            tiny_spec(24, 40, 40).replace("alpha = [2]", "alpha = [1]"),
            "alpha >= 2",
        ),
        (
            tiny_spec(24, 40, 40).replace("alpha = [2]", "alpha = [5]"),
            "alpha <= 4",
        ),
        (
            tiny_spec(24, 40, 40).replace("post_epochs = 40", ""),
            "post_epochs",
        ),
        (
            tiny_spec(24, 40, 40).replace("trials = 24", "trials = -1"),
            "trials",
        ),
        (
            tiny_spec(24, 40, 40).replace("\"random\"", "\"magic\""),
            "unknown strategy 'magic'",
        ),
        (
            tiny_spec(24, 40, 40).replace("[model]", "[model]\ndepth = [5]"),
            "use random, gram or two-four for deep networks",
        ),
        (
            tiny_spec(24, 40, 40)
                .replace("[train]", "[extras]\nmetrics = [\"entropy\"]\n\n[train]"),
            "unknown metric 'entropy'",
        ),
        (
            tiny_spec(24, 40, 40).replace("\"random\"", "\"custom\""),
            "not available in this build",
        ),
        (
            tiny_spec(24, 40, 40)
                .replace("\"random\"", "\"two-four\"")
                .replace("alpha = [2]", "alpha = [3]"),
            "needs alpha = 2",
        ),
        (
            tiny_spec(24, 40, 40).replace(
                "[train]",
                "[extras]\nrewiring = { every = 2, fraction = 1.5 }\n\n[train]",
            ),
            "extras.rewiring.fraction",
        ),
        (
            tiny_spec(24, 40, 40).replace("lr = 1e-2", "lr = -1.0"),
            "learning rate",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = run(&["reproduce", s(&path), "--out", s(&dir.join("out")), "-q"]);
        assert_ne!(code, 0, "case {i} succeeded: {out}");
        assert!(!err.contains("panicked"), "case {i} panicked: {err}");
        assert!(
            err.contains(needle),
            "case {i}: message lacks '{needle}': {err}"
        );
    }
    for (args, needle) in [
        (&["reproduce", "nonsense"][..], "unknown experiment"),
        (&["reproduce", "/no/such/spec.toml"][..], "No such file"),
        (&["reproduce", "case-study", "--shard", "5/4"][..], "K/N"),
        (&["reproduce", "deep"][..], "recipe"),
        (
            &[
                "reproduce",
                "embeddings",
                "--strategies",
                "random",
                "--data-dir",
                "/no/such",
            ][..],
            "recipe",
        ),
        (
            &["merge", "-o", "/tmp/x.jsonl", "/no/such/file.jsonl"][..],
            "not a file",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: message lacks '{needle}': {err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_shows_every_builtin_spec_with_an_estimate() {
    let (code, out, err) = run(&["reproduce", "--list"]);
    assert_eq!(code, 0, "{err}");
    for (name, _) in neurosplit::experiment::spec::BUILTIN {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {out}"));
        assert!(
            line.contains(" s ") || line.contains("min") || line.contains(" h "),
            "{line}"
        );
    }
    assert!(
        out.contains("case-study") && out.contains("runs now"),
        "{out}"
    );
}

#[test]
fn curves_and_split_timing_through_the_library() {
    use neurosplit::experiment::runner::{cells, run_trial};
    use neurosplit::experiment::spec::Spec;
    let text = tiny_spec(24, 40, 40)
        .replace("pre_epochs = [40]", "pre_epochs = [10, 30]")
        .replace("post_epochs = 40", "total_epochs = 50\ncurve_every = 10")
        .replace("clauses = [4, 6]", "clauses = [4]");
    let spec = Spec::parse(&text, "curves").unwrap();
    let grid = cells(&spec);
    assert_eq!(grid.len(), 2);
    for (cell, points) in grid.iter().zip([4, 2]) {
        let r = run_trial(&spec, cell, 0, None).unwrap();
        assert_eq!(r.models.len(), 3);
        for m in &r.models {
            let epochs: Vec<usize> = m.curve.iter().map(|p| p.0).collect();
            assert_eq!(epochs, (1..=points).map(|i| 10 * i).collect::<Vec<_>>());
            assert_eq!(m.curve.last().unwrap().1, m.test_acc);
            assert_eq!(m.nnz, r.pre_nnz);
        }
        let again = run_trial(&spec, cell, 0, None).unwrap();
        assert_eq!(again.without_timings(), r.without_timings());
    }
}

/// The case study's results file with `trials` made-up trials (dense 80 %, clause split 97 %, random split
/// 84 %, with a little spread), under the fingerprint of `spec`, so that `reproduce` runs nothing and only
/// writes its report.
fn made_up_case_study(spec: &neurosplit::experiment::spec::Spec, trials: usize) -> String {
    let cell = neurosplit::experiment::runner::cells(spec)[0].key();
    let fp = format!("{:016x}", spec.fingerprint());
    let model = |name: &str, alpha: Option<usize>, acc: f64| {
        serde_json::json!({
            "model": name, "alpha": alpha, "hidden": 8 * alpha.unwrap_or(1), "nnz": 264,
            "test_acc_at_split": 0.5, "test_acc": acc, "train_acc": acc, "seconds": 0.1
        })
    };
    (0..trials)
        .map(|t| {
            let d = 0.01 * t as f64;
            serde_json::json!({
                "spec": spec.name, "fingerprint": fp, "cell": cell, "trial": t, "seed": t,
                "pre_test_acc": 0.8, "pre_nnz": 264, "pre_seconds": 0.1,
                "models": [model("dense", None, 0.80 + d), model("clause", Some(2), 0.97 - d),
                           model("random", Some(2), 0.84 + d)],
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn paper_numbers_only_beside_the_paper_configuration() {
    use neurosplit::experiment::spec::Spec;
    // The committed settings (results made up, so nothing trains): Sec. 3.1's numbers sit beside ours.
    let dir = tmp("paper");
    let committed = Spec::load("case-study").unwrap();
    std::fs::write(dir.join("trials.jsonl"), made_up_case_study(&committed, 5)).unwrap();
    let (code, out, err) = run(&["reproduce", "case-study", "--out", s(&dir), "--quiet"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(0 trials run, 5 resumed"), "{out}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for text in [&out, &report] {
        assert!(
            text.contains("| 78.7 |") && text.contains("| 99.4 |"),
            "{text}"
        );
        assert!(!text.contains("other configuration"), "{text}");
    }
    assert!(report.contains("no overrides"), "{report}");
    assert!(report.starts_with("# case-study (Sec. 3.1)\n"), "{report}");

    // --holm changes no result (the same results resume) and no configuration (the paper's numbers stay);
    // the report names the correction and the override.
    let (code, out, err) = run(&[
        "reproduce",
        "case-study",
        "--out",
        s(&dir),
        "--quiet",
        "--holm",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(0 trials run, 5 resumed"), "{out}");
    assert!(
        out.contains("Holm-adjusted") && out.contains("| 99.4 |"),
        "{out}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("**Holm-adjusted p-values**")
            && report.contains("p (Welch, Holm)")
            && report.contains("`report.correction`: unset -> \"holm\" (changes no configuration)"),
        "{report}"
    );

    // Fewer epochs after the split: a configuration the paper did not run. It trains for real.
    let other = tmp("paper-other");
    let json = other.join("run.json");
    let (code, out, err) = run(&[
        "reproduce",
        "case-study",
        "--post-epochs",
        "10",
        "--out",
        s(&other),
        "--json",
        s(&json),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report = std::fs::read_to_string(other.join("report.md")).unwrap();
    let json = std::fs::read_to_string(&json).unwrap();
    assert!(!json.contains("78.7") && !json.contains("99.4"), "{json}");
    for text in [&out, &report] {
        assert!(
            !text.contains("78.7") && !text.contains("99.4") && !text.contains("88.7"),
            "{text}"
        );
        assert!(text.contains("other configuration"), "{text}");
    }
    assert!(
        out.contains("overrides of the committed spec: train.post_epochs = 10")
            && out.contains("no paper number is shown"),
        "{out}"
    );
    assert!(
        report.starts_with("# case-study (Sec. 3.1), overridden: train.post_epochs = 10\n")
            && report.contains(
                "`train.post_epochs`: 1000 -> 10 (another configuration than the paper's)"
            ),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&other).ok();
}
