//! Launchers: small functions that check shapes on the host, size the grid and build a
//! `Dispatch`. Each `#[repr(C)]` params struct mirrors the WGSL struct of its family.

use crate::engine::{Dispatch, Engine};
use crate::tensor::Tensor;
use anyhow::{bail, ensure, Context, Result};
use bytemuck::{Pod, Zeroable};

// ---------------------------------------------------------------- convolution

/// Geometry of a 2-D convolution: x (N, Cin, H, W) * w (Cout, Cin, KH, KW) -> y (N, Cout, OH, OW).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeom {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.n > 0 && self.cin > 0 && self.cout > 0 && self.h > 0 && self.w > 0, "conv: empty shape {self:?}");
        ensure!(self.kh > 0 && self.kw > 0 && self.stride > 0, "conv: kernel and stride must be positive: {self:?}");
        ensure!(
            self.h + 2 * self.pad >= self.kh && self.w + 2 * self.pad >= self.kw,
            "conv: kernel {}x{} larger than padded input {}x{}",
            self.kh,
            self.kw,
            self.h + 2 * self.pad,
            self.w + 2 * self.pad
        );
        Ok(())
    }
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }
    pub fn w_shape(&self) -> [usize; 4] {
        [self.cout, self.cin, self.kh, self.kw]
    }
    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.oh(), self.ow()]
    }
    /// Multiply-adds of the forward pass (each backward pass does the same count).
    pub fn macs(&self) -> u64 {
        (self.n * self.cout * self.oh() * self.ow() * self.cin * self.kh * self.kw) as u64
    }
}

/// Geometry of a transposed convolution: x (N, Cin, H, W), w (Cin, Cout, KH, KW) (PyTorch's
/// layout) -> y (N, Cout, (H-1)S - 2P + KH, ...). It is the input-gradient of the conv `as_conv()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTGeom {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvTGeom {
    pub fn oh(&self) -> usize {
        ((self.h - 1) * self.stride + self.kh).saturating_sub(2 * self.pad)
    }
    pub fn ow(&self) -> usize {
        ((self.w - 1) * self.stride + self.kw).saturating_sub(2 * self.pad)
    }
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }
    pub fn w_shape(&self) -> [usize; 4] {
        [self.cin, self.cout, self.kh, self.kw]
    }
    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.oh(), self.ow()]
    }
    pub fn macs(&self) -> u64 {
        self.as_conv().macs()
    }
    /// The convolution whose input-gradient this transposed convolution is.
    pub fn as_conv(&self) -> ConvGeom {
        ConvGeom {
            n: self.n,
            cin: self.cout,
            h: self.oh(),
            w: self.ow(),
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad: self.pad,
        }
    }
    pub fn validate(&self) -> Result<()> {
        ensure!(self.n > 0 && self.cin > 0 && self.cout > 0 && self.h > 0 && self.w > 0, "conv_transpose: empty shape {self:?}");
        ensure!(self.kh > 0 && self.kw > 0 && self.stride > 0, "conv_transpose: kernel and stride must be positive");
        ensure!(
            (self.h - 1) * self.stride + self.kh > 2 * self.pad && (self.w - 1) * self.stride + self.kw > 2 * self.pad,
            "conv_transpose: padding {} leaves no output for {self:?}",
            self.pad
        );
        let c = self.as_conv();
        c.validate()?;
        ensure!(c.oh() == self.h && c.ow() == self.w, "conv_transpose: geometry {self:?} does not invert its convolution");
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct LayoutParams {
    pub n: u32,
    pub cin: u32,
    pub h: u32,
    pub w: u32,
    pub cout: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride: u32,
    pub pad: u32,
    pub ld: u32,
    pub c: u32,
    pub pix: u32,
    pub _p: [u32; 2],
}

fn round4(v: usize) -> usize {
    v.div_ceil(4) * 4
}

impl ConvGeom {
    fn layout(&self, ld: usize) -> LayoutParams {
        LayoutParams {
            n: self.n as u32,
            cin: self.cin as u32,
            h: self.h as u32,
            w: self.w as u32,
            cout: self.cout as u32,
            oh: self.oh() as u32,
            ow: self.ow() as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            stride: self.stride as u32,
            pad: self.pad as u32,
            ld: ld as u32,
            ..Default::default()
        }
    }
    /// Taps per output value: Cin * KH * KW.
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    /// Output pixels over the batch: N * OH * OW.
    pub fn p(&self) -> usize {
        self.n * self.oh() * self.ow()
    }
    /// Scratch floats each of the three workspace buffers needs for this geometry.
    fn scratch(&self) -> [usize; 3] {
        let (k, p, c) = (self.k(), self.p(), self.cout);
        // wgpu tracks read/write use per buffer, so no dispatch may read one workspace buffer
        // while writing another part of it: each buffer holds one operand at a time.
        [
            (p * round4(k)).max(c * round4(p)).max(k * round4(c)), // col (fwd) / dy (cout, P) (wgrad) / w^T (dgrad)
            (p * round4(c)).max(k * round4(p)),                    // dy (P, cout) (dgrad) / colT (wgrad)
            p * k,                                                 // dcol (P, K) (dgrad)
        ]
    }
}

/// Scratch memory shared by every convolution pass of a network (passes run in order, so one
/// workspace sized for the largest layer serves all). Allocated once, outside the training loop.
pub struct ConvWorkspace {
    bufs: [Tensor; 3],
}

impl ConvWorkspace {
    /// Sized for the largest of `geoms`; empty when the engine's convolutions are implicit (they
    /// need no scratch memory).
    pub fn new(e: &Engine, geoms: &[ConvGeom]) -> Result<ConvWorkspace> {
        let mut need = [1usize; 3];
        for g in geoms {
            g.validate()?;
            if e.conv_implicit {
                continue;
            }
            for (n, s) in need.iter_mut().zip(g.scratch()) {
                *n = (*n).max(s);
            }
        }
        Ok(ConvWorkspace {
            bufs: [
                Tensor::zeros(&e.gpu, &[need[0]], "conv workspace 0")?,
                Tensor::zeros(&e.gpu, &[need[1]], "conv workspace 1")?,
                Tensor::zeros(&e.gpu, &[need[2]], "conv workspace 2")?,
            ],
        })
    }
    /// Bytes held by the workspace.
    pub fn bytes(&self) -> u64 {
        self.bufs.iter().map(|b| b.byte_size()).sum()
    }
    fn view(&self, i: usize, offset: usize, len: usize, what: &str) -> Result<Tensor> {
        let b = &self.bufs[i];
        ensure!(offset + len <= b.numel(), "conv workspace too small for {what}: build it with every geometry it serves");
        Ok(Tensor { buffer: b.buffer.clone(), offset: b.offset + offset, shape: vec![len] })
    }
}

impl LayoutParams {
    /// layout.wgsl's override constants.
    fn constants(&self) -> Vec<(&'static str, f64)> {
        [
            ("L_N", self.n),
            ("L_CIN", self.cin),
            ("L_H", self.h),
            ("L_W", self.w),
            ("L_COUT", self.cout),
            ("L_OH", self.oh),
            ("L_OW", self.ow),
            ("L_KH", self.kh),
            ("L_KW", self.kw),
            ("L_STRIDE", self.stride),
            ("L_PAD", self.pad),
            ("L_LD", self.ld),
            ("L_C", self.c),
            ("L_PIX", self.pix),
        ]
        .into_iter()
        .map(|(n, v)| (n, v as f64))
        .collect()
    }
}

fn layout(e: &Engine, entry: &'static str, p: &LayoutParams, src: &Tensor, dst: &Tensor, threads: usize) -> Result<Dispatch> {
    ensure!(dst.numel() >= threads, "{entry}: destination holds {} values, needs {threads}", dst.numel());
    e.dispatch_specialised("layout", entry, &p.constants(), &[(1, src.binding()), (2, dst.binding())], e.grid_for(threads as u64)?)
}

/// The passes of conv.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPass {
    Forward,
    InputGrad,
    WeightGrad,
}

impl ConvPass {
    fn entry(self) -> &'static str {
        match self {
            ConvPass::Forward => "conv_fwd",
            ConvPass::InputGrad => "conv_dgrad",
            ConvPass::WeightGrad => "conv_wgrad",
        }
    }
}

/// Longest row segment a strip of 4 outputs may read (`SEG` in conv.wgsl).
const CONV_SEGMENT: usize = 24;

impl ConvGeom {
    /// True when a pass of this geometry is a dense product (one output position covering the
    /// whole input, PAD 0): see conv.wgsl's conv_dense.
    pub fn is_dense(&self) -> bool {
        self.pad == 0 && self.kh == self.h && self.kw == self.w && self.k() % 4 == 0
    }

    /// The override constants that specialise conv.wgsl to this geometry.
    fn constants(&self, accumulate: bool) -> Vec<(&'static str, f64)> {
        vec![
            ("BATCH", self.n as f64),
            ("CI", self.cin as f64),
            ("IH", self.h as f64),
            ("IW", self.w as f64),
            ("CO", self.cout as f64),
            ("OH", self.oh() as f64),
            ("OW", self.ow() as f64),
            ("KH", self.kh as f64),
            ("KW", self.kw as f64),
            ("STRIDE", self.stride as f64),
            ("PAD", self.pad as f64),
            ("ACCUMULATE", if accumulate { 1.0 } else { 0.0 }),
        ]
    }
}

/// One pass of a convolution in geometry `g` as one implicit-GEMM dispatch: `a` and `b` are the
/// operands in conv.wgsl's bindings 1 and 2 (Forward: x, w; InputGrad: dy, w; WeightGrad: x, dy).
/// `act` is fused into the output (not with `accumulate`, nor on a dense forward pass, which is a
/// plain GEMM).
#[allow(clippy::too_many_arguments)]
pub fn conv_pass(e: &Engine, pass: ConvPass, g: &ConvGeom, a: &Tensor, b: &Tensor, out: &Tensor, accumulate: bool, act: Act) -> Result<Dispatch> {
    g.validate()?;
    ensure!(act == Act::Identity || !accumulate, "conv2d: an activation cannot be fused into an accumulated output");
    ensure!(act == Act::Identity || !(pass == ConvPass::Forward && g.is_dense()), "conv2d: a dense forward pass cannot fuse an activation");
    let (sa, sb, so, what) = match pass {
        ConvPass::Forward => (g.x_shape(), g.w_shape(), g.y_shape(), ["input", "weight", "output"]),
        ConvPass::InputGrad => (g.y_shape(), g.w_shape(), g.x_shape(), ["output-gradient", "weight", "input-gradient"]),
        ConvPass::WeightGrad => (g.x_shape(), g.y_shape(), g.w_shape(), ["input", "output-gradient", "weight-gradient"]),
    };
    for (t, shape, w) in [(a, sa, what[0]), (b, sb, what[1]), (out, so, what[2])] {
        t.expect_shape(&shape, &format!("conv2d {w}"))?;
    }
    // one output position covering the whole input: a dense product, no taps to mask
    let k = g.k();
    if g.is_dense() {
        let flat = |t: &Tensor, rows: usize| t.reshape(&[rows, t.numel() / rows]);
        return match pass {
            ConvPass::Forward => gemm_nt(e, g.n, g.cout, k, &flat(a, g.n)?, k, &flat(b, g.cout)?, k, &flat(out, g.n)?, GemmOut::RowMajor, accumulate),
            // dx[n, k] = sum_co dy[n, co] w[co, k]
            ConvPass::InputGrad => conv_dense(e, a, g.cout, 1, b, out, g.n, k, g.cout, accumulate, act),
            // dw[co, k] = sum_n dy[n, co] x[n, k]
            ConvPass::WeightGrad => conv_dense(e, b, 1, g.cout, a, out, g.cout, k, g.n, accumulate, act),
        };
    }
    let seg = match pass {
        ConvPass::Forward => 3 * g.stride + g.kw,
        ConvPass::InputGrad => 3 + g.kw.div_ceil(g.stride),
        ConvPass::WeightGrad => 3 * g.stride + 4,
    };
    ensure!(seg <= CONV_SEGMENT, "conv2d {g:?}: stride and kernel width read {seg} values per row strip, more than the {CONV_SEGMENT} supported");
    let (lanes, rows, phases) = match pass {
        ConvPass::Forward => (g.n * g.oh() * g.ow().div_ceil(4), g.cout, 1),
        ConvPass::InputGrad => (g.n * g.h.div_ceil(g.stride) * g.w.div_ceil(g.stride).div_ceil(4), g.cin, g.stride * g.stride),
        ConvPass::WeightGrad => (g.cin * g.kh * g.kw.div_ceil(4), g.cout, 1),
    };
    let gx = lanes.div_ceil(e.workgroup_size as usize);
    let gy = rows.div_ceil(8);
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    ensure!(gx <= max && gy <= max && phases <= max, "conv2d {g:?} needs {gx} x {gy} workgroups, over the device limit of {max}; use a smaller batch");
    let family = if e.conv_subgroups { "conv_sg" } else { "conv" };
    let mut bindings = vec![(1, a.binding()), (2, b.binding()), (3, out.binding())];
    if pass == ConvPass::Forward {
        // binding 4: the weights as vec4, read when KW % 4 == 0 (then their count is a multiple
        // of 4); other kernel widths never read it, so any read-only operand large enough serves
        let v4 = if g.kw % 4 == 0 || b.numel() >= 4 { b } else { a };
        ensure!(v4.offset % 4 == 0, "conv2d: weights must start on a 16-byte boundary");
        bindings.push((4, v4.binding()));
    }
    let mut constants = g.constants(accumulate);
    constants.extend([("ACT", act.code() as f64), ("ACT_SLOPE", act.slope() as f64)]);
    e.dispatch_specialised(family, pass.entry(), &constants, &bindings, [gx as u32, gy as u32, phases as u32])
}

/// C (I, J) (+)= sum over t of A(i, t) B (T, J), A read at i * a_i + t * a_t (conv.wgsl's conv_dense).
#[allow(clippy::too_many_arguments)]
fn conv_dense(e: &Engine, a: &Tensor, a_i: usize, a_t: usize, b: &Tensor, c: &Tensor, i: usize, j: usize, t: usize, accumulate: bool, act: Act) -> Result<Dispatch> {
    ensure!(j % 4 == 0 && b.offset % 4 == 0, "dense product: columns must come in whole vec4s");
    ensure!(b.numel() >= t * j && c.numel() >= i * j && a.numel() > (i - 1) * a_i + (t - 1) * a_t, "dense product: operands too small");
    let constants = [
        ("DENSE_I", i as f64),
        ("DENSE_J", j as f64),
        ("DENSE_T", t as f64),
        ("DENSE_AI", a_i as f64),
        ("DENSE_AT", a_t as f64),
        ("ACCUMULATE", if accumulate { 1.0 } else { 0.0 }),
        ("ACT", act.code() as f64),
        ("ACT_SLOPE", act.slope() as f64),
    ];
    let gx = (j / 4).div_ceil(e.workgroup_size as usize);
    let gy = i.div_ceil(8);
    let family = if e.conv_subgroups { "conv_sg" } else { "conv" };
    e.dispatch_specialised(family, "conv_dense", &constants, &[(1, a.binding()), (3, c.binding()), (4, b.binding())], [gx as u32, gy as u32, 1])
}

/// y = conv2d(x, w): one implicit-GEMM dispatch (`Engine::conv_implicit`), or im2col + GEMM.
pub fn conv2d_forward(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    conv2d_forward_act(e, ws, g, x, w, y, Act::Identity)
}

/// y = act(conv2d(x, w)), the activation fused when `fuses_activation` says it can be.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_act(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, w: &Tensor, y: &Tensor, act: Act) -> Result<Vec<Dispatch>> {
    if e.conv_implicit {
        return Ok(vec![conv_pass(e, ConvPass::Forward, g, x, w, y, false, act)?]);
    }
    ensure!(act == Act::Identity, "conv2d: the layout-kernel path does not fuse activations");
    conv2d_forward_explicit(e, ws, g, x, w, y)
}

/// Whether a convolution's forward pass (transposed: `transposed`) can write act(y) itself.
pub fn fuses_activation(e: &Engine, g: &ConvGeom, transposed: bool) -> bool {
    e.conv_implicit && (transposed || !g.is_dense())
}

/// dx = conv2d input-gradient of dy: one implicit-GEMM dispatch by phases, or pack + GEMM + col2im.
pub fn conv2d_backward_input(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    if e.conv_implicit {
        return Ok(vec![conv_pass(e, ConvPass::InputGrad, g, dy, w, dx, false, Act::Identity)?]);
    }
    conv2d_backward_input_explicit(e, ws, g, dy, w, dx)
}

/// dw (+)= conv2d weight-gradient: one implicit-GEMM dispatch, or pack + im2col_t + GEMM.
pub fn conv2d_backward_weight(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, dy: &Tensor, dw: &Tensor, accumulate: bool) -> Result<Vec<Dispatch>> {
    if e.conv_implicit {
        return Ok(vec![conv_pass(e, ConvPass::WeightGrad, g, x, dy, dw, accumulate, Act::Identity)?]);
    }
    conv2d_backward_weight_explicit(e, ws, g, x, dy, dw, accumulate)
}

/// y = conv2d(x, w): im2col, then one GEMM writing y in NCHW.
fn conv2d_forward_explicit(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    g.validate()?;
    x.expect_shape(&g.x_shape(), "conv2d input")?;
    w.expect_shape(&g.w_shape(), "conv2d weight")?;
    y.expect_shape(&g.y_shape(), "conv2d output")?;
    let (k, p) = (g.k(), g.p());
    let ldk = round4(k);
    let col = ws.view(0, 0, p * ldk, "im2col")?;
    Ok(vec![
        layout(e, "im2col", &g.layout(ldk), x, &col, p * ldk)?,
        gemm_nt(e, g.cout, p, k, w, k, &col, ldk, y, GemmOut::Channels { plane: g.oh() * g.ow() }, false)?,
    ])
}

/// dx = conv2d input-gradient of dy (a transposed convolution): pack dy and w, GEMM into the
/// column matrix, col2im.
fn conv2d_backward_input_explicit(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    g.validate()?;
    dy.expect_shape(&g.y_shape(), "conv2d output-gradient")?;
    w.expect_shape(&g.w_shape(), "conv2d weight")?;
    dx.expect_shape(&g.x_shape(), "conv2d input-gradient")?;
    let (k, p, c) = (g.k(), g.p(), g.cout);
    let ldc = round4(c);
    let dyp = ws.view(1, 0, p * ldc, "packed output-gradient")?;
    let wt = ws.view(0, 0, k * ldc, "transposed weight")?;
    let dcol = ws.view(2, 0, p * k, "column gradient")?;
    let mut pk = g.layout(ldc);
    pk.c = c as u32;
    pk.pix = (g.oh() * g.ow()) as u32;
    let mut pw = g.layout(ldc);
    pw.n = 1;
    pw.c = c as u32;
    pw.pix = k as u32;
    Ok(vec![
        layout(e, "pack_pc", &pk, dy, &dyp, p * ldc)?,
        layout(e, "pack_pc", &pw, w, &wt, k * ldc)?,
        gemm_nt(e, p, k, ldc, &dyp, ldc, &wt, ldc, &dcol, GemmOut::RowMajor, false)?,
        layout(e, "col2im", &g.layout(k), &dcol, dx, g.n * g.cin * g.h * g.w)?,
    ])
}

/// dw (+)= conv2d weight-gradient: pack dy per channel, im2col transposed, one GEMM.
fn conv2d_backward_weight_explicit(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, dy: &Tensor, dw: &Tensor, accumulate: bool) -> Result<Vec<Dispatch>> {
    g.validate()?;
    x.expect_shape(&g.x_shape(), "conv2d input")?;
    dy.expect_shape(&g.y_shape(), "conv2d output-gradient")?;
    dw.expect_shape(&g.w_shape(), "conv2d weight-gradient")?;
    let (k, p, c) = (g.k(), g.p(), g.cout);
    let ldp = round4(p);
    let dyc = ws.view(0, 0, c * ldp, "packed output-gradient")?;
    let colt = ws.view(1, 0, k * ldp, "transposed im2col")?;
    let mut pk = g.layout(ldp);
    pk.c = c as u32;
    pk.pix = (g.oh() * g.ow()) as u32;
    Ok(vec![
        layout(e, "pack_cp", &pk, dy, &dyc, c * ldp)?,
        layout(e, "im2col_t", &g.layout(ldp), x, &colt, k * ldp)?,
        gemm_nt(e, c, k, ldp, &dyc, ldp, &colt, ldp, dw, GemmOut::RowMajor, accumulate)?,
    ])
}

/// y = conv_transpose2d(x, w): the input-gradient kernels of the matching convolution.
pub fn conv_transpose2d_forward(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    conv_transpose2d_forward_act(e, ws, g, x, w, y, Act::Identity)
}

/// y = act(conv_transpose2d(x, w)), the activation fused (implicit convolutions only).
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_forward_act(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, x: &Tensor, w: &Tensor, y: &Tensor, act: Act) -> Result<Vec<Dispatch>> {
    g.validate()?;
    if e.conv_implicit {
        return Ok(vec![conv_pass(e, ConvPass::InputGrad, &g.as_conv(), x, w, y, false, act).context("conv_transpose2d forward")?]);
    }
    ensure!(act == Act::Identity, "conv_transpose2d: the layout-kernel path does not fuse activations");
    conv2d_backward_input(e, ws, &g.as_conv(), x, w, y).context("conv_transpose2d forward")
}

/// dx = conv_transpose2d input-gradient: a plain convolution of dy.
pub fn conv_transpose2d_backward_input(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    g.validate()?;
    conv2d_forward(e, ws, &g.as_conv(), dy, w, dx).context("conv_transpose2d input-gradient")
}

/// dw (+)= conv_transpose2d weight-gradient: the convolution weight-gradient with x and dy swapped.
pub fn conv_transpose2d_backward_weight(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, x: &Tensor, dy: &Tensor, dw: &Tensor, accumulate: bool) -> Result<Vec<Dispatch>> {
    g.validate()?;
    conv2d_backward_weight(e, ws, &g.as_conv(), dy, x, dw, accumulate).context("conv_transpose2d weight-gradient")
}

// ---------------------------------------------------------------- GEMM

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct GemmParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub lda: u32,
    pub ldb: u32,
    pub accumulate: u32,
    pub out_mode: u32,
    pub plane: u32,
}

impl GemmParams {
    /// gemm.wgsl's override constants.
    fn constants(&self) -> Vec<(&'static str, f64)> {
        [
            ("G_M", self.m),
            ("G_N", self.n),
            ("G_K", self.k),
            ("G_LDA", self.lda),
            ("G_LDB", self.ldb),
            ("G_ACCUMULATE", self.accumulate),
            ("G_OUT_MODE", self.out_mode),
            ("G_PLANE", self.plane),
        ]
        .into_iter()
        .map(|(n, v)| (n, v as f64))
        .collect()
    }
}

/// Where `gemm_nt` writes C[i, j].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmOut {
    /// out[i * N + j]
    RowMajor,
    /// NCHW image with i = channel and j = (image, pixel) over `plane` pixels per image.
    Channels { plane: usize },
}

/// C (+)= A B^T with A (m, lda) and B (n, ldb), both read along their first k columns.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt(e: &Engine, m: usize, n: usize, k: usize, a: &Tensor, lda: usize, b: &Tensor, ldb: usize, c: &Tensor, out: GemmOut, accumulate: bool) -> Result<Dispatch> {
    ensure!(m > 0 && n > 0 && k > 0, "gemm with an empty dimension ({m}, {n}, {k})");
    ensure!(lda >= k && ldb >= k, "gemm: leading dimensions ({lda}, {ldb}) shorter than k = {k}");
    ensure!(a.numel() >= (m - 1) * lda + k, "gemm: A holds {} values, needs ({m}, {lda})", a.numel());
    ensure!(b.numel() >= (n - 1) * ldb + k, "gemm: B holds {} values, needs ({n}, {ldb})", b.numel());
    ensure!(c.numel() >= m * n, "gemm: C holds {} values, needs {m} x {n}", c.numel());
    let (mode, plane) = match out {
        GemmOut::RowMajor => (0, 1),
        GemmOut::Channels { plane } => {
            ensure!(plane > 0 && n % plane == 0, "gemm: {n} columns are not whole images of {plane} pixels");
            (1, plane)
        }
    };
    let p = GemmParams { m: m as u32, n: n as u32, k: k as u32, lda: lda as u32, ldb: ldb as u32, accumulate: accumulate as u32, out_mode: mode, plane: plane as u32 };
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    let gx = n.div_ceil(4).div_ceil(e.workgroup_size as usize);
    let gy = m.div_ceil(8);
    ensure!(gx <= max && gy <= max, "gemm of {m} x {n} exceeds the dispatch limit of {max} workgroups per dimension; use a smaller batch");
    let grid = [gx as u32, gy as u32, 1];
    let aligned = k % 4 == 0 && lda % 4 == 0 && ldb % 4 == 0 && a.offset % 4 == 0 && b.offset % 4 == 0;
    if aligned && e.gemm_tiled {
        let (gx, gy) = (n.div_ceil(64), m.div_ceil(64));
        ensure!(gx <= max && gy <= max, "gemm of {m} x {n} exceeds the dispatch limit of {max} workgroups per dimension; use a smaller batch");
        e.dispatch_specialised("gemm", "gemm_nt_tiled", &p.constants(), &[(4, a.binding()), (5, b.binding()), (3, c.binding())], [gx as u32, gy as u32, 1])
    } else if aligned && e.gemm_subgroups {
        // every lane runs (broadcasts need the whole subgroup), so the grid has whole workgroups
        e.dispatch_specialised("gemm_sg", "gemm_nt_sg", &p.constants(), &[(4, a.binding()), (5, b.binding()), (3, c.binding())], grid)
    } else if aligned {
        e.dispatch_specialised("gemm", "gemm_nt_vec4", &p.constants(), &[(4, a.binding()), (5, b.binding()), (3, c.binding())], grid)
    } else {
        e.dispatch_specialised("gemm", "gemm_nt", &p.constants(), &[(1, a.binding()), (2, b.binding()), (3, c.binding())], grid)
    }
}

// ---------------------------------------------------------------- batch norm

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
    pub _p: [u32; 2],
}

/// Activation codes shared by the activation and batch-norm kernels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Act {
    Identity,
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Act {
    /// Every activation with its WGSL name: the codes are defined here only, and the host
    /// prepends them to every shader as constants (`Act::wgsl_constants`).
    pub const ALL: [(Act, &'static str); 5] = [
        (Act::Identity, "ACT_IDENTITY"),
        (Act::Relu, "ACT_RELU"),
        (Act::LeakyRelu(0.0), "ACT_LEAKY_RELU"),
        (Act::Tanh, "ACT_TANH"),
        (Act::Sigmoid, "ACT_SIGMOID"),
    ];

    /// `const ACT_RELU: u32 = 1u;` ... for the WGSL prelude.
    pub fn wgsl_constants() -> String {
        Act::ALL.iter().map(|(a, name)| format!("const {name}: u32 = {}u;\n", a.code())).collect()
    }

    pub fn code(&self) -> u32 {
        match self {
            Act::Identity => 0,
            Act::Relu => 1,
            Act::LeakyRelu(_) => 2,
            Act::Tanh => 3,
            Act::Sigmoid => 4,
        }
    }
    pub fn slope(&self) -> f32 {
        match self {
            Act::LeakyRelu(s) => *s,
            _ => 0.0,
        }
    }
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
    ensure!(
        matches!(cfg.act, Act::Identity | Act::Relu | Act::LeakyRelu(_)),
        "batch norm fuses only identity, ReLU or LeakyReLU, not {:?}",
        cfg.act
    );
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
        _p: [0; 2],
    })
}

/// y = act(batchnorm(x)). `affine` is (2, C) gamma then beta, `running` (2, C) mean then var,
/// `saved` (2, C) receives the batch mean and 1/sqrt(var + eps) for the backward pass.
pub fn batchnorm_forward(
    e: &Engine,
    cfg: &BnConfig,
    train: bool,
    x: &Tensor,
    affine: &Tensor,
    y: &Tensor,
    running: &Tensor,
    saved: &Tensor,
) -> Result<Dispatch> {
    let p = bn_params(e, x, cfg, train, false, false)?;
    let c = p.c as usize;
    y.expect_shape(&x.shape, "batch norm output")?;
    for (t, what) in [(affine, "batch norm affine (2, C)"), (running, "batch norm running stats (2, C)"), (saved, "batch norm saved stats (2, C)")] {
        t.expect_shape(&[2, c], what)?;
    }
    e.dispatch(
        "batchnorm",
        "bn_forward",
        &p,
        &[(1, x.binding()), (2, affine.binding()), (3, y.binding()), (4, running.binding()), (5, saved.binding())],
        [p.c, 1, 1],
    )
}

/// Backward of `batchnorm_forward` in training mode: dx from dy, and d(affine) (+)= unless
/// `param_grad` is false (frozen network).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    e: &Engine,
    cfg: &BnConfig,
    x: &Tensor,
    y: &Tensor,
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
    for (t, what) in [(y, "batch norm output"), (dy, "batch norm output-gradient"), (dx, "batch norm input-gradient")] {
        t.expect_shape(&x.shape, what)?;
    }
    for (t, what) in [(affine, "batch norm affine (2, C)"), (saved, "batch norm saved stats (2, C)"), (daffine, "batch norm affine-gradient (2, C)")] {
        t.expect_shape(&[2, c], what)?;
    }
    e.dispatch(
        "batchnorm",
        "bn_backward",
        &p,
        &[
            (1, x.binding()),
            (2, affine.binding()),
            (3, dy.binding()),
            (5, saved.binding()),
            (6, y.binding()),
            (7, dx.binding()),
            (8, daffine.binding()),
        ],
        [p.c, 1, 1],
    )
}

// ---------------------------------------------------------------- activations

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ActParams {
    pub len: u32,
    pub op: u32,
    pub slope: f32,
    pub _p: u32,
}

fn act_params(act: Act, len: usize) -> ActParams {
    ActParams { len: len as u32, op: act.code(), slope: act.slope(), _p: 0 }
}

/// y = act(x).
pub fn activation_forward(e: &Engine, act: Act, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    y.expect_shape(&x.shape, "activation output")?;
    e.dispatch("activation", "act_fwd", &act_params(act, x.numel()), &[(1, x.binding()), (2, y.binding())], e.grid_for(x.numel() as u64)?)
}

/// dx = dy * act'(from the forward output y).
pub fn activation_backward(e: &Engine, act: Act, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    dy.expect_shape(&y.shape, "activation output-gradient")?;
    dx.expect_shape(&y.shape, "activation input-gradient")?;
    e.dispatch(
        "activation",
        "act_bwd",
        &act_params(act, y.numel()),
        &[(1, y.binding()), (2, dx.binding()), (3, dy.binding())],
        e.grid_for(y.numel() as u64)?,
    )
}

// ---------------------------------------------------------------- matmul / linear

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub has_bias: u32,
    pub sa_m: u32,
    pub sa_k: u32,
    pub sb_k: u32,
    pub sb_n: u32,
    pub accumulate: u32,
    pub _p: [u32; 3],
}

/// C (m, n) (+)= A B (+ bias) with A, B read through strides (see matmul.wgsl).
pub fn matmul(e: &Engine, p: MatmulParams, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, c: &Tensor) -> Result<Dispatch> {
    ensure!(p.m > 0 && p.n > 0 && p.k > 0, "matmul with an empty dimension: {p:?}");
    let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
    let last_a = (m - 1) * p.sa_m as usize + (k - 1) * p.sa_k as usize;
    let last_b = (k - 1) * p.sb_k as usize + (n - 1) * p.sb_n as usize;
    ensure!(last_a < a.numel(), "matmul: A with {} values cannot be read as ({m}, {k})", a.numel());
    ensure!(last_b < b.numel(), "matmul: B with {} values cannot be read as ({k}, {n})", b.numel());
    ensure!(c.numel() == m * n, "matmul: C has {} values, expected {m} x {n}", c.numel());
    let mut p = p;
    p.has_bias = bias.is_some() as u32;
    let bias_t = match bias {
        Some(t) => {
            ensure!(t.numel() == n, "matmul bias: expected {n} values, got {}", t.numel());
            t
        }
        None => b, // bound but never read
    };
    e.dispatch(
        "matmul",
        "matmul",
        &p,
        &[(1, a.binding()), (2, b.binding()), (3, bias_t.binding()), (4, c.binding())],
        e.grid_for((m.div_ceil(4) * n.div_ceil(4)) as u64)?,
    )
}

fn mm(m: usize, n: usize, k: usize, sa_m: usize, sa_k: usize, sb_k: usize, sb_n: usize, accumulate: bool) -> MatmulParams {
    MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        has_bias: 0,
        sa_m: sa_m as u32,
        sa_k: sa_k as u32,
        sb_k: sb_k as u32,
        sb_n: sb_n as u32,
        accumulate: accumulate as u32,
        _p: [0; 3],
    }
}

fn linear_dims(x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    ensure!(x.shape.len() == 2 && w.shape.len() == 2, "linear: x must be (B, in) and W (out, in), got {:?} and {:?}", x.shape, w.shape);
    ensure!(x.shape[1] == w.shape[1], "linear: x {:?} and W {:?} disagree on the input size", x.shape, w.shape);
    Ok((x.shape[0], w.shape[1], w.shape[0]))
}

/// y (B, out) = x (B, in) W^T (W is (out, in) as in PyTorch) + b.
pub fn linear_forward(e: &Engine, x: &Tensor, w: &Tensor, b: Option<&Tensor>, y: &Tensor) -> Result<Dispatch> {
    let (bsz, din, dout) = linear_dims(x, w)?;
    y.expect_shape(&[bsz, dout], "linear output")?;
    matmul(e, mm(bsz, dout, din, din, 1, 1, din, false), x, w, b, y)
}

/// dx (B, in) = dy (B, out) W.
pub fn linear_backward_input(e: &Engine, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    let (bsz, din, dout) = linear_dims(dx, w)?;
    dy.expect_shape(&[bsz, dout], "linear output-gradient")?;
    matmul(e, mm(bsz, din, dout, dout, 1, din, 1, false), dy, w, None, dx)
}

/// dW (out, in) (+)= dy^T x.
pub fn linear_backward_weight(e: &Engine, x: &Tensor, dy: &Tensor, dw: &Tensor, accumulate: bool) -> Result<Dispatch> {
    let (bsz, din, dout) = linear_dims(x, dw)?;
    dy.expect_shape(&[bsz, dout], "linear output-gradient")?;
    matmul(e, mm(dout, din, bsz, 1, dout, din, 1, accumulate), dy, x, None, dw)
}

/// out (N) (+)= column sums of src (M, N): bias gradients.
pub fn sum_rows(e: &Engine, src: &Tensor, out: &Tensor, accumulate: bool) -> Result<Dispatch> {
    ensure!(src.shape.len() == 2, "sum_rows needs a matrix, got {:?}", src.shape);
    let (m, n) = (src.shape[0], src.shape[1]);
    ensure!(out.numel() == n, "sum_rows: output has {} values, expected {n}", out.numel());
    let p = mm(m, n, 1, 0, 0, 0, 0, accumulate);
    e.dispatch("matmul", "sum_rows", &p, &[(5, src.binding()), (6, out.binding())], e.grid_for(n as u64)?)
}

// ---------------------------------------------------------------- losses

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
    ensure!(stride > 0 && offset < stride && logits.numel() % stride == 0, "loss: offset {offset} / stride {stride} do not fit {} logits", logits.numel());
    let n = logits.numel() / stride;
    ensure!(n > 0, "loss over an empty batch");
    ensure!(targets.numel() == n, "loss: {} targets for {n} logits", targets.numel());
    ensure!(grad.numel() == logits.numel(), "loss: gradient has {} values for {} logits", grad.numel(), logits.numel());
    ensure!(slot + 1 < stats.numel(), "loss: stats slot {slot} outside a stats buffer of {}", stats.numel());
    let code = match kind {
        LossKind::BceLogits => 0,
        LossKind::Linear => 1,
        LossKind::Squared => 2,
        LossKind::Hinge => 3,
    };
    let p = LossParams { n: n as u32, kind: code, scale, slot: slot as u32, stride: stride as u32, offset: offset as u32, classes: 0, _p: 0 };
    e.dispatch(
        "loss",
        "loss_reduce",
        &p,
        &[(1, logits.binding()), (2, targets.binding()), (3, grad.binding()), (4, stats.binding())],
        [1, 1, 1],
    )
}

// ---------------------------------------------------------------- optimizers

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
    e.dispatch(
        "optim",
        "adam",
        &p,
        &[(1, param.binding()), (2, grad.binding()), (3, m.binding()), (4, v.binding())],
        e.grid_for(n as u64)?,
    )
}

/// One RMSProp step (square average in `v`).
pub fn rmsprop(e: &Engine, p: OptParams, param: &Tensor, grad: &Tensor, v: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[param, grad, v], "rmsprop")?;
    ensure!(p.len as usize == n, "rmsprop params say {} values, tensors hold {n}", p.len);
    e.dispatch("optim", "rmsprop", &p, &[(1, param.binding()), (2, grad.binding()), (4, v.binding())], e.grid_for(n as u64)?)
}

/// One plain gradient-descent step: param -= lr * grad.
pub fn sgd(e: &Engine, lr: f64, param: &Tensor, grad: &Tensor) -> Result<Dispatch> {
    let n = same_len(&[param, grad], "sgd")?;
    let p = OptParams { len: n as u32, lr: lr as f32, ..Default::default() };
    e.dispatch("optim", "sgd", &p, &[(1, param.binding()), (2, grad.binding())], e.grid_for(n as u64)?)
}

/// Clamps every value of `param` to [-c, c].
pub fn clip(e: &Engine, c: f32, param: &Tensor) -> Result<Dispatch> {
    ensure!(c > 0.0, "clip value must be positive, got {c}");
    let n = param.numel();
    e.dispatch("optim", "clip", &OptParams::clip(n, c), &[(1, param.binding())], e.grid_for(n as u64)?)
}

// ---------------------------------------------------------------- random numbers

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

// ---------------------------------------------------------------- lab targets

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
    e.dispatch("lab", "sample_target", &p, &[(1, out.binding())], e.grid_for(out.shape[0] as u64)?)
}

// ---------------------------------------------------------------- spectral norm

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
    e.dispatch("specnorm", "sn_power", &p, &[(1, w.binding()), (2, state.binding()), (3, w_sn.binding())], [1, 1, 1])
}

/// dw = (dw_sn - <dw_sn, w_sn> u v^T) / sigma.
pub fn spectral_norm_backward(e: &Engine, state: &Tensor, w_sn: &Tensor, dw_sn: &Tensor, dw: &Tensor) -> Result<Dispatch> {
    let p = sn_params(w_sn, state)?;
    ensure!(dw_sn.numel() == w_sn.numel() && dw.numel() == w_sn.numel(), "spectral norm gradients must match the weight");
    e.dispatch(
        "specnorm",
        "sn_backward",
        &p,
        &[(4, state.binding()), (5, w_sn.binding()), (6, dw_sn.binding()), (7, dw.binding())],
        [1, 1, 1],
    )
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
    ensure!(classes >= 2 && offset + classes <= stride && logits.numel() % stride == 0, "cross-entropy: {classes} classes at {offset} do not fit rows of {stride}");
    let n = logits.numel() / stride;
    ensure!(grad.numel() == logits.numel(), "cross-entropy: gradient shape differs from the logits");
    ensure!(labels.size() >= (n * 4) as u64, "cross-entropy: {n} labels needed");
    ensure!(slot + 1 < stats.numel(), "cross-entropy: stats slot {slot} out of range");
    let p = LossParams { n: n as u32, kind: 0, scale, slot: slot as u32, stride: stride as u32, offset: offset as u32, classes: classes as u32, _p: 0 };
    e.dispatch(
        "loss",
        "softmax_ce",
        &p,
        &[(1, logits.binding()), (3, grad.binding()), (4, stats.binding()), (5, labels.as_entire_binding())],
        [1, 1, 1],
    )
}

// ---------------------------------------------------------------- conditioning

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
pub fn draw_labels(e: &Engine, batch: usize, classes: usize, picked: &wgpu::Buffer, labels: &wgpu::Buffer, lab_real: &wgpu::Buffer, lab_fake: &wgpu::Buffer, seed: u32, stream: u32) -> Result<Dispatch> {
    ensure!(classes >= 1, "no classes");
    let p = CondParams { batch: batch as u32, classes: classes as u32, seed, stream, ..Default::default() };
    e.dispatch(
        "cond",
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
    e.dispatch("cond", "concat_onehot", &p, &[(5, src.binding()), (6, lab.as_entire_binding()), (7, dst.binding())], e.grid_for(dst.numel() as u64)?)
}

/// dst (B, width, plane) = the first `width` channels of src (B, width + classes, plane).
pub fn slice_channels(e: &Engine, src: &Tensor, classes: usize, dst: &Tensor) -> Result<Dispatch> {
    let b = dst.shape[0];
    let width = dst.shape[1];
    let plane: usize = dst.shape[2..].iter().product();
    ensure!(src.numel() == b * (width + classes) * plane, "slice: source {:?} is not ({b}, {}, ...)", src.shape, width + classes);
    let p = CondParams { batch: b as u32, classes: classes as u32, width: width as u32, plane: plane as u32, ..Default::default() };
    e.dispatch("cond", "slice_channels", &p, &[(5, src.binding()), (7, dst.binding())], e.grid_for(dst.numel() as u64)?)
}
