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
// every invocation of a workgroup (grid y), times a strip of 4 neighbouring pixels of one image row
// (grid x): 8 vec4 accumulator chains. Neighbouring pixels share inputs, so a strip loads one row
// segment per (channel, kernel row) and reuses it for every tap.
//
// The 8 rows' values (weights; dy for wgrad) are the same for all lanes. The host compiles this
// file in two variants through the prelude: with subgroups (CPU adapters: llvmpipe runs 8 lanes
// as one SIMD vector and a storage load costs about as much as 10 FMAs per lane), lane r of each
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

// Longest row segment a strip reads (3 * STRIDE + KW, or 3 + ceil(KW / STRIDE) for dgrad); the
// host refuses geometries that need more.
const SEG: u32 = 24u;

@group(0) @binding(1) var<storage, read> src: array<f32>;        // fwd, wgrad: x (BATCH, CI, IH, IW); dgrad: dy (BATCH, CO, OH, OW)
@group(0) @binding(2) var<storage, read> wt: array<f32>;         // fwd, dgrad: w (CO, CI, KH, KW); wgrad: dy (BATCH, CO, OH, OW)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // fwd: y; dgrad: dx (BATCH, CI, IH, IW); wgrad: dw (CO, CI, KH, KW)
@group(0) @binding(4) var<storage, read> wt4: array<vec4<f32>>;  // binding 2 as vec4 (fwd with KW % 4 == 0)

fn store(i: u32, v: f32) {
    if (ACCUMULATE) {
        dst[i] += v;
    } else {
        dst[i] = act_apply(ACT, ACT_SLOPE, v);
    }
}

fn masked(ok: bool, i: i32, hi: u32) -> f32 {
    return select(0.0, src[u32(clamp(i, 0, i32(hi) - 1))], ok);
}

// ------------------------------------------------------------------ forward

// y[n, co, oy, ox] = sum over ci, ky, kx of x[n, ci, oy*S - P + ky, ox*S - P + kx] w[co, ci, ky, kx].
// Grid: x over (n, oy, strip of 4 ox), y over blocks of 8 output channels.
@compute @workgroup_size(WG)
fn conv_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let strips = (OW + 3u) / 4u;
    let lanes = BATCH * OH * strips;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let row = l / strips;
    let ox0 = (l % strips) * 4u;
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
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var ci = 0u; ci < CI; ci++) {
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let row_ok = iy >= 0 && iy < i32(IH);
            let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
            var xs: array<f32, SEG>;
            for (var i = 0u; i < 3u * STRIDE + KW; i++) {
                let ix = ix0 + i32(i);
                xs[i] = masked(row_ok && ix >= 0 && ix < i32(IW), base + ix, arrayLength(&src));
            }
            let tap0 = (ci * KH + ky) * KW;
            if (KW % 4u == 0u) {
                for (var kq = 0u; kq < KW / 4u; kq++) {
                    let k = kq * 4u;
                    let x0 = vec4<f32>(xs[k], xs[STRIDE + k], xs[2u * STRIDE + k], xs[3u * STRIDE + k]);
                    let x1 = vec4<f32>(xs[k + 1u], xs[STRIDE + k + 1u], xs[2u * STRIDE + k + 1u], xs[3u * STRIDE + k + 1u]);
                    let x2 = vec4<f32>(xs[k + 2u], xs[STRIDE + k + 2u], xs[2u * STRIDE + k + 2u], xs[3u * STRIDE + k + 2u]);
                    let x3 = vec4<f32>(xs[k + 3u], xs[STRIDE + k + 3u], xs[2u * STRIDE + k + 3u], xs[3u * STRIDE + k + 3u]);
                    let t = (tap0 + k) / 4u;
                    let m = wt4[mine / 4u + t];
                    let v0 = share4(m, 0u, wt4[w0 / 4u + t]); a0 += v0.x * x0 + v0.y * x1 + v0.z * x2 + v0.w * x3;
                    let v1 = share4(m, 1u, wt4[w1 / 4u + t]); a1 += v1.x * x0 + v1.y * x1 + v1.z * x2 + v1.w * x3;
                    let v2 = share4(m, 2u, wt4[w2 / 4u + t]); a2 += v2.x * x0 + v2.y * x1 + v2.z * x2 + v2.w * x3;
                    let v3 = share4(m, 3u, wt4[w3 / 4u + t]); a3 += v3.x * x0 + v3.y * x1 + v3.z * x2 + v3.w * x3;
                    let v4 = share4(m, 4u, wt4[w4 / 4u + t]); a4 += v4.x * x0 + v4.y * x1 + v4.z * x2 + v4.w * x3;
                    let v5 = share4(m, 5u, wt4[w5 / 4u + t]); a5 += v5.x * x0 + v5.y * x1 + v5.z * x2 + v5.w * x3;
                    let v6 = share4(m, 6u, wt4[w6 / 4u + t]); a6 += v6.x * x0 + v6.y * x1 + v6.z * x2 + v6.w * x3;
                    let v7 = share4(m, 7u, wt4[w7 / 4u + t]); a7 += v7.x * x0 + v7.y * x1 + v7.z * x2 + v7.w * x3;
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let xv = vec4<f32>(xs[kx], xs[STRIDE + kx], xs[2u * STRIDE + kx], xs[3u * STRIDE + kx]);
                    let t = tap0 + kx;
                    let m = wt[mine + t];
                    a0 += share1(m, 0u, wt[w0 + t]) * xv;
                    a1 += share1(m, 1u, wt[w1 + t]) * xv;
                    a2 += share1(m, 2u, wt[w2 + t]) * xv;
                    a3 += share1(m, 3u, wt[w3 + t]) * xv;
                    a4 += share1(m, 4u, wt[w4 + t]) * xv;
                    a5 += share1(m, 5u, wt[w5 + t]) * xv;
                    a6 += share1(m, 6u, wt[w6 + t]) * xv;
                    a7 += share1(m, 7u, wt[w7 + t]) * xv;
                }
            }
        }
    }
    if (!valid) { return; }
    let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    for (var r = 0u; r < 8u; r++) {
        let co = co0 + r;
        if (co < CO) {
            let o = ((n * CO + co) * OH + oy) * OW;
            for (var q = 0u; q < 4u; q++) {
                if (ox0 + q < OW) { store(o + ox0 + q, acc[r][q]); }
            }
        }
    }
}

// ------------------------------------------------------------------ input gradient

// dx[n, ci, iy, ix] = sum over co and the taps (ky, kx) with iy + P - ky and ix + P - kx
// divisible by S of dy[n, co, (iy + P - ky) / S, (ix + P - kx) / S] w[co, ci, ky, kx].
// Phase (py, px) = (iy % S, ix % S) = grid z fixes which taps reach an output: ky = ky0 + S t.
// Grid: x over (n, a, strip of 4 b) with iy = a S + py, ix = b S + px; y over blocks of 8 ci.
@compute @workgroup_size(WG)
fn conv_dgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32 SG_LANE_PARAM) {
    let py = wid.z / STRIDE;
    let px = wid.z % STRIDE;
    let ah = (IH + STRIDE - 1u) / STRIDE;    // phase rows (the last may not exist for py > 0)
    let aw = (IW + STRIDE - 1u) / STRIDE;
    let strips = (aw + 3u) / 4u;
    let lanes = BATCH * ah * strips;
    let lane = wid.x * WG + lid;
    let valid = lane < lanes;
    if (!any_lane(valid)) { return; }
    let l = min(lane, lanes - 1u);
    let row = l / strips;
    let b0 = (l % strips) * 4u;
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
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var co = 0u; co < CO; co++) {
        let wco = co * CI * tap_stride;
        for (var t = 0u; t < ty; t++) {
            let ky = ky0 + STRIDE * t;
            let oy = i32(a) + cy - i32(t);
            let row_ok = ky < KH && oy >= 0 && oy < i32(OH);
            let base = i32(((n * CO + co) * OH + u32(clamp(oy, 0, i32(OH) - 1))) * OW);
            // dy[.., ox] for ox = b0 + cx - (tx - 1) + i
            let ox0 = i32(b0) + cx - i32(tx) + 1;
            var ds: array<f32, SEG>;
            for (var i = 0u; i < 3u + tx; i++) {
                let ox = ox0 + i32(i);
                ds[i] = masked(row_ok && ox >= 0 && ox < i32(OW), base + ox, arrayLength(&src));
            }
            for (var u = 0u; u < tx; u++) {
                let kx = kx0 + STRIDE * u;
                let ok = row_ok && kx < KW;
                // output b0 + q reads ox = b0 + q + cx - u: ds index q + tx - 1 - u
                let j = tx - 1u - u;
                let dv = select(vec4<f32>(0.0), vec4<f32>(ds[j], ds[j + 1u], ds[j + 2u], ds[j + 3u]), ok);
                let t_off = wco + min(ky, KH - 1u) * KW + min(kx, KW - 1u);
                let m = wt[mine + t_off];
                a0 += share1(m, 0u, wt[w0 + t_off]) * dv;
                a1 += share1(m, 1u, wt[w1 + t_off]) * dv;
                a2 += share1(m, 2u, wt[w2 + t_off]) * dv;
                a3 += share1(m, 3u, wt[w3 + t_off]) * dv;
                a4 += share1(m, 4u, wt[w4 + t_off]) * dv;
                a5 += share1(m, 5u, wt[w5 + t_off]) * dv;
                a6 += share1(m, 6u, wt[w6 + t_off]) * dv;
                a7 += share1(m, 7u, wt[w7 + t_off]) * dv;
            }
        }
    }
    let iy = a * STRIDE + py;
    if (!valid || iy >= IH) { return; }
    let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    for (var r = 0u; r < 8u; r++) {
        let ci = ci0 + r;
        if (ci < CI) {
            let o = ((n * CI + ci) * IH + iy) * IW;
            for (var q = 0u; q < 4u; q++) {
                let ix = (b0 + q) * STRIDE + px;
                if (ix < IW) { store(o + ix, acc[r][q]); }
            }
        }
    }
}

// ------------------------------------------------------------------ weight gradient

// dw[co, ci, ky, kx] (+)= sum over n, oy, ox of dy[n, co, oy, ox] x[n, ci, oy*S - P + ky, ox*S - P + kx].
// Grid: x over (ci, ky, quad of 4 kx), y over blocks of 8 output channels; each invocation walks
// every output pixel in strips of 4 along ox.
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
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var n = 0u; n < BATCH; n++) {
        let dyn_ = n * CO * plane;
        for (var oy = 0u; oy < OH; oy++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let row_ok = iy >= 0 && iy < i32(IH);
            let base = i32(((n * CI + ci) * IH + u32(clamp(iy, 0, i32(IH) - 1))) * IW);
            for (var ox0 = 0u; ox0 < OW; ox0 += 4u) {
                // the 8 channels' dy at 4 pixels (zero past the row's end)
                let p = dyn_ + oy * OW + ox0;
                var dm = vec4<f32>(0.0);
                for (var q = 0u; q < 4u; q++) {
                    if (ox0 + q < OW) {
                        dm[q] = wt[mine + p + q];
                    }
                }
                // x under taps 4kq..4kq+3 at the 4 pixels: one row segment
                let ix0 = i32(ox0 * STRIDE + kq * 4u) - i32(PAD);
                var xs: array<f32, SEG>;
                for (var i = 0u; i < 3u * STRIDE + 4u; i++) {
                    let ix = ix0 + i32(i);
                    xs[i] = masked(row_ok && ix >= 0 && ix < i32(IW), base + ix, arrayLength(&src));
                }
                let x0 = vec4<f32>(xs[0], xs[STRIDE], xs[2u * STRIDE], xs[3u * STRIDE]);
                let x1 = vec4<f32>(xs[1], xs[STRIDE + 1u], xs[2u * STRIDE + 1u], xs[3u * STRIDE + 1u]);
                let x2 = vec4<f32>(xs[2], xs[STRIDE + 2u], xs[2u * STRIDE + 2u], xs[3u * STRIDE + 2u]);
                let x3 = vec4<f32>(xs[3], xs[STRIDE + 3u], xs[2u * STRIDE + 3u], xs[3u * STRIDE + 3u]);
                let g0 = share4(dm, 0u, dy4(d0 + p, ox0)); a0 += vec4<f32>(dot(g0, x0), dot(g0, x1), dot(g0, x2), dot(g0, x3));
                let g1 = share4(dm, 1u, dy4(d1 + p, ox0)); a1 += vec4<f32>(dot(g1, x0), dot(g1, x1), dot(g1, x2), dot(g1, x3));
                let g2 = share4(dm, 2u, dy4(d2 + p, ox0)); a2 += vec4<f32>(dot(g2, x0), dot(g2, x1), dot(g2, x2), dot(g2, x3));
                let g3 = share4(dm, 3u, dy4(d3 + p, ox0)); a3 += vec4<f32>(dot(g3, x0), dot(g3, x1), dot(g3, x2), dot(g3, x3));
                let g4 = share4(dm, 4u, dy4(d4 + p, ox0)); a4 += vec4<f32>(dot(g4, x0), dot(g4, x1), dot(g4, x2), dot(g4, x3));
                let g5 = share4(dm, 5u, dy4(d5 + p, ox0)); a5 += vec4<f32>(dot(g5, x0), dot(g5, x1), dot(g5, x2), dot(g5, x3));
                let g6 = share4(dm, 6u, dy4(d6 + p, ox0)); a6 += vec4<f32>(dot(g6, x0), dot(g6, x1), dot(g6, x2), dot(g6, x3));
                let g7 = share4(dm, 7u, dy4(d7 + p, ox0)); a7 += vec4<f32>(dot(g7, x0), dot(g7, x1), dot(g7, x2), dot(g7, x3));
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
