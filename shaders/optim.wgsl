// Optimizers over one flat parameter buffer per network: one dispatch updates every parameter.

struct OptParams {
    len: u32, one_minus_beta1: f32, one_minus_beta2: f32, _p2: u32,
    lr: f32, beta1: f32, beta2: f32, eps: f32,
    // Adam: step_size = lr / (1 - beta1^t), sqrt_bc2 = sqrt(1 - beta2^t), from the host in f64.
    step_size: f32, sqrt_bc2: f32, clip: f32, _p3: f32,
};

@group(0) @binding(0) var<uniform> P: OptParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;  // (len)
@group(0) @binding(2) var<storage, read> grad: array<f32>;         // (len)
@group(0) @binding(3) var<storage, read_write> m: array<f32>;      // (len) Adam first moment
@group(0) @binding(4) var<storage, read_write> v: array<f32>;      // (len) Adam second moment / RMSProp square average

// Adam, as torch.optim.Adam (no weight decay, no amsgrad).
@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    let g = grad[i];
    // torch: exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2),
    // with 1 - beta computed in f64 on the host.
    let mi = m[i] + P.one_minus_beta1 * (g - m[i]);
    let vi = v[i] * P.beta2 + P.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] - P.step_size * mi / (sqrt(vi) / P.sqrt_bc2 + P.eps);
}

// The same over vec4s (len % 4 == 0): a vec4 load costs about half of four scalar ones on CPU
// adapters.
@group(0) @binding(9) var<storage, read_write> param4: array<vec4<f32>>;  // (len / 4)
@group(0) @binding(10) var<storage, read> grad4: array<vec4<f32>>;        // (len / 4)
@group(0) @binding(11) var<storage, read_write> m4: array<vec4<f32>>;     // (len / 4)
@group(0) @binding(12) var<storage, read_write> v4: array<vec4<f32>>;     // (len / 4)

@compute @workgroup_size(WG)
fn adam4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len / 4u) { return; }
    let g = grad4[i];
    let m0 = m4[i];
    let mi = m0 + P.one_minus_beta1 * (g - m0);
    let vi = v4[i] * P.beta2 + P.one_minus_beta2 * g * g;
    m4[i] = mi;
    v4[i] = vi;
    param4[i] = param4[i] - P.step_size * mi / (sqrt(vi) / P.sqrt_bc2 + P.eps);
}

// RMSProp, as torch.optim.RMSprop (alpha = beta2, no momentum, not centred).
@compute @workgroup_size(WG)
fn rmsprop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    let g = grad[i];
    let vi = v[i] * P.beta2 + P.one_minus_beta2 * g * g;
    v[i] = vi;
    param[i] = param[i] - P.lr * g / (sqrt(vi) + P.eps);
}

// Weight clipping to [-clip, clip] (WGAN).
@compute @workgroup_size(WG)
fn clip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    param[i] = clamp(param[i], -P.clip, P.clip);
}

// Plain gradient descent (torch.optim.SGD without momentum): the update is proportional to the
// gradient, so a vanishing gradient shows as a stalled parameter.
@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    param[i] = param[i] - P.lr * grad[i];
}

// An exponential moving average of a network's parameters (StyleGAN2's G_ema): with `param` the
// average and `grad` bound to the live parameters, avg = live + beta (avg - live), beta in beta1.
@compute @workgroup_size(WG)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    let live = grad[i];
    param[i] = live + P.beta1 * (param[i] - live);
}
