//! Optimizers over a flat parameter buffer, and weight clipping (shaders/optim.wgsl).

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct OptParams {
    pub len: u32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub _p0: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub step_size: f32,
    pub sqrt_bc2: f32,
    pub clip: f32,
    pub _p3: f32,
}

impl OptParams {
    /// Adam parameters for step t (1-based), bias corrections computed in f64 as PyTorch does.
    pub fn adam(len: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, t: u64) -> OptParams {
        let bc1 = 1.0 - beta1.powi(t as i32);
        let bc2 = 1.0 - beta2.powi(t as i32);
        OptParams {
            len: len as u32,
            lr: lr as f32,
            beta1: beta1 as f32,
            beta2: beta2 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: eps as f32,
            step_size: (lr / bc1) as f32,
            sqrt_bc2: bc2.sqrt() as f32,
            ..Default::default()
        }
    }
    pub fn rmsprop(len: usize, lr: f64, alpha: f64, eps: f64) -> OptParams {
        OptParams { len: len as u32, lr: lr as f32, beta2: alpha as f32, one_minus_beta2: (1.0 - alpha) as f32, eps: eps as f32, ..Default::default() }
    }
    /// The moving average's step: beta is the weight of the old average.
    pub fn ema(len: usize, beta: f64) -> OptParams {
        OptParams { len: len as u32, beta1: beta as f32, ..Default::default() }
    }
    pub fn clip(len: usize, c: f32) -> OptParams {
        OptParams { len: len as u32, clip: c, ..Default::default() }
    }
}

fn same_len(ts: &[&Tensor], what: &str) -> Result<usize> {
    let n = ts[0].numel();
    for t in ts {
        if t.numel() != n {
            bail!("{what}: parameter, gradient and state sizes differ ({} vs {n})", t.numel());
        }
    }
    Ok(n)
}

/// One fused Adam step over a flat parameter buffer. Update the step with `set_params`.
pub fn adam(e: &Engine, p: OptParams, param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[param, grad, m, v], "adam")?;
    ensure!(p.len as usize == n, "adam params say {} values, tensors hold {n}", p.len);
    // whole vec4s when the tensors allow (flat parameter buffers always do)
    if n % 4 == 0 && [param, grad, m, v].iter().all(|t| t.offset % 4 == 0) {
        let bindings = [(9, param.binding()), (10, grad.binding()), (11, m.binding()), (12, v.binding())];
        return e.dispatch(Family::Optim, "adam4", &p, &bindings, e.grid_for(n as u64 / 4)?);
    }
    e.dispatch(Family::Optim, "adam", &p, &[(1, param.binding()), (2, grad.binding()), (3, m.binding()), (4, v.binding())], e.grid_for(n as u64)?)
}

/// One RMSProp step (square average in `v`).
pub fn rmsprop(e: &Engine, p: OptParams, param: &Tensor, grad: &Tensor, v: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[param, grad, v], "rmsprop")?;
    ensure!(p.len as usize == n, "rmsprop params say {} values, tensors hold {n}", p.len);
    e.dispatch(Family::Optim, "rmsprop", &p, &[(1, param.binding()), (2, grad.binding()), (4, v.binding())], e.grid_for(n as u64)?)
}

/// One plain gradient-descent step: param -= lr * grad.
pub fn sgd(e: &Engine, lr: f64, param: &Tensor, grad: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[param, grad], "sgd")?;
    let p = OptParams { len: n as u32, lr: lr as f32, ..Default::default() };
    e.dispatch(Family::Optim, "sgd", &p, &[(1, param.binding()), (2, grad.binding())], e.grid_for(n as u64)?)
}

/// Clamps every value of `param` to [-c, c].
pub fn clip(e: &Engine, c: f32, param: &Tensor) -> Result<Dispatch> {
    ensure!(c > 0.0, "clip value must be positive, got {c}");
    let n = param.numel();
    e.dispatch(Family::Optim, "clip", &OptParams::clip(n, c), &[(1, param.binding())], e.grid_for(n as u64)?)
}

/// The moving average `avg` of `live` parameters: avg = live + beta (avg - live), with beta set
/// per step through `set_params(&OptParams::ema(len, beta))`.
pub fn ema_update(e: &Engine, live: &Tensor, avg: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[avg, live], "ema")?;
    e.dispatch(Family::Optim, "ema", &OptParams::ema(n, 0.0), &[(1, avg.binding()), (2, live.binding())], e.grid_for(n as u64)?)
}
