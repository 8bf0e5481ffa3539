// Layout kernels that turn every convolution pass into one gemm_nt (gemm.wgsl). All in the
// geometry of a convolution: x (N, Cin, H, W), w (Cout, K = Cin*KH*KW), y (N, Cout, OH, OW),
// P = N*OH*OW output pixels. Padded lanes (up to `ld`) are written as zeros so the GEMM can read
// whole vec4s.

struct LayoutParams {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, oh: u32, ow: u32, kh: u32,
    kw: u32, stride: u32, pad: u32, ld: u32,
    // pack_*: source viewed as (rows = images, c, pix)
    c: u32, pix: u32, _p0: u32, _p1: u32,
};

@group(0) @binding(0) var<uniform> P: LayoutParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// x value at image n, channel ci, tap k of output pixel (oy, ox); zero in the padding.
fn x_tap(n: u32, oy: u32, ox: u32, k: u32) -> f32 {
    let ksz = P.kh * P.kw;
    let ci = k / ksz;
    let ky = (k % ksz) / P.kw;
    let kx = k % P.kw;
    let iy = i32(oy * P.stride + ky) - i32(P.pad);
    let ix = i32(ox * P.stride + kx) - i32(P.pad);
    let ok = iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w);
    let idx = ((n * P.cin + ci) * P.h + u32(clamp(iy, 0, i32(P.h) - 1))) * P.w + u32(clamp(ix, 0, i32(P.w) - 1));
    return select(0.0, src[idx], ok);
}

// col (P, ld): col[p, k] = x tap k of pixel p (forward: y = w col^T).
@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let plane = P.oh * P.ow;
    let total = P.n * plane * P.ld;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let k = i % P.ld;
    let p = i / P.ld;
    let kk = P.cin * P.kh * P.kw;
    var v = 0.0;
    if (k < kk) {
        let q = p % plane;
        v = x_tap(p / plane, q / P.ow, q % P.ow, k);
    }
    dst[i] = v;
}

// colT (K, ld): colT[k, p] = x tap k of pixel p (weight-gradient: dw = dy colT^T).
@compute @workgroup_size(WG)
fn im2col_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let plane = P.oh * P.ow;
    let kk = P.cin * P.kh * P.kw;
    let total = kk * P.ld;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let p = i % P.ld;
    let k = i / P.ld;
    var v = 0.0;
    if (p < P.n * plane) {
        let q = p % plane;
        v = x_tap(p / plane, q / P.ow, q % P.ow, k);
    }
    dst[i] = v;
}

// dx (N, Cin, H, W) from dcol (P, ld): the sum over every (pixel, tap) pair that read x[n, ci, iy, ix].
@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let total = P.n * P.cin * P.h * P.w;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let ix = i % P.w;
    let iy = (i / P.w) % P.h;
    let ci = (i / (P.w * P.h)) % P.cin;
    let n = i / (P.w * P.h * P.cin);
    let s = P.stride;
    let ksz = P.kh * P.kw;
    var acc = 0.0;
    // taps with (iy + pad - ky) divisible by the stride
    for (var ky = (iy + P.pad) % s; ky < P.kh; ky += s) {
        let qy = i32(iy + P.pad) - i32(ky);
        if (qy < 0) { break; }
        let oy = u32(qy) / s;
        if (oy >= P.oh) { continue; }
        for (var kx = (ix + P.pad) % s; kx < P.kw; kx += s) {
            let qx = i32(ix + P.pad) - i32(kx);
            if (qx < 0) { break; }
            let ox = u32(qx) / s;
            if (ox >= P.ow) { continue; }
            let p = (n * P.oh + oy) * P.ow + ox;
            acc += src[p * P.ld + ci * ksz + ky * P.kw + kx];
        }
    }
    dst[i] = acc;
}

// (rows, C, pix) -> (rows * pix, ld): channel becomes the contiguous axis (dy for the input-gradient;
// with rows = 1 also transposes a weight (C, pix) to (pix, ld)).
@compute @workgroup_size(WG)
fn pack_pc(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let total = P.n * P.pix * P.ld;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let c = i % P.ld;
    let q = (i / P.ld) % P.pix;
    let r = i / (P.ld * P.pix);
    var v = 0.0;
    if (c < P.c) { v = src[(r * P.c + c) * P.pix + q]; }
    dst[i] = v;
}

// (rows, C, pix) -> (C, ld) with rows * pix columns: pixels of all images contiguous per channel
// (dy for the weight-gradient).
@compute @workgroup_size(WG)
fn pack_cp(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let total = P.c * P.ld;
    let i = flat_id(wid, nwg, lid);
    if (i >= total) { return; }
    let p = i % P.ld;
    let c = i / P.ld;
    var v = 0.0;
    if (p < P.n * P.pix) { v = src[((p / P.pix) * P.c + c) * P.pix + p % P.pix]; }
    dst[i] = v;
}
