//! The lab's target distributions (shaders/lab.wgsl).

use super::*;
use serde::{Deserialize, Serialize};

/// Target distributions (see shaders/lab.wgsl for their exact definitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dist {
    /// 1-D N(2, 0.5^2)
    Gaussian,
    /// 1-D 0.5 N(-2, 0.4^2) + 0.5 N(2, 0.4^2)
    Mixture,
    /// 1-D U[3, 4]: no overlap with G's starting distribution near 0 (the lecture's case)
    Disjoint,
    /// 2-D: 8 Gaussians on a circle of radius 2
    #[value(name = "8gaussians")]
    #[serde(rename = "8gaussians")]
    EightGaussians,
    /// 2-D: 25 Gaussians on a 5x5 grid
    #[value(name = "25gaussians")]
    #[serde(rename = "25gaussians")]
    TwentyFiveGaussians,
    /// 2-D: a ring of radius 2
    Ring,
    /// 2-D: a swiss roll
    SwissRoll,
}

impl Dist {
    /// Every distribution with its WGSL name: the codes are defined here only (their position)
    /// and prepended to every shader as constants; lab.wgsl switches on the names.
    pub const ALL: [(Dist, &'static str); 7] = [
        (Dist::Gaussian, "DIST_GAUSSIAN"),
        (Dist::Mixture, "DIST_MIXTURE"),
        (Dist::Disjoint, "DIST_DISJOINT"),
        (Dist::EightGaussians, "DIST_8_GAUSSIANS"),
        (Dist::TwentyFiveGaussians, "DIST_25_GAUSSIANS"),
        (Dist::Ring, "DIST_RING"),
        (Dist::SwissRoll, "DIST_SWISS_ROLL"),
    ];

    pub fn code(self) -> u32 {
        Dist::ALL.iter().position(|(d, _)| *d == self).unwrap_or(0) as u32
    }
    pub fn dim(self) -> usize {
        match self {
            Dist::Gaussian | Dist::Mixture | Dist::Disjoint => 1,
            _ => 2,
        }
    }
    /// Plot range (both axes in 2-D).
    pub fn range(self) -> (f64, f64) {
        match self {
            Dist::Gaussian | Dist::Mixture => (-5.0, 5.0),
            Dist::Disjoint => (-2.0, 6.0),
            Dist::TwentyFiveGaussians => (-5.5, 5.5),
            _ => (-3.5, 3.5),
        }
    }
    /// Mode centres and their standard deviation, for mixtures.
    pub fn modes(self) -> Option<(Vec<[f64; 2]>, f64)> {
        match self {
            Dist::EightGaussians => Some((
                (0..8)
                    .map(|k| {
                        let a = std::f64::consts::TAU * k as f64 / 8.0;
                        [2.0 * a.cos(), 2.0 * a.sin()]
                    })
                    .collect(),
                0.1,
            )),
            Dist::TwentyFiveGaussians => Some(((0..25).map(|k| [(k % 5) as f64 * 2.0 - 4.0, (k / 5) as f64 * 2.0 - 4.0]).collect(), 0.1)),
            Dist::Mixture => Some((vec![[-2.0, 0.0], [2.0, 0.0]], 0.4)),
            _ => None,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct LabParams {
    pub len: u32,
    pub dim: u32,
    pub dist: u32,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
    pub _p: [u32; 2],
}

/// Fills `out` (B, dim) with draws of target distribution `dist` (see lab.wgsl).
pub fn sample_target(e: &Engine, out: &Tensor, dist: u32, seed: u32, stream: u32, counter: u32) -> Result<Dispatch> {
    ensure!(out.shape.len() == 2 && (out.shape[1] == 1 || out.shape[1] == 2), "lab samples must be (B, 1) or (B, 2), got {:?}", out.shape);
    let p = LabParams { len: out.shape[0] as u32, dim: out.shape[1] as u32, dist, seed, stream, counter, _p: [0; 2] };
    e.dispatch(Family::Lab, "sample_target", &p, &[(1, out.binding())], e.grid_for(out.shape[0] as u64)?)
}
