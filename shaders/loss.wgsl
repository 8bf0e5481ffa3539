// Losses on the discriminator's raw outputs, mean-reduced on the GPU in one workgroup. Each
// writes its mean loss and the mean of D's output into a slot of a small stats buffer (read back
// only when the trainer logs) and the gradient of scale * mean loss into grad.
// kind LOSS_BCE_LOGITS, BCE on logits with per-sample targets y:
//     loss = max(l, 0) - l*y + log(1 + exp(-|l|)),   d/dl = sigmoid(l) - y,  stat = mean sigmoid(l)
// kind LOSS_LINEAR, linear (Wasserstein critic): loss = l,  d/dl = 1,  stat = mean l
// kind LOSS_SQUARED, squared (LSGAN; BGAN's G with y = 0): loss = 0.5 (l - y)^2,  d/dl = l - y,  stat = mean l
// kind LOSS_HINGE, hinge with y in {+1, -1}: loss = relu(1 - y l),  d/dl = -y [1 - y l > 0],  stat = mean l

struct LossParams {
    n: u32, kind: u32, scale: f32, slot: u32,
    // logits and gradients of sample i sit at i * stride + offset (ACGAN: channel 0 is the
    // adversarial logit, channels 1..=classes the class logits)
    stride: u32, offset: u32, classes: u32, _p: u32,
};

const RED: u32 = 64u;

@group(0) @binding(0) var<uniform> P: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (N)
@group(0) @binding(2) var<storage, read> targets: array<f32>;    // (N)
@group(0) @binding(3) var<storage, read_write> grad: array<f32>; // (N) d(scale * mean loss)/d logits
@group(0) @binding(4) var<storage, read_write> stats: array<f32>; // slots: [slot] mean loss * scale, [slot+1] mean output

// red_a, red_b and the reduction: common.wgsl

// Sums each invocation's (loss, output) over the workgroup; writes the scaled mean loss and the
// mean output into the stats slot.
fn write_stats(lid: u32, loss: f32, out: f32, inv_n: f32) {
    red_a[lid] = loss;
    red_b[lid] = out;
    tree_reduce2(lid, RED);
    if (lid == 0u) {
        stats[P.slot] = P.scale * red_a[0] * inv_n;
        stats[P.slot + 1u] = red_b[0] * inv_n;
    }
}


@compute @workgroup_size(64)
fn loss_reduce(@builtin(local_invocation_index) lid: u32) {
    var sl = 0.0;
    var so = 0.0;
    let inv_n = 1.0 / f32(P.n);
    for (var i = lid; i < P.n; i += RED) {
        let l = logits[i * P.stride + P.offset];
        let y = targets[i];
        if (P.kind == LOSS_BCE_LOGITS) {
            let p = sigmoid(l);
            sl += max(l, 0.0) - l * y + log(1.0 + exp(-abs(l)));
            so += p;
            grad[i * P.stride + P.offset] = P.scale * (p - y) * inv_n;
        } else if (P.kind == LOSS_LINEAR) {
            sl += l;
            so += l;
            grad[i * P.stride + P.offset] = P.scale * inv_n;
        } else if (P.kind == LOSS_SQUARED) {
            let d = l - y;
            sl += 0.5 * d * d;
            so += l;
            grad[i * P.stride + P.offset] = P.scale * d * inv_n;
        } else {
            let margin = 1.0 - y * l;
            sl += max(margin, 0.0);
            so += l;
            grad[i * P.stride + P.offset] = select(0.0, -P.scale * y * inv_n, margin > 0.0);
        }
    }
    write_stats(lid, sl, so, inv_n);
}

// Softmax cross-entropy on class logits (stable: log-sum-exp with the max subtracted, softmax
// applied once): loss = logsumexp(l) - l[y], d/dl = scale * (softmax(l) - onehot(y)) / N.
// stats[slot] = scale * mean loss, stats[slot + 1] = accuracy (argmax == y).
@group(0) @binding(5) var<storage, read> class_labels: array<u32>;   // (N)

@compute @workgroup_size(64)
fn softmax_ce(@builtin(local_invocation_index) lid: u32) {
    var sl = 0.0;
    var sa = 0.0;
    let inv_n = 1.0 / f32(P.n);
    for (var i = lid; i < P.n; i += RED) {
        let base = i * P.stride + P.offset;
        var mx = logits[base];
        var arg = 0u;
        for (var k = 1u; k < P.classes; k++) {
            let v = logits[base + k];
            if (v > mx) { mx = v; arg = k; }
        }
        var se = 0.0;
        for (var k = 0u; k < P.classes; k++) { se += exp(logits[base + k] - mx); }
        let y = class_labels[i];
        sl += mx + log(se) - logits[base + y];
        sa += select(0.0, 1.0, arg == y);
        for (var k = 0u; k < P.classes; k++) {
            let p = exp(logits[base + k] - mx) / se;
            grad[base + k] = P.scale * (p - select(0.0, 1.0, k == y)) * inv_n;
        }
    }
    write_stats(lid, sl, sa, inv_n);
}
