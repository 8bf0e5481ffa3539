//! `gangpu lab`: the lecture's 1-D and 2-D GANs from the command line.

use super::{stopped, DeviceArgs, Exit};
use crate::cli_values::*;
use crate::gan::{GLoss, GanLoss};
use crate::run_folder;
use crate::Engine;
use anyhow::Result;
use std::path::PathBuf;

/// The flags of `gangpu lab` that are not a `LabConfig` setting: how it runs and where.
pub const INVOCATION: &[&str] = &["overwrite", "compare", "backend", "adapter", "kernels"];

/// `gangpu lab`'s flags: each sets the `LabConfig` field of its name, except the ones in
/// `INVOCATION` (tests/cli.rs checks that every flag is one or the other).
#[derive(clap::Args)]
pub struct LabArgs {
    /// Target distribution (1-D: gaussian, mixture, disjoint; 2-D: 8gaussians, 25gaussians, ring, swiss-roll)
    #[arg(long, value_enum, default_value_t = crate::lab::Dist::Mixture)]
    pub dist: crate::lab::Dist,
    /// Objective, as in `gangpu train`: bce, lsgan, hinge, bgan (Adam), wgan (critic without
    /// sigmoid, weight clipping, RMSProp, 5 critic steps) or wgan-gp (gradient penalty, Adam (0, 0.9), 5 critic steps)
    #[arg(long, value_enum, default_value_t = crate::train::GanLoss::Bce)]
    pub loss: GanLoss,
    /// Generator loss with --loss bce [default: nonsaturating; minimax with --compare]
    #[arg(long, value_enum)]
    pub g_loss: Option<GLoss>,
    /// Noise dimension
    #[arg(long, default_value_t = 2, allow_negative_numbers = true, value_parser = count_usize)]
    pub nz: usize,
    /// Hidden units per layer (G and D)
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    pub hidden: usize,
    /// Hidden layers (G and D)
    #[arg(long, default_value_t = 2, allow_negative_numbers = true, value_parser = count_usize)]
    pub depth: usize,
    /// Batch size
    #[arg(long, default_value_t = 256, allow_negative_numbers = true, value_parser = count_usize)]
    pub batch: usize,
    /// Iterations [default: 2000 for bce, 1000 for wgan]
    #[arg(long, allow_negative_numbers = true, value_parser = count_u64)]
    pub steps: Option<u64>,
    /// D (critic) steps per iteration [default: 1 for bce, 5 for wgan]
    #[arg(long, allow_negative_numbers = true, value_parser = count_usize)]
    pub d_steps: Option<usize>,
    /// G steps per iteration
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count_usize)]
    pub g_steps: usize,
    /// D (critic) steps with G frozen before training [default: 0; 500 with --compare]
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64)]
    pub d_warmup: Option<u64>,
    /// Optimizer [default: adam for bce, rmsprop for wgan, sgd for both with --compare]
    #[arg(long, value_enum)]
    pub optimizer: Option<crate::lab::LabOpt>,
    /// Learning rate [default: 1e-3 Adam for bce, 5e-4 RMSProp for wgan, 0.05 SGD with --compare]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f64)]
    pub lr: Option<f64>,
    /// WGAN weight clipping bound
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true, value_parser = positive_f32)]
    pub clip: f32,
    /// WGAN-GP's lambda, with --loss wgan-gp [default: 0.1, the paper's for toy data]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f32)]
    pub gp_weight: Option<f32>,
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = seed_u32)]
    pub seed: u32,
    /// Log measures every N iterations
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = count_u64)]
    pub log_every: u64,
    /// Picture every N iterations (frames/ and run.gif)
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = count_u64)]
    pub frame_every: u64,
    /// Run folder
    #[arg(long, default_value = "runs/lab")]
    pub out: PathBuf,
    /// Start afresh in an --out that holds an earlier lab run (its files are deleted first)
    #[arg(long)]
    pub overwrite: bool,
    /// Train BCE and WGAN from the same start on --dist (default: disjoint) and write compare.png
    #[arg(long)]
    pub compare: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `gangpu lab`.
pub fn run(a: LabArgs) -> Result<Exit> {
    use crate::lab::{self, Dist, LabConfig};
    let dist = if a.compare && a.dist == Dist::Mixture && !std::env::args().any(|x| x.starts_with("--dist")) { Dist::Disjoint } else { a.dist };
    let d = if a.compare { LabConfig::compare_defaults(dist) } else { LabConfig::defaults(dist, a.loss) };
    let optimizer = a.optimizer.unwrap_or(d.optimizer);
    let cfg = LabConfig {
        dist,
        loss: a.loss,
        g_loss: a.g_loss.unwrap_or(d.g_loss),
        nz: a.nz,
        hidden: a.hidden,
        depth: a.depth,
        batch: a.batch,
        steps: a.steps.unwrap_or(d.steps),
        d_steps: a.d_steps.unwrap_or(d.d_steps),
        g_steps: a.g_steps,
        d_warmup: a.d_warmup.unwrap_or(d.d_warmup),
        optimizer,
        lr: a.lr.unwrap_or(optimizer.default_lr()),
        clip: a.clip,
        gp_weight: a.gp_weight.unwrap_or(d.gp_weight),
        seed: a.seed,
        log_every: a.log_every,
        frame_every: a.frame_every,
        eval_samples: d.eval_samples,
        out: a.out.clone(),
    };
    cfg.validate()?;
    let _lock = run_folder::RunLock::acquire(&a.out, "lab")?;
    run_folder::claim_new(&a.out, run_folder::LAB_FILES, a.overwrite, "lab")?;
    crate::signals::install()?;
    let e = Engine::open(&a.device.opts())?;
    eprintln!("adapter: {}", e.gpu.adapter);
    let result = if a.compare {
        lab::compare(&e, cfg, false).map(|s| {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            eprintln!("wrote {}", a.out.join("compare.png").display());
        })
    } else {
        lab::run(&e, cfg, false).map(|r| eprintln!("wrote {} (frames/, run.gif, measures.png, metrics.jsonl) up to step {}", a.out.display(), r.steps_done))
    };
    if let Some(sig) = crate::signals::received() {
        // the lab has no checkpoint: what it wrote up to the stop stays in its folder
        eprintln!(
            "stopped by {}: the lab's figures and metrics up to the stop are in {}; a lab run starts afresh (--overwrite)",
            crate::signals::name(sig),
            a.out.display()
        );
        return Ok(stopped());
    }
    result.map(|_| Exit::Done)
}
