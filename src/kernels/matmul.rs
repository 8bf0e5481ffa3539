//! Linear layers (shaders/matmul.wgsl).

use super::*;

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
        Family::Matmul,
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
    e.dispatch(Family::Matmul, "sum_rows", &p, &[(5, src.binding()), (6, out.binding())], e.grid_for(n as u64)?)
}
