// Low-dimensional target distributions for the lab (1-D and 2-D), sampled on the GPU from the
// counter-based generator: sample i of draw `counter` is a pure function of (seed, stream, counter, i).
// dist (a DIST_* code, defined by Dist in src/lab/mod.rs): gaussian N(2, 0.5^2); mixture
// 0.5 N(-2, 0.4^2) + 0.5 N(2, 0.4^2); disjoint U[3, 4] (no overlap with G's start near 0);
// 8 Gaussians on a circle of radius 2 (std 0.1); 25 Gaussians on a 5x5 grid, spacing 2 (std 0.1);
// ring of radius 2 (radial std 0.1); swiss roll (scaled to about [-2.5, 2.5]^2, noise 0.05).

struct LabParams {
    len: u32, dim: u32, dist: u32, seed: u32,
    stream: u32, counter: u32, _p0: u32, _p1: u32,
};

@group(0) @binding(0) var<uniform> P: LabParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (len, dim)

const TAU: f32 = 6.283185307179586;

fn unit(i: u32, j: u32) -> f32 {
    return rng_unit(P.seed, P.stream, P.counter, i * 8u + j);
}

fn gauss(i: u32, j: u32) -> f32 {
    return box_muller(unit(i, j), unit(i, j + 1u));
}

@compute @workgroup_size(WG)
fn sample_target(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    var p = vec2<f32>(0.0);
    switch P.dist {
        case DIST_GAUSSIAN: { p.x = 2.0 + 0.5 * gauss(i, 0u); }
        case DIST_MIXTURE: { p.x = select(-2.0, 2.0, unit(i, 2u) < 0.5) + 0.4 * gauss(i, 0u); }
        case DIST_DISJOINT: { p.x = 3.0 + unit(i, 0u); }
        case DIST_8_GAUSSIANS: {
            let k = floor(unit(i, 2u) * 8.0);
            let a = TAU * k / 8.0;
            p = 2.0 * vec2<f32>(cos(a), sin(a)) + 0.1 * vec2<f32>(gauss(i, 0u), gauss(i, 3u));
        }
        case DIST_25_GAUSSIANS: {
            let k = min(u32(floor(unit(i, 2u) * 25.0)), 24u);
            p = vec2<f32>(f32(k % 5u) * 2.0 - 4.0, f32(k / 5u) * 2.0 - 4.0) + 0.1 * vec2<f32>(gauss(i, 0u), gauss(i, 3u));
        }
        case DIST_RING: {
            let a = TAU * unit(i, 2u);
            let r = 2.0 + 0.1 * gauss(i, 0u);
            p = r * vec2<f32>(cos(a), sin(a));
        }
        default: {  // DIST_SWISS_ROLL
            let t = 1.5 * 3.14159265 * (1.0 + 2.0 * unit(i, 2u));
            p = vec2<f32>(t * cos(t), t * sin(t)) / 5.5 + 0.05 * vec2<f32>(gauss(i, 0u), gauss(i, 3u));
        }
    }
    out[i * P.dim] = p.x;
    if (P.dim > 1u) { out[i * P.dim + 1u] = p.y; }
}
