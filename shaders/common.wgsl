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
