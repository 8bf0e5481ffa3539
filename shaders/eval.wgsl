// The classifier's view of a batch of samples, for the quality scores (src/eval): per class,
// how many samples the classifier assigns to it (argmax), the summed confidence (the top
// softmax probability) of those samples, and the summed softmax probability of the class.
// Always accumulates: the caller zeroes `class_stats` before the first batch of a set.

struct EvalParams {
    n: u32, classes: u32, _p0: u32, _p1: u32,
};

@group(0) @binding(0) var<uniform> P: EvalParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;            // (N, classes)
@group(0) @binding(2) var<storage, read_write> class_stats: array<f32>; // (3, classes): argmax counts | confidence sums | probability sums

// One invocation per class walks every row: N x classes is a few thousand values, and a fixed
// order of additions keeps the sums identical from run to run.
@compute @workgroup_size(64)
fn class_stats_accumulate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let k = P.classes;
    if (c >= k) { return; }
    var count = 0.0;
    var conf = 0.0;
    var prob = 0.0;
    for (var b = 0u; b < P.n; b++) {
        let row = b * k;
        var top = logits[row];
        var arg = 0u;
        for (var j = 1u; j < k; j++) {
            let v = logits[row + j];
            if (v > top) { top = v; arg = j; }
        }
        var z = 0.0;
        for (var j = 0u; j < k; j++) { z += exp(logits[row + j] - top); }
        prob += exp(logits[row + c] - top) / z;
        if (arg == c) {
            count += 1.0;
            conf += 1.0 / z;
        }
    }
    class_stats[c] += count;
    class_stats[k + c] += conf;
    class_stats[2u * k + c] += prob;
}
