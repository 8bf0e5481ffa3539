//! Input-gradient penalties (WGAN-GP, R1) and the hand-written double backward that carries them
//! to D's weights (nn/penalty.rs): against PyTorch's double backward (torch.autograd.grad with
//! create_graph=True, scripts/make_penalty_vectors.py), against central finite differences of an
//! f64 host reference of the penalty, and the penalty and interpolation kernels against the host.

mod common;
use common::*;
use gangpu::kernels::{self, Act, BnConfig, ConvGeom, ConvWorkspace, PenaltyKind};
use gangpu::nn::{BlockSpec, LayerKind, LinearGeom, Net};
use gangpu::reference;
use gangpu::{Engine, Tensor};
use serde_json::Value;

const LRELU: Act = Act::LeakyRelu(0.2);

fn bn() -> BnConfig {
    BnConfig { eps: 1e-5, momentum: 0.1, act: Act::Identity }
}

/// dcgan28's D without batch norm at width 4 (the PyTorch script's conv critic).
fn conv_geoms(n: usize) -> [ConvGeom; 3] {
    [
        ConvGeom { n, cin: 1, h: 28, w: 28, cout: 4, kh: 4, kw: 4, stride: 2, pad: 1 },
        ConvGeom { n, cin: 4, h: 14, w: 14, cout: 8, kh: 4, kw: 4, stride: 2, pad: 1 },
        ConvGeom { n, cin: 8, h: 7, w: 7, cout: 1, kh: 7, kw: 7, stride: 1, pad: 0 },
    ]
}

fn conv_critic(e: &Engine, n: usize) -> Net {
    let g = conv_geoms(n);
    let acts = [LRELU, LRELU, Act::Identity];
    let specs = g.iter().zip(acts).map(|(g, act)| BlockSpec { layer: LayerKind::Conv(*g), batch_norm: false, act }).collect();
    Net::new(e, specs, bn(), "conv critic").expect("conv critic")
}

/// The lab's critic: 2 -> 16 -> 16 -> 1, linear layers with biases.
fn mlp_critic(e: &Engine, n: usize) -> Net {
    let dims = [(2, 16, LRELU), (16, 16, LRELU), (16, 1, Act::Identity)];
    let specs = dims.iter().map(|&(din, dout, act)| BlockSpec { layer: LayerKind::Linear(LinearGeom { n, din, dout }), batch_norm: false, act }).collect();
    Net::new(e, specs, bn(), "mlp critic").expect("mlp critic")
}

/// Writes `ws` (the networks' tensors in layout order: weight, then bias where the layer has one).
fn set_params(e: &Engine, net: &Net, ws: &[Vec<f64>]) {
    let slots = &net.params.layout.slots;
    assert_eq!(slots.len(), ws.len(), "tensors of the critic vs given");
    let mut flat = vec![0f32; net.params.layout.len];
    for (s, w) in slots.iter().zip(ws) {
        assert_eq!(s.numel(), w.len(), "{}", s.name);
        for (k, v) in w.iter().enumerate() {
            flat[s.offset + k] = *v as f32;
        }
    }
    net.params.all().write(&e.gpu, &flat).expect("write parameters");
}

struct Outcome {
    penalty: f64,
    mean_norm: f64,
    g: Vec<f64>,
    /// D's gradients per tensor, in layout order.
    grads: Vec<Vec<f64>>,
}

/// Runs one penalty pass from zeroed gradients.
fn run_penalty(e: &Engine, net: &Net, x: &[f64], kind: PenaltyKind, weight: f32) -> Outcome {
    let ws = ConvWorkspace::new(e, &net.conv_geoms()).expect("workspace");
    let buffers = net.penalty_buffers(e, 1, "test").expect("buffers");
    net.grads.all().write(&e.gpu, &vec![0.0; net.grads.layout.len]).expect("zero gradients");
    let xt = upload(e, &net.in_shape(), x, "x");
    let stats = zeros(e, &[16], "stats");
    let ds = net.penalty_pass(e, &ws, &xt, &buffers, kind, weight, &stats, 4).expect("penalty pass");
    e.run(&ds.iter().collect::<Vec<_>>()).expect("run");
    let s = download(e, &stats);
    let all = download(e, &net.grads.all());
    let grads = net.grads.layout.slots.iter().map(|sl| all[sl.offset..sl.offset + sl.numel()].to_vec()).collect();
    Outcome { penalty: s[4], mean_norm: s[5], g: download(e, &buffers.g), grads }
}

fn data(v: &Value) -> Vec<f64> {
    v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn kind_of(c: &Value) -> PenaltyKind {
    match c["kind"].as_str() {
        Some("gp") => PenaltyKind::GradientPenalty,
        Some("r1") => PenaltyKind::R1,
        other => panic!("unknown penalty kind {other:?}"),
    }
}

#[test]
fn penalty_gradients_match_pytorch_double_backward() {
    let e = engine();
    let path = format!("{}/tests/vectors/penalty.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read penalty.json")).expect("parse penalty.json");
    for (name, make) in [("conv", conv_critic as fn(&Engine, usize) -> Net), ("mlp", mlp_critic)] {
        let ws: Vec<Vec<f64>> = v[name]["weights"].as_array().expect("weights").iter().map(data).collect();
        for c in v[name]["cases"].as_array().expect("cases") {
            let x = data(&c["x"]);
            let net = make(e, c["x"]["shape"][0].as_u64().expect("batch") as usize);
            set_params(e, &net, &ws);
            let kind = kind_of(c);
            let got = run_penalty(e, &net, &x, kind, c["weight"].as_f64().expect("weight") as f32);
            let what = format!("{name} critic, {kind:?}");
            assert_close(&got.g, &data(&c["g"]), 1e-5, 1e-3, &format!("{what}: input gradient vs PyTorch"));
            let want = c["penalty"].as_f64().expect("penalty");
            assert!((got.penalty - want).abs() <= 1e-4 * want.abs() + 1e-6, "{what}: penalty {} vs PyTorch {want}", got.penalty);
            for (k, (gw, tw)) in got.grads.iter().zip(c["grads"].as_array().expect("grads")).enumerate() {
                let tw = data(tw);
                let scale = tw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                assert_close(gw, &tw, 1e-4 * scale.max(1e-3), 2e-3, &format!("{what}: dP/d(tensor {k}) vs PyTorch's double backward"));
            }
            eprintln!("{what}: penalty {:.6} (PyTorch {want:.6}), mean |g| {:.4}", got.penalty, got.mean_norm);
        }
    }
}

/// The f64 host reference: D(x) and g = dD/dx of the conv critic (per sample, summed output).
fn conv_input_gradient(n: usize, ws: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    let g = conv_geoms(n);
    let acts = [LRELU, LRELU, Act::Identity];
    let mut ins = vec![x.to_vec()];
    let mut pres = vec![];
    for (i, geom) in g.iter().enumerate() {
        let pre = reference::conv2d(geom, &ins[i], &ws[i]);
        ins.push(pre.iter().map(|v| reference::act(acts[i], *v)).collect());
        pres.push(pre);
    }
    let mut d = vec![1.0; n];
    for i in (0..3).rev() {
        let dpre: Vec<f64> = d.iter().zip(&pres[i]).map(|(dv, p)| dv * reference::act_grad(acts[i], *p)).collect();
        d = reference::conv2d_backward_input(&g[i], &dpre, &ws[i]);
    }
    d
}

fn mlp_input_gradient(n: usize, ws: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    let dims = [(2, 16), (16, 16), (16, 1)];
    let acts = [LRELU, LRELU, Act::Identity];
    let mut h = x.to_vec();
    let mut pres = vec![];
    for (i, &(din, dout)) in dims.iter().enumerate() {
        let (w, b) = (&ws[2 * i], &ws[2 * i + 1]);
        let pre: Vec<f64> = (0..n * dout).map(|k| b[k % dout] + (0..din).map(|j| h[(k / dout) * din + j] * w[(k % dout) * din + j]).sum::<f64>()).collect();
        h = pre.iter().map(|v| reference::act(acts[i], *v)).collect();
        pres.push(pre);
    }
    let mut d = vec![1.0; n];
    for (i, &(din, dout)) in dims.iter().enumerate().rev() {
        let dpre: Vec<f64> = d.iter().zip(&pres[i]).map(|(dv, p)| dv * reference::act_grad(acts[i], *p)).collect();
        let w = &ws[2 * i];
        d = (0..n * din).map(|k| (0..dout).map(|o| dpre[(k / din) * dout + o] * w[o * din + k % din]).sum()).collect();
    }
    d
}

#[test]
fn double_backward_matches_finite_differences() {
    let e = engine();
    for kind in [PenaltyKind::GradientPenalty, PenaltyKind::R1] {
        // the lab's critic, every parameter
        let n = 6;
        let shapes = [32, 16, 256, 16, 16, 1];
        let ws: Vec<Vec<f64>> = shapes.iter().enumerate().map(|(k, &len)| rand_vec(len, 11 + k as u64, -0.6, 0.6)).collect();
        let x = rand_vec(n * 2, 5, -2.0, 2.0);
        let net = mlp_critic(e, n);
        set_params(e, &net, &ws);
        let got = run_penalty(e, &net, &x, kind, 3.0);
        assert_close(&got.g, &mlp_input_gradient(n, &ws, &x), 1e-5, 1e-4, "mlp input gradient vs host");
        for t in 0..ws.len() {
            let f = |w: &[f64]| {
                let mut all = ws.clone();
                all[t] = w.to_vec();
                reference::penalty(kind, 3.0, &mlp_input_gradient(n, &all, &x), n)
            };
            let want: Vec<f64> = (0..ws[t].len()).map(|i| fd(&f, &ws[t], i, 1e-6)).collect();
            assert_close(&got.grads[t], &want, 2e-4, 2e-3, &format!("mlp {kind:?}: dP/d(tensor {t}) vs finite differences"));
        }
        // the conv critic, every 5th weight of each layer
        let n = 2;
        let ws: Vec<Vec<f64>> = conv_geoms(n).iter().enumerate().map(|(k, g)| rand_vec(g.cout * g.cin * g.kh * g.kw, 21 + k as u64, -0.3, 0.3)).collect();
        let x = rand_vec(n * 784, 9, -1.0, 1.0);
        let net = conv_critic(e, n);
        set_params(e, &net, &ws);
        let got = run_penalty(e, &net, &x, kind, 3.0);
        assert_close(&got.g, &conv_input_gradient(n, &ws, &x), 1e-5, 1e-4, "conv input gradient vs host");
        let host = reference::penalty(kind, 3.0, &conv_input_gradient(n, &ws, &x), n);
        assert!((got.penalty - host).abs() <= 1e-4 * host.abs(), "conv {kind:?}: penalty {} vs host {host}", got.penalty);
        for t in 0..ws.len() {
            let f = |w: &[f64]| {
                let mut all = ws.clone();
                all[t] = w.to_vec();
                reference::penalty(kind, 3.0, &conv_input_gradient(n, &all, &x), n)
            };
            let idx: Vec<usize> = (0..ws[t].len()).step_by(5).collect();
            let want: Vec<f64> = idx.iter().map(|&i| fd(&f, &ws[t], i, 1e-6)).collect();
            let have: Vec<f64> = idx.iter().map(|&i| got.grads[t][i]).collect();
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert_close(&have, &want, 1e-4 * scale, 2e-3, &format!("conv {kind:?}: dP/d(weight {t}) vs finite differences"));
        }
    }
}

#[test]
fn penalty_and_interpolation_kernels_match_the_host() {
    let e = engine();
    let (n, dim) = (5, 37);
    let g = rand_vec(n * dim, 3, -0.4, 0.4);
    for (kind, weight) in [(PenaltyKind::GradientPenalty, 10.0), (PenaltyKind::R1, 0.5)] {
        let gt = upload(e, &[n, dim], &g, "g");
        let (u, stats) = (zeros(e, &[n, dim], "u"), zeros(e, &[8], "stats"));
        e.run(&[&kernels::penalty(e, kind, weight, &gt, &u, &stats, 2).expect("penalty")]).expect("run");
        let mut want_u = vec![0.0; n * dim];
        let mut norms = 0.0;
        for k in 0..n {
            let row = &g[k * dim..(k + 1) * dim];
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            norms += norm;
            // dP/dg = weight / N * dvalue/d|g| * g / |g|
            let coef = weight as f64 / n as f64 * kind.value(norm).1 / norm;
            for j in 0..dim {
                want_u[k * dim + j] = coef * row[j];
            }
        }
        assert_close(&download(e, &u), &want_u, 1e-6, 1e-4, &format!("{kind:?}: dP/dg"));
        let s = download(e, &stats);
        assert_close(&s[2..4], &[reference::penalty(kind, weight as f64, &g, n), norms / n as f64], 1e-6, 1e-5, &format!("{kind:?}: stats"));
    }
    let (real, fake) = (rand_vec(n * dim, 4, -1.0, 1.0), rand_vec(n * dim, 6, -1.0, 1.0));
    let (rt, ft, xt): (Tensor, Tensor, Tensor) = (upload(e, &[n, dim], &real, "real"), upload(e, &[n, dim], &fake, "fake"), zeros(e, &[n, dim], "x_hat"));
    let d = kernels::interpolate(e, &rt, &ft, &xt, 7, 30).expect("interpolate");
    d.set_params(&e.gpu, &kernels::PenaltyParams { n: n as u32, dim: dim as u32, seed: 7, stream: 30, counter: 3, ..Default::default() });
    e.run(&[&d]).expect("run");
    let want: Vec<f64> = (0..n * dim)
        .map(|i| {
            let eps = gangpu::rng::rng_unit(7, 30, 3, (i / dim) as u32);
            eps * real[i] + (1.0 - eps) * fake[i]
        })
        .collect();
    assert_close(&download(e, &xt), &want, 1e-6, 1e-5, "interpolates");
}
