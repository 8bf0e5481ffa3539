//! One GAN step, shared by the DCGAN trainer and the lab: the D (critic) step (G frozen: D on a
//! real batch, then on G's batch, gradients summed) and the G step (D frozen: the gradient flows
//! through D into G), each the objective's terms from `GanLoss::terms`, written into the same
//! stats slots. What only one user needs (class conditioning, spectral norm, a fresh G pass in
//! the G step) comes in as hooks, so the order of the shared part is written once.

use super::LossTerm;
use super::{SLOT_FAKE, SLOT_GEN, SLOT_GP, SLOT_R1, SLOT_REAL};
use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, ConvWorkspace, PenaltyKind};
use crate::nn::{Activations, Net};
use crate::tensor::Tensor;
use anyhow::Result;

/// The per-sample targets the loss terms compare D's output with: 1, 0 and -1.
pub struct Targets {
    ones: Tensor,
    zeros: Tensor,
    minus_ones: Tensor,
}

impl Targets {
    pub fn new(e: &Engine, b: usize) -> Result<Targets> {
        Ok(Targets {
            ones: Tensor::from_slice(&e.gpu, &[b], &vec![1.0; b], "targets 1")?,
            zeros: Tensor::zeros(&e.gpu, &[b], "targets 0")?,
            minus_ones: Tensor::from_slice(&e.gpu, &[b], &vec![-1.0; b], "targets -1")?,
        })
    }
    pub fn of(&self, t: f32) -> &Tensor {
        if t > 0.5 {
            &self.ones
        } else if t < -0.5 {
            &self.minus_ones
        } else {
            &self.zeros
        }
    }
}

/// The networks and tensors of one GAN, as the step sees them.
pub struct Adversarial<'a> {
    pub g: &'a Net,
    pub d: &'a Net,
    pub ws: &'a ConvWorkspace,
    pub g_acts: &'a Activations,
    pub d_acts: &'a Activations,
    /// G's input (noise, with labels attached for conditional models).
    pub g_in: &'a Tensor,
    /// D's inputs: the real batch and G's batch (with label planes for CGAN), and the gradient
    /// with respect to the latter.
    pub real_in: &'a Tensor,
    pub fake_in: &'a Tensor,
    pub fake_in_grad: &'a Tensor,
    /// D's output rows of `stride` values (the adversarial one first) and their gradients.
    pub logits: &'a Tensor,
    pub dlogits: &'a Tensor,
    pub stride: usize,
    /// The objective: the real pass and the fake pass of the D step, and G's loss.
    pub terms: [LossTerm; 3],
    pub targets: &'a Targets,
    pub stats: &'a Tensor,
    /// Batch-norm momentum of the training passes.
    pub momentum: f32,
}

/// What a user adds to the D step, in order of use.
#[derive(Default)]
pub struct DHooks {
    /// Before anything (e.g. spectral norm's power iteration).
    pub start: Vec<Dispatch>,
    /// Before G's forward pass (e.g. labels attached to z).
    pub before_g: Vec<Dispatch>,
    /// After G's forward pass, before D's (e.g. label planes attached to both batches).
    pub before_d: Vec<Dispatch>,
    /// Extra losses on D's output after each adversarial term (e.g. ACGAN's class cross-entropy).
    pub after_real_loss: Vec<Dispatch>,
    pub after_fake_loss: Vec<Dispatch>,
    /// After both backward passes (e.g. spectral norm's backward).
    pub end: Vec<Dispatch>,
}

/// What a user adds to the G step.
#[derive(Default)]
pub struct GHooks {
    pub start: Vec<Dispatch>,
    /// A fresh forward pass of G before D's (the lab draws new noise for its G step; the trainer
    /// reuses the D step's fake batch, as the PyTorch DCGAN example does).
    pub regenerate: Option<Vec<Dispatch>>,
    pub after_gen_loss: Vec<Dispatch>,
    /// Between D's input gradient and G's backward pass (e.g. slicing label planes off).
    pub before_g_backward: Vec<Dispatch>,
}

impl Adversarial<'_> {
    fn term(&self, e: &Engine, t: LossTerm, slot: usize) -> Result<Dispatch> {
        kernels::loss_strided(e, t.kind, t.scale, self.logits, self.stride, 0, self.targets.of(t.target), self.dlogits, self.stats, slot)
    }

    /// The D (critic) step: G's batch with G frozen, D on the real batch (term 0) and on G's
    /// batch (term 1), weight gradients summed over both passes.
    pub fn d_step(&self, e: &Engine, h: DHooks) -> Result<Vec<Dispatch>> {
        let (g, d, ws) = (self.g, self.d, self.ws);
        let mut v = h.start;
        v.extend(h.before_g);
        v.extend(g.forward(e, ws, self.g_in, self.g_acts, true, self.momentum)?);
        v.extend(h.before_d);
        v.extend(d.forward(e, ws, self.real_in, self.d_acts, true, self.momentum)?);
        v.push(self.term(e, self.terms[0], SLOT_REAL)?);
        v.extend(h.after_real_loss);
        v.extend(d.backward(e, ws, self.real_in, self.d_acts, None, true, false)?);
        v.extend(d.forward(e, ws, self.fake_in, self.d_acts, true, self.momentum)?);
        v.push(self.term(e, self.terms[1], SLOT_FAKE)?);
        v.extend(h.after_fake_loss);
        v.extend(d.backward(e, ws, self.fake_in, self.d_acts, None, true, true)?);
        v.extend(h.end);
        Ok(v)
    }

    /// The G step: D frozen (no weight gradients), G's loss (term 2) on D's output, the gradient
    /// through D into G's batch, then G's backward pass.
    pub fn g_step(&self, e: &Engine, h: GHooks) -> Result<Vec<Dispatch>> {
        let (g, d, ws) = (self.g, self.d, self.ws);
        let mut v = h.start;
        if let Some(pass) = h.regenerate {
            v.extend(pass);
        }
        v.extend(d.forward(e, ws, self.fake_in, self.d_acts, true, self.momentum)?);
        v.push(self.term(e, self.terms[2], SLOT_GEN)?);
        v.extend(h.after_gen_loss);
        v.extend(d.backward(e, ws, self.fake_in, self.d_acts, Some(self.fake_in_grad), false, false)?);
        v.extend(h.before_g_backward);
        v.extend(g.backward(e, ws, self.g_in, self.g_acts, None, true, false)?);
        Ok(v)
    }

    /// WGAN-GP's penalty for the end of the D step (after both backward passes, before spectral
    /// norm's backward and the optimizer): `weight` E[(|grad D(x^)| - 1)^2] at x^ = eps real +
    /// (1 - eps) fake. The first dispatch is the interpolation: set its counter each D step
    /// (`kernels::interpolation_params`).
    pub fn gradient_penalty(&self, e: &Engine, weight: f32, seed: u32, stream: u32) -> Result<Vec<Dispatch>> {
        self.d.check_penalty_support("the gradient penalty (--loss wgan-gp)")?;
        let x_hat = Tensor::zeros(&e.gpu, &self.real_in.shape, "interpolates")?;
        let buffers = self.d.penalty_buffers(e, self.stride, "D")?;
        let mut v = vec![kernels::interpolate(e, self.real_in, self.fake_in, &x_hat, seed, stream)?];
        v.extend(self.d.penalty_pass(e, self.ws, &x_hat, &buffers, PenaltyKind::GradientPenalty, weight, self.stats, SLOT_GP)?);
        Ok(v)
    }

    /// R1's penalty at the real batch, `weight` E[0.5 |grad D(x)|^2], for the end of the D steps
    /// it runs in (lazily: weight = gamma x the interval).
    pub fn r1_penalty(&self, e: &Engine, weight: f32) -> Result<Vec<Dispatch>> {
        self.d.check_penalty_support("R1 (--r1-gamma)")?;
        let buffers = self.d.penalty_buffers(e, self.stride, "D R1")?;
        self.d.penalty_pass(e, self.ws, self.real_in, &buffers, PenaltyKind::R1, weight, self.stats, SLOT_R1)
    }
}
