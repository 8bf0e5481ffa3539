//! Class conditioning: labels, one-hot concatenation, channel slices (shaders/cond.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct CondParams {
    pub batch: u32,
    pub classes: u32,
    pub width: u32,
    pub plane: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
    pub _p: u32,
}

/// lab_real[b] = labels[picked[b]]; lab_fake[b] uniform in [0, classes) from (seed, stream, counter).
#[allow(clippy::too_many_arguments)]
pub fn draw_labels(
    e: &Engine,
    batch: usize,
    classes: usize,
    picked: &wgpu::Buffer,
    labels: &wgpu::Buffer,
    lab_real: &wgpu::Buffer,
    lab_fake: &wgpu::Buffer,
    seed: u32,
    stream: u32,
) -> Result<Dispatch> {
    ensure!(classes >= 1, "no classes");
    let p = CondParams { batch: batch as u32, classes: classes as u32, seed, stream, ..Default::default() };
    e.dispatch(
        Family::Cond,
        "draw_labels",
        &p,
        &[(1, picked.as_entire_binding()), (2, labels.as_entire_binding()), (3, lab_real.as_entire_binding()), (4, lab_fake.as_entire_binding())],
        [batch.div_ceil(64) as u32, 1, 1],
    )
}

/// dst (B, width + classes, plane) = [src (B, width, plane) | one-hot(lab) as constant planes].
pub fn concat_onehot(e: &Engine, src: &Tensor, lab: &wgpu::Buffer, classes: usize, dst: &Tensor) -> Result<Dispatch> {
    let b = src.shape[0];
    let width = src.shape[1];
    let plane: usize = src.shape[2..].iter().product();
    ensure!(dst.numel() == b * (width + classes) * plane, "concat: destination {:?} is not ({b}, {}, ...)", dst.shape, width + classes);
    let p = CondParams { batch: b as u32, classes: classes as u32, width: width as u32, plane: plane as u32, ..Default::default() };
    e.dispatch(Family::Cond, "concat_onehot", &p, &[(5, src.binding()), (6, lab.as_entire_binding()), (7, dst.binding())], e.grid_for(dst.numel() as u64)?)
}

/// dst (B, width, plane) = the first `width` channels of src (B, width + classes, plane).
pub fn slice_channels(e: &Engine, src: &Tensor, classes: usize, dst: &Tensor) -> Result<Dispatch> {
    let b = dst.shape[0];
    let width = dst.shape[1];
    let plane: usize = dst.shape[2..].iter().product();
    ensure!(src.numel() == b * (width + classes) * plane, "slice: source {:?} is not ({b}, {}, ...)", src.shape, width + classes);
    let p = CondParams { batch: b as u32, classes: classes as u32, width: width as u32, plane: plane as u32, ..Default::default() };
    e.dispatch(Family::Cond, "slice_channels", &p, &[(5, src.binding()), (7, dst.binding())], e.grid_for(dst.numel() as u64)?)
}
