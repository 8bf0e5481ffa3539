// Convolution family, all in the geometry of a 2-D convolution (cross-correlation, no bias):
//   x (N, Cin, H, W), w (Cout, Cin, KH, KW), y (N, Cout, OH, OW), OH = (H + 2P - KH) / S + 1.
// Three entry points cover conv2d and conv_transpose2d, forward and backward:
//   conv_forward          y  = conv(x, w)           (conv2d forward; conv_transpose2d input-grad)
//   conv_backward_input   dx = conv^T(dy, w)        (conv2d input-grad; conv_transpose2d forward)
//   conv_backward_weight  dw (+)= corr(x, dy)       (conv2d weight-grad; conv_transpose2d weight-grad
//                                                    with x and dy swapped)
// Each invocation computes a 4 x 4 register block (4 channels x 4 pixels) with vec4 accumulators
// and no barriers: barriers are very costly on CPU adapters, registers are cheap everywhere.

struct ConvParams {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, oh: u32, ow: u32, kh: u32,
    kw: u32, stride: u32, pad: u32, accumulate: u32,
};

@group(0) @binding(0) var<uniform> P: ConvParams;
@group(0) @binding(1) var<storage, read> in0: array<f32>;        // forward: x (N,Cin,H,W); bw-input: dy (N,Cout,OH,OW); bw-weight: x
@group(0) @binding(2) var<storage, read> in1: array<f32>;        // forward / bw-input: w (Cout,Cin,KH,KW); bw-weight: dy (N,Cout,OH,OW)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // forward: y; bw-input: dx (N,Cin,H,W); bw-weight: dw (Cout,Cin,KH,KW)

fn load_in0(base: u32, i: i32, len: u32) -> f32 {
    let ok = i >= 0 && i < i32(len);
    return select(0.0, in0[base + u32(clamp(i, 0, i32(len) - 1))], ok);
}

fn store4(idx: u32, valid: bool, v: f32) {
    if (valid) {
        out[idx] = select(0.0, out[idx], P.accumulate != 0u) + v;
    }
}

@compute @workgroup_size(WG)
fn conv_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let owb_n = (P.ow + 3u) / 4u;
    let total = ((P.cout + 3u) / 4u) * P.n * P.oh * owb_n;
    let t0 = flat_id(wid, nwg, lid);
    if (t0 >= total) { return; }
    var t = t0;
    let owb = t % owb_n; t = t / owb_n;
    let oy = t % P.oh; t = t / P.oh;
    let n = t % P.n;
    let co0 = (t / P.n) * 4u;
    let ox0 = owb * 4u;
    let ksz = P.kh * P.kw;
    let wrow = P.cin * ksz;
    // Clamp channel rows so loads stay in bounds; masked at the store.
    let w0 = min(co0, P.cout - 1u) * wrow;
    let w1 = min(co0 + 1u, P.cout - 1u) * wrow;
    let w2 = min(co0 + 2u, P.cout - 1u) * wrow;
    let w3 = min(co0 + 3u, P.cout - 1u) * wrow;
    let s = i32(P.stride);
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    for (var ci = 0u; ci < P.cin; ci++) {
        let xplane = (n * P.cin + ci) * P.h;
        for (var ky = 0u; ky < P.kh; ky++) {
            let iy = i32(oy * P.stride + ky) - i32(P.pad);
            if (iy < 0 || iy >= i32(P.h)) { continue; }
            let xrow = (xplane + u32(iy)) * P.w;
            let kb = ci * ksz + ky * P.kw;
            for (var kx = 0u; kx < P.kw; kx++) {
                let ix = i32(ox0 * P.stride + kx) - i32(P.pad);
                let xv = vec4<f32>(load_in0(xrow, ix, P.w), load_in0(xrow, ix + s, P.w),
                                   load_in0(xrow, ix + 2 * s, P.w), load_in0(xrow, ix + 3 * s, P.w));
                let k = kb + kx;
                a0 += xv * in1[w0 + k];
                a1 += xv * in1[w1 + k];
                a2 += xv * in1[w2 + k];
                a3 += xv * in1[w3 + k];
            }
        }
    }
    let plane = P.oh * P.ow;
    let ybase = (n * P.cout + co0) * plane + oy * P.ow + ox0;
    for (var j = 0u; j < 4u; j++) {
        let px = ox0 + j < P.ow;
        store4(ybase + j, px && co0 < P.cout, a0[j]);
        store4(ybase + plane + j, px && co0 + 1u < P.cout, a1[j]);
        store4(ybase + 2u * plane + j, px && co0 + 2u < P.cout, a2[j]);
        store4(ybase + 3u * plane + j, px && co0 + 3u < P.cout, a3[j]);
    }
}

// dx[n, ci, iy, ix] = sum over (co, ky, kx) with iy = oy*S - P + ky, ix = ox*S - P + kx of
// dy[n, co, oy, ox] * w[co, ci, ky, kx]. An invocation takes 4 pixels of one row that share a
// residue modulo S (ix = r + S*(4g + j)), so they share the valid taps and read 4 adjacent dy.
@compute @workgroup_size(WG)
fn conv_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let s = P.stride;
    let per_res = (P.w + s - 1u) / s;        // pixels per residue class (upper bound)
    let gb = (per_res + 3u) / 4u;            // groups of 4 per residue class
    let total = ((P.cin + 3u) / 4u) * P.n * P.h * s * gb;
    let t0 = flat_id(wid, nwg, lid);
    if (t0 >= total) { return; }
    var t = t0;
    let g = t % gb; t = t / gb;
    let r = t % s; t = t / s;
    let iy = t % P.h; t = t / P.h;
    let n = t % P.n;
    let ci0 = (t / P.n) * 4u;
    let m0 = i32(g * 4u);
    let ksz = P.kh * P.kw;
    let c0 = min(ci0, P.cin - 1u) * ksz;
    let c1 = min(ci0 + 1u, P.cin - 1u) * ksz;
    let c2 = min(ci0 + 2u, P.cin - 1u) * ksz;
    let c3 = min(ci0 + 3u, P.cin - 1u) * ksz;
    let kx0 = (r + P.pad) % s;
    let ky0 = (iy + P.pad) % s;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    for (var co = 0u; co < P.cout; co++) {
        let dplane = (n * P.cout + co) * P.oh;
        let wco = co * P.cin * ksz;
        for (var ky = ky0; ky < P.kh; ky += s) {
            let qy = i32(iy + P.pad) - i32(ky);
            if (qy < 0) { break; }
            let oy = u32(qy) / s;
            if (oy >= P.oh) { continue; }
            let drow = (dplane + oy) * P.ow;
            for (var kx = kx0; kx < P.kw; kx += s) {
                // ox = (r + P - kx) / S + m, exact since r + P - kx is a multiple of S
                let ox = (i32(r + P.pad) - i32(kx)) / i32(s) + m0;
                let dv = vec4<f32>(load_in0(drow, ox, P.ow), load_in0(drow, ox + 1, P.ow),
                                   load_in0(drow, ox + 2, P.ow), load_in0(drow, ox + 3, P.ow));
                let k = wco + ky * P.kw + kx;
                a0 += dv * in1[k + c0];
                a1 += dv * in1[k + c1];
                a2 += dv * in1[k + c2];
                a3 += dv * in1[k + c3];
            }
        }
    }
    let plane = P.h * P.w;
    let rowbase = (n * P.cin + ci0) * plane + iy * P.w;
    for (var j = 0u; j < 4u; j++) {
        let ix = r + s * (g * 4u + j);
        let px = ix < P.w;
        let b = rowbase + select(0u, ix, px);
        store4(b, px && ci0 < P.cin, a0[j]);
        store4(b + plane, px && ci0 + 1u < P.cin, a1[j]);
        store4(b + 2u * plane, px && ci0 + 2u < P.cin, a2[j]);
        store4(b + 3u * plane, px && ci0 + 3u < P.cin, a3[j]);
    }
}

// dw[co, ci, ky, kx] (+)= sum over (n, oy, ox) of dy[n, co, oy, ox] * x[n, ci, oy*S - P + ky, ox*S - P + kx].
// An invocation takes 4 output channels x 4 consecutive flat (ci, ky, kx) taps.
@compute @workgroup_size(WG)
fn conv_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let ksz = P.kh * P.kw;
    let kf_n = P.cin * ksz;
    let kb_n = (kf_n + 3u) / 4u;
    let total = ((P.cout + 3u) / 4u) * kb_n;
    let t0 = flat_id(wid, nwg, lid);
    if (t0 >= total) { return; }
    let kf0 = (t0 % kb_n) * 4u;
    let co0 = (t0 / kb_n) * 4u;
    // Decode the 4 taps once; a tap past the end repeats the last one and is masked at the store.
    var tci: array<u32, 4>; var tky: array<i32, 4>; var tkx: array<i32, 4>;
    for (var j = 0u; j < 4u; j++) {
        let kf = min(kf0 + j, kf_n - 1u);
        tci[j] = kf / ksz;
        tky[j] = i32((kf % ksz) / P.kw) - i32(P.pad);
        tkx[j] = i32(kf % P.kw) - i32(P.pad);
    }
    let oplane = P.oh * P.ow;
    let xplane = P.h * P.w;
    let cstep0 = min(co0, P.cout - 1u) * oplane;
    let cstep1 = min(co0 + 1u, P.cout - 1u) * oplane;
    let cstep2 = min(co0 + 2u, P.cout - 1u) * oplane;
    let cstep3 = min(co0 + 3u, P.cout - 1u) * oplane;
    let hh = i32(P.h);
    let ww = i32(P.w);
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    for (var n = 0u; n < P.n; n++) {
        let dbase = n * P.cout * oplane;
        let xb0 = (n * P.cin + tci[0]) * xplane;
        let xb1 = (n * P.cin + tci[1]) * xplane;
        let xb2 = (n * P.cin + tci[2]) * xplane;
        let xb3 = (n * P.cin + tci[3]) * xplane;
        for (var oy = 0u; oy < P.oh; oy++) {
            let ys = i32(oy * P.stride);
            let y0 = ys + tky[0]; let y1 = ys + tky[1]; let y2 = ys + tky[2]; let y3 = ys + tky[3];
            let v0 = y0 >= 0 && y0 < hh; let v1 = y1 >= 0 && y1 < hh;
            let v2 = y2 >= 0 && y2 < hh; let v3 = y3 >= 0 && y3 < hh;
            let r0 = xb0 + u32(clamp(y0, 0, hh - 1)) * P.w;
            let r1 = xb1 + u32(clamp(y1, 0, hh - 1)) * P.w;
            let r2 = xb2 + u32(clamp(y2, 0, hh - 1)) * P.w;
            let r3 = xb3 + u32(clamp(y3, 0, hh - 1)) * P.w;
            let drow = dbase + oy * P.ow;
            for (var ox = 0u; ox < P.ow; ox++) {
                let xs = i32(ox * P.stride);
                let x0 = xs + tkx[0]; let x1 = xs + tkx[1]; let x2 = xs + tkx[2]; let x3 = xs + tkx[3];
                let xv = vec4<f32>(
                    select(0.0, in0[r0 + u32(clamp(x0, 0, ww - 1))], v0 && x0 >= 0 && x0 < ww),
                    select(0.0, in0[r1 + u32(clamp(x1, 0, ww - 1))], v1 && x1 >= 0 && x1 < ww),
                    select(0.0, in0[r2 + u32(clamp(x2, 0, ww - 1))], v2 && x2 >= 0 && x2 < ww),
                    select(0.0, in0[r3 + u32(clamp(x3, 0, ww - 1))], v3 && x3 >= 0 && x3 < ww));
                let d = drow + ox;
                a0 += xv * in1[d + cstep0];
                a1 += xv * in1[d + cstep1];
                a2 += xv * in1[d + cstep2];
                a3 += xv * in1[d + cstep3];
            }
        }
    }
    let wbase = co0 * kf_n + kf0;
    for (var j = 0u; j < 4u; j++) {
        let kv = kf0 + j < kf_n;
        store4(wbase + j, kv && co0 < P.cout, a0[j]);
        store4(wbase + kf_n + j, kv && co0 + 1u < P.cout, a1[j]);
        store4(wbase + 2u * kf_n + j, kv && co0 + 2u < P.cout, a2[j]);
        store4(wbase + 3u * kf_n + j, kv && co0 + 3u < P.cout, a3[j]);
    }
}
