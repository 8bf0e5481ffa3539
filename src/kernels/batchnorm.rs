//! Batch norm with a fused activation (shaders/batchnorm.wgsl), forward and backward.

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct BnParams {
    pub n: u32,
    pub c: u32,
    pub hw: u32,
    pub train: u32,
    pub eps: f32,
    pub momentum: f32,
    pub act: u32,
    pub slope: f32,
    pub accumulate: u32,
    pub param_grad: u32,
    /// Partial statistics per channel (the `_parts` forward entry points), else 0.
    pub parts: u32,
    pub _p: u32,
}

/// Batch-norm settings (PyTorch defaults: eps 1e-5, momentum 0.1).
#[derive(Clone, Copy, Debug)]
pub struct BnConfig {
    pub eps: f32,
    pub momentum: f32,
    /// Activation fused after the normalisation: Identity, Relu or LeakyRelu.
    pub act: Act,
}

fn bn_shape(x: &Tensor) -> Result<(usize, usize, usize)> {
    ensure!(x.shape.len() >= 2, "batch norm input needs (N, C, ...), got {:?}", x.shape);
    let hw: usize = x.shape[2..].iter().product();
    Ok((x.shape[0], x.shape[1], hw))
}

fn bn_params(e: &Engine, x: &Tensor, cfg: &BnConfig, train: bool, accumulate: bool, param_grad: bool) -> Result<BnParams> {
    ensure!(matches!(cfg.act, Act::Identity | Act::Relu | Act::LeakyRelu(_)), "batch norm fuses only identity, ReLU or LeakyReLU, not {:?}", cfg.act);
    let (n, c, hw) = bn_shape(x)?;
    ensure!(c as u32 <= e.gpu.limits.max_compute_workgroups_per_dimension, "batch norm: {c} channels exceed the workgroup limit");
    ensure!(!train || n * hw > 1, "batch norm in training mode needs more than one value per channel, got shape {:?}", x.shape);
    Ok(BnParams {
        n: n as u32,
        c: c as u32,
        hw: hw as u32,
        train: train as u32,
        eps: cfg.eps,
        momentum: cfg.momentum,
        act: cfg.act.code(),
        slope: cfg.act.slope(),
        accumulate: accumulate as u32,
        param_grad: param_grad as u32,
        parts: 0,
        _p: 0,
    })
}

/// y = act(batchnorm(x)). `affine` is (2, C) gamma then beta, `running` (2, C) mean then var,
/// `saved` (2, C) receives the batch mean and 1/sqrt(var + eps) for the backward pass. In
/// training mode, `partials` (C, slots, 4): x's statistics as partial (count, mean, M2, 0), written
/// by the convolution that produced x (`conv_pass`), merged instead of reading x once more.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    e: &Engine,
    cfg: &BnConfig,
    train: bool,
    x: &Tensor,
    affine: &Tensor,
    y: &Tensor,
    running: &Tensor,
    saved: &Tensor,
    partials: Option<&Tensor>,
) -> Result<Dispatch> {
    let mut p = bn_params(e, x, cfg, train, false, false)?;
    let c = p.c as usize;
    y.expect_shape(&x.shape, "batch norm output")?;
    for (t, what) in [(affine, "batch norm affine (2, C)"), (running, "batch norm running stats (2, C)"), (saved, "batch norm saved stats (2, C)")] {
        t.expect_shape(&[2, c], what)?;
    }
    if let Some(t) = partials {
        ensure!(train, "batch norm: partial statistics are batch statistics, for training mode only");
        ensure!(t.shape.len() == 3 && t.shape[0] == c && t.shape[1] > 0 && t.shape[2] == 4, "batch norm partials must be ({c}, slots, 4), got {:?}", t.shape);
        ensure!(t.offset % 4 == 0, "batch norm partials must start on a 16-byte boundary");
        p.parts = t.shape[1] as u32;
    }
    let (entry, bindings) = match (chunked(&[x, y]), partials.is_some()) {
        // whole planes of vec4 chunks: read and write them
        (Some(true), false) => ("bn_forward_vv", vec![(9, x.binding()), (10, y.binding())]),
        (Some(false), false) => ("bn_forward_v", vec![(9, x.binding()), (3, y.binding())]),
        (None, false) => ("bn_forward", vec![(1, x.binding()), (3, y.binding())]),
        (Some(true), true) => ("bn_forward_parts_vv", vec![(9, x.binding()), (10, y.binding())]),
        (Some(false), true) => ("bn_forward_parts_v", vec![(9, x.binding()), (3, y.binding())]),
        (None, true) => ("bn_forward_parts", vec![(1, x.binding()), (3, y.binding())]),
    };
    let mut bindings = bindings;
    bindings.extend([(2, affine.binding()), (4, running.binding()), (5, saved.binding())]);
    if let Some(t) = partials {
        bindings.push((14, t.binding()));
    }
    e.dispatch(Family::Batchnorm, entry, &p, &bindings, [p.c, 1, 1])
        .map(|d| d.with_work(format!("one workgroup per channel ({} channels) reduces its statistics", p.c)))
}

/// Whether batch norm over these (N, C, ...) tensors reads vec4 chunks (Some: they hold a multiple
/// of 4 values from a 16-byte boundary) and writes them too (Some(true): HW % 4 == 0, so every
/// plane starts on a chunk); None: value by value.
fn chunked(ts: &[&Tensor]) -> Option<bool> {
    let ok = ts.iter().all(|t| t.numel() % 4 == 0 && t.offset % 4 == 0);
    let hw: usize = ts[0].shape[2..].iter().product();
    ok.then_some(hw.is_multiple_of(4))
}

/// Backward of `batchnorm_forward` in training mode: dx from x and dy (the activation's
/// derivative from its input, recomputed from x and the saved statistics), and d(affine) (+)=
/// unless `param_grad` is false (frozen network).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    e: &Engine,
    cfg: &BnConfig,
    x: &Tensor,
    dy: &Tensor,
    affine: &Tensor,
    saved: &Tensor,
    dx: &Tensor,
    daffine: &Tensor,
    accumulate: bool,
    param_grad: bool,
) -> Result<Dispatch> {
    let p = bn_params(e, x, cfg, true, accumulate, param_grad)?;
    let c = p.c as usize;
    for (t, what) in [(dy, "batch norm output-gradient"), (dx, "batch norm input-gradient")] {
        t.expect_shape(&x.shape, what)?;
    }
    for (t, what) in [(affine, "batch norm affine (2, C)"), (saved, "batch norm saved stats (2, C)"), (daffine, "batch norm affine-gradient (2, C)")] {
        t.expect_shape(&[2, c], what)?;
    }
    let (entry, mut bindings) = match chunked(&[x, dy, dx]) {
        Some(true) => ("bn_backward_vv", vec![(9, x.binding()), (11, dy.binding()), (13, dx.binding())]),
        Some(false) => ("bn_backward_v", vec![(9, x.binding()), (11, dy.binding()), (7, dx.binding())]),
        None => ("bn_backward", vec![(1, x.binding()), (3, dy.binding()), (7, dx.binding())]),
    };
    bindings.extend([(2, affine.binding()), (5, saved.binding()), (8, daffine.binding())]);
    e.dispatch(Family::Batchnorm, entry, &p, &bindings, [p.c, 1, 1])
        .map(|d| d.with_work(format!("one workgroup per channel ({} channels) reduces its statistics", p.c)))
}
