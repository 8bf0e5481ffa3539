// Batch norm 2d fused with the activation that follows it (none / ReLU / LeakyReLU).
// One workgroup per channel: statistics, normalisation and activation in one dispatch.
// Training mode uses batch statistics (biased variance to normalise, unbiased to update the
// running variance, as PyTorch does); eval mode uses the running statistics.

struct BnParams {
    n: u32, c: u32, hw: u32, train: u32,
    eps: f32, momentum: f32, act: u32, slope: f32,
    accumulate: u32, param_grad: u32, _p0: u32, _p1: u32,
};

const RED: u32 = 64u;

@group(0) @binding(0) var<uniform> P: BnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (N, C, HW) pre-norm input
@group(0) @binding(2) var<storage, read> affine: array<f32>;       // (2, C): gamma then beta
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (N, C, HW) forward: output; backward: dy
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;  // (2, C) running mean, running var
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;  // (2, C) batch mean, 1/sqrt(var+eps)

var<workgroup> red_a: array<f32, RED>;
var<workgroup> red_b: array<f32, RED>;

// A lane walks the channel's N x HW values with stride RED as (image, position) = (.x, .y),
// stepping without a division per value: integer division by a runtime value is a scalar loop
// over the lanes on a CPU adapter.
fn first_pos(lid: u32) -> vec2<u32> {
    return vec2<u32>(lid / P.hw, lid % P.hw);
}

fn next_pos(p: vec2<u32>) -> vec2<u32> {
    var q = p + vec2<u32>(RED / P.hw, RED % P.hw);
    if (q.y >= P.hw) { q = q + vec2<u32>(1u, 0u) - vec2<u32>(0u, P.hw); }
    return q;
}

fn elem(p: vec2<u32>, ch: u32) -> u32 {
    return (p.x * P.c + ch) * P.hw + p.y;
}

fn reduce2(lid: u32) {
    for (var off = RED / 2u; off > 0u; off = off / 2u) {
        workgroupBarrier();
        if (lid < off) {
            red_a[lid] += red_a[lid + off];
            red_b[lid] += red_b[lid + off];
        }
    }
    workgroupBarrier();
}

fn activate(v: f32) -> f32 {
    return act_apply(P.act, P.slope, v);
}

@compute @workgroup_size(64)
fn bn_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let m = P.n * P.hw;
    var mean: f32;
    var invstd: f32;
    if (P.train != 0u) {
        var s = 0.0;
        var p = first_pos(lid);
        for (var i = lid; i < m; i += RED) { s += x[elem(p, ch)]; p = next_pos(p); }
        red_a[lid] = s;
        red_b[lid] = 0.0;
        reduce2(lid);
        mean = red_a[0] / f32(m);
        workgroupBarrier();
        // Second pass on centred values: stable where sum-of-squares is not.
        var q = 0.0;
        p = first_pos(lid);
        for (var i = lid; i < m; i += RED) { let d = x[elem(p, ch)] - mean; q += d * d; p = next_pos(p); }
        red_a[lid] = 0.0;
        red_b[lid] = q;
        reduce2(lid);
        let var_b = red_b[0] / f32(m);
        invstd = inverseSqrt(var_b + P.eps);
        if (lid == 0u) {
            let var_u = red_b[0] / f32(max(m, 2u) - 1u);
            stats[ch] = (1.0 - P.momentum) * stats[ch] + P.momentum * mean;
            stats[P.c + ch] = (1.0 - P.momentum) * stats[P.c + ch] + P.momentum * var_u;
            saved[ch] = mean;
            saved[P.c + ch] = invstd;
        }
    } else {
        mean = stats[ch];
        invstd = inverseSqrt(stats[P.c + ch] + P.eps);
    }
    let g = affine[ch] * invstd;
    let b = affine[P.c + ch] - mean * g;
    var p = first_pos(lid);
    for (var i = lid; i < m; i += RED) {
        let e = elem(p, ch);
        y[e] = activate(x[e] * g + b);
        p = next_pos(p);
    }
}

// Backward of y = act(gamma * xhat + beta) in training mode. Reads the forward output `fwd_out`
// (the activation's derivative is a function of it) and dy in `y`; writes dx and, unless
// param_grad is 0 (a frozen network), d gamma and d beta.
@group(0) @binding(6) var<storage, read> fwd_out: array<f32>;     // (N, C, HW) forward output
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;    // (N, C, HW)
@group(0) @binding(8) var<storage, read_write> daffine: array<f32>; // (2, C) d gamma, d beta

fn act_grad(out_v: f32) -> f32 {
    return act_derivative_from_output(P.act, P.slope, out_v);
}

@compute @workgroup_size(64)
fn bn_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let m = P.n * P.hw;
    let mean = saved[ch];
    let invstd = saved[P.c + ch];
    var sdz = 0.0;
    var sdzx = 0.0;
    var p = first_pos(lid);
    for (var i = lid; i < m; i += RED) {
        let e = elem(p, ch);
        let dz = y[e] * act_grad(fwd_out[e]);
        sdz += dz;
        sdzx += dz * (x[e] - mean) * invstd;
        p = next_pos(p);
    }
    red_a[lid] = sdz;
    red_b[lid] = sdzx;
    reduce2(lid);
    let dbeta = red_a[0];
    let dgamma = red_b[0];
    if (lid == 0u && P.param_grad != 0u) {
        let acc = P.accumulate != 0u;
        daffine[ch] = select(0.0, daffine[ch], acc) + dgamma;
        daffine[P.c + ch] = select(0.0, daffine[P.c + ch], acc) + dbeta;
    }
    let k = affine[ch] * invstd / f32(m);
    let fm = f32(m);
    p = first_pos(lid);
    for (var i = lid; i < m; i += RED) {
        let e = elem(p, ch);
        let dz = y[e] * act_grad(fwd_out[e]);
        let xhat = (x[e] - mean) * invstd;
        dx[e] = k * (fm * dz - dbeta - xhat * dgamma);
        p = next_pos(p);
    }
}
