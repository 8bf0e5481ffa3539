//! Input-gradient penalties (shaders/penalty.wgsl): WGAN-GP's at interpolates of real and
//! generated samples, R1's at real ones. The double backward that carries them to D's weights is
//! `nn::Net::penalty_pass`.

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct PenaltyParams {
    pub n: u32,
    pub dim: u32,
    pub kind: u32,
    pub weight: f32,
    pub slot: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
}

/// Which penalty of the input gradient g = dD(x)/dx, per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyKind {
    /// WGAN-GP (Gulrajani et al. 2017): weight * E[(|g| - 1)^2].
    GradientPenalty,
    /// R1 (Mescheder et al. 2018): weight * E[0.5 |g|^2] (weight = gamma, times the lazy interval).
    R1,
}

impl PenaltyKind {
    /// Every kind with its WGSL name: the codes are defined here only and prepended to every shader.
    pub const ALL: [(PenaltyKind, &'static str); 2] = [(PenaltyKind::GradientPenalty, "PENALTY_GP"), (PenaltyKind::R1, "PENALTY_R1")];

    pub fn code(self) -> u32 {
        PenaltyKind::ALL.iter().position(|(k, _)| *k == self).unwrap_or(0) as u32
    }

    /// The penalty of one sample's gradient norm, and dP/d|g| (the host's reference).
    pub fn value(self, norm: f64) -> (f64, f64) {
        match self {
            PenaltyKind::GradientPenalty => ((norm - 1.0).powi(2), 2.0 * (norm - 1.0)),
            PenaltyKind::R1 => (0.5 * norm * norm, norm),
        }
    }
}

fn per_sample(t: &Tensor) -> Result<(usize, usize)> {
    let n = *t.shape.first().ok_or_else(|| anyhow!("penalty: a tensor without a batch dimension"))?;
    ensure!(n > 0 && t.numel().is_multiple_of(n), "penalty: shape {:?} is not a batch", t.shape);
    Ok((n, t.numel() / n))
}

/// x_hat = eps real + (1 - eps) fake, eps ~ U(0, 1] per sample from (seed, stream, counter); the
/// counter is set per step with `set_params`.
pub fn interpolate(e: &Engine, real: &Tensor, fake: &Tensor, x_hat: &Tensor, seed: u32, stream: u32) -> Result<Dispatch> {
    fake.expect_shape(&real.shape, "interpolate: generated batch")?;
    x_hat.expect_shape(&real.shape, "interpolate: output")?;
    let p = interpolation_params(real, seed, stream, 0)?;
    e.dispatch(Family::Penalty, "interpolate", &p, &[(1, real.binding()), (2, fake.binding()), (3, x_hat.binding())], e.grid_for(real.numel() as u64)?)
}

/// `interpolate`'s parameters at D step `counter` (set before each D step).
pub fn interpolation_params(real: &Tensor, seed: u32, stream: u32, counter: u32) -> Result<PenaltyParams> {
    let (n, dim) = per_sample(real)?;
    Ok(PenaltyParams { n: n as u32, dim: dim as u32, seed, stream, counter, ..Default::default() })
}

/// From the input gradient g (N, ...): u = dP/dg into `u`, and stats[slot] = weight * mean
/// penalty, stats[slot + 1] = mean |g|.
pub fn penalty(e: &Engine, kind: PenaltyKind, weight: f32, g: &Tensor, u: &Tensor, stats: &Tensor, slot: usize) -> Result<Dispatch> {
    u.expect_shape(&g.shape, "penalty: dP/dg")?;
    let (n, dim) = per_sample(g)?;
    ensure!(slot + 1 < stats.numel(), "penalty: stats slot {slot} outside a stats buffer of {}", stats.numel());
    ensure!(weight.is_finite(), "penalty: weight {weight}");
    let p = PenaltyParams { n: n as u32, dim: dim as u32, kind: kind.code(), weight, slot: slot as u32, ..Default::default() };
    e.dispatch(Family::Penalty, "penalty", &p, &[(1, g.binding()), (3, u.binding()), (4, stats.binding())], [1, 1, 1])
        .map(|d| d.with_work(format!("one workgroup reduces {n} input gradients of {dim} values")))
}
