//! Differentiable augmentation (shaders/augment.wgsl): DiffAugment's color, translation and
//! cutout, each applied per sample with probability p, their backward pass, and ADA's update of
//! p from the sign of D's output on real images.

use super::*;
use serde::{Deserialize, Serialize};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct AugmentParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub policy: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
    pub shift_h: u32,
    pub shift_w: u32,
    pub cut_h: u32,
    pub cut_w: u32,
    pub given: u32,
    pub stride: u32,
    pub adjust: u32,
    pub step: f32,
    pub rt_target: f32,
    pub slot: u32,
    pub _pad: [u32; 2],
}

/// One family of DiffAugment's transforms (`--augment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Augmentation {
    /// Brightness, saturation and contrast, each drawn per sample.
    Color,
    /// A shift of up to 1/8 of the image in each direction, zeros shifted in.
    Translation,
    /// A square of half the image's side set to zero.
    Cutout,
}

impl Augmentation {
    /// Every family with its WGSL bit: the codes are defined here only and prepended to every shader.
    pub const ALL: [(Augmentation, &'static str); 3] =
        [(Augmentation::Color, "AUG_COLOR"), (Augmentation::Translation, "AUG_TRANSLATION"), (Augmentation::Cutout, "AUG_CUTOUT")];

    pub fn bit(self) -> u32 {
        1 << Augmentation::ALL.iter().position(|(k, _)| *k == self).unwrap_or(0)
    }

    /// The policy bits of a list of families.
    pub fn policy(list: &[Augmentation]) -> u32 {
        list.iter().fold(0, |acc, a| acc | a.bit())
    }
}

/// Values per sample in the draws buffer: b, s, c, dh, dw, top, left, 0.
pub const AUG_VALUES: usize = 8;
/// The ADA state buffer: [p, sum of sign(D(real)), count, last r_t].
pub const ADA_VALUES: usize = 4;

/// DiffAugment's translation ratio (1/8 of the side) and cutout ratio (1/2), rounded as its
/// `int(size * ratio + 0.5)`.
pub fn augment_extents(side: usize) -> (u32, u32) {
    let round = |r: f64| (side as f64 * r + 0.5) as u32;
    (round(0.125), round(0.5))
}

/// What `augment` and its backward pass read and write, checked: images (N, C, H, W), draws (N, 8).
fn augment_params(x: &Tensor, out: &Tensor, draws: &Tensor, policy: u32) -> Result<AugmentParams> {
    let [n, c, h, w] = x.shape[..] else { bail!("augment: images {:?} are not (N, C, H, W)", x.shape) };
    out.expect_shape(&x.shape, "augment: output")?;
    draws.expect_shape(&[n, AUG_VALUES], "augment: per-sample draws")?;
    ensure!(n > 0 && n <= 65535, "augment: batch {n} (one workgroup per sample: 1 to 65535)");
    ensure!(h > 0 && w > 0 && c > 0, "augment: empty images {:?}", x.shape);
    ensure!(policy != 0, "augment: an empty policy");
    let (shift_h, cut_h) = augment_extents(h);
    let (shift_w, cut_w) = augment_extents(w);
    Ok(AugmentParams { n: n as u32, c: c as u32, h: h as u32, w: w as u32, policy, shift_h, shift_w, cut_h, cut_w, ..Default::default() })
}

/// out = the policy's transforms of x, each applied per sample with probability ada[0], drawn
/// from (seed, stream, counter) (the counter is set per step with `set_params` and
/// `augment_step`); the draws go to `draws` for `augment_backward`. With `given`, the draws are
/// read from `draws` instead (tests replay chosen ones).
#[allow(clippy::too_many_arguments)]
pub fn augment(
    e: &Engine,
    x: &Tensor,
    out: &Tensor,
    draws: &Tensor,
    ada: &Tensor,
    policy: u32,
    seed: u32,
    stream: u32,
    given: bool,
) -> Result<(Dispatch, AugmentParams)> {
    ada.expect_shape(&[ADA_VALUES], "augment: ADA state")?;
    let p = AugmentParams { seed, stream, given: given as u32, ..augment_params(x, out, draws, policy)? };
    let d = e.dispatch(Family::Augment, "augment", &p, &[(1, x.binding()), (2, out.binding()), (3, draws.binding()), (4, ada.binding())], [p.n, 1, 1])?;
    Ok((d.with_work(format!("one workgroup per sample: {} images of {}x{}x{}", p.n, p.c, p.h, p.w)), p))
}

/// dx = the gradient of `augment` at the draws in `draws`, from dy.
pub fn augment_backward(e: &Engine, dy: &Tensor, dx: &Tensor, draws: &Tensor) -> Result<Dispatch> {
    let p = augment_params(dy, dx, draws, u32::MAX)?;
    e.dispatch(Family::Augment, "augment_backward", &p, &[(1, dy.binding()), (2, dx.binding()), (3, draws.binding())], [p.n, 1, 1])
        .map(|d| d.with_work(format!("one workgroup per sample: {} images", p.n)))
}

/// ADA's adjustment speed: p moves by batch x interval / (kimg x 1000) per adjustment, so it can
/// cross [0, 1] in `kimg` thousand real images.
pub fn ada_step_size(batch: usize, interval: u64, kimg: f64) -> f32 {
    (batch as f64 * interval as f64 / (kimg * 1000.0)) as f32
}

/// ADA's heuristic over D's output on the real batch (`logits`: N rows of `stride`, the
/// adversarial value first): sums sign(D(real)) into `ada`; with `adjust` set per step (through
/// `set_params`), moves p by `step` toward r_t = `target`. stats[slot] = p, stats[slot + 1] = r_t.
#[allow(clippy::too_many_arguments)]
pub fn ada_update(
    e: &Engine,
    logits: &Tensor,
    stride: usize,
    ada: &Tensor,
    step: f32,
    target: f32,
    stats: &Tensor,
    slot: usize,
) -> Result<(Dispatch, AugmentParams)> {
    ensure!(stride > 0 && logits.numel().is_multiple_of(stride), "ada: D's output of {} values is not rows of {stride}", logits.numel());
    ada.expect_shape(&[ADA_VALUES], "ada: state")?;
    ensure!(slot + 1 < stats.numel(), "ada: stats slot {slot} outside a stats buffer of {}", stats.numel());
    ensure!(step.is_finite() && step >= 0.0 && target.is_finite(), "ada: step {step}, target {target}");
    let p = AugmentParams { n: (logits.numel() / stride) as u32, stride: stride as u32, step, rt_target: target, slot: slot as u32, ..Default::default() };
    let d = e.dispatch(Family::Augment, "ada_update", &p, &[(1, logits.binding()), (4, ada.binding()), (5, stats.binding())], [1, 1, 1])?;
    Ok((d, p))
}
