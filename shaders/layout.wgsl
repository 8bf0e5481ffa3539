// Layout kernels that turn every convolution pass into one gemm_nt (gemm.wgsl). All in the
// geometry of a convolution: x (N, Cin, H, W), w (Cout, K = Cin*KH*KW), y (N, Cout, OH, OW),
// P = N*OH*OW output pixels. Padded lanes (up to `ld`) are written as zeros so the GEMM can read
// whole vec4s.

// The geometry arrives as pipeline-override constants (each layer's pass gets its own pipeline),
// so every division and modulo below is by a constant: integer division by a runtime value is a
// scalar loop per lane on CPU adapters.
override L_N: u32 = 1u;
override L_CIN: u32 = 1u;
override L_H: u32 = 1u;
override L_W: u32 = 1u;
override L_COUT: u32 = 1u;
override L_OH: u32 = 1u;
override L_OW: u32 = 1u;
override L_KH: u32 = 1u;
override L_KW: u32 = 1u;
override L_STRIDE: u32 = 1u;
override L_PAD: u32 = 0u;
override L_LD: u32 = 1u;
// pack_*: source viewed as (rows = images, c, pix)
override L_C: u32 = 1u;
override L_PIX: u32 = 1u;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// x value at image n, channel ci, tap k of output pixel (oy, ox); zero in the padding.
fn x_tap(n: u32, oy: u32, ox: u32, k: u32) -> f32 {
    let ksz = L_KH * L_KW;
    let ci = k / ksz;
    let ky = (k % ksz) / L_KW;
    let kx = k % L_KW;
    let iy = i32(oy * L_STRIDE + ky) - i32(L_PAD);
    let ix = i32(ox * L_STRIDE + kx) - i32(L_PAD);
    let ok = iy >= 0 && iy < i32(L_H) && ix >= 0 && ix < i32(L_W);
    let idx = ((n * L_CIN + ci) * L_H + u32(clamp(iy, 0, i32(L_H) - 1))) * L_W + u32(clamp(ix, 0, i32(L_W) - 1));
    return select(0.0, src[idx], ok);
}

// col (P, ld): col[p, k] = x tap k of pixel p (forward: y = w col^T).
@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let plane = L_OH * L_OW;
    let total = L_N * plane * L_LD;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let k = i % L_LD;
    let p = i / L_LD;
    let kk = L_CIN * L_KH * L_KW;
    var v = 0.0;
    if (k < kk) {
        let q = p % plane;
        v = x_tap(p / plane, q / L_OW, q % L_OW, k);
    }
    dst[i] = v;
}

// colT (K, ld): colT[k, p] = x tap k of pixel p (weight-gradient: dw = dy colT^T).
@compute @workgroup_size(WG)
fn im2col_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let plane = L_OH * L_OW;
    let kk = L_CIN * L_KH * L_KW;
    let total = kk * L_LD;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let p = i % L_LD;
    let k = i / L_LD;
    var v = 0.0;
    if (p < L_N * plane) {
        let q = p % plane;
        v = x_tap(p / plane, q / L_OW, q % L_OW, k);
    }
    dst[i] = v;
}

// dx (N, Cin, H, W) from dcol (P, ld): the sum over every (pixel, tap) pair that read x[n, ci, iy, ix].
@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let total = L_N * L_CIN * L_H * L_W;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let ix = i % L_W;
    let iy = (i / L_W) % L_H;
    let ci = (i / (L_W * L_H)) % L_CIN;
    let n = i / (L_W * L_H * L_CIN);
    let s = L_STRIDE;
    let ksz = L_KH * L_KW;
    var acc = 0.0;
    // taps with (iy + pad - ky) divisible by the stride
    for (var ky = (iy + L_PAD) % s; ky < L_KH; ky += s) {
        let qy = i32(iy + L_PAD) - i32(ky);
        if (qy < 0) { break; }
        let oy = u32(qy) / s;
        if (oy >= L_OH) { continue; }
        for (var kx = (ix + L_PAD) % s; kx < L_KW; kx += s) {
            let qx = i32(ix + L_PAD) - i32(kx);
            if (qx < 0) { break; }
            let ox = u32(qx) / s;
            if (ox >= L_OW) { continue; }
            let p = (n * L_OH + oy) * L_OW + ox;
            acc += src[p * L_LD + ci * ksz + ky * L_KW + kx];
        }
    }
    dst[i] = acc;
}

// (rows, C, pix) -> (rows * pix, ld): channel becomes the contiguous axis (dy for the input-gradient;
// with rows = 1 also transposes a weight (C, pix) to (pix, ld)).
@compute @workgroup_size(WG)
fn pack_pc(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let total = L_N * L_PIX * L_LD;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let c = i % L_LD;
    let q = (i / L_LD) % L_PIX;
    let r = i / (L_LD * L_PIX);
    var v = 0.0;
    if (c < L_C) { v = src[(r * L_C + c) * L_PIX + q]; }
    dst[i] = v;
}

// (rows, C, pix) -> (C, ld) with rows * pix columns: pixels of all images contiguous per channel
// (dy for the weight-gradient).
@compute @workgroup_size(WG)
fn pack_cp(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let total = L_C * L_LD;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let p = i % L_LD;
    let c = i / L_LD;
    var v = 0.0;
    if (p < L_N * L_PIX) { v = src[((p / L_PIX) * L_C + c) * L_PIX + p % L_PIX]; }
    dst[i] = v;
}
