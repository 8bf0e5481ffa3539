//! Counter-based random numbers and batch drawing (shaders/random.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct RngParams {
    pub len: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
    pub count: u32,
    pub words: u32,
    pub values: u32,
    /// gather_and_noise: normal values drawn after the batch, and their stream.
    pub noise_len: u32,
    pub noise_stream: u32,
    /// gather: image side in pixels, and 1 to mirror images left-right with probability 1/2.
    pub side: u32,
    pub hflip: u32,
    /// 1 when the data buffer is a streamed chunk holding exactly this batch (image b in slot b;
    /// the host writes the picked indices).
    pub streamed: u32,
}

/// Fills `out` with N(0, 1) draws number `counter` of (seed, stream). Advance with `set_params`.
pub fn normal(e: &Engine, out: &Tensor, seed: u32, stream: u32, counter: u32) -> Result<Dispatch> {
    let n = out.numel();
    let p = RngParams { len: n as u32, seed, stream, counter, ..Default::default() };
    e.dispatch(Family::Random, "normal", &p, &[(1, out.binding())], e.grid_for(n as u64)?)
}

/// A data set on the GPU as the gather kernels read it: `count` images of channels x side x side
/// u8 pixels, packed 4 per u32 word, each image padded to whole words; `hflip` mirrors each drawn
/// image left-right with probability 1/2.
pub struct GatherSource<'a> {
    pub bytes: &'a wgpu::Buffer,
    pub count: usize,
    pub channels: usize,
    pub side: usize,
    pub hflip: bool,
}

impl GatherSource<'_> {
    pub fn values(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// Checked params for drawing batches of `out` into `picked`.
    pub fn params(&self, out: &Tensor, picked: &wgpu::Buffer, seed: u32, stream: u32, counter: u32) -> Result<RngParams> {
        let values = self.values();
        let b = out.shape.first().copied().unwrap_or(0);
        ensure!(b > 0 && out.numel() == b * values, "gather: output {:?} is not (B, {values} values)", out.shape);
        ensure!(self.count > 0, "gather from an empty data set");
        ensure!(self.count <= 1 << 30, "gather: {} images; at most 2^30 are supported", self.count);
        let words = values.div_ceil(4);
        ensure!(self.bytes.size() >= (self.count * words * 4) as u64, "gather: data buffer too small for {} images", self.count);
        ensure!(picked.size() >= (b * 4) as u64, "gather: index buffer too small for {b} picks");
        Ok(RngParams {
            len: (b * values) as u32,
            seed,
            stream,
            counter,
            count: self.count as u32,
            words: words as u32,
            values: values as u32,
            side: self.side as u32,
            hflip: self.hflip as u32,
            ..Default::default()
        })
    }
}

/// A step's inputs in one dispatch: `gather_batch` into `out` with `stream`, then `noise` filled
/// as `normal` with `noise_stream` would, both at the params' counter (set per step).
#[allow(clippy::too_many_arguments)]
pub fn gather_and_noise(
    e: &Engine,
    src: &GatherSource,
    out: &Tensor,
    picked: &wgpu::Buffer,
    noise: &Tensor,
    seed: u32,
    stream: u32,
    noise_stream: u32,
) -> Result<(Dispatch, RngParams)> {
    let p = RngParams { noise_len: noise.numel() as u32, noise_stream, ..src.params(out, picked, seed, stream, 0)? };
    let d = e.dispatch(
        Family::Random,
        "gather_and_noise",
        &p,
        &[(1, out.binding()), (2, src.bytes.as_entire_binding()), (3, picked.as_entire_binding()), (4, noise.binding())],
        e.grid_for((out.numel() + noise.numel()) as u64)?,
    )?;
    Ok((d, p))
}

/// Draws batch number `counter` (out.shape[0] images) from `src` into `out`, scaled to [-1, 1]:
/// the next images of each epoch's seeded permutation, so an epoch draws every image once;
/// `picked` receives the image indices (u32).
pub fn gather_batch(e: &Engine, src: &GatherSource, out: &Tensor, picked: &wgpu::Buffer, seed: u32, stream: u32, counter: u32) -> Result<Dispatch> {
    let p = src.params(out, picked, seed, stream, counter)?;
    e.dispatch(
        Family::Random,
        "gather_batch",
        &p,
        &[(1, out.binding()), (2, src.bytes.as_entire_binding()), (3, picked.as_entire_binding())],
        e.grid_for(out.numel() as u64)?,
    )
}
