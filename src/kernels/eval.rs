//! The classifier's per-class statistics behind the quality scores (shaders/eval.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct EvalParams {
    pub n: u32,
    pub classes: u32,
    pub _p: [u32; 2],
}

/// class_stats (3, K) += per class: argmax counts, summed top probabilities of the samples
/// assigned to it, summed softmax probabilities; from logits (N, K).
pub fn class_stats_accumulate(e: &Engine, logits: &Tensor, classes: usize, class_stats: &Tensor) -> Result<Dispatch> {
    ensure!((2..=64).contains(&classes), "class statistics: {classes} classes (2 to 64 supported)");
    ensure!(logits.numel().is_multiple_of(classes) && logits.numel() > 0, "class statistics: {} logits are not rows of {classes}", logits.numel());
    ensure!(class_stats.numel() == 3 * classes, "class statistics: output has {} values, expected 3 x {classes}", class_stats.numel());
    let p = EvalParams { n: (logits.numel() / classes) as u32, classes: classes as u32, _p: [0; 2] };
    e.dispatch(Family::Eval, "class_stats_accumulate", &p, &[(1, logits.binding()), (2, class_stats.binding())], [1, 1, 1])
}
