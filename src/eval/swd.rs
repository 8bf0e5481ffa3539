//! Sliced Wasserstein distance between two image sets on a Laplacian pyramid of patches, as used
//! to judge progressive GANs (Karras et al. 2018, metrics/sliced_wasserstein.py): at every
//! pyramid level, random 7x7 neighbourhoods of every image, normalised per channel over the set,
//! projected on random unit directions; per direction the 1-D Wasserstein distance of the two sets
//! of projections (sorted, mean absolute difference); averaged over directions and repeats,
//! reported x 10^3. Needs no classifier, so it scores any data. Runs on the host (sorting).

use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct SwdConfig {
    pub patch: usize,
    pub patches_per_image: usize,
    pub dirs_per_repeat: usize,
    pub repeats: usize,
    pub seed: u32,
}

impl Default for SwdConfig {
    fn default() -> SwdConfig {
        SwdConfig { patch: 7, patches_per_image: 32, dirs_per_repeat: 128, repeats: 4, seed: 0 }
    }
}

/// A set of images: (n, channels, side, side) values in [-1, 1].
pub struct Images<'a> {
    pub values: &'a [f32],
    pub n: usize,
    pub channels: usize,
    pub side: usize,
}

/// Pyramid level sides: the image, then halves while at least 14 pixels (28: 28, 14; 64: 64, 32, 16).
pub fn level_sides(side: usize) -> Vec<usize> {
    let mut v = vec![side];
    while v[v.len() - 1].div_ceil(2) >= 14 {
        let s = v[v.len() - 1].div_ceil(2);
        v.push(s);
    }
    v
}

const BINOMIAL: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

/// 5-tap binomial blur of one plane (side x side), borders clamped.
fn blur(p: &[f32], side: usize) -> Vec<f32> {
    let at = |i: isize| i.clamp(0, side as isize - 1) as usize;
    let mut tmp = vec![0.0; side * side];
    for y in 0..side {
        for x in 0..side {
            tmp[y * side + x] = (0..5).map(|k| BINOMIAL[k] * p[y * side + at(x as isize + k as isize - 2)]).sum();
        }
    }
    let mut out = vec![0.0; side * side];
    for y in 0..side {
        for x in 0..side {
            out[y * side + x] = (0..5).map(|k| BINOMIAL[k] * tmp[at(y as isize + k as isize - 2) * side + x]).sum();
        }
    }
    out
}

/// Blur, then every second pixel: side -> ceil(side / 2).
fn down(p: &[f32], side: usize) -> Vec<f32> {
    let b = blur(p, side);
    let s = side.div_ceil(2);
    (0..s * s).map(|i| b[(i / s) * 2 * side + (i % s) * 2]).collect()
}

/// Zero-insertion to `side`, then blur x 4 (the inverse of `down`'s sampling).
fn up(p: &[f32], small: usize, side: usize) -> Vec<f32> {
    let mut z = vec![0.0; side * side];
    for y in 0..small {
        for x in 0..small {
            if 2 * y < side && 2 * x < side {
                z[2 * y * side + 2 * x] = 4.0 * p[y * small + x];
            }
        }
    }
    blur(&z, side)
}

/// The Laplacian pyramid of one plane: band-pass levels, the last one the low-pass residual.
pub fn laplacian_pyramid(plane: &[f32], side: usize) -> Vec<Vec<f32>> {
    let sides = level_sides(side);
    let mut gauss = vec![plane.to_vec()];
    for w in sides.windows(2) {
        let next = down(&gauss[gauss.len() - 1], w[0]);
        gauss.push(next);
    }
    let mut out = Vec::with_capacity(sides.len());
    for l in 0..sides.len() {
        if l + 1 < sides.len() {
            let u = up(&gauss[l + 1], sides[l + 1], sides[l]);
            out.push(gauss[l].iter().zip(&u).map(|(a, b)| a - b).collect());
        } else {
            out.push(gauss[l].clone());
        }
    }
    out
}

/// Per level, the normalised descriptors of a set: (n x patches_per_image, channels x patch^2).
pub fn descriptors(set: &Images, cfg: &SwdConfig) -> Vec<Vec<f32>> {
    let sides = level_sides(set.side);
    let (c, pp, k) = (set.channels, cfg.patch, cfg.patches_per_image);
    let dim = c * pp * pp;
    let plane = set.side * set.side;
    // per image: every channel's pyramid, then its patches at every level
    let per_image: Vec<Vec<Vec<f32>>> = (0..set.n)
        .into_par_iter()
        .map(|i| {
            let pyr: Vec<Vec<Vec<f32>>> = (0..c).map(|ch| laplacian_pyramid(&set.values[(i * c + ch) * plane..(i * c + ch + 1) * plane], set.side)).collect();
            sides
                .iter()
                .enumerate()
                .map(|(l, &s)| {
                    let mut d = Vec::with_capacity(k * dim);
                    let span = s.saturating_sub(pp) + 1;
                    for j in 0..k {
                        let r = crate::rng::rng_u32(cfg.seed, 21 + l as u32, i as u32, j as u32);
                        let (y0, x0) = (((r >> 16) as usize) % span, ((r & 0xffff) as usize) % span);
                        for pl in pyr.iter() {
                            for y in 0..pp {
                                for x in 0..pp {
                                    let (yy, xx) = ((y0 + y).min(s - 1), (x0 + x).min(s - 1));
                                    d.push(pl[l][yy * s + xx]);
                                }
                            }
                        }
                    }
                    d
                })
                .collect()
        })
        .collect();
    (0..sides.len())
        .map(|l| {
            let mut all: Vec<f32> = per_image.iter().flat_map(|im| im[l].iter().copied()).collect();
            normalise(&mut all, c, pp * pp);
            all
        })
        .collect()
}

/// Zero mean, unit variance per channel over every descriptor of the set.
fn normalise(d: &mut [f32], channels: usize, per_channel: usize) {
    let dim = channels * per_channel;
    for ch in 0..channels {
        let vals = || d.chunks(dim).flat_map(|row| row[ch * per_channel..(ch + 1) * per_channel].iter().map(|v| *v as f64));
        let n = (d.len() / dim * per_channel).max(1) as f64;
        let mean = vals().sum::<f64>() / n;
        let var = vals().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = var.sqrt().max(1e-8);
        for row in d.chunks_mut(dim) {
            for v in &mut row[ch * per_channel..(ch + 1) * per_channel] {
                *v = ((*v as f64 - mean) / std) as f32;
            }
        }
    }
}

/// Sliced Wasserstein distance (x 10^3) between two descriptor sets of dimension `dim`, using
/// the same number of rows from each.
pub fn sliced_wasserstein(a: &[f32], b: &[f32], dim: usize, cfg: &SwdConfig, level: u32) -> f64 {
    let rows = (a.len() / dim).min(b.len() / dim);
    let (a, b) = (&a[..rows * dim], &b[..rows * dim]);
    let total = cfg.dirs_per_repeat * cfg.repeats;
    let dirs: Vec<Vec<f32>> = (0..total)
        .map(|j| {
            let v: Vec<f64> = (0..dim).map(|i| crate::rng::rng_normal(cfg.seed, 31 + level, j as u32, i as u32)).collect();
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            v.iter().map(|x| (x / n) as f32).collect()
        })
        .collect();
    let per_dir: Vec<f64> = dirs
        .par_iter()
        .map(|dir| {
            let project = |s: &[f32]| {
                let mut p: Vec<f32> = s.chunks(dim).map(|row| row.iter().zip(dir).map(|(x, w)| x * w).sum()).collect();
                p.sort_unstable_by(f32::total_cmp);
                p
            };
            let (pa, pb) = (project(a), project(b));
            pa.iter().zip(&pb).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / rows.max(1) as f64
        })
        .collect();
    1e3 * per_dir.iter().sum::<f64>() / total.max(1) as f64
}

/// SWD per pyramid level between two sets of the same channels and side (x 10^3).
pub fn swd_levels(a: &[Vec<f32>], b: &[Vec<f32>], channels: usize, cfg: &SwdConfig) -> Vec<f64> {
    let dim = channels * cfg.patch * cfg.patch;
    a.iter().zip(b).enumerate().map(|(l, (x, y))| sliced_wasserstein(x, y, dim, cfg, l as u32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_levels_add_back_to_the_image() {
        // band-pass levels + the upsampled residual reconstruct the image exactly
        let side = 28;
        let img: Vec<f32> = (0..side * side).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
        let pyr = laplacian_pyramid(&img, side);
        assert_eq!(pyr.len(), 2);
        let sides = level_sides(side);
        let rebuilt: Vec<f32> = pyr[0].iter().zip(up(&pyr[1], sides[1], sides[0])).map(|(a, b)| a + b).collect();
        for (i, (x, y)) in rebuilt.iter().zip(&img).enumerate() {
            assert!((x - y).abs() < 1e-5, "pixel {i}: {x} vs {y}");
        }
        assert_eq!(level_sides(64), vec![64, 32, 16]);
        assert_eq!(level_sides(16), vec![16]);
    }

    #[test]
    fn one_dimensional_wasserstein_of_shifted_sets_is_the_shift() {
        // dim 1: every direction is +-1, so the distance is the mean gap of the sorted values
        let a: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let b: Vec<f32> = a.iter().map(|x| x + 0.25).collect();
        let cfg = SwdConfig { dirs_per_repeat: 4, repeats: 1, ..Default::default() };
        let d = sliced_wasserstein(&a, &b, 1, &cfg, 0);
        assert!((d - 250.0).abs() < 1e-3, "{d}");
        assert!(sliced_wasserstein(&a, &a, 1, &cfg, 0).abs() < 1e-9);
    }

    #[test]
    fn a_set_is_closer_to_itself_reshuffled_than_to_noise() {
        let side = 16;
        let n = 40;
        let smooth: Vec<f32> = (0..n * side * side).map(|i| ((i % side) as f32 / 3.0 + (i / side / 7) as f32).sin() * 0.8).collect();
        let mut shuffled = smooth.clone();
        shuffled.rotate_left(7 * side * side);
        let noise: Vec<f32> = (0..n * side * side).map(|i| crate::rng::rng_unit(1, 2, 3, i as u32) as f32 * 2.0 - 1.0).collect();
        let cfg = SwdConfig::default();
        let d = |x: &[f32]| descriptors(&Images { values: x, n, channels: 1, side }, &cfg);
        let (ds, dsh, dn) = (d(&smooth), d(&shuffled), d(&noise));
        let near: f64 = swd_levels(&ds, &dsh, 1, &cfg).iter().sum();
        let far: f64 = swd_levels(&ds, &dn, 1, &cfg).iter().sum();
        assert!(near < far / 3.0, "same images {near}, noise {far}");
    }
}
