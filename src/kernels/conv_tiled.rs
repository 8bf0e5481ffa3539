//! The shared-memory tiled implicit-GEMM convolutions for GPUs (shaders/conv_tiled.wgsl): one
//! dispatch per pass, every pass (dense ones included) a tiled product.

use super::*;

/// Rows and columns of C per workgroup (`TILE` in conv_tiled.wgsl): 64, or 32 where a pass has
/// fewer than `FILL` 64-tiles, too few to keep a large GPU's compute units busy (a workgroup of
/// 64 x 64 runs on one unit; an H100 has 132).
const TILE: usize = 64;
const SMALL_TILE: usize = 32;
const FILL: usize = 256;
/// Workgroups a split weight gradient aims for: 2 per multiprocessor of a large GPU (an H100 has
/// 132), so each unit can overlap one workgroup's loads with another's arithmetic.
const SPLIT_FILL: usize = 264;
/// The shortest K chunk of a split weight gradient: 4 staged steps of 16.
const MIN_CHUNK: usize = 64;

/// The tiled product of one pass: MODE, C's rows GM and columns GN, grid z (dgrad phases), the
/// tile edge and the workgroups along x (column tiles) and y (row tiles).
struct TiledGrid {
    mode: u32,
    /// Grid z: dgrad's phases, or weight-gradient K chunks (split-K); 1 otherwise.
    phases: usize,
    /// K chunks of a split weight gradient (1: no split).
    split: usize,
    tile: usize,
    gx: usize,
    gy: usize,
}

fn tiled_grid(e: &Engine, pass: ConvPass, g: &ConvGeom) -> Result<TiledGrid> {
    let s = g.stride;
    // C is GM x GN; dgrad runs its STRIDE x STRIDE phases as grid z, each as large as the largest
    let (mode, gm, gn, phases) = match pass {
        ConvPass::Forward => (0, g.cout, g.n * g.oh() * g.ow(), 1),
        ConvPass::InputGrad => (1, g.cin, g.n * g.h.div_ceil(s) * g.w.div_ceil(s), s * s),
        ConvPass::WeightGrad => (2, g.cout, g.cin * g.kh * g.kw, 1),
    };
    let tile = match e.conv_tile {
        Some(t) => {
            ensure!(t == TILE || t == SMALL_TILE, "conv2d: tiles of {t} are not built; {TILE} or {SMALL_TILE}");
            t
        }
        None if gn.div_ceil(TILE) * gm.div_ceil(TILE) * phases >= FILL => TILE,
        None => SMALL_TILE,
    };
    let (gx, gy) = (gn.div_ceil(tile), gm.div_ceil(tile));
    // split-K where a weight gradient's C has fewer than SPLIT_FILL tiles: chunks of K of at
    // least MIN_CHUNK, enough of them to reach SPLIT_FILL workgroups
    let gk = g.n * g.oh() * g.ow();
    let split = if pass == ConvPass::WeightGrad && gx * gy < SPLIT_FILL { SPLIT_FILL.div_ceil(gx * gy).min(gk / MIN_CHUNK).max(1) } else { 1 };
    let phases = phases * split;
    let max = e.gpu.limits.max_compute_workgroups_per_dimension as usize;
    ensure!(
        gx <= max && gy <= max && phases <= max,
        "conv2d {g:?} needs {gx} x {gy} x {phases} workgroups, over the device limit of {max}; use a smaller batch"
    );
    Ok(TiledGrid { mode, phases, split, tile, gx, gy })
}

/// Batch-norm partial statistics per output channel a forward or input-gradient pass writes
/// (one per column tile and phase), or None for the weight gradient.
pub(super) fn tiled_bn_partial_slots(e: &Engine, pass: ConvPass, g: &ConvGeom) -> Option<usize> {
    if pass == ConvPass::WeightGrad {
        return None;
    }
    let grid = tiled_grid(e, pass, g).ok()?;
    Some(grid.gx * grid.phases)
}

/// One pass of geometry `g` (shapes already checked by `conv_pass`): a, b and out as in
/// conv.wgsl's bindings 1, 2 and 3; `bn_partials` with `bn_slots` records per channel, as
/// `conv_pass` checked. Weight gradients with few output tiles are split along K: two dispatches.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_tiled_pass(
    e: &Engine,
    pass: ConvPass,
    g: &ConvGeom,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    accumulate: bool,
    act: Act,
    bn_partials: Option<(&Tensor, usize)>,
) -> Result<Vec<Dispatch>> {
    let TiledGrid { mode, phases, split, tile, gx, gy } = tiled_grid(e, pass, g)?;
    // two buffers of a TILE x 16 tile of A and of B
    let (threads, shared) = (tile * tile / 16, 2 * 2 * 16 * tile * 4);
    ensure!(
        e.gpu.limits.max_compute_invocations_per_workgroup as usize >= threads && e.gpu.limits.max_compute_workgroup_storage_size as usize >= shared,
        "conv2d: the tiled kernels need workgroups of {threads} invocations and {shared} bytes of workgroup memory; this adapter offers {} and {} bytes (--kernels cpu-plain runs the barrier-free kernels)",
        e.gpu.limits.max_compute_invocations_per_workgroup,
        e.gpu.limits.max_compute_workgroup_storage_size
    );
    let mut constants = g.constants(accumulate);
    constants.extend([("ACT", act.code() as f64), ("ACT_SLOPE", act.slope() as f64), ("MODE", mode as f64), ("TILE", tile as f64), ("SPLIT", split as f64)]);
    if let Some((_, slots)) = bn_partials {
        constants.extend([("BN_STATS", 1.0), ("BN_SLOTS", slots as f64)]);
    }
    let parts = bn_partials.map_or_else(|| e.no_bn_partials.as_entire_binding(), |(t, _)| t.binding());
    let (gm, gn, k) = tiled_sizes(pass, g);
    let work = format!("{pass:?}: C {gm} x {gn} in {tile}x{tile} tiles, K = {k}");
    if split == 1 {
        let mut d = e.dispatch_specialised(
            Family::ConvTiled,
            "conv_tiled",
            &constants,
            &[(1, a.binding()), (2, b.binding()), (3, out.binding()), (6, parts)],
            [gx as u32, gy as u32, phases as u32],
        )?;
        d.work = format!("{work} summed inside each workgroup");
        return Ok(vec![d]);
    }
    // split-K: partial products into a scratch buffer made here, when the layer is built, then summed
    let scratch = Tensor::zeros(&e.gpu, &[split, gm, gn], "split-K partials")?;
    let mut d = e.dispatch_specialised(
        Family::ConvTiled,
        "conv_tiled",
        &constants,
        &[(1, a.binding()), (2, b.binding()), (3, scratch.binding()), (6, parts)],
        [gx as u32, gy as u32, phases as u32],
    )?;
    d.work = format!("{work} in {split} chunks of {}", k.div_ceil(split));
    let mut sum = e.dispatch_specialised(
        Family::ConvTiled,
        "conv_split_sum",
        &constants,
        &[(1, scratch.binding()), (2, scratch.binding()), (3, out.binding()), (6, e.no_bn_partials.as_entire_binding())],
        e.grid((gm * gn).div_ceil(64) as u64)?,
    )?;
    sum.work = format!("the sum of {split} partial products, {} values", gm * gn);
    Ok(vec![d, sum])
}

/// C's rows and columns (one phase) and the reduction length K of a pass's product.
fn tiled_sizes(pass: ConvPass, g: &ConvGeom) -> (usize, usize, usize) {
    let s = g.stride;
    match pass {
        ConvPass::Forward => (g.cout, g.n * g.oh() * g.ow(), g.cin * g.kh * g.kw),
        ConvPass::InputGrad => (g.cin, g.n * g.h.div_ceil(s) * g.w.div_ceil(s), g.cout * g.kh.div_ceil(s) * g.kw.div_ceil(s)),
        ConvPass::WeightGrad => (g.cout, g.cin * g.kh * g.kw, g.n * g.oh() * g.ow()),
    }
}
