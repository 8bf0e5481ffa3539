// Shared by every kernel family (prepended by the host before compiling).
// Workgroup size for elementwise and register-blocked kernels, set per adapter at pipeline creation.
override WG: u32 = 64u;

// Flat invocation index. Dispatches larger than 65,535 workgroups are split over y by the host,
// so kernels read the grid size from num_workgroups.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// PCG hash (O'Neill), the core of the counter-based generator: a pure function of its input,
// so every draw is reproducible from (seed, stream, counter, index).
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn rng_u32(seed: u32, stream: u32, counter: u32, index: u32) -> u32 {
    let key = pcg_hash(seed ^ pcg_hash(stream + 0x9e3779b9u));
    return pcg_hash(pcg_hash(key + counter) ^ index);
}

// Uniform in (0, 1]: 24 random bits.
fn rng_unit(seed: u32, stream: u32, counter: u32, index: u32) -> f32 {
    return (f32(rng_u32(seed, stream, counter, index) >> 8u) + 1.0) / 16777216.0;
}

// Activations, by the ACT_* codes the host defines (Act in src/kernels.rs) and prepends. Backward
// passes take the derivative from the forward output y, which every activation here determines.
fn act_apply(op: u32, slope: f32, v: f32) -> f32 {
    switch op {
        case ACT_RELU: { return max(v, 0.0); }
        case ACT_LEAKY_RELU: { return select(v * slope, v, v > 0.0); }
        case ACT_TANH: { return tanh(v); }
        case ACT_SIGMOID: {
            // Stable in both tails.
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
        }
        default: { return v; }
    }
}

fn act_derivative_from_output(op: u32, slope: f32, y: f32) -> f32 {
    switch op {
        case ACT_RELU: { return select(0.0, 1.0, y > 0.0); }
        case ACT_LEAKY_RELU: { return select(slope, 1.0, y > 0.0); }
        case ACT_TANH: { return 1.0 - y * y; }
        case ACT_SIGMOID: { return y * (1.0 - y); }
        default: { return 1.0; }
    }
}

fn sigmoid(v: f32) -> f32 {
    return act_apply(ACT_SIGMOID, 0.0, v);
}

// (count, mean, M2) of the values summarised by a and by b together, M2 being the sum of squared
// deviations from the mean: Chan et al.'s pairwise update, which does not cancel when the mean is
// far from zero (batch-norm statistics merged from partial records).
fn merge_stats(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    if (b.x == 0.0) { return a; }
    let n = a.x + b.x;
    let d = b.y - a.y;
    let f = b.x / n;
    return vec3<f32>(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}

// ------------------------------------------------------------ portable normal draws
// Box-Muller with its own log and cos: the APIs bound the built-ins loosely (Vulkan: cos to 2^-11
// absolute only inside [-pi, pi], log to 2^-21 absolute near 1) and drivers differ (SwiftShader's
// normals were 1.2e-4 off llvmpipe's), while every driver rounds +, *, / and fma the same way
// within an ulp or two. So the same (seed, stream, counter) draws the same noise on every adapter.

// ln(u), u > 0: u = m 2^k with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1),
// |s| <= 0.1716, the odd series to s^11 (next term < 4e-10).
fn portable_ln(u: f32) -> f32 {
    let fr = frexp(u); // u = fract 2^exp, fract in [0.5, 1)
    var m = fr.fract;
    var k = f32(fr.exp);
    if (m < 0.70710678) { m *= 2.0; k -= 1.0; }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = s * (2.0 + s2 * (2.0 / 3.0 + s2 * (0.4 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0 + s2 * (2.0 / 11.0))))));
    return k * 0.69314718055994531 + series;
}

// cos(2 pi u) for any u: reduced to x = 2 pi b with b in [0, 1/8], then Taylor series of cos or
// sin on [0, pi/4] (next terms < 3e-8).
fn portable_cos_2pi(u: f32) -> f32 {
    var a = abs(u - round(u)); // [0, 1/2]: cos(2 pi u) = cos(2 pi a)
    var sign = 1.0;
    if (a > 0.25) { a = 0.5 - a; sign = -1.0; } // cos(pi - x) = -cos(x)
    if (a > 0.125) {
        let x = 6.283185307179586 * (0.25 - a); // cos(pi/2 - x) = sin(x)
        let x2 = x * x;
        return sign * x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))));
    }
    let x = 6.283185307179586 * a;
    let x2 = x * x;
    return sign * (1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0 * (1.0 - x2 / 90.0)))));
}

// A standard normal value from two independent uniforms in (0, 1].
fn box_muller(u1: f32, u2: f32) -> f32 {
    return sqrt(-2.0 * portable_ln(u1)) * portable_cos_2pi(u2);
}

// The one tree reduction of a workgroup's partial sums (batch norm, the losses, spectral norm):
// each lane below `lanes` (the family's workgroup size: a power of two, at most RED_MAX, the same
// value in every lane) has written its partials to red_a[lid] and red_b[lid]; afterwards red_a[0]
// and red_b[0] hold the totals, readable by every lane. Only the entry points that call it use
// the arrays' workgroup memory.
const RED_MAX: u32 = 256u;
var<workgroup> red_a: array<f32, RED_MAX>;
var<workgroup> red_b: array<f32, RED_MAX>;

fn tree_reduce2(lid: u32, lanes: u32) {
    for (var off = lanes / 2u; off > 0u; off = off / 2u) {
        workgroupBarrier();
        if (lid < off) {
            red_a[lid] += red_a[lid + off];
            red_b[lid] += red_b[lid + off];
        }
    }
    workgroupBarrier();
}
