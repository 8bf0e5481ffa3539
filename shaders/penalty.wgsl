// Input-gradient penalties of a critic: WGAN-GP's lambda E[(|grad_x D(x^)| - 1)^2] at random
// interpolates x^ of real and generated samples, and R1's gamma/2 E|grad_x D(x)|^2 at real ones.
// The gradient g = dD/dx comes from D's backward pass with dD/dlogit = 1; `penalty` reduces it per
// sample and writes u = dP/dg, which D's tangent pass (nn/penalty.rs) carries to the weights
// (the double backward).
// kind PENALTY_GP: value (|g| - 1)^2,  u = weight / N * 2 (|g| - 1) / |g| * g
// kind PENALTY_R1: value 0.5 |g|^2,    u = weight / N * g

struct PenaltyParams {
    n: u32, dim: u32, kind: u32, weight: f32,
    slot: u32, seed: u32, stream: u32, counter: u32,
};

const RED: u32 = 64u;

@group(0) @binding(0) var<uniform> P: PenaltyParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;          // interpolate: real (N, dim); penalty: g (N, dim)
@group(0) @binding(2) var<storage, read> b: array<f32>;          // interpolate: fake (N, dim)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // interpolate: x^ (N, dim); penalty: u = dP/dg (N, dim)
@group(0) @binding(4) var<storage, read_write> stats: array<f32>; // penalty: [slot] weight * mean value, [slot+1] mean |g|

// x^ = eps real + (1 - eps) fake, one eps ~ U(0, 1] per sample from (seed, stream, counter, n).
@compute @workgroup_size(WG)
fn interpolate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n * P.dim) { return; }
    let eps = rng_unit(P.seed, P.stream, P.counter, i / P.dim);
    out[i] = eps * a[i] + (1.0 - eps) * b[i];
}

// One workgroup walks the samples: |g_n| by a tree reduction, then u_n; lane 0 sums the values.
@compute @workgroup_size(64)
fn penalty(@builtin(local_invocation_index) lid: u32) {
    let inv_n = 1.0 / f32(P.n);
    var total = 0.0;
    var norms = 0.0;
    for (var n = 0u; n < P.n; n++) {
        let base = n * P.dim;
        var s = 0.0;
        for (var j = lid; j < P.dim; j += RED) {
            let g = a[base + j];
            s += g * g;
        }
        red_a[lid] = s;
        red_b[lid] = 0.0;
        tree_reduce2(lid, RED);
        let sq = red_a[0];
        // every lane has read the total before the next sample overwrites it
        workgroupBarrier();
        let norm = sqrt(sq);
        var coef = P.weight * inv_n;
        var value = 0.5 * sq;
        if (P.kind == PENALTY_GP) {
            coef = P.weight * inv_n * 2.0 * (norm - 1.0) / max(norm, 1e-12);
            value = (norm - 1.0) * (norm - 1.0);
        }
        for (var j = lid; j < P.dim; j += RED) {
            out[base + j] = coef * a[base + j];
        }
        total += value;
        norms += norm;
    }
    if (lid == 0u) {
        stats[P.slot] = P.weight * total * inv_n;
        stats[P.slot + 1u] = norms * inv_n;
    }
}
