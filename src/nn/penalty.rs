//! Penalties on D's input gradient (WGAN-GP, R1) and their gradient with respect to D's weights:
//! the double backward, by hand.
//!
//! For a network of layers W_i (convolution or linear) and piecewise-linear activations (masks
//! M_i, fixed by the forward pass: their derivative is 0 almost everywhere), the input gradient is
//! g = W_1^T M_1 W_2^T M_2 ... W_L^T 1, and for u = dP/dg
//!     <u, g> = 1^T W_L M_{L-1} W_{L-1} ... M_1 W_1 u,
//! the same network run forward on u without biases and with the forward pass's masks (the
//! tangent pass). So dP/dW_i = (D's backward deltas at block i, from dD/dlogit = 1) x (the tangent
//! pass's input to block i): the layers' own weight-gradient kernels, accumulated into D's
//! gradients. Biases get nothing (g does not depend on them). Under spectral norm these are the
//! normalised weights' gradients, which `sn_backward` turns into the raw weights' with the rest.
//! Batch norm couples the samples (its double backward is not written) and smooth activations
//! have second derivatives: `check_penalty_support` refuses both.

use super::{Activations, Net};
use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, Act, ConvWorkspace, PenaltyKind};
use crate::nn::{Fused, Params, Pass};
use crate::tensor::Tensor;
use anyhow::{bail, Result};

/// The tensors of one penalty pass, allocated once.
pub struct PenaltyBuffers {
    /// D on the penalty's inputs, and its backward deltas from dD/dlogit = 1.
    pub acts: Activations,
    /// The tangent pass: u carried forward through the masked, bias-free network.
    pub tangent: Activations,
    /// g = dD/dx, the input gradient: [N, ...] as D's input.
    pub g: Tensor,
    /// u = dP/dg: [N, ...] as D's input.
    pub u: Tensor,
}

impl Net {
    /// Refuses a network whose double backward is not written, saying why and what to do.
    pub fn check_penalty_support(&self, what: &str) -> Result<()> {
        for (i, s) in self.specs.iter().enumerate() {
            if s.batch_norm {
                bail!(
                    "{what} needs D's double backward, and block {i} of D has batch norm, whose double backward gangpu does not \
                     have (it also couples the samples the penalty treats one by one): use --loss wgan-gp (its critic has no \
                     batch norm) or --d-norm none"
                );
            }
            if !matches!(s.act, Act::Identity | Act::Relu | Act::LeakyRelu(_)) {
                bail!("{what}: block {i} of D uses {:?}, whose second derivative the double backward does not carry", s.act);
            }
        }
        Ok(())
    }

    /// The buffers of a penalty pass at this network's batch; D's adversarial output is column 0
    /// of each row of `stride` outputs.
    pub fn penalty_buffers(&self, e: &Engine, stride: usize, label: &str) -> Result<PenaltyBuffers> {
        let acts = self.activations(e, &format!("{label} penalty"))?;
        let tangent = self.activations(e, &format!("{label} penalty tangent"))?;
        // dD/dlogit: 1 on the adversarial output, 0 on class logits; the last block's output
        // gradient is only ever read, so it is written once here
        let last = &acts.d_out[acts.d_out.len() - 1];
        let ones: Vec<f32> = (0..last.numel()).map(|i| if i % stride == 0 { 1.0 } else { 0.0 }).collect();
        last.write(&e.gpu, &ones)?;
        let shape = self.in_shape();
        let g = Tensor::zeros(&e.gpu, &shape, &format!("{label} input gradient"))?;
        let u = Tensor::zeros(&e.gpu, &shape, &format!("{label} penalty gradient"))?;
        Ok(PenaltyBuffers { acts, tangent, g, u })
    }

    /// The penalty `kind` (x `weight`) of D's input gradient at `x`, added to D's weight
    /// gradients: D forward, D backward into g, the penalty (u = dP/dg; stats[slot] = the
    /// penalty, stats[slot + 1] = mean |g|), the tangent pass and the weight gradients. Run after
    /// the step's other backward passes (it accumulates), before `sn_backward`.
    #[allow(clippy::too_many_arguments)]
    pub fn penalty_pass(
        &self,
        e: &Engine,
        ws: &ConvWorkspace,
        x: &Tensor,
        p: &PenaltyBuffers,
        kind: PenaltyKind,
        weight: f32,
        stats: &Tensor,
        slot: usize,
    ) -> Result<Vec<Dispatch>> {
        self.check_penalty_support("an input-gradient penalty")?;
        let mut v = self.forward(e, ws, x, &p.acts, true, 0.0)?;
        v.extend(self.backward(e, ws, x, &p.acts, Some(&p.g), false, false)?);
        v.push(kernels::penalty(e, kind, weight, &p.g, &p.u, stats, slot)?);
        let pass = Pass { e, ws };
        let last = self.specs.len() - 1;
        for (i, s) in self.specs.iter().enumerate() {
            let input = if i == 0 { &p.u } else { &p.tangent.out[i - 1] };
            let layer = s.layer.layer();
            let dw = self.weight_grad(i);
            v.extend(layer.backward_params(&pass, input, &p.acts.d_pre[i], Params { w: &dw, b: None }, true)?);
            if i < last {
                let w = self.weight(i);
                v.extend(layer.forward(&pass, input, Params { w: &w, b: None }, &p.tangent.pre[i], Fused { act: Act::Identity, bn_partials: None })?);
                if s.act != Act::Identity {
                    // the forward pass's mask, read off its outputs (the sign of leaky ReLU's output is its input's)
                    v.push(kernels::activation_backward(e, s.act, &p.acts.out[i], &p.tangent.pre[i], &p.tangent.out[i])?);
                }
            }
        }
        Ok(v)
    }
}
