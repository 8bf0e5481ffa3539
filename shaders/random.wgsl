// Counter-based random numbers: every value is a pure function of (seed, stream, counter, index),
// so runs are reproducible and resumable from four integers. The hash lives in common.wgsl.

struct RngParams {
    len: u32, seed: u32, stream: u32, counter: u32,
    // gather: number of images, u32 words per image, values per image
    count: u32, words: u32, values: u32,
    // gather_and_noise: how many N(0, 1) values to draw after the batch, and from which stream
    noise_len: u32, noise_stream: u32,
    // gather: image side (pixels) and whether to mirror images left-right with probability 1/2
    side: u32, hflip: u32,
    // 1: `bytes` is a streamed chunk holding exactly this batch (image b in slot b)
    streamed: u32,
};

@group(0) @binding(0) var<uniform> P: RngParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // normal: (len); gather: (B, values)
@group(0) @binding(2) var<storage, read> bytes: array<u32>;       // gather: (count, words) u8 pixels, 4 per word
@group(0) @binding(3) var<storage, read_write> picked: array<u32>; // gather: (B) chosen image indices
@group(0) @binding(4) var<storage, read_write> noise: array<f32>;  // gather_and_noise: (noise_len)

// Standard normal value i of (seed, stream, counter): Box-Muller on two independent uniforms.
fn normal_value(seed: u32, stream: u32, counter: u32, i: u32) -> f32 {
    let u1 = rng_unit(seed, stream, counter, 2u * i);
    let u2 = rng_unit(seed, stream, counter, 2u * i + 1u);
    return box_muller(u1, u2);
}

@compute @workgroup_size(WG)
fn normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    out[i] = normal_value(P.seed, P.stream, P.counter, i);
}

// Draws len = B * values outputs: image b of batch `counter` is the next one of the epoch's
// permutation (epoch_image), optionally mirrored, pixel bytes mapped to [-1, 1]. The data set never
// leaves the GPU; nothing is uploaded per batch.
// A Feistel permutation of [0, 4^half) keyed by `key`: 4 rounds of the PCG hash.
fn feistel(x: u32, half: u32, key: u32) -> u32 {
    let mask = (1u << half) - 1u;
    var l = x >> half;
    var r = x & mask;
    for (var round = 0u; round < 4u; round++) {
        let f = pcg_hash(r ^ pcg_hash(key + round)) & mask;
        let t = l ^ f;
        l = r;
        r = t;
    }
    return (l << half) | r;
}

// The image at position `pos` of epoch `epoch`: a seeded permutation of [0, count), the Feistel
// permutation of the next power of 4 walked until it lands inside (a few steps on average), so
// every epoch visits every image exactly once, in its own order, as a pure function of the step.
fn epoch_image(seed: u32, stream: u32, epoch: u32, pos: u32, count: u32) -> u32 {
    var half = 1u;
    while ((1u << (2u * half)) < count) { half++; }
    let key = rng_u32(seed, stream, epoch, 0x7fffffffu);
    var y = feistel(pos, half, key);
    for (var t = 0u; t < 256u && y >= count; t++) { y = feistel(y, half, key); }
    return select(y % count, y, y < count);
}

fn gather_one(i: u32) {
    let b = i / P.values;
    var j = i % P.values;
    // batch `counter` holds positions counter * B .. counter * B + B - 1 of the epoch sequence
    let q = P.counter * (P.len / P.values) + b;
    var img = b;
    if (P.streamed == 0u) {
        img = epoch_image(P.seed, P.stream, q / P.count, q % P.count, P.count);
    }
    if (P.hflip != 0u && (rng_u32(P.seed, P.stream, P.counter, b + 0x40000000u) & 1u) == 1u) {
        let x = j % P.side;
        j = j - x + (P.side - 1u - x);
    }
    let word = bytes[img * P.words + j / 4u];
    let byte = (word >> (8u * (j % 4u))) & 0xffu;
    out[i] = f32(byte) / 127.5 - 1.0;
    if (i % P.values == 0u && P.streamed == 0u) { picked[b] = img; }
}

@compute @workgroup_size(WG)
fn gather_batch(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.len) { return; }
    gather_one(i);
}

// A training step's inputs in one dispatch: the real batch (as gather_batch), then noise_len
// normal values of (seed, noise_stream, counter), the same values `normal` draws.
@compute @workgroup_size(WG)
fn gather_and_noise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.len) {
        gather_one(i);
    } else if (i < P.len + P.noise_len) {
        noise[i - P.len] = normal_value(P.seed, P.noise_stream, P.counter, i - P.len);
    }
}
