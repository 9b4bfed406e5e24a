//! Build DNF data, train a dense MLP, expand it with FPE, and retrain at the same non-zero budget, through the
//! public API. Run with `cargo run --release --example quickstart`.

use neurosplit::data::Dnf;
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::nn::{accuracy, Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;

fn main() -> neurosplit::Result<()> {
    let seed = 42;
    // 8 clauses of 4 literals (m = 32): the paper's case-study formula.
    let dnf = Dnf::with_clauses(8, 4)?;
    let train = dnf.generate(10_000, &mut stream(seed, &[1]))?;
    let test = dnf.generate(2_000, &mut stream(seed, &[2]))?;

    // A dense MLP with 8 hidden neurons: fewer neurons than features, so clauses must share neurons.
    let mut dense = Mlp::new(&[32, 8, 1], train.task, &mut stream(seed, &[3]))?;
    let cfg = TrainConfig {
        epochs: 300,
        ..TrainConfig::default()
    };
    Trainer::new(&dense, cfg)?.fit(&mut dense, &train, &mut stream(seed, &[4]), |_, _| {});
    println!(
        "dense  h=8 : {} non-zero weights, test accuracy {:.1}%",
        dense.nnz(),
        100.0 * accuracy(&dense, &test)
    );

    for strategy in [Strategy::Clause, Strategy::Random] {
        let fpe = FpeConfig {
            alpha: 2,
            strategy,
            layer: 0,
        };
        let (mut wide, report) = expand(
            &dense,
            &fpe,
            train.groups.as_deref(),
            &mut stream(seed, &[5]),
        )?;
        // Fresh Adam state, same budget: masked weights stay exactly zero while training.
        Trainer::new(&wide, cfg)?.fit(&mut wide, &train, &mut stream(seed, &[6]), |_, _| {});
        println!(
            "{strategy:<6} h={}: {} non-zero weights ({} pruned after the split), test accuracy {:.1}%",
            report.width_after,
            wide.nnz(),
            report.pruned_in + report.pruned_out,
            100.0 * accuracy(&wide, &test)
        );
    }
    Ok(())
}
