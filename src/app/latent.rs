//! Latents chosen on the host for `gangpu sample`: noise from a normal truncated at +-T (BigGAN's
//! truncation trick) and latent walks (spherical interpolation through random latents, or a fixed
//! z morphing through the classes of a conditional model).

use crate::reference::rng_normal;
// the trainer's sampling noise (a bound no value reaches gives the plain samples), and its
// stream for redraws (every RNG stream is declared in train)
use crate::train::{STREAM_NOISE as STREAM_LATENT, STREAM_REDRAW};

/// Noise batch `batch_index` of `seed`, (batch, nz) values, each drawn again (from its own
/// sequence) while its magnitude exceeds `t`.
pub fn truncated_noise(seed: u32, batch_index: u32, batch: usize, nz: usize, t: f64) -> Vec<f32> {
    (0..batch * nz)
        .map(|i| {
            let mut v = rng_normal(seed, STREAM_LATENT, batch_index, i as u32);
            let mut k = 0u32;
            while v.abs() > t {
                // P(|v| > t) < 1 for t > 0, so this ends; past 4096 redraws (t below ~1e-3) clamp
                v = rng_normal(seed, STREAM_REDRAW, batch_index.wrapping_mul(64).wrapping_add(k), i as u32);
                k += 1;
                if k > 4096 {
                    v = v.clamp(-t, t);
                }
            }
            v as f32
        })
        .collect()
}

/// Spherical interpolation from `a` to `b` at `t` in [0, 1] (linear where they are parallel).
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let (na, nb) = (a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt(), b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt());
    let cos = (dot / (na * nb).max(1e-12)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    let t = t as f64;
    let (wa, wb) = if omega.sin().abs() < 1e-6 { (1.0 - t, t) } else { (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin()) };
    a.iter().zip(b).map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32).collect()
}

/// G's inputs for `frames_per` frames between each pair of `stops` and back to the first: per
/// frame, (batch, nz + classes) values. Lane `l` walks through `stops[l]` (z on the sphere, the
/// label part linearly: one-hot vectors are orthogonal, slerp would bulge); the other lanes hold
/// `fill` (fixed random inputs, so batch norm sees a training-like batch).
pub fn walk(stops: &[Vec<Vec<f32>>], fill: &[Vec<f32>], frames_per: usize, nz: usize) -> Vec<Vec<f32>> {
    let k = stops.first().map_or(0, |s| s.len());
    let mut frames = Vec::with_capacity(k * frames_per);
    for seg in 0..k {
        for f in 0..frames_per {
            let t = f as f32 / frames_per as f32;
            let mut input = Vec::new();
            for lane in stops {
                let (a, b) = (&lane[seg], &lane[(seg + 1) % k]);
                input.extend(slerp(&a[..nz], &b[..nz], t));
                input.extend(lerp(&a[nz..], &b[nz..], t));
            }
            for f in fill {
                input.extend_from_slice(f);
            }
            frames.push(input);
        }
    }
    frames
}

/// The one-hot of class `c` among `k`.
pub fn one_hot(c: usize, k: usize) -> Vec<f32> {
    (0..k).map(|i| if i == c { 1.0 } else { 0.0 }).collect()
}

/// A label blend moves linearly (the one-hot vectors are orthogonal: slerp would bulge).
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + (y - x) * t).collect()
}
