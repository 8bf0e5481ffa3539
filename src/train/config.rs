//! Every setting of a run, the objectives' published defaults, and their validation.

use crate::cli_values::*;
use crate::gan::augment::{parse_augment_p, AugmentP, AugmentSetup, ADA_KIMG, ADA_TARGET};
use crate::gan::{DNorm, GLoss, GanLoss, Optimizer};
use crate::kernels::Augmentation;
use crate::models::ModelConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn sixteen() -> u64 {
    16
}

fn eval_n_default() -> usize {
    1000
}

/// The groups of `gangpu train`'s flags (clap help headings) and what `--resume` does with each:
/// the checkpoint keeps the settings that define its model, objective and data (a flag asking
/// for another value is an error); schedule and output settings may change. Every flag is in
/// one group (tests/cli.rs enumerates them).
pub const RESUME_POLICY: &[(&str, Resume)] = &[
    (MODEL, Resume::Fixed),
    (DATA, Resume::Fixed),
    (OBJECTIVE, Resume::Fixed),
    (SCHEDULE, Resume::Changeable),
    (OUTPUT, Resume::Changeable),
    (START, Resume::NotSaved),
    (DEVICE, Resume::NotSaved),
];

/// What `--resume` does with a flag of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The checkpoint's value stays; asking for another is an error.
    Fixed,
    /// The new value applies from the resumed step on (and is reported).
    Changeable,
    /// How this process starts or which adapter it uses: not a setting of the run.
    NotSaved,
}

/// Every setting of a run, declared once: the command line of `gangpu train` (clap derive; the
/// help heading of each flag is its `--resume` group), config.json and checkpoints (serde).
/// Settings whose default depends on --loss (`gan::Objective::train`) get it in
/// `apply_loss_defaults` unless given.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    #[command(flatten)]
    pub model: ModelConfig,

    /// `mnist` (built in), an IDX image file (raw or .gz), or a folder of images (searched recursively)
    #[arg(long, default_value = "mnist", help_heading = DATA)]
    pub data: String,
    /// Mirror real images left-right with probability 1/2 as batches are drawn (on the GPU)
    #[arg(long, help_heading = DATA)]
    #[serde(default)]
    pub hflip: bool,
    /// Train on the first N images of the data set only (small-data studies, e.g. with --augment);
    /// --eval-every still scores against the whole set
    #[arg(long, allow_negative_numbers = true, value_parser = count_usize, help_heading = DATA)]
    #[serde(default)]
    pub data_limit: Option<usize>,
    /// Seed for initialisation, noise and batch draws
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = seed_u32, help_heading = DATA)]
    pub seed: u32,

    /// Objective. Published defaults apply unless overridden: bce, lsgan, hinge, bgan: Adam lr 2e-4,
    /// betas (0.5, 0.999), 1 D step; wgan: RMSProp lr 5e-5, clip 0.01, 5 critic steps (100 for the
    /// first 25 G steps and every 500th), critic with batch norm as in the original WGAN code
    #[arg(long, value_enum, default_value_t = GanLoss::Bce, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub loss: GanLoss,
    /// Generator loss with --loss bce: nonsaturating (-log D(G(z))) or minimax (log(1 - D(G(z))), the lecture's form)
    #[arg(long, value_enum, default_value_t = GLoss::Nonsaturating, help_heading = OBJECTIVE)]
    pub g_loss: GLoss,
    /// Optimizer for both networks [default: per --loss]
    #[arg(long, value_enum, default_value_t = Optimizer::Adam, hide_default_value = true, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub optimizer: Optimizer,
    /// D (critic) steps per G step [default: per --loss; a fixed count turns off WGAN's 100-step schedule]
    #[arg(long, default_value_t = 1, hide_default_value = true, allow_negative_numbers = true, value_parser = count_usize, help_heading = OBJECTIVE)]
    #[serde(default = "one")]
    pub critic_steps: usize,
    /// Clip D's weights to [-C, C] before each D step [default: 0.01 for wgan, none otherwise]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f32, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub clip: Option<f32>,
    /// Spectral normalisation of D's weights (power iteration on the GPU); the usual partner of --loss hinge
    #[arg(long, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub spectral_norm: bool,
    /// WGAN-GP's lambda: weight of E[(|grad D(x^)| - 1)^2] at interpolates of real and generated
    /// images [default: 10 with --loss wgan-gp; only with it]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f32, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub gp_weight: Option<f32>,
    /// R1 regularisation of D, gamma/2 E|grad D(x)|^2 on real images, with any loss (StyleGAN2's;
    /// needs a D without batch norm: --d-norm none, or --loss wgan-gp)
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f32, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub r1_gamma: Option<f32>,
    /// R1 every N D steps, its weight multiplied by N (StyleGAN2's lazy regularisation)
    #[arg(long, default_value_t = 16, allow_negative_numbers = true, value_parser = count_u64, help_heading = OBJECTIVE)]
    #[serde(default = "sixteen")]
    pub r1_every: u64,
    /// D's normalisation: batch (DCGAN's) or none [default: none with --loss wgan-gp, batch otherwise]
    #[arg(long, value_enum, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub d_norm: Option<DNorm>,
    /// DiffAugment for small data sets: random differentiable transforms of every image D sees
    /// (real and generated, in both steps; G's gradient flows through them), any of color,
    /// translation, cutout, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', help_heading = OBJECTIVE)]
    #[serde(default)]
    pub augment: Vec<Augmentation>,
    /// Probability of each --augment transform per image, or `auto` (ADA: from 0, adjusted every
    /// 4 D steps to keep r_t = E[sign(D(real))] near --ada-target) [default: 1]
    #[arg(long, value_parser = parse_augment_p, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub augment_p: Option<AugmentP>,
    /// ADA's target for r_t, with --augment-p auto [default: 0.6]
    #[arg(long, allow_negative_numbers = true, value_parser = number, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub ada_target: Option<f64>,
    /// ADA's speed, with --augment-p auto: p can cross [0, 1] in this many thousand real images [default: 100]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f64, help_heading = OBJECTIVE)]
    #[serde(default)]
    pub ada_kimg: Option<f64>,
    /// WGAN's original schedule: 100 critic steps for the first 25 G steps and every 500th (with
    /// --loss wgan unless --critic-steps is given).
    #[arg(skip)]
    #[serde(default)]
    pub wgan_schedule: bool,
    /// Adam's epsilon (torch.optim's default).
    #[arg(skip = 1e-8)]
    pub eps: f64,

    /// Training iterations (one D step + one G step each)
    #[arg(long, default_value_t = 2000, allow_negative_numbers = true, value_parser = count_u64, help_heading = SCHEDULE)]
    pub steps: u64,
    /// Train for this many passes over the data set instead of --steps (each epoch draws every
    /// image once, in its own seeded order; fractions allowed)
    #[arg(long, conflicts_with = "steps", allow_negative_numbers = true, value_parser = positive_f64, help_heading = SCHEDULE)]
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Learning rate [default: per --loss]
    #[arg(long, default_value_t = 2e-4, hide_default_value = true, allow_negative_numbers = true, value_parser = positive_f64, help_heading = SCHEDULE)]
    pub lr: f64,
    /// An exponential moving average of G's weights with a half-life of K thousand images
    /// (StyleGAN2's ema_kimg, ramped up over training); sample grids, --eval-every, `gangpu sample`
    /// and `gangpu eval` use it (--no-ema there picks the trained G); 0: off
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = non_negative_f64, help_heading = SCHEDULE)]
    #[serde(default)]
    pub ema_kimg: f64,
    /// Adam beta1 [default: 0.5]
    #[arg(long, default_value_t = 0.5, hide_default_value = true, allow_negative_numbers = true, value_parser = beta, help_heading = SCHEDULE)]
    pub beta1: f64,
    /// Adam beta2 [default: 0.999]
    #[arg(long, default_value_t = 0.999, hide_default_value = true, allow_negative_numbers = true, value_parser = beta, help_heading = SCHEDULE)]
    pub beta2: f64,

    /// Run folder
    #[arg(long, default_value = "runs/dcgan", help_heading = OUTPUT)]
    pub out: PathBuf,
    /// Sample grid every N steps (besides the milestones 100, 1000, 5000, 50000)
    #[arg(long, default_value_t = 500, allow_negative_numbers = true, value_parser = count_u64, help_heading = OUTPUT)]
    pub sample_every: u64,
    /// Checkpoint every N steps (and at the end, and on Ctrl-C, SIGTERM or SIGHUP)
    #[arg(long, default_value_t = 500, allow_negative_numbers = true, value_parser = count_u64, help_heading = OUTPUT)]
    pub checkpoint_every: u64,
    /// Read the losses back every N steps
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = count_u64, help_heading = OUTPUT)]
    pub log_every: u64,
    /// Quality scores every N steps and at the milestones (FID, coverage, confidence on 28x28
    /// grayscale; SWD on any data), on the GPU without stalling training; 0: off
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = whole_u64, help_heading = OUTPUT)]
    #[serde(default)]
    pub eval_every: u64,
    /// Samples each quality evaluation scores (rounded up to whole batches)
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = count_usize, help_heading = OUTPUT)]
    #[serde(default = "eval_n_default")]
    pub eval_n: usize,
    /// Do not write TensorBoard event files (by default scalars and sample grids go to
    /// OUT/tensorboard/, for `tensorboard --logdir OUT`)
    #[arg(long = "no-tensorboard", action = clap::ArgAction::SetFalse, help_heading = OUTPUT)]
    #[serde(default = "yes")]
    pub tensorboard: bool,
    /// GPU memory the data set may take, in MiB; a larger data set stays on the host and streams
    /// to the GPU batch by batch (same batches, bit for bit) [default: what one storage binding holds]
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64, help_heading = OUTPUT)]
    #[serde(default)]
    pub gpu_data_mb: Option<u64>,
}

impl TrainConfig {
    /// Every setting at its command-line default (the defaults live in the clap attributes
    /// above, once), with --loss bce's defaults applied.
    pub fn defaults() -> TrainConfig {
        use clap::{Args, FromArgMatches};
        let cmd = TrainConfig::augment_args(clap::Command::new("defaults").no_binary_name(true));
        // parsing no arguments cannot fail: every flag is optional with a default
        let m = cmd.try_get_matches_from(std::iter::empty::<&str>()).unwrap_or_default();
        let mut c = TrainConfig::from_arg_matches(&m).unwrap_or_else(|_| unreachable!("the defaults parse"));
        c.apply_loss_defaults(&|_| false);
        c
    }

    /// A run of `model` on `data` for `steps` steps with every other setting at its default
    /// (DCGAN's BCE recipe), written to `out`.
    pub fn new(model: ModelConfig, data: &str, steps: u64, out: PathBuf) -> TrainConfig {
        TrainConfig { model, data: data.into(), steps, out, ..TrainConfig::defaults() }
    }

    /// Sets what --loss decides (`gan::Objective::train`: optimizer, rate, betas, critic steps,
    /// clipping, WGAN's schedule) where the flag was not given (`explicit(id)`).
    pub fn apply_loss_defaults(&mut self, explicit: &dyn Fn(&str) -> bool) {
        let d = self.loss.defaults();
        if !explicit("optimizer") {
            self.optimizer = d.optimizer;
        }
        if !explicit("lr") {
            self.lr = d.lr;
        }
        if !explicit("beta1") {
            self.beta1 = d.beta1;
        }
        if !explicit("beta2") {
            self.beta2 = d.beta2;
        }
        if !explicit("critic_steps") {
            self.critic_steps = d.critic_steps;
        }
        if !explicit("clip") {
            self.clip = d.clip;
        }
        self.wgan_schedule = d.wgan_schedule && !explicit("critic_steps");
        let o = self.loss.objective();
        if !explicit("gp_weight") {
            self.gp_weight = o.gradient_penalty;
        }
        if !explicit("d_norm") {
            self.d_norm = Some(o.critic_norm);
        }
    }

    /// D's blocks: the model's, without batch norm under `--d-norm none`.
    pub fn discriminator(&self) -> Result<Vec<crate::nn::BlockSpec>> {
        let mut blocks = self.model.discriminator()?;
        if self.d_norm == Some(DNorm::None) {
            for b in &mut blocks {
                b.batch_norm = false;
            }
        }
        Ok(blocks)
    }

    /// What the GAN step needs to augment D's inputs, when `--augment` is on.
    pub fn augment_setup(&self) -> Option<AugmentSetup<'_>> {
        (!self.augment.is_empty()).then(|| AugmentSetup {
            policy: &self.augment,
            p: self.augment_p.unwrap_or(AugmentP::Fixed(1.0)),
            seed: self.seed,
            streams: super::STREAMS_AUGMENT,
            ada_target: self.ada_target.unwrap_or(ADA_TARGET),
            ada_kimg: self.ada_kimg.unwrap_or(ADA_KIMG),
        })
    }

    /// G steps that draw `epochs` passes over `images` real images (one batch per D step, with
    /// WGAN's critic schedule counted).
    pub fn steps_for_epochs(&self, epochs: f64, images: usize) -> u64 {
        let batches = (epochs * images as f64 / self.model.batch as f64).ceil().max(1.0) as u64;
        let (mut g, mut d) = (0u64, 0u64);
        while d < batches {
            d += self.critic_steps_at(g) as u64;
            g += 1;
        }
        g
    }

    /// Critic steps before G step number `g_step` (0-based).
    pub fn critic_steps_at(&self, g_step: u64) -> usize {
        if self.wgan_schedule && (g_step < 25 || g_step.is_multiple_of(500)) {
            100
        } else {
            self.critic_steps
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.g_loss == GLoss::Minimax && self.loss != GanLoss::Bce {
            bail!("--g-loss minimax is the BCE generator loss; it does not combine with --loss {:?}", self.loss);
        }
        let gp = self.loss.objective().gradient_penalty.is_some();
        if self.gp_weight.is_some() && !gp {
            bail!("--gp-weight is the gradient penalty of --loss wgan-gp; with --loss {:?} use --r1-gamma for a penalty on D's gradient", self.loss);
        }
        if gp && self.gp_weight.is_none() {
            bail!("--loss wgan-gp needs its penalty weight (--gp-weight, default 10)");
        }
        if gp && self.clip.is_some() {
            bail!("--clip and --loss wgan-gp are two ways to keep the critic Lipschitz; the penalty replaces clipping: drop --clip");
        }
        let penalized = gp || self.r1_gamma.is_some();
        if penalized && self.d_norm != Some(DNorm::None) {
            bail!(
                "{} needs D's double backward, which gangpu has for convolutions and leaky ReLU but not for batch norm \
                 (it also couples the samples the penalty treats one by one): add --d-norm none",
                if gp { "--loss wgan-gp" } else { "--r1-gamma" }
            );
        }
        if penalized && self.model.cond == crate::models::Cond::Cgan {
            bail!(
                "input-gradient penalties (--loss wgan-gp, --r1-gamma) are not implemented with --cond cgan (D's input holds label planes); use --cond acgan"
            );
        }
        if self.augment_p.is_some() && self.augment.is_empty() {
            bail!("--augment-p sets how often the --augment transforms apply: add --augment color,translation,cutout (or some of them)");
        }
        if (self.ada_target.is_some() || self.ada_kimg.is_some()) && self.augment_p != Some(AugmentP::Auto) {
            bail!("--ada-target and --ada-kimg steer ADA's adaptive probability: they need --augment-p auto");
        }
        if let Some(t) = self.ada_target {
            if !(-1.0 < t && t < 1.0) {
                bail!("--ada-target must be in (-1, 1) (r_t = E[sign(D(real))] lies in [-1, 1]; ADA's is 0.6), got {t}");
            }
        }
        if self.r1_every == 0 {
            bail!("--r1-every must be at least 1");
        }
        if self.critic_steps == 0 {
            bail!("--critic-steps must be at least 1");
        }
        if let Some(c) = self.clip {
            if !(c > 0.0 && c.is_finite()) {
                bail!("--clip must be a positive number, got {c}");
            }
        }
        if self.steps == 0 {
            bail!("--steps must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        for (name, b) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                bail!("{name} must be in [0, 1), got {b}");
            }
        }
        if self.log_every == 0 || self.sample_every == 0 || self.checkpoint_every == 0 {
            bail!("--log-every, --sample-every and --checkpoint-every must be at least 1");
        }
        Ok(())
    }
}
