//! The lecture's lab: MLP GANs on 1-D and 2-D targets, showing P_G moving onto P_data, and why
//! the Earth Mover's (Wasserstein) distance gives G a signal where the JS-based loss is flat.
//! Everything trains on the GPU with the same kernels as the image GANs; the host reads back
//! losses, a fixed set of generated samples and D on a grid, at log and frame steps only.

use crate::engine::{Dispatch, Engine};
use crate::gan::step::{Adversarial, DHooks, GHooks, Targets};
use crate::gan::{SLOT_FAKE, SLOT_GEN, SLOT_GP, SLOT_REAL};
#[cfg(not(target_arch = "wasm32"))]
use crate::imageout::Canvas;
use crate::kernels::{self, Act, BnConfig, ConvWorkspace};
use crate::nn::{BlockSpec, LayerKind, LinearGeom, Net, NetOptimizer, OptRule};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

mod measures;
// the files and figures of a native run (the browser draws its own: web/)
#[cfg(not(target_arch = "wasm32"))]
mod run;
pub use measures::*;
#[cfg(not(target_arch = "wasm32"))]
pub use run::*;

/// The target distributions are the lab kernel's (kernels::lab, beside lab.wgsl).
pub use crate::kernels::Dist;

/// The lab's objectives are the trainer's (`gan::OBJECTIVES`, one table for both).
pub use crate::gan::{GLoss, GanLoss};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LabOpt {
    /// Adam, betas (0.5, 0.999)
    Adam,
    /// RMSProp, alpha 0.99 (WGAN's choice)
    Rmsprop,
    /// Plain gradient descent: steps proportional to the gradient (vanishing gradients show)
    Sgd,
}

impl LabOpt {
    /// The rate `gangpu lab` uses with this optimizer unless --lr is given (with the objective's
    /// own optimizer: the objective's rate, `gan::Objective::lab`).
    pub fn default_lr(self) -> f64 {
        match self {
            LabOpt::Adam => 1e-3,
            LabOpt::Rmsprop => 5e-4,
            LabOpt::Sgd => 0.05,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabConfig {
    pub dist: Dist,
    pub loss: GanLoss,
    pub g_loss: GLoss,
    pub nz: usize,
    pub hidden: usize,
    pub depth: usize,
    pub batch: usize,
    pub steps: u64,
    pub d_steps: usize,
    pub g_steps: usize,
    /// D (critic) steps before training starts, G frozen: trains D towards the optimum the
    /// lecture's argument assumes.
    pub d_warmup: u64,
    pub optimizer: LabOpt,
    pub lr: f64,
    pub clip: f32,
    /// WGAN-GP's lambda (used with --loss wgan-gp; `LAB_GP_WEIGHT` by default).
    #[serde(default = "lab_gp_weight")]
    pub gp_weight: f32,
    pub seed: u32,
    pub log_every: u64,
    pub frame_every: u64,
    pub eval_samples: usize,
    pub out: PathBuf,
}

/// WGAN-GP's lambda in the lab: Gulrajani et al.'s toy-data code uses 0.1 ("smaller lambda seems
/// to help for toy tasks"); measured on 8gaussians (1000 steps, Adam 1e-3): 8 of 8 modes from
/// step 400 at 0.1, 0 of 8 at 10 (the image default), which 1e-4 did not fix either.
pub const LAB_GP_WEIGHT: f32 = 0.1;

fn lab_gp_weight() -> f32 {
    LAB_GP_WEIGHT
}

impl LabConfig {
    /// Defaults per loss: WGAN with RMSProp (lr 5e-4), 5 critic steps, weights clipped to
    /// [-0.1, 0.1] (the paper's 0.01 and 5e-5 are for image critics with far more weights; these
    /// MLPs need a wider box to learn in a few thousand steps); every other objective with Adam
    /// (lr 1e-3, betas 0.5/0.999) and 1 D step per G step.
    pub fn defaults(dist: Dist, loss: GanLoss) -> LabConfig {
        let d = loss.objective().lab;
        let optimizer = match d.optimizer {
            crate::gan::Optimizer::Adam => LabOpt::Adam,
            crate::gan::Optimizer::Rmsprop => LabOpt::Rmsprop,
        };
        LabConfig {
            dist,
            loss,
            g_loss: GLoss::Nonsaturating,
            nz: 2,
            hidden: 64,
            depth: 2,
            batch: 256,
            steps: d.steps,
            d_steps: d.d_steps,
            g_steps: 1,
            d_warmup: 0,
            optimizer,
            lr: optimizer.default_lr(),
            clip: 0.1,
            gp_weight: LAB_GP_WEIGHT,
            seed: 1,
            log_every: 50,
            frame_every: 100,
            eval_samples: 2048,
            out: PathBuf::from("runs/lab"),
        }
    }

    /// The base of `--compare` (and the page's Compare button): WGAN's steps and critic steps,
    /// plain gradient descent at its rate for both (no adaptive step to hide a vanishing
    /// gradient), BCE's minimax G loss (the lecture's), D trained 500 steps before G moves.
    pub fn compare_defaults(dist: Dist) -> LabConfig {
        let d = LabConfig::defaults(dist, GanLoss::Wgan);
        LabConfig { optimizer: LabOpt::Sgd, lr: LabOpt::Sgd.default_lr(), g_loss: GLoss::Minimax, d_warmup: 500, ..d }
    }

    /// The two runs of a comparison from `base`: the same start, optimizer and steps, only the
    /// objective differs (the critic's G loss is -mean f(fake) whatever `g_loss` says).
    pub fn compare_pair(base: &LabConfig) -> (LabConfig, LabConfig) {
        let bce = LabConfig { loss: GanLoss::Bce, out: base.out.join("bce"), ..base.clone() };
        let wgan = LabConfig { loss: GanLoss::Wgan, g_loss: GLoss::Nonsaturating, out: base.out.join("wgan"), ..base.clone() };
        (bce, wgan)
    }

    pub fn validate(&self) -> Result<()> {
        if self.nz == 0 || self.hidden == 0 || self.depth == 0 {
            bail!("--nz, --hidden and --depth must be positive");
        }
        if self.batch < 2 || self.eval_samples < 2 {
            bail!("--batch and the evaluation sample count must be at least 2");
        }
        if self.d_steps == 0 || self.g_steps == 0 {
            bail!("--d-steps and --g-steps must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be positive, got {}", self.lr);
        }
        if self.g_loss == GLoss::Minimax && self.loss != GanLoss::Bce {
            bail!("--g-loss minimax is the BCE generator loss; it does not combine with --loss {:?}", self.loss);
        }
        if self.loss == GanLoss::Wgan && (self.clip.is_nan() || self.clip <= 0.0) {
            bail!("--clip must be positive for the WGAN critic, got {}", self.clip);
        }
        if !(self.gp_weight > 0.0 && self.gp_weight.is_finite()) {
            bail!("--gp-weight must be positive, got {}", self.gp_weight);
        }
        if self.log_every == 0 || self.frame_every == 0 || self.steps == 0 {
            bail!("--steps, --log-every and --frame-every must be at least 1");
        }
        Ok(())
    }
}

fn mlp(n: usize, din: usize, hidden: usize, depth: usize, dout: usize, act: Act) -> Vec<BlockSpec> {
    let mut v = Vec::new();
    let mut d = din;
    for _ in 0..depth {
        v.push(BlockSpec { layer: LayerKind::Linear(LinearGeom { n, din: d, dout: hidden }), batch_norm: false, act });
        d = hidden;
    }
    v.push(BlockSpec { layer: LayerKind::Linear(LinearGeom { n, din: d, dout }), batch_norm: false, act: Act::Identity });
    v
}

// RNG streams of the lab.
const STREAM_REAL: u32 = 10;
const STREAM_D_NOISE: u32 = 11;
const STREAM_G_NOISE: u32 = 12;
const STREAM_EVAL_NOISE: u32 = 13;
const STREAM_EVAL_REAL: u32 = 14;
const STREAM_INIT_G: u32 = 15;
const STREAM_INIT_D: u32 = 16;
const STREAM_GP: u32 = 17;

/// One row of metrics.jsonl.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabMetrics {
    pub step: u64,
    pub loss_d: f32,
    pub loss_g: f32,
    /// Mean D output on real / fake (probability for BCE, critic value for WGAN).
    pub d_real: f32,
    pub d_fake: f32,
    /// WGAN: the critic's Earth Mover's estimate, mean f(real) - mean f(fake).
    pub critic_estimate: Option<f32>,
    /// 1-D: exact W1 between the generated and real evaluation samples.
    pub w1: Option<f64>,
    /// 2-D: sliced Wasserstein distance (64 directions).
    pub sliced_w: Option<f64>,
    pub modes_covered: Option<usize>,
    pub modes_total: Option<usize>,
    /// JS divergence between histograms of the two sample sets (nats; at most ln 2).
    pub js: f64,
    /// L2 norm of G's gradient at its last step.
    pub g_grad_norm: f64,
    /// WGAN-GP: the penalty at the last critic step and the mean norm of the critic's gradient at
    /// the interpolates (which the penalty pulls towards 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty_gp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm_gp: Option<f64>,
}

/// All GPU state of one lab run.
pub struct Lab {
    pub cfg: LabConfig,
    pub g: Net,
    pub d: Net,
    real_draw: Dispatch,
    d_noise: Dispatch,
    g_noise: Dispatch,
    d_step: Vec<Dispatch>,
    /// WGAN-GP's penalty (its interpolation first, its counter set per D step).
    gp: Vec<Dispatch>,
    g_step: Vec<Dispatch>,
    opt_d: NetOptimizer,
    opt_g: NetOptimizer,
    clip_d: Option<Dispatch>,
    stats: Tensor,
    eval: Vec<Dispatch>,
    eval_fake: Tensor,
    eval_real: Tensor,
    grid_logits: Tensor,
    pub grid_x: Vec<f32>,
    pub grid_n: usize,
    pub d_count: u64,
    pub g_count: u64,
    pub step: u64,
}

fn make_opt(e: &Engine, net: &Net, cfg: &LabConfig, label: &str) -> Result<NetOptimizer> {
    let rule = match cfg.optimizer {
        LabOpt::Adam => {
            let (beta1, beta2) = cfg.loss.objective().lab.betas;
            OptRule::Adam { beta1, beta2, eps: 1e-8 }
        }
        LabOpt::Rmsprop => OptRule::RmsProp { alpha: 0.99, eps: 1e-8 },
        LabOpt::Sgd => OptRule::Sgd,
    };
    NetOptimizer::new(e, net, rule, cfg.lr, label)
}

impl Lab {
    pub fn new(e: &Engine, cfg: LabConfig) -> Result<Lab> {
        cfg.validate()?;
        let (b, dim, nz) = (cfg.batch, cfg.dist.dim(), cfg.nz);
        let bn = BnConfig { eps: 1e-5, momentum: 0.1, act: Act::Identity };
        let g = Net::new(e, mlp(b, nz, cfg.hidden, cfg.depth, dim, Act::Relu), bn, "lab G")?;
        let d = Net::new(e, mlp(b, dim, cfg.hidden, cfg.depth, 1, Act::LeakyRelu(0.2)), bn, "lab D")?;
        g.upload_init(e, cfg.seed, STREAM_INIT_G)?;
        d.upload_init(e, cfg.seed, STREAM_INIT_D)?;
        let ws = ConvWorkspace::new(e, &[])?;
        let z = Tensor::zeros(&e.gpu, &[b, nz], "lab z")?;
        let real = Tensor::zeros(&e.gpu, &[b, dim], "lab real")?;
        let g_acts = g.activations(e, "lab G")?;
        let d_acts = d.activations(e, "lab D")?;
        let stats = Tensor::zeros(&e.gpu, &[8], "lab stats")?;
        let fake = g_acts.out[g_acts.out.len() - 1].clone();
        let d_fake = g_acts.d_out[g_acts.d_out.len() - 1].clone();
        let last = d_acts.out.len() - 1;
        let logits = d_acts.out[last].reshape(&[b])?;
        let dlogits = d_acts.d_out[last].reshape(&[b])?;

        let real_draw = kernels::sample_target(e, &real, cfg.dist.code(), cfg.seed, STREAM_REAL, 0)?;
        let d_noise = kernels::normal(e, &z, cfg.seed, STREAM_D_NOISE, 0)?;
        let g_noise = kernels::normal(e, &z, cfg.seed, STREAM_G_NOISE, 0)?;
        // The trainer's GAN step (train::step), with the objective's terms from the trainer's
        // table into the trainer's stats slots; the lab's G step draws fresh noise for G.
        let targets = Targets::new(e, b)?;
        let adv = Adversarial {
            g: &g,
            d: &d,
            ws: &ws,
            g_acts: &g_acts,
            d_acts: &d_acts,
            g_in: &z,
            real_in: &real,
            fake_in: &fake,
            fake_in_grad: &d_fake,
            logits: &logits,
            dlogits: &dlogits,
            stride: 1,
            terms: cfg.loss.terms(cfg.g_loss),
            targets: &targets,
            stats: &stats,
            momentum: 0.1,
        };
        let d_step = adv.d_step(e, DHooks::default())?;
        let penalty = if cfg.loss.objective().gradient_penalty.is_some() { adv.gradient_penalty(e, cfg.gp_weight, cfg.seed, STREAM_GP)? } else { vec![] };
        let g_step = adv.g_step(e, GHooks { regenerate: Some(g.forward(e, &ws, &z, &g_acts, true, 0.1)?), ..GHooks::default() })?;
        let opt_d = make_opt(e, &d, &cfg, "D")?;
        let opt_g = make_opt(e, &g, &cfg, "G")?;
        let clip_d = if cfg.loss == GanLoss::Wgan { Some(kernels::clip(e, cfg.clip, &d.params.all())?) } else { None };

        // Evaluation: G on a fixed noise set, a fixed real set, D on a grid over the plot range.
        let ne = cfg.eval_samples;
        let g_eval = g.with_batch(ne);
        let g_eval_acts = g_eval.activations(e, "lab G eval")?;
        let z_eval = Tensor::zeros(&e.gpu, &[ne, nz], "lab z eval")?;
        let eval_real = Tensor::zeros(&e.gpu, &[ne, dim], "lab real eval")?;
        let (lo, hi) = cfg.dist.range();
        let grid_n = if dim == 1 { 200 } else { 64 };
        let mut grid_x = Vec::new();
        if dim == 1 {
            for i in 0..grid_n {
                grid_x.push((lo + (hi - lo) * (i as f64 + 0.5) / grid_n as f64) as f32);
            }
        } else {
            for j in 0..grid_n {
                for i in 0..grid_n {
                    let c = |k: usize| (lo + (hi - lo) * (k as f64 + 0.5) / grid_n as f64) as f32;
                    grid_x.push(c(i));
                    grid_x.push(c(j));
                }
            }
        }
        let gp = grid_x.len() / dim;
        let grid = Tensor::from_slice(&e.gpu, &[gp, dim], &grid_x, "lab grid")?;
        let d_grid = d.with_batch(gp);
        let d_grid_acts = d_grid.activations(e, "lab D grid")?;
        let mut eval = vec![
            kernels::normal(e, &z_eval, cfg.seed, STREAM_EVAL_NOISE, 0)?,
            kernels::sample_target(e, &eval_real, cfg.dist.code(), cfg.seed, STREAM_EVAL_REAL, 0)?,
        ];
        eval.extend(g_eval.forward(e, &ws, &z_eval, &g_eval_acts, true, 0.1)?);
        eval.extend(d_grid.forward(e, &ws, &grid, &d_grid_acts, true, 0.1)?);
        let eval_fake = g_eval_acts.out[g_eval_acts.out.len() - 1].clone();
        let grid_logits = d_grid_acts.out[d_grid_acts.out.len() - 1].clone();
        e.gpu.check("building the lab")?;
        Ok(Lab {
            cfg,
            g,
            d,
            real_draw,
            d_noise,
            g_noise,
            d_step,
            gp: penalty,
            g_step,
            opt_d,
            opt_g,
            clip_d,
            stats,
            eval,
            eval_fake,
            eval_real,
            grid_logits,
            grid_x,
            grid_n,
            d_count: 0,
            g_count: 0,
            step: 0,
        })
    }

    /// One iteration: `d_steps` D (critic) steps, then `g_steps` G steps; one submit per step.
    pub fn iterate(&mut self, e: &Engine) -> Result<()> {
        self.d_steps(e, self.cfg.d_steps)?;
        self.g_steps(e)?;
        self.step += 1;
        // Small networks: keep one iteration in flight.
        e.gpu.wait()
    }

    /// D-only steps with G frozen (the warm-up).
    pub fn warm_up(&mut self, e: &Engine) -> Result<()> {
        let mut left = self.cfg.d_warmup;
        while left > 0 {
            let n = left.min(50) as usize;
            self.d_steps(e, n)?;
            e.gpu.wait()?;
            left -= n as u64;
        }
        Ok(())
    }

    fn d_steps(&mut self, e: &Engine, n: usize) -> Result<()> {
        let cfg = self.cfg.clone();
        for _ in 0..n {
            let c = self.d_count as u32;
            let (b, dim, nz) = (cfg.batch as u32, cfg.dist.dim() as u32, cfg.nz as u32);
            self.real_draw
                .set_params(&e.gpu, &kernels::LabParams { len: b, dim, dist: cfg.dist.code(), seed: cfg.seed, stream: STREAM_REAL, counter: c, _p: [0; 2] });
            self.d_noise.set_params(&e.gpu, &kernels::RngParams { len: b * nz, seed: cfg.seed, stream: STREAM_D_NOISE, counter: c, ..Default::default() });
            let opt = self.opt_d.step(&e.gpu);
            // WGAN: the lab clips the critic's weights after each update, so the G step always
            // sees a critic inside the box. (The trainer clips before each critic step, as the
            // original WGAN code; on these small MLPs with their wider box that measured far
            // slower: 0 of 8 Gaussians covered at step 900 and 4 at 1500, against 8 at 900.)
            let mut list: Vec<&Dispatch> = vec![&self.real_draw, &self.d_noise];
            list.extend(self.d_step.iter());
            if let Some(interpolate) = self.gp.first() {
                interpolate.set_params(&e.gpu, &kernels::PenaltyParams { n: b, dim, seed: cfg.seed, stream: STREAM_GP, counter: c, ..Default::default() });
            }
            list.extend(self.gp.iter());
            list.push(opt);
            list.extend(self.clip_d.iter());
            let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("lab D step") });
            e.record(&mut enc, &list);
            e.gpu.queue.submit(Some(enc.finish()));
            self.d_count += 1;
        }
        Ok(())
    }

    fn g_steps(&mut self, e: &Engine) -> Result<()> {
        let cfg = self.cfg.clone();
        for _ in 0..cfg.g_steps {
            let c = self.g_count as u32;
            self.g_noise.set_params(
                &e.gpu,
                &kernels::RngParams { len: (cfg.batch * cfg.nz) as u32, seed: cfg.seed, stream: STREAM_G_NOISE, counter: c, ..Default::default() },
            );
            let opt = self.opt_g.step(&e.gpu);
            let mut list: Vec<&Dispatch> = vec![&self.g_noise];
            list.extend(self.g_step.iter());
            list.push(opt);
            let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("lab G step") });
            e.record(&mut enc, &list);
            e.gpu.queue.submit(Some(enc.finish()));
            self.g_count += 1;
        }
        Ok(())
    }

    /// Evaluates: (generated samples, real samples, D on the grid) for pictures and measures.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(&self, e: &Engine) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        crate::wait::block_on(self.evaluate_async(e))
    }

    /// `evaluate` as a future (the browser's page awaits it).
    pub async fn evaluate_async(&self, e: &Engine) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        e.run(&self.eval.iter().collect::<Vec<_>>())?;
        Ok((self.eval_fake.read_async(&e.gpu).await?, self.eval_real.read_async(&e.gpu).await?, self.grid_logits.read_async(&e.gpu).await?))
    }

    /// Losses, D outputs and measures at the current step.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn metrics(&self, e: &Engine, fake: &[f32], real: &[f32]) -> Result<LabMetrics> {
        crate::wait::block_on(self.metrics_async(e, fake, real))
    }

    /// `metrics` as a future (the browser's page awaits it).
    pub async fn metrics_async(&self, e: &Engine, fake: &[f32], real: &[f32]) -> Result<LabMetrics> {
        let s = self.stats.read_async(&e.gpu).await?;
        let grads = self.g.grads.all().read_async(&e.gpu).await?;
        let g_grad_norm = grads.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let dim = self.cfg.dist.dim();
        let (lo, hi) = self.cfg.dist.range();
        let (w1, sliced_w) = if dim == 1 { (Some(wasserstein_1d(fake, real)), None) } else { (None, Some(sliced_wasserstein(fake, real, 64))) };
        let (modes_covered, modes_total) = match (dim, self.cfg.dist.modes()) {
            (2, Some((m, std))) => (Some(modes_covered(fake, &m, std)), Some(m.len())),
            _ => (None, None),
        };
        let objective = self.cfg.loss.objective();
        Ok(LabMetrics {
            step: self.step,
            loss_d: s[SLOT_REAL] + s[SLOT_FAKE],
            loss_g: s[SLOT_GEN],
            d_real: s[SLOT_REAL + 1],
            d_fake: s[SLOT_FAKE + 1],
            critic_estimate: objective.logs_critic_estimate.then(|| crate::gan::critic_estimate(s[SLOT_REAL + 1], s[SLOT_FAKE + 1])),
            w1,
            sliced_w,
            modes_covered,
            modes_total,
            js: js_histograms(fake, real, dim, lo, hi),
            g_grad_norm,
            penalty_gp: objective.gradient_penalty.map(|_| s[SLOT_GP] as f64),
            grad_norm_gp: objective.gradient_penalty.map(|_| s[SLOT_GP + 1] as f64),
        })
    }

    /// The run's picture at this step: histogram + D curve (1-D) or heat map + scatter (2-D).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn frame(&self, fake: &[f32], real: &[f32], grid: &[f32], title: &str) -> Result<Canvas> {
        let (lo, hi) = self.cfg.dist.range();
        // D's output as a probability for the sigmoid objectives; raw otherwise
        let prob = self.cfg.loss.objective().probabilities;
        let curve: Vec<f32> = if prob { grid.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect() } else { grid.to_vec() };
        if self.cfg.dist.dim() == 1 {
            crate::charts::lab::histogram_frame(title, real, fake, &self.grid_x, &curve, prob, lo, hi)
        } else {
            let show = 600.min(fake.len() / 2) * 2;
            crate::charts::lab::scatter_frame(title, &real[..show.min(real.len())], &fake[..show], &curve, self.grid_n, prob, lo, hi)
        }
    }
}
