//! A reference set prepared once (its classifier statistics and SWD descriptors) and the scores of
//! a sample set against it: shared by `gangpu eval` and `train --eval-every`.

use super::classifier::{self, Classifier, SIDE};
use super::swd::{self, Images, SwdConfig};
use super::{class_scores, frechet_distance, FeatureStats};
use crate::data::Dataset;
use crate::engine::Engine;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// What the samples are compared with.
pub struct Reference {
    pub description: String,
    /// Feature mean and covariance of the whole reference set (28x28 grayscale sets only).
    pub fid_stats: Option<(Vec<f64>, Vec<f64>)>,
    /// Why there is no FID, when there is none.
    pub fid_skipped: Option<String>,
    /// SWD descriptors of `swd_n` reference images, per pyramid level.
    pub swd_desc: Vec<Vec<f32>>,
    pub swd_n: usize,
    pub channels: usize,
    pub side: usize,
    pub swd: SwdConfig,
}

/// The reason FID is not defined for images of this shape, if it is not.
pub fn fid_unavailable(channels: usize, side: usize) -> Option<String> {
    (channels != 1 || side != SIDE).then(|| {
        format!(
            "FID, coverage and confidence use gangpu's MNIST classifier, which needs 28x28 grayscale images; these are {side}x{side} with {channels} channel{}",
            if channels == 1 { "" } else { "s" }
        )
    })
}

/// Reference images drawn for SWD: `n` of the set in a seeded order (all of them when fewer).
pub fn draw_values(ds: &Dataset, n: usize, seed: u32) -> Vec<f32> {
    let per = ds.values_per_image();
    let take = n.min(ds.count);
    (0..take)
        .flat_map(|i| {
            let idx = crate::rng::epoch_image(seed, 41, 0, i as u32, ds.count as u32) as usize;
            ds.pixels[idx * per..(idx + 1) * per].iter().map(|p| *p as f32 / 127.5 - 1.0)
        })
        .collect()
}

impl Reference {
    /// Prepares `ds` (already at the samples' size and channels) as a reference for sets of
    /// `n` samples: FID statistics over every image, SWD descriptors of `n` drawn images.
    pub fn new(e: &Engine, ds: &Dataset, clf: Option<&Classifier>, n: usize) -> Result<Reference> {
        let swd = SwdConfig::default();
        let drawn = draw_values(ds, n, 0x5eed);
        let swd_n = drawn.len() / ds.values_per_image();
        let swd_desc = swd::descriptors(&Images { values: &drawn, n: swd_n, channels: ds.channels, side: ds.size }, &swd);
        let fid_skipped = fid_unavailable(ds.channels, ds.size);
        let fid_stats = match (clf, &fid_skipped) {
            (Some(c), None) => {
                let all: Vec<f32> = ds.pixels.iter().map(|p| *p as f32 / 127.5 - 1.0).collect();
                Some(classifier::stats_of_images(e, c, &all)?.mean_cov())
            }
            _ => None,
        };
        Ok(Reference {
            description: if ds.source.contains('(') {
                ds.source.clone()
            } else {
                format!("{} ({} images)", ds.source, crate::imageout::thousands(ds.count as u64))
            },
            fid_stats,
            fid_skipped,
            swd_desc,
            swd_n,
            channels: ds.channels,
            side: ds.size,
            swd,
        })
    }

    /// Scores of a sample set: its classifier statistics (when FID applies) and its values.
    pub fn score(&self, stats: Option<&FeatureStats>, samples: &[f32], n: usize) -> Scores {
        let desc = swd::descriptors(&Images { values: samples, n, channels: self.channels, side: self.side }, &self.swd);
        let swd_levels = swd::swd_levels(&desc, &self.swd_desc, self.channels, &self.swd);
        let swd = swd_levels.iter().sum::<f64>() / swd_levels.len().max(1) as f64;
        let (fid, class) = match (&self.fid_stats, stats) {
            (Some((mu_r, cov_r)), Some(s)) => {
                let (mu, cov) = s.mean_cov();
                (Some(frechet_distance(&mu, &cov, mu_r, cov_r)), Some(class_scores(s)))
            }
            _ => (None, None),
        };
        Scores {
            n,
            fid,
            fid_skipped: if fid.is_none() { self.fid_skipped.clone().or(Some("no classifier statistics".into())) } else { None },
            coverage: class.as_ref().map(|c| c.coverage),
            classes: class.as_ref().map(|c| c.classes),
            class_entropy_bits: class.as_ref().map(|c| c.class_entropy_bits),
            confidence: class.as_ref().map(|c| c.confidence),
            swd,
            swd_levels,
        }
    }
}

/// The quality scores of one sample set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub n: usize,
    /// Fréchet distance on the classifier's 128 penultimate features (lower is better).
    pub fid: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid_skipped: Option<String>,
    /// Classes holding at least half a uniform share of the samples (of `classes`).
    pub coverage: Option<usize>,
    pub classes: Option<usize>,
    /// Entropy of the predicted-class histogram in bits (log2 10 = 3.32 when uniform).
    pub class_entropy_bits: Option<f64>,
    /// Mean top softmax probability of the classifier.
    pub confidence: Option<f64>,
    /// Sliced Wasserstein distance x 10^3, mean over pyramid levels (lower is better).
    pub swd: f64,
    pub swd_levels: Vec<f64>,
}

impl Scores {
    /// "FID 12.3, SWD 45.6" for logs and figures.
    pub fn short(&self) -> String {
        match self.fid {
            Some(f) => format!("FID {f:.1}, SWD {:.1}", self.swd),
            None => format!("SWD {:.1}", self.swd),
        }
    }
}
