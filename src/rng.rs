//! The counter-based random numbers of common.wgsl and random.wgsl on the host, bit for bit: every
//! value is a pure function of (seed, stream, counter, index), so initial weights, the epochs'
//! image orders (streamed batches pick their images here) and the GPU's draws agree exactly.

/// The counter-based hash of common.wgsl, bit for bit.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

pub fn rng_u32(seed: u32, stream: u32, counter: u32, index: u32) -> u32 {
    let key = pcg_hash(seed ^ pcg_hash(stream.wrapping_add(0x9e3779b9)));
    pcg_hash(pcg_hash(key.wrapping_add(counter)) ^ index)
}

/// A Feistel permutation of [0, 4^half) keyed by `key` (random.wgsl's `feistel`).
pub fn feistel(x: u32, half: u32, key: u32) -> u32 {
    let mask = (1u32 << half) - 1;
    let (mut l, mut r) = (x >> half, x & mask);
    for round in 0..4u32 {
        let f = pcg_hash(r ^ pcg_hash(key.wrapping_add(round))) & mask;
        let t = l ^ f;
        l = r;
        r = t;
    }
    (l << half) | r
}

/// The image at position `pos` of epoch `epoch` (random.wgsl's `epoch_image`): a seeded
/// permutation of [0, count), so an epoch visits every image once.
pub fn epoch_image(seed: u32, stream: u32, epoch: u32, pos: u32, count: u32) -> u32 {
    let mut half = 1u32;
    while (1u64 << (2 * half)) < count as u64 {
        half += 1;
    }
    let key = rng_u32(seed, stream, epoch, 0x7fff_ffff);
    let mut y = feistel(pos, half, key);
    let mut t = 0;
    while t < 256 && y >= count {
        y = feistel(y, half, key);
        t += 1;
    }
    if y < count {
        y
    } else {
        y % count
    }
}

pub fn rng_unit(seed: u32, stream: u32, counter: u32, index: u32) -> f64 {
    ((rng_u32(seed, stream, counter, index) >> 8) as f64 + 1.0) / 16777216.0
}

/// The GPU `normal` kernel's value at `index`.
pub fn rng_normal(seed: u32, stream: u32, counter: u32, index: u32) -> f64 {
    let u1 = rng_unit(seed, stream, counter, 2 * index);
    let u2 = rng_unit(seed, stream, counter, 2 * index + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
