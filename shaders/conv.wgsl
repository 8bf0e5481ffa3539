// Convolutions as implicit GEMMs, specialised per layer. The geometry of the convolution
// x (BATCH, CI, IH, IW) * w (CO, CI, KH, KW) -> y (BATCH, CO, OH, OW), stride STRIDE, padding PAD,
// arrives as pipeline-override constants, so loops have constant trip counts, divisions are by
// constants and the tap loops unroll. Operands are read where they live: no im2col, col2im or
// packing buffers and passes, one dispatch per pass.
//
// Entry points (the backward ones in conv_backward.wgsl, compiled after this file) cover the six
// passes of conv2d and conv_transpose2d:
//   conv_fwd     y  = conv(x, w)              conv forward; conv_transpose input-gradient
//   conv_dgrad   dx = conv_transpose(dy, w)   conv input-gradient; conv_transpose forward. Split into
//                its STRIDE x STRIDE phases (grid z): each output gathers its taps, nothing scatters
//   conv_dgrad_x2  the same for stride 2 and 4-tap rows, both column phases per invocation
//   conv_wgrad   dw (+)= sum dy * x           both weight-gradients (operands swapped for convT)
//   conv_wgrad_pair  the same for KH = 2 STRIDE, kernel rows ky and ky + STRIDE per invocation
//   conv_dense   one output position covering the whole input (below)
//
// Work per invocation: ROWS = 16 "rows" (output channels; input channels for dgrad) that are the
// same for every invocation of a workgroup (grid y), times a strip of 8 neighbouring pixels of one
// image row (grid x): 32 vec4 accumulators (weight-gradient: 16 rows x 4 taps, strips walked in
// turn); some entry points take two blocks of rows (BLOCKS). Neighbouring pixels share inputs, so
// a strip loads one row segment per (channel, kernel row) and reuses it for every tap.
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
// (the subgroup size is at least 8); without, every lane loads each row itself (`share` returns
// the direct load, and the unused one is dropped).
// The prelude defines: share1, share4, any_lane, and LANE8 / SG_LANE_PARAM in the entry points.

// The geometry (BATCH, CI, ..., ACCUMULATE, ACT) comes from conv_geometry.wgsl, compiled before this file.

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

// Row iy of the h x w plane of src whose first row is `plane` (= (n C + c) h): n values from
// column ix0, zero outside the plane (all of them for a row outside it).
fn plane_row(plane: u32, h: u32, w: u32, iy: i32, ix0: i32, n: u32) -> Seg {
    let base = i32((plane + u32(clamp(iy, 0, i32(h) - 1))) * w);
    return masked_row(src_segment(base + ix0, n), n, ix0, w, iy >= 0 && iy < i32(h));
}

// a + v.x x0 + v.y x1 + v.z x2 + v.w x3 as fused multiply-adds (one instruction each where the
// adapter has them, instead of a multiply and an add).
fn mac4(a: vec4<f32>, v: vec4<f32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(v.w), x3, fma(vec4<f32>(v.z), x2, fma(vec4<f32>(v.y), x1, fma(vec4<f32>(v.x), x0, a))));
}

// Stores a strip's ROWS rows x 8 pixels: row r's pixel q at o0 + r * row_stride + q * step, for
// rows row0 + r < rows and pixels q < count.
fn store_strip(lo: Acc, hi: Acc, row0: u32, rows: u32, count: u32, o0: u32, row_stride: u32, step: u32) {
    store_halves(lo, hi, row0, rows, min(count, 4u), select(0u, count - 4u, count > 4u), o0, o0 + 4u * step, row_stride, step);
}

// The same with the two halves placed apart: row r's pixel q < n_lo of lo at o_lo + r * row_stride
// + q * step, of hi (q < n_hi) at o_hi + r * row_stride + q * step.
fn store_halves(lo: Acc, hi: Acc, row0: u32, rows: u32, n_lo: u32, n_hi: u32, o_lo: u32, o_hi: u32, row_stride: u32, step: u32) {
    for (var r = 0u; r < ROWS; r++) {
        if (row0 + r < rows) {
            for (var q = 0u; q < 4u; q++) {
                if (q < n_lo) { store(o_lo + r * row_stride + q * step, lo[r][q]); }
                if (q < n_hi) { store(o_hi + r * row_stride + q * step, hi[r][q]); }
            }
        }
    }
}

// ------------------------------------------------------------------ batch-norm partial sums

// With BN_STATS (conv_geometry.wgsl), conv_fwd and conv_dgrad_x2 (the passes whose output feeds
// batch norm in DCGAN's layers) summarise each group of 8 neighbouring invocations' stored values
// per output channel. The 8 lanes of a group merge through register shuffles (lane_xor; subgroup
// variant only, and subgroups hold consecutive invocations), not workgroup memory: a barrier would
// turn the whole kernel into coroutines on a CPU adapter. Lanes that store nothing summarise
// nothing (count 0). Strips (invocations that store) per grid z: BN_LANES; records per channel:
// BN_SLOTS = z x ceil(BN_LANES / 8).
override BN_LANES: u32 = 1u;

// A strip's statistics per row: every row holds the same pixels, so one count serves them all.
alias RowVals = array<f32, ROWS>;
struct StripStats { n: f32, mean: RowVals, m2: RowVals };

// The values a store_halves call with counts n_lo, n_hi stores: masks of lo and hi, and how many.
struct Kept { lo: vec4<bool>, hi: vec4<bool>, n: u32 };

fn kept(n_lo: u32, n_hi: u32) -> Kept {
    let q = vec4<u32>(0u, 1u, 2u, 3u);
    return Kept(q < vec4<u32>(n_lo), q < vec4<u32>(n_hi), min(n_lo, 4u) + min(n_hi, 4u));
}

// Adds the kept values of lo and hi to each row's sum.
fn add_sums(s: ptr<function, RowVals>, lo: Acc, hi: Acc, k: Kept) {
    for (var r = 0u; r < ROWS; r++) {
        (*s)[r] += dot(select(vec4<f32>(0.0), lo[r], k.lo) + select(vec4<f32>(0.0), hi[r], k.hi), vec4<f32>(1.0));
    }
}

// Adds the kept values' squared deviations from each row's mean to its M2.
fn add_m2(s: ptr<function, StripStats>, lo: Acc, hi: Acc, k: Kept) {
    for (var r = 0u; r < ROWS; r++) {
        let a = select(vec4<f32>(0.0), lo[r] - (*s).mean[r], k.lo);
        let b = select(vec4<f32>(0.0), hi[r] - (*s).mean[r], k.hi);
        (*s).m2[r] += dot(a, a) + dot(b, b);
    }
}

// Merges the statistics of each group of 8 lanes (Chan et al.: mean += d nb / n, M2 += M2b +
// d^2 na nb / n, with the counts the same for every row); the group's first lane writes them as
// partial z ceil(BN_LANES / 8) + lane / 8 of rows row0 + r < rows. `lane` is the invocation's
// strip index (grid x); groups past the last strip write nothing.
fn write_bn_partials(st: StripStats, row0: u32, rows: u32, lane: u32, lane8: u32, z: u32) {
    var s = st;
    for (var mask = 1u; mask < 8u; mask *= 2u) {
        let nb = lane_xor(s.n, mask);
        let n = s.n + nb;
        let f = select(0.0, nb / n, n > 0.0);
        for (var r = 0u; r < ROWS; r++) {
            let d = lane_xor(s.mean[r], mask) - s.mean[r];
            s.m2[r] += lane_xor(s.m2[r], mask) + d * d * s.n * f;
            s.mean[r] += d * f;
        }
        s.n = n;
    }
    let slot = z * ((BN_LANES + 7u) / 8u) + lane / 8u;
    if (lane8 == 0u && lane < BN_LANES) {
        for (var r = 0u; r < ROWS; r++) {
            if (row0 + r < rows) { bn_parts[(row0 + r) * BN_SLOTS + slot] = vec4<f32>(s.n, s.mean[r], s.m2[r], 0.0); }
        }
    }
}

// The statistics of a strip stored as halves (lo, hi) kept by k.
fn strip_stats(lo: Acc, hi: Acc, k: Kept) -> StripStats {
    return strip_stats2(lo, hi, k, lo, hi, kept(0u, 0u));
}

// The statistics of two column phases stored as (lo0, hi0) kept by k0 and (lo1, hi1) kept by k1.
fn strip_stats2(lo0: Acc, hi0: Acc, k0: Kept, lo1: Acc, hi1: Acc, k1: Kept) -> StripStats {
    var s: StripStats;
    s.n = f32(k0.n + k1.n);
    // (a pointer to a member as argument trips naga's SPIR-V writer: sums in their own variable)
    var sum: RowVals;
    add_sums(&sum, lo0, hi0, k0);
    add_sums(&sum, lo1, hi1, k1);
    let inv = 1.0 / max(s.n, 1.0);
    for (var r = 0u; r < ROWS; r++) { s.mean[r] = sum[r] * inv; }
    add_m2(&s, lo0, hi0, k0);
    add_m2(&s, lo1, hi1, k1);
    return s;
}

// The strip of 8 pixels an invocation computes, over BATCH images of `h` rows of `w` pixels:
// image n, row, first pixel x0; with `pairs` (rows of 4 pixels), rows `row` and `row` + 1. Lanes
// past the last strip take the last one and store nothing (`valid` false); they still run, as
// their subgroup shares loads with them.
struct Strip {
    n: u32,
    row: u32,
    x0: u32,
    valid: bool,
}

fn strip_of(lane: u32, h: u32, w: u32, pairs: bool) -> Strip {
    if (pairs) {
        let hp = (h + 1u) / 2u;
        let l = min(lane, BATCH * hp - 1u);
        return Strip(l / hp, 2u * (l % hp), 0u, lane < BATCH * hp);
    }
    let strips = (w + 7u) / 8u;
    let lanes = BATCH * h * strips;
    let l = min(lane, lanes - 1u);
    let r = l / strips;
    return Strip(r / h, r % h, (l % strips) * 8u, lane < lanes);
}

// ------------------------------------------------------------------ forward

// Blocks of ROWS rows per invocation of conv_fwd, conv_dgrad_x2 (1 or 2) and conv_wgrad_pair (1,
// 2 or 4): the blocks share each loaded input segment, for layers with at least BLOCKS x ROWS rows.
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

// The x segments of a strip for one (ci, ky): pixels 0-3 read `lo` at half 0, pixels 4-7 read
// `hi` at half `hb` (the same segment at half 1, or, for a strip of two 4-pixel rows, the next
// row's segment at half 0).
struct XRows { lo: Seg, hi: Seg, hb: u32 };

// Adds taps k..k+3 of one (ci, ky) kernel row, whose weights are vec4 t of each output channel.
fn fwd_quad(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: XRows, k: u32, t: u32, mine: Mine, co0: u32) {
    let x0 = px4(xs.lo, k, 0u); let x1 = px4(xs.lo, k + 1u, 0u); let x2 = px4(xs.lo, k + 2u, 0u); let x3 = px4(xs.lo, k + 3u, 0u);
    let y0 = px4(xs.hi, k, xs.hb); let y1 = px4(xs.hi, k + 1u, xs.hb); let y2 = px4(xs.hi, k + 2u, xs.hb); let y3 = px4(xs.hi, k + 3u, xs.hb);
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
fn fwd_tap(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: XRows, kx: u32, t: u32, mine: Mine, co0: u32) {
    let xv = px4(xs.lo, kx, 0u);
    let yv = px4(xs.hi, kx, xs.hb);
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
fn fwd_row(lo: ptr<function, Acc>, hi: ptr<function, Acc>, xs: XRows, tap0: u32, mine: Mine, co0: u32) {
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
// Grid: x over (n, oy, strip of 8 ox), y over groups of BLOCKS x ROWS output channels. Rows of 4
// outputs (dcgan64's 8 -> 4 layers) would leave half of every strip idle: there a strip is rows oy
// and oy + 1, 8 consecutive outputs.
@compute @workgroup_size(WG)
fn conv_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let pairs = OW == 4u;
    let lane = wid.x * WG + lid;
    let st = strip_of(lane, OH, OW, pairs);
    let valid = st.valid;
    if (!any_lane(valid)) { return; }
    let n = st.n;
    let oy = st.row;
    let ox0 = st.x0;
    let co0 = wid.y * ROWS * BLOCKS;
    let taps = CI * KH * KW;
    let mine = mine_rows(LANE8, co0, CO, taps);
    let mine2 = mine_rows(LANE8, co0 + ROWS, CO, taps);
    let ix0 = i32(ox0 * STRIDE) - i32(PAD);
    let seg = select(7u * STRIDE + KW, 3u * STRIDE + KW, pairs);
    // lo: pixels 0-3 of the strip, hi: pixels 4-7; lo2, hi2: the second block of rows
    var lo: Acc;
    var hi: Acc;
    var lo2: Acc;
    var hi2: Acc;
    for (var ci = 0u; ci < CI; ci++) {
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let plane = (n * CI + ci) * IH;
            let x_lo = plane_row(plane, IH, IW, iy, ix0, seg);
            var xs = XRows(x_lo, x_lo, 1u);
            if (pairs) { xs = XRows(x_lo, plane_row(plane, IH, IW, iy + i32(STRIDE), ix0, seg), 0u); }
            let tap0 = (ci * KH + ky) * KW;
            fwd_row(&lo, &hi, xs, tap0, mine, co0);
            if (BLOCKS > 1u) { fwd_row(&lo2, &hi2, xs, tap0, mine2, co0 + ROWS); }
        }
    }
    // a pair's rows are 8 consecutive outputs (the second absent past the last row)
    let count = select(0u, select(OW - ox0, select(4u, 8u, oy + 1u < OH), pairs), valid);
    if (BN_STATS) {
        let k = kept(min(count, 4u), select(0u, count - 4u, count > 4u));
        write_bn_partials(strip_stats(lo, hi, k), co0, CO, lane, LANE8, 0u);
        if (BLOCKS > 1u) { write_bn_partials(strip_stats(lo2, hi2, k), co0 + ROWS, CO, lane, LANE8, 0u); }
    }
    if (!valid) { return; }
    let o = ((n * CO + co0) * OH + oy) * OW + ox0;
    store_strip(lo, hi, co0, CO, count, o, OH * OW, 1u);
    if (BLOCKS > 1u) { store_strip(lo2, hi2, co0 + ROWS, CO, count, o + ROWS * OH * OW, OH * OW, 1u); }
}

// ------------------------------------------------------------------ one output position

// A convolution whose single output position covers its whole input (PAD 0, kernel = input size:
// D's last layer, and G's first as a transposed convolution) is a dense product. Its input
// gradient and weight gradient are both C[i, j] (+)= sum over t of A(i, t) B[t, j], with B
// row-major (j contiguous, read as vec4) and A read with strides DENSE_AI and DENSE_AT:
//   input gradient   dx[n, k]  = sum_co dy[n, co] w[co, k]    A = dy (i = n, t = co), B = w
//   weight gradient  dw[co, k] = sum_n  dy[n, co] x[n, k]     A = dy (i = co, t = n), B = x
// (the forward pass is gemm_nt: y[n, co] = sum_k x[n, k] w[co, k]). Grid: x over pairs of quads of 4 j,
// y over blocks of ROWS i.
override DENSE_I: u32 = 1u;
override DENSE_J: u32 = 4u;
override DENSE_T: u32 = 1u;
override DENSE_AI: u32 = 1u;
override DENSE_AT: u32 = 1u;

@compute @workgroup_size(WG)
fn conv_dense(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    // ROWS rows i x two quads of j per invocation: 32 vec4 multiply-adds per 2 vec4 and 2 scalar loads
    let quads = DENSE_J / 4u;
    let pairs = (quads + 1u) / 2u;
    let lane = wid.x * WG + lid;
    let valid = lane < pairs;
    if (!any_lane(valid)) { return; }
    let jq = min(lane, pairs - 1u) * 2u;
    let jq1 = min(jq + 1u, quads - 1u);
    let i0 = wid.y * ROWS;
    let mine = mine_rows(LANE8, i0, DENSE_I, DENSE_AI);
    var lo: Acc;
    var hi: Acc;
    for (var t = 0u; t < DENSE_T; t++) {
        let b0 = wt4[t * quads + jq];
        let b1 = wt4[t * quads + jq1];
        let at = t * DENSE_AT;
        var m: array<f32, ROWS / 8u>;
        for (var j = 0u; j < ROWS / 8u; j++) {
            m[j] = src[mine[j] + at];
        }
        for (var r = 0u; r < ROWS; r++) {
            let v = vec4<f32>(share1(m[r / 8u], r % 8u, src[min(i0 + r, DENSE_I - 1u) * DENSE_AI + at]));
            lo[r] = fma(v, b0, lo[r]);
            hi[r] = fma(v, b1, hi[r]);
        }
    }
    if (!valid) { return; }
    for (var r = 0u; r < ROWS; r++) {
        let i = i0 + r;
        if (i < DENSE_I) {
            let o = i * DENSE_J + jq * 4u;
            store(o, lo[r].x); store(o + 1u, lo[r].y); store(o + 2u, lo[r].z); store(o + 3u, lo[r].w);
            if (jq + 1u < quads) {
                store(o + 4u, hi[r].x); store(o + 5u, hi[r].y); store(o + 6u, hi[r].z); store(o + 7u, hi[r].w);
            }
        }
    }
}
