// Elementwise activations. Backward is written in terms of the forward output y, which every
// activation here determines its derivative from (and which the layer keeps anyway).
// op: 0 identity, 1 ReLU, 2 LeakyReLU(slope), 3 Tanh, 4 Sigmoid.

struct ActParams {
    len: u32, op: u32, slope: f32, _p: u32,
};

@group(0) @binding(0) var<uniform> P: ActParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // forward: x (len); backward: y (len)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;  // forward: y (len); backward: dx (len)
@group(0) @binding(3) var<storage, read> dy: array<f32>;         // backward only: dy (len)

fn act_forward(v: f32) -> f32 {
    switch P.op {
        case 1u: { return max(v, 0.0); }
        case 2u: { return select(v * P.slope, v, v > 0.0); }
        case 3u: { return tanh(v); }
        case 4u: {
            // Stable in both tails.
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
        }
        default: { return v; }
    }
}

fn act_derivative(y: f32) -> f32 {
    switch P.op {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(P.slope, 1.0, y > 0.0); }
        case 3u: { return 1.0 - y * y; }
        case 4u: { return y * (1.0 - y); }
        default: { return 1.0; }
    }
}

@compute @workgroup_size(WG)
fn act_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    dst[i] = act_forward(src[i]);
}

@compute @workgroup_size(WG)
fn act_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    dst[i] = dy[i] * act_derivative(src[i]);
}
