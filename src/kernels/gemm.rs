//! The GEMM C (+)= A B^T (shaders/gemm.wgsl, gemm_sg.wgsl): register blocks, shared-memory tiles,
//! or register blocks whose lanes share A through subgroups.

use super::*;

/// A GEMM's shape, passed to gemm.wgsl as override constants (no params buffer).
#[derive(Clone, Copy, Debug)]
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
pub fn gemm_nt(
    e: &Engine,
    m: usize,
    n: usize,
    k: usize,
    a: &Tensor,
    lda: usize,
    b: &Tensor,
    ldb: usize,
    c: &Tensor,
    out: GemmOut,
    accumulate: bool,
) -> Result<Dispatch> {
    ensure!(m > 0 && n > 0 && k > 0, "gemm with an empty dimension ({m}, {n}, {k})");
    ensure!(lda >= k && ldb >= k, "gemm: leading dimensions ({lda}, {ldb}) shorter than k = {k}");
    ensure!(a.numel() >= (m - 1) * lda + k, "gemm: A holds {} values, needs ({m}, {lda})", a.numel());
    ensure!(b.numel() >= (n - 1) * ldb + k, "gemm: B holds {} values, needs ({n}, {ldb})", b.numel());
    ensure!(c.numel() >= m * n, "gemm: C holds {} values, needs {m} x {n}", c.numel());
    let (mode, plane) = match out {
        GemmOut::RowMajor => (0, 1),
        GemmOut::Channels { plane } => {
            ensure!(plane > 0 && n.is_multiple_of(plane), "gemm: {n} columns are not whole images of {plane} pixels");
            (1, plane)
        }
    };
    let p = GemmParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        lda: lda as u32,
        ldb: ldb as u32,
        accumulate: accumulate as u32,
        out_mode: mode,
        plane: plane as u32,
    };
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    let gx = n.div_ceil(4).div_ceil(e.workgroup_size as usize);
    let gy = m.div_ceil(8);
    ensure!(gx <= max && gy <= max, "gemm of {m} x {n} exceeds the dispatch limit of {max} workgroups per dimension; use a smaller batch");
    let grid = [gx as u32, gy as u32, 1];
    let aligned = k.is_multiple_of(4) && lda.is_multiple_of(4) && ldb.is_multiple_of(4) && a.offset.is_multiple_of(4) && b.offset.is_multiple_of(4);
    if aligned && e.gemm_tiled() {
        let (gx, gy) = (n.div_ceil(64), m.div_ceil(64));
        ensure!(gx <= max && gy <= max, "gemm of {m} x {n} exceeds the dispatch limit of {max} workgroups per dimension; use a smaller batch");
        e.dispatch_specialised(
            Family::Gemm,
            "gemm_nt_tiled",
            &p.constants(),
            &[(4, a.binding()), (5, b.binding()), (3, c.binding())],
            [gx as u32, gy as u32, 1],
        )
    } else if aligned && e.gemm_subgroups() {
        // every lane runs (broadcasts need the whole subgroup), so the grid has whole workgroups
        e.dispatch_specialised(Family::GemmSubgroups, "gemm_nt_sg", &p.constants(), &[(4, a.binding()), (5, b.binding()), (3, c.binding())], grid)
    } else if aligned {
        e.dispatch_specialised(Family::Gemm, "gemm_nt_vec4", &p.constants(), &[(4, a.binding()), (5, b.binding()), (3, c.binding())], grid)
    } else {
        e.dispatch_specialised(Family::Gemm, "gemm_nt", &p.constants(), &[(1, a.binding()), (2, b.binding()), (3, c.binding())], grid)
    }
}
