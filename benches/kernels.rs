//! Per-layer kernel timings for the dcgan28 model at batch 64 (shapes from models.md):
//! forward, input-gradient and weight-gradient of every conv / transposed conv, with GFLOP/s.
//! Run: `cargo bench --bench kernels` (set WGPU_BACKEND to pick the adapter; GANGPU_BENCH_LAYER=
//! "256->128" measures the layers whose name contains it; GANGPU_BENCH_ROUNDS=15 times more rounds;
//! GANGPU_BENCH_MODEL=64 measures dcgan64's layers).

use anyhow::Result;
use gangpu::kernels::{self, ConvGeom, ConvTGeom};
use gangpu::nn::LayerKind;
use gangpu::{Dispatch, Engine, Tensor};
use std::time::Instant;

/// Median seconds per dispatch: `reps` copies recorded in one submit, timed over `rounds`.
fn time_dispatch(e: &Engine, d: &Dispatch, reps: usize, rounds: usize) -> Result<f64> {
    time_ops(e, std::slice::from_ref(d), reps, rounds)
}

/// Fastest seconds per run of `ops` (a layer pass) over `rounds`: on a shared, noisy machine the
/// minimum is the steadiest estimate of what the kernels cost.
fn time_ops(e: &Engine, ops: &[Dispatch], reps: usize, rounds: usize) -> Result<f64> {
    let list: Vec<&Dispatch> = (0..reps).flat_map(|_| ops.iter()).collect();
    e.run(&list)?; // warm-up (pipeline caches, first-touch)
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        e.run(&list)?;
        times.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(times.iter().copied().fold(f64::INFINITY, f64::min))
}

enum Layer {
    Conv(String, ConvGeom),
    ConvT(String, ConvTGeom),
}

fn main() -> Result<()> {
    let e = Engine::open_default()?;
    let quick = std::env::var("GANGPU_BENCH_QUICK").is_ok();
    let (reps, rounds) = if quick {
        (1, 1)
    } else if e.gpu.is_cpu {
        (1, 5)
    } else {
        (20, 5)
    };
    // GANGPU_BENCH_ROUNDS: more rounds steady the minimum on a shared, noisy machine
    let rounds = std::env::var("GANGPU_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(rounds);
    println!("adapter: {}", e.gpu.adapter);
    if std::env::var("GANGPU_GEMM_PROBE").is_ok() {
        return gemm_probe(&e);
    }
    // GANGPU_BENCH_MODEL=64 measures dcgan64's layers instead of dcgan28's
    let model = std::env::var("GANGPU_BENCH_MODEL").unwrap_or_else(|_| "28".into());
    anyhow::ensure!(model == "28" || model == "64", "GANGPU_BENCH_MODEL must be 28 or 64, got '{model}'");
    println!("dcgan{model} layers at batch 64; time per pass (fastest of {rounds} rounds of {reps})\n");
    println!("{:<28} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9}", "layer", "fwd ms", "dgrad ms", "wgrad ms", "fwd GF/s", "dgrad", "wgrad");
    // the layers of the model as the trainer builds them (models.rs), at batch 64
    let (size, channels) = if model == "28" { (28, 1) } else { (64, 3) };
    let mc = gangpu::models::ModelConfig { image_size: size, channels, batch: 64, ..Default::default() };
    let mut layers = Vec::new();
    for (net, specs) in [("G", mc.generator()?), ("D", mc.discriminator()?)] {
        for spec in specs {
            let (i, o) = (spec.layer.in_shape(), spec.layer.out_shape());
            let name = |kind: &str| format!("{net} {kind} {}->{} {}->{}", i[1], o[1], i[2], o[2]);
            match spec.layer {
                LayerKind::Conv(g) => layers.push(Layer::Conv(name("Conv"), g)),
                LayerKind::ConvT(g) => layers.push(Layer::ConvT(name("ConvT"), g)),
                other => anyhow::bail!("the DCGAN has no {other:?} layer"),
            }
        }
    }
    let mut total_ms = 0.0;
    let mut total_flop = 0.0;
    // GANGPU_BENCH_LAYER=<part of a layer's name> measures the matching layers only
    let only = std::env::var("GANGPU_BENCH_LAYER").ok();
    let name_of = |l: &Layer| match l {
        Layer::Conv(n, _) | Layer::ConvT(n, _) => n.clone(),
    };
    for layer in layers.iter().filter(|l| only.as_deref().is_none_or(|o| name_of(l).contains(o))) {
        let (name, x_shape, w_shape, y_shape, macs) = match layer {
            Layer::Conv(n, g) => (n.as_str(), g.x_shape(), g.w_shape(), g.y_shape(), g.macs()),
            Layer::ConvT(n, g) => (n.as_str(), g.x_shape(), g.w_shape(), g.y_shape(), g.macs()),
        };
        let x = Tensor::zeros(&e.gpu, &x_shape, "x")?;
        let w = Tensor::zeros(&e.gpu, &w_shape, "w")?;
        let y = Tensor::zeros(&e.gpu, &y_shape, "y")?;
        let dx = Tensor::zeros(&e.gpu, &x_shape, "dx")?;
        let dw = Tensor::zeros(&e.gpu, &w_shape, "dw")?;
        let (f, di, dwd) = match layer {
            Layer::Conv(_, g) => {
                let ws = kernels::ConvWorkspace::new(&e, &[*g])?;
                (
                    kernels::conv2d_forward(&e, &ws, g, &x, &w, &y)?,
                    kernels::conv2d_backward_input(&e, &ws, g, &y, &w, &dx)?,
                    kernels::conv2d_backward_weight(&e, &ws, g, &x, &y, &dw, false)?,
                )
            }
            Layer::ConvT(_, g) => {
                let ws = kernels::ConvWorkspace::new(&e, &[g.as_conv()])?;
                (
                    kernels::conv_transpose2d_forward(&e, &ws, g, &x, &w, &y)?,
                    kernels::conv_transpose2d_backward_input(&e, &ws, g, &y, &w, &dx)?,
                    kernels::conv_transpose2d_backward_weight(&e, &ws, g, &x, &y, &dw, false)?,
                )
            }
        };
        let flop = 2.0 * macs as f64;
        // GANGPU_BENCH_PASS=fwd|dgrad|wgrad runs one pass only (for profilers)
        let pass = std::env::var("GANGPU_BENCH_PASS").ok();
        let time = |ops: &[gangpu::Dispatch], name: &str| -> Result<f64> {
            match pass.as_deref() {
                Some(p) if p != name => Ok(f64::NAN),
                _ => time_ops(&e, ops, reps, rounds),
            }
        };
        let tf = time(&f, "fwd")?;
        let ti = time(&di, "dgrad")?;
        let tw = time(&dwd, "wgrad")?;
        total_ms += (tf + ti + tw) * 1e3;
        total_flop += 3.0 * flop;
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.3} {:>9.2} {:>9.2} {:>9.2}",
            name,
            tf * 1e3,
            ti * 1e3,
            tw * 1e3,
            flop / tf / 1e9,
            flop / ti / 1e9,
            flop / tw / 1e9
        );
    }
    println!("\nall conv passes once: {:.1} ms, {:.2} GFLOP/s overall", total_ms, total_flop / (total_ms / 1e3) / 1e9);
    bn_statistics(&e, layers.iter().filter(|l| only.as_deref().is_none_or(|o| name_of(l).contains(o))), reps, rounds)
}

/// A forward pass followed by batch norm in training mode, two ways: batch norm reads the output
/// once more for its statistics, or merges the partial statistics the convolution wrote as it
/// stored the output (conv.wgsl's BN_STATS). Layers whose kernel writes no partials are skipped.
fn bn_statistics<'a>(e: &Engine, layers: impl Iterator<Item = &'a Layer>, reps: usize, rounds: usize) -> Result<()> {
    println!(
        "\n{:<28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "forward + batch norm", "conv ms", "bn ms", "together", "conv+part", "bn merge", "together", "ratio"
    );
    let cfg = kernels::BnConfig { eps: 1e-5, momentum: 0.1, act: kernels::Act::Relu };
    for layer in layers {
        let (name, g, pass, x_shape, w_shape, y_shape) = match layer {
            Layer::Conv(n, g) => (n.as_str(), *g, kernels::ConvPass::Forward, g.x_shape(), g.w_shape(), g.y_shape()),
            Layer::ConvT(n, g) => (n.as_str(), g.as_conv(), kernels::ConvPass::InputGrad, g.x_shape(), g.w_shape(), g.y_shape()),
        };
        let Some(slots) = kernels::bn_partial_slots(e, pass, &g) else { continue };
        let c = y_shape[1];
        let x = Tensor::zeros(&e.gpu, &x_shape, "x")?;
        let w = Tensor::zeros(&e.gpu, &w_shape, "w")?;
        let y = Tensor::zeros(&e.gpu, &y_shape, "y")?;
        let z = Tensor::zeros(&e.gpu, &y_shape, "bn out")?;
        let [affine, running, saved] = ["affine", "running", "saved"].map(|l| Tensor::zeros(&e.gpu, &[2, c], l));
        let (affine, running, saved) = (affine?, running?, saved?);
        let parts = Tensor::zeros(&e.gpu, &[c, slots, 4], "partials")?;
        // a transposed convolution's forward pass is its convolution's input gradient
        let conv = |p: Option<&Tensor>| kernels::conv_pass(e, pass, &g, &x, &w, &y, false, kernels::Act::Identity, p);
        let bn = |p: Option<&Tensor>| kernels::batchnorm_forward(e, &cfg, true, &y, &affine, &z, &running, &saved, p);
        let with_bn = |p: Option<&Tensor>| -> Result<Vec<gangpu::Dispatch>> {
            let mut v = conv(p)?;
            v.push(bn(p)?);
            Ok(v)
        };
        let ops = [conv(None)?, vec![bn(None)?], with_bn(None)?, conv(Some(&parts))?, vec![bn(Some(&parts))?], with_bn(Some(&parts))?];
        // alternated, fastest of each: the machine's speed drifts
        let mut t = [f64::INFINITY; 6];
        for _ in 0..2 {
            for (ti, o) in t.iter_mut().zip(&ops) {
                *ti = ti.min(time_ops(e, o, reps, rounds)? * 1e3);
            }
        }
        println!("{:<28} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>7.3}", name, t[0], t[1], t[2], t[3], t[4], t[5], t[5] / t[2]);
    }
    Ok(())
}

#[allow(dead_code)]
pub fn gemm_probe(e: &Engine) -> Result<()> {
    for &(m, n, k) in &[(128usize, 3136usize, 1024usize), (256, 3136, 1024), (512, 512, 512)] {
        let a = Tensor::zeros(&e.gpu, &[m, k], "a")?;
        let b = Tensor::zeros(&e.gpu, &[n, k], "b")?;
        let c = Tensor::zeros(&e.gpu, &[m, n], "c")?;
        let d = kernels::gemm_nt(e, m, n, k, &a, k, &b, k, &c, kernels::GemmOut::RowMajor, false)?;
        let t = time_dispatch(e, &d, 2, 3)?;
        println!("gemm_nt {m}x{n}x{k}: {:.2} ms, {:.2} GFLOP/s", t * 1e3, 2.0 * (m * n * k) as f64 / t / 1e9);
    }
    Ok(())
}
