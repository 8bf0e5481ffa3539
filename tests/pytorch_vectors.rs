//! GPU kernels against reference vectors produced by PyTorch (scripts/make_torch_vectors.py).

mod common;
use common::*;
use gangpu::kernels::{self, Act, BnConfig, ConvGeom, ConvTGeom, LossKind, OptParams};
use gangpu::Engine;
use serde_json::Value;

struct T {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn tensor(v: &Value, key: &str) -> T {
    let t = &v[key];
    let shape = t["shape"].as_array().unwrap_or_else(|| panic!("{key}: no shape")).iter().map(|s| s.as_u64().unwrap() as usize).collect();
    let data = t["data"].as_array().unwrap_or_else(|| panic!("{key}: no data")).iter().map(|s| s.as_f64().unwrap()).collect();
    T { shape, data }
}

#[test]
fn conv2d_matches_pytorch() {
    conv2d_matches_pytorch_on(engine());
}

/// The same with the shared-memory tiled convolutions (the GPU kernels).
#[test]
fn conv2d_matches_pytorch_with_shared_memory_tiles() {
    conv2d_matches_pytorch_on(engine_tiled_conv());
}

fn conv2d_matches_pytorch_on(e: &Engine) {
    let v = load("conv2d");
    let (x, w, y, dy, dx, dw) = (tensor(&v, "x"), tensor(&v, "w"), tensor(&v, "y"), tensor(&v, "dy"), tensor(&v, "dx"), tensor(&v, "dw"));
    let s = v["stride"].as_u64().unwrap() as usize;
    let p = v["pad"].as_u64().unwrap() as usize;
    let g = ConvGeom { n: x.shape[0], cin: x.shape[1], h: x.shape[2], w: x.shape[3], cout: w.shape[0], kh: w.shape[2], kw: w.shape[3], stride: s, pad: p };
    let (xt, wt, dyt) = (upload(e, &x.shape, &x.data, "x"), upload(e, &w.shape, &w.data, "w"), upload(e, &dy.shape, &dy.data, "dy"));
    let (yt, dxt, dwt) = (zeros(e, &y.shape, "y"), zeros(e, &dx.shape, "dx"), zeros(e, &dw.shape, "dw"));
    let ws = kernels::ConvWorkspace::new(e, &[g]).unwrap();
    let ds = [
        kernels::conv2d_forward(e, &ws, &g, &xt, &wt, &yt).unwrap(),
        kernels::conv2d_backward_input(e, &ws, &g, &dyt, &wt, &dxt).unwrap(),
        kernels::conv2d_backward_weight(e, &ws, &g, &xt, &dyt, &dwt, false).unwrap(),
    ];
    e.run(&Engine::flat(&[&ds[0], &ds[1], &ds[2]])).unwrap();
    assert_close(&download(e, &yt), &y.data, 1e-4, 1e-4, "conv2d forward vs PyTorch");
    assert_close(&download(e, &dxt), &dx.data, 1e-4, 1e-4, "conv2d input-grad vs PyTorch");
    assert_close(&download(e, &dwt), &dw.data, 1e-4, 1e-4, "conv2d weight-grad vs PyTorch");
}

#[test]
fn conv_transpose2d_stride2_matches_pytorch() {
    conv_transpose2d_stride2_matches_pytorch_on(engine());
}

/// The same with the shared-memory tiled convolutions (the GPU kernels).
#[test]
fn conv_transpose2d_stride2_matches_pytorch_with_shared_memory_tiles() {
    conv_transpose2d_stride2_matches_pytorch_on(engine_tiled_conv());
}

fn conv_transpose2d_stride2_matches_pytorch_on(e: &Engine) {
    let v = load("conv_transpose2d");
    let (x, w, y, dy, dx, dw) = (tensor(&v, "x"), tensor(&v, "w"), tensor(&v, "y"), tensor(&v, "dy"), tensor(&v, "dx"), tensor(&v, "dw"));
    let s = v["stride"].as_u64().unwrap() as usize;
    let p = v["pad"].as_u64().unwrap() as usize;
    let g = ConvTGeom { n: x.shape[0], cin: x.shape[1], h: x.shape[2], w: x.shape[3], cout: w.shape[1], kh: w.shape[2], kw: w.shape[3], stride: s, pad: p };
    assert_eq!(g.y_shape().to_vec(), y.shape, "geometry");
    let (xt, wt, dyt) = (upload(e, &x.shape, &x.data, "x"), upload(e, &w.shape, &w.data, "w"), upload(e, &dy.shape, &dy.data, "dy"));
    let (yt, dxt, dwt) = (zeros(e, &y.shape, "y"), zeros(e, &dx.shape, "dx"), zeros(e, &dw.shape, "dw"));
    let ws = kernels::ConvWorkspace::new(e, &[g.as_conv()]).unwrap();
    let ds = [
        kernels::conv_transpose2d_forward(e, &ws, &g, &xt, &wt, &yt).unwrap(),
        kernels::conv_transpose2d_backward_input(e, &ws, &g, &dyt, &wt, &dxt).unwrap(),
        kernels::conv_transpose2d_backward_weight(e, &ws, &g, &xt, &dyt, &dwt, false).unwrap(),
    ];
    e.run(&Engine::flat(&[&ds[0], &ds[1], &ds[2]])).unwrap();
    assert_close(&download(e, &yt), &y.data, 1e-4, 1e-4, "conv_transpose2d forward vs PyTorch");
    assert_close(&download(e, &dxt), &dx.data, 1e-4, 1e-4, "conv_transpose2d input-grad vs PyTorch");
    assert_close(&download(e, &dwt), &dw.data, 1e-4, 1e-4, "conv_transpose2d weight-grad vs PyTorch");
}

#[test]
fn batchnorm_train_forward_and_backward_match_pytorch() {
    let e = engine();
    let v = load("batchnorm");
    let x = tensor(&v, "x");
    let c = x.shape[1];
    let cat = |a: &str, b: &str| [tensor(&v, a).data, tensor(&v, b).data].concat();
    let cfg = BnConfig { eps: v["eps"].as_f64().unwrap() as f32, momentum: v["momentum"].as_f64().unwrap() as f32, act: Act::Identity };
    let xt = upload(e, &x.shape, &x.data, "x");
    let affine = upload(e, &[2, c], &cat("gamma", "beta"), "affine");
    let running = upload(e, &[2, c], &cat("running_mean_before", "running_var_before"), "running");
    let (saved, y, dx, daff) = (zeros(e, &[2, c], "saved"), zeros(e, &x.shape, "y"), zeros(e, &x.shape, "dx"), zeros(e, &[2, c], "daff"));
    let dy = tensor(&v, "dy");
    let dyt = upload(e, &dy.shape, &dy.data, "dy");
    let f = kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y, &running, &saved, None).unwrap();
    let b = kernels::batchnorm_backward(e, &cfg, &xt, &dyt, &affine, &saved, &dx, &daff, false, true).unwrap();
    e.run(&[&f, &b]).unwrap();
    assert_close(&download(e, &y), &tensor(&v, "y").data, 1e-5, 1e-4, "batch norm forward vs PyTorch");
    assert_close(&download(e, &running), &cat("running_mean_after", "running_var_after"), 1e-6, 1e-5, "running stats vs PyTorch");
    assert_close(&download(e, &dx), &tensor(&v, "dx").data, 1e-5, 1e-4, "batch norm input-grad vs PyTorch");
    assert_close(&download(e, &daff), &cat("dgamma", "dbeta"), 1e-4, 1e-4, "batch norm affine-grad vs PyTorch");
    // the same forward pass from partial statistics (as a convolution leaves them): one per plane
    let (n, hw) = (x.shape[0], x.data.len() / x.shape[0] / c);
    let mut parts = vec![0.0; c * n * 4];
    for ch in 0..c {
        for i in 0..n {
            let plane = &x.data[(i * c + ch) * hw..(i * c + ch + 1) * hw];
            let mean = plane.iter().sum::<f64>() / hw as f64;
            let m2 = plane.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
            parts[(ch * n + i) * 4..(ch * n + i) * 4 + 3].copy_from_slice(&[hw as f64, mean, m2]);
        }
    }
    let running = upload(e, &[2, c], &cat("running_mean_before", "running_var_before"), "running");
    let y2 = zeros(e, &x.shape, "y from partials");
    let pt = upload(e, &[c, n, 4], &parts, "partials");
    e.run(&[&kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y2, &running, &saved, Some(&pt)).unwrap()]).unwrap();
    assert_close(&download(e, &y2), &tensor(&v, "y").data, 1e-5, 1e-4, "batch norm forward from partial statistics vs PyTorch");
    assert_close(&download(e, &running), &cat("running_mean_after", "running_var_after"), 1e-6, 1e-5, "running stats from partial statistics vs PyTorch");
}

#[test]
fn bce_with_logits_matches_pytorch() {
    let e = engine();
    let v = load("bce_logits");
    let (l, y, g) = (tensor(&v, "logits"), tensor(&v, "targets"), tensor(&v, "grad"));
    let n = l.data.len();
    let (lt, yt, gt, stats) = (upload(e, &[n], &l.data, "l"), upload(e, &[n], &y.data, "y"), zeros(e, &[n], "g"), zeros(e, &[2], "stats"));
    let d = kernels::loss(e, LossKind::BceLogits, 1.0, &lt, &yt, &gt, &stats, 0).unwrap();
    e.run(&[&d]).unwrap();
    let want = [v["loss"].as_f64().unwrap(), v["mean_sigmoid"].as_f64().unwrap()];
    assert_close(&download(e, &stats), &want, 1e-5, 1e-5, "BCE loss and mean sigmoid vs PyTorch");
    assert_close(&download(e, &gt), &g.data, 1e-7, 1e-5, "BCE gradient vs PyTorch");
}

#[test]
fn adam_steps_match_pytorch() {
    let e = engine();
    let v = load("adam");
    let p0 = tensor(&v, "p0");
    let n = p0.data.len();
    let (lr, b1, b2, eps) = (v["lr"].as_f64().unwrap(), v["beta1"].as_f64().unwrap(), v["beta2"].as_f64().unwrap(), v["eps"].as_f64().unwrap());
    let (pt, gt, mt, vt) = (upload(e, &[n], &p0.data, "p"), zeros(e, &[n], "g"), zeros(e, &[n], "m"), zeros(e, &[n], "v"));
    let d = kernels::adam(e, OptParams::adam(n, lr, b1, b2, eps, 1), &pt, &gt, &mt, &vt).unwrap();
    for (t, g) in v["grads"].as_array().unwrap().iter().enumerate() {
        let data: Vec<f32> = g["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        gt.write(&e.gpu, &data).unwrap();
        d.set_params(&e.gpu, &OptParams::adam(n, lr, b1, b2, eps, t as u64 + 1));
        e.run(&[&d]).unwrap();
    }
    assert_close(&download(e, &pt), &tensor(&v, "p").data, 1e-6, 1e-5, "Adam parameters after 3 steps vs PyTorch");
    assert_close(&download(e, &mt), &tensor(&v, "m").data, 1e-7, 1e-5, "Adam exp_avg vs PyTorch");
    assert_close(&download(e, &vt), &tensor(&v, "v").data, 1e-8, 1e-5, "Adam exp_avg_sq vs PyTorch");
}

/// Five whole DCGAN iterations (D step on real and fake, Adam; G step, Adam) of a small dcgan28
/// against the PyTorch DCGAN example run from the same weights, batches and noise: both losses
/// at every step, and every weight, running statistic and Adam moment after the last
/// (`gangpu check` runs the same comparison: `check::pytorch_iterations`).
#[test]
fn dcgan_iterations_match_pytorch() {
    dcgan_iterations_match_pytorch_on(engine());
}

/// The same with the shared-memory tiled convolutions (the GPU kernels).
#[test]
fn dcgan_iterations_match_pytorch_with_shared_memory_tiles() {
    dcgan_iterations_match_pytorch_on(engine_tiled_conv());
}

fn dcgan_iterations_match_pytorch_on(e: &Engine) {
    let rows = gangpu::app::check::pytorch_iterations(e).unwrap_or_else(|err| panic!("{err:#}"));
    // losses at every step, weights, running statistics, exp_avg, exp_avg_sq
    assert_eq!(rows.len(), 5, "{rows:#?}");
    for r in &rows {
        eprintln!("{} on {}: max abs {:.2e}, max rel {:.2e}", r.path, e.gpu.adapter, r.max_abs, r.max_rel);
        assert!(r.pass, "{}: {} ({})", r.family, r.path, r.first_failure.as_deref().unwrap_or(""));
    }
}
