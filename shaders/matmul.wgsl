// Strided matrix product for linear layers: C (+)= A B (+ bias), where A and B are read through
// strides so transposes cost nothing:  A[i, k] = a[i * sa_m + k * sa_k],  B[k, j] = b[k * sb_k + j * sb_n].
//   linear forward      y  = x W^T + b   (A = x, B = W^T)
//   linear input-grad   dx = dy W        (A = dy, B = W)
//   linear weight-grad  dW (+)= dy^T x   (A = dy^T, B = x)
// Each invocation computes a 4 x 4 block of C with vec4 accumulators, no barriers.

struct MatmulParams {
    m: u32, n: u32, k: u32, has_bias: u32,
    sa_m: u32, sa_k: u32, sb_k: u32, sb_n: u32,
    accumulate: u32, _p0: u32, _p1: u32, _p2: u32,
};

@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;         // (M, K) through strides
@group(0) @binding(2) var<storage, read> b: array<f32>;         // (K, N) through strides
@group(0) @binding(3) var<storage, read> bias: array<f32>;      // (N) read when has_bias = 1
@group(0) @binding(4) var<storage, read_write> c: array<f32>;   // (M, N) row-major

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let nb = (P.n + 3u) / 4u;
    let total = ((P.m + 3u) / 4u) * nb;
    let t = flat_id(wid, nwg, lid);
    if (t >= total) { return; }
    let j0 = (t % nb) * 4u;
    let i0 = (t / nb) * 4u;
    let r0 = min(i0, P.m - 1u) * P.sa_m;
    let r1 = min(i0 + 1u, P.m - 1u) * P.sa_m;
    let r2 = min(i0 + 2u, P.m - 1u) * P.sa_m;
    let r3 = min(i0 + 3u, P.m - 1u) * P.sa_m;
    let q0 = min(j0, P.n - 1u) * P.sb_n;
    let q1 = min(j0 + 1u, P.n - 1u) * P.sb_n;
    let q2 = min(j0 + 2u, P.n - 1u) * P.sb_n;
    let q3 = min(j0 + 3u, P.n - 1u) * P.sb_n;
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < P.k; kk++) {
        let kb = kk * P.sb_k;
        let bv = vec4<f32>(b[kb + q0], b[kb + q1], b[kb + q2], b[kb + q3]);
        let ka = kk * P.sa_k;
        c0 += a[r0 + ka] * bv;
        c1 += a[r1 + ka] * bv;
        c2 += a[r2 + ka] * bv;
        c3 += a[r3 + ka] * bv;
    }
    var bb = vec4<f32>(0.0);
    if (P.has_bias != 0u) {
        bb = vec4<f32>(bias[min(j0, P.n - 1u)], bias[min(j0 + 1u, P.n - 1u)],
                       bias[min(j0 + 2u, P.n - 1u)], bias[min(j0 + 3u, P.n - 1u)]);
    }
    let acc = P.accumulate != 0u;
    for (var j = 0u; j < 4u; j++) {
        if (j0 + j >= P.n) { break; }
        let col = j0 + j;
        if (i0 < P.m) { let o = i0 * P.n + col; c[o] = select(0.0, c[o], acc) + c0[j] + bb[j]; }
        if (i0 + 1u < P.m) { let o = (i0 + 1u) * P.n + col; c[o] = select(0.0, c[o], acc) + c1[j] + bb[j]; }
        if (i0 + 2u < P.m) { let o = (i0 + 2u) * P.n + col; c[o] = select(0.0, c[o], acc) + c2[j] + bb[j]; }
        if (i0 + 3u < P.m) { let o = (i0 + 3u) * P.n + col; c[o] = select(0.0, c[o], acc) + c3[j] + bb[j]; }
    }
}

// Column sums, for bias gradients: out[j] (+)= sum_i src[i * N + j].
@group(0) @binding(5) var<storage, read> src: array<f32>;       // (M, N)
@group(0) @binding(6) var<storage, read_write> colsum: array<f32>; // (N)

@compute @workgroup_size(WG)
fn sum_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let j = flat_id(wid, nwg, lid);
    if (j >= P.n) { return; }
    var s = 0.0;
    for (var i = 0u; i < P.m; i++) { s += src[i * P.n + j]; }
    colsum[j] = select(0.0, colsum[j], P.accumulate != 0u) + s;
}
