//! `gangpu check`: the kernels of the chosen plan on this adapter, at the layer shapes of a model,
//! against the f64 CPU references (`reference`), plus the PyTorch vectors (embedded from
//! tests/vectors/, made by scripts/make_torch_vectors.py) and five whole DCGAN iterations against
//! PyTorch. Prints a table and fails (exit 1) on any mismatch, so a user can trust an adapter
//! before training on it, and a kernel edited through `GANGPU_SHADERS` is checked without a rebuild.

use crate::kernels::{self, Act, BnConfig, ConvGeom, ConvTGeom, LossKind, OptParams};
use crate::models::ModelConfig;
use crate::nn::LayerKind;
use crate::reference as cpu;
use crate::tensor::Tensor;
use crate::Engine;
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;

/// One comparison: what ran, how far it was from the reference, and whether that is within
/// `|got - ref| <= atol + rtol |ref|` everywhere (the first failing index is kept).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub family: String,
    pub path: String,
    pub shape: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub pass: bool,
    pub first_failure: Option<String>,
}

/// Compares `got` with `want` under `atol + rtol |want|`.
pub fn compare(family: &str, path: &str, shape: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) -> Row {
    let (mut max_abs, mut max_rel, mut first) = (0.0f64, 0.0f64, None);
    if got.len() != want.len() {
        first = Some(format!("length {} vs reference {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        let d = if d.is_nan() { f64::INFINITY } else { d };
        max_abs = max_abs.max(d);
        max_rel = max_rel.max(d / w.abs().max(1e-30));
        if first.is_none() && !(d <= atol + rtol * w.abs() && g.is_finite()) {
            first = Some(format!("index {i}: got {g}, reference {w}"));
        }
    }
    Row { family: family.into(), path: path.into(), shape: shape.into(), max_abs, max_rel, pass: first.is_none(), first_failure: first }
}

/// f32 accumulation error grows like sqrt(terms) (the tests' tolerance).
fn tol(terms: usize) -> f64 {
    5e-6 * (terms as f64).sqrt().max(1.0) + 1e-6
}

/// Deterministic values in [lo, hi), rounded through f32 (the GPU's inputs exactly).
fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    cpu::uniform(n, seed, lo, hi).into_iter().map(|v| v as f32 as f64).collect()
}

fn up(e: &Engine, shape: &[usize], v: &[f64], label: &str) -> Result<Tensor> {
    Tensor::from_slice(&e.gpu, shape, &v.iter().map(|x| *x as f32).collect::<Vec<_>>(), label)
}

fn down(e: &Engine, t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.read(&e.gpu)?.iter().map(|x| *x as f64).collect())
}

/// The plan's convolution path, in words, for the table.
fn conv_path(e: &Engine) -> String {
    let tile = e.conv_tile.map_or(String::new(), |t| format!(", tiles {t}"));
    format!("{}{tile}", e.plan.name)
}

/// Forward, input-gradient and weight-gradient (accumulated onto a known value) of one
/// convolution geometry against the reference.
fn conv_layer(e: &Engine, name: &str, g: &ConvGeom, seed: u64) -> Result<Vec<Row>> {
    let x = values(g.x_shape().iter().product(), seed, -1.0, 1.0);
    let w = values(g.w_shape().iter().product(), seed + 1, -0.5, 0.5);
    let dy = values(g.y_shape().iter().product(), seed + 2, -1.0, 1.0);
    let dw0 = values(w.len(), seed + 3, -1.0, 1.0);
    let (xt, wt, dyt) = (up(e, &g.x_shape(), &x, "x")?, up(e, &g.w_shape(), &w, "w")?, up(e, &g.y_shape(), &dy, "dy")?);
    let (y, dx, dw) = (Tensor::zeros(&e.gpu, &g.y_shape(), "y")?, Tensor::zeros(&e.gpu, &g.x_shape(), "dx")?, up(e, &g.w_shape(), &dw0, "dw")?);
    let ws = kernels::ConvWorkspace::new(e, &[*g])?;
    let d1 = kernels::conv2d_forward(e, &ws, g, &xt, &wt, &y)?;
    let d2 = kernels::conv2d_backward_input(e, &ws, g, &dyt, &wt, &dx)?;
    let d3 = kernels::conv2d_backward_weight(e, &ws, g, &xt, &dyt, &dw, true)?;
    e.run(&Engine::flat(&[&d1, &d2, &d3]))?;
    let shape = format!("{name} x{:?} w{:?} s{} p{}", g.x_shape(), g.w_shape(), g.stride, g.pad);
    let path = conv_path(e);
    let want_dw: Vec<f64> = cpu::conv2d_backward_weight(g, &x, &dy).iter().zip(&dw0).map(|(a, b)| a + b).collect();
    Ok(vec![
        compare("conv", &format!("{path} forward"), &shape, &down(e, &y)?, &cpu::conv2d(g, &x, &w), tol(g.cin * g.kh * g.kw), 1e-5),
        compare("conv", &format!("{path} input-grad"), &shape, &down(e, &dx)?, &cpu::conv2d_backward_input(g, &dy, &w), tol(g.cout * g.kh * g.kw), 1e-5),
        compare("conv", &format!("{path} weight-grad"), &shape, &down(e, &dw)?, &want_dw, tol(g.n * g.oh() * g.ow()), 1e-5),
    ])
}

/// Forward (with the layer's activation fused where the plan fuses it) and both gradients of a
/// transposed convolution against the reference.
fn convt_layer(e: &Engine, name: &str, g: &ConvTGeom, act: Act, seed: u64) -> Result<Vec<Row>> {
    let x = values(g.x_shape().iter().product(), seed, -1.0, 1.0);
    let w = values(g.w_shape().iter().product(), seed + 1, -0.5, 0.5);
    let dy = values(g.y_shape().iter().product(), seed + 2, -1.0, 1.0);
    let (xt, wt, dyt) = (up(e, &g.x_shape(), &x, "x")?, up(e, &g.w_shape(), &w, "w")?, up(e, &g.y_shape(), &dy, "dy")?);
    let (y, dx, dw) = (Tensor::zeros(&e.gpu, &g.y_shape(), "y")?, Tensor::zeros(&e.gpu, &g.x_shape(), "dx")?, Tensor::zeros(&e.gpu, &g.w_shape(), "dw")?);
    let ws = kernels::ConvWorkspace::new(e, &[g.as_conv()])?;
    let act = if kernels::fuses_activation(e, &g.as_conv(), true) { act } else { Act::Identity };
    let d1 = kernels::conv_transpose2d_forward_act(e, &ws, g, &xt, &wt, &y, act, None)?;
    let d2 = kernels::conv_transpose2d_backward_input(e, &ws, g, &dyt, &wt, &dx)?;
    let d3 = kernels::conv_transpose2d_backward_weight(e, &ws, g, &xt, &dyt, &dw, false)?;
    e.run(&Engine::flat(&[&d1, &d2, &d3]))?;
    let shape = format!("{name} x{:?} w{:?} s{} p{}", g.x_shape(), g.w_shape(), g.stride, g.pad);
    let path = conv_path(e);
    let want_y: Vec<f64> = cpu::conv_transpose2d(g, &x, &w).into_iter().map(|v| cpu::act(act, v)).collect();
    let (want_dx, want_dw) = cpu::conv_transpose2d_backward(g, &x, &w, &dy);
    Ok(vec![
        compare(
            "conv_transpose",
            &format!("{path} forward{}", if act == Act::Identity { String::new() } else { format!(" + {act:?}") }),
            &shape,
            &down(e, &y)?,
            &want_y,
            tol(g.cin * g.kh * g.kw),
            1e-5,
        ),
        compare("conv_transpose", &format!("{path} input-grad"), &shape, &down(e, &dx)?, &want_dx, tol(g.cout * g.kh * g.kw), 1e-5),
        compare("conv_transpose", &format!("{path} weight-grad"), &shape, &down(e, &dw)?, &want_dw, tol(g.n * g.h * g.w), 1e-5),
    ])
}

/// Batch norm (training mode, the layer's activation fused) forward and backward at one shape.
fn batchnorm_layer(e: &Engine, name: &str, n: usize, c: usize, hw: usize, act: Act, seed: u64) -> Result<Vec<Row>> {
    let x = values(n * c * hw, seed, -2.0, 3.0);
    let dy = values(n * c * hw, seed + 1, -1.0, 1.0);
    let gamma = values(c, seed + 2, 0.5, 1.5);
    let beta = values(c, seed + 3, -0.5, 0.5);
    let cfg = BnConfig { eps: 1e-5, momentum: 0.1, act };
    let shape = [n, c, hw, 1];
    let xt = up(e, &shape, &x, "x")?;
    let dyt = up(e, &shape, &dy, "dy")?;
    let affine = up(e, &[2, c], &[gamma.clone(), beta.clone()].concat(), "affine")?;
    let running = up(e, &[2, c], &[vec![0.0; c], vec![1.0; c]].concat(), "running")?;
    let (saved, y, dx, daff) = (
        Tensor::zeros(&e.gpu, &[2, c], "saved")?,
        Tensor::zeros(&e.gpu, &shape, "y")?,
        Tensor::zeros(&e.gpu, &shape, "dx")?,
        Tensor::zeros(&e.gpu, &[2, c], "daff")?,
    );
    let f = kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y, &running, &saved, None)?;
    let b = kernels::batchnorm_backward(e, &cfg, &xt, &dyt, &affine, &saved, &dx, &daff, false, true)?;
    e.run(&[&f, &b])?;
    let (want_y, _, _) = cpu::batchnorm_train(&x, n, c, hw, &gamma, &beta, 1e-5, act);
    let (want_dx, dg, db) = cpu::batchnorm_train_backward(&x, &dy, n, c, hw, &gamma, &beta, 1e-5, act);
    let shape = format!("{name} [{n}, {c}, {hw}] + {act:?}");
    Ok(vec![
        compare("batchnorm", "forward (train)", &shape, &down(e, &y)?, &want_y, 1e-5, 1e-4),
        compare("batchnorm", "backward: input", &shape, &down(e, &dx)?, &want_dx, 1e-5, 1e-4),
        compare("batchnorm", "backward: gamma, beta", &shape, &down(e, &daff)?, &[dg, db].concat(), 1e-4 * (n * hw) as f64 / 64.0, 1e-4),
    ])
}

/// Every convolution and batch-norm layer of `model`, on the engine's plan.
pub fn model_layers(e: &Engine, model: &ModelConfig) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut seed = 1000;
    for (net, blocks) in [("G", model.generator()?), ("D", model.discriminator()?)] {
        for (i, b) in blocks.iter().enumerate() {
            let name = format!("{net}{}", i + 1);
            seed += 10;
            let (n, c, hw) = match &b.layer {
                LayerKind::Conv(g) => {
                    rows.extend(conv_layer(e, &name, g, seed).with_context(|| format!("{name}: {g:?}"))?);
                    (g.n, g.cout, g.oh() * g.ow())
                }
                LayerKind::ConvT(g) => {
                    let act = if b.batch_norm { Act::Identity } else { b.act };
                    rows.extend(convt_layer(e, &name, g, act, seed).with_context(|| format!("{name}: {g:?}"))?);
                    (g.n, g.cout, g.y_shape()[2] * g.y_shape()[3])
                }
                other => bail!("{name}: layer {other:?} is not a convolution"),
            };
            if b.batch_norm {
                rows.extend(batchnorm_layer(e, &name, n, c, hw, b.act, seed + 5)?);
            }
        }
    }
    Ok(rows)
}

/// The PyTorch vectors, embedded (tests/vectors/*.json).
pub const VECTORS: [(&str, &str); 6] = [
    ("conv2d", include_str!("../../tests/vectors/conv2d.json")),
    ("conv_transpose2d", include_str!("../../tests/vectors/conv_transpose2d.json")),
    ("batchnorm", include_str!("../../tests/vectors/batchnorm.json")),
    ("bce_logits", include_str!("../../tests/vectors/bce_logits.json")),
    ("adam", include_str!("../../tests/vectors/adam.json")),
    ("dcgan_iterations", include_str!("../../tests/vectors/dcgan_iterations.json")),
];

/// One embedded vector file, parsed.
pub fn vector(name: &str) -> Result<Value> {
    let (_, text) = VECTORS.iter().find(|(n, _)| *n == name).ok_or_else(|| anyhow!("no PyTorch vector named {name}"))?;
    serde_json::from_str(text).with_context(|| format!("parsing the {name} vectors"))
}

/// A tensor of a vector file: (shape, values).
pub fn tensor(v: &Value, key: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let t = &v[key];
    let shape = t["shape"].as_array().ok_or_else(|| anyhow!("{key}: no shape"))?.iter().map(|s| s.as_u64().map(|u| u as usize)).collect::<Option<Vec<_>>>();
    let data = t["data"].as_array().ok_or_else(|| anyhow!("{key}: no data"))?.iter().map(|s| s.as_f64()).collect::<Option<Vec<_>>>();
    Ok((shape.ok_or_else(|| anyhow!("{key}: bad shape"))?, data.ok_or_else(|| anyhow!("{key}: bad data"))?))
}

fn num(v: &Value, key: &str) -> Result<f64> {
    v[key].as_f64().ok_or_else(|| anyhow!("vector field {key} missing"))
}

/// The PyTorch vectors on the engine's plan: convolutions, batch norm, BCE, Adam.
pub fn pytorch_kernels(e: &Engine) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let path = conv_path(e);
    for transposed in [false, true] {
        let v = vector(if transposed { "conv_transpose2d" } else { "conv2d" })?;
        let (x, w, y, dy, dx, dw) = (tensor(&v, "x")?, tensor(&v, "w")?, tensor(&v, "y")?, tensor(&v, "dy")?, tensor(&v, "dx")?, tensor(&v, "dw")?);
        let (s, p) = (num(&v, "stride")? as usize, num(&v, "pad")? as usize);
        let (xt, wt, dyt) = (up(e, &x.0, &x.1, "x")?, up(e, &w.0, &w.1, "w")?, up(e, &dy.0, &dy.1, "dy")?);
        let (yt, dxt, dwt) = (Tensor::zeros(&e.gpu, &y.0, "y")?, Tensor::zeros(&e.gpu, &dx.0, "dx")?, Tensor::zeros(&e.gpu, &dw.0, "dw")?);
        let ds = if transposed {
            let g = ConvTGeom { n: x.0[0], cin: x.0[1], h: x.0[2], w: x.0[3], cout: w.0[1], kh: w.0[2], kw: w.0[3], stride: s, pad: p };
            let ws = kernels::ConvWorkspace::new(e, &[g.as_conv()])?;
            vec![
                kernels::conv_transpose2d_forward(e, &ws, &g, &xt, &wt, &yt)?,
                kernels::conv_transpose2d_backward_input(e, &ws, &g, &dyt, &wt, &dxt)?,
                kernels::conv_transpose2d_backward_weight(e, &ws, &g, &xt, &dyt, &dwt, false)?,
            ]
        } else {
            let g = ConvGeom { n: x.0[0], cin: x.0[1], h: x.0[2], w: x.0[3], cout: w.0[0], kh: w.0[2], kw: w.0[3], stride: s, pad: p };
            let ws = kernels::ConvWorkspace::new(e, &[g])?;
            vec![
                kernels::conv2d_forward(e, &ws, &g, &xt, &wt, &yt)?,
                kernels::conv2d_backward_input(e, &ws, &g, &dyt, &wt, &dxt)?,
                kernels::conv2d_backward_weight(e, &ws, &g, &xt, &dyt, &dwt, false)?,
            ]
        };
        e.run(&Engine::flat(&[&ds[0], &ds[1], &ds[2]]))?;
        let fam = if transposed { "conv_transpose (PyTorch)" } else { "conv (PyTorch)" };
        let shape = format!("x{:?} w{:?} s{s} p{p}", x.0, w.0);
        rows.push(compare(fam, &format!("{path} forward"), &shape, &down(e, &yt)?, &y.1, 1e-4, 1e-4));
        rows.push(compare(fam, &format!("{path} input-grad"), &shape, &down(e, &dxt)?, &dx.1, 1e-4, 1e-4));
        rows.push(compare(fam, &format!("{path} weight-grad"), &shape, &down(e, &dwt)?, &dw.1, 1e-4, 1e-4));
    }
    // batch norm, training mode
    let v = vector("batchnorm")?;
    let x = tensor(&v, "x")?;
    let c = x.0[1];
    let cat = |a: &str, b: &str| -> Result<Vec<f64>> { Ok([tensor(&v, a)?.1, tensor(&v, b)?.1].concat()) };
    let cfg = BnConfig { eps: num(&v, "eps")? as f32, momentum: num(&v, "momentum")? as f32, act: Act::Identity };
    let xt = up(e, &x.0, &x.1, "x")?;
    let affine = up(e, &[2, c], &cat("gamma", "beta")?, "affine")?;
    let running = up(e, &[2, c], &cat("running_mean_before", "running_var_before")?, "running")?;
    let (saved, y, dx, daff) = (
        Tensor::zeros(&e.gpu, &[2, c], "saved")?,
        Tensor::zeros(&e.gpu, &x.0, "y")?,
        Tensor::zeros(&e.gpu, &x.0, "dx")?,
        Tensor::zeros(&e.gpu, &[2, c], "daff")?,
    );
    let dy = tensor(&v, "dy")?;
    let dyt = up(e, &dy.0, &dy.1, "dy")?;
    let f = kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y, &running, &saved, None)?;
    let b = kernels::batchnorm_backward(e, &cfg, &xt, &dyt, &affine, &saved, &dx, &daff, false, true)?;
    e.run(&[&f, &b])?;
    let shape = format!("{:?}", x.0);
    rows.push(compare("batchnorm (PyTorch)", "forward", &shape, &down(e, &y)?, &tensor(&v, "y")?.1, 1e-5, 1e-4));
    rows.push(compare("batchnorm (PyTorch)", "running statistics", &shape, &down(e, &running)?, &cat("running_mean_after", "running_var_after")?, 1e-6, 1e-5));
    rows.push(compare("batchnorm (PyTorch)", "backward: input", &shape, &down(e, &dx)?, &tensor(&v, "dx")?.1, 1e-5, 1e-4));
    rows.push(compare("batchnorm (PyTorch)", "backward: gamma, beta", &shape, &down(e, &daff)?, &cat("dgamma", "dbeta")?, 1e-4, 1e-4));
    // BCE with logits
    let v = vector("bce_logits")?;
    let (l, t, g) = (tensor(&v, "logits")?, tensor(&v, "targets")?, tensor(&v, "grad")?);
    let n = l.1.len();
    let (lt, tt, gt, stats) = (up(e, &[n], &l.1, "l")?, up(e, &[n], &t.1, "t")?, Tensor::zeros(&e.gpu, &[n], "g")?, Tensor::zeros(&e.gpu, &[2], "stats")?);
    e.run(&[&kernels::loss(e, LossKind::BceLogits, 1.0, &lt, &tt, &gt, &stats, 0)?])?;
    rows.push(compare(
        "loss (PyTorch)",
        "BCE with logits: loss, mean sigmoid",
        &format!("[{n}]"),
        &down(e, &stats)?,
        &[num(&v, "loss")?, num(&v, "mean_sigmoid")?],
        1e-5,
        1e-5,
    ));
    rows.push(compare("loss (PyTorch)", "BCE with logits: gradient", &format!("[{n}]"), &down(e, &gt)?, &g.1, 1e-7, 1e-5));
    // Adam, three steps
    let v = vector("adam")?;
    let p0 = tensor(&v, "p0")?;
    let n = p0.1.len();
    let (lr, b1, b2, eps) = (num(&v, "lr")?, num(&v, "beta1")?, num(&v, "beta2")?, num(&v, "eps")?);
    let (pt, gt, mt, vt) = (up(e, &[n], &p0.1, "p")?, Tensor::zeros(&e.gpu, &[n], "g")?, Tensor::zeros(&e.gpu, &[n], "m")?, Tensor::zeros(&e.gpu, &[n], "v")?);
    let d = kernels::adam(e, OptParams::adam(n, lr, b1, b2, eps, 1), &pt, &gt, &mt, &vt)?;
    for (t, g) in v["grads"].as_array().ok_or_else(|| anyhow!("adam vectors: no grads"))?.iter().enumerate() {
        let data: Vec<f32> =
            g["data"].as_array().ok_or_else(|| anyhow!("adam grads: no data"))?.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect();
        gt.write(&e.gpu, &data)?;
        d.set_params(&e.gpu, &OptParams::adam(n, lr, b1, b2, eps, t as u64 + 1));
        e.run(&[&d])?;
    }
    rows.push(compare("optim (PyTorch)", "Adam: parameters after 3 steps", &format!("[{n}]"), &down(e, &pt)?, &tensor(&v, "p")?.1, 1e-6, 1e-5));
    rows.push(compare("optim (PyTorch)", "Adam: exp_avg", &format!("[{n}]"), &down(e, &mt)?, &tensor(&v, "m")?.1, 1e-7, 1e-5));
    rows.push(compare("optim (PyTorch)", "Adam: exp_avg_sq", &format!("[{n}]"), &down(e, &vt)?, &tensor(&v, "v")?.1, 1e-8, 1e-5));
    Ok(rows)
}

/// Iterations of the PyTorch comparison (tests/vectors/dcgan_iterations.json).
pub const TORCH_ITERATIONS: usize = 5;

/// Five whole DCGAN iterations (D step on real and fake, Adam; G step on the same fake batch,
/// Adam) of a small dcgan28 against the PyTorch DCGAN example from the same weights, batches and
/// noise: both losses and D's outputs at every step; after the last, every weight, batch-norm
/// running statistic and Adam moment of both networks. Adam's update is nearly invariant to a
/// gradient's scale (a gradient scaled by 1.5 moves the weights as much), so the moments are what
/// catch a wrong gradient magnitude; the losses from step 2 on catch a wrong direction.
pub fn pytorch_iterations(e: &Engine) -> Result<Vec<Row>> {
    use crate::nn::{Net, Which};
    use crate::train::{Gan, TrainConfig};
    let v = vector("dcgan_iterations")?;
    let u = |k: &str| -> Result<usize> { v[k].as_u64().map(|x| x as usize).ok_or_else(|| anyhow!("dcgan_iterations: no {k}")) };
    let model =
        ModelConfig { image_size: 28, channels: 1, nz: u("nz")?, ngf: u("ngf")?, ndf: u("ndf")?, batch: u("batch")?, cond: Default::default(), classes: 0 };
    let cfg = TrainConfig { seed: 0, ..TrainConfig::new(model, "check", TORCH_ITERATIONS as u64, std::env::temp_dir()) };
    let mut gan = Gan::new(e, cfg, None)?;
    // (is G, the name inside the network)
    let net_of = |name: &str| -> Result<(bool, String)> {
        match (name.strip_prefix("netG."), name.strip_prefix("netD.")) {
            (Some(n), _) => Ok((true, n.to_string())),
            (_, Some(n)) => Ok((false, n.to_string())),
            _ => bail!("dcgan_iterations: tensor {name} is neither netG.* nor netD.*"),
        }
    };
    let f32s = |x: &[f64]| x.iter().map(|v| *v as f32).collect::<Vec<_>>();
    let init = v["init"].as_object().ok_or_else(|| anyhow!("dcgan_iterations: no initial weights"))?;
    for name in init.keys() {
        let (is_g, local) = net_of(name)?;
        let net = if is_g { &gan.g } else { &gan.d };
        net.write_named(e, &local, &f32s(&tensor(&v["init"], name)?.1))?;
    }
    gan.draw_inputs = false;
    let steps = v["steps"].as_array().ok_or_else(|| anyhow!("dcgan_iterations: no steps"))?;
    ensure!(steps.len() == TORCH_ITERATIONS, "dcgan_iterations holds {} steps, expected {TORCH_ITERATIONS}", steps.len());
    let shape = format!("dcgan28 nz {} ngf {} ndf {} batch {}", u("nz")?, u("ngf")?, u("ndf")?, u("batch")?);
    let path = e.plan.name.to_string();
    let family = "DCGAN iterations (PyTorch)";
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for (i, st) in steps.iter().enumerate() {
        gan.real.write(&e.gpu, &f32s(&tensor(st, "real")?.1))?;
        gan.z.write(&e.gpu, &f32s(&tensor(st, "z")?.1))?;
        gan.submit_iteration(e, None);
        e.gpu.wait()?;
        let m = gan.read_metrics(e)?;
        ensure!(m.step == i as u64 + 1, "internal: iteration {} reported step {}", i + 1, m.step);
        got.extend([m.loss_d as f64, m.loss_g as f64, m.d_x as f64, m.d_g_z1 as f64, m.d_g_z2 as f64]);
        want.extend([num(st, "errD_real")? + num(st, "errD_fake")?, num(st, "errG")?, num(st, "D_x")?, num(st, "D_G_z1")?, num(st, "D_G_z2")?]);
    }
    let mut rows = vec![compare(family, &format!("{path}: Loss_D, Loss_G, D(x), D(G(z)) x2 at steps 1-{TORCH_ITERATIONS}"), &shape, &got, &want, 1e-5, 1e-4)];
    // weights and running statistics after the last step
    let fin = v["final"].as_object().ok_or_else(|| anyhow!("dcgan_iterations: no final state"))?;
    let (mut gw, mut ww, mut gs, mut ws) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for name in fin.keys() {
        let (is_g, local) = net_of(name)?;
        let net = if is_g { &gan.g } else { &gan.d };
        let (g, w) = if local.contains("running_") { (&mut gs, &mut ws) } else { (&mut gw, &mut ww) };
        g.extend(net.read_named(e, &local)?.iter().map(|x| *x as f64));
        w.extend(tensor(&v["final"], name)?.1);
    }
    // each Adam step moves a weight by at most about lr = 2e-4; compare well inside one step
    rows.push(compare(family, &format!("{path}: every weight after {TORCH_ITERATIONS} steps"), &shape, &gw, &ww, 2e-6, 1e-4));
    rows.push(compare(family, &format!("{path}: batch-norm running mean and var"), &shape, &gs, &ws, 1e-6, 1e-4));
    // Adam's moments (flat in the parameter layout) by PyTorch's parameter names
    let ck = gan.checkpoint(e)?;
    let moment = |net: &Net, state: &crate::checkpoint::NetState, local: &str, slot: &str| -> Result<Vec<f64>> {
        let k = state.opt_names.iter().position(|n| n == slot).ok_or_else(|| anyhow!("the optimizer keeps no {slot}"))?;
        let (_, _, offset, shape) =
            net.export_names().into_iter().find(|(n, which, ..)| n == local && *which == Which::Params).ok_or_else(|| anyhow!("no parameter named {local}"))?;
        let n: usize = shape.iter().product();
        Ok(state.opt[k][offset..offset + n].iter().map(|x| *x as f64).collect())
    };
    let adam = v["adam"].as_object().ok_or_else(|| anyhow!("dcgan_iterations: no Adam state"))?;
    for slot in ["exp_avg", "exp_avg_sq"] {
        let (mut g, mut w) = (Vec::new(), Vec::new());
        for name in adam.keys().filter(|k| k.ends_with(&format!(".{slot}"))) {
            let (is_g, local) = net_of(name.trim_end_matches(&format!(".{slot}")))?;
            let (net, state) = if is_g { (&gan.g, &ck.g) } else { (&gan.d, &ck.d) };
            g.extend(moment(net, state, &local, slot)?);
            w.extend(tensor(&v["adam"], name)?.1);
        }
        ensure!(!w.is_empty(), "dcgan_iterations: no {slot} moments");
        // f32 rounding is relative to the largest gradients, not to a moment that nearly
        // cancelled: atol is 1e-3 of the largest moment. A gradient scaled by 1.5 puts every
        // moment 50% off (exp_avg_sq 125%), far outside.
        let atol = 1e-3 * w.iter().fold(0f64, |a, x| a.max(x.abs()));
        rows.push(compare(family, &format!("{path}: Adam {slot} of every parameter"), &shape, &g, &w, atol, 1e-3));
    }
    Ok(rows)
}

/// `gangpu check`'s flags.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The model whose layer shapes are checked
    #[arg(long, default_value = "dcgan28", value_parser = ["dcgan28", "dcgan64"])]
    pub model: String,
    /// Batch of the checked layer shapes (the kernels' code paths do not depend on it; the f64
    /// references' time grows with it)
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = crate::cli_values::count_usize)]
    pub batch: usize,
    /// One JSON line per comparison on stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

/// Runs every check on `e` and returns the rows (layers of the model, PyTorch vectors, a whole
/// iteration); on the gpu plan the model's layers also run in 64-wide tiles.
pub fn run(e: &mut Engine, model: &ModelConfig) -> Result<Vec<Row>> {
    let mut rows = model_layers(e, model)?;
    if e.conv_tiled() && e.conv_tile.is_none() {
        e.conv_tile = Some(64);
        let tiled = model_layers(e, model);
        e.conv_tile = None;
        rows.extend(tiled?.into_iter().filter(|r| r.family.starts_with("conv")));
    }
    rows.extend(pytorch_kernels(e)?);
    rows.extend(pytorch_iterations(e)?);
    Ok(rows)
}

/// `gangpu check`: prints the table (or JSON lines) and fails when any comparison failed.
pub fn cli(a: &CheckArgs, gpu: &crate::GpuOptions) -> Result<()> {
    let mut e = Engine::open(gpu)?;
    let (size, channels) = if a.model == "dcgan64" { (64, 3) } else { (28, 1) };
    let model = ModelConfig { image_size: size, channels, batch: a.batch, ..Default::default() };
    eprintln!("adapter: {}\nkernels: {} ({})", e.gpu.adapter, e.describe(), e.plan.why);
    let start = std::time::Instant::now();
    let rows = run(&mut e, &model)?;
    if a.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r).context("writing a check row as JSON")?);
        }
    } else {
        println!("{:<26} {:<46} {:<44} {:>10} {:>10}  result", "family", "path", "shape", "max abs", "max rel");
        for r in &rows {
            let verdict = if r.pass { "pass".to_string() } else { format!("FAIL ({})", r.first_failure.as_deref().unwrap_or("")) };
            println!("{:<26} {:<46} {:<44} {:>10.2e} {:>10.2e}  {verdict}", r.family, r.path, r.shape, r.max_abs, r.max_rel);
        }
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    eprintln!("{} comparisons, {failed} failed, in {:.1} s on {} with plan {}", rows.len(), start.elapsed().as_secs_f64(), e.gpu.adapter, e.plan.name);
    if failed > 0 {
        bail!("{failed} of {} kernel checks failed on {} (plan {})", rows.len(), e.gpu.adapter, e.plan.name);
    }
    Ok(())
}
