//! The objectives of `--loss`, one descriptor each: the three loss terms, whether D's output is a
//! probability, whether the critic's estimate is logged, and the trainer's and the lab's
//! defaults. A new loss is one `Objective` in `OBJECTIVES` (and a loss kernel only if its math is
//! new); everything else (charts, the lab's names, defaults, the tests) reads it from here.

use crate::kernels::LossKind;
use serde::{Deserialize, Serialize};

/// The generator's objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GLoss {
    /// -E[log D(G(z))]: BCE of fakes labelled real (standard in DCGAN).
    Nonsaturating,
    /// E[log(1 - D(G(z)))]: the lecture's minimax form (saturates early).
    Minimax,
}

/// The adversarial objective (its descriptor: `GanLoss::objective`).
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
    /// Wasserstein with a gradient penalty (Improved WGAN): the critic's loss plus
    /// lambda E[(|grad D(x^)| - 1)^2] at interpolates, Adam (0, 0.9), 5 critic steps, no batch norm
    #[serde(rename = "wgan-gp")]
    WganGp,
}

/// D's normalisation between its convolutions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DNorm {
    /// Batch norm, as DCGAN's D
    #[default]
    Batch,
    /// None (WGAN-GP's critic: the penalty is per sample, batch norm couples the samples)
    None,
}

/// The image trainer's optimizer (both networks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    #[default]
    Adam,
    Rmsprop,
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

/// What `--loss` sets in `gangpu train` when the user does not override it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossDefaults {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub critic_steps: usize,
    pub clip: Option<f32>,
    /// WGAN's original schedule: 100 critic steps for the first 25 G steps and every 500th.
    pub wgan_schedule: bool,
}

/// What `--loss` sets in `gangpu lab` (MLPs on 1-D and 2-D targets; the rate follows the
/// optimizer: `lab::LabOpt::default_lr`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabDefaults {
    pub optimizer: Optimizer,
    /// Adam's betas with this objective.
    pub betas: (f64, f64),
    pub steps: u64,
    pub d_steps: usize,
}

/// Everything gangpu knows about one objective.
pub struct Objective {
    pub loss: GanLoss,
    /// Its name in charts and the lab's pictures.
    pub display: &'static str,
    /// D's mean output is logged as a probability (a sigmoid of the logit, as the loss reads
    /// it); otherwise as the raw score.
    pub probabilities: bool,
    /// Whether the critic's estimate (`critic_estimate`) is logged: WGAN's Earth Mover's estimate.
    pub logs_critic_estimate: bool,
    pub train: LossDefaults,
    pub lab: LabDefaults,
    /// The gradient penalty is part of the objective (WGAN-GP), with its default weight.
    pub gradient_penalty: Option<f32>,
    /// D's normalisation unless `--d-norm` says otherwise.
    pub critic_norm: DNorm,
    /// The objective as three terms: the real pass and the fake pass of the D step (their sum is
    /// Loss_D) and G's loss. Checked against the published formulas in tests/objectives.rs.
    terms: fn(GLoss) -> [LossTerm; 3],
}

// DCGAN's recipe (Adam 2e-4, betas (0.5, 0.999), one D step) and the lab's for the same losses
const DCGAN: LossDefaults = LossDefaults { optimizer: Optimizer::Adam, lr: 2e-4, beta1: 0.5, beta2: 0.999, critic_steps: 1, clip: None, wgan_schedule: false };
const LAB_ADAM: LabDefaults = LabDefaults { optimizer: Optimizer::Adam, betas: (0.5, 0.999), steps: 2000, d_steps: 1 };

/// Every objective. Published defaults: ../shared/docs/models.md (docs/models.md here).
pub const OBJECTIVES: [Objective; 6] = [
    Objective {
        loss: GanLoss::Bce,
        display: "BCE",
        probabilities: true,
        logs_critic_estimate: false,
        train: DCGAN,
        lab: LAB_ADAM,
        gradient_penalty: None,
        critic_norm: DNorm::Batch,
        // -E log D(x) - E log(1 - D(G(z))); G: -E log D(G(z)), or the lecture's E log(1 - D(G(z)))
        terms: |g| match g {
            GLoss::Nonsaturating => [term(LossKind::BceLogits, 1.0, 1.0), term(LossKind::BceLogits, 0.0, 1.0), term(LossKind::BceLogits, 1.0, 1.0)],
            GLoss::Minimax => [term(LossKind::BceLogits, 1.0, 1.0), term(LossKind::BceLogits, 0.0, 1.0), term(LossKind::BceLogits, 0.0, -1.0)],
        },
    },
    Objective {
        loss: GanLoss::Wgan,
        display: "WGAN",
        probabilities: false,
        logs_critic_estimate: true,
        // the WGAN paper: RMSProp 5e-5, clip 0.01, 5 critic steps with the 100-step schedule
        train: LossDefaults { optimizer: Optimizer::Rmsprop, lr: 5e-5, beta1: 0.0, beta2: 0.99, critic_steps: 5, clip: Some(0.01), wgan_schedule: true },
        // the lab's MLP critics need a wider box (--clip 0.1) and a larger rate to learn in 1000 steps
        lab: LabDefaults { optimizer: Optimizer::Rmsprop, betas: (0.5, 0.999), steps: 1000, d_steps: 5 },
        gradient_penalty: None,
        critic_norm: DNorm::Batch,
        // critic: mean f(fake) - mean f(real); G: -mean f(fake)
        terms: |_| [term(LossKind::Linear, 1.0, -1.0), term(LossKind::Linear, 1.0, 1.0), term(LossKind::Linear, 1.0, -1.0)],
    },
    Objective {
        loss: GanLoss::Lsgan,
        display: "LSGAN",
        probabilities: false,
        logs_critic_estimate: false,
        train: DCGAN,
        lab: LAB_ADAM,
        gradient_penalty: None,
        critic_norm: DNorm::Batch,
        // 0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]; G: 0.5 E[(D(G(z)) - 1)^2]
        terms: |_| [term(LossKind::Squared, 1.0, 1.0), term(LossKind::Squared, 0.0, 1.0), term(LossKind::Squared, 1.0, 1.0)],
    },
    Objective {
        loss: GanLoss::Hinge,
        display: "hinge",
        probabilities: false,
        logs_critic_estimate: false,
        train: DCGAN,
        lab: LAB_ADAM,
        gradient_penalty: None,
        critic_norm: DNorm::Batch,
        // E relu(1 - D(x)) + E relu(1 + D(G(z))); G: -E D(G(z))
        terms: |_| [term(LossKind::Hinge, 1.0, 1.0), term(LossKind::Hinge, -1.0, 1.0), term(LossKind::Linear, 1.0, -1.0)],
    },
    Objective {
        loss: GanLoss::Bgan,
        display: "BGAN",
        probabilities: true,
        logs_critic_estimate: false,
        train: DCGAN,
        lab: LAB_ADAM,
        gradient_penalty: None,
        critic_norm: DNorm::Batch,
        // D as BCE; G: 0.5 E[(log D - log(1 - D))^2] = 0.5 E[logit^2]
        terms: |_| [term(LossKind::BceLogits, 1.0, 1.0), term(LossKind::BceLogits, 0.0, 1.0), term(LossKind::Squared, 0.0, 1.0)],
    },
    Objective {
        loss: GanLoss::WganGp,
        display: "WGAN-GP",
        probabilities: false,
        logs_critic_estimate: true,
        // Gulrajani et al. 2017, Algorithm 1: Adam lr 1e-4, betas (0, 0.9), 5 critic steps, lambda 10
        train: LossDefaults { optimizer: Optimizer::Adam, lr: 1e-4, beta1: 0.0, beta2: 0.9, critic_steps: 5, clip: None, wgan_schedule: false },
        lab: LabDefaults { optimizer: Optimizer::Adam, betas: (0.0, 0.9), steps: 1000, d_steps: 5 },
        gradient_penalty: Some(10.0),
        critic_norm: DNorm::None,
        // the critic's terms are WGAN's; the penalty is added by the D step (gan::step)
        terms: |_| [term(LossKind::Linear, 1.0, -1.0), term(LossKind::Linear, 1.0, 1.0), term(LossKind::Linear, 1.0, -1.0)],
    },
];

/// The critic's estimate, one formula for the trainer and the lab: mean D(real) - mean D(fake) on
/// the raw outputs. For WGAN's critic (clipped to a Lipschitz box) it estimates the Earth Mover's
/// distance up to the box's constant.
pub fn critic_estimate(mean_real: f32, mean_fake: f32) -> f32 {
    mean_real - mean_fake
}

impl GanLoss {
    /// Every objective, in table order.
    pub fn all() -> impl Iterator<Item = GanLoss> {
        OBJECTIVES.iter().map(|o| o.loss)
    }

    /// This objective's descriptor (a test checks that every `GanLoss` has exactly one).
    pub fn objective(self) -> &'static Objective {
        OBJECTIVES.iter().find(|o| o.loss == self).unwrap_or(&OBJECTIVES[0])
    }

    pub fn terms(self, g_loss: GLoss) -> [LossTerm; 3] {
        (self.objective().terms)(g_loss)
    }

    /// The trainer's defaults for this objective.
    pub fn defaults(self) -> LossDefaults {
        self.objective().train
    }

    /// The G losses this objective takes (minimax is BCE's).
    pub fn g_losses(self) -> &'static [GLoss] {
        if self == GanLoss::Bce {
            &[GLoss::Nonsaturating, GLoss::Minimax]
        } else {
            &[GLoss::Nonsaturating]
        }
    }
}
