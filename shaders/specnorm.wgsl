// Spectral normalisation (Miyato et al.), as torch.nn.utils.spectral_norm does it: one power
// iteration per use refines the persistent estimate u of W's top left singular vector, and the
// layer uses W / sigma with sigma = u^T W v. One workgroup per weight: the reductions are global
// over the weight, and a weight is small next to the convolutions that use it.

struct SnParams {
    rows: u32, cols: u32, eps: f32, _p: u32,
};

const SN_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> P: SnParams;
@group(0) @binding(1) var<storage, read> w: array<f32>;          // (rows, cols) the weight, rows = out channels
@group(0) @binding(2) var<storage, read_write> state: array<f32>; // [u (rows) | v (cols) | sigma]
@group(0) @binding(3) var<storage, read_write> w_sn: array<f32>;  // (rows, cols) W / sigma

// The sum of x over the workgroup (common.wgsl's reduction), returned to every lane.
fn reduce_sum(lid: u32, x: f32) -> f32 {
    red_a[lid] = x;
    red_b[lid] = 0.0;
    tree_reduce2(lid, SN_WG);
    let total = red_a[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn sn_power(@builtin(local_invocation_index) lid: u32) {
    let v0 = P.rows;
    // v = normalize(W^T u)
    var sq = 0.0;
    for (var k = lid; k < P.cols; k += SN_WG) {
        var t = 0.0;
        for (var i = 0u; i < P.rows; i++) { t += w[i * P.cols + k] * state[i]; }
        state[v0 + k] = t;
        sq += t * t;
    }
    let nv = max(sqrt(reduce_sum(lid, sq)), P.eps);
    storageBarrier();
    for (var k = lid; k < P.cols; k += SN_WG) { state[v0 + k] = state[v0 + k] / nv; }
    storageBarrier();
    workgroupBarrier();
    // u = normalize(W v); sigma = u^T W v = |W v|
    var sq2 = 0.0;
    for (var i = lid; i < P.rows; i += SN_WG) {
        var s = 0.0;
        for (var k = 0u; k < P.cols; k++) { s += w[i * P.cols + k] * state[v0 + k]; }
        state[i] = s;
        sq2 += s * s;
    }
    let ns = sqrt(reduce_sum(lid, sq2));
    let nu = max(ns, P.eps);
    let sigma = ns * ns / nu;
    storageBarrier();
    for (var i = lid; i < P.rows; i += SN_WG) { state[i] = state[i] / nu; }
    if (lid == 0u) { state[v0 + P.cols] = sigma; }
    for (var j = lid; j < P.rows * P.cols; j += SN_WG) { w_sn[j] = w[j] / sigma; }
}

// dW = (dW_sn - <dW_sn, W_sn> u v^T) / sigma: the gradient through W / sigma(W) with u, v held
// constant (what autograd computes through torch's spectral_norm).
@group(0) @binding(4) var<storage, read> sn_state: array<f32>;   // [u | v | sigma] after sn_power
@group(0) @binding(5) var<storage, read> w_sn_in: array<f32>;    // (rows, cols) W / sigma
@group(0) @binding(6) var<storage, read> dw_sn: array<f32>;      // (rows, cols) gradient w.r.t. W / sigma
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;   // (rows, cols) gradient w.r.t. W

@compute @workgroup_size(256)
fn sn_backward(@builtin(local_invocation_index) lid: u32) {
    let n = P.rows * P.cols;
    var c = 0.0;
    for (var j = lid; j < n; j += SN_WG) { c += dw_sn[j] * w_sn_in[j]; }
    let dot = reduce_sum(lid, c);
    let sigma = sn_state[P.rows + P.cols];
    for (var j = lid; j < n; j += SN_WG) {
        let i = j / P.cols;
        let k = j % P.cols;
        dw[j] = (dw_sn[j] - dot * sn_state[i] * sn_state[P.rows + k]) / sigma;
    }
}
