//! Losses on logits, mean-reduced on the GPU, and softmax cross-entropy (shaders/loss.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct LossParams {
    pub n: u32,
    pub kind: u32,
    pub scale: f32,
    pub slot: u32,
    pub stride: u32,
    pub offset: u32,
    pub classes: u32,
    pub _p: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// BCE on logits with per-sample targets; stat = mean sigmoid.
    BceLogits,
    /// The raw output (Wasserstein critic); stat = mean output.
    Linear,
    /// 0.5 (l - y)^2 (LSGAN; BGAN's generator with y = 0); stat = mean output.
    Squared,
    /// relu(1 - y l) with y = +1 (real) or -1 (fake); stat = mean output.
    Hinge,
}

impl LossKind {
    /// Every loss kind with its WGSL name: the codes are defined here only and prepended to every
    /// shader as constants.
    pub const ALL: [(LossKind, &'static str); 4] =
        [(LossKind::BceLogits, "LOSS_BCE_LOGITS"), (LossKind::Linear, "LOSS_LINEAR"), (LossKind::Squared, "LOSS_SQUARED"), (LossKind::Hinge, "LOSS_HINGE")];

    pub fn code(self) -> u32 {
        LossKind::ALL.iter().position(|(k, _)| *k == self).unwrap_or(0) as u32
    }
}

/// grad = d(scale * mean loss)/d logits; stats[slot] = scale * mean loss, stats[slot+1] = mean output.
pub fn loss(e: &Engine, kind: LossKind, scale: f32, logits: &Tensor, targets: &Tensor, grad: &Tensor, stats: &Tensor, slot: usize) -> Result<Dispatch> {
    loss_strided(e, kind, scale, logits, 1, 0, targets, grad, stats, slot)
}

/// `loss` on logit `offset` of each row of `stride` values (the adversarial output of an ACGAN
/// discriminator, whose rows also hold class logits).
#[allow(clippy::too_many_arguments)]
pub fn loss_strided(
    e: &Engine,
    kind: LossKind,
    scale: f32,
    logits: &Tensor,
    stride: usize,
    offset: usize,
    targets: &Tensor,
    grad: &Tensor,
    stats: &Tensor,
    slot: usize,
) -> Result<Dispatch> {
    ensure!(
        stride > 0 && offset < stride && logits.numel().is_multiple_of(stride),
        "loss: offset {offset} / stride {stride} do not fit {} logits",
        logits.numel()
    );
    let n = logits.numel() / stride;
    ensure!(n > 0, "loss over an empty batch");
    ensure!(targets.numel() == n, "loss: {} targets for {n} logits", targets.numel());
    ensure!(grad.numel() == logits.numel(), "loss: gradient has {} values for {} logits", grad.numel(), logits.numel());
    ensure!(slot + 1 < stats.numel(), "loss: stats slot {slot} outside a stats buffer of {}", stats.numel());
    let p = LossParams { n: n as u32, kind: kind.code(), scale, slot: slot as u32, stride: stride as u32, offset: offset as u32, classes: 0, _p: 0 };
    e.dispatch(Family::Loss, "loss_reduce", &p, &[(1, logits.binding()), (2, targets.binding()), (3, grad.binding()), (4, stats.binding())], [1, 1, 1])
        .map(|d| d.with_work(format!("one workgroup reduces the batch's {n} logits to the loss (and writes their gradients)")))
}

/// Softmax cross-entropy of the class logits at offset..offset+classes of each row of `stride`
/// values, with integer labels; gradients written in place of those logits.
#[allow(clippy::too_many_arguments)]
pub fn softmax_cross_entropy(
    e: &Engine,
    scale: f32,
    logits: &Tensor,
    stride: usize,
    offset: usize,
    classes: usize,
    labels: &wgpu::Buffer,
    grad: &Tensor,
    stats: &Tensor,
    slot: usize,
) -> Result<Dispatch> {
    ensure!(
        classes >= 2 && offset + classes <= stride && logits.numel().is_multiple_of(stride),
        "cross-entropy: {classes} classes at {offset} do not fit rows of {stride}"
    );
    let n = logits.numel() / stride;
    ensure!(grad.numel() == logits.numel(), "cross-entropy: gradient shape differs from the logits");
    ensure!(labels.size() >= (n * 4) as u64, "cross-entropy: {n} labels needed");
    ensure!(slot + 1 < stats.numel(), "cross-entropy: stats slot {slot} out of range");
    let p = LossParams { n: n as u32, kind: 0, scale, slot: slot as u32, stride: stride as u32, offset: offset as u32, classes: classes as u32, _p: 0 };
    e.dispatch(Family::Loss, "softmax_ce", &p, &[(1, logits.binding()), (3, grad.binding()), (4, stats.binding()), (5, labels.as_entire_binding())], [1, 1, 1])
        .map(|d| d.with_work(format!("one workgroup reduces the batch's {n} rows to the loss")))
}
