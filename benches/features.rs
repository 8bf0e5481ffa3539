//! What each training feature costs per iteration: dcgan28 at the default widths, batch 64, one D
//! step per iteration, each feature against the same run without it (the moving average of G,
//! DiffAugment at p = 1 and with ADA, R1 every 16 D steps, WGAN-GP's penalty), and the
//! augmentation kernels alone. The runs are timed in interleaved rounds (A, B, C, ..., A, B, C,
//! ...) and the median round is reported, so drift on a shared machine hits every run alike.
//! Run: `cargo bench --bench features` (GANGPU_BENCH_ROUNDS=5 times more rounds,
//! GANGPU_BENCH_ITERS=4 iterations per round; GANGPU_BENCH_QUICK=1: one round of one iteration).

use anyhow::Result;
use gangpu::data;
use gangpu::gan::augment::AugmentP;
use gangpu::gan::{DNorm, GanLoss, Optimizer};
use gangpu::kernels::{self, Augmentation};
use gangpu::models::ModelConfig;
use gangpu::train::{Gan, TrainConfig};
use gangpu::{Engine, Tensor};
use std::time::Instant;

const ALL: [Augmentation; 3] = [Augmentation::Color, Augmentation::Translation, Augmentation::Cutout];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let quick = std::env::var("GANGPU_BENCH_QUICK").is_ok();
    let rounds = if quick { 1 } else { env_usize("GANGPU_BENCH_ROUNDS", 3) };
    let iters = if quick { 1 } else { env_usize("GANGPU_BENCH_ITERS", 6) };
    let e = Engine::open_default()?;
    println!("adapter: {}\nkernels: {}", e.gpu.adapter, e.describe());
    let ds = data::load("mnist", 28, 1)?;
    let base = TrainConfig::new(ModelConfig::default(), "mnist", 1_000_000, std::env::temp_dir());
    let no_bn = TrainConfig { d_norm: Some(DNorm::None), ..base.clone() };
    // WGAN with one critic step, so the penalty's cost is per D step
    let wgan =
        TrainConfig { loss: GanLoss::Wgan, optimizer: Optimizer::Adam, critic_steps: 1, wgan_schedule: false, d_norm: Some(DNorm::None), ..base.clone() };
    let runs: Vec<(&str, &str, TrainConfig)> = vec![
        ("bce", "", base.clone()),
        ("bce --ema-kimg 10", "bce", TrainConfig { ema_kimg: 10.0, ..base.clone() }),
        ("bce --augment color,translation,cutout", "bce", TrainConfig { augment: ALL.to_vec(), ..base.clone() }),
        ("bce --augment ... --augment-p auto", "bce", TrainConfig { augment: ALL.to_vec(), augment_p: Some(AugmentP::Auto), ..base.clone() }),
        ("bce --d-norm none", "", no_bn.clone()),
        ("bce --d-norm none --r1-gamma 1", "bce --d-norm none", TrainConfig { r1_gamma: Some(1.0), ..no_bn.clone() }),
        ("wgan (1 critic step, no clipping, --d-norm none)", "", TrainConfig { clip: None, ..wgan.clone() }),
        (
            "wgan-gp (1 critic step)",
            "wgan (1 critic step, no clipping, --d-norm none)",
            TrainConfig { loss: GanLoss::WganGp, clip: None, gp_weight: Some(10.0), ..wgan },
        ),
    ];
    let mut gans = vec![];
    for (name, _, cfg) in &runs {
        let mut g = Gan::new(&e, cfg.clone(), Some(&ds)).map_err(|err| err.context(name.to_string()))?;
        g.submit_iteration(&e, None);
        e.gpu.wait()?;
        gans.push(g);
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; runs.len()];
    for _ in 0..rounds {
        for (k, g) in gans.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..iters {
                g.submit_iteration(&e, None);
            }
            e.gpu.wait()?;
            times[k].push(t.elapsed().as_secs_f64() * 1e3 / iters as f64);
        }
    }
    println!("dcgan28, batch 64, {rounds} rounds of {iters} iterations, median round:");
    println!("{:<52} {:>10} {:>12}", "run", "ms/iter", "vs");
    let med: Vec<f64> = times.into_iter().map(median).collect();
    for (k, (name, against, _)) in runs.iter().enumerate() {
        let vs = runs.iter().position(|(n, ..)| n == against).map(|j| format!("{:+.0} ms", med[k] - med[j])).unwrap_or_default();
        println!("{name:<52} {:>10.1} {vs:>12}", med[k]);
    }

    // the augmentation kernels of one iteration alone: three forward passes and one backward
    let shape = [64, 1, 28, 28];
    let x = Tensor::zeros(&e.gpu, &shape, "x")?;
    let out = Tensor::zeros(&e.gpu, &shape, "out")?;
    let draws = Tensor::zeros(&e.gpu, &[64, kernels::AUG_VALUES], "draws")?;
    let ada = Tensor::from_slice(&e.gpu, &[kernels::ADA_VALUES], &[1.0, 0.0, 0.0, 0.0], "ada")?;
    let (fwd, _) = kernels::augment(&e, &x, &out, &draws, &ada, Augmentation::policy(&ALL), 1, 1, false)?;
    let bwd = kernels::augment_backward(&e, &out, &x, &draws)?;
    let list = [&fwd, &fwd, &fwd, &bwd];
    e.run(&list)?;
    let reps = if quick { 1 } else { 20 };
    let t = Instant::now();
    for _ in 0..reps {
        e.run(&list)?;
    }
    println!("augmentation kernels of one iteration (3 forward + 1 backward, 64 x 1 x 28 x 28): {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
    Ok(())
}
