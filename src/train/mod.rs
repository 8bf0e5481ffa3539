//! The DCGAN trainer: each iteration one D step (G frozen: real batch labelled 1, fake batch
//! labelled 0) then one G step (D frozen) on the same fake batch. Each step is one command
//! buffer and one submit, recorded from dispatches built once; the only reads from the GPU are
//! the losses (at log steps, without stalling) and sample images at milestones.

use crate::checkpoint::RawCheckpoint;
use crate::data::Dataset;
use crate::engine::{Dispatch, Engine};
use crate::imageout;
pub mod progress;
use crate::kernels::{self, BnConfig, ConvWorkspace};
use crate::models::Cond;
use crate::nn::{Activations, Net, NetOptimizer, OptRule};
use crate::tensor::Tensor;
use anyhow::{anyhow, bail, Context, Result};
pub use progress::{BarProgress, PlainProgress, Progress};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

mod ema;
pub use ema::{ema_beta, Ema, EMA_RAMPUP};
mod metrics;
pub use metrics::Metrics;
mod config;
mod curves;
mod eval_glue;
mod generator;
pub use generator::Generator;
mod feed;
mod figures;
mod run;
mod state;
use crate::gan::augment::Augmenter;
use crate::gan::{step, SLOT_AUG, SLOT_CE_FAKE, SLOT_CE_GEN, SLOT_CE_REAL, STATS_LEN};
pub use crate::gan::{GLoss, GanLoss, LossDefaults, Optimizer};
pub use config::*;
pub use run::*;

/// The lecture's milestones: samples after 100, 1000, 5000 and 50000 updates.
pub const MILESTONES: &[u64] = &[100, 1000, 5000, 50000];

// RNG streams: one per purpose, so draws never collide.
const STREAM_REAL: u32 = 1;
pub(crate) const STREAM_NOISE: u32 = 2;
const STREAM_FIXED: u32 = 3;
const STREAM_INIT_G: u32 = 4;
const STREAM_INIT_D: u32 = 5;
const STREAM_SN: u32 = 6;
const STREAM_LABELS: u32 = 7;
/// The fixed noise of the quality evaluations (`--eval-every`).
pub(crate) const STREAM_EVAL: u32 = 8;
/// Redraws of `gangpu sample --truncation` (app::latent).
pub(crate) const STREAM_REDRAW: u32 = 9;
/// WGAN-GP's interpolation weights, one per sample per D step.
const STREAM_GP: u32 = 10;
/// `--augment`'s draws: the D step's real batch, its fake batch, the G step's batch.
pub(crate) const STREAMS_AUGMENT: [u32; 3] = [20, 21, 22];

/// What a pending read of the stats belongs to.
struct Pending {
    step: u64,
    steps_per_s: f64,
    epoch: f64,
    r1_ran: bool,
}

/// Everything on the GPU for one GAN, with the dispatch lists of both steps.
pub struct Gan {
    pub cfg: TrainConfig,
    pub g: Net,
    pub d: Net,
    ws: ConvWorkspace,
    /// The noise batch of the current iteration (B, nz, 1, 1).
    pub z: Tensor,
    /// The real batch of the current iteration (B, C, S, S).
    pub real: Tensor,
    /// When false, iterations use `z` and `real` as they are (tests feed them directly).
    pub draw_inputs: bool,
    g_acts: Activations,
    /// G's input: z, or z with one-hot labels attached (conditional models).
    g_in: Tensor,
    stats: Tensor,
    adam_g: NetOptimizer,
    adam_d: NetOptimizer,
    clip_d: Option<Dispatch>,
    /// D steps done so far (each draws its own real and fake batch).
    pub d_count: u64,
    /// Images in the data set (1 when sampling only): an epoch is this many real images.
    pub data_count: usize,
    /// The training images, kept on the host for `--eval-every`'s reference statistics (None
    /// when evaluations are off).
    eval_reference: Option<Dataset>,
    /// The real batch and the noise of a D step, drawn in one dispatch.
    feed: feed::Feed,
    draw_labels: Option<Dispatch>,
    lab_sample: wgpu::Buffer,
    d_step: Vec<Dispatch>,
    /// WGAN-GP's penalty (its interpolation first, with `gp_params` set per D step), R1's (every
    /// --r1-every D steps), then spectral norm's backward: the end of a D step.
    gp: Vec<Dispatch>,
    gp_params: kernels::PenaltyParams,
    r1: Vec<Dispatch>,
    d_end: Vec<Dispatch>,
    /// The moving average of G (`--ema-kimg`), which samples and evaluations use.
    pub ema: Option<Ema>,
    /// DiffAugment's augmented batches and ADA's state (`--augment`).
    pub augmenter: Option<Augmenter>,
    /// Whether a D step of the last iteration ran R1 (its row logs the penalty).
    pub r1_in_last_iteration: bool,
    g_step: Vec<Dispatch>,
    sample_fixed: Vec<Dispatch>,
    pub step: u64,
    bn_batches_g: u64,
    bn_batches_d: u64,
}

fn new_optim(e: &Engine, net: &Net, cfg: &TrainConfig, label: &str) -> Result<NetOptimizer> {
    let rule = match cfg.optimizer {
        Optimizer::Adam => OptRule::Adam { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps },
        // torch.optim.RMSprop defaults: alpha 0.99, eps 1e-8
        Optimizer::Rmsprop => OptRule::RmsProp { alpha: 0.99, eps: 1e-8 },
    };
    NetOptimizer::new(e, net, rule, cfg.lr, label)
}

impl Gan {
    /// Builds both networks, uploads the data set once, and records every dispatch.
    pub fn new(e: &Engine, cfg: TrainConfig, data: Option<&Dataset>) -> Result<Gan> {
        cfg.validate()?;
        // --data-limit trains on the first images; quality scores still compare with the whole set
        let whole = data;
        let limited = match (cfg.data_limit, data) {
            (Some(n), Some(d)) => Some(d.first(n)?),
            _ => None,
        };
        let data = limited.as_ref().or(whole);
        let mc = &cfg.model;
        let bn = BnConfig { eps: 1e-5, momentum: 0.1, act: kernels::Act::Identity };
        let g = Net::new(e, mc.generator()?, bn, "G")?;
        let mut d = Net::new(e, cfg.discriminator()?, bn, "D")?;
        if cfg.spectral_norm {
            d.enable_spectral_norm(e, cfg.seed, STREAM_SN)?;
        }
        let mut geoms = g.conv_geoms();
        geoms.extend(d.conv_geoms());
        let ws = ConvWorkspace::new(e, &geoms)?;
        let b = mc.batch;
        let img = [b, mc.channels, mc.image_size, mc.image_size];
        let z = Tensor::zeros(&e.gpu, &[b, mc.nz, 1, 1], "noise z")?;
        let fixed_z = Tensor::zeros(&e.gpu, &[b, mc.nz, 1, 1], "fixed noise")?;
        let real = Tensor::zeros(&e.gpu, &img, "real batch")?;
        let g_acts = g.activations(e, "G")?;
        let d_acts = d.activations(e, "D")?;
        let stats = Tensor::zeros(&e.gpu, &[STATS_LEN], "loss stats")?;

        let picked = e.gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("picked indices"),
            size: (b * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // real batches: resident on the GPU, or streamed from the host when the set is too large
        let budget = cfg.gpu_data_mb.map(|mb| mb << 20);
        let feed = feed::Feed::new(e, data, mc, cfg.hflip, budget, &real, &z, picked.clone(), cfg.seed, STREAM_REAL, STREAM_NOISE)?;
        let real_count = feed.count;

        let fake = g_acts.out[g_acts.out.len() - 1].clone();
        let d_fake_grad = g_acts.d_out[g_acts.d_out.len() - 1].clone();
        let last = d_acts.out.len() - 1;
        let nout = mc.d_outputs();
        let logits = d_acts.out[last].reshape(&[b * nout])?;
        let dlogits = d_acts.d_out[last].reshape(&[b * nout])?;
        let adam_g = new_optim(e, &g, &cfg, "G")?;
        let adam_d = new_optim(e, &d, &cfg, "D")?;
        let clip_d = match cfg.clip {
            Some(c) => Some(kernels::clip(e, c, &d.params.all())?),
            None => None,
        };

        // Conditioning: labels of the real batch (looked up through the drawn indices), uniform
        // labels for the fake batch, one-hot attached to z (and to images for CGAN's D).
        let k = mc.classes;
        let cond = mc.cond;
        let u32_buf = |n: usize, label: &str| {
            e.gpu.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (n.max(1) * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let labels_buf = match (cond, data) {
            (Cond::None, _) | (_, None) => u32_buf(1, "no labels"),
            (_, Some(ds)) => {
                let Some(l) = &ds.labels else {
                    bail!(
                        "--cond {cond:?} needs labelled data: the built-in MNIST, an IDX image file with its labels file beside it \
                         (...-labels-idx1-ubyte[.gz]), or a folder with one sub-folder per class; {} has no labels",
                        ds.source
                    );
                };
                if ds.classes() > k {
                    bail!("the data set has {} classes but the model was built for {k}", ds.classes());
                }
                let v: Vec<u32> = l.iter().map(|x| *x as u32).collect();
                let buf = u32_buf(v.len(), "labels");
                e.gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&v));
                buf
            }
        };
        let lab_real = u32_buf(b, "real labels");
        let lab_fake = u32_buf(b, "fake labels");
        let lab_sample = u32_buf(b, "sample labels");
        e.gpu.queue.write_buffer(&lab_sample, 0, bytemuck::cast_slice(&generator::class_ordered(b, k)));
        let draw_labels =
            if cond != Cond::None { Some(kernels::draw_labels(e, b, k, &picked, &labels_buf, &lab_real, &lab_fake, cfg.seed, STREAM_LABELS)?) } else { None };
        let g_in = if cond != Cond::None { Tensor::zeros(&e.gpu, &[b, mc.nz + k, 1, 1], "noise and labels")? } else { z.clone() };
        // DiffAugment / ADA: D sees augmented copies of both batches (label planes attached after)
        let augmenter = match cfg.augment_setup() {
            Some(s) => Some(Augmenter::new(e, &s, &real, &fake, &d_fake_grad, &logits, nout, &stats, SLOT_AUG)?),
            None => None,
        };
        let (img_real, img_fake, img_fake_grad) = match &augmenter {
            Some(a) => (a.real.clone(), a.fake.clone(), a.fake_grad.clone()),
            None => (real.clone(), fake.clone(), d_fake_grad.clone()),
        };
        let (real_in, fake_in, d_fake_in_grad) = if cond == Cond::Cgan {
            let shape = [b, mc.channels + k, mc.image_size, mc.image_size];
            (
                Tensor::zeros(&e.gpu, &shape, "real batch with labels")?,
                Tensor::zeros(&e.gpu, &shape, "fake batch with labels")?,
                Tensor::zeros(&e.gpu, &shape, "fake batch with labels grad")?,
            )
        } else {
            (img_real.clone(), img_fake.clone(), img_fake_grad.clone())
        };
        let ce = |scale: f32, labels: &wgpu::Buffer, slot: usize| kernels::softmax_cross_entropy(e, scale, &logits, nout, 1, k, labels, &dlogits, &stats, slot);

        // The shared GAN step (step.rs) with the trainer's hooks: spectral norm, labels (CGAN:
        // attached to z and as image planes; ACGAN: attached to z, class cross-entropy on D's
        // extra outputs), G's loss on the D step's fake batch.
        let targets = step::Targets::new(e, b)?;
        let adv = step::Adversarial {
            g: &g,
            d: &d,
            ws: &ws,
            g_acts: &g_acts,
            d_acts: &d_acts,
            g_in: &g_in,
            real_in: &real_in,
            fake_in: &fake_in,
            fake_in_grad: &d_fake_in_grad,
            logits: &logits,
            dlogits: &dlogits,
            stride: nout,
            terms: cfg.loss.terms(cfg.g_loss),
            targets: &targets,
            stats: &stats,
            momentum: bn.momentum,
        };
        let acgan = cond == Cond::Acgan;
        let d_step = adv.d_step(
            e,
            step::DHooks {
                start: d.sn_power(e)?,
                before_g: if cond != Cond::None { vec![kernels::concat_onehot(e, &z, &lab_fake, k, &g_in)?] } else { vec![] },
                before_d: [
                    augmenter.as_ref().map(|a| a.d_inputs()).unwrap_or_default(),
                    if cond == Cond::Cgan {
                        vec![kernels::concat_onehot(e, &img_real, &lab_real, k, &real_in)?, kernels::concat_onehot(e, &img_fake, &lab_fake, k, &fake_in)?]
                    } else {
                        vec![]
                    },
                ]
                .concat(),
                after_real_loss: [
                    augmenter.as_ref().map(|a| a.after_real_loss()).unwrap_or_default(),
                    if acgan { vec![ce(1.0, &lab_real, SLOT_CE_REAL)?] } else { vec![] },
                ]
                .concat(),
                after_fake_loss: if acgan { vec![ce(1.0, &lab_fake, SLOT_CE_FAKE)?] } else { vec![] },
                end: vec![],
            },
        )?;
        let gp = match cfg.gp_weight {
            Some(w) => adv.gradient_penalty(e, w, cfg.seed, STREAM_GP)?,
            None => vec![],
        };
        let gp_params = kernels::interpolation_params(&real_in, cfg.seed, STREAM_GP, 0)?;
        let r1 = match cfg.r1_gamma {
            Some(gamma) => adv.r1_penalty(e, gamma * cfg.r1_every as f32)?,
            None => vec![],
        };
        let d_end = d.sn_backward(e)?;
        let g_step = adv.g_step(
            e,
            step::GHooks {
                // with augmentation, G's batch gets fresh draws (and its label planes again)
                start: [
                    d.sn_power(e)?,
                    augmenter.iter().map(|a| a.g_input()).collect(),
                    if augmenter.is_some() && cond == Cond::Cgan { vec![kernels::concat_onehot(e, &img_fake, &lab_fake, k, &fake_in)?] } else { vec![] },
                ]
                .concat(),
                regenerate: None,
                after_gen_loss: if acgan { vec![ce(1.0, &lab_fake, SLOT_CE_GEN)?] } else { vec![] },
                before_g_backward: [
                    if cond == Cond::Cgan { vec![kernels::slice_channels(e, &d_fake_in_grad, k, &img_fake_grad)?] } else { vec![] },
                    augmenter.iter().map(|a| a.g_backward()).collect(),
                ]
                .concat(),
            },
        )?;

        let fixed_noise = kernels::normal(e, &fixed_z, cfg.seed, STREAM_FIXED, 0)?;

        let eval_reference = if cfg.eval_every > 0 { whole.cloned() } else { None };
        let ema = if cfg.ema_kimg > 0.0 { Some(Ema::new(e, &g, cfg.ema_kimg, b)?) } else { None };
        let mut gan = Gan {
            cfg,
            g,
            d,
            ws,
            z,
            real,
            draw_inputs: true,
            g_acts,
            g_in,
            stats,
            adam_g,
            adam_d,
            clip_d,
            d_count: 0,
            data_count: real_count,
            eval_reference,
            feed,
            draw_labels,
            lab_sample,
            d_step,
            gp,
            gp_params,
            r1,
            d_end,
            // started at G's initial weights below, once they are uploaded
            ema,
            augmenter,
            r1_in_last_iteration: false,
            g_step,
            sample_fixed: vec![],
            step: 0,
            bn_batches_g: 0,
            bn_batches_d: 0,
        };
        // Samples: G on the fixed noise (or a seeded batch) with batch statistics, running
        // statistics untouched; conditional runs get class-ordered labels (one row per class).
        gan.sample_fixed = vec![fixed_noise];
        gan.sample_fixed.extend(gan.generate_dispatches(e, &fixed_z)?);
        gan.g.upload_init(e, gan.cfg.seed, STREAM_INIT_G)?;
        gan.d.upload_init(e, gan.cfg.seed, STREAM_INIT_D)?;
        if let Some(ema) = &gan.ema {
            ema.restart(e, &gan.g)?;
        }
        e.gpu.check("building the GAN")?;
        Ok(gan)
    }

    /// Dispatches of G on noise `z` (B, nz, 1, 1) as for samples: batch statistics, running
    /// statistics untouched, class-ordered labels attached for conditional models. The images
    /// land in `generated()`; the training state is untouched (the next D step draws afresh).
    pub fn generate_dispatches(&self, e: &Engine, z: &Tensor) -> Result<Vec<Dispatch>> {
        generator::generate_dispatches(e, &self.cfg.model, self.sampling_g(), &self.ws, &self.g_acts, &self.g_in, &self.lab_sample, z)
    }

    /// The G that samples and evaluations use: the moving average when the run keeps one.
    pub fn sampling_g(&self) -> &Net {
        self.ema.as_ref().map_or(&self.g, |m| &m.net)
    }

    /// G's output (B, C, S, S): the images of the last G pass.
    pub fn generated(&self) -> &Tensor {
        &self.g_acts.out[self.g_acts.out.len() - 1]
    }

    /// Bytes of every GPU buffer this GAN allocated (parameters, gradients, optimizer state,
    /// activations, workspace, data set excluded).
    pub fn conv_workspace_bytes(&self) -> u64 {
        self.ws.bytes()
    }

    /// Records and submits one iteration: the configured number of D (critic) steps, one submit
    /// each, then one G step on the last fake batch. With `staging`, the G step also copies the
    /// losses there.
    pub fn submit_iteration(&mut self, e: &Engine, staging: Option<&wgpu::Buffer>) -> wgpu::SubmissionIndex {
        self.r1_in_last_iteration = false;
        for _ in 0..self.cfg.critic_steps_at(self.step) {
            let counter = self.d_count as u32;
            let opt = self.adam_d.step(&e.gpu);
            let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("D step") });
            let mut list: Vec<&Dispatch> = self.clip_d.iter().collect();
            if self.draw_inputs {
                list.push(self.feed.draw(e, counter));
                if let Some(d) = &self.draw_labels {
                    d.set_params(
                        &e.gpu,
                        &kernels::CondParams {
                            batch: self.cfg.model.batch as u32,
                            classes: self.cfg.model.classes as u32,
                            seed: self.cfg.seed,
                            stream: STREAM_LABELS,
                            counter,
                            ..Default::default()
                        },
                    );
                    list.push(d);
                }
            }
            if let Some(a) = &self.augmenter {
                a.set_d_step(e, self.d_count);
            }
            list.extend(self.d_step.iter());
            if let Some(interpolate) = self.gp.first() {
                interpolate.set_params(&e.gpu, &kernels::PenaltyParams { counter, ..self.gp_params });
            }
            list.extend(self.gp.iter());
            if !self.r1.is_empty() && self.d_count.is_multiple_of(self.cfg.r1_every) {
                list.extend(self.r1.iter());
                self.r1_in_last_iteration = true;
            }
            list.extend(self.d_end.iter());
            list.push(opt);
            e.record(&mut enc, &list);
            e.gpu.queue.submit(Some(enc.finish()));
            self.d_count += 1;
            self.bn_batches_g += 1;
            self.bn_batches_d += 2;
        }
        let opt = self.adam_g.step(&e.gpu);
        let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("G step") });
        if let Some(a) = &self.augmenter {
            a.set_g_step(e, self.step);
        }
        let mut list: Vec<&Dispatch> = self.g_step.iter().collect();
        list.push(opt);
        if let Some(ema) = &self.ema {
            list.push(ema.update(e, self.step + 1));
        }
        e.record(&mut enc, &list);
        if let Some(ema) = &self.ema {
            ema.copy_statistics(&mut enc, &self.g);
        }
        if let Some(st) = staging {
            enc.copy_buffer_to_buffer(&self.stats.buffer, 0, st, 0, (STATS_LEN * 4) as u64);
        }
        let idx = e.gpu.queue.submit(Some(enc.finish()));
        self.step += 1;
        self.bn_batches_d += 1;
        idx
    }

    /// Every dispatch of one iteration, in order (for profiling).
    pub fn iteration_dispatches(&self) -> Vec<&Dispatch> {
        let mut v: Vec<&Dispatch> = vec![self.feed.draw_dispatch()];
        v.extend(self.d_step.iter());
        v.extend(self.gp.iter());
        v.extend(self.r1.iter());
        v.extend(self.d_end.iter());
        v.push(&self.adam_d.dispatch);
        v.extend(self.g_step.iter());
        v.push(&self.adam_g.dispatch);
        v
    }

    /// Copies the stats into a MAP_READ buffer (as the trainer does at log steps).
    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.stats.buffer
    }

    /// Blocking read of the current stats (for checkpoints and tests).
    pub fn read_metrics(&self, e: &Engine) -> Result<Metrics> {
        let s = self.stats.read(&e.gpu)?;
        Ok(Metrics::from_stats(self.step, &s, 0.0, self.epochs_done(), &self.cfg, self.r1_in_last_iteration))
    }

    /// G on the fixed noise batch: (B, C, S, S) values in [-1, 1].
    pub fn sample_fixed(&self, e: &Engine) -> Result<Vec<f32>> {
        e.run(&self.sample_fixed.iter().collect::<Vec<_>>())?;
        self.g_acts.out[self.g_acts.out.len() - 1].read(&e.gpu)
    }

    /// Samples per row of a class-ordered grid (one row per class), or None when unconditional.
    pub fn class_grid(&self) -> Option<(usize, usize)> {
        let mc = &self.cfg.model;
        generator::class_grid(mc)
    }

    /// One real batch as the trainer sees it (drawn with counter `u32::MAX`, outside training's draws).
    pub fn real_batch(&mut self, e: &Engine) -> Result<Vec<f32>> {
        let gather = self.feed.gather(e, u32::MAX);
        e.run(&[gather])?;
        self.real.read(&e.gpu)
    }

    /// Whether the data set streams from the host (too large for the GPU budget) and the GPU
    /// bytes its batches take.
    pub fn data_feed(&self) -> (bool, u64) {
        (self.feed.streamed, self.feed.gpu_bytes)
    }

    /// Epochs of real images drawn so far.
    pub fn epochs_done(&self) -> f64 {
        (self.d_count * self.cfg.model.batch as u64) as f64 / self.data_count.max(1) as f64
    }

    /// Multiply-adds of one iteration's convolutions (for GFLOP/s): D fwd x3, D backward
    /// (weight+input) x2 minus D's first-layer input gradient, D input-only backward, G fwd,
    /// G backward.
    pub fn iteration_macs(&self) -> u64 {
        let (g, d) = (self.g.macs(), self.d.macs());
        let d_first = self.d.specs[0].layer.macs();
        // D: 3 forwards; real & fake backward: weight grads (1x) + input grads except layer 0;
        // G step D backward: input grads (all layers). G: forward + weight + input (except layer 0).
        let g_first = self.g.specs[0].layer.macs();
        3 * d + 2 * (d + d - d_first) + d + g + g + (g - g_first)
    }
}
