//! The lecture's lab: MLP GANs on 1-D and 2-D targets, showing P_G moving onto P_data, and why
//! the Earth Mover's (Wasserstein) distance gives G a signal where the JS-based loss is flat.
//! Everything trains on the GPU with the same kernels as the image GANs; the host reads back
//! losses, a fixed set of generated samples and D on a grid, at log and frame steps only.

use crate::engine::{Dispatch, Engine};
use crate::imageout::Canvas;
use crate::kernels::{self, Act, BnConfig, ConvWorkspace, LossKind};
use crate::nn::{BlockSpec, LayerKind, LinearGeom, Net, NetOptimizer, OptRule};
use crate::plot;
use crate::tensor::Tensor;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Target distributions (see shaders/lab.wgsl for their exact definitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dist {
    /// 1-D N(2, 0.5^2)
    Gaussian,
    /// 1-D 0.5 N(-2, 0.4^2) + 0.5 N(2, 0.4^2)
    Mixture,
    /// 1-D U[3, 4]: no overlap with G's starting distribution near 0 (the lecture's case)
    Disjoint,
    /// 2-D: 8 Gaussians on a circle of radius 2
    #[value(name = "8gaussians")]
    #[serde(rename = "8gaussians")]
    EightGaussians,
    /// 2-D: 25 Gaussians on a 5x5 grid
    #[value(name = "25gaussians")]
    #[serde(rename = "25gaussians")]
    TwentyFiveGaussians,
    /// 2-D: a ring of radius 2
    Ring,
    /// 2-D: a swiss roll
    SwissRoll,
}

impl Dist {
    pub fn code(self) -> u32 {
        self as u32
    }
    pub fn dim(self) -> usize {
        match self {
            Dist::Gaussian | Dist::Mixture | Dist::Disjoint => 1,
            _ => 2,
        }
    }
    /// Plot range (both axes in 2-D).
    pub fn range(self) -> (f64, f64) {
        match self {
            Dist::Gaussian | Dist::Mixture => (-5.0, 5.0),
            Dist::Disjoint => (-2.0, 6.0),
            Dist::TwentyFiveGaussians => (-5.5, 5.5),
            _ => (-3.5, 3.5),
        }
    }
    /// Mode centres and their standard deviation, for mixtures.
    pub fn modes(self) -> Option<(Vec<[f64; 2]>, f64)> {
        match self {
            Dist::EightGaussians => Some((
                (0..8).map(|k| {
                    let a = std::f64::consts::TAU * k as f64 / 8.0;
                    [2.0 * a.cos(), 2.0 * a.sin()]
                })
                .collect(),
                0.1,
            )),
            Dist::TwentyFiveGaussians => Some(((0..25).map(|k| [(k % 5) as f64 * 2.0 - 4.0, (k / 5) as f64 * 2.0 - 4.0]).collect(), 0.1)),
            Dist::Mixture => Some((vec![[-2.0, 0.0], [2.0, 0.0]], 0.4)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LabLoss {
    /// Binary cross-entropy (the original GAN; JS-based). Adam.
    Bce,
    /// Wasserstein: critic without sigmoid, weight clipping, RMSProp, several critic steps.
    Wgan,
}

pub use crate::train::GLoss;

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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabConfig {
    pub dist: Dist,
    pub loss: LabLoss,
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
    pub seed: u32,
    pub log_every: u64,
    pub frame_every: u64,
    pub eval_samples: usize,
    pub out: PathBuf,
}

impl LabConfig {
    /// Defaults per loss: BCE with Adam (lr 1e-3, betas 0.5/0.999), 1 D step per G step; WGAN with
    /// RMSProp (lr 5e-4), 5 critic steps, weights clipped to [-0.1, 0.1] (the paper's 0.01 and
    /// 5e-5 are for image critics with far more weights; these MLPs need a wider box to learn in
    /// a few thousand steps).
    pub fn defaults(dist: Dist, loss: LabLoss) -> LabConfig {
        LabConfig {
            dist,
            loss,
            g_loss: GLoss::Nonsaturating,
            nz: 2,
            hidden: 64,
            depth: 2,
            batch: 256,
            steps: match loss {
                LabLoss::Bce => 2000,
                LabLoss::Wgan => 1000,
            },
            d_steps: match loss {
                LabLoss::Bce => 1,
                LabLoss::Wgan => 5,
            },
            g_steps: 1,
            d_warmup: 0,
            optimizer: match loss {
                LabLoss::Bce => LabOpt::Adam,
                LabLoss::Wgan => LabOpt::Rmsprop,
            },
            lr: match loss {
                LabLoss::Bce => 1e-3,
                LabLoss::Wgan => 5e-4,
            },
            clip: 0.1,
            seed: 1,
            log_every: 50,
            frame_every: 100,
            eval_samples: 2048,
            out: PathBuf::from("runs/lab"),
        }
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
        if self.loss == LabLoss::Wgan && !(self.clip > 0.0) {
            bail!("--clip must be positive for the WGAN critic, got {}", self.clip);
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
        LabOpt::Adam => OptRule::Adam { beta1: 0.5, beta2: 0.999, eps: 1e-8 },
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
        let ones = Tensor::from_slice(&e.gpu, &[b], &vec![1.0; b], "ones")?;
        let zeros = Tensor::zeros(&e.gpu, &[b], "zeros")?;
        let fake = g_acts.out[g_acts.out.len() - 1].clone();
        let d_fake = g_acts.d_out[g_acts.d_out.len() - 1].clone();
        let last = d_acts.out.len() - 1;
        let logits = d_acts.out[last].reshape(&[b])?;
        let dlogits = d_acts.d_out[last].reshape(&[b])?;

        let real_draw = kernels::sample_target(e, &real, cfg.dist.code(), cfg.seed, STREAM_REAL, 0)?;
        let d_noise = kernels::normal(e, &z, cfg.seed, STREAM_D_NOISE, 0)?;
        let g_noise = kernels::normal(e, &z, cfg.seed, STREAM_G_NOISE, 0)?;
        // D (critic) step: real then fake, gradients summed.
        let (kind, real_t, fake_t, real_scale, fake_scale) = match cfg.loss {
            LabLoss::Bce => (LossKind::BceLogits, &ones, &zeros, 1.0, 1.0),
            // critic loss mean f(fake) - mean f(real)
            LabLoss::Wgan => (LossKind::Linear, &ones, &ones, -1.0, 1.0),
        };
        let mut d_step = g.forward(e, &ws, &z, &g_acts, true, 0.1)?;
        d_step.extend(d.forward(e, &ws, &real, &d_acts, true, 0.1)?);
        d_step.push(kernels::loss(e, kind, real_scale, &logits, real_t, &dlogits, &stats, 0)?);
        d_step.extend(d.backward(e, &ws, &real, &d_acts, None, true, false)?);
        d_step.extend(d.forward(e, &ws, &fake, &d_acts, true, 0.1)?);
        d_step.push(kernels::loss(e, kind, fake_scale, &logits, fake_t, &dlogits, &stats, 2)?);
        d_step.extend(d.backward(e, &ws, &fake, &d_acts, None, true, true)?);
        // G step on fresh noise, D frozen.
        let mut g_step = g.forward(e, &ws, &z, &g_acts, true, 0.1)?;
        g_step.extend(d.forward(e, &ws, &fake, &d_acts, true, 0.1)?);
        let (gk, gt, gs) = match (cfg.loss, cfg.g_loss) {
            (LabLoss::Wgan, _) => (LossKind::Linear, &ones, -1.0),
            (LabLoss::Bce, GLoss::Nonsaturating) => (LossKind::BceLogits, &ones, 1.0),
            (LabLoss::Bce, GLoss::Minimax) => (LossKind::BceLogits, &zeros, -1.0),
        };
        g_step.push(kernels::loss(e, gk, gs, &logits, gt, &dlogits, &stats, 4)?);
        g_step.extend(d.backward(e, &ws, &fake, &d_acts, Some(&d_fake), false, false)?);
        g_step.extend(g.backward(e, &ws, &z, &g_acts, None, true, false)?);
        let opt_d = make_opt(e, &d, &cfg, "D")?;
        let opt_g = make_opt(e, &g, &cfg, "G")?;
        let clip_d = match cfg.loss {
            LabLoss::Wgan => Some(kernels::clip(e, cfg.clip, &d.params.all())?),
            LabLoss::Bce => None,
        };

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
            self.real_draw.set_params(&e.gpu, &kernels::LabParams { len: b, dim, dist: cfg.dist.code(), seed: cfg.seed, stream: STREAM_REAL, counter: c, _p: [0; 2] });
            self.d_noise.set_params(&e.gpu, &kernels::RngParams { len: b * nz, seed: cfg.seed, stream: STREAM_D_NOISE, counter: c, ..Default::default() });
            let opt = self.opt_d.step(&e.gpu);
            let mut list: Vec<&Dispatch> = vec![&self.real_draw, &self.d_noise];
            list.extend(self.d_step.iter());
            list.push(opt);
            if let Some(c) = &self.clip_d {
                list.push(c);
            }
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
            self.g_noise.set_params(&e.gpu, &kernels::RngParams { len: (cfg.batch * cfg.nz) as u32, seed: cfg.seed, stream: STREAM_G_NOISE, counter: c, ..Default::default() });
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
    pub fn evaluate(&self, e: &Engine) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        e.run(&self.eval.iter().collect::<Vec<_>>())?;
        Ok((self.eval_fake.read(&e.gpu)?, self.eval_real.read(&e.gpu)?, self.grid_logits.read(&e.gpu)?))
    }

    /// Losses, D outputs and measures at the current step.
    pub fn metrics(&self, e: &Engine, fake: &[f32], real: &[f32]) -> Result<LabMetrics> {
        let s = self.stats.read(&e.gpu)?;
        let grads = self.g.grads.all().read(&e.gpu)?;
        let g_grad_norm = grads.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let dim = self.cfg.dist.dim();
        let (lo, hi) = self.cfg.dist.range();
        let (w1, sliced_w) = if dim == 1 { (Some(wasserstein_1d(fake, real)), None) } else { (None, Some(sliced_wasserstein(fake, real, 64))) };
        let (modes_covered, modes_total) = match (dim, self.cfg.dist.modes()) {
            (2, Some((m, std))) => (Some(modes_covered(fake, &m, std)), Some(m.len())),
            _ => (None, None),
        };
        let wgan = self.cfg.loss == LabLoss::Wgan;
        Ok(LabMetrics {
            step: self.step,
            loss_d: s[0] + s[2],
            loss_g: s[4],
            d_real: s[1],
            d_fake: s[3],
            critic_estimate: if wgan { Some(s[1] - s[3]) } else { None },
            w1,
            sliced_w,
            modes_covered,
            modes_total,
            js: js_histograms(fake, real, dim, lo, hi),
            g_grad_norm,
        })
    }

    /// The run's picture at this step: histogram + D curve (1-D) or heat map + scatter (2-D).
    pub fn frame(&self, fake: &[f32], real: &[f32], grid: &[f32], title: &str) -> Canvas {
        let (lo, hi) = self.cfg.dist.range();
        let prob = self.cfg.loss == LabLoss::Bce;
        let curve: Vec<f32> = if prob { grid.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect() } else { grid.to_vec() };
        if self.cfg.dist.dim() == 1 {
            plot::histogram_plot(title, real, fake, &self.grid_x, &curve, prob, lo, hi)
        } else {
            let show = 600.min(fake.len() / 2) * 2;
            plot::scatter_heatmap(title, &real[..show.min(real.len())], &fake[..show], &curve, self.grid_n, prob, lo, hi)
        }
    }
}

/// Exact W1 between two 1-D samples: the mean |a_i - b_i| of the sorted samples (equal counts;
/// with unequal counts, quantiles of the larger one).
pub fn wasserstein_1d(a: &[f32], b: &[f32]) -> f64 {
    let mut a: Vec<f64> = a.iter().map(|v| *v as f64).collect();
    let mut b: Vec<f64> = b.iter().map(|v| *v as f64).collect();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let n = a.len().min(b.len());
    if n == 0 {
        return f64::NAN;
    }
    (0..n)
        .map(|i| {
            let x = a[i * a.len() / n];
            let y = b[i * b.len() / n];
            (x - y).abs()
        })
        .sum::<f64>()
        / n as f64
}

/// Sliced Wasserstein-1 distance between 2-D samples (x, y interleaved), over `dirs` evenly spaced
/// directions.
pub fn sliced_wasserstein(a: &[f32], b: &[f32], dirs: usize) -> f64 {
    let mut total = 0.0;
    for k in 0..dirs {
        let t = std::f64::consts::PI * k as f64 / dirs as f64;
        let (c, s) = (t.cos(), t.sin());
        let pa: Vec<f32> = a.chunks_exact(2).map(|p| (p[0] as f64 * c + p[1] as f64 * s) as f32).collect();
        let pb: Vec<f32> = b.chunks_exact(2).map(|p| (p[0] as f64 * c + p[1] as f64 * s) as f32).collect();
        total += wasserstein_1d(&pa, &pb);
    }
    total / dirs as f64
}

/// Modes with at least a quarter of their fair share of samples within 3 standard deviations.
pub fn modes_covered(samples: &[f32], modes: &[[f64; 2]], std: f64) -> usize {
    let n = samples.len() / 2;
    let need = (0.25 * n as f64 / modes.len() as f64).max(1.0);
    modes
        .iter()
        .filter(|m| {
            let hits = samples.chunks_exact(2).filter(|p| ((p[0] as f64 - m[0]).powi(2) + (p[1] as f64 - m[1]).powi(2)).sqrt() < 3.0 * std).count();
            hits as f64 >= need
        })
        .count()
}

/// JS divergence (nats) between histograms of two sample sets over the plot range.
pub fn js_histograms(a: &[f32], b: &[f32], dim: usize, lo: f64, hi: f64) -> f64 {
    let bins = if dim == 1 { 60 } else { 30 };
    let cells = if dim == 1 { bins } else { bins * bins };
    let hist = |v: &[f32]| {
        let mut h = vec![0.0; cells];
        let cell = |x: f32| (((x as f64 - lo) / (hi - lo) * bins as f64).floor().clamp(0.0, bins as f64 - 1.0)) as usize;
        let mut n = 0.0;
        for p in v.chunks_exact(dim) {
            let i = if dim == 1 { cell(p[0]) } else { cell(p[1]) * bins + cell(p[0]) };
            h[i] += 1.0;
            n += 1.0;
        }
        h.iter().map(|c| c / f64::max(n, 1.0)).collect::<Vec<f64>>()
    };
    let (p, q) = (hist(a), hist(b));
    let mut js = 0.0;
    for i in 0..cells {
        let m = 0.5 * (p[i] + q[i]);
        if p[i] > 0.0 {
            js += 0.5 * p[i] * (p[i] / m).ln();
        }
        if q[i] > 0.0 {
            js += 0.5 * q[i] * (q[i] / m).ln();
        }
    }
    js
}

/// What a lab run leaves behind.
pub struct LabRun {
    pub metrics: Vec<LabMetrics>,
    pub last_frame: Canvas,
}

/// Trains a lab to `cfg.steps`, writing frames/, run.gif, metrics.jsonl and measures.png into
/// `cfg.out`.
pub fn run(e: &Engine, cfg: LabConfig, quiet: bool) -> Result<LabRun> {
    let out = cfg.out.clone();
    std::fs::create_dir_all(out.join("frames")).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&serde_json::json!({"config": &cfg, "adapter": &e.gpu.adapter}))?)
        .context("writing config.json")?;
    let mut lab = Lab::new(e, cfg.clone())?;
    lab.warm_up(e)?;
    let mut metrics = Vec::new();
    let mut frames = Vec::new();
    let metrics_path = out.join("metrics.jsonl");
    let _ = std::fs::remove_file(&metrics_path);
    let mut last_frame = Canvas::new(1, 1, plot::WHITE);
    let name = match cfg.loss {
        LabLoss::Bce => "BCE",
        LabLoss::Wgan => "WGAN",
    };
    while lab.step <= cfg.steps {
        let s = lab.step;
        let log_now = s % cfg.log_every == 0 || s == cfg.steps;
        let frame_now = s % cfg.frame_every == 0 || s == cfg.steps;
        if log_now || frame_now {
            let (fake, real, grid) = lab.evaluate(e)?;
            if (s > 0 || cfg.d_warmup > 0) && log_now {
                let m = lab.metrics(e, &fake, &real)?;
                if !(m.loss_d.is_finite() && m.loss_g.is_finite()) {
                    bail!("the lab diverged at step {s} (non-finite loss); try a lower --lr");
                }
                append_jsonl(&metrics_path, &m)?;
                if !quiet {
                    eprintln!("{}", describe(&m));
                }
                metrics.push(m);
            }
            if frame_now {
                let f = lab.frame(&fake, &real, &grid, &format!("{name} step {s}"));
                f.save(&out.join("frames").join(format!("step_{s:06}.png")))?;
                last_frame = f;
                frames.push(last_frame_clone(&last_frame));
            }
        }
        if s == cfg.steps {
            break;
        }
        lab.iterate(e)?;
    }
    plot::save_gif(&out.join("run.gif"), &frames, 150)?;
    measures_plot(&metrics, cfg.dist.dim(), cfg.loss).save(&out.join("measures.png"))?;
    Ok(LabRun { metrics, last_frame })
}

fn last_frame_clone(c: &Canvas) -> Canvas {
    Canvas { w: c.w, h: c.h, px: c.px.clone() }
}

fn append_jsonl(path: &Path, m: &LabMetrics) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(m)?).with_context(|| format!("writing {}", path.display()))
}

pub fn describe(m: &LabMetrics) -> String {
    let mut s = format!("[{}] loss_D {:.4} loss_G {:.4} D(real) {:.3} D(fake) {:.3}", m.step, m.loss_d, m.loss_g, m.d_real, m.d_fake);
    if let Some(w) = m.w1 {
        s += &format!(" W1 {w:.4}");
    }
    if let Some(w) = m.sliced_w {
        s += &format!(" SW {w:.4}");
    }
    if let (Some(c), Some(t)) = (m.modes_covered, m.modes_total) {
        s += &format!(" modes {c}/{t}");
    }
    if let Some(c) = m.critic_estimate {
        s += &format!(" critic {c:.4}");
    }
    s + &format!(" JS {:.4} |grad G| {:.3e}", m.js, m.g_grad_norm)
}

fn series(ms: &[LabMetrics], f: impl Fn(&LabMetrics) -> Option<f64>) -> Vec<(f64, f64)> {
    ms.iter().filter_map(|m| f(m).map(|v| (m.step as f64, v))).collect()
}

/// The measures over training: distance, JS, G's gradient norm, losses.
pub fn measures_plot(ms: &[LabMetrics], dim: usize, loss: LabLoss) -> Canvas {
    let (w, h) = (380, 220);
    let dist_name = if dim == 1 { "W1" } else { "SLICED W" };
    let mut dist = vec![(dist_name, plot::BLUE, series(ms, |m| m.w1.or(m.sliced_w)))];
    if loss == LabLoss::Wgan {
        dist.push(("CRITIC ESTIMATE", plot::RED, series(ms, |m| m.critic_estimate.map(|v| v as f64))));
    }
    let a = plot::line_chart("DISTANCE TO P_DATA", &dist, w, h);
    let b = plot::line_chart("JS (HISTOGRAMS)", &[("JS", plot::PURPLE, series(ms, |m| Some(m.js))), ("LN 2", plot::GREY, series(ms, |_| Some(std::f64::consts::LN_2)))], w, h);
    let c = plot::line_chart("|GRAD G|", &[("NORM", plot::ORANGE, series(ms, |m| Some(m.g_grad_norm)))], w, h);
    let d = plot::line_chart("LOSSES", &[("D", plot::BLUE, series(ms, |m| Some(m.loss_d as f64))), ("G", plot::ORANGE, series(ms, |m| Some(m.loss_g as f64)))], w, h);
    plot::vstack(&[&plot::hstack(&[&a, &b]), &plot::hstack(&[&c, &d])])
}

/// Summary of `--compare`.
#[derive(Clone, Debug, Serialize)]
pub struct CompareSummary {
    pub steps: u64,
    /// Right after D's warm-up: how saturated the BCE discriminator is.
    pub bce_start_d_real: f32,
    pub bce_start_d_fake: f32,
    pub bce_start_js: f64,
    /// Mean norm of G's gradient over the first quarter of training (D saturated for BCE).
    pub bce_early_g_grad_norm: f64,
    pub wgan_early_g_grad_norm: f64,
    /// W1 after a quarter of the steps, and at the end.
    pub bce_quarter_w1: f64,
    pub wgan_quarter_w1: f64,
    pub bce_final_w1: f64,
    pub wgan_final_w1: f64,
    /// First logged step with W1 < 0.5 (None: never within the run).
    pub bce_steps_to_w1_below_half: Option<u64>,
    pub wgan_steps_to_w1_below_half: Option<u64>,
    /// Correlation over training between the critic's estimate and the true W1.
    pub wgan_critic_w1_correlation: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-300)
}

/// The lecture's argument as one run: BCE and WGAN on disjoint supports from the same start.
pub fn compare(e: &Engine, base: LabConfig, quiet: bool) -> Result<CompareSummary> {
    let out = base.out.clone();
    // Same start, same optimizer, same steps: only the loss differs.
    let bce = LabConfig { loss: LabLoss::Bce, out: out.join("bce"), ..base.clone() };
    let wgan = LabConfig { loss: LabLoss::Wgan, out: out.join("wgan"), ..base.clone() };
    if !quiet {
        eprintln!("== BCE ({:?} G loss)", bce.g_loss);
    }
    let rb = run(e, bce, quiet)?;
    if !quiet {
        eprintln!("== WGAN");
    }
    let rw = run(e, wgan, quiet)?;
    let first = |r: &LabRun| r.metrics.first().cloned().context("no metrics logged");
    let last = |r: &LabRun| r.metrics.last().cloned().context("no metrics logged");
    let quarter = base.steps / 4;
    let early = |r: &LabRun| mean(&r.metrics.iter().filter(|m| m.step > 0 && m.step <= quarter.max(1)).map(|m| m.g_grad_norm).collect::<Vec<_>>());
    let w1_at = |r: &LabRun, s: u64| r.metrics.iter().filter(|m| m.step <= s).last().and_then(|m| m.w1).unwrap_or(f64::NAN);
    let below = |r: &LabRun| r.metrics.iter().find(|m| m.w1.is_some_and(|w| w < 0.5)).map(|m| m.step);
    let (fb, lb, lw) = (first(&rb)?, last(&rb)?, last(&rw)?);
    let crit: Vec<f64> = rw.metrics.iter().filter_map(|m| m.critic_estimate.map(|c| c as f64)).collect();
    let w1s: Vec<f64> = rw.metrics.iter().filter_map(|m| m.critic_estimate.and(m.w1)).collect();
    let summary = CompareSummary {
        steps: base.steps,
        bce_start_d_real: fb.d_real,
        bce_start_d_fake: fb.d_fake,
        bce_start_js: fb.js,
        bce_early_g_grad_norm: early(&rb),
        wgan_early_g_grad_norm: early(&rw),
        bce_quarter_w1: w1_at(&rb, quarter),
        wgan_quarter_w1: w1_at(&rw, quarter),
        bce_final_w1: lb.w1.unwrap_or(f64::NAN),
        wgan_final_w1: lw.w1.unwrap_or(f64::NAN),
        bce_steps_to_w1_below_half: below(&rb),
        wgan_steps_to_w1_below_half: below(&rw),
        wgan_critic_w1_correlation: correlation(&crit, &w1s),
    };
    let (w, h) = (420, 220);
    let w1 = plot::line_chart(
        "W1(P_G, P_DATA)",
        &[("BCE", plot::BLUE, series(&rb.metrics, |m| m.w1)), ("WGAN", plot::RED, series(&rw.metrics, |m| m.w1))],
        w,
        h,
    );
    let gn = plot::line_chart(
        "|GRAD G|",
        &[("BCE", plot::BLUE, series(&rb.metrics, |m| Some(m.g_grad_norm))), ("WGAN", plot::RED, series(&rw.metrics, |m| Some(m.g_grad_norm)))],
        w,
        h,
    );
    let sig = plot::line_chart(
        "WHAT D SEES",
        &[
            ("BCE JS", plot::BLUE, series(&rb.metrics, |m| Some(m.js))),
            ("LN 2", plot::GREY, series(&rb.metrics, |_| Some(std::f64::consts::LN_2))),
            ("WGAN CRITIC", plot::RED, series(&rw.metrics, |m| m.critic_estimate.map(|c| c as f64))),
        ],
        w,
        h,
    );
    let top = plot::hstack(&[&rb.last_frame, &rw.last_frame]);
    let bottom = plot::hstack(&[&w1, &gn, &sig]);
    plot::vstack(&[&top, &bottom]).save(&out.join("compare.png"))?;
    std::fs::write(out.join("compare.json"), serde_json::to_string_pretty(&summary)?).context("writing compare.json")?;
    Ok(summary)
}
