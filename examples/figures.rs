//! Draws the paper's curve and heatmap figures (Fig. 3a/b/c, Fig. 6b style) from a small, fast sweep of the
//! case study, through the public plotting API. Run with
//! `cargo run --release --example figures -- OUT_DIR` (default `figures/`).
//!
//! The sweep is deliberately short (few epochs, 3 trials, smaller data sets than the paper), so the numbers
//! are a demonstration of the pictures, not a reproduction of the paper's.

use std::path::PathBuf;

use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::experiment::case_study::{run_trial, trial_data, CaseStudyConfig};
use neurosplit::nn::{accuracy, Mlp, TrainConfig, Trainer};
use neurosplit::plot::{
    draw_heatmaps, draw_line_chart, ColorMap, Corner, Heatmap, LineChart, Series,
};
use neurosplit::rng::{purpose, stream};
use neurosplit::stats::{mean, sem};

const TRIALS: usize = 3;

fn config(clauses: usize, neurons: usize) -> CaseStudyConfig {
    CaseStudyConfig {
        clauses,
        neurons,
        alpha: 2,
        pre_epochs: 200,
        post_epochs: 200,
        trials: TRIALS,
        n_train: 4_000,
        n_test: 1_000,
        ..CaseStudyConfig::default()
    }
}

/// Relative improvement (clause, random) of every trial of one configuration.
fn improvements(cfg: &CaseStudyConfig) -> neurosplit::Result<[Vec<f64>; 2]> {
    let mut out = [Vec::new(), Vec::new()];
    for t in 0..cfg.trials {
        let r = run_trial(cfg, t)?;
        let dense = r.models[0].test_acc;
        out[0].push(r.models[1].test_acc / dense);
        out[1].push(r.models[2].test_acc / dense);
    }
    Ok(out)
}

fn series(label: &str, x: &[f64], samples: &[Vec<f64>]) -> Series {
    Series {
        label: label.into(),
        x: x.to_vec(),
        mean: samples.iter().map(|s| mean(s)).collect(),
        sem: Some(samples.iter().map(|s| sem(s)).collect()),
    }
}

fn main() -> neurosplit::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "figures".into()));
    std::fs::create_dir_all(&out).map_err(|e| neurosplit::Error::io(&out, e))?;
    let neurons = [4usize, 8, 12, 16];
    let clauses = [4usize, 8, 16];

    // Fig. 3c: relative improvement over clauses x neurons (clause split); its rows give Fig. 3a and 3b.
    let mut grid = vec![[Vec::new(), Vec::new()]; clauses.len() * neurons.len()];
    for (ci, &c) in clauses.iter().enumerate() {
        for (ni, &n) in neurons.iter().enumerate() {
            grid[ci * neurons.len() + ni] = improvements(&config(c, n))?;
            eprintln!("clauses {c:>2}, neurons {n:>2} done");
        }
    }
    let cell = |ci: usize, ni: usize, s: usize| &grid[ci * neurons.len() + ni][s];
    let x: Vec<f64> = neurons.iter().map(|&n| n as f64).collect();
    let c8 = clauses.iter().position(|&c| c == 8).unwrap_or(0);
    let vs_neurons = LineChart {
        title: format!("Relative improvement vs neurons (8 clauses, alpha = 2, {TRIALS} trials)"),
        x_label: "neurons before expansion".into(),
        y_label: "relative improvement (acc FPE / acc dense)".into(),
        series: vec![
            series(
                "clause split",
                &x,
                &(0..neurons.len())
                    .map(|ni| cell(c8, ni, 0).clone())
                    .collect::<Vec<_>>(),
            ),
            series(
                "random split",
                &x,
                &(0..neurons.len())
                    .map(|ni| cell(c8, ni, 1).clone())
                    .collect::<Vec<_>>(),
            ),
        ],
        reference: Some(1.0),
        markers: true,
        legend: Corner::UpperRight,
    };
    draw_line_chart(&out.join("fig3a.png"), &vs_neurons, (900, 600))?;
    draw_line_chart(&out.join("fig3a.svg"), &vs_neurons, (900, 600))?;

    let n8 = neurons.iter().position(|&n| n == 8).unwrap_or(0);
    let xc: Vec<f64> = clauses.iter().map(|&c| c as f64).collect();
    let vs_clauses = LineChart {
        title: format!("Relative improvement vs clauses (8 neurons, alpha = 2, {TRIALS} trials)"),
        x_label: "clauses".into(),
        y_label: "relative improvement (acc FPE / acc dense)".into(),
        series: vec![
            series(
                "clause split",
                &xc,
                &(0..clauses.len())
                    .map(|ci| cell(ci, n8, 0).clone())
                    .collect::<Vec<_>>(),
            ),
            series(
                "random split",
                &xc,
                &(0..clauses.len())
                    .map(|ci| cell(ci, n8, 1).clone())
                    .collect::<Vec<_>>(),
            ),
        ],
        reference: Some(1.0),
        markers: true,
        legend: Corner::UpperRight,
    };
    draw_line_chart(&out.join("fig3b.png"), &vs_clauses, (900, 600))?;

    let panels: Vec<Heatmap> = ["clause", "random"]
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let values = (0..clauses.len())
                .flat_map(|ci| (0..neurons.len()).map(move |ni| (ci, ni)))
                .map(|(ci, ni)| mean(cell(ci, ni, s)))
                .collect();
            let mut h = Heatmap::new(
                format!("{name} split"),
                clauses.len(),
                neurons.len(),
                values,
            );
            h.colormap = ColorMap::Sequential;
            h.annotate = Some(3);
            h.row_labels = Some(clauses.iter().map(|c| c.to_string()).collect());
            h.col_labels = Some(neurons.iter().map(|n| n.to_string()).collect());
            h.x_label = "neurons before expansion".into();
            h.y_label = "clauses".into();
            h
        })
        .collect();
    draw_heatmaps(
        &out.join("fig3c.png"),
        &format!("Relative improvement, mean of {TRIALS} trials (alpha = 2)"),
        &panels,
        (560, 420),
    )?;

    // Fig. 6b style: test accuracy during training, dense vs random-split FPE after the dense phase.
    let cfg = config(8, 8);
    let every = 10;
    let (pre, post) = (cfg.pre_epochs, cfg.post_epochs);
    let mut dense_curves = Vec::new();
    let mut fpe_curves = Vec::new();
    for t in 0..TRIALS {
        let (train, test) = trial_data(&cfg, t)?;
        let tt = t as u64;
        let mut dense = Mlp::new(
            &[train.d, cfg.neurons, 1],
            train.task,
            &mut stream(cfg.seed, &[tt, purpose::INIT]),
        )?;
        let phase = TrainConfig {
            epochs: 1,
            ..cfg.train
        };
        let mut trainer = Trainer::new(&dense, phase)?;
        let mut shuffle = stream(cfg.seed, &[tt, purpose::SHUFFLE_PRE]);
        let mut curve = Vec::new();
        for e in 0..pre {
            trainer.epoch(&mut dense, &train, &mut shuffle);
            if (e + 1) % every == 0 {
                curve.push(accuracy(&dense, &test));
            }
        }
        let fcfg = FpeConfig {
            alpha: 2,
            strategy: Strategy::Random,
            layer: 0,
        };
        let (mut wide, _) = expand(
            &dense,
            &fcfg,
            None,
            &mut stream(cfg.seed, &[tt, purpose::SPLIT]),
        )?;
        let mut fpe_curve = Vec::new();
        for (model, c) in [(&mut dense, &mut curve), (&mut wide, &mut fpe_curve)] {
            let mut trainer = Trainer::new(model, phase)?;
            let mut shuffle = stream(cfg.seed, &[tt, purpose::SHUFFLE_POST]);
            for e in 0..post {
                trainer.epoch(model, &train, &mut shuffle);
                if (e + 1) % every == 0 {
                    c.push(accuracy(model, &test));
                }
            }
        }
        dense_curves.push(curve);
        fpe_curves.push(fpe_curve);
    }
    let by_point = |curves: &[Vec<f64>]| -> Vec<Vec<f64>> {
        (0..curves[0].len())
            .map(|i| curves.iter().map(|c| c[i]).collect())
            .collect()
    };
    let xd: Vec<f64> = (1..=(pre + post) / every)
        .map(|i| (i * every) as f64)
        .collect();
    let xf: Vec<f64> = (1..=post / every)
        .map(|i| (pre + i * every) as f64)
        .collect();
    let curves = LineChart {
        title: format!("Test accuracy while training (8 clauses, 8 neurons, {TRIALS} trials)"),
        x_label: "epoch".into(),
        y_label: "test accuracy".into(),
        series: vec![
            series("dense (8 neurons)", &xd, &by_point(&dense_curves)),
            series("FPE random split (16 neurons)", &xf, &by_point(&fpe_curves)),
        ],
        reference: None,
        markers: false,
        legend: Corner::LowerRight,
    };
    draw_line_chart(&out.join("fig6b.png"), &curves, (900, 600))?;
    println!("figures written to {}", out.display());
    Ok(())
}
