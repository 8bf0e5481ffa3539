// Elementwise activations. Backward is written in terms of the forward output y, which every
// activation here determines its derivative from (and which the layer keeps anyway).
// op: an ACT_* code (common.wgsl).

struct ActParams {
    len: u32, op: u32, slope: f32, _p: u32,
};

@group(0) @binding(0) var<uniform> P: ActParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // forward: x (len); backward: y (len)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;  // forward: y (len); backward: dx (len)
@group(0) @binding(3) var<storage, read> dy: array<f32>;         // backward only: dy (len)

@compute @workgroup_size(WG)
fn act_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    dst[i] = act_apply(P.op, P.slope, src[i]);
}

@compute @workgroup_size(WG)
fn act_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    dst[i] = dy[i] * act_derivative_from_output(P.op, P.slope, src[i]);
}
