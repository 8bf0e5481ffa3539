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
    pub _p: [u32; 3],
}

/// Fills `out` with N(0, 1) draws number `counter` of (seed, stream). Advance with `set_params`.
pub fn normal(e: &Engine, out: &Tensor, seed: u32, stream: u32, counter: u32) -> Result<Dispatch> {
    let n = out.numel();
    let p = RngParams { len: n as u32, seed, stream, counter, ..Default::default() };
    e.dispatch("random", "normal", &p, &[(1, out.binding())], e.grid_for(n as u64)?)
}

/// A step's inputs in one dispatch: `gather_batch` into `out` with `stream`, then `noise` filled
/// as `normal` with `noise_stream` would, both at `counter`.
#[allow(clippy::too_many_arguments)]
pub fn gather_and_noise(
    e: &Engine,
    bytes: &wgpu::Buffer,
    count: usize,
    values: usize,
    out: &Tensor,
    picked: &wgpu::Buffer,
    noise: &Tensor,
    seed: u32,
    stream: u32,
    noise_stream: u32,
) -> Result<(Dispatch, RngParams)> {
    let gather = gather_batch(e, bytes, count, values, out, picked, seed, stream, 0)?;
    drop(gather); // checks the gather operands; the combined kernel is built below
    let b = out.shape[0];
    let p = RngParams {
        len: (b * values) as u32,
        seed,
        stream,
        counter: 0,
        count: count as u32,
        words: values.div_ceil(4) as u32,
        values: values as u32,
        noise_len: noise.numel() as u32,
        noise_stream,
        ..Default::default()
    };
    let d = e.dispatch(
        "random",
        "gather_and_noise",
        &p,
        &[(1, out.binding()), (2, bytes.as_entire_binding()), (3, picked.as_entire_binding()), (4, noise.binding())],
        e.grid_for((b * values + noise.numel()) as u64)?,
    )?;
    Ok((d, p))
}

/// Draws out.shape[0] images uniformly from `bytes` (count images of `values` u8 pixels, packed
/// 4 per u32 word, `words` words per image) into `out` scaled to [-1, 1]; `picked` receives the
/// indices (u32).
#[allow(clippy::too_many_arguments)]
pub fn gather_batch(
    e: &Engine,
    bytes: &wgpu::Buffer,
    count: usize,
    values: usize,
    out: &Tensor,
    picked: &wgpu::Buffer,
    seed: u32,
    stream: u32,
    counter: u32,
) -> Result<Dispatch> {
    let b = out.shape.first().copied().unwrap_or(0);
    ensure!(b > 0 && out.numel() == b * values, "gather: output {:?} is not (B, {values} values)", out.shape);
    ensure!(count > 0, "gather from an empty data set");
    let words = values.div_ceil(4);
    ensure!(bytes.size() >= (count * words * 4) as u64, "gather: data buffer too small for {count} images");
    ensure!(picked.size() >= (b * 4) as u64, "gather: index buffer too small for {b} picks");
    let p = RngParams {
        len: (b * values) as u32,
        seed,
        stream,
        counter,
        count: count as u32,
        words: words as u32,
        values: values as u32,
        ..Default::default()
    };
    e.dispatch(
        "random",
        "gather_batch",
        &p,
        &[(1, out.binding()), (2, bytes.as_entire_binding()), (3, picked.as_entire_binding())],
        e.grid_for((b * values) as u64)?,
    )
}
