//! Plain CPU references for every kernel, in f64, written in the most literal form (scatter loops
//! straight from the definitions) so they share no structure with the GPU kernels. Tests check
//! the GPU against these, and these against finite differences.

use crate::kernels::{Act, ConvGeom, ConvTGeom, PenaltyKind};

/// y = conv2d(x, w), direct definition.
pub fn conv2d(g: &ConvGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut y = vec![0.0; g.n * g.cout * oh * ow];
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0;
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                s += x[((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize] * w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx];
                            }
                        }
                    }
                    y[((n * g.cout + co) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    y
}

/// Visits every (x index, w index, y index) triple of a convolution: the backward passes below
/// are the scatter forms of the same sum.
fn conv_for_each(g: &ConvGeom, mut f: impl FnMut(usize, usize, usize)) {
    let (oh, ow) = (g.oh(), g.ow());
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                f(
                                    ((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize,
                                    ((co * g.cin + ci) * g.kh + ky) * g.kw + kx,
                                    ((n * g.cout + co) * oh + oy) * ow + ox,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d_backward_input(g: &ConvGeom, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; g.n * g.cin * g.h * g.w];
    conv_for_each(g, |xi, wi, yi| dx[xi] += dy[yi] * w[wi]);
    dx
}

pub fn conv2d_backward_weight(g: &ConvGeom, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dw = vec![0.0; g.cout * g.cin * g.kh * g.kw];
    conv_for_each(g, |xi, wi, yi| dw[wi] += dy[yi] * x[xi]);
    dw
}

/// Transposed convolution from its own definition: each input pixel scatters w into the output.
pub fn conv_transpose2d(g: &ConvTGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut y = vec![0.0; g.n * g.cout * oh * ow];
    for n in 0..g.n {
        for ci in 0..g.cin {
            for iy in 0..g.h {
                for ix in 0..g.w {
                    let v = x[((n * g.cin + ci) * g.h + iy) * g.w + ix];
                    for co in 0..g.cout {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let oy = (iy * g.stride + ky) as isize - g.pad as isize;
                                let ox = (ix * g.stride + kx) as isize - g.pad as isize;
                                if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                    continue;
                                }
                                y[((n * g.cout + co) * oh + oy as usize) * ow + ox as usize] += v * w[((ci * g.cout + co) * g.kh + ky) * g.kw + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// Backward of `conv_transpose2d`: (dx, dw) from dy, again by the literal scatter.
pub fn conv_transpose2d_backward(g: &ConvTGeom, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (oh, ow) = (g.oh(), g.ow());
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for n in 0..g.n {
        for ci in 0..g.cin {
            for iy in 0..g.h {
                for ix in 0..g.w {
                    let xi = ((n * g.cin + ci) * g.h + iy) * g.w + ix;
                    for co in 0..g.cout {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let oy = (iy * g.stride + ky) as isize - g.pad as isize;
                                let ox = (ix * g.stride + kx) as isize - g.pad as isize;
                                if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                    continue;
                                }
                                let yi = ((n * g.cout + co) * oh + oy as usize) * ow + ox as usize;
                                let wi = ((ci * g.cout + co) * g.kh + ky) * g.kw + kx;
                                dx[xi] += dy[yi] * w[wi];
                                dw[wi] += dy[yi] * x[xi];
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw)
}

pub fn act(a: Act, v: f64) -> f64 {
    match a {
        Act::Identity => v,
        Act::Relu => v.max(0.0),
        Act::LeakyRelu(s) => {
            if v > 0.0 {
                v
            } else {
                v * s as f64
            }
        }
        Act::Tanh => v.tanh(),
        Act::Sigmoid => 1.0 / (1.0 + (-v).exp()),
    }
}

/// d act / d x, from the input x.
pub fn act_grad(a: Act, v: f64) -> f64 {
    match a {
        Act::Identity => 1.0,
        Act::Relu => (v > 0.0) as u8 as f64,
        Act::LeakyRelu(s) => {
            if v > 0.0 {
                1.0
            } else {
                s as f64
            }
        }
        Act::Tanh => 1.0 - v.tanh().powi(2),
        Act::Sigmoid => {
            let s = 1.0 / (1.0 + (-v).exp());
            s * (1.0 - s)
        }
    }
}

/// Batch norm (training mode) fused with an activation. Returns (y, mean, biased var).
pub fn batchnorm_train(x: &[f64], n: usize, c: usize, hw: usize, gamma: &[f64], beta: &[f64], eps: f64, a: Act) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = (n * hw) as f64;
    let mut y = vec![0.0; x.len()];
    let mut means = vec![0.0; c];
    let mut vars = vec![0.0; c];
    for ch in 0..c {
        let idx = |i: usize| (i / hw) * c * hw + ch * hw + i % hw;
        let mean = (0..n * hw).map(|i| x[idx(i)]).sum::<f64>() / m;
        let var = (0..n * hw).map(|i| (x[idx(i)] - mean).powi(2)).sum::<f64>() / m;
        for i in 0..n * hw {
            y[idx(i)] = act(a, (x[idx(i)] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch]);
        }
        means[ch] = mean;
        vars[ch] = var;
    }
    (y, means, vars)
}

/// Backward of `batchnorm_train`: (dx, dgamma, dbeta).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_train_backward(
    x: &[f64],
    dy: &[f64],
    n: usize,
    c: usize,
    hw: usize,
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
    a: Act,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = (n * hw) as f64;
    let mut dx = vec![0.0; x.len()];
    let mut dg = vec![0.0; c];
    let mut db = vec![0.0; c];
    for ch in 0..c {
        let idx = |i: usize| (i / hw) * c * hw + ch * hw + i % hw;
        let mean = (0..n * hw).map(|i| x[idx(i)]).sum::<f64>() / m;
        let var = (0..n * hw).map(|i| (x[idx(i)] - mean).powi(2)).sum::<f64>() / m;
        let inv = 1.0 / (var + eps).sqrt();
        let xhat: Vec<f64> = (0..n * hw).map(|i| (x[idx(i)] - mean) * inv).collect();
        let dz: Vec<f64> = (0..n * hw).map(|i| dy[idx(i)] * act_grad(a, xhat[i] * gamma[ch] + beta[ch])).collect();
        let sdz: f64 = dz.iter().sum();
        let sdzx: f64 = dz.iter().zip(&xhat).map(|(d, h)| d * h).sum();
        dg[ch] = sdzx;
        db[ch] = sdz;
        for i in 0..n * hw {
            dx[idx(i)] = gamma[ch] * inv / m * (m * dz[i] - sdz - xhat[i] * sdzx);
        }
    }
    (dx, dg, db)
}

/// Batch norm in eval mode with running statistics.
pub fn batchnorm_eval(x: &[f64], c: usize, hw: usize, gamma: &[f64], beta: &[f64], rmean: &[f64], rvar: &[f64], eps: f64, a: Act) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let ch = (i / hw) % c;
            act(a, (v - rmean[ch]) / (rvar[ch] + eps).sqrt() * gamma[ch] + beta[ch])
        })
        .collect()
}

/// C = A B (+ bias), all row-major: A (m, k), B (k, n).
pub fn matmul(a: &[f64], b: &[f64], bias: Option<&[f64]>, m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |b| b[j]);
            for kk in 0..k {
                s += a[i * k + kk] * b[kk * n + j];
            }
            c[i * n + j] = s;
        }
    }
    c
}

pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

/// Mean BCE on logits, its gradient, and mean sigmoid.
pub fn bce_logits(l: &[f64], y: &[f64]) -> (f64, Vec<f64>, f64) {
    let n = l.len() as f64;
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let loss = l.iter().zip(y).map(|(l, y)| l.max(0.0) - l * y + (1.0 + (-l.abs()).exp()).ln()).sum::<f64>() / n;
    let grad = l.iter().zip(y).map(|(l, y)| (sig(*l) - y) / n).collect();
    let mean_p = l.iter().map(|v| sig(*v)).sum::<f64>() / n;
    (loss, grad, mean_p)
}

/// One Adam step (PyTorch's formula), in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], lr: f64, b1: f64, b2: f64, eps: f64, t: u64) {
    let bc1 = 1.0 - b1.powi(t as i32);
    let bc2 = 1.0 - b2.powi(t as i32);
    for i in 0..p.len() {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
    }
}

/// One RMSProp step (PyTorch's formula), in place.
pub fn rmsprop_step(p: &mut [f64], g: &[f64], v: &mut [f64], lr: f64, alpha: f64, eps: f64) {
    for i in 0..p.len() {
        v[i] = alpha * v[i] + (1.0 - alpha) * g[i] * g[i];
        p[i] -= lr * g[i] / (v[i].sqrt() + eps);
    }
}

// The counter-based generator is production code (initialisation, streamed batches) that the GPU
// kernels mirror; the references use it from there.
pub use crate::rng::{epoch_image, feistel, pcg_hash, rng_normal, rng_u32, rng_unit};

/// Mean of the other losses on raw outputs: kind "squared" 0.5 (l - y)^2 and "hinge" relu(1 - y l);
/// returns (mean loss, gradient of the mean).
pub fn squared_loss(l: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let n = l.len() as f64;
    (l.iter().zip(y).map(|(l, y)| 0.5 * (l - y).powi(2)).sum::<f64>() / n, l.iter().zip(y).map(|(l, y)| (l - y) / n).collect())
}

pub fn hinge_loss(l: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let n = l.len() as f64;
    (
        l.iter().zip(y).map(|(l, y)| (1.0 - y * l).max(0.0)).sum::<f64>() / n,
        l.iter().zip(y).map(|(l, y)| if 1.0 - y * l > 0.0 { -y / n } else { 0.0 }).collect(),
    )
}

/// One power iteration of spectral norm on w (rows, cols) from u: returns (u', v, sigma).
pub fn spectral_norm_power(w: &[f64], rows: usize, cols: usize, u: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let t: Vec<f64> = (0..cols).map(|k| (0..rows).map(|i| w[i * cols + k] * u[i]).sum()).collect();
    let nt = norm(&t);
    let v: Vec<f64> = t.iter().map(|x| x / nt).collect();
    let s: Vec<f64> = (0..rows).map(|i| (0..cols).map(|k| w[i * cols + k] * v[k]).sum()).collect();
    let ns = norm(&s);
    let u2: Vec<f64> = s.iter().map(|x| x / ns).collect();
    let sigma = (0..rows).map(|i| u2[i] * s[i]).sum();
    (u2, v, sigma)
}

/// Mean softmax cross-entropy of rows of `classes` logits with integer labels: (loss, gradient,
/// accuracy).
pub fn softmax_cross_entropy(l: &[f64], labels: &[usize], classes: usize) -> (f64, Vec<f64>, f64) {
    let n = labels.len();
    let mut loss = 0.0;
    let mut acc = 0.0;
    let mut grad = vec![0.0; l.len()];
    for (i, &y) in labels.iter().enumerate() {
        let row = &l[i * classes..(i + 1) * classes];
        let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let se: f64 = row.iter().map(|v| (v - mx).exp()).sum();
        loss += mx + se.ln() - row[y];
        let arg = (0..classes).fold(0, |a, k| if row[k] > row[a] { k } else { a });
        acc += (arg == y) as u8 as f64;
        for k in 0..classes {
            grad[i * classes + k] = ((row[k] - mx).exp() / se - (k == y) as u8 as f64) / n as f64;
        }
    }
    (loss / n as f64, grad, acc / n as f64)
}

/// The classifier statistics of `class_stats_accumulate` over logits (N, K): per class the
/// argmax count, the summed top probability of the rows assigned to it, the summed probability.
pub fn class_stats(l: &[f64], classes: usize) -> Vec<f64> {
    let mut out = vec![0.0; 3 * classes];
    for row in l.chunks(classes) {
        let top = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let arg = row.iter().position(|v| *v == top).unwrap_or(0);
        let z: f64 = row.iter().map(|v| (v - top).exp()).sum();
        out[arg] += 1.0;
        out[classes + arg] += 1.0 / z;
        for (c, v) in row.iter().enumerate() {
            out[2 * classes + c] += (v - top).exp() / z;
        }
    }
    out
}

/// Deterministic uniform values in [lo, hi) (xorshift64 from `seed`): the inputs of every kernel
/// check (`gangpu check` and the tests), so a failure reproduces.
pub fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// The input-gradient penalty of per-sample gradients g (N x dim): weight * mean value, what the
/// penalty kernel writes to its stats slot (shaders/penalty.wgsl).
pub fn penalty(kind: PenaltyKind, weight: f64, g: &[f64], n: usize) -> f64 {
    let dim = g.len() / n;
    (0..n).map(|k| kind.value(g[k * dim..(k + 1) * dim].iter().map(|v| v * v).sum::<f64>().sqrt()).0).sum::<f64>() * weight / n as f64
}

/// DiffAugment of one batch (N, C, H, W), stage by stage as DiffAugment_pytorch.py writes it,
/// with each sample's draws given as (b, s, c, dh, dw, top, left, _) (shaders/augment.wgsl's
/// `aug` rows) and the cut square's side `cut` (rows, columns).
pub fn augment(x: &[f64], shape: [usize; 4], draws: &[f64], cut: (usize, usize)) -> Vec<f64> {
    let [n, c, h, w] = shape;
    let (hw, dim) = (h * w, c * h * w);
    let mut out = vec![0.0; x.len()];
    for k in 0..n {
        let d = &draws[k * 8..k * 8 + 8];
        // brightness
        let x1: Vec<f64> = x[k * dim..(k + 1) * dim].iter().map(|v| v + d[0]).collect();
        // saturation: the mean over channels at each pixel
        let mut x2 = x1.clone();
        for q in 0..hw {
            let m = (0..c).map(|ch| x1[ch * hw + q]).sum::<f64>() / c as f64;
            for ch in 0..c {
                x2[ch * hw + q] = (x1[ch * hw + q] - m) * d[1] + m;
            }
        }
        // contrast: the mean over the whole sample
        let m = x2.iter().sum::<f64>() / dim as f64;
        let x3: Vec<f64> = x2.iter().map(|v| (v - m) * d[2] + m).collect();
        // translation, zeros shifted in, then cutout
        for (o, src) in augment_sources(shape, d, cut).into_iter().enumerate() {
            if let Some(src) = src {
                out[k * dim + o] = x3[src];
            }
        }
    }
    out
}

/// For each value of one augmented sample (C, H, W), the value of the colour-adjusted sample it
/// reads after translation and cutout, or None where zeros were shifted in or the square is cut.
fn augment_sources(shape: [usize; 4], d: &[f64], cut: (usize, usize)) -> Vec<Option<usize>> {
    let [_, c, h, w] = shape;
    let (dh, dw, top, left) = (d[3] as i64, d[4] as i64, d[5] as i64, d[6] as i64);
    let mut v = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for i in 0..h as i64 {
            for j in 0..w as i64 {
                let (si, sj) = (i + dh, j + dw);
                let inside = si >= 0 && si < h as i64 && sj >= 0 && sj < w as i64;
                let cut_out = i >= top && i < top + cut.0 as i64 && j >= left && j < left + cut.1 as i64;
                v.push((inside && !cut_out).then(|| ch * h * w + si as usize * w + sj as usize));
            }
        }
    }
    v
}

/// The gradient of `augment` with respect to x, from dy, each stage's backward in reverse order.
pub fn augment_backward(dy: &[f64], shape: [usize; 4], draws: &[f64], cut: (usize, usize)) -> Vec<f64> {
    let [n, c, h, w] = shape;
    let (hw, dim) = (h * w, c * h * w);
    let mut dx = vec![0.0; dy.len()];
    for k in 0..n {
        let d = &draws[k * 8..k * 8 + 8];
        // cutout and translation: scatter each kept output's gradient to the pixel it read
        let mut g3 = vec![0.0; dim];
        for (o, src) in augment_sources(shape, d, cut).into_iter().enumerate() {
            if let Some(src) = src {
                g3[src] += dy[k * dim + o];
            }
        }
        // contrast
        let total: f64 = g3.iter().sum();
        let g2: Vec<f64> = g3.iter().map(|g| d[2] * g + (1.0 - d[2]) * total / dim as f64).collect();
        // saturation (brightness passes the gradient through)
        for q in 0..hw {
            let m = (0..c).map(|ch| g2[ch * hw + q]).sum::<f64>() / c as f64;
            for ch in 0..c {
                dx[k * dim + ch * hw + q] = d[1] * g2[ch * hw + q] + (1.0 - d[1]) * m;
            }
        }
    }
    dx
}

/// ADA's update of p from the signs of D's outputs on real images since the last adjustment
/// (shaders/augment.wgsl's `ada_update`): (new p, r_t).
pub fn ada_adjust(p: f64, outputs: &[f64], target: f64, step: f64) -> (f64, f64) {
    let rt = outputs
        .iter()
        .map(|v| {
            if *v > 0.0 {
                1.0
            } else if *v < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / outputs.len() as f64;
    let sign = if rt > target {
        1.0
    } else if rt < target {
        -1.0
    } else {
        0.0
    };
    ((p + sign * step).clamp(0.0, 1.0), rt)
}
