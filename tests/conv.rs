//! conv2d and conv_transpose2d, forward and both backward passes: GPU against the CPU reference
//! on many shapes, and the reference backward formulas against finite differences.

mod common;
use common::*;
use gangpu::kernels::{self, ConvGeom, ConvTGeom};
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

const CONV_SHAPES: &[(usize, usize, usize, usize, usize, usize, usize, usize)] = &[
    // (n, cin, h, w, cout, k, stride, pad)
    (1, 1, 5, 7, 1, 3, 1, 1),
    (2, 3, 9, 11, 5, 3, 2, 1),
    (1, 3, 13, 13, 64, 5, 2, 2),
    (64, 1, 28, 28, 64, 4, 2, 1),  // dcgan28 D layer 1
    (64, 64, 14, 14, 128, 4, 2, 1), // dcgan28 D layer 2
    (64, 128, 7, 7, 1, 7, 1, 0),   // dcgan28 D layer 3
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
];

/// The shapes the second convolution path of an adapter runs (the layout path on Vulkan, the
/// subgroup-free implicit kernels on GL) and the tiled kernels with tiles of 64: one of each
/// kernel entry point and special case
/// (generic, stride 3, dense, two channel blocks and a partial one, one to four channels, rows of
/// 4 and of 3), as it compiles every geometry anew and the rest would repeat what the adapter's
/// default path checks on every shape.
const OTHER_PATH_CONV: &[usize] = &[0, 1, 3, 4, 5, 10, 11, 15, 17];
const OTHER_PATH_CONVT: &[usize] = &[0, 1, 2, 4, 11, 12];

const CONVT_SHAPES: &[(usize, usize, usize, usize, usize, usize, usize, usize)] = &[
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
    let err = bad.validate().err().expect("kernel larger than input must be refused");
    assert!(err.to_string().contains("larger than padded input"), "unexpected error: {err}");
    // a workspace built for a smaller layer is refused, not overrun (the explicit path uses one)
    let e = if e.conv_implicit { engine_other_gemm() } else { e };
    let ws = kernels::ConvWorkspace::new(e, &[g]).unwrap();
    let big = cg(4, 8, 16, 16, 8, 3, 1, 1);
    let (xb, wb, yb) = (zeros(e, &big.x_shape(), "x"), zeros(e, &big.w_shape(), "w"), zeros(e, &big.y_shape(), "y"));
    let err = kernels::conv2d_forward(e, &ws, &big, &xb, &wb, &yb).err().expect("small workspace must be refused");
    assert!(err.to_string().contains("workspace too small"), "unexpected error: {err}");
}

#[test]
fn fused_activations_match_the_reference() {
    // implicit convolutions write act(conv(x)) in one pass; both variants, both directions
    for e in [engine(), engine_other_gemm(), engine_tiled_conv()] {
        if !e.conv_implicit {
            continue;
        }
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
            let d = kernels::conv_transpose2d_forward_act(e, &ws, &t, &upload(e, &t.x_shape(), &xt, "xt"), &upload(e, &t.w_shape(), &wt, "wt"), &yt, act, None).unwrap();
            e.run(&Engine::flat(&[&d])).unwrap();
            let want: Vec<f64> = cpu::conv_transpose2d(&t, &xt, &wt).into_iter().map(|v| cpu::act(act, v)).collect();
            assert_close(&download(e, &yt), &want, tol(10 * 4), 1e-5, &format!("conv_transpose2d + {act:?} fused ({})", e.describe()));
        }
    }
}
