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

// The same over vec4s (len % 4 == 0): a vec4 load costs about half of four scalar ones on CPU
// adapters.
@group(0) @binding(4) var<storage, read> src4: array<vec4<f32>>;        // src as (len / 4)
@group(0) @binding(5) var<storage, read_write> dst4: array<vec4<f32>>;  // dst as (len / 4)
@group(0) @binding(6) var<storage, read> dy4: array<vec4<f32>>;         // dy as (len / 4)

fn act4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(act_apply(P.op, P.slope, v.x), act_apply(P.op, P.slope, v.y), act_apply(P.op, P.slope, v.z), act_apply(P.op, P.slope, v.w));
}

fn act_grad4(y: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(act_derivative_from_output(P.op, P.slope, y.x), act_derivative_from_output(P.op, P.slope, y.y),
                     act_derivative_from_output(P.op, P.slope, y.z), act_derivative_from_output(P.op, P.slope, y.w));
}

@compute @workgroup_size(WG)
fn act_fwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len / 4u) { return; }
    dst4[i] = act4(src4[i]);
}

@compute @workgroup_size(WG)
fn act_bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len / 4u) { return; }
    dst4[i] = dy4[i] * act_grad4(src4[i]);
}
