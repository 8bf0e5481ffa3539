//! Convolutions as implicit GEMMs (shaders/conv.wgsl, conv_backward.wgsl): geometry, the launcher of each pass, and
//! the conv2d / conv_transpose2d entry points that pick the implicit or the layout-kernel path.

use super::*;

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
        ConvGeom { n: self.n, cin: self.cout, h: self.oh(), w: self.ow(), cout: self.cin, kh: self.kh, kw: self.kw, stride: self.stride, pad: self.pad }
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

/// The passes of conv.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPass {
    Forward,
    InputGrad,
    WeightGrad,
}

impl ConvPass {
    fn entry(self, g: &ConvGeom) -> &'static str {
        match self {
            ConvPass::Forward => "conv_fwd",
            ConvPass::InputGrad if g.dgrad_x2_few() => "conv_dgrad_x2_few",
            ConvPass::InputGrad if g.dgrad_x2() => "conv_dgrad_x2",
            ConvPass::InputGrad => "conv_dgrad",
            ConvPass::WeightGrad if g.wgrad_pairs() => "conv_wgrad_pair",
            ConvPass::WeightGrad => "conv_wgrad",
        }
    }
}

/// Longest row segment a strip of 8 outputs may read (`SEG` in conv.wgsl).
const CONV_SEGMENT: usize = 32;
/// Rows (output channels; input channels for the input-gradient) per invocation (`ROWS`).
const CONV_ROWS: usize = 16;

impl ConvGeom {
    /// True when a pass of this geometry is a dense product (one output position covering the
    /// whole input, PAD 0): see conv.wgsl's conv_dense.
    pub fn is_dense(&self) -> bool {
        self.pad == 0 && self.kh == self.h && self.kw == self.w && self.k().is_multiple_of(4)
    }

    /// Whether the weight-gradient takes kernel rows in pairs ky, ky + S (conv_backward.wgsl's
    /// conv_wgrad_pair): KH = 2 S.
    fn wgrad_pairs(&self) -> bool {
        self.kh == 2 * self.stride
    }

    /// Whether the input-gradient takes both column phases per invocation (conv_backward.wgsl's
    /// conv_dgrad_x2): stride 2, kernel rows of 4 taps.
    fn dgrad_x2(&self) -> bool {
        self.stride == 2 && self.kw == 4
    }

    /// conv_dgrad_x2 for at most 4 input channels and 4 x 4 kernels (conv_backward.wgsl's
    /// conv_dgrad_x2_few): 4 output rows x 16 columns of every channel per invocation instead of
    /// 16 channel rows, most of them idle.
    fn dgrad_x2_few(&self) -> bool {
        self.dgrad_x2() && self.cin <= 4 && self.kh == 4
    }

    /// The override constants that specialise conv.wgsl (and conv_tiled.wgsl) to this geometry.
    pub(super) fn constants(&self, accumulate: bool) -> Vec<(&'static str, f64)> {
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

/// The grid of an implicit-GEMM pass of conv.wgsl (not dense): workgroups along x (strips of
/// pixels, or weight taps), y (blocks of rows) and z (phases), and the row blocks per invocation.
struct ImplicitGrid {
    /// Invocations that store (strips of pixels, or weight taps) per grid z.
    lanes: usize,
    gx: usize,
    gy: usize,
    phases: usize,
    blocks: usize,
}

fn implicit_grid(e: &Engine, pass: ConvPass, g: &ConvGeom) -> Result<ImplicitGrid> {
    let seg = match pass {
        ConvPass::Forward => 7 * g.stride + g.kw,
        ConvPass::InputGrad if g.dgrad_x2() => 10,
        ConvPass::InputGrad => 7 + g.kw.div_ceil(g.stride),
        ConvPass::WeightGrad => 7 * g.stride + 4,
    };
    ensure!(seg <= CONV_SEGMENT, "conv2d {g:?}: stride and kernel width read {seg} values per row strip, more than the {CONV_SEGMENT} supported");
    let (lanes, rows, phases) = match pass {
        // rows of 4 outputs: a strip is two rows
        ConvPass::Forward if g.ow() == 4 => (g.n * g.oh().div_ceil(2), g.cout, 1),
        ConvPass::Forward => (g.n * g.oh() * g.ow().div_ceil(8), g.cout, 1),
        ConvPass::InputGrad if g.dgrad_x2_few() => (g.n * g.h.div_ceil(2).div_ceil(2) * g.w.div_ceil(2).div_ceil(8), 1, 1),
        // phase rows of 4 outputs, KH even: a strip is two phase rows
        ConvPass::InputGrad if g.dgrad_x2() && g.w.div_ceil(2) == 4 && g.kh.is_multiple_of(2) => (g.n * g.h.div_ceil(2).div_ceil(2), g.cin, 2),
        ConvPass::InputGrad if g.dgrad_x2() => (g.n * g.h.div_ceil(2) * g.w.div_ceil(2).div_ceil(8), g.cin, 2),
        ConvPass::InputGrad => (g.n * g.h.div_ceil(g.stride) * g.w.div_ceil(g.stride).div_ceil(8), g.cin, g.stride * g.stride),
        ConvPass::WeightGrad if g.wgrad_pairs() => (g.cin * g.stride * g.kw.div_ceil(4), g.cout, 1),
        ConvPass::WeightGrad => (g.cin * g.kh * g.kw.div_ceil(4), g.cout, 1),
    };
    let gx = lanes.div_ceil(e.workgroup_size as usize);
    // some kernels take two blocks of rows per invocation where there are enough
    let two = match pass {
        ConvPass::Forward => true,
        ConvPass::WeightGrad => g.wgrad_pairs(),
        ConvPass::InputGrad => g.dgrad_x2(),
    };
    let blocks = if two && rows >= 2 * CONV_ROWS { 2 } else { 1 };
    // the paired weight gradient takes 4 blocks (each x row then serves 64 output channels: 10-40%
    // faster on lavapipe) where that still leaves at least 4 workgroups: a CPU adapter runs one
    // workgroup per thread, and dcgan64's 3-channel layers would be left with one (1.6x slower)
    let wide = pass == ConvPass::WeightGrad && g.wgrad_pairs() && rows >= 4 * CONV_ROWS && gx * rows.div_ceil(4 * CONV_ROWS) >= 4;
    let blocks = if wide { 4 } else { blocks };
    let gy = rows.div_ceil(CONV_ROWS * blocks);
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    ensure!(gx <= max && gy <= max && phases <= max, "conv2d {g:?} needs {gx} x {gy} workgroups, over the device limit of {max}; use a smaller batch");
    Ok(ImplicitGrid { lanes, gx, gy, phases, blocks })
}

/// How many batch-norm partial statistics per output channel (of the pass: cout forward, cin
/// for the input gradient) `pass` writes beside its output when asked to (BN_STATS), or None
/// where its kernel cannot. The shared-memory tiles (GPUs) write one per column tile and phase,
/// for forward and input-gradient passes alike; of the barrier-free kernels (CPU adapters), only
/// conv_fwd and conv_dgrad_x2 (the passes that feed batch norm in DCGAN's layers but the first)
/// do, one per group of 8 strips and grid z, in their subgroup variant (groups merge through
/// shuffles, which needs subgroups of consecutive invocations: the plan only picks the subgroup
/// variant where a probe of the device found them so, plan.rs). Elsewhere batch norm reads the
/// output once more for its statistics.
pub fn bn_partial_slots(e: &Engine, pass: ConvPass, g: &ConvGeom) -> Option<usize> {
    if e.conv_tiled() {
        return g.validate().ok().and_then(|_| tiled_bn_partial_slots(e, pass, g));
    }
    let kernel = e.conv_implicit() && e.conv_subgroups() && g.validate().is_ok() && !g.is_dense() && matches!(pass.entry(g), "conv_fwd" | "conv_dgrad_x2");
    if !kernel || !e.workgroup_size.is_multiple_of(8) {
        return None;
    }
    let grid = implicit_grid(e, pass, g).ok()?;
    Some(grid.phases * grid.lanes.div_ceil(8))
}

/// One pass of a convolution in geometry `g` as one implicit-GEMM dispatch: `a` and `b` are the
/// operands in conv.wgsl's bindings 1 and 2 (Forward: x, w; InputGrad: dy, w; WeightGrad: x, dy).
/// `act` is fused into the output (not with `accumulate`, nor on a dense forward pass, which is a
/// plain GEMM). `bn_partials` (channels, `bn_partial_slots`, 4) receives batch-norm partial
/// statistics of the output (count, mean, M2, 0), for `batchnorm_forward` to merge.
#[allow(clippy::too_many_arguments)]
pub fn conv_pass(
    e: &Engine,
    pass: ConvPass,
    g: &ConvGeom,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    accumulate: bool,
    act: Act,
    bn_partials: Option<&Tensor>,
) -> Result<Vec<Dispatch>> {
    g.validate()?;
    ensure!(act == Act::Identity || !accumulate, "conv2d: an activation cannot be fused into an accumulated output");
    let (sa, sb, so, what) = match pass {
        ConvPass::Forward => (g.x_shape(), g.w_shape(), g.y_shape(), ["input", "weight", "output"]),
        ConvPass::InputGrad => (g.y_shape(), g.w_shape(), g.x_shape(), ["output-gradient", "weight", "input-gradient"]),
        ConvPass::WeightGrad => (g.x_shape(), g.y_shape(), g.w_shape(), ["input", "output-gradient", "weight-gradient"]),
    };
    for (t, shape, w) in [(a, sa, what[0]), (b, sb, what[1]), (out, so, what[2])] {
        t.expect_shape(&shape, &format!("conv2d {w}"))?;
    }
    let bn_slots = match bn_partials {
        None => None,
        Some(t) => {
            let slots =
                bn_partial_slots(e, pass, g).ok_or_else(|| anyhow!("conv2d {pass:?} {g:?}: this pass's kernel cannot write batch-norm partial statistics"))?;
            ensure!(act == Act::Identity && !accumulate, "conv2d: batch-norm partial statistics summarise a plain (not activated, not accumulated) output");
            t.expect_shape(&[so[1], slots, 4], "conv2d batch-norm partials")?;
            ensure!(t.offset % 4 == 0, "conv2d: batch-norm partials must start on a 16-byte boundary");
            Some(slots)
        }
    };
    if e.conv_tiled() {
        return conv_tiled_pass(e, pass, g, a, b, out, accumulate, act, bn_partials.zip(bn_slots));
    }
    ensure!(act == Act::Identity || !(pass == ConvPass::Forward && g.is_dense()), "conv2d: a dense forward pass cannot fuse an activation");
    // one output position covering the whole input: a dense product, no taps to mask
    let k = g.k();
    if g.is_dense() {
        let flat = |t: &Tensor, rows: usize| t.reshape(&[rows, t.numel() / rows]);
        return Ok(vec![match pass {
            ConvPass::Forward => gemm_nt(e, g.n, g.cout, k, &flat(a, g.n)?, k, &flat(b, g.cout)?, k, &flat(out, g.n)?, GemmOut::RowMajor, accumulate),
            // dx[n, k] = sum_co dy[n, co] w[co, k]
            ConvPass::InputGrad => conv_dense(e, a, g.cout, 1, b, out, g.n, k, g.cout, accumulate, act),
            // dw[co, k] = sum_n dy[n, co] x[n, k]
            ConvPass::WeightGrad => conv_dense(e, b, 1, g.cout, a, out, g.cout, k, g.n, accumulate, act),
        }?]);
    }
    let ImplicitGrid { lanes, gx, gy, phases, blocks } = implicit_grid(e, pass, g)?;
    let family = if e.conv_subgroups() { Family::ConvSubgroups } else { Family::Conv };
    // bindings 4 and 5: operands b and a as vec4 arrays. They are read when the operand holds a
    // multiple of 4 values (its row segments then load as aligned vec4s) and, for b, by a forward
    // pass with KW % 4 == 0 (then the weights' count is a multiple of 4); otherwise any read-only
    // operand of at least 4 values serves, as the kernel never reads it.
    let vec4_ok = |t: &Tensor| t.numel().is_multiple_of(4) && t.offset.is_multiple_of(4);
    let some_vec4 = |t: &'_ Tensor| -> Result<Tensor> {
        [t, a, b].into_iter().find(|t| t.numel() >= 4).cloned().ok_or_else(|| anyhow!("conv2d {g:?}: operands of fewer than 4 values are not supported"))
    };
    let (a4, b4) = (some_vec4(a)?, some_vec4(b)?);
    ensure!(b4.offset % 4 == 0 && a4.offset % 4 == 0, "conv2d: operands must start on a 16-byte boundary");
    // conv.wgsl's pipelines share one layout of all six bindings
    let parts = bn_partials.map_or_else(|| e.no_bn_partials.as_entire_binding(), |t| t.binding());
    let bindings = vec![(1, a.binding()), (2, b.binding()), (3, out.binding()), (4, b4.binding()), (5, a4.binding()), (6, parts)];
    let mut constants = g.constants(accumulate);
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    constants.extend([
        ("ACT", act.code() as f64),
        ("ACT_SLOPE", act.slope() as f64),
        ("SRC_VEC4", flag(vec4_ok(a))),
        ("WT_VEC4", flag(vec4_ok(b))),
        ("BLOCKS", blocks as f64),
    ]);
    if let Some(slots) = bn_slots {
        constants.extend([("BN_STATS", 1.0), ("BN_LANES", lanes as f64), ("BN_SLOTS", slots as f64)]);
    }
    Ok(vec![e.dispatch_specialised(family, pass.entry(g), &constants, &bindings, [gx as u32, gy as u32, phases as u32])?])
}

/// C (I, J) (+)= sum over t of A(i, t) B (T, J), A read at i * a_i + t * a_t (conv.wgsl's conv_dense).
#[allow(clippy::too_many_arguments)]
fn conv_dense(
    e: &Engine,
    a: &Tensor,
    a_i: usize,
    a_t: usize,
    b: &Tensor,
    c: &Tensor,
    i: usize,
    j: usize,
    t: usize,
    accumulate: bool,
    act: Act,
) -> Result<Dispatch> {
    ensure!(j.is_multiple_of(4) && b.offset.is_multiple_of(4), "dense product: columns must come in whole vec4s");
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
    // an invocation: CONV_ROWS rows x two quads of columns
    let gx = (j / 4).div_ceil(2).div_ceil(e.workgroup_size as usize);
    let gy = i.div_ceil(CONV_ROWS);
    let family = if e.conv_subgroups() { Family::ConvSubgroups } else { Family::Conv };
    // conv.wgsl's shared layout: bindings 2, 5 and 6 are not read here
    let bindings = [(1, a.binding()), (2, a.binding()), (3, c.binding()), (4, b.binding()), (5, b.binding()), (6, e.no_bn_partials.as_entire_binding())];
    e.dispatch_specialised(family, "conv_dense", &constants, &bindings, [gx as u32, gy as u32, 1])
}

/// y = conv2d(x, w): one implicit-GEMM dispatch (`Engine::conv_implicit`), or im2col + GEMM.
pub fn conv2d_forward(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    conv2d_forward_act(e, ws, g, x, w, y, Act::Identity, None)
}

/// y = act(conv2d(x, w)), the activation fused when `fuses_activation` says it can be;
/// `bn_partials` as in `conv_pass` (where `bn_partial_slots` says the pass writes them).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_act(
    e: &Engine,
    ws: &ConvWorkspace,
    g: &ConvGeom,
    x: &Tensor,
    w: &Tensor,
    y: &Tensor,
    act: Act,
    bn_partials: Option<&Tensor>,
) -> Result<Vec<Dispatch>> {
    if e.conv_implicit() {
        return conv_pass(e, ConvPass::Forward, g, x, w, y, false, act, bn_partials);
    }
    ensure!(act == Act::Identity && bn_partials.is_none(), "conv2d: the layout-kernel path fuses no activation or batch-norm statistics");
    conv2d_forward_explicit(e, ws, g, x, w, y)
}

/// Whether a convolution's forward pass (transposed: `transposed`) can write act(y) itself.
pub fn fuses_activation(e: &Engine, g: &ConvGeom, transposed: bool) -> bool {
    e.conv_implicit() && (transposed || e.conv_tiled() || !g.is_dense())
}

/// dx = conv2d input-gradient of dy: one implicit-GEMM dispatch by phases, or pack + GEMM + col2im.
pub fn conv2d_backward_input(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    if e.conv_implicit() {
        return conv_pass(e, ConvPass::InputGrad, g, dy, w, dx, false, Act::Identity, None);
    }
    conv2d_backward_input_explicit(e, ws, g, dy, w, dx)
}

/// dw (+)= conv2d weight-gradient: one implicit-GEMM dispatch, or pack + im2col_t + GEMM.
pub fn conv2d_backward_weight(e: &Engine, ws: &ConvWorkspace, g: &ConvGeom, x: &Tensor, dy: &Tensor, dw: &Tensor, accumulate: bool) -> Result<Vec<Dispatch>> {
    if e.conv_implicit() {
        return conv_pass(e, ConvPass::WeightGrad, g, x, dy, dw, accumulate, Act::Identity, None);
    }
    conv2d_backward_weight_explicit(e, ws, g, x, dy, dw, accumulate)
}

/// y = conv_transpose2d(x, w): the input-gradient kernels of the matching convolution.
pub fn conv_transpose2d_forward(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<Vec<Dispatch>> {
    conv_transpose2d_forward_act(e, ws, g, x, w, y, Act::Identity, None)
}

/// y = act(conv_transpose2d(x, w)), the activation fused (implicit convolutions only);
/// `bn_partials` as in `conv_pass`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_forward_act(
    e: &Engine,
    ws: &ConvWorkspace,
    g: &ConvTGeom,
    x: &Tensor,
    w: &Tensor,
    y: &Tensor,
    act: Act,
    bn_partials: Option<&Tensor>,
) -> Result<Vec<Dispatch>> {
    g.validate()?;
    if e.conv_implicit() {
        return conv_pass(e, ConvPass::InputGrad, &g.as_conv(), x, w, y, false, act, bn_partials).context("conv_transpose2d forward");
    }
    ensure!(act == Act::Identity && bn_partials.is_none(), "conv_transpose2d: the layout-kernel path fuses no activation or batch-norm statistics");
    conv2d_backward_input(e, ws, &g.as_conv(), x, w, y).context("conv_transpose2d forward")
}

/// dx = conv_transpose2d input-gradient: a plain convolution of dy.
pub fn conv_transpose2d_backward_input(e: &Engine, ws: &ConvWorkspace, g: &ConvTGeom, dy: &Tensor, w: &Tensor, dx: &Tensor) -> Result<Vec<Dispatch>> {
    g.validate()?;
    conv2d_forward(e, ws, &g.as_conv(), dy, w, dx).context("conv_transpose2d input-gradient")
}

/// dw (+)= conv_transpose2d weight-gradient: the convolution weight-gradient with x and dy swapped.
pub fn conv_transpose2d_backward_weight(
    e: &Engine,
    ws: &ConvWorkspace,
    g: &ConvTGeom,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    g.validate()?;
    conv2d_backward_weight(e, ws, &g.as_conv(), dy, x, dw, accumulate).context("conv_transpose2d weight-gradient")
}
