//! Convolutions as layout kernels + one GEMM (shaders/layout.wgsl): im2col, col2im and packing
//! into a shared workspace. The path for adapters where implicit GEMMs do not pay (no subgroups).

use super::*;

/// A layout pass's geometry, passed to layout.wgsl as override constants (no params buffer).
#[derive(Clone, Copy, Debug, Default)]
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
            if e.conv_implicit() {
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
    e.dispatch_specialised(Family::Layout, entry, &p.constants(), &[(1, src.binding()), (2, dst.binding())], e.grid_for(threads as u64)?)
}

/// y = conv2d(x, w): im2col, then one GEMM writing y in NCHW.
pub(super) fn conv2d_forward_explicit(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
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
pub(super) fn conv2d_backward_input_explicit(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
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
pub(super) fn conv2d_backward_weight_explicit(
    e: &Engine,
    ws: &ConvWorkspace,
    g: &ConvGeom,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
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
