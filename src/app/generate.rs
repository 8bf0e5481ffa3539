//! One way to draw samples from a trained generator, for `gangpu sample` and `gangpu eval
//! --checkpoint`: G alone (`train::Generator`, no D), noise batch after noise batch, batch
//! statistics as in training.

use crate::train::Generator;
use crate::Engine;
use anyhow::Result;

/// Which noise samples are drawn from.
#[derive(Clone, Copy, Debug)]
pub enum Noise {
    /// Batches 0, 1, ... of a seed (`--seed`).
    Seed(u32),
    /// The run's evaluation noise: what `train --eval-every` scores, so the scores match.
    Evaluation,
    /// A seed's noise truncated at +-t (`gangpu sample --truncation`), drawn on the host.
    Truncated(u32, f64),
}

/// `n` samples (n x C x S x S values in [-1, 1]) of G on noise batches 0, 1, ... of `noise`,
/// taking the first `keep` images of each batch (all of it unless a chosen class fills only part
/// of each batch).
pub fn samples(e: &Engine, g: &Generator, n: usize, noise: Noise, keep: usize) -> Result<Vec<f32>> {
    let mc = &g.model;
    let per = mc.channels * mc.image_size * mc.image_size;
    let keep = keep.clamp(1, mc.batch);
    let mut values = Vec::with_capacity(n * per);
    let mut batch = 0u32;
    while values.len() < n * per {
        let v = match noise {
            Noise::Seed(seed) => g.sample_seeded(e, seed, batch)?,
            Noise::Evaluation => g.sample_eval_noise(e, batch)?,
            Noise::Truncated(seed, t) => g.sample_input(e, &g.input_for(&super::latent::truncated_noise(seed, batch, mc.batch, mc.nz, t)))?,
        };
        let take = (n * per - values.len()).min(keep * per);
        values.extend_from_slice(&v[..take]);
        batch += 1;
    }
    Ok(values)
}
