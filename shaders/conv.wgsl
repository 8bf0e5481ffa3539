// Convolutions as implicit GEMMs, specialised per layer. The geometry of the convolution
// x (BATCH, CI, IH, IW) * w (CO, CI, KH, KW) -> y (BATCH, CO, OH, OW), stride STRIDE, padding PAD,
// arrives as pipeline-override constants, so loops have constant trip counts, divisions are by
// constants and the tap loops unroll. Operands are read where they live: no im2col, col2im or
// packing buffers and passes, one dispatch per pass.
//
// Three entry points cover the six passes of conv2d and conv_transpose2d:
//   conv_fwd    y  = conv(x, w)               conv forward; conv_transpose input-gradient
//   conv_dgrad  dx = conv_transpose(dy, w)    conv input-gradient; conv_transpose forward. Split into
//               its STRIDE x STRIDE phases (grid z): each output gathers its taps, nothing scatters
//   conv_wgrad  dw (+)= sum dy * x            both weight-gradients (operands swapped for convT)
//
// Work per invocation: ROWS = 16 "rows" (output channels; input channels for dgrad) that are the
// same for every invocation of a workgroup (grid y), times a strip of 8 neighbouring pixels of one
// image row (grid x): 32 vec4 accumulators (weight-gradient: 16 rows x 4 taps, strips walked in
// turn).
// Neighbouring pixels share inputs, so a strip loads one row segment per (channel, kernel row) and
// reuses it for every tap.
//
// Why this shape, on a CPU adapter: llvmpipe runs 8 invocations as one SIMD vector but executes
// every storage-buffer load as a loop over the 8 lanes (a branch and a bounds check per lane and
// component), so loads, not multiply-adds, set the speed. A vec4 load costs about as much as two
// scalar ones, so row segments are read as aligned vec4s (SRC_VEC4 / WT_VEC4: the binding's length
// is a multiple of 4) and shifted into place per lane with selects; a strip of 8 pixels halves the
// loads per multiply-add again, and accumulators that spill to the stack are far cheaper than loads.
//
// The rows' values (weights; dy for wgrad) are the same for all lanes. The host compiles this
// file in two variants through the prelude: with subgroups (CPU adapters), lane l of each
// subgroup loads rows l and l + 8 and `share` hands them to the others with register shuffles
// (the subgroup size is at least 8); without, every
// lane loads each row itself (`share` returns the direct load, and the unused one is dropped).
// The prelude defines: share1, share4, any_lane, and LANE8 / SG_LANE_PARAM in the entry points.

override BATCH: u32 = 1u;
override CI: u32 = 1u;
override IH: u32 = 1u;
override IW: u32 = 1u;
override CO: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override STRIDE: u32 = 1u;
override PAD: u32 = 0u;
// Add into the output instead of overwriting it (gradients accumulated over several passes).
override ACCUMULATE: bool = false;
// Activation fused into the output (an ACT_* code; never with ACCUMULATE): a convolution followed
// by an activation without batch norm between them writes the activated values in one pass.
override ACT: u32 = ACT_IDENTITY;
override ACT_SLOPE: f32 = 0.0;
// Bindings 1 / 2 hold a multiple of 4 values, so their vec4 views (5 / 4) cover them and row
// segments are loaded as aligned vec4s; otherwise value by value.
override SRC_VEC4: bool = false;
override WT_VEC4: bool = false;

// Longest row segment a strip reads (7 * STRIDE + KW, or 7 + ceil(KW / STRIDE) for dgrad, or
// 7 * STRIDE + 4 for wgrad); the host refuses geometries that need more.
const SEG: u32 = 32u;
// Rows per invocation (a multiple of 8: lane l of a subgroup loads rows l, l + 8, ...).
const ROWS: u32 = 16u;

@group(0) @binding(1) var<storage, read> src: array<f32>;        // fwd, wgrad: x (BATCH, CI, IH, IW); dgrad: dy (BATCH, CO, OH, OW)
@group(0) @binding(2) var<storage, read> wt: array<f32>;         // fwd, dgrad: w (CO, CI, KH, KW); wgrad: dy (BATCH, CO, OH, OW)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // fwd: y; dgrad: dx (BATCH, CI, IH, IW); wgrad: dw (CO, CI, KH, KW)
@group(0) @binding(4) var<storage, read> wt4: array<vec4<f32>>;  // binding 2 as vec4 (read when WT_VEC4, or fwd with KW % 4 == 0)
@group(0) @binding(5) var<storage, read> src4: array<vec4<f32>>; // binding 1 as vec4 (read when SRC_VEC4)

fn store(i: u32, v: f32) {
    if (ACCUMULATE) {
        dst[i] += v;
    } else {
        dst[i] = act_apply(ACT, ACT_SLOPE, v);
    }
}

// A row segment of up to SEG values, value i in element i / 4, component i % 4 (`at`).
alias Seg = array<vec4<f32>, 8>;

fn at(s: Seg, i: u32) -> f32 {
    return s[i / 4u][i % 4u];
}

// Values 4 to 7 of the concatenation a b shifted left by r (0..3, differing per lane): selects,
// not a per-lane indexed array.
fn shift4(a: vec4<f32>, b: vec4<f32>, r: i32) -> vec4<f32> {
    let s1 = vec4<f32>(a.y, a.z, a.w, b.x);
    let s2 = vec4<f32>(a.z, a.w, b.x, b.y);
    let s3 = vec4<f32>(a.w, b.x, b.y, b.z);
    return select(select(a, s1, r == 1), select(s2, s3, r == 3), r >= 2);
}

// The segment from 9 aligned chunks c starting at the chunk holding value f0, for n values.
// Written out rather than looped: a loop the compiler does not unroll turns every private array
// into per-lane memory, and n is a constant once the function is inlined.
fn shifted(c: array<vec4<f32>, 9>, r: i32, n: u32) -> Seg {
    var s: Seg;
    s[0] = shift4(c[0], c[1], r);
    if (n > 4u) { s[1] = shift4(c[1], c[2], r); }
    if (n > 8u) { s[2] = shift4(c[2], c[3], r); }
    if (n > 12u) { s[3] = shift4(c[3], c[4], r); }
    if (n > 16u) { s[4] = shift4(c[4], c[5], r); }
    if (n > 20u) { s[5] = shift4(c[5], c[6], r); }
    if (n > 24u) { s[6] = shift4(c[6], c[7], r); }
    if (n > 28u) { s[7] = shift4(c[7], c[8], r); }
    return s;
}

// src[f0 + i] for i < n (n <= SEG); indices outside the binding read some value in it (callers
// mask columns outside the row).
fn src_segment(f0: i32, n: u32) -> Seg {
    var c: array<vec4<f32>, 9>;
    if (SRC_VEC4) {
        let last = i32(arrayLength(&src4)) - 1;
        let a0 = f0 >> 2u;
        let chunks = (n + 6u) / 4u;
        c[0] = src4[clamp(a0, 0, last)];
        if (chunks > 1u) { c[1] = src4[clamp(a0 + 1, 0, last)]; }
        if (chunks > 2u) { c[2] = src4[clamp(a0 + 2, 0, last)]; }
        if (chunks > 3u) { c[3] = src4[clamp(a0 + 3, 0, last)]; }
        if (chunks > 4u) { c[4] = src4[clamp(a0 + 4, 0, last)]; }
        if (chunks > 5u) { c[5] = src4[clamp(a0 + 5, 0, last)]; }
        if (chunks > 6u) { c[6] = src4[clamp(a0 + 6, 0, last)]; }
        if (chunks > 7u) { c[7] = src4[clamp(a0 + 7, 0, last)]; }
        if (chunks > 8u) { c[8] = src4[clamp(a0 + 8, 0, last)]; }
        return shifted(c, f0 & 3, n);
    }
    let last = i32(arrayLength(&src)) - 1;
    c[0] = vec4<f32>(src[clamp(f0, 0, last)], src[clamp(f0 + 1, 0, last)], src[clamp(f0 + 2, 0, last)], src[clamp(f0 + 3, 0, last)]);
    if (n > 4u) { c[1] = vec4<f32>(src[clamp(f0 + 4, 0, last)], src[clamp(f0 + 5, 0, last)], src[clamp(f0 + 6, 0, last)], src[clamp(f0 + 7, 0, last)]); }
    if (n > 8u) { c[2] = vec4<f32>(src[clamp(f0 + 8, 0, last)], src[clamp(f0 + 9, 0, last)], src[clamp(f0 + 10, 0, last)], src[clamp(f0 + 11, 0, last)]); }
    if (n > 12u) { c[3] = vec4<f32>(src[clamp(f0 + 12, 0, last)], src[clamp(f0 + 13, 0, last)], src[clamp(f0 + 14, 0, last)], src[clamp(f0 + 15, 0, last)]); }
    if (n > 16u) { c[4] = vec4<f32>(src[clamp(f0 + 16, 0, last)], src[clamp(f0 + 17, 0, last)], src[clamp(f0 + 18, 0, last)], src[clamp(f0 + 19, 0, last)]); }
    if (n > 20u) { c[5] = vec4<f32>(src[clamp(f0 + 20, 0, last)], src[clamp(f0 + 21, 0, last)], src[clamp(f0 + 22, 0, last)], src[clamp(f0 + 23, 0, last)]); }
    if (n > 24u) { c[6] = vec4<f32>(src[clamp(f0 + 24, 0, last)], src[clamp(f0 + 25, 0, last)], src[clamp(f0 + 26, 0, last)], src[clamp(f0 + 27, 0, last)]); }
    if (n > 28u) { c[7] = vec4<f32>(src[clamp(f0 + 28, 0, last)], src[clamp(f0 + 29, 0, last)], src[clamp(f0 + 30, 0, last)], src[clamp(f0 + 31, 0, last)]); }
    return shifted(c, 0, n);
}

// wt[f0 + i] for i < n (n <= 8): the weight-gradient's dy, as src_segment.
fn wt_segment8(f0: i32) -> Seg {
    var c: array<vec4<f32>, 9>;
    if (WT_VEC4) {
        let last = i32(arrayLength(&wt4)) - 1;
        let a0 = f0 >> 2u;
        c[0] = wt4[clamp(a0, 0, last)];
        c[1] = wt4[clamp(a0 + 1, 0, last)];
        c[2] = wt4[clamp(a0 + 2, 0, last)];
        return shifted(c, f0 & 3, 8u);
    }
    let last = i32(arrayLength(&wt)) - 1;
    c[0] = vec4<f32>(wt[clamp(f0, 0, last)], wt[clamp(f0 + 1, 0, last)], wt[clamp(f0 + 2, 0, last)], wt[clamp(f0 + 3, 0, last)]);
    c[1] = vec4<f32>(wt[clamp(f0 + 4, 0, last)], wt[clamp(f0 + 5, 0, last)], wt[clamp(f0 + 6, 0, last)], wt[clamp(f0 + 7, 0, last)]);
    return shifted(c, 0, 8u);
}

// v with the components whose column c0 + 0..3 lies outside [0, width) (all, when !row_ok) zeroed.
fn mask4(v: vec4<f32>, c0: i32, width: u32, row_ok: bool) -> vec4<f32> {
    let c = vec4<i32>(c0) + vec4<i32>(0, 1, 2, 3);
    return select(vec4<f32>(0.0), v, vec4<bool>(row_ok) & (c >= vec4<i32>(0)) & (c < vec4<i32>(i32(width))));
}

// The segment s (n values) of a row starting at column c0, columns outside [0, width) (or all,
// when !row_ok) set to zero.
fn masked_row(s: Seg, n: u32, c0: i32, width: u32, row_ok: bool) -> Seg {
    var m: Seg;
    m[0] = mask4(s[0], c0, width, row_ok);
    if (n > 4u) { m[1] = mask4(s[1], c0 + 4, width, row_ok); }
    if (n > 8u) { m[2] = mask4(s[2], c0 + 8, width, row_ok); }
    if (n > 12u) { m[3] = mask4(s[3], c0 + 12, width, row_ok); }
    if (n > 16u) { m[4] = mask4(s[4], c0 + 16, width, row_ok); }
    if (n > 20u) { m[5] = mask4(s[5], c0 + 20, width, row_ok); }
    if (n > 24u) { m[6] = mask4(s[6], c0 + 24, width, row_ok); }
    if (n > 28u) { m[7] = mask4(s[7], c0 + 28, width, row_ok); }
    return m;
}

// a + v.x x0 + v.y x1 + v.z x2 + v.w x3 as fused multiply-adds (one instruction each where the
// adapter has them, instead of a multiply and an add).
fn mac4(a: vec4<f32>, v: vec4<f32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(v.w), x3, fma(vec4<f32>(v.z), x2, fma(vec4<f32>(v.y), x1, fma(vec4<f32>(v.x), x0, a))));
}

// Stores a strip's ROWS rows x 8 pixels: row r's pixel q at o0 + r * row_stride + q * step, for
// rows row0 + r < rows and pixels q < count.
fn store_strip(lo: array<vec4<f32>, ROWS>, hi: array<vec4<f32>, ROWS>, row0: u32, rows: u32, count: u32, o0: u32, row_stride: u32, step: u32) {
    for (var r = 0u; r < ROWS; r++) {
        if (row0 + r < rows) {
            let o = o0 + r * row_stride;
            for (var q = 0u; q < 4u; q++) {
                if (q < count) { store(o + q * step, lo[r][q]); }
                if (q + 4u < count) { store(o + (q + 4u) * step, hi[r][q]); }
            }
        }
    }
}

// ------------------------------------------------------------------ forward

// Blocks of ROWS rows per invocation of conv_fwd, conv_dgrad_x2 and conv_wgrad_pair (1 or 2): two
// blocks share each loaded input segment, for layers with at least 2 ROWS rows.
override BLOCKS: u32 = 1u;

// The strip's accumulators: row r, pixels 0-3 (lo) or 4-7 (hi).
alias Acc = array<vec4<f32>, ROWS>;
// Offsets of the rows a lane loads for its subgroup: rows LANE8 + 8 j.
alias Mine = array<u32, ROWS / 8u>;

// The rows lane `lane8` loads, as offsets row * stride (rows past `rows` clamped to the last).
fn mine_rows(lane8: u32, row0: u32, rows: u32, stride: u32) -> Mine {
    var m: Mine;
    for (var j = 0u; j < ROWS / 8u; j++) {
        m[j] = min(row0 + 8u * j + lane8, rows - 1u) * stride;
    }
    return m;
}

// x at the 4 pixels of half h (0: pixels 0-3, 1: 4-7) of a strip under tap k: xs[(4h + q) S + k].
fn px4(xs: Seg, k: u32, h: u32) -> vec4<f32> {
    let b = 4u * h * STRIDE + k;
    return vec4<f32>(at(xs, b), at(xs, b + STRIDE), at(xs, b + 2u * STRIDE), at(xs, b + 3u * STRIDE));
}

// Adds taps k..k+3 of one (ci, ky) kernel row, whose weights are vec4 t of each output channel.
fn fwd_quad(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: Seg, k: u32, t: u32, mine: Mine, co0: u32) {
    let x0 = px4(xs, k, 0u); let x1 = px4(xs, k + 1u, 0u); let x2 = px4(xs, k + 2u, 0u); let x3 = px4(xs, k + 3u, 0u);
    let y0 = px4(xs, k, 1u); let y1 = px4(xs, k + 1u, 1u); let y2 = px4(xs, k + 2u, 1u); let y3 = px4(xs, k + 3u, 1u);
    let quads = CI * KH * KW / 4u;
    var m: array<vec4<f32>, ROWS / 8u>;
    for (var j = 0u; j < ROWS / 8u; j++) {
        m[j] = wt4[mine[j] / 4u + t];
    }
    for (var r = 0u; r < ROWS; r++) {
        let v = share4(m[r / 8u], r % 8u, wt4[min(co0 + r, CO - 1u) * quads + t]);
        (*lo)[r] = mac4((*lo)[r], v, x0, x1, x2, x3);
        (*hi)[r] = mac4((*hi)[r], v, y0, y1, y2, y3);
    }
}

// Adds tap kx of one (ci, ky) kernel row, whose weight is value t of each output channel.
fn fwd_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: Seg, kx: u32, t: u32, mine: Mine, co0: u32) {
    let xv = px4(xs, kx, 0u);
    let yv = px4(xs, kx, 1u);
    let taps = CI * KH * KW;
    var m: array<f32, ROWS / 8u>;
    for (var j = 0u; j < ROWS / 8u; j++) {
        m[j] = wt[mine[j] + t];
    }
    for (var r = 0u; r < ROWS; r++) {
        let v = vec4<f32>(share1(m[r / 8u], r % 8u, wt[min(co0 + r, CO - 1u) * taps + t]));
        (*lo)[r] = fma(v, xv, (*lo)[r]);
        (*hi)[r] = fma(v, yv, (*hi)[r]);
    }
}


// Adds one (ci, ky) kernel row (taps tap0..tap0 + KW) for the block of rows at co0. Taps are
// written out for the usual kernel widths (see `shifted` on loops); wider ones loop.
fn fwd_row(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: Seg, tap0: u32, mine: Mine, co0: u32) {
    if (KW % 4u == 0u) {
        fwd_quad(lo, hi, xs, 0u, tap0 / 4u, mine, co0);
        for (var kq = 1u; kq < KW / 4u; kq++) {
            fwd_quad(lo, hi, xs, 4u * kq, tap0 / 4u + kq, mine, co0);
        }
    } else {
        fwd_tap(lo, hi, xs, 0u, tap0, mine, co0);
        if (KW > 1u) { fwd_tap(lo, hi, xs, 1u, tap0 + 1u, mine, co0); }
        if (KW > 2u) { fwd_tap(lo, hi, xs, 2u, tap0 + 2u, mine, co0); }
        for (var kx = 3u; kx < KW; kx++) {
            fwd_tap(lo, hi, xs, kx, tap0 + kx, mine, co0);
        }
    }
}

// y[n, co, oy, ox] = sum over ci, ky, kx of x[n, ci, oy*S - P + ky, ox*S - P + kx] w[co, ci, ky, kx].
// Grid: x over (n, oy, strip of 8 ox), y over groups of BLOCKS x ROWS output channels.
@compute @workgroup_size(WG)
fn conv_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let strips = (OW + 7u) / 8u;
    let lanes = BATCH * OH * strips;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let row = l / strips;
    let ox0 = (l % strips) * 8u;
    let n = row / OH;
    let oy = row % OH;
    let co0 = wid.y * ROWS * BLOCKS;
    let taps = CI * KH * KW;
    let mine = mine_rows(LANE8, co0, CO, taps);
    let mine2 = mine_rows(LANE8, co0 + ROWS, CO, taps);
    let ix0 = i32(ox0 * STRIDE) - i32(PAD);
    let seg = 7u * STRIDE + KW;
    // lo: pixels 0-3 of the strip, hi: pixels 4-7; lo2, hi2: the second block of rows
    var lo: Acc;
    var hi: Acc;
    var lo2: Acc;
    var hi2: Acc;
    for (var ci = 0u; ci < CI; ci++) {
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let row_ok = iy >= 0 && iy < i32(IH);
            let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
            let xs = masked_row(src_segment(base + ix0, seg), seg, ix0, IW, row_ok);
            let tap0 = (ci * KH + ky) * KW;
            fwd_row(&lo, &hi, xs, tap0, mine, co0);
            if (BLOCKS > 1u) { fwd_row(&lo2, &hi2, xs, tap0, mine2, co0 + ROWS); }
        }
    }
    if (!valid) { return; }
    let o = ((n * CO + co0) * OH + oy) * OW + ox0;
    store_strip(lo, hi, co0, CO, OW - ox0, o, OH * OW, 1u);
    if (BLOCKS > 1u) { store_strip(lo2, hi2, co0 + ROWS, CO, OW - ox0, o + ROWS * OH * OW, OH * OW, 1u); }
}

// ------------------------------------------------------------------ input gradient

// Adds tap kx = kx0 + S u of kernel row t_row (= co's weights + ky KW) to a phase strip: output
// b0 + q reads dy at ds index q + tx - 1 - u.
fn dgrad_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, ds: Seg, u: u32, t_row: u32, kx0: u32, mine: Mine, ci0: u32) {
    let tx = (KW + STRIDE - 1u) / STRIDE;
    let kx = kx0 + STRIDE * u;
    let j = tx - 1u - u;
    let ok = kx < KW;
    let dv = select(vec4<f32>(0.0), vec4<f32>(at(ds, j), at(ds, j + 1u), at(ds, j + 2u), at(ds, j + 3u)), ok);
    let ev = select(vec4<f32>(0.0), vec4<f32>(at(ds, j + 4u), at(ds, j + 5u), at(ds, j + 6u), at(ds, j + 7u)), ok);
    let t_off = t_row + min(kx, KW - 1u);
    var m: array<f32, ROWS / 8u>;
    for (var j = 0u; j < ROWS / 8u; j++) {
        m[j] = wt[mine[j] + t_off];
    }
    for (var r = 0u; r < ROWS; r++) {
        let v = vec4<f32>(share1(m[r / 8u], r % 8u, wt[min(ci0 + r, CI - 1u) * KH * KW + t_off]));
        (*lo)[r] = fma(v, dv, (*lo)[r]);
        (*hi)[r] = fma(v, ev, (*hi)[r]);
    }
}


// dx[n, ci, iy, ix] = sum over co and the taps (ky, kx) with iy + P - ky and ix + P - kx
// divisible by S of dy[n, co, (iy + P - ky) / S, (ix + P - kx) / S] w[co, ci, ky, kx].
// Phase (py, px) = (iy % S, ix % S) = grid z fixes which taps reach an output: ky = ky0 + S t.
// Grid: x over (n, a, strip of 8 b) with iy = a S + py, ix = b S + px; y over blocks of ROWS ci.
@compute @workgroup_size(WG)
fn conv_dgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let py = wid.z / STRIDE;
    let px = wid.z % STRIDE;
    let ah = (IH + STRIDE - 1u) / STRIDE;    // phase rows (the last may not exist for py > 0)
    let aw = (IW + STRIDE - 1u) / STRIDE;
    let strips = (aw + 7u) / 8u;
    let lanes = BATCH * ah * strips;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let row = l / strips;
    let b0 = (l % strips) * 8u;
    let n = row / ah;
    let a = row % ah;
    let ci0 = wid.y * ROWS;
    // taps of this phase: ky = ky0 + S t for t < TY (constant bound; taps past KH are masked)
    let ky0 = (py + PAD) % STRIDE;
    let kx0 = (px + PAD) % STRIDE;
    let cy = i32((py + PAD - ky0) / STRIDE);
    let cx = i32((px + PAD - kx0) / STRIDE);
    let ty = (KH + STRIDE - 1u) / STRIDE;
    let tx = (KW + STRIDE - 1u) / STRIDE;
    let tap_stride = KH * KW;
    let mine = mine_rows(LANE8, ci0, CI, tap_stride);
    // dy[.., ox] for ox = b0 + cx - (tx - 1) + i
    let ox0 = i32(b0) + cx - i32(tx) + 1;
    let seg = 7u + tx;
    var lo: Acc;
    var hi: Acc;
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * tap_stride;
        for (var t = 0u; t < ty; t++) {
            let ky = ky0 + STRIDE * t;
            let oy = i32(a) + cy - i32(t);
            let row_ok = ky < KH && oy >= 0 && oy < i32(OH);
            let base = i32(((n * CO + co) * OH + u32(clamp(oy, 0, i32(OH) - 1))) * OW);
            let ds = masked_row(src_segment(base + ox0, seg), seg, ox0, OW, row_ok);
            let t_row = wco + min(ky, KH - 1u) * KW;
            dgrad_tap(&lo, &hi, ds, 0u, t_row, kx0, mine, ci0);
            if (tx > 1u) { dgrad_tap(&lo, &hi, ds, 1u, t_row, kx0, mine, ci0); }
            if (tx > 2u) { dgrad_tap(&lo, &hi, ds, 2u, t_row, kx0, mine, ci0); }
            for (var u = 3u; u < tx; u++) {
                dgrad_tap(&lo, &hi, ds, u, t_row, kx0, mine, ci0);
            }
        }
    }
    let iy = a * STRIDE + py;
    if (!valid || iy >= IH) { return; }
    // output b0 + q sits at ix = (b0 + q) S + px; pixels past the row's end are not stored
    let count = select(0u, (IW - px + STRIDE - 1u) / STRIDE - b0, px < IW && b0 * STRIDE + px < IW);
    store_strip(lo, hi, ci0, CI, count, ((n * CI + ci0) * IH + iy) * IW + b0 * STRIDE + px, IH * IW, STRIDE);
}

// The input gradient of a stride-2 convolution with 4 taps per kernel row (DCGAN's layers; a
// 4x4 stride-2 transposed convolution's forward pass), both column phases in one invocation:
// outputs ix = 2 (b0 + q) + px for px = 0, 1 read overlapping dy segments (10 values instead of
// 2 x 9) and both phases' taps come from one vec4 kernel row: about half the loads per
// multiply-add of conv_dgrad. Grid: x over (n, a, strip of 8 b), y over blocks of ROWS ci, z
// over the row phase py.
fn dgrad_x2_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, ds: Seg, j: u32, m: array<vec4<f32>, ROWS / 8u>, kx: u32, t_row: u32, ci0: u32) {
    let dv = vec4<f32>(at(ds, j), at(ds, j + 1u), at(ds, j + 2u), at(ds, j + 3u));
    let ev = vec4<f32>(at(ds, j + 4u), at(ds, j + 5u), at(ds, j + 6u), at(ds, j + 7u));
    for (var r = 0u; r < ROWS; r++) {
        let v = vec4<f32>(share1(m[r / 8u][kx], r % 8u, wt[min(ci0 + r, CI - 1u) * KH * KW + t_row + kx]));
        (*lo)[r] = fma(v, dv, (*lo)[r]);
        (*hi)[r] = fma(v, ev, (*hi)[r]);
    }
}

@compute @workgroup_size(WG)
fn conv_dgrad_x2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let py = wid.z;
    let ah = (IH + 1u) / 2u;
    let aw = (IW + 1u) / 2u;
    let strips = (aw + 7u) / 8u;
    let lanes = BATCH * ah * strips;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let row = l / strips;
    let b0 = (l % strips) * 8u;
    let n = row / ah;
    let a = row % ah;
    let ci0 = wid.y * ROWS * BLOCKS;
    let ky0 = (py + PAD) % 2u;
    let cy = i32((py + PAD - ky0) / 2u);
    // column phase px: first tap kx0(px) = (px + P) % 2, offset cx(px) = (px + P - kx0) / 2;
    // output b0 + q of phase px, tap u reads dy column b0 + q + cx(px) - u
    let kx00 = PAD % 2u;
    let kx01 = (1u + PAD) % 2u;
    let cx0 = (PAD - kx00) / 2u;
    let cx1 = (1u + PAD - kx01) / 2u;
    let c_lo = min(cx0, cx1);
    let ox0 = i32(b0) + i32(c_lo) - 1;
    let mine = mine_rows(LANE8, ci0, CI, KH * KW);
    let mine2 = mine_rows(LANE8, ci0 + ROWS, CI, KH * KW);
    var lo0: Acc; var hi0: Acc;   // phase px = 0
    var lo1: Acc; var hi1: Acc;   // phase px = 1
    var lo2: Acc; var hi2: Acc;   // the second block of rows, px = 0
    var lo3: Acc; var hi3: Acc;   // and px = 1
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * KH * KW;
        for (var t = 0u; t < (KH + 1u) / 2u; t++) {
            let ky = ky0 + 2u * t;
            let oy = i32(a) + cy - i32(t);
            let row_ok = ky < KH && oy >= 0 && oy < i32(OH);
            let base = i32(((n * CO + co) * OH + u32(clamp(oy, 0, i32(OH) - 1))) * OW);
            let ds = masked_row(src_segment(base + ox0, 10u), 10u, ox0, OW, row_ok);
            let t_row = wco + min(ky, KH - 1u) * KW;
            var m: array<vec4<f32>, ROWS / 8u>;
            for (var i = 0u; i < ROWS / 8u; i++) {
                m[i] = wt4[(mine[i] + t_row) / 4u];
            }
            // ds index of output q = 0 for phase px, tap u: cx(px) - u - c_lo + 1
            dgrad_x2_tap(&lo0, &hi0, ds, cx0 - c_lo + 1u, m, kx00, t_row, ci0);
            dgrad_x2_tap(&lo0, &hi0, ds, cx0 - c_lo, m, kx00 + 2u, t_row, ci0);
            dgrad_x2_tap(&lo1, &hi1, ds, cx1 - c_lo + 1u, m, kx01, t_row, ci0);
            dgrad_x2_tap(&lo1, &hi1, ds, cx1 - c_lo, m, kx01 + 2u, t_row, ci0);
            if (BLOCKS > 1u) {
                for (var i = 0u; i < ROWS / 8u; i++) {
                    m[i] = wt4[(mine2[i] + t_row) / 4u];
                }
                dgrad_x2_tap(&lo2, &hi2, ds, cx0 - c_lo + 1u, m, kx00, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo2, &hi2, ds, cx0 - c_lo, m, kx00 + 2u, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo3, &hi3, ds, cx1 - c_lo + 1u, m, kx01, t_row, ci0 + ROWS);
                dgrad_x2_tap(&lo3, &hi3, ds, cx1 - c_lo, m, kx01 + 2u, t_row, ci0 + ROWS);
            }
        }
    }
    let iy = a * 2u + py;
    if (!valid || iy >= IH) { return; }
    let o = ((n * CI + ci0) * IH + iy) * IW + b0 * 2u;
    let count0 = select(0u, (IW + 1u) / 2u - b0, 2u * b0 < IW);
    let count1 = select(0u, IW / 2u - b0, 2u * b0 + 1u < IW);
    store_strip(lo0, hi0, ci0, CI, count0, o, IH * IW, 2u);
    store_strip(lo1, hi1, ci0, CI, count1, o + 1u, IH * IW, 2u);
    if (BLOCKS > 1u) {
        let o2 = o + ROWS * IH * IW;
        store_strip(lo2, hi2, ci0 + ROWS, CI, count0, o2, IH * IW, 2u);
        store_strip(lo3, hi3, ci0 + ROWS, CI, count1, o2 + 1u, IH * IW, 2u);
    }
}

// ------------------------------------------------------------------ weight gradient

// dw[co, ci, ky, kx] (+)= sum over n, oy, ox of dy[n, co, oy, ox] x[n, ci, oy*S - P + ky, ox*S - P + kx].

// The loaded channels' dy at the 8 pixels of a strip from flat index p (zero past the row's end):
// lo (pixels 0-3) and hi (4-7) of rows LANE8 + 8 j.
struct DyStrip {
    lo: array<vec4<f32>, ROWS / 8u>,
    hi: array<vec4<f32>, ROWS / 8u>,
}

fn dy_strip(mine: Mine, p: u32, ox0: u32) -> DyStrip {
    var d: DyStrip;
    for (var j = 0u; j < ROWS / 8u; j++) {
        let s = masked_row(wt_segment8(i32(mine[j] + p)), 8u, i32(ox0), OW, true);
        d.lo[j] = s[0];
        d.hi[j] = s[1];
    }
    return d;
}

// x of image n, channel ci, row iy under taps 4kq..4kq+3 at the 8 pixels of the strip at ox0.
fn x_strip(n: u32, ci: u32, iy: i32, ox0: u32, kq: u32) -> Seg {
    let row_ok = iy >= 0 && iy < i32(IH);
    let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
    let ix0 = i32(ox0 * STRIDE + kq * 4u) - i32(PAD);
    let seg = 7u * STRIDE + 4u;
    return masked_row(src_segment(base + ix0, seg), seg, ix0, IW, row_ok);
}

// acc[r][e] += sum over the strip's pixels q of dy[row r, q] x[q S + e] (taps 4kq + e).
fn wgrad_add(acc: ptr<function, Acc>, d: DyStrip, xs: Seg, co0: u32, p: u32, ox0: u32) {
    let x0 = px4(xs, 0u, 0u); let x1 = px4(xs, 1u, 0u); let x2 = px4(xs, 2u, 0u); let x3 = px4(xs, 3u, 0u);
    let y0 = px4(xs, 0u, 1u); let y1 = px4(xs, 1u, 1u); let y2 = px4(xs, 2u, 1u); let y3 = px4(xs, 3u, 1u);
    for (var r = 0u; r < ROWS; r++) {
        let i = min(co0 + r, CO - 1u) * OH * OW + p;
        let g = share4(d.lo[r / 8u], r % 8u, dy4(i, ox0));
        let e = share4(d.hi[r / 8u], r % 8u, dy4(i + 4u, ox0 + 4u));
        (*acc)[r] += vec4<f32>(dot(g, x0) + dot(e, y0), dot(g, x1) + dot(e, y1), dot(g, x2) + dot(e, y2), dot(g, x3) + dot(e, y3));
    }
}

// Writes (or adds) acc[r][e] to dw[co0 + r, ci, ky, 4kq + e].
fn wgrad_store(acc: Acc, co0: u32, ci: u32, ky: u32, kq: u32) {
    for (var r = 0u; r < ROWS; r++) {
        let co = co0 + r;
        if (co < CO) {
            let o = ((co * CI + ci) * KH + ky) * KW;
            for (var e = 0u; e < 4u; e++) {
                let kx = kq * 4u + e;
                if (kx < KW) { store(o + kx, acc[r][e]); }
            }
        }
    }
}

// Grid: x over (ci, ky, quad of 4 kx), y over blocks of ROWS output channels; each invocation walks
// every output pixel in strips of 8 along ox.
@compute @workgroup_size(WG)
fn conv_wgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let quads = (KW + 3u) / 4u;
    let lanes = CI * KH * quads;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let kq = l % quads;
    let ky = (l / quads) % KH;
    let ci = l / (quads * KH);
    let co0 = wid.y * ROWS;
    let mine = mine_rows(LANE8, co0, CO, OH * OW);
    var acc: Acc;
    for (var n = 0u; n < BATCH; n++) {
        for (var oy = 0u; oy < OH; oy++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            for (var ox0 = 0u; ox0 < OW; ox0 += 8u) {
                let p = (n * CO * OH + oy) * OW + ox0;
                wgrad_add(&acc, dy_strip(mine, p, ox0), x_strip(n, ci, iy, ox0, kq), co0, p, ox0);
            }
        }
    }
    if (!valid) { return; }
    wgrad_store(acc, co0, ci, ky, kq);
}

// The same for KH = 2 S (DCGAN's 4x4 stride-2 layers): an invocation takes the kernel rows ky and
// ky + S. Tap ky + S of output row oy reads the x row that tap ky of row oy + 1 reads, so walking
// oy (strip by strip) it loads each x row once for both, and each dy strip serves both: half the
// loads per multiply-add. Grid: x over (ci, ky < S, quad of 4 kx).
@compute @workgroup_size(WG)
fn conv_wgrad_pair(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let quads = (KW + 3u) / 4u;
    let lanes = CI * STRIDE * quads;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let kq = l % quads;
    let ky = (l / quads) % STRIDE;
    let ci = l / (quads * STRIDE);
    let co0 = wid.y * ROWS * BLOCKS;
    let mine = mine_rows(LANE8, co0, CO, OH * OW);
    let mine2 = mine_rows(LANE8, co0 + ROWS, CO, OH * OW);
    var near: Acc;   // tap ky
    var far: Acc;    // tap ky + S
    var near2: Acc;  // the second block of rows
    var far2: Acc;
    for (var n = 0u; n < BATCH; n++) {
        for (var ox0 = 0u; ox0 < OW; ox0 += 8u) {
            var prev = x_strip(n, ci, i32(ky) - i32(PAD), ox0, kq);
            for (var oy = 0u; oy < OH; oy++) {
                let next = x_strip(n, ci, i32((oy + 1u) * STRIDE + ky) - i32(PAD), ox0, kq);
                let p = (n * CO * OH + oy) * OW + ox0;
                let d = dy_strip(mine, p, ox0);
                wgrad_add(&near, d, prev, co0, p, ox0);
                wgrad_add(&far, d, next, co0, p, ox0);
                if (BLOCKS > 1u) {
                    let d2 = dy_strip(mine2, p, ox0);
                    wgrad_add(&near2, d2, prev, co0 + ROWS, p, ox0);
                    wgrad_add(&far2, d2, next, co0 + ROWS, p, ox0);
                }
                prev = next;
            }
        }
    }
    if (!valid) { return; }
    wgrad_store(near, co0, ci, ky, kq);
    wgrad_store(far, co0, ci, ky + STRIDE, kq);
    if (BLOCKS > 1u) {
        wgrad_store(near2, co0 + ROWS, ci, ky, kq);
        wgrad_store(far2, co0 + ROWS, ci, ky + STRIDE, kq);
    }
}

// dy of one channel at 4 pixels of a row from flat index i (zero past the row's end): the direct
// load of the variant without subgroups.
fn dy4(i: u32, ox0: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        if (ox0 + q < OW) { v[q] = wt[i + q]; }
    }
    return v;
}

// ------------------------------------------------------------------ one output position

// A convolution whose single output position covers its whole input (PAD 0, kernel = input size:
// D's last layer, and G's first as a transposed convolution) is a dense product. Its input
// gradient and weight gradient are both C[i, j] (+)= sum over t of A(i, t) B[t, j], with B
// row-major (j contiguous, read as vec4) and A read with strides DENSE_AI and DENSE_AT:
//   input gradient   dx[n, k]  = sum_co dy[n, co] w[co, k]    A = dy (i = n, t = co), B = w
//   weight gradient  dw[co, k] = sum_n  dy[n, co] x[n, k]     A = dy (i = co, t = n), B = x
// (the forward pass is gemm_nt: y[n, co] = sum_k x[n, k] w[co, k]). Grid: x over quads of 4 j,
// y over blocks of 8 i.
override DENSE_I: u32 = 1u;
override DENSE_J: u32 = 4u;
override DENSE_T: u32 = 1u;
override DENSE_AI: u32 = 1u;
override DENSE_AT: u32 = 1u;

@compute @workgroup_size(WG)
fn conv_dense(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let quads = DENSE_J / 4u;
    let lane = wid.x * WG + lid;
    let valid = lane < quads;
    if (!any_lane(valid)) { return; }
    let jq = min(lane, quads - 1u);
    let i0 = wid.y * 8u;
    let mine = min(i0 + LANE8, DENSE_I - 1u) * DENSE_AI;
    let r0 = min(i0, DENSE_I - 1u) * DENSE_AI;      let r1 = min(i0 + 1u, DENSE_I - 1u) * DENSE_AI;
    let r2 = min(i0 + 2u, DENSE_I - 1u) * DENSE_AI; let r3 = min(i0 + 3u, DENSE_I - 1u) * DENSE_AI;
    let r4 = min(i0 + 4u, DENSE_I - 1u) * DENSE_AI; let r5 = min(i0 + 5u, DENSE_I - 1u) * DENSE_AI;
    let r6 = min(i0 + 6u, DENSE_I - 1u) * DENSE_AI; let r7 = min(i0 + 7u, DENSE_I - 1u) * DENSE_AI;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var t = 0u; t < DENSE_T; t++) {
        let b = wt4[t * quads + jq];
        let at = t * DENSE_AT;
        let m = src[mine + at];
        a0 += share1(m, 0u, src[r0 + at]) * b;
        a1 += share1(m, 1u, src[r1 + at]) * b;
        a2 += share1(m, 2u, src[r2 + at]) * b;
        a3 += share1(m, 3u, src[r3 + at]) * b;
        a4 += share1(m, 4u, src[r4 + at]) * b;
        a5 += share1(m, 5u, src[r5 + at]) * b;
        a6 += share1(m, 6u, src[r6 + at]) * b;
        a7 += share1(m, 7u, src[r7 + at]) * b;
    }
    if (!valid) { return; }
    let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    for (var r = 0u; r < 8u; r++) {
        let i = i0 + r;
        if (i < DENSE_I) {
            let o = i * DENSE_J + jq * 4u;
            store(o, acc[r].x); store(o + 1u, acc[r].y); store(o + 2u, acc[r].z); store(o + 3u, acc[r].w);
        }
    }
}
