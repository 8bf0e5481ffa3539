//! Quality scores for generated images, with no downloaded model: an MNIST classifier trained by
//! gangpu's own kernels (`classifier`) gives the FID on its penultimate features, class coverage,
//! the class histogram's entropy and the mean confidence; the sliced Wasserstein distance on a
//! Laplacian pyramid of patches (`swd`) needs no classifier and works on any data.
//!
//! The features and their statistics (sums and cross-products) are computed on the GPU; only
//! those statistics come back, and the host finishes the Fréchet distance (a symmetric
//! eigen-decomposition of 128 x 128 matrices, milliseconds).

pub mod classifier;
pub mod classifier_train;
pub mod score;
pub mod swd;

use serde::{Deserialize, Serialize};

/// A class holds "its share" of the samples when it gets at least this fraction of a uniform
/// share (0.5: at least 5% of the samples for 10 classes).
pub const COVERAGE_SHARE: f64 = 0.5;

/// Statistics of one set of images as the classifier sees it, summed over the set.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    pub n: usize,
    /// Sum of the feature vectors (D).
    pub sum: Vec<f64>,
    /// Sum of their outer products (D x D, row-major).
    pub cross: Vec<f64>,
    /// Per class: argmax counts, summed confidences of those, summed probabilities (3 x K).
    pub class: Vec<f64>,
}

impl FeatureStats {
    pub fn empty(dim: usize, classes: usize) -> FeatureStats {
        FeatureStats { n: 0, sum: vec![0.0; dim], cross: vec![0.0; dim * dim], class: vec![0.0; 3 * classes] }
    }
    pub fn dim(&self) -> usize {
        self.sum.len()
    }
    pub fn classes(&self) -> usize {
        self.class.len() / 3
    }
    pub fn add(&mut self, o: &FeatureStats) {
        self.n += o.n;
        for (a, b) in self.sum.iter_mut().zip(&o.sum).chain(self.cross.iter_mut().zip(&o.cross)).chain(self.class.iter_mut().zip(&o.class)) {
            *a += b;
        }
    }
    /// Mean and (unbiased) covariance of the features.
    pub fn mean_cov(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let n = self.n.max(2) as f64;
        let mu: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] = (self.cross[i * d + j] - n * mu[i] * mu[j]) / (n - 1.0);
            }
        }
        (mu, cov)
    }
}

/// Scores from the classifier's statistics of a sample set (and of the reference set, for FID).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Classes holding at least COVERAGE_SHARE of a uniform share of the samples.
    pub coverage: usize,
    pub classes: usize,
    /// Entropy of the argmax class histogram, bits (log2 of the class count when uniform).
    pub class_entropy_bits: f64,
    /// Mean top softmax probability.
    pub confidence: f64,
}

pub fn class_scores(s: &FeatureStats) -> ClassScores {
    let k = s.classes();
    let n = s.n.max(1) as f64;
    let counts = &s.class[..k];
    let coverage = counts.iter().filter(|c| **c / n >= COVERAGE_SHARE / k as f64).count();
    let class_entropy_bits = -counts.iter().filter(|c| **c > 0.0).map(|c| (c / n) * (c / n).log2()).sum::<f64>();
    let confidence = s.class[k..2 * k].iter().sum::<f64>() / n;
    ClassScores { coverage, classes: k, class_entropy_bits, confidence }
}

/// The Fréchet distance between Gaussians N(mu1, c1) and N(mu2, c2) (FID on features):
/// |mu1 - mu2|^2 + tr c1 + tr c2 - 2 tr sqrt(c1 c2), with tr sqrt(c1 c2) computed as
/// tr sqrt(sqrt(c1) c2 sqrt(c1)), whose argument is symmetric positive semi-definite.
pub fn frechet_distance(mu1: &[f64], c1: &[f64], mu2: &[f64], c2: &[f64]) -> f64 {
    let d = mu1.len();
    let mean: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    let s1 = sym_sqrt(c1, d);
    let m = matmul(&matmul(&s1, c2, d), &s1, d);
    let (vals, _) = jacobi_eigen(&symmetrize(&m, d), d);
    let tr_sqrt: f64 = vals.iter().map(|v| v.max(0.0).sqrt()).sum();
    (mean + tr(c1) + tr(c2) - 2.0 * tr_sqrt).max(0.0)
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                c[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    c
}

fn symmetrize(a: &[f64], d: usize) -> Vec<f64> {
    let mut s = a.to_vec();
    for i in 0..d {
        for j in 0..d {
            s[i * d + j] = 0.5 * (a[i * d + j] + a[j * d + i]);
        }
    }
    s
}

/// The symmetric square root of a symmetric positive semi-definite matrix (negative
/// eigenvalues from rounding are taken as 0).
pub fn sym_sqrt(a: &[f64], d: usize) -> Vec<f64> {
    let (vals, vecs) = jacobi_eigen(&symmetrize(a, d), d);
    let mut out = vec![0.0; d * d];
    for (k, l) in vals.iter().enumerate() {
        let s = l.max(0.0).sqrt();
        for i in 0..d {
            let vik = vecs[i * d + k] * s;
            for j in 0..d {
                out[i * d + j] += vik * vecs[j * d + k];
            }
        }
    }
    out
}

/// Eigenvalues and eigenvectors (columns of a row-major d x d matrix) of a symmetric matrix by
/// cyclic Jacobi rotations: slow for large d, exact to rounding, no dependencies.
pub fn jacobi_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..d).flat_map(|i| (0..d).filter(move |j| *j != i).map(move |j| (i, j))).map(|(i, j)| a[i * d + j] * a[i * d + j]).sum::<f64>().sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * d + p], a[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random orthogonal matrix from Gram-Schmidt on counter-based normals.
    fn rotation(d: usize, seed: u32) -> Vec<f64> {
        let mut q = vec![0.0; d * d];
        for col in 0..d {
            let mut v: Vec<f64> = (0..d).map(|i| crate::rng::rng_normal(seed, 9, col as u32, i as u32)).collect();
            for prev in 0..col {
                let dot: f64 = (0..d).map(|i| v[i] * q[i * d + prev]).sum();
                for i in 0..d {
                    v[i] -= dot * q[i * d + prev];
                }
            }
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            for i in 0..d {
                q[i * d + col] = v[i] / n;
            }
        }
        q
    }

    fn rotated_diag(q: &[f64], diag: &[f64]) -> Vec<f64> {
        let d = diag.len();
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] = (0..d).map(|k| q[i * d + k] * diag[k] * q[j * d + k]).sum();
            }
        }
        m
    }

    #[test]
    fn frechet_distance_matches_the_closed_form_for_covariances_sharing_eigenvectors() {
        // c1 = Q diag(a) Q^T, c2 = Q diag(b) Q^T: tr sqrt(c1 c2) = sum sqrt(a_i b_i), so
        // FID = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        let d = 12;
        let q = rotation(d, 3);
        let a: Vec<f64> = (0..d).map(|i| 0.1 + i as f64 * 0.7).collect();
        let b: Vec<f64> = (0..d).map(|i| 2.0 + ((i * 7) % 5) as f64).collect();
        let mu1: Vec<f64> = (0..d).map(|i| i as f64 * 0.1).collect();
        let mu2: Vec<f64> = (0..d).map(|i| 1.0 - i as f64 * 0.05).collect();
        let want =
            mu1.iter().zip(&mu2).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() + a.iter().zip(&b).map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2)).sum::<f64>();
        let got = frechet_distance(&mu1, &rotated_diag(&q, &a), &mu2, &rotated_diag(&q, &b));
        assert!((got - want).abs() <= 1e-8 * want.max(1.0), "FID {got}, closed form {want}");
        // a set against itself scores 0
        let c = rotated_diag(&q, &a);
        assert!(frechet_distance(&mu1, &c, &mu1, &c).abs() < 1e-8);
    }

    #[test]
    fn frechet_distance_of_non_commuting_covariances_matches_the_2x2_formula() {
        // For 2x2 SPD matrices tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) with M = c1 c2.
        let c1 = [2.0, 0.5, 0.5, 1.0];
        let c2 = [1.0, -0.3, -0.3, 3.0];
        let m = matmul(&c1, &c2, 2);
        let tr_sqrt = (m[0] + m[3] + 2.0 * (m[0] * m[3] - m[1] * m[2]).sqrt()).sqrt();
        let want = (2.0 + 1.0) + (1.0 + 3.0) - 2.0 * tr_sqrt;
        let got = frechet_distance(&[0.0, 0.0], &c1, &[0.0, 0.0], &c2);
        assert!((got - want).abs() < 1e-10, "FID {got}, formula {want}");
    }

    #[test]
    fn jacobi_eigen_reconstructs_the_matrix() {
        let d = 20;
        let q = rotation(d, 5);
        let diag: Vec<f64> = (0..d).map(|i| (i as f64 - 7.0) * 0.3).collect();
        let m = rotated_diag(&q, &diag);
        let (vals, vecs) = jacobi_eigen(&m, d);
        let back = rotated_diag(&vecs, &vals);
        for (i, (x, y)) in back.iter().zip(&m).enumerate() {
            assert!((x - y).abs() < 1e-10, "entry {i}: {x} vs {y}");
        }
        let mut got = vals.clone();
        got.sort_by(f64::total_cmp);
        for (g, w) in got.iter().zip(&diag) {
            assert!((g - w).abs() < 1e-10, "eigenvalue {g} vs {w}");
        }
    }

    #[test]
    fn class_scores_count_covered_classes_and_the_histogram_entropy() {
        // 100 samples over 4 classes: 50, 48, 2, 0 -> classes 0 and 1 reach half a uniform share (12.5)
        let mut s = FeatureStats::empty(1, 4);
        s.n = 100;
        s.class[..4].copy_from_slice(&[50.0, 48.0, 2.0, 0.0]);
        s.class[4..8].copy_from_slice(&[45.0, 40.0, 1.0, 0.0]);
        let c = class_scores(&s);
        assert_eq!(c.coverage, 2);
        let p = [0.5f64, 0.48, 0.02];
        let h = -p.iter().map(|x| x * x.log2()).sum::<f64>();
        assert!((c.class_entropy_bits - h).abs() < 1e-12);
        assert!((c.confidence - 0.86).abs() < 1e-12);
    }

    #[test]
    fn mean_and_covariance_come_from_the_sums() {
        // two features over three samples
        let xs = [[1.0, 2.0], [3.0, 0.0], [5.0, 1.0]];
        let mut s = FeatureStats::empty(2, 2);
        s.n = 3;
        for x in xs {
            for i in 0..2 {
                s.sum[i] += x[i];
                for j in 0..2 {
                    s.cross[i * 2 + j] += x[i] * x[j];
                }
            }
        }
        let (mu, cov) = s.mean_cov();
        assert_eq!(mu, vec![3.0, 1.0]);
        // var x0 = ((-2)^2 + 0 + 2^2) / 2 = 4; var x1 = (1 + 1 + 0) / 2 = 1; cov = (-2*1 + 0 + 2*0)/2 = -1
        for (g, w) in cov.iter().zip([4.0, -1.0, -1.0, 1.0]) {
            assert!((g - w).abs() < 1e-12, "{cov:?}");
        }
    }
}
