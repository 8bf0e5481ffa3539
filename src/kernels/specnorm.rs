//! Spectral normalisation: power iteration and its backward (shaders/specnorm.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct SnParams {
    pub rows: u32,
    pub cols: u32,
    pub eps: f32,
    pub _p: u32,
}

fn sn_params(w: &Tensor, state: &Tensor) -> Result<SnParams> {
    ensure!(w.shape.len() >= 2, "spectral norm needs a weight with an output dimension, got {:?}", w.shape);
    let rows = w.shape[0];
    let cols = w.numel() / rows;
    ensure!(state.numel() == rows + cols + 1, "spectral norm state must hold u ({rows}), v ({cols}) and sigma");
    Ok(SnParams { rows: rows as u32, cols: cols as u32, eps: 1e-12, _p: 0 })
}

/// One power iteration on `w` viewed as (out, rest): refines u, v in `state` ([u | v | sigma])
/// and writes w / sigma into `w_sn`.
pub fn spectral_norm_power(e: &Engine, w: &Tensor, state: &Tensor, w_sn: &Tensor) -> Result<Dispatch> {
    let p = sn_params(w, state)?;
    ensure!(w_sn.numel() == w.numel(), "spectral norm output must match the weight");
    e.dispatch(Family::Specnorm, "sn_power", &p, &[(1, w.binding()), (2, state.binding()), (3, w_sn.binding())], [1, 1, 1])
}

/// dw = (dw_sn - <dw_sn, w_sn> u v^T) / sigma.
pub fn spectral_norm_backward(e: &Engine, state: &Tensor, w_sn: &Tensor, dw_sn: &Tensor, dw: &Tensor) -> Result<Dispatch> {
    let p = sn_params(w_sn, state)?;
    ensure!(dw_sn.numel() == w_sn.numel() && dw.numel() == w_sn.numel(), "spectral norm gradients must match the weight");
    e.dispatch(Family::Specnorm, "sn_backward", &p, &[(4, state.binding()), (5, w_sn.binding()), (6, dw_sn.binding()), (7, dw.binding())], [1, 1, 1])
}
