//! conv2d and conv_transpose2d, forward and both backward passes: GPU against the CPU reference
//! on many shapes, and the reference backward formulas against finite differences.
// Finite-difference loops index the input, its gradient and the reference side by side.
#![allow(clippy::needless_range_loop)]

mod common;
use common::*;
use gangpu::kernels::{self, ConvGeom, ConvTGeom};
use gangpu::plan::PlanChoice;
use gangpu::reference as cpu;
use gangpu::Engine;

fn cg(n: usize, cin: usize, h: usize, w: usize, cout: usize, k: usize, s: usize, p: usize) -> ConvGeom {
    ConvGeom { n, cin, h, w, cout, kh: k, kw: k, stride: s, pad: p }
}

fn tg(n: usize, cin: usize, h: usize, w: usize, cout: usize, k: usize, s: usize, p: usize) -> ConvTGeom {
    ConvTGeom { n, cin, h, w, cout, kh: k, kw: k, stride: s, pad: p }
}

/// f32 accumulation error grows like sqrt(terms).
fn tol(terms: usize) -> f64 {
    5e-6 * (terms as f64).sqrt().max(1.0) + 1e-6
}

/// (n, cin, h, w, cout, k, stride, pad)
type Shape = (usize, usize, usize, usize, usize, usize, usize, usize);

const CONV_SHAPES: &[Shape] = &[
    // (n, cin, h, w, cout, k, stride, pad)
    (1, 1, 5, 7, 1, 3, 1, 1),
    (2, 3, 9, 11, 5, 3, 2, 1),
    (1, 3, 13, 13, 64, 5, 2, 2),
    (64, 1, 28, 28, 64, 4, 2, 1),   // dcgan28 D layer 1
    (64, 64, 14, 14, 128, 4, 2, 1), // dcgan28 D layer 2
    (64, 128, 7, 7, 1, 7, 1, 0),    // dcgan28 D layer 3
    (3, 64, 7, 9, 6, 1, 1, 0),
    (2, 5, 15, 15, 3, 7, 1, 0),
    (1, 128, 3, 3, 3, 3, 1, 2),
    (4, 3, 6, 5, 7, 4, 2, 2),
    (2, 3, 10, 11, 4, 5, 3, 1),
    (2, 3, 9, 9, 40, 4, 2, 1), // a second block of output channels, partly filled
    (2, 1, 9, 11, 3, 4, 2, 1), // one input channel (input gradient: 4 rows x 16 columns per invocation), odd sizes
    (2, 1, 7, 6, 5, 4, 2, 2),
    (1, 1, 8, 8, 2, 4, 2, 0),
    (3, 20, 8, 8, 40, 4, 2, 1), // rows of 4 outputs (dcgan64's 8 -> 4 layers): strips of two rows
    (2, 3, 6, 8, 5, 4, 2, 1),   // and an odd number of them
    (2, 4, 5, 7, 6, 4, 2, 1),   // input-gradient phase rows of 4 and 3 outputs
    (2, 64, 8, 8, 72, 4, 2, 1), // weight gradient in 4 blocks of rows (the last partly filled) on rows of 4 outputs
];

/// The shapes the second convolution path of an adapter runs (the layout path on Vulkan, the
/// subgroup-free implicit kernels on GL) and the tiled kernels with tiles of 64: one of each
/// kernel entry point and special case
/// (generic, stride 3, dense, two channel blocks and a partial one, one to four channels, rows of
/// 4 and of 3), as it compiles every geometry anew and the rest would repeat what the adapter's
/// default path checks on every shape.
const OTHER_PATH_CONV: &[usize] = &[0, 1, 3, 4, 5, 10, 11, 15, 17];
const OTHER_PATH_CONVT: &[usize] = &[0, 1, 2, 4, 11, 12];

const CONVT_SHAPES: &[Shape] = &[
    (64, 100, 1, 1, 256, 7, 1, 0), // dcgan28 G layer 1
    (64, 256, 7, 7, 128, 4, 2, 1), // dcgan28 G layer 2
    (64, 128, 14, 14, 1, 4, 2, 1), // dcgan28 G layer 3
    (1, 1, 1, 1, 4, 7, 1, 0),
    (3, 3, 5, 6, 2, 3, 2, 1),
    (2, 4, 4, 4, 3, 5, 2, 2),
    (1, 5, 3, 3, 3, 3, 1, 1),
    (2, 3, 4, 5, 2, 5, 3, 1),
    (1, 64, 3, 5, 3, 1, 1, 0),
    (2, 7, 9, 9, 5, 4, 2, 1),
    (2, 3, 5, 6, 1, 4, 2, 1), // one output channel, odd sizes
    (2, 6, 4, 4, 5, 4, 2, 1), // 4 -> 8 (dcgan64's second layer)
    (2, 6, 5, 5, 3, 4, 2, 1), // three output channels (dcgan64's last layer)
    (1, 5, 3, 4, 2, 4, 2, 0),
    (1, 4, 4, 5, 1, 4, 2, 2),
];

#[test]
fn conv2d_gpu_matches_reference_on_many_shapes() {
    conv2d_shapes(engine(), usize::MAX, None);
}

#[test]
fn conv2d_with_the_other_gemm_variant_matches_reference() {
    conv2d_shapes(engine_other_gemm(), usize::MAX, Some(OTHER_PATH_CONV));
}

/// The tiled kernels' code does not depend on the batch, which only multiplies the work a CPU
/// adapter does between barriers: at most 4 images, with tiles sized per pass (32 x 32 for all
/// but the largest passes) on every shape, and tiles of 64 on one shape of each kind.
#[test]
fn conv2d_with_shared_memory_tiles_matches_reference() {
    conv2d_shapes(engine_tiled_conv(), 4, None);
    conv2d_shapes(engine_tiled_conv_64(), 4, Some(OTHER_PATH_CONV));
}

/// The shapes of CONV_SHAPES (those in `subset`, if given), with at most `max_batch` images.
fn conv2d_shapes(e: &Engine, max_batch: usize, subset: Option<&[usize]>) {
    eprintln!("kernels: {}", e.describe());
    for (i, &(n, cin, h, w, cout, k, s, p)) in CONV_SHAPES.iter().enumerate() {
        if subset.is_some_and(|sub| !sub.contains(&i)) {
            continue;
        }
        let n = n.min(max_batch);
        let g = cg(n, cin, h, w, cout, k, s, p);
        let x = f32_round(&rand_vec(n * cin * h * w, 10 + i as u64, -1.0, 1.0));
        let wt = f32_round(&rand_vec(cout * cin * k * k, 20 + i as u64, -0.5, 0.5));
        let dy = f32_round(&rand_vec(n * cout * g.oh() * g.ow(), 30 + i as u64, -1.0, 1.0));
        let (xt, wtt, dyt) = (upload(e, &g.x_shape(), &x, "x"), upload(e, &g.w_shape(), &wt, "w"), upload(e, &g.y_shape(), &dy, "dy"));
        let y = zeros(e, &g.y_shape(), "y");
        let dx = zeros(e, &g.x_shape(), "dx");
        // dw starts from a known value to test accumulation.
        let dw0 = f32_round(&rand_vec(wt.len(), 40 + i as u64, -1.0, 1.0));
        let dw = upload(e, &g.w_shape(), &dw0, "dw");
        let ws = kernels::ConvWorkspace::new(e, &[g]).unwrap();
        let d1 = kernels::conv2d_forward(e, &ws, &g, &xt, &wtt, &y).unwrap();
        let d2 = kernels::conv2d_backward_input(e, &ws, &g, &dyt, &wtt, &dx).unwrap();
        let d3 = kernels::conv2d_backward_weight(e, &ws, &g, &xt, &dyt, &dw, true).unwrap();
        e.run(&Engine::flat(&[&d1, &d2, &d3])).unwrap();
        let what = format!("shape #{i} {g:?}");
        assert_close(&download(e, &y), &cpu::conv2d(&g, &x, &wt), tol(cin * k * k), 1e-5, &format!("conv2d forward, {what}"));
        assert_close(&download(e, &dx), &cpu::conv2d_backward_input(&g, &dy, &wt), tol(cout * k * k), 1e-5, &format!("conv2d input-grad, {what}"));
        let want_dw: Vec<f64> = cpu::conv2d_backward_weight(&g, &x, &dy).iter().zip(&dw0).map(|(a, b)| a + b).collect();
        assert_close(&download(e, &dw), &want_dw, tol(n * g.oh() * g.ow()), 1e-5, &format!("conv2d weight-grad (accumulated), {what}"));
    }
}

#[test]
fn conv_transpose2d_gpu_matches_reference_on_many_shapes() {
    conv_transpose2d_shapes(engine(), usize::MAX, None);
}

#[test]
fn conv_transpose2d_with_the_other_gemm_variant_matches_reference() {
    conv_transpose2d_shapes(engine_other_gemm(), usize::MAX, Some(OTHER_PATH_CONVT));
}

/// As conv2d_with_shared_memory_tiles_matches_reference.
#[test]
fn conv_transpose2d_with_shared_memory_tiles_matches_reference() {
    conv_transpose2d_shapes(engine_tiled_conv(), 4, None);
    conv_transpose2d_shapes(engine_tiled_conv_64(), 4, Some(OTHER_PATH_CONVT));
}

/// The shapes of CONVT_SHAPES (those in `subset`, if given), with at most `max_batch` images.
fn conv_transpose2d_shapes(e: &Engine, max_batch: usize, subset: Option<&[usize]>) {
    for (i, &(n, cin, h, w, cout, k, s, p)) in CONVT_SHAPES.iter().enumerate() {
        if subset.is_some_and(|sub| !sub.contains(&i)) {
            continue;
        }
        let n = n.min(max_batch);
        let g = tg(n, cin, h, w, cout, k, s, p);
        let x = f32_round(&rand_vec(n * cin * h * w, 50 + i as u64, -1.0, 1.0));
        let wt = f32_round(&rand_vec(cin * cout * k * k, 60 + i as u64, -0.5, 0.5));
        let dy = f32_round(&rand_vec(n * cout * g.oh() * g.ow(), 70 + i as u64, -1.0, 1.0));
        let (xt, wtt, dyt) = (upload(e, &g.x_shape(), &x, "x"), upload(e, &g.w_shape(), &wt, "w"), upload(e, &g.y_shape(), &dy, "dy"));
        let y = zeros(e, &g.y_shape(), "y");
        let dx = zeros(e, &g.x_shape(), "dx");
        let dw = zeros(e, &g.w_shape(), "dw");
        let ws = kernels::ConvWorkspace::new(e, &[g.as_conv()]).unwrap();
        let d1 = kernels::conv_transpose2d_forward(e, &ws, &g, &xt, &wtt, &y).unwrap();
        let d2 = kernels::conv_transpose2d_backward_input(e, &ws, &g, &dyt, &wtt, &dx).unwrap();
        let d3 = kernels::conv_transpose2d_backward_weight(e, &ws, &g, &xt, &dyt, &dw, false).unwrap();
        e.run(&Engine::flat(&[&d1, &d2, &d3])).unwrap();
        let what = format!("shape #{i} {g:?}");
        let (want_dx, want_dw) = cpu::conv_transpose2d_backward(&g, &x, &wt, &dy);
        assert_close(&download(e, &y), &cpu::conv_transpose2d(&g, &x, &wt), tol(cin * k * k), 1e-5, &format!("conv_transpose2d forward, {what}"));
        assert_close(&download(e, &dx), &want_dx, tol(cout * k * k), 1e-5, &format!("conv_transpose2d input-grad, {what}"));
        assert_close(&download(e, &dw), &want_dw, tol(n * h * w), 1e-5, &format!("conv_transpose2d weight-grad, {what}"));
    }
}

/// The reference backward formulas are the true derivatives of the reference forward passes:
/// for L = <conv(x, w), r>, dL/dx and dL/dw by central differences in f64.
#[test]
fn conv_reference_backward_matches_finite_differences() {
    for (i, g) in [cg(2, 3, 6, 7, 4, 3, 2, 1), cg(1, 2, 5, 5, 3, 4, 1, 2), cg(1, 1, 4, 4, 2, 1, 1, 0)].iter().enumerate() {
        let x = rand_vec(g.n * g.cin * g.h * g.w, 80 + i as u64, -1.0, 1.0);
        let w = rand_vec(g.cout * g.cin * g.kh * g.kw, 90 + i as u64, -1.0, 1.0);
        let r = rand_vec(g.n * g.cout * g.oh() * g.ow(), 100 + i as u64, -1.0, 1.0);
        let dx = cpu::conv2d_backward_input(g, &r, &w);
        let dw = cpu::conv2d_backward_weight(g, &x, &r);
        let fx = |xv: &[f64]| dot(&cpu::conv2d(g, xv, &w), &r);
        let fw = |wv: &[f64]| dot(&cpu::conv2d(g, &x, wv), &r);
        for j in 0..x.len() {
            assert_close(&[dx[j]], &[fd(&fx, &x, j, 1e-3)], 1e-8, 1e-6, &format!("conv dL/dx[{j}] vs finite difference, {g:?}"));
        }
        for j in 0..w.len() {
            assert_close(&[dw[j]], &[fd(&fw, &w, j, 1e-3)], 1e-8, 1e-6, &format!("conv dL/dw[{j}] vs finite difference, {g:?}"));
        }
    }
    for (i, g) in [tg(2, 3, 3, 4, 2, 4, 2, 1), tg(1, 2, 2, 2, 3, 3, 1, 0)].iter().enumerate() {
        let x = rand_vec(g.n * g.cin * g.h * g.w, 110 + i as u64, -1.0, 1.0);
        let w = rand_vec(g.cin * g.cout * g.kh * g.kw, 120 + i as u64, -1.0, 1.0);
        let r = rand_vec(g.n * g.cout * g.oh() * g.ow(), 130 + i as u64, -1.0, 1.0);
        let (dx, dw) = cpu::conv_transpose2d_backward(g, &x, &w, &r);
        let fx = |xv: &[f64]| dot(&cpu::conv_transpose2d(g, xv, &w), &r);
        let fw = |wv: &[f64]| dot(&cpu::conv_transpose2d(g, &x, wv), &r);
        for j in 0..x.len() {
            assert_close(&[dx[j]], &[fd(&fx, &x, j, 1e-3)], 1e-8, 1e-6, &format!("convT dL/dx[{j}] vs finite difference, {g:?}"));
        }
        for j in 0..w.len() {
            assert_close(&[dw[j]], &[fd(&fw, &w, j, 1e-3)], 1e-8, 1e-6, &format!("convT dL/dw[{j}] vs finite difference, {g:?}"));
        }
    }
}

/// conv_transpose2d is exactly the input-gradient of its convolution (the shared-kernel claim),
/// checked on the references.
#[test]
fn conv_transpose_is_the_conv_input_gradient() {
    let t = tg(2, 4, 5, 5, 3, 4, 2, 1);
    let x = rand_vec(2 * 4 * 25, 140, -1.0, 1.0);
    let w = rand_vec(4 * 3 * 16, 141, -1.0, 1.0);
    assert_close(&cpu::conv2d_backward_input(&t.as_conv(), &x, &w), &cpu::conv_transpose2d(&t, &x, &w), 1e-12, 1e-12, "convT vs conv input-grad");
}

#[test]
fn conv_shape_mismatch_is_caught_before_dispatch() {
    let e = engine();
    let g = cg(2, 3, 8, 8, 4, 3, 1, 1);
    let x = zeros(e, &[2, 3, 8, 9], "x");
    let w = zeros(e, &g.w_shape(), "w");
    let y = zeros(e, &g.y_shape(), "y");
    let ws = kernels::ConvWorkspace::new(e, &[g]).unwrap();
    let err = kernels::conv2d_forward(e, &ws, &g, &x, &w, &y).err().expect("mismatched input must be refused");
    assert!(err.to_string().contains("conv2d input"), "unexpected error: {err}");
    let bad = cg(1, 1, 2, 2, 1, 5, 1, 0);
    let err = bad.validate().expect_err("kernel larger than input must be refused");
    assert!(err.to_string().contains("larger than padded input"), "unexpected error: {err}");
    // a workspace built for a smaller layer is refused, not overrun (the explicit path uses one)
    let e = if e.conv_implicit() { engine_other_gemm() } else { e };
    let ws = kernels::ConvWorkspace::new(e, &[g]).unwrap();
    let big = cg(4, 8, 16, 16, 8, 3, 1, 1);
    let (xb, wb, yb) = (zeros(e, &big.x_shape(), "x"), zeros(e, &big.w_shape(), "w"), zeros(e, &big.y_shape(), "y"));
    let err = kernels::conv2d_forward(e, &ws, &big, &xb, &wb, &yb).err().expect("small workspace must be refused");
    assert!(err.to_string().contains("workspace too small"), "unexpected error: {err}");
}

#[test]
fn fused_activations_match_the_reference() {
    // implicit convolutions write act(conv(x)) in one pass; both variants, both directions
    // barrier-free (with subgroup loads where the adapter has them), the same without, tiles
    for e in [engine_plan(PlanChoice::Cpu), engine_plan(PlanChoice::CpuPlain), engine_tiled_conv()] {
        assert!(e.conv_implicit(), "{}: plan {} fuses no activations", e.describe(), e.plan.name);
        eprintln!("fused activations on {} ({})", e.describe(), e.gpu.adapter);
        let ws = kernels::ConvWorkspace::new(e, &[]).unwrap();
        for (i, act) in [gangpu::kernels::Act::LeakyRelu(0.2), gangpu::kernels::Act::Tanh, gangpu::kernels::Act::Relu].into_iter().enumerate() {
            let g = cg(4, 3, 12, 12, 10, 4, 2, 1);
            let x = f32_round(&rand_vec(g.x_shape().iter().product(), 300 + i as u64, -1.0, 1.0));
            let w = f32_round(&rand_vec(g.w_shape().iter().product(), 310 + i as u64, -0.5, 0.5));
            let y = zeros(e, &g.y_shape(), "y");
            let d = kernels::conv2d_forward_act(e, &ws, &g, &upload(e, &g.x_shape(), &x, "x"), &upload(e, &g.w_shape(), &w, "w"), &y, act, None).unwrap();
            e.run(&Engine::flat(&[&d])).unwrap();
            let want: Vec<f64> = cpu::conv2d(&g, &x, &w).into_iter().map(|v| cpu::act(act, v)).collect();
            assert_close(&download(e, &y), &want, tol(3 * 16), 1e-5, &format!("conv2d + {act:?} fused ({})", e.describe()));
            let t = tg(4, 10, 6, 6, 3, 4, 2, 1);
            let xt = f32_round(&rand_vec(t.x_shape().iter().product(), 320 + i as u64, -1.0, 1.0));
            let wt = f32_round(&rand_vec(t.w_shape().iter().product(), 330 + i as u64, -0.5, 0.5));
            let yt = zeros(e, &t.y_shape(), "yt");
            let d = kernels::conv_transpose2d_forward_act(e, &ws, &t, &upload(e, &t.x_shape(), &xt, "xt"), &upload(e, &t.w_shape(), &wt, "wt"), &yt, act, None)
                .unwrap();
            e.run(&Engine::flat(&[&d])).unwrap();
            let want: Vec<f64> = cpu::conv_transpose2d(&t, &xt, &wt).into_iter().map(|v| cpu::act(act, v)).collect();
            assert_close(&download(e, &yt), &want, tol(10 * 4), 1e-5, &format!("conv_transpose2d + {act:?} fused ({})", e.describe()));
        }
    }
}

/// Count, mean and biased variance per channel of an (N, C, HW) tensor, in f64.
fn channel_stats(y: &[f64], n: usize, c: usize, hw: usize) -> Vec<(f64, f64, f64)> {
    (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..n).flat_map(|i| y[(i * c + ch) * hw..(i * c + ch + 1) * hw].iter().copied()).collect();
            let m = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / m;
            (m, mean, vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m)
        })
        .collect()
}

/// Partials (C, slots, 4) of count, mean, M2 merged per channel (Chan et al.) into count, mean and
/// biased variance.
fn merged_partials(p: &[f64], c: usize) -> Vec<(f64, f64, f64)> {
    let slots = p.len() / 4 / c;
    (0..c)
        .map(|ch| {
            let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
            for s in 0..slots {
                let r = &p[(ch * slots + s) * 4..(ch * slots + s) * 4 + 3];
                if r[0] == 0.0 {
                    continue;
                }
                let t = n + r[0];
                let d = r[1] - mean;
                mean += d * r[0] / t;
                m2 += r[2] + d * d * n * r[0] / t;
                n = t;
            }
            (n, mean, m2 / n.max(1.0))
        })
        .collect()
}

fn assert_stats(got: &[(f64, f64, f64)], want: &[(f64, f64, f64)], what: &str) {
    for (ch, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.0, w.0, "{what}: channel {ch} counts {} values, not {}", g.0, w.0);
    }
    let flat = |s: &[(f64, f64, f64)]| s.iter().flat_map(|t| [t.1, t.2]).collect::<Vec<f64>>();
    // relative to the spread: a mean far from zero must not cost the variance its digits
    let scale = want.iter().map(|t| t.2.sqrt()).fold(0.0, f64::max).max(1e-3);
    assert_close(&flat(got), &flat(want), 2e-5 * scale, 2e-4, &format!("{what}: per channel mean, variance"));
}

/// Geometries and passes whose output feeds batch norm, with an input offset: forward (strips of
/// 8, of two 4-wide rows, one and two blocks of rows, a partial block) and input gradient (both
/// column phases, phase rows of 4 taken in pairs, odd heights whose last phase row is absent, two
/// blocks; stride 3); values far from zero; G's first layer (a dense input gradient).
fn partials_cases() -> Vec<(ConvGeom, kernels::ConvPass, f64)> {
    use kernels::ConvPass::{Forward, InputGrad};
    vec![
        (cg(64, 64, 14, 14, 128, 4, 2, 1), Forward, 0.0),
        (cg(2, 3, 9, 11, 5, 4, 2, 1), Forward, 0.0),
        (cg(3, 20, 8, 8, 40, 4, 2, 1), Forward, 0.0),
        (cg(2, 3, 6, 8, 5, 4, 2, 1), Forward, 0.0),
        (cg(2, 5, 7, 9, 3, 3, 1, 1), Forward, 50.0),
        (tg(64, 256, 7, 7, 128, 4, 2, 1).as_conv(), InputGrad, 0.0),
        (cg(2, 6, 9, 11, 7, 4, 2, 1), InputGrad, 0.0),
        (tg(2, 6, 4, 4, 5, 4, 2, 1).as_conv(), InputGrad, 0.0),
        (tg(3, 9, 5, 6, 40, 4, 2, 1).as_conv(), InputGrad, 30.0),
        (tg(2, 4, 4, 5, 6, 5, 3, 1).as_conv(), InputGrad, 0.0),
        (tg(16, 20, 1, 1, 48, 7, 1, 0).as_conv(), InputGrad, 0.0),
    ]
}

/// Runs the cases (those in `subset`) that `e`'s kernels write partials for: the output still
/// matches the reference and the merged partials give each channel's count, mean and variance.
/// Returns how many ran.
fn check_partials(e: &Engine, subset: Option<&[usize]>) -> usize {
    let mut checked = 0;
    for (i, (g, pass, offset)) in partials_cases().into_iter().enumerate() {
        if subset.is_some_and(|s| !s.contains(&i)) {
            continue;
        }
        let Some(slots) = kernels::bn_partial_slots(e, pass, &g) else { continue };
        let (a_shape, out_shape) = match pass {
            kernels::ConvPass::Forward => (g.x_shape(), g.y_shape()),
            _ => (g.y_shape(), g.x_shape()),
        };
        let a = f32_round(&rand_vec(a_shape.iter().product(), 400 + i as u64, offset - 1.0, offset + 1.0));
        let w = f32_round(&rand_vec(g.w_shape().iter().product(), 410 + i as u64, -0.5, 0.5));
        let out = zeros(e, &out_shape, "out");
        let c = out_shape[1];
        // NaN everywhere first: a slot the kernel leaves unwritten poisons its channel
        let parts = upload(e, &[c, slots, 4], &vec![f64::NAN; c * slots * 4], "partials");
        let d = kernels::conv_pass(
            e,
            pass,
            &g,
            &upload(e, &a_shape, &a, "a"),
            &upload(e, &g.w_shape(), &w, "w"),
            &out,
            false,
            kernels::Act::Identity,
            Some(&parts),
        )
        .unwrap();
        e.run(&Engine::flat(&[&d])).unwrap();
        let want = match pass {
            kernels::ConvPass::Forward => cpu::conv2d(&g, &a, &w),
            _ => cpu::conv2d_backward_input(&g, &a, &w),
        };
        let what = format!("case #{i} {pass:?} {g:?} ({})", e.describe());
        assert_close(&download(e, &out), &want, tol(g.cin.max(g.cout) * 16) * (1.0 + offset), 1e-5, &format!("output beside partials, {what}"));
        let hw = out_shape[2] * out_shape[3];
        assert_stats(&merged_partials(&download(e, &parts), c), &channel_stats(&want, out_shape[0], c, hw), &format!("partials, {what}"));
        checked += 1;
    }
    checked
}

#[test]
fn convolutions_write_batch_norm_partial_statistics_of_their_output() {
    // shared-memory tiles (GPUs): every forward and input-gradient pass, tiles of 32 and 64
    assert_eq!(check_partials(engine_tiled_conv(), None), partials_cases().len());
    assert_eq!(check_partials(engine_tiled_conv_64(), Some(&[0, 2, 5, 6, 10])), 5);
    // barrier-free kernels (CPU adapters): the subgroup variant, where subgroups are usable
    let e = common::engine_plan(gangpu::plan::PlanChoice::Cpu);
    let g = cg(2, 3, 9, 11, 5, 4, 2, 1);
    for plain in [common::engine_plan(gangpu::plan::PlanChoice::CpuPlain), common::engine_plan(gangpu::plan::PlanChoice::Layout)] {
        assert!(kernels::bn_partial_slots(plain, kernels::ConvPass::Forward, &g).is_none(), "{} cannot write partials", plain.describe());
    }
    if e.conv_subgroups() {
        // barrier-free kernels: conv_fwd and conv_dgrad_x2
        assert_eq!(check_partials(e, None), 9, "conv_fwd and conv_dgrad_x2 cases");
        eprintln!("batch-norm partials of the barrier-free subgroup kernels on {}", e.describe());
    } else {
        // only the subgroup variant of the barrier-free kernels writes partials (GL has no subgroups)
        assert!(kernels::bn_partial_slots(e, kernels::ConvPass::Forward, &g).is_none(), "{} cannot write partials", e.describe());
        // the rest is about the barrier-free kernels' partials: said, and failed where CI expects them
        skipped("subgroups", &format!("{}: no barrier-free batch-norm partials to check ({})", e.describe(), e.plan.why));
        return;
    }
    // what cannot write them says so
    let ws = kernels::ConvWorkspace::new(e, &[]).unwrap();
    let dense = cg(2, 8, 7, 7, 3, 7, 1, 0);
    assert!(kernels::bn_partial_slots(e, kernels::ConvPass::Forward, &dense).is_none(), "a dense forward pass is a GEMM without partials");
    let parts = zeros(e, &[3, 1, 4], "partials");
    let err = kernels::conv_pass(
        e,
        kernels::ConvPass::Forward,
        &dense,
        &zeros(e, &dense.x_shape(), "x"),
        &zeros(e, &dense.w_shape(), "w"),
        &zeros(e, &dense.y_shape(), "y"),
        false,
        kernels::Act::Identity,
        Some(&parts),
    )
    .err()
    .expect("partials on a dense pass must be refused");
    assert!(err.to_string().contains("cannot write batch-norm partial statistics"), "unexpected error: {err}");
    let slots = kernels::bn_partial_slots(e, kernels::ConvPass::Forward, &g).unwrap();
    let wrong = zeros(e, &[5, slots + 1, 4], "partials");
    let err = kernels::conv2d_forward_act(
        e,
        &ws,
        &g,
        &zeros(e, &g.x_shape(), "x"),
        &zeros(e, &g.w_shape(), "w"),
        &zeros(e, &g.y_shape(), "y"),
        kernels::Act::Identity,
        Some(&wrong),
    )
    .err()
    .expect("partials of the wrong size must be refused");
    assert!(format!("{err:#}").contains("batch-norm partials"), "unexpected error: {err:#}");
    assert!(kernels::bn_partial_slots(engine_tiled_conv(), kernels::ConvPass::WeightGrad, &g).is_none(), "a weight gradient feeds no batch norm");
}
