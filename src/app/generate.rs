//! One way to draw samples from a trained generator, for `gangpu sample` and `gangpu eval
//! --checkpoint`: noise batch after noise batch of a seed, G with batch statistics (as trained).

use crate::checkpoint::RawCheckpoint;
use crate::train::{self, Gan};
use crate::Engine;
use anyhow::Result;

/// The GAN of a checkpoint, its state loaded, at batch `batch` (the checkpoint's when None).
pub fn from_checkpoint(e: &Engine, raw: &RawCheckpoint, batch: Option<usize>) -> Result<Gan> {
    let mut cfg = train::checkpoint_config(raw)?;
    if let Some(b) = batch {
        cfg.model.batch = b;
    }
    let mut gan = Gan::new(e, cfg, None)?;
    gan.load_checkpoint(e, raw)?;
    Ok(gan)
}

/// Which noise samples are drawn from.
#[derive(Clone, Copy, Debug)]
pub enum Noise {
    /// Batches 0, 1, ... of a seed (`--seed`).
    Seed(u32),
    /// The run's evaluation noise: what `train --eval-every` scores, so the scores match.
    Evaluation,
}

/// `n` samples (n x C x S x S values in [-1, 1]) of `gan`'s G on noise batches 0, 1, ... of
/// `noise`, taking the first `keep` images of each batch (all of it unless a chosen class fills
/// only part of each batch).
pub fn samples(e: &Engine, gan: &Gan, n: usize, noise: Noise, keep: usize) -> Result<Vec<f32>> {
    let mc = &gan.cfg.model;
    let per = mc.channels * mc.image_size * mc.image_size;
    let keep = keep.clamp(1, mc.batch);
    let mut values = Vec::with_capacity(n * per);
    let mut batch = 0u32;
    while values.len() < n * per {
        let v = match noise {
            Noise::Seed(seed) => gan.sample_seeded(e, seed, batch)?,
            Noise::Evaluation => gan.sample_eval_noise(e, batch)?,
        };
        let take = (n * per - values.len()).min(keep * per);
        values.extend_from_slice(&v[..take]);
        batch += 1;
    }
    Ok(values)
}
