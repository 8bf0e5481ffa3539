// Batch norm 2d fused with the activation that follows it (none / ReLU / LeakyReLU).
// One workgroup per channel: statistics, normalisation and activation in one dispatch.
// Training mode uses batch statistics (biased variance to normalise, unbiased to update the
// running variance, as PyTorch does); eval mode uses the running statistics.
//
// Statistics in one pass over the data: sums of d = x - K and d^2, with K the channel's first
// value, so the variance (S2 - S1^2 / m) / m does not cancel catastrophically when the mean is far
// from zero (its relative rounding error grows with (mean - K)^2 / var, not mean^2 / var).
//
// Two variants of each pass. bn_forward / bn_backward read value by value. The `_v` entry points
// read aligned vec4 chunks (a vec4 load costs about half of four scalar ones on CPU adapters,
// where loads set the speed) when the tensors hold a multiple of 4 values: a channel's plane in
// image n starts anywhere, so a lane walks (image, chunk) pairs and masks the values outside the
// plane. They write whole vec4s when HW % 4 == 0 (planes then start on a chunk: `_vv`), otherwise
// the plane's values one by one.
//
// The `_parts` forward entry points skip the statistics pass: the convolution that wrote x left
// per-channel partial statistics (count, mean, M2 of groups of its outputs; conv.wgsl's BN_STATS)
// and they merge those instead of reading x once more.

struct BnParams {
    n: u32, c: u32, hw: u32, train: u32,
    eps: f32, momentum: f32, act: u32, slope: f32,
    accumulate: u32, param_grad: u32, parts: u32, _p1: u32,
};

const RED: u32 = 64u;

@group(0) @binding(0) var<uniform> P: BnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (N, C, HW) pre-norm input
@group(0) @binding(2) var<storage, read> affine: array<f32>;       // (2, C): gamma then beta
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (N, C, HW) forward: output; backward (scalar): dy
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;  // (2, C) running mean, running var
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;  // (2, C) batch mean, 1/sqrt(var+eps)
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;     // (N, C, HW) input gradient
@group(0) @binding(8) var<storage, read_write> daffine: array<f32>; // (2, C) d gamma, d beta
@group(0) @binding(9) var<storage, read> x4: array<vec4<f32>>;      // binding 1 as (N C HW / 4) chunks
@group(0) @binding(10) var<storage, read_write> y4: array<vec4<f32>>; // forward output as chunks (_vv)
@group(0) @binding(11) var<storage, read> dy4: array<vec4<f32>>;     // backward dy as chunks
@group(0) @binding(13) var<storage, read_write> dx4: array<vec4<f32>>; // input gradient as chunks (_vv)
@group(0) @binding(14) var<storage, read> parts: array<vec4<f32>>;  // (C, P.parts): count, mean, M2, 0 of groups of x (_parts)

// red_a, red_b: common.wgsl's reduction arrays
var<workgroup> red_c: array<f32, RED>;

// A lane walks its share of the channel, RED items apart, as (image, position) = (.x, .y) with
// `per` items per image (positions: values, or vec4 chunks), stepping without a division per
// item: integer division by a runtime value is a scalar loop over the lanes on a CPU adapter.
fn first_pos(lid: u32, per: u32) -> vec2<u32> {
    return vec2<u32>(lid / per, lid % per);
}

fn next_pos(p: vec2<u32>, per: u32) -> vec2<u32> {
    var q = p + vec2<u32>(RED / per, RED % per);
    if (q.y >= per) { q = q + vec2<u32>(1u, 0u) - vec2<u32>(0u, per); }
    return q;
}

fn elem(p: vec2<u32>, ch: u32) -> u32 {
    return (p.x * P.c + ch) * P.hw + p.y;
}

// Chunks per plane: HW / 4 when planes start on a chunk, else enough for any alignment.
fn chunks_per_plane() -> u32 {
    return select((P.hw + 6u) / 4u, P.hw / 4u, P.hw % 4u == 0u);
}

// Chunk p.y of image p.x's plane of channel ch: its index and which components lie in the plane.
struct Chunk { i: u32, ok: vec4<bool> };

fn chunk(p: vec2<u32>, ch: u32) -> Chunk {
    let s = (p.x * P.c + ch) * P.hw;
    let i = s / 4u + p.y;
    let e = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
    return Chunk(i, (e >= vec4<u32>(s)) & (e < vec4<u32>(s + P.hw)));
}

fn reduce2(lid: u32) {
    tree_reduce2(lid, RED);
}

fn activate(v: f32) -> f32 {
    return act_apply(P.act, P.slope, v);
}

fn activate4(v: vec4<f32>) -> vec4<f32> {
    switch P.act {
        case ACT_RELU: { return max(v, vec4<f32>(0.0)); }
        case ACT_LEAKY_RELU: { return select(v * P.slope, v, v > vec4<f32>(0.0)); }
        default: { return v; }
    }
}

// The channel's mean and M2 (sum of squared deviations) from the reduced shifted sums in
// red_a[0], red_b[0] of d = x - k.
fn shifted_stats(k: f32) -> vec2<f32> {
    let m = f32(P.n * P.hw);
    let s1 = red_a[0];
    return vec2<f32>(k + s1 / m, max(red_b[0] - s1 * s1 / m, 0.0));
}

// The channel's mean and M2 from the partial statistics in `parts`. Means are merged relative to
// the first partial's (k), so their updates round at the scale of the spread, not of the mean.
fn merged_stats(ch: u32, lid: u32) -> vec2<f32> {
    let k = parts[ch * P.parts].y;
    var t = vec3<f32>(0.0);
    for (var i = lid; i < P.parts; i += RED) {
        t = merge_stats(t, parts[ch * P.parts + i].xyz - vec3<f32>(0.0, k, 0.0));
    }
    red_c[lid] = t.x;
    red_a[lid] = t.y;
    red_b[lid] = t.z;
    for (var off = RED / 2u; off > 0u; off = off / 2u) {
        workgroupBarrier();
        if (lid < off) {
            let u = merge_stats(vec3<f32>(red_c[lid], red_a[lid], red_b[lid]), vec3<f32>(red_c[lid + off], red_a[lid + off], red_b[lid + off]));
            red_c[lid] = u.x;
            red_a[lid] = u.y;
            red_b[lid] = u.z;
        }
    }
    workgroupBarrier();
    return vec2<f32>(k + red_a[0], red_b[0]);
}

// The channel's mean, scale g = gamma / std and beta (y = act((x - mean) g + beta): centred
// first, so a large mean does not cancel) from the batch's mean and M2 `st` (training) or the
// running statistics; lane 0 records the batch statistics.
fn scale_shift(ch: u32, lid: u32, st: vec2<f32>) -> vec3<f32> {
    var mean: f32;
    var invstd: f32;
    let m = P.n * P.hw;
    if (P.train != 0u) {
        let ss = st.y;
        mean = st.x;
        invstd = inverseSqrt(ss / f32(m) + P.eps);
        if (lid == 0u) {
            let var_u = ss / f32(max(m, 2u) - 1u);
            stats[ch] = (1.0 - P.momentum) * stats[ch] + P.momentum * mean;
            stats[P.c + ch] = (1.0 - P.momentum) * stats[P.c + ch] + P.momentum * var_u;
            saved[ch] = mean;
            saved[P.c + ch] = invstd;
        }
    } else {
        mean = stats[ch];
        invstd = inverseSqrt(stats[P.c + ch] + P.eps);
    }
    return vec3<f32>(mean, affine[ch] * invstd, affine[P.c + ch]);
}

// The batch's mean and M2 from one pass over the channel (training; unused otherwise).
fn own_stats(ch: u32, lid: u32) -> vec2<f32> {
    let m = P.n * P.hw;
    let k = x[ch * P.hw];
    if (P.train != 0u) {
        var s1 = 0.0;
        var s2 = 0.0;
        var p = first_pos(lid, P.hw);
        for (var i = lid; i < m; i += RED) { let d = x[elem(p, ch)] - k; s1 += d; s2 += d * d; p = next_pos(p, P.hw); }
        red_a[lid] = s1;
        red_b[lid] = s2;
        reduce2(lid);
    }
    return shifted_stats(k);
}

fn normalise(ch: u32, lid: u32, gb: vec3<f32>) {
    var p = first_pos(lid, P.hw);
    for (var i = lid; i < P.n * P.hw; i += RED) {
        let e = elem(p, ch);
        y[e] = activate((x[e] - gb.x) * gb.y + gb.z);
        p = next_pos(p, P.hw);
    }
}

@compute @workgroup_size(64)
fn bn_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise(wid.x, lid, scale_shift(wid.x, lid, own_stats(wid.x, lid)));
}

@compute @workgroup_size(64)
fn bn_forward_parts(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise(wid.x, lid, scale_shift(wid.x, lid, merged_stats(wid.x, lid)));
}

// The statistics pass of the vec4 forward entry points (training; unused otherwise).
fn own_stats4(ch: u32, lid: u32) -> vec2<f32> {
    let k = x4[ch * P.hw / 4u][ch * P.hw % 4u];
    if (P.train != 0u) {
        let per = chunks_per_plane();
        var s1 = vec4<f32>(0.0);
        var s2 = vec4<f32>(0.0);
        var p = first_pos(lid, per);
        for (var i = lid; i < P.n * per; i += RED) {
            let c = chunk(p, ch);
            let d = select(vec4<f32>(0.0), x4[c.i] - k, c.ok);
            s1 += d;
            s2 += d * d;
            p = next_pos(p, per);
        }
        red_a[lid] = dot(s1, vec4<f32>(1.0));
        red_b[lid] = dot(s2, vec4<f32>(1.0));
        reduce2(lid);
    }
    return shifted_stats(k);
}

// Normalises the channel's planes chunk by chunk, writing the values inside the plane one by one.
fn normalise_v(ch: u32, lid: u32, gb: vec3<f32>) {
    let per = chunks_per_plane();
    var p = first_pos(lid, per);
    for (var i = lid; i < P.n * per; i += RED) {
        let c = chunk(p, ch);
        let v = activate4((x4[c.i] - gb.x) * gb.y + gb.z);
        for (var j = 0u; j < 4u; j++) {
            if (c.ok[j]) { y[4u * c.i + j] = v[j]; }
        }
        p = next_pos(p, per);
    }
}

// The same when planes start on a chunk (HW % 4 == 0): whole chunks written.
fn normalise_vv(ch: u32, lid: u32, gb: vec3<f32>) {
    let per = P.hw / 4u;
    var p = first_pos(lid, per);
    for (var i = lid; i < P.n * per; i += RED) {
        let c = chunk(p, ch).i;
        y4[c] = activate4((x4[c] - gb.x) * gb.y + gb.z);
        p = next_pos(p, per);
    }
}

@compute @workgroup_size(64)
fn bn_forward_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise_v(wid.x, lid, scale_shift(wid.x, lid, own_stats4(wid.x, lid)));
}

@compute @workgroup_size(64)
fn bn_forward_vv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise_vv(wid.x, lid, scale_shift(wid.x, lid, own_stats4(wid.x, lid)));
}

@compute @workgroup_size(64)
fn bn_forward_parts_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise_v(wid.x, lid, scale_shift(wid.x, lid, merged_stats(wid.x, lid)));
}

@compute @workgroup_size(64)
fn bn_forward_parts_vv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    normalise_vv(wid.x, lid, scale_shift(wid.x, lid, merged_stats(wid.x, lid)));
}

// Backward of y = act(gamma * xhat + beta) in training mode. Reads x and dy; writes dx and,
// unless param_grad is 0 (a frozen network), d gamma and d beta. The activation's derivative
// (ReLU, LeakyReLU: the sign of its input) comes from its input z = (x - mean) g + beta, recomputed
// exactly as the forward pass computed it, rather than from the forward output: a multiply-add
// instead of a third tensor to load (loads set the speed on CPU adapters).

// The fused activations (none, ReLU, LeakyReLU) have derivatives that depend only on the sign,
// which their input z and their output share: common.wgsl's formula serves, given z.
fn act_grad(z: f32) -> f32 {
    return act_derivative_from_output(P.act, P.slope, z);
}

fn act_grad4(z: vec4<f32>) -> vec4<f32> {
    switch P.act {
        case ACT_RELU: { return select(vec4<f32>(0.0), vec4<f32>(1.0), z > vec4<f32>(0.0)); }
        case ACT_LEAKY_RELU: { return select(vec4<f32>(P.slope), vec4<f32>(1.0), z > vec4<f32>(0.0)); }
        default: { return vec4<f32>(1.0); }
    }
}

// What the backward passes need of a channel: its batch mean and 1/std, the forward pass's scale
// g = gamma / std and beta, and (after the reduction) the coefficients of dx.
struct Bwd { mean: f32, invstd: f32, g: f32, beta: f32, c: vec3<f32> };

fn bwd_of(ch: u32) -> Bwd {
    let invstd = saved[P.c + ch];
    return Bwd(saved[ch], invstd, affine[ch] * invstd, affine[P.c + ch], vec3<f32>(0.0));
}

// From the reduced sums of dz (red_a[0]) and dz xhat (red_b[0]): records d gamma, d beta (lane
// 0) and returns (k, dbeta, dgamma) of dx = k (m dz - dbeta - xhat dgamma).
fn backward_coefficients(ch: u32, lid: u32) -> vec3<f32> {
    let dbeta = red_a[0];
    let dgamma = red_b[0];
    if (lid == 0u && P.param_grad != 0u) {
        let acc = P.accumulate != 0u;
        daffine[ch] = select(0.0, daffine[ch], acc) + dgamma;
        daffine[P.c + ch] = select(0.0, daffine[P.c + ch], acc) + dbeta;
    }
    return vec3<f32>(affine[ch] * saved[P.c + ch] / f32(P.n * P.hw), dbeta, dgamma);
}

@compute @workgroup_size(64)
fn bn_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let m = P.n * P.hw;
    var b = bwd_of(ch);
    var sdz = 0.0;
    var sdzx = 0.0;
    var p = first_pos(lid, P.hw);
    for (var i = lid; i < m; i += RED) {
        let e = elem(p, ch);
        let d = x[e] - b.mean;
        let dz = y[e] * act_grad(d * b.g + b.beta);
        sdz += dz;
        sdzx += dz * d * b.invstd;
        p = next_pos(p, P.hw);
    }
    red_a[lid] = sdz;
    red_b[lid] = sdzx;
    reduce2(lid);
    let c = backward_coefficients(ch, lid);
    let fm = f32(m);
    p = first_pos(lid, P.hw);
    for (var i = lid; i < m; i += RED) {
        let e = elem(p, ch);
        let d = x[e] - b.mean;
        let dz = y[e] * act_grad(d * b.g + b.beta);
        dx[e] = c.x * (fm * dz - c.y - d * b.invstd * c.z);
        p = next_pos(p, P.hw);
    }
}

// The reduction pass of the vec4 backward entry points, and the coefficients it yields.
fn backward_sums4(ch: u32, lid: u32) -> Bwd {
    var b = bwd_of(ch);
    let per = chunks_per_plane();
    var sdz = vec4<f32>(0.0);
    var sdzx = vec4<f32>(0.0);
    var p = first_pos(lid, per);
    for (var i = lid; i < P.n * per; i += RED) {
        let c = chunk(p, ch);
        let d = x4[c.i] - b.mean;
        let dz = select(vec4<f32>(0.0), dy4[c.i] * act_grad4(d * b.g + b.beta), c.ok);
        sdz += dz;
        sdzx += dz * d * b.invstd;
        p = next_pos(p, per);
    }
    red_a[lid] = dot(sdz, vec4<f32>(1.0));
    red_b[lid] = dot(sdzx, vec4<f32>(1.0));
    reduce2(lid);
    b.c = backward_coefficients(ch, lid);
    return b;
}

// dx of chunk i
fn dx_chunk(i: u32, b: Bwd) -> vec4<f32> {
    let d = x4[i] - b.mean;
    let dz = dy4[i] * act_grad4(d * b.g + b.beta);
    return b.c.x * (f32(P.n * P.hw) * dz - b.c.y - d * b.invstd * b.c.z);
}

@compute @workgroup_size(64)
fn bn_backward_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let c = backward_sums4(ch, lid);
    let per = chunks_per_plane();
    var p = first_pos(lid, per);
    for (var i = lid; i < P.n * per; i += RED) {
        let ck = chunk(p, ch);
        let v = dx_chunk(ck.i, c);
        for (var j = 0u; j < 4u; j++) {
            if (ck.ok[j]) { dx[4u * ck.i + j] = v[j]; }
        }
        p = next_pos(p, per);
    }
}

@compute @workgroup_size(64)
fn bn_backward_vv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let c = backward_sums4(ch, lid);
    let per = P.hw / 4u;
    var p = first_pos(lid, per);
    for (var i = lid; i < P.n * per; i += RED) {
        let ck = chunk(p, ch).i;
        dx4[ck] = dx_chunk(ck, c);
        p = next_pos(p, per);
    }
}
