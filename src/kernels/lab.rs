//! The lab's target distributions (shaders/lab.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct LabParams {
    pub len: u32,
    pub dim: u32,
    pub dist: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
    pub _p: [u32; 2],
}

/// Fills `out` (B, dim) with draws of target distribution `dist` (see lab.wgsl).
pub fn sample_target(e: &Engine, out: &Tensor, dist: u32, seed: u32, stream: u32, counter: u32) -> Result<Dispatch> {
    ensure!(out.shape.len() == 2 && (out.shape[1] == 1 || out.shape[1] == 2), "lab samples must be (B, 1) or (B, 2), got {:?}", out.shape);
    let p = LabParams { len: out.shape[0] as u32, dim: out.shape[1] as u32, dist, seed, stream, counter, _p: [0; 2] };
    e.dispatch(Family::Lab, "sample_target", &p, &[(1, out.binding())], e.grid_for(out.shape[0] as u64)?)
}
