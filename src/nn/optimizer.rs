//! One network's optimizer over its flat parameter buffer: one dispatch per step.

use super::Net;
use crate::engine::Dispatch;
use crate::engine::Engine;
use crate::kernels;
use crate::tensor::Tensor;
use anyhow::Result;

/// Which update rule a network's optimizer applies (torch.optim semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptRule {
    Adam { beta1: f64, beta2: f64, eps: f64 },
    RmsProp { alpha: f64, eps: f64 },
    Sgd,
}

/// One network's optimizer: its state (flat, in the parameter layout) and one dispatch over the
/// whole flat parameter buffer, built once and replayed every step.
pub struct NetOptimizer {
    pub rule: OptRule,
    pub lr: f64,
    /// State buffers, named as torch.optim names them (exp_avg, exp_avg_sq / square_avg).
    pub state: Vec<(String, Tensor)>,
    pub dispatch: Dispatch,
    /// Steps taken (Adam's bias correction).
    pub steps: u64,
}

impl NetOptimizer {
    pub fn new(e: &Engine, net: &Net, rule: OptRule, lr: f64, label: &str) -> Result<NetOptimizer> {
        let len = net.params.layout.len;
        let (p, g) = (net.params.all(), net.grads.all());
        let zeros = |name: &str| Tensor::zeros(&e.gpu, &[len], &format!("{label} {name}")).map(|t| (name.to_string(), t));
        let (state, dispatch) = match rule {
            OptRule::Adam { beta1, beta2, eps } => {
                let (m, v) = (zeros("exp_avg")?, zeros("exp_avg_sq")?);
                let d = kernels::adam(e, kernels::OptParams::adam(len, lr, beta1, beta2, eps, 1), &p, &g, &m.1, &v.1)?;
                (vec![m, v], d)
            }
            OptRule::RmsProp { alpha, eps } => {
                let v = zeros("square_avg")?;
                let d = kernels::rmsprop(e, kernels::OptParams::rmsprop(len, lr, alpha, eps), &p, &g, &v.1)?;
                (vec![v], d)
            }
            OptRule::Sgd => (vec![], kernels::sgd(e, lr, &p, &g)?),
        };
        Ok(NetOptimizer { rule, lr, state, dispatch, steps: 0 })
    }

    pub fn names(&self) -> Vec<String> {
        self.state.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Advances the step count, updates Adam's bias correction, and returns the dispatch to record.
    pub fn step(&mut self, gpu: &crate::gpu::Gpu) -> &Dispatch {
        self.steps += 1;
        if let OptRule::Adam { beta1, beta2, eps } = self.rule {
            let len = self.state[0].1.numel();
            self.dispatch.set_params(gpu, &kernels::OptParams::adam(len, self.lr, beta1, beta2, eps, self.steps));
        }
        &self.dispatch
    }
}
