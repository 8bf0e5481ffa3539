//! The shared-memory tiled implicit-GEMM convolutions for GPUs (shaders/conv_tiled.wgsl): one
//! dispatch per pass, every pass (dense ones included) a 64 x 64-tiled product.

use super::*;

/// Rows and columns of C per workgroup (`TM`, `TN` in conv_tiled.wgsl).
const TILE: usize = 64;

/// One pass of geometry `g` (shapes already checked by `conv_pass`): a, b and out as in
/// conv.wgsl's bindings 1, 2 and 3.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_tiled_pass(e: &Engine, pass: ConvPass, g: &ConvGeom, a: &Tensor, b: &Tensor, out: &Tensor, accumulate: bool, act: Act) -> Result<Dispatch> {
    let s = g.stride;
    // C is GM x GN; dgrad runs its STRIDE x STRIDE phases as grid z, each as large as the largest
    let (mode, gm, gn, phases) = match pass {
        ConvPass::Forward => (0, g.cout, g.n * g.oh() * g.ow(), 1),
        ConvPass::InputGrad => (1, g.cin, g.n * g.h.div_ceil(s) * g.w.div_ceil(s), s * s),
        ConvPass::WeightGrad => (2, g.cout, g.cin * g.kh * g.kw, 1),
    };
    let (gx, gy) = (gn.div_ceil(TILE), gm.div_ceil(TILE));
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    ensure!(gx <= max && gy <= max && phases <= max, "conv2d {g:?} needs {gx} x {gy} x {phases} workgroups, over the device limit of {max}; use a smaller batch");
    ensure!(
        e.gpu.limits.max_compute_invocations_per_workgroup >= 256 && e.gpu.limits.max_compute_workgroup_storage_size >= 16384,
        "conv2d: the tiled kernels need workgroups of 256 invocations and 16 KiB of workgroup memory; this adapter offers {} and {} bytes (GANGPU_CONV=implicit runs the barrier-free kernels)",
        e.gpu.limits.max_compute_invocations_per_workgroup,
        e.gpu.limits.max_compute_workgroup_storage_size
    );
    let mut constants = g.constants(accumulate);
    constants.extend([("ACT", act.code() as f64), ("ACT_SLOPE", act.slope() as f64), ("MODE", mode as f64)]);
    e.dispatch_specialised(Family::ConvTiled, "conv_tiled", &constants, &[(1, a.binding()), (2, b.binding()), (3, out.binding())], [gx as u32, gy as u32, phases as u32])
}
