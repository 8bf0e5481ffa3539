//! One row of metrics.jsonl, read off the stats buffer the loss and penalty kernels write.

use super::TrainConfig;
use crate::gan::augment::AugmentP;
use crate::gan::{SLOT_AUG, SLOT_CE_FAKE, SLOT_CE_GEN, SLOT_CE_REAL, SLOT_FAKE, SLOT_GEN, SLOT_GP, SLOT_R1, SLOT_REAL};
use crate::models::Cond;
use serde::{Deserialize, Serialize};

/// One logged row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub step: u64,
    pub loss_d: f32,
    pub loss_g: f32,
    pub d_x: f32,
    pub d_g_z1: f32,
    pub d_g_z2: f32,
    /// WGAN: the critic's estimate of the Earth Mover's distance (`gan::critic_estimate`:
    /// mean f(real) - mean f(fake)); runs before 0.3 logged it as `em_estimate`.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "em_estimate")]
    pub critic_estimate: Option<f32>,
    /// ACGAN: D's class accuracy on the real and the fake batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_real: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_fake: Option<f32>,
    /// ACGAN: the class cross-entropy inside loss_d (real + fake) and inside loss_g, so the
    /// adversarial part can be told apart (loss_d - class_loss_d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_loss_d: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_loss_g: Option<f32>,
    /// WGAN-GP: the penalty (lambda E[(|g| - 1)^2], not inside loss_d) and the mean norm |g| of
    /// D's gradient at the interpolates (the penalty pulls it to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty_gp: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm_gp: Option<f32>,
    /// R1: the penalty (gamma/2 E|g|^2 x --r1-every, not inside loss_d) and the mean norm of D's
    /// gradient at real images, in the rows of the iterations whose D steps ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty_r1: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm_r1: Option<f32>,
    /// --augment: the probability each transform applied with (ADA's current one with
    /// --augment-p auto), and ADA's r_t = E[sign(D(real))] at its last adjustment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ada_rt: Option<f32>,
    pub steps_per_s: f64,
    /// Epochs of real images drawn so far (D batches x batch size / data set size).
    #[serde(default)]
    pub epoch: f64,
}

impl Metrics {
    /// The row of `step` from the stats buffer `s`; `r1_ran`: whether R1 ran in this iteration's
    /// D steps (its slot keeps the last R1 step's value, which is logged with the step it ran in).
    pub(crate) fn from_stats(step: u64, s: &[f32], steps_per_s: f64, epoch: f64, cfg: &TrainConfig, r1_ran: bool) -> Metrics {
        let ac = cfg.model.cond == Cond::Acgan;
        let class_loss_d = ac.then(|| s[SLOT_CE_REAL] + s[SLOT_CE_FAKE]);
        let class_loss_g = ac.then(|| s[SLOT_CE_GEN]);
        Metrics {
            critic_estimate: cfg.loss.objective().logs_critic_estimate.then(|| crate::gan::critic_estimate(s[SLOT_REAL + 1], s[SLOT_FAKE + 1])),
            acc_real: ac.then(|| s[SLOT_CE_REAL + 1]),
            acc_fake: ac.then(|| s[SLOT_CE_FAKE + 1]),
            class_loss_d,
            class_loss_g,
            penalty_gp: cfg.gp_weight.map(|_| s[SLOT_GP]),
            grad_norm_gp: cfg.gp_weight.map(|_| s[SLOT_GP + 1]),
            penalty_r1: cfg.r1_gamma.filter(|_| r1_ran).map(|_| s[SLOT_R1]),
            grad_norm_r1: cfg.r1_gamma.filter(|_| r1_ran).map(|_| s[SLOT_R1 + 1]),
            augment_p: cfg.augment_setup().map(|a| match a.p {
                AugmentP::Fixed(p) => p as f32,
                AugmentP::Auto => s[SLOT_AUG],
            }),
            ada_rt: cfg.augment_setup().filter(|a| a.p == AugmentP::Auto).map(|_| s[SLOT_AUG + 1]),
            step,
            loss_d: s[SLOT_REAL] + s[SLOT_FAKE] + class_loss_d.unwrap_or(0.0),
            loss_g: s[SLOT_GEN] + class_loss_g.unwrap_or(0.0),
            d_x: s[SLOT_REAL + 1],
            d_g_z1: s[SLOT_FAKE + 1],
            d_g_z2: s[SLOT_GEN + 1],
            steps_per_s,
            epoch,
        }
    }
    pub fn finite(&self) -> bool {
        [self.loss_d, self.loss_g, self.d_x, self.d_g_z1, self.d_g_z2].iter().all(|v| v.is_finite())
    }
}
