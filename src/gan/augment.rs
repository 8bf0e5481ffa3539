//! Differentiable augmentation in the GAN step (`--augment`, DiffAugment; `--augment-p auto`,
//! ADA): every image D sees goes through the same family of random transforms, the real and the
//! generated batch of each D step and the generated batch of each G step, whose gradient flows
//! back through the transforms into G (Zhao et al. 2020: augmenting only the reals leaks the
//! augmentation into G's samples). The kernels are shaders/augment.wgsl.

use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, AugmentParams, Augmentation, ADA_VALUES, AUG_VALUES};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// ADA adjusts p every this many D steps (StyleGAN2-ADA's ada_interval).
pub const ADA_INTERVAL: u64 = 4;
/// ADA's target for r_t = E[sign(D(real))] (StyleGAN2-ADA's).
pub const ADA_TARGET: f64 = 0.6;
/// Thousands of real images in which p can cross [0, 1]. StyleGAN2-ADA's 500 suits runs of
/// millions of images; gangpu's runs see 100k to 1M, so p may move 5x faster.
pub const ADA_KIMG: f64 = 100.0;

/// How often each transform applies to an image: a fixed probability, or ADA's adaptive one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AugmentP {
    Fixed(f64),
    /// Starts at 0; every `ADA_INTERVAL` D steps moves toward r_t = the target.
    Auto,
}

impl AugmentP {
    /// The probability the run starts with.
    pub fn initial(self) -> f64 {
        match self {
            AugmentP::Fixed(p) => p,
            AugmentP::Auto => 0.0,
        }
    }
}

impl std::str::FromStr for AugmentP {
    type Err = String;
    fn from_str(s: &str) -> Result<AugmentP, String> {
        if s.trim() == "auto" {
            return Ok(AugmentP::Auto);
        }
        match s.trim().parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(AugmentP::Fixed(p)),
            Ok(p) => Err(format!("a probability must be in [0, 1], got {p}")),
            Err(_) => Err(format!("expected a probability in [0, 1] or `auto`, got '{s}'")),
        }
    }
}

impl TryFrom<String> for AugmentP {
    type Error = String;
    fn try_from(s: String) -> Result<AugmentP, String> {
        s.parse()
    }
}

impl From<AugmentP> for String {
    fn from(p: AugmentP) -> String {
        match p {
            AugmentP::Fixed(v) => v.to_string(),
            AugmentP::Auto => "auto".into(),
        }
    }
}

/// The command-line parser of `--augment-p`.
pub fn parse_augment_p(s: &str) -> Result<AugmentP, String> {
    s.parse()
}

/// What the GAN step needs to augment D's inputs.
pub struct AugmentSetup<'a> {
    pub policy: &'a [Augmentation],
    pub p: AugmentP,
    pub seed: u32,
    /// RNG streams of the D step's real batch, its fake batch, and the G step's batch.
    pub streams: [u32; 3],
    /// ADA's target for r_t and its speed (thousands of images to cross [0, 1]).
    pub ada_target: f64,
    pub ada_kimg: f64,
}

/// The augmented batches, their draws and the dispatches that make them, built once; the
/// step lists own the dispatches, this keeps clones to set each step's counters.
pub struct Augmenter {
    /// D's view of the real batch, of G's batch, and the gradient with respect to the latter.
    pub real: Tensor,
    pub fake: Tensor,
    pub fake_grad: Tensor,
    /// Each sample's draws (N, 8) of the real batch and of G's batch (the latter rewritten by the
    /// G step, whose backward pass reads them).
    pub draws_real: Tensor,
    pub draws_fake: Tensor,
    /// [p, sum of sign(D(real)), count, last r_t].
    pub ada: Tensor,
    /// The gradient with respect to G's batch, which the backward pass writes (G's output grad).
    pub g_out_grad: Tensor,
    real_pass: (Dispatch, AugmentParams),
    fake_pass: (Dispatch, AugmentParams),
    gen_pass: (Dispatch, AugmentParams),
    backward: Dispatch,
    ada_update: Option<(Dispatch, AugmentParams)>,
}

impl Augmenter {
    /// For batches shaped like `real_batch` (N, C, H, W); `logits` (N rows of `stride`, the
    /// adversarial value first) is what ADA reads after D's pass on the real batch, and
    /// stats[slot], stats[slot + 1] receive p and r_t.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        e: &Engine,
        s: &AugmentSetup,
        real_batch: &Tensor,
        fake_batch: &Tensor,
        fake_batch_grad: &Tensor,
        logits: &Tensor,
        stride: usize,
        stats: &Tensor,
        slot: usize,
    ) -> Result<Augmenter> {
        if s.policy.is_empty() {
            bail!("augmentation needs at least one of color, translation, cutout");
        }
        let shape = &real_batch.shape;
        let n = shape[0];
        let policy = Augmentation::policy(s.policy);
        let real = Tensor::zeros(&e.gpu, shape, "augmented real batch")?;
        let fake = Tensor::zeros(&e.gpu, shape, "augmented fake batch")?;
        let fake_grad = Tensor::zeros(&e.gpu, shape, "augmented fake batch grad")?;
        let draws_real = Tensor::zeros(&e.gpu, &[n, AUG_VALUES], "augment draws (real)")?;
        let draws_fake = Tensor::zeros(&e.gpu, &[n, AUG_VALUES], "augment draws (fake)")?;
        let ada = Tensor::from_slice(&e.gpu, &[ADA_VALUES], &[s.p.initial() as f32, 0.0, 0.0, 0.0], "ADA state")?;
        let real_pass = kernels::augment(e, real_batch, &real, &draws_real, &ada, policy, s.seed, s.streams[0], false)?;
        let fake_pass = kernels::augment(e, fake_batch, &fake, &draws_fake, &ada, policy, s.seed, s.streams[1], false)?;
        let gen_pass = kernels::augment(e, fake_batch, &fake, &draws_fake, &ada, policy, s.seed, s.streams[2], false)?;
        let backward = kernels::augment_backward(e, &fake_grad, fake_batch_grad, &draws_fake)?;
        let ada_update = match s.p {
            AugmentP::Auto => {
                let step = kernels::ada_step_size(n, ADA_INTERVAL, s.ada_kimg);
                Some(kernels::ada_update(e, logits, stride, &ada, step, s.ada_target as f32, stats, slot)?)
            }
            AugmentP::Fixed(_) => None,
        };
        Ok(Augmenter {
            real,
            fake,
            fake_grad,
            draws_real,
            draws_fake,
            ada,
            g_out_grad: fake_batch_grad.clone(),
            real_pass,
            fake_pass,
            gen_pass,
            backward,
            ada_update,
        })
    }

    /// For the D step, after G's pass: the real batch, then G's batch.
    pub fn d_inputs(&self) -> Vec<Dispatch> {
        vec![self.real_pass.0.clone(), self.fake_pass.0.clone()]
    }

    /// For the D step, after the loss on the real batch: ADA's update (with `--augment-p auto`).
    pub fn after_real_loss(&self) -> Vec<Dispatch> {
        self.ada_update.iter().map(|(d, _)| d.clone()).collect()
    }

    /// For the G step, before D's pass: G's batch with fresh draws.
    pub fn g_input(&self) -> Dispatch {
        self.gen_pass.0.clone()
    }

    /// For the G step, between D's input gradient and G's backward pass.
    pub fn g_backward(&self) -> Dispatch {
        self.backward.clone()
    }

    /// Sets the counters of D step number `d_count` (before its submit): its draws, and whether
    /// ADA adjusts p at its end.
    pub fn set_d_step(&self, e: &Engine, d_count: u64) {
        let counter = d_count as u32;
        for (d, p) in [&self.real_pass, &self.fake_pass] {
            d.set_params(&e.gpu, &AugmentParams { counter, ..*p });
        }
        if let Some((d, p)) = &self.ada_update {
            d.set_params(&e.gpu, &AugmentParams { adjust: (d_count + 1).is_multiple_of(ADA_INTERVAL) as u32, ..*p });
        }
    }

    /// Sets the counter of G step number `step`.
    pub fn set_g_step(&self, e: &Engine, step: u64) {
        let (d, p) = &self.gen_pass;
        d.set_params(&e.gpu, &AugmentParams { counter: step as u32, ..*p });
    }
}
