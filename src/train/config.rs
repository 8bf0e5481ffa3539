//! Every setting of a run, the objectives' published defaults, and their validation.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use crate::kernels::LossKind;
use crate::models::ModelConfig;

/// The generator's objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GLoss {
    /// -E[log D(G(z))]: BCE of fakes labelled real (standard in DCGAN).
    Nonsaturating,
    /// E[log(1 - D(G(z)))]: the lecture's minimax form (saturates early).
    Minimax,
}

/// The adversarial objective (published defaults in `TrainConfig::apply_loss_defaults`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Binary cross-entropy on logits (the original GAN / DCGAN)
    #[default]
    Bce,
    /// Wasserstein: critic without sigmoid, weight clipping, RMSProp, several critic steps
    Wgan,
    /// Least squares on D's raw output
    Lsgan,
    /// Hinge loss for D, -E[D(G(z))] for G
    Hinge,
    /// Boundary-seeking: D as in GAN, G minimises 0.5 E[logit^2]
    Bgan,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    #[default]
    Adam,
    Rmsprop,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn eval_n_default() -> usize {
    1000
}

/// Every setting of a run (written to config.json and into checkpoints).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub data: String,
    pub steps: u64,
    /// Set when the run length was given as --epochs (steps is then derived from it).
    #[serde(default)]
    pub epochs: Option<f64>,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub g_loss: GLoss,
    #[serde(default)]
    pub loss: GanLoss,
    #[serde(default)]
    pub optimizer: Optimizer,
    /// D (critic) steps per G step.
    #[serde(default = "one")]
    pub critic_steps: usize,
    /// Clip D's weights to [-clip, clip] before each D step (WGAN).
    #[serde(default)]
    pub clip: Option<f32>,
    /// WGAN's original schedule: 100 critic steps for the first 25 G steps and every 500th.
    #[serde(default)]
    pub wgan_schedule: bool,
    /// Spectral normalisation of D's weights (one power iteration per use, as torch's spectral_norm).
    #[serde(default)]
    pub spectral_norm: bool,
    /// Mirror each real image left-right with probability 1/2 when the batch is drawn (on the GPU).
    #[serde(default)]
    pub hflip: bool,
    /// GPU memory the data set may take, MiB; a larger set streams from the host (None: as much
    /// as one storage binding holds).
    #[serde(default)]
    pub gpu_data_mb: Option<u64>,
    pub seed: u32,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub log_every: u64,
    /// Quality scores (FID, coverage, SWD: src/eval) every N steps and at the milestones; 0: off.
    #[serde(default)]
    pub eval_every: u64,
    /// Samples each quality evaluation scores (rounded up to whole batches).
    #[serde(default = "eval_n_default")]
    pub eval_n: usize,
    /// TensorBoard event files (scalars, sample grids) in the run folder's tensorboard/.
    #[serde(default = "yes")]
    pub tensorboard: bool,
    pub out: PathBuf,
}

/// One term of an objective, computed on D's adversarial output by one loss kernel: the kind of
/// loss, the target D's output is compared with, and the factor on its batch mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossTerm {
    pub kind: LossKind,
    pub target: f32,
    pub scale: f32,
}

const fn term(kind: LossKind, target: f32, scale: f32) -> LossTerm {
    LossTerm { kind, target, scale }
}

impl GanLoss {
    /// The objective as three terms: the real pass and the fake pass of the D step (their sum is
    /// Loss_D) and G's loss. The whole table of objectives; a new loss is one arm here (and a
    /// kernel only if its math is new). Checked against the published formulas in tests/objectives.rs.
    pub fn terms(self, g_loss: GLoss) -> [LossTerm; 3] {
        use LossKind::*;
        match (self, g_loss) {
            // -E log D(x) - E log(1 - D(G(z))); G: -E log D(G(z)), or the lecture's E log(1 - D(G(z)))
            (GanLoss::Bce, GLoss::Nonsaturating) => [term(BceLogits, 1.0, 1.0), term(BceLogits, 0.0, 1.0), term(BceLogits, 1.0, 1.0)],
            (GanLoss::Bce, GLoss::Minimax) => [term(BceLogits, 1.0, 1.0), term(BceLogits, 0.0, 1.0), term(BceLogits, 0.0, -1.0)],
            // D as BCE; G: 0.5 E[(log D - log(1 - D))^2] = 0.5 E[logit^2]
            (GanLoss::Bgan, _) => [term(BceLogits, 1.0, 1.0), term(BceLogits, 0.0, 1.0), term(Squared, 0.0, 1.0)],
            // critic: mean f(fake) - mean f(real); G: -mean f(fake)
            (GanLoss::Wgan, _) => [term(Linear, 1.0, -1.0), term(Linear, 1.0, 1.0), term(Linear, 1.0, -1.0)],
            // 0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]; G: 0.5 E[(D(G(z)) - 1)^2]
            (GanLoss::Lsgan, _) => [term(Squared, 1.0, 1.0), term(Squared, 0.0, 1.0), term(Squared, 1.0, 1.0)],
            // E relu(1 - D(x)) + E relu(1 + D(G(z))); G: -E D(G(z))
            (GanLoss::Hinge, _) => [term(Hinge, 1.0, 1.0), term(Hinge, -1.0, 1.0), term(Linear, 1.0, -1.0)],
        }
    }
}

/// What `--loss` sets when the user does not override it.
pub struct LossDefaults {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub critic_steps: usize,
    pub clip: Option<f32>,
    pub wgan_schedule: bool,
}

impl GanLoss {
    /// Published defaults (../shared/docs/models.md): WGAN: RMSProp 5e-5, clip 0.01, 5 critic
    /// steps with the original 100-step schedule; the others: DCGAN's Adam 2e-4, betas (0.5, 0.999).
    pub fn defaults(self) -> LossDefaults {
        match self {
            GanLoss::Wgan => LossDefaults { optimizer: Optimizer::Rmsprop, lr: 5e-5, beta1: 0.0, beta2: 0.99, critic_steps: 5, clip: Some(0.01), wgan_schedule: true },
            _ => LossDefaults { optimizer: Optimizer::Adam, lr: 2e-4, beta1: 0.5, beta2: 0.999, critic_steps: 1, clip: None, wgan_schedule: false },
        }
    }
}

impl TrainConfig {
    /// A run of `model` on `data` with DCGAN's BCE defaults, written to `out`.
    pub fn new(model: ModelConfig, data: &str, steps: u64, out: PathBuf) -> TrainConfig {
        let d = GanLoss::Bce.defaults();
        TrainConfig {
            model,
            data: data.into(),
            steps,
            epochs: None,
            lr: d.lr,
            beta1: d.beta1,
            beta2: d.beta2,
            eps: 1e-8,
            g_loss: GLoss::Nonsaturating,
            loss: GanLoss::Bce,
            optimizer: d.optimizer,
            critic_steps: d.critic_steps,
            clip: d.clip,
            wgan_schedule: d.wgan_schedule,
            spectral_norm: false,
            hflip: false,
            gpu_data_mb: None,
            seed: 1,
            sample_every: 500,
            checkpoint_every: 500,
            log_every: 50,
            eval_every: 0,
            eval_n: eval_n_default(),
            tensorboard: true,
            out,
        }
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
        if self.wgan_schedule && (g_step < 25 || g_step % 500 == 0) {
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
