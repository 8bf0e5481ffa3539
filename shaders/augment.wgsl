// Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied with ADA's probability p
// (Karras et al. 2020). Per sample, in DiffAugment's order:
//   color:       x1 = x + b                        b ~ U(-0.5, 0.5)   brightness
//                x2 = (x1 - mean_c x1) s + mean_c x1   s ~ U(0, 2)    saturation (mean over channels, per pixel)
//                x3 = (x2 - mean x2) c + mean x2       c ~ U(0.5, 1.5) contrast (mean over C, H, W)
//   translation: x4[i, j] = x3[i + dh, j + dw], 0 outside; dh, dw integers in [-shift, shift]
//   cutout:      x5 = x4, 0 on rows [top, top + cut_h) x columns [left, left + cut_w)
// Each of the five transforms in the policy is applied to a sample with probability p = ada[0]
// (p = 1: DiffAugment; p = 0: the identity, exactly). What a sample drew goes to `aug` for the
// backward pass: (b, s, c, dh, dw, top, left, 0), the identity being (0, 1, 1, 0, 0, H, W, 0).
// `ada` also keeps ADA's overfitting heuristic r_t = E[sign(D(real))] (entry `ada`).

struct AugmentParams {
    n: u32, c: u32, h: u32, w: u32,
    policy: u32, seed: u32, stream: u32, counter: u32,
    // translation's largest shift and cutout's square, in pixels (DiffAugment's ratios 1/8, 1/2)
    shift_h: u32, shift_w: u32, cut_h: u32, cut_w: u32,
    // 1: read the parameters from `aug` instead of drawing them (tests replay given draws)
    given: u32,
    // entry ada: D's output row stride, 1 to adjust p now, the step of p, the target of r_t,
    // and the stats slots [p, r_t]
    stride: u32, adjust: u32, step: f32,
    rt_target: f32, slot: u32, _pad0: u32, _pad1: u32,
};

const LANES: u32 = 64u;
const AUG_VALUES: u32 = 8u;

@group(0) @binding(0) var<uniform> P: AugmentParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // augment: x (N, C, H, W); augment_backward: dy (N, C, H, W); ada: D's output (N, stride)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;    // augment: x5 (N, C, H, W); augment_backward: dx (N, C, H, W)
@group(0) @binding(3) var<storage, read_write> aug: array<f32>;    // (N, 8) each sample's draws
@group(0) @binding(4) var<storage, read_write> ada: array<f32>;    // [p, sum of sign(D(real)), count, last r_t]
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;  // ada: [slot] p, [slot + 1] r_t

struct Draw { b: f32, s: f32, c: f32, dh: i32, dw: i32, top: i32, left: i32 };

// Uniform k of sample n in (0, 1]; draws 0..7 are values, 8..15 whether transform k - 8 applies.
fn unit(n: u32, k: u32) -> f32 {
    return rng_unit(P.seed, P.stream, P.counter, n * 16u + k);
}

fn applies(n: u32, k: u32, op: u32, p: f32) -> bool {
    return (P.policy & op) != 0u && unit(n, 8u + k) <= p;
}

// An integer in [lo, lo + count), from draw k of sample n.
fn int_in(n: u32, k: u32, lo: i32, count: u32) -> i32 {
    return lo + i32(rng_u32(P.seed, P.stream, P.counter, n * 16u + k) % count);
}

fn draw(n: u32) -> Draw {
    if (P.given != 0u) {
        let a = n * AUG_VALUES;
        return Draw(aug[a], aug[a + 1u], aug[a + 2u], i32(aug[a + 3u]), i32(aug[a + 4u]), i32(aug[a + 5u]), i32(aug[a + 6u]));
    }
    let p = ada[0];
    var d = Draw(0.0, 1.0, 1.0, 0, 0, i32(P.h), i32(P.w));
    if (applies(n, 0u, AUG_COLOR, p)) { d.b = unit(n, 0u) - 0.5; }
    if (applies(n, 1u, AUG_COLOR, p)) { d.s = 2.0 * unit(n, 1u); }
    if (applies(n, 2u, AUG_COLOR, p)) { d.c = unit(n, 2u) + 0.5; }
    if (applies(n, 3u, AUG_TRANSLATION, p)) {
        d.dh = int_in(n, 3u, -i32(P.shift_h), 2u * P.shift_h + 1u);
        d.dw = int_in(n, 4u, -i32(P.shift_w), 2u * P.shift_w + 1u);
    }
    if (applies(n, 4u, AUG_CUTOUT, p)) {
        // DiffAugment: the centre in [0, H + 1 - cut_h % 2), the square from centre - cut_h / 2
        d.top = int_in(n, 5u, -i32(P.cut_h / 2u), P.h + 1u - P.cut_h % 2u);
        d.left = int_in(n, 6u, -i32(P.cut_w / 2u), P.w + 1u - P.cut_w % 2u);
    }
    return d;
}

// Output pixel (i, j) reads input pixel (i + dh, j + dw): whether that is inside the image and
// (i, j) is outside the cut square.
fn kept(d: Draw, i: i32, j: i32) -> bool {
    let si = i + d.dh;
    let sj = j + d.dw;
    let inside = si >= 0 && si < i32(P.h) && sj >= 0 && sj < i32(P.w);
    let cut = i >= d.top && i < d.top + i32(P.cut_h) && j >= d.left && j < d.left + i32(P.cut_w);
    return inside && !cut;
}

// One workgroup per sample (grid N): the sample's mean for contrast, then every output pixel.
@compute @workgroup_size(64)
fn augment(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = wid.x;
    let d = draw(n);
    let hw = P.h * P.w;
    let dim = P.c * hw;
    let base = n * dim;
    // saturation keeps each pixel's channel mean, so contrast's mean is mean(x) + b
    var s = 0.0;
    for (var j = lid; j < dim; j += LANES) { s += x[base + j]; }
    red_a[lid] = s;
    red_b[lid] = 0.0;
    tree_reduce2(lid, LANES);
    let mean = red_a[0] / f32(dim) + d.b;
    for (var q = lid; q < hw; q += LANES) {
        let i = i32(q / P.w);
        let j = i32(q % P.w);
        if (!kept(d, i, j)) {
            for (var ch = 0u; ch < P.c; ch++) { out[base + ch * hw + q] = 0.0; }
            continue;
        }
        let src = base + u32(i + d.dh) * P.w + u32(j + d.dw);
        var cm = 0.0;
        for (var ch = 0u; ch < P.c; ch++) { cm += x[src + ch * hw]; }
        cm = cm / f32(P.c) + d.b;
        for (var ch = 0u; ch < P.c; ch++) {
            // a transform not drawn leaves the value exactly as it was (p = 0 is the identity)
            let x1 = x[src + ch * hw] + d.b;
            let x2 = select((x1 - cm) * d.s + cm, x1, d.s == 1.0);
            out[base + ch * hw + q] = select((x2 - mean) * d.c + mean, x2, d.c == 1.0);
        }
    }
    if (lid == 0u && P.given == 0u) {
        let a = n * AUG_VALUES;
        aug[a] = d.b;
        aug[a + 1u] = d.s;
        aug[a + 2u] = d.c;
        aug[a + 3u] = f32(d.dh);
        aug[a + 4u] = f32(d.dw);
        aug[a + 5u] = f32(d.top);
        aug[a + 6u] = f32(d.left);
        aug[a + 7u] = 0.0;
    }
}

// The gradient through `augment` with the draws in `aug` (one workgroup per sample):
//   g3[si, sj] = dy[si - dh, sj - dw] where that output pixel is kept, else 0
//   g2 = c g3 + (1 - c) / (C H W) sum(g3)
//   dx = g1 = s g2 + (1 - s) mean_c g2          (brightness passes the gradient unchanged)
@compute @workgroup_size(64)
fn augment_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = wid.x;
    let a = n * AUG_VALUES;
    let d = Draw(aug[a], aug[a + 1u], aug[a + 2u], i32(aug[a + 3u]), i32(aug[a + 4u]), i32(aug[a + 5u]), i32(aug[a + 6u]));
    let hw = P.h * P.w;
    let dim = P.c * hw;
    let base = n * dim;
    var s = 0.0;
    for (var q = lid; q < hw; q += LANES) {
        if (kept(d, i32(q / P.w), i32(q % P.w))) {
            for (var ch = 0u; ch < P.c; ch++) { s += x[base + ch * hw + q]; }
        }
    }
    red_a[lid] = s;
    red_b[lid] = 0.0;
    tree_reduce2(lid, LANES);
    let k = (1.0 - d.c) * red_a[0] / f32(dim);
    for (var q = lid; q < hw; q += LANES) {
        // input pixel (si, sj) feeds output pixel (si - dh, sj - dw)
        let i = i32(q / P.w) - d.dh;
        let j = i32(q % P.w) - d.dw;
        let on = i >= 0 && i < i32(P.h) && j >= 0 && j < i32(P.w) && kept(d, i, j);
        let o = base + u32(select(0, i, on)) * P.w + u32(select(0, j, on));
        var g3_sum = 0.0;
        if (on) {
            for (var ch = 0u; ch < P.c; ch++) { g3_sum += x[o + ch * hw]; }
        }
        let g2_mean = (d.c * g3_sum) / f32(P.c) + k;
        for (var ch = 0u; ch < P.c; ch++) {
            let g3 = select(0.0, x[o + ch * hw], on);
            out[base + ch * hw + q] = d.s * (d.c * g3 + k) + (1.0 - d.s) * g2_mean;
        }
    }
}

// ADA's heuristic (one workgroup): adds sign(D(real)) of the batch (column 0 of D's output rows)
// to ada[1] and the count to ada[2]; with `adjust`, r_t = ada[1] / ada[2] moves p by `step`
// toward more augmentation when r_t > target (D overfits) and less otherwise, clamped to [0, 1],
// and the sums restart. stats get p and the last r_t.
@compute @workgroup_size(64)
fn ada_update(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < P.n; i += LANES) { s += sign(x[i * P.stride]); }
    red_a[lid] = s;
    red_b[lid] = 0.0;
    tree_reduce2(lid, LANES);
    if (lid == 0u) {
        var total = ada[1] + red_a[0];
        var count = ada[2] + f32(P.n);
        if (P.adjust != 0u) {
            let rt = total / max(count, 1.0);
            ada[3] = rt;
            ada[0] = clamp(ada[0] + sign(rt - P.rt_target) * P.step, 0.0, 1.0);
            total = 0.0;
            count = 0.0;
        }
        ada[1] = total;
        ada[2] = count;
        stats[P.slot] = ada[0];
        stats[P.slot + 1u] = ada[3];
    }
}
