//! How close P_G is to P_data: exact 1-D Wasserstein-1, sliced Wasserstein in 2-D, modes covered,
//! and the JS divergence between histograms.

/// Exact W1 between two 1-D samples: the mean |a_i - b_i| of the sorted samples (equal counts;
/// with unequal counts, quantiles of the larger one).
pub fn wasserstein_1d(a: &[f32], b: &[f32]) -> f64 {
    let mut a: Vec<f64> = a.iter().map(|v| *v as f64).collect();
    let mut b: Vec<f64> = b.iter().map(|v| *v as f64).collect();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let n = a.len().min(b.len());
    if n == 0 {
        return f64::NAN;
    }
    (0..n)
        .map(|i| {
            let x = a[i * a.len() / n];
            let y = b[i * b.len() / n];
            (x - y).abs()
        })
        .sum::<f64>()
        / n as f64
}

/// Sliced Wasserstein-1 distance between 2-D samples (x, y interleaved), over `dirs` evenly spaced
/// directions.
pub fn sliced_wasserstein(a: &[f32], b: &[f32], dirs: usize) -> f64 {
    let mut total = 0.0;
    for k in 0..dirs {
        let t = std::f64::consts::PI * k as f64 / dirs as f64;
        let (c, s) = (t.cos(), t.sin());
        let pa: Vec<f32> = a.chunks_exact(2).map(|p| (p[0] as f64 * c + p[1] as f64 * s) as f32).collect();
        let pb: Vec<f32> = b.chunks_exact(2).map(|p| (p[0] as f64 * c + p[1] as f64 * s) as f32).collect();
        total += wasserstein_1d(&pa, &pb);
    }
    total / dirs as f64
}

/// Modes with at least a quarter of their fair share of samples within 3 standard deviations.
pub fn modes_covered(samples: &[f32], modes: &[[f64; 2]], std: f64) -> usize {
    let n = samples.len() / 2;
    let need = (0.25 * n as f64 / modes.len() as f64).max(1.0);
    modes
        .iter()
        .filter(|m| {
            let hits = samples.chunks_exact(2).filter(|p| ((p[0] as f64 - m[0]).powi(2) + (p[1] as f64 - m[1]).powi(2)).sqrt() < 3.0 * std).count();
            hits as f64 >= need
        })
        .count()
}

/// JS divergence (nats) between histograms of two sample sets over the plot range.
pub fn js_histograms(a: &[f32], b: &[f32], dim: usize, lo: f64, hi: f64) -> f64 {
    let bins = if dim == 1 { 60 } else { 30 };
    let cells = if dim == 1 { bins } else { bins * bins };
    let hist = |v: &[f32]| {
        let mut h = vec![0.0; cells];
        let cell = |x: f32| (((x as f64 - lo) / (hi - lo) * bins as f64).floor().clamp(0.0, bins as f64 - 1.0)) as usize;
        let mut n = 0.0;
        for p in v.chunks_exact(dim) {
            let i = if dim == 1 { cell(p[0]) } else { cell(p[1]) * bins + cell(p[0]) };
            h[i] += 1.0;
            n += 1.0;
        }
        h.iter().map(|c| c / f64::max(n, 1.0)).collect::<Vec<f64>>()
    };
    let (p, q) = (hist(a), hist(b));
    let mut js = 0.0;
    for i in 0..cells {
        let m = 0.5 * (p[i] + q[i]);
        if p[i] > 0.0 {
            js += 0.5 * p[i] * (p[i] / m).ln();
        }
        if q[i] > 0.0 {
            js += 0.5 * q[i] * (q[i] / m).ln();
        }
    }
    js
}
