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
// Work per invocation: 8 "rows" (output channels; input channels for dgrad) that are the same for
// every invocation of a workgroup (grid y), times a strip of 8 neighbouring pixels of one image row
// (grid x): 16 vec4 accumulator chains (weight-gradient: 8 rows x 4 taps, strips walked in turn).
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
// The 8 rows' values (weights; dy for wgrad) are the same for all lanes. The host compiles this
// file in two variants through the prelude: with subgroups (CPU adapters), lane r of each
// subgroup loads row r and `share` hands it to the others with a register shuffle; without, every
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

// Values c[r + i] for i < n from the 9 vec4 chunks (36 values: any SEG consecutive values and
// their shift) loaded at an aligned index: the shift r (0..3) differs
// per lane, so it is three selects per value rather than a per-lane indexed array.
// Loops here run over groups of 4 values: the compiler unrolls loops of up to about 16 trips, and
// a loop it does not unroll turns every private array into per-lane memory.
fn shifted(c: array<f32, 36>, r: i32, n: u32) -> array<f32, SEG> {
    var s: array<f32, SEG>;
    for (var k = 0u; k < (n + 3u) / 4u; k++) {
        let i = 4u * k;
        s[i] = select(select(c[i], c[i + 1u], r == 1), select(c[i + 2u], c[i + 3u], r == 3), r >= 2);
        s[i + 1u] = select(select(c[i + 1u], c[i + 2u], r == 1), select(c[i + 3u], c[i + 4u], r == 3), r >= 2);
        s[i + 2u] = select(select(c[i + 2u], c[i + 3u], r == 1), select(c[i + 4u], c[i + 5u], r == 3), r >= 2);
        s[i + 3u] = select(select(c[i + 3u], c[i + 4u], r == 1), select(c[i + 5u], c[i + 6u], r == 3), r >= 2);
    }
    return s;
}

// The segment s of a row starting at column c0 with columns outside [0, width) (or the whole row,
// when !row_ok) set to zero.
fn masked_row(s: array<f32, SEG>, n: u32, c0: i32, width: u32, row_ok: bool) -> array<f32, SEG> {
    var m: array<f32, SEG>;
    for (var k = 0u; k < (n + 3u) / 4u; k++) {
        let i = 4u * k;
        let c = vec4<i32>(c0 + i32(i)) + vec4<i32>(0, 1, 2, 3);
        let ok = vec4<bool>(row_ok) & (c >= vec4<i32>(0)) & (c < vec4<i32>(i32(width)));
        let v = select(vec4<f32>(0.0), vec4<f32>(s[i], s[i + 1u], s[i + 2u], s[i + 3u]), ok);
        m[i] = v.x; m[i + 1u] = v.y; m[i + 2u] = v.z; m[i + 3u] = v.w;
    }
    return m;
}

// src[f0 + i] for i < n; indices outside the binding read some value in it (callers mask
// columns outside the row).
fn src_segment(f0: i32, n: u32) -> array<f32, SEG> {
    if (SRC_VEC4) {
        var c: array<f32, 36>;
        let last = i32(arrayLength(&src4)) - 1;
        let a0 = f0 >> 2u;
        for (var j = 0u; j < (n + 6u) / 4u; j++) {
            let v = src4[clamp(a0 + i32(j), 0, last)];
            c[4u * j] = v.x; c[4u * j + 1u] = v.y; c[4u * j + 2u] = v.z; c[4u * j + 3u] = v.w;
        }
        return shifted(c, f0 & 3, n);
    }
    var s: array<f32, SEG>;
    let last = i32(arrayLength(&src)) - 1;
    for (var k = 0u; k < (n + 3u) / 4u; k++) {
        let i = 4u * k;
        s[i] = src[clamp(f0 + i32(i), 0, last)];
        s[i + 1u] = src[clamp(f0 + i32(i) + 1, 0, last)];
        s[i + 2u] = src[clamp(f0 + i32(i) + 2, 0, last)];
        s[i + 3u] = src[clamp(f0 + i32(i) + 3, 0, last)];
    }
    return s;
}

// wt[f0 + i] for i < n, as src_segment.
fn wt_segment(f0: i32, n: u32) -> array<f32, SEG> {
    if (WT_VEC4) {
        var c: array<f32, 36>;
        let last = i32(arrayLength(&wt4)) - 1;
        let a0 = f0 >> 2u;
        for (var j = 0u; j < (n + 6u) / 4u; j++) {
            let v = wt4[clamp(a0 + i32(j), 0, last)];
            c[4u * j] = v.x; c[4u * j + 1u] = v.y; c[4u * j + 2u] = v.z; c[4u * j + 3u] = v.w;
        }
        return shifted(c, f0 & 3, n);
    }
    var s: array<f32, SEG>;
    let last = i32(arrayLength(&wt)) - 1;
    for (var k = 0u; k < (n + 3u) / 4u; k++) {
        let i = 4u * k;
        s[i] = wt[clamp(f0 + i32(i), 0, last)];
        s[i + 1u] = wt[clamp(f0 + i32(i) + 1, 0, last)];
        s[i + 2u] = wt[clamp(f0 + i32(i) + 2, 0, last)];
        s[i + 3u] = wt[clamp(f0 + i32(i) + 3, 0, last)];
    }
    return s;
}

// a + v.x x0 + v.y x1 + v.z x2 + v.w x3 as fused multiply-adds (one instruction each where the
// adapter has them, instead of a multiply and an add).
fn mac4(a: vec4<f32>, v: vec4<f32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(v.w), x3, fma(vec4<f32>(v.z), x2, fma(vec4<f32>(v.y), x1, fma(vec4<f32>(v.x), x0, a))));
}

// Stores a strip's 8 rows x 8 pixels: row r's pixels q at o(r) + q * step, for rows < rows and
// pixels q < count.
fn store_strip(lo: array<vec4<f32>, 8>, hi: array<vec4<f32>, 8>, row0: u32, rows: u32, count: u32, o0: u32, row_stride: u32, step: u32) {
    for (var r = 0u; r < 8u; r++) {
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

// y[n, co, oy, ox] = sum over ci, ky, kx of x[n, ci, oy*S - P + ky, ox*S - P + kx] w[co, ci, ky, kx].
// Grid: x over (n, oy, strip of 8 ox), y over blocks of 8 output channels.
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
    let co0 = wid.y * 8u;
    let taps = CI * KH * KW;
    let mine = min(co0 + LANE8, CO - 1u) * taps;
    let w0 = min(co0, CO - 1u) * taps;      let w1 = min(co0 + 1u, CO - 1u) * taps;
    let w2 = min(co0 + 2u, CO - 1u) * taps; let w3 = min(co0 + 3u, CO - 1u) * taps;
    let w4 = min(co0 + 4u, CO - 1u) * taps; let w5 = min(co0 + 5u, CO - 1u) * taps;
    let w6 = min(co0 + 6u, CO - 1u) * taps; let w7 = min(co0 + 7u, CO - 1u) * taps;
    let ix0 = i32(ox0 * STRIDE) - i32(PAD);
    let seg = 7u * STRIDE + KW;
    // a: pixels 0-3 of the strip, b: pixels 4-7
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var b4 = vec4<f32>(0.0); var b5 = vec4<f32>(0.0); var b6 = vec4<f32>(0.0); var b7 = vec4<f32>(0.0);
    for (var ci = 0u; ci < CI; ci++) {
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let row_ok = iy >= 0 && iy < i32(IH);
            let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
            let xs = masked_row(src_segment(base + ix0, seg), seg, ix0, IW, row_ok);
            let tap0 = (ci * KH + ky) * KW;
            if (KW % 4u == 0u) {
                for (var kq = 0u; kq < KW / 4u; kq++) {
                    let k = kq * 4u;
                    let x0 = vec4<f32>(xs[k], xs[STRIDE + k], xs[2u * STRIDE + k], xs[3u * STRIDE + k]);
                    let x1 = vec4<f32>(xs[k + 1u], xs[STRIDE + k + 1u], xs[2u * STRIDE + k + 1u], xs[3u * STRIDE + k + 1u]);
                    let x2 = vec4<f32>(xs[k + 2u], xs[STRIDE + k + 2u], xs[2u * STRIDE + k + 2u], xs[3u * STRIDE + k + 2u]);
                    let x3 = vec4<f32>(xs[k + 3u], xs[STRIDE + k + 3u], xs[2u * STRIDE + k + 3u], xs[3u * STRIDE + k + 3u]);
                    let h = 4u * STRIDE + k;
                    let y0 = vec4<f32>(xs[h], xs[STRIDE + h], xs[2u * STRIDE + h], xs[3u * STRIDE + h]);
                    let y1 = vec4<f32>(xs[h + 1u], xs[STRIDE + h + 1u], xs[2u * STRIDE + h + 1u], xs[3u * STRIDE + h + 1u]);
                    let y2 = vec4<f32>(xs[h + 2u], xs[STRIDE + h + 2u], xs[2u * STRIDE + h + 2u], xs[3u * STRIDE + h + 2u]);
                    let y3 = vec4<f32>(xs[h + 3u], xs[STRIDE + h + 3u], xs[2u * STRIDE + h + 3u], xs[3u * STRIDE + h + 3u]);
                    let t = (tap0 + k) / 4u;
                    let m = wt4[mine / 4u + t];
                    let v0 = share4(m, 0u, wt4[w0 / 4u + t]); a0 = mac4(a0, v0, x0, x1, x2, x3); b0 = mac4(b0, v0, y0, y1, y2, y3);
                    let v1 = share4(m, 1u, wt4[w1 / 4u + t]); a1 = mac4(a1, v1, x0, x1, x2, x3); b1 = mac4(b1, v1, y0, y1, y2, y3);
                    let v2 = share4(m, 2u, wt4[w2 / 4u + t]); a2 = mac4(a2, v2, x0, x1, x2, x3); b2 = mac4(b2, v2, y0, y1, y2, y3);
                    let v3 = share4(m, 3u, wt4[w3 / 4u + t]); a3 = mac4(a3, v3, x0, x1, x2, x3); b3 = mac4(b3, v3, y0, y1, y2, y3);
                    let v4 = share4(m, 4u, wt4[w4 / 4u + t]); a4 = mac4(a4, v4, x0, x1, x2, x3); b4 = mac4(b4, v4, y0, y1, y2, y3);
                    let v5 = share4(m, 5u, wt4[w5 / 4u + t]); a5 = mac4(a5, v5, x0, x1, x2, x3); b5 = mac4(b5, v5, y0, y1, y2, y3);
                    let v6 = share4(m, 6u, wt4[w6 / 4u + t]); a6 = mac4(a6, v6, x0, x1, x2, x3); b6 = mac4(b6, v6, y0, y1, y2, y3);
                    let v7 = share4(m, 7u, wt4[w7 / 4u + t]); a7 = mac4(a7, v7, x0, x1, x2, x3); b7 = mac4(b7, v7, y0, y1, y2, y3);
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let xv = vec4<f32>(xs[kx], xs[STRIDE + kx], xs[2u * STRIDE + kx], xs[3u * STRIDE + kx]);
                    let h = 4u * STRIDE + kx;
                    let yv = vec4<f32>(xs[h], xs[STRIDE + h], xs[2u * STRIDE + h], xs[3u * STRIDE + h]);
                    let t = tap0 + kx;
                    let m = wt[mine + t];
                    let s0 = share1(m, 0u, wt[w0 + t]); a0 = fma(vec4<f32>(s0), xv, a0); b0 = fma(vec4<f32>(s0), yv, b0);
                    let s1 = share1(m, 1u, wt[w1 + t]); a1 = fma(vec4<f32>(s1), xv, a1); b1 = fma(vec4<f32>(s1), yv, b1);
                    let s2 = share1(m, 2u, wt[w2 + t]); a2 = fma(vec4<f32>(s2), xv, a2); b2 = fma(vec4<f32>(s2), yv, b2);
                    let s3 = share1(m, 3u, wt[w3 + t]); a3 = fma(vec4<f32>(s3), xv, a3); b3 = fma(vec4<f32>(s3), yv, b3);
                    let s4 = share1(m, 4u, wt[w4 + t]); a4 = fma(vec4<f32>(s4), xv, a4); b4 = fma(vec4<f32>(s4), yv, b4);
                    let s5 = share1(m, 5u, wt[w5 + t]); a5 = fma(vec4<f32>(s5), xv, a5); b5 = fma(vec4<f32>(s5), yv, b5);
                    let s6 = share1(m, 6u, wt[w6 + t]); a6 = fma(vec4<f32>(s6), xv, a6); b6 = fma(vec4<f32>(s6), yv, b6);
                    let s7 = share1(m, 7u, wt[w7 + t]); a7 = fma(vec4<f32>(s7), xv, a7); b7 = fma(vec4<f32>(s7), yv, b7);
                }
            }
        }
    }
    if (!valid) { return; }
    let lo = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    let hi = array<vec4<f32>, 8>(b0, b1, b2, b3, b4, b5, b6, b7);
    store_strip(lo, hi, co0, CO, OW - ox0, ((n * CO + co0) * OH + oy) * OW + ox0, OH * OW, 1u);
}

// ------------------------------------------------------------------ input gradient

// dx[n, ci, iy, ix] = sum over co and the taps (ky, kx) with iy + P - ky and ix + P - kx
// divisible by S of dy[n, co, (iy + P - ky) / S, (ix + P - kx) / S] w[co, ci, ky, kx].
// Phase (py, px) = (iy % S, ix % S) = grid z fixes which taps reach an output: ky = ky0 + S t.
// Grid: x over (n, a, strip of 8 b) with iy = a S + py, ix = b S + px; y over blocks of 8 ci.
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
    let ci0 = wid.y * 8u;
    // taps of this phase: ky = ky0 + S t for t < TY (constant bound; taps past KH are masked)
    let ky0 = (py + PAD) % STRIDE;
    let kx0 = (px + PAD) % STRIDE;
    let cy = i32((py + PAD - ky0) / STRIDE);
    let cx = i32((px + PAD - kx0) / STRIDE);
    let ty = (KH + STRIDE - 1u) / STRIDE;
    let tx = (KW + STRIDE - 1u) / STRIDE;
    let tap_stride = KH * KW;
    let mine = min(ci0 + LANE8, CI - 1u) * tap_stride;
    let w0 = min(ci0, CI - 1u) * tap_stride;      let w1 = min(ci0 + 1u, CI - 1u) * tap_stride;
    let w2 = min(ci0 + 2u, CI - 1u) * tap_stride; let w3 = min(ci0 + 3u, CI - 1u) * tap_stride;
    let w4 = min(ci0 + 4u, CI - 1u) * tap_stride; let w5 = min(ci0 + 5u, CI - 1u) * tap_stride;
    let w6 = min(ci0 + 6u, CI - 1u) * tap_stride; let w7 = min(ci0 + 7u, CI - 1u) * tap_stride;
    // dy[.., ox] for ox = b0 + cx - (tx - 1) + i
    let ox0 = i32(b0) + cx - i32(tx) + 1;
    let seg = 7u + tx;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    var b0_ = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var b4 = vec4<f32>(0.0); var b5 = vec4<f32>(0.0); var b6 = vec4<f32>(0.0); var b7 = vec4<f32>(0.0);
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * tap_stride;
        for (var t = 0u; t < ty; t++) {
            let ky = ky0 + STRIDE * t;
            let oy = i32(a) + cy - i32(t);
            let row_ok = ky < KH && oy >= 0 && oy < i32(OH);
            let base = i32(((n * CO + co) * OH + u32(clamp(oy, 0, i32(OH) - 1))) * OW);
            let ds = masked_row(src_segment(base + ox0, seg), seg, ox0, OW, row_ok);
            for (var u = 0u; u < tx; u++) {
                let kx = kx0 + STRIDE * u;
                // output b0 + q reads ox = b0 + q + cx - u: ds index q + tx - 1 - u
                let j = tx - 1u - u;
                let ok = kx < KW;
                let dv = select(vec4<f32>(0.0), vec4<f32>(ds[j], ds[j + 1u], ds[j + 2u], ds[j + 3u]), ok);
                let ev = select(vec4<f32>(0.0), vec4<f32>(ds[j + 4u], ds[j + 5u], ds[j + 6u], ds[j + 7u]), ok);
                let t_off = wco + min(ky, KH - 1u) * KW + min(kx, KW - 1u);
                let m = wt[mine + t_off];
                let s0 = share1(m, 0u, wt[w0 + t_off]); a0 = fma(vec4<f32>(s0), dv, a0); b0_ = fma(vec4<f32>(s0), ev, b0_);
                let s1 = share1(m, 1u, wt[w1 + t_off]); a1 = fma(vec4<f32>(s1), dv, a1); b1 = fma(vec4<f32>(s1), ev, b1);
                let s2 = share1(m, 2u, wt[w2 + t_off]); a2 = fma(vec4<f32>(s2), dv, a2); b2 = fma(vec4<f32>(s2), ev, b2);
                let s3 = share1(m, 3u, wt[w3 + t_off]); a3 = fma(vec4<f32>(s3), dv, a3); b3 = fma(vec4<f32>(s3), ev, b3);
                let s4 = share1(m, 4u, wt[w4 + t_off]); a4 = fma(vec4<f32>(s4), dv, a4); b4 = fma(vec4<f32>(s4), ev, b4);
                let s5 = share1(m, 5u, wt[w5 + t_off]); a5 = fma(vec4<f32>(s5), dv, a5); b5 = fma(vec4<f32>(s5), ev, b5);
                let s6 = share1(m, 6u, wt[w6 + t_off]); a6 = fma(vec4<f32>(s6), dv, a6); b6 = fma(vec4<f32>(s6), ev, b6);
                let s7 = share1(m, 7u, wt[w7 + t_off]); a7 = fma(vec4<f32>(s7), dv, a7); b7 = fma(vec4<f32>(s7), ev, b7);
            }
        }
    }
    let iy = a * STRIDE + py;
    if (!valid || iy >= IH) { return; }
    // output b0 + q sits at ix = (b0 + q) S + px; pixels past the row's end are not stored
    let count = select(0u, (IW - px + STRIDE - 1u) / STRIDE - b0, px < IW && b0 * STRIDE + px < IW);
    let lo = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    let hi = array<vec4<f32>, 8>(b0_, b1, b2, b3, b4, b5, b6, b7);
    store_strip(lo, hi, ci0, CI, count, ((n * CI + ci0) * IH + iy) * IW + b0 * STRIDE + px, IH * IW, STRIDE);
}

// ------------------------------------------------------------------ weight gradient

// dw[co, ci, ky, kx] (+)= sum over n, oy, ox of dy[n, co, oy, ox] x[n, ci, oy*S - P + ky, ox*S - P + kx].
// Grid: x over (ci, ky, quad of 4 kx), y over blocks of 8 output channels; each invocation walks
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
    let co0 = wid.y * 8u;
    let plane = OH * OW;
    let mine = min(co0 + LANE8, CO - 1u) * plane;
    let d0 = min(co0, CO - 1u) * plane;      let d1 = min(co0 + 1u, CO - 1u) * plane;
    let d2 = min(co0 + 2u, CO - 1u) * plane; let d3 = min(co0 + 3u, CO - 1u) * plane;
    let d4 = min(co0 + 4u, CO - 1u) * plane; let d5 = min(co0 + 5u, CO - 1u) * plane;
    let d6 = min(co0 + 6u, CO - 1u) * plane; let d7 = min(co0 + 7u, CO - 1u) * plane;
    let seg = 7u * STRIDE + 4u;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var n = 0u; n < BATCH; n++) {
        let dyn_ = n * CO * plane;
        for (var oy = 0u; oy < OH; oy++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let row_ok = iy >= 0 && iy < i32(IH);
            let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
            for (var ox0 = 0u; ox0 < OW; ox0 += 8u) {
                // this lane's channel's dy at 8 pixels (zero past the row's end)
                let p = dyn_ + oy * OW + ox0;
                let dd = masked_row(wt_segment(i32(mine + p), 8u), 8u, i32(ox0), OW, true);
                let dlo = vec4<f32>(dd[0], dd[1], dd[2], dd[3]);
                let dhi = vec4<f32>(dd[4], dd[5], dd[6], dd[7]);
                // x under taps 4kq..4kq+3 at the 8 pixels: one row segment
                let ix0 = i32(ox0 * STRIDE + kq * 4u) - i32(PAD);
                let xs = masked_row(src_segment(base + ix0, seg), seg, ix0, IW, row_ok);
                let x0 = vec4<f32>(xs[0], xs[STRIDE], xs[2u * STRIDE], xs[3u * STRIDE]);
                let x1 = vec4<f32>(xs[1], xs[STRIDE + 1u], xs[2u * STRIDE + 1u], xs[3u * STRIDE + 1u]);
                let x2 = vec4<f32>(xs[2], xs[STRIDE + 2u], xs[2u * STRIDE + 2u], xs[3u * STRIDE + 2u]);
                let x3 = vec4<f32>(xs[3], xs[STRIDE + 3u], xs[2u * STRIDE + 3u], xs[3u * STRIDE + 3u]);
                let h = 4u * STRIDE;
                let y0 = vec4<f32>(xs[h], xs[h + STRIDE], xs[h + 2u * STRIDE], xs[h + 3u * STRIDE]);
                let y1 = vec4<f32>(xs[h + 1u], xs[h + STRIDE + 1u], xs[h + 2u * STRIDE + 1u], xs[h + 3u * STRIDE + 1u]);
                let y2 = vec4<f32>(xs[h + 2u], xs[h + STRIDE + 2u], xs[h + 2u * STRIDE + 2u], xs[h + 3u * STRIDE + 2u]);
                let y3 = vec4<f32>(xs[h + 3u], xs[h + STRIDE + 3u], xs[h + 2u * STRIDE + 3u], xs[h + 3u * STRIDE + 3u]);
                let g0 = share4(dlo, 0u, dy4(d0 + p, ox0)); let e0 = share4(dhi, 0u, dy4(d0 + p + 4u, ox0 + 4u));
                a0 += vec4<f32>(dot(g0, x0) + dot(e0, y0), dot(g0, x1) + dot(e0, y1), dot(g0, x2) + dot(e0, y2), dot(g0, x3) + dot(e0, y3));
                let g1 = share4(dlo, 1u, dy4(d1 + p, ox0)); let e1 = share4(dhi, 1u, dy4(d1 + p + 4u, ox0 + 4u));
                a1 += vec4<f32>(dot(g1, x0) + dot(e1, y0), dot(g1, x1) + dot(e1, y1), dot(g1, x2) + dot(e1, y2), dot(g1, x3) + dot(e1, y3));
                let g2 = share4(dlo, 2u, dy4(d2 + p, ox0)); let e2 = share4(dhi, 2u, dy4(d2 + p + 4u, ox0 + 4u));
                a2 += vec4<f32>(dot(g2, x0) + dot(e2, y0), dot(g2, x1) + dot(e2, y1), dot(g2, x2) + dot(e2, y2), dot(g2, x3) + dot(e2, y3));
                let g3 = share4(dlo, 3u, dy4(d3 + p, ox0)); let e3 = share4(dhi, 3u, dy4(d3 + p + 4u, ox0 + 4u));
                a3 += vec4<f32>(dot(g3, x0) + dot(e3, y0), dot(g3, x1) + dot(e3, y1), dot(g3, x2) + dot(e3, y2), dot(g3, x3) + dot(e3, y3));
                let g4 = share4(dlo, 4u, dy4(d4 + p, ox0)); let e4 = share4(dhi, 4u, dy4(d4 + p + 4u, ox0 + 4u));
                a4 += vec4<f32>(dot(g4, x0) + dot(e4, y0), dot(g4, x1) + dot(e4, y1), dot(g4, x2) + dot(e4, y2), dot(g4, x3) + dot(e4, y3));
                let g5 = share4(dlo, 5u, dy4(d5 + p, ox0)); let e5 = share4(dhi, 5u, dy4(d5 + p + 4u, ox0 + 4u));
                a5 += vec4<f32>(dot(g5, x0) + dot(e5, y0), dot(g5, x1) + dot(e5, y1), dot(g5, x2) + dot(e5, y2), dot(g5, x3) + dot(e5, y3));
                let g6 = share4(dlo, 6u, dy4(d6 + p, ox0)); let e6 = share4(dhi, 6u, dy4(d6 + p + 4u, ox0 + 4u));
                a6 += vec4<f32>(dot(g6, x0) + dot(e6, y0), dot(g6, x1) + dot(e6, y1), dot(g6, x2) + dot(e6, y2), dot(g6, x3) + dot(e6, y3));
                let g7 = share4(dlo, 7u, dy4(d7 + p, ox0)); let e7 = share4(dhi, 7u, dy4(d7 + p + 4u, ox0 + 4u));
                a7 += vec4<f32>(dot(g7, x0) + dot(e7, y0), dot(g7, x1) + dot(e7, y1), dot(g7, x2) + dot(e7, y2), dot(g7, x3) + dot(e7, y3));
            }
        }
    }
    if (!valid) { return; }
    let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    for (var r = 0u; r < 8u; r++) {
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
