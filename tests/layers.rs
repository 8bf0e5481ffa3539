//! Batch norm, activations, linear, losses, optimizers and the random generator: GPU against the
//! CPU reference, reference backward formulas against finite differences.
// Finite-difference loops index the input, its gradient and the reference side by side.
#![allow(clippy::needless_range_loop)]

mod common;
use common::*;
use gangpu::kernels::{self, Act, BnConfig, LossKind, OptParams};
use gangpu::reference as cpu;

const ACTS: &[Act] = &[Act::Identity, Act::Relu, Act::LeakyRelu(0.2), Act::Tanh, Act::Sigmoid];

#[test]
fn batchnorm_train_eval_and_backward_match_reference() {
    let e = engine();
    // (n, c, h, w, act, shift of x): batch 1 and 64, channels 1..256, odd sizes. Tensors of a
    // multiple of 4 values are read in vec4 chunks (written in chunks too where HW % 4 == 0), others
    // value by value; shifted data checks the one-pass variance does not cancel.
    let cases = [
        (64, 128, 7, 7, Act::Relu, 0.0),
        (64, 3, 5, 5, Act::LeakyRelu(0.2), 0.0),
        (1, 64, 3, 5, Act::Identity, 0.0),
        (2, 1, 9, 1, Act::Relu, 0.0),
        (16, 256, 1, 1, Act::LeakyRelu(0.2), 0.0),
        (3, 2, 14, 14, Act::Relu, 0.0), // more positions per image (196) than lanes per channel (64)
        (4, 8, 8, 8, Act::LeakyRelu(0.2), 0.0),
        (2, 3, 4, 4, Act::Identity, 500.0),
        (3, 3, 5, 3, Act::LeakyRelu(0.2), 500.0),
        (4, 5, 7, 7, Act::Identity, -300.0),
    ];
    for (i, &(n, c, h, w, act, shift)) in cases.iter().enumerate() {
        let hw = h * w;
        let cfg = BnConfig { eps: 1e-5, momentum: 0.1, act };
        let x = f32_round(&rand_vec(n * c * hw, 200 + i as u64, shift - 2.0, shift + 3.0));
        let gamma = f32_round(&rand_vec(c, 210 + i as u64, 0.5, 1.5));
        let beta = f32_round(&rand_vec(c, 220 + i as u64, -0.5, 0.5));
        let rm0 = f32_round(&rand_vec(c, 230 + i as u64, -0.1, 0.1));
        let rv0 = f32_round(&rand_vec(c, 240 + i as u64, 0.9, 1.1));
        let dy = f32_round(&rand_vec(n * c * hw, 250 + i as u64, -1.0, 1.0));
        let shape = [n, c, h, w];
        let xt = upload(e, &shape, &x, "x");
        let affine = upload(e, &[2, c], &[gamma.clone(), beta.clone()].concat(), "affine");
        let running = upload(e, &[2, c], &[rm0.clone(), rv0.clone()].concat(), "running");
        let saved = zeros(e, &[2, c], "saved");
        let y = zeros(e, &shape, "y");
        let dyt = upload(e, &shape, &dy, "dy");
        let dx = zeros(e, &shape, "dx");
        let daff0 = f32_round(&rand_vec(2 * c, 260 + i as u64, -1.0, 1.0));
        let daff = upload(e, &[2, c], &daff0, "daffine");
        let y_eval = zeros(e, &shape, "y_eval");
        let f = kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y, &running, &saved, None).unwrap();
        let b = kernels::batchnorm_backward(e, &cfg, &xt, &dyt, &affine, &saved, &dx, &daff, true, true).unwrap();
        let ev = kernels::batchnorm_forward(e, &cfg, false, &xt, &affine, &y_eval, &running, &saved, None).unwrap();
        e.run(&[&f, &b]).unwrap();
        let saved_after_train = download(e, &saved);
        e.run(&[&ev]).unwrap();
        let what = format!("case #{i} {shape:?} {act:?}");
        let (want_y, mean, var) = cpu::batchnorm_train(&x, n, c, hw, &gamma, &beta, 1e-5, act);
        assert_close(&download(e, &y), &want_y, 2e-5, 1e-4, &format!("bn train forward, {what}"));
        let m = (n * hw) as f64;
        let want_running: Vec<f64> = (0..c).map(|k| 0.9 * rm0[k] + 0.1 * mean[k]).chain((0..c).map(|k| 0.9 * rv0[k] + 0.1 * var[k] * m / (m - 1.0))).collect();
        let running_now = download(e, &running);
        assert_close(&running_now, &want_running, 1e-5, 1e-4, &format!("bn running stats, {what}"));
        let want_saved: Vec<f64> = mean.iter().cloned().chain(var.iter().map(|v| 1.0 / (v + 1e-5).sqrt())).collect();
        assert_close(&saved_after_train, &want_saved, 1e-5, 1e-4, &format!("bn saved stats, {what}"));
        let (want_dx, dg, db) = cpu::batchnorm_train_backward(&x, &dy, n, c, hw, &gamma, &beta, 1e-5, act);
        assert_close(&download(e, &dx), &want_dx, 1e-4, 1e-3, &format!("bn input-grad, {what}"));
        let want_daff: Vec<f64> = dg.iter().chain(db.iter()).zip(&daff0).map(|(a, b)| a + b).collect();
        assert_close(&download(e, &daff), &want_daff, 1e-3, 1e-4, &format!("bn affine-grad (accumulated), {what}"));
        let rm: Vec<f64> = running_now[..c].to_vec();
        let rv: Vec<f64> = running_now[c..].to_vec();
        let want_eval = cpu::batchnorm_eval(&x, c, hw, &gamma, &beta, &rm, &rv, 1e-5, act);
        assert_close(&download(e, &y_eval), &want_eval, 2e-5, 1e-4, &format!("bn eval forward, {what}"));
    }
}

/// Partial statistics (C, slots, 4) of x (N, C, HW) as a convolution writes them: count, mean and
/// M2 of consecutive groups of a channel's values, of pseudo-random sizes 0 to 20 (empty groups
/// included), unused slots empty.
fn partial_stats(x: &[f64], n: usize, c: usize, hw: usize, seed: u64) -> (Vec<f64>, usize) {
    let sizes = rand_vec(4096, seed, 0.0, 21.0);
    let mut per_channel = Vec::new();
    let mut next = 0;
    for ch in 0..c {
        let vals: Vec<f64> = (0..n).flat_map(|i| x[(i * c + ch) * hw..(i * c + ch + 1) * hw].iter().copied()).collect();
        let mut groups = Vec::new();
        let mut at = 0;
        while at < vals.len() {
            let len = (sizes[next % sizes.len()] as usize).min(vals.len() - at);
            next += 1;
            let g = &vals[at..at + len];
            let mean = if len > 0 { g.iter().sum::<f64>() / len as f64 } else { 0.0 };
            groups.push([len as f64, mean, g.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>(), 0.0]);
            at += len;
        }
        per_channel.push(groups);
    }
    let slots = per_channel.iter().map(|g| g.len()).max().unwrap_or(1) + 1;
    let mut out = vec![0.0; c * slots * 4];
    for (ch, groups) in per_channel.iter().enumerate() {
        for (s, g) in groups.iter().enumerate() {
            out[(ch * slots + s) * 4..(ch * slots + s + 1) * 4].copy_from_slice(g);
        }
    }
    (f32_round(&out), slots)
}

#[test]
fn batchnorm_merging_partial_statistics_matches_reference() {
    // the statistics a convolution summarised as it wrote x, merged instead of a pass over x:
    // scalar, chunked and whole-chunk variants; data far from zero
    let e = engine();
    let cases = [
        (64, 128, 7, 7, Act::Relu, 0.0),
        (2, 3, 5, 3, Act::LeakyRelu(0.2), 0.0),
        (2, 5, 3, 3, Act::Identity, 0.0),
        (4, 8, 8, 8, Act::Relu, 0.0),
        (3, 4, 7, 7, Act::Identity, 400.0),
        (2, 6, 4, 4, Act::LeakyRelu(0.2), -250.0),
    ];
    for (i, &(n, c, h, w, act, shift)) in cases.iter().enumerate() {
        let hw = h * w;
        let cfg = BnConfig { eps: 1e-5, momentum: 0.1, act };
        let x = f32_round(&rand_vec(n * c * hw, 500 + i as u64, shift - 2.0, shift + 3.0));
        let gamma = f32_round(&rand_vec(c, 510 + i as u64, 0.5, 1.5));
        let beta = f32_round(&rand_vec(c, 520 + i as u64, -0.5, 0.5));
        let rm0 = f32_round(&rand_vec(c, 530 + i as u64, -0.1, 0.1));
        let rv0 = f32_round(&rand_vec(c, 540 + i as u64, 0.9, 1.1));
        let (parts, slots) = partial_stats(&x, n, c, hw, 550 + i as u64);
        let shape = [n, c, h, w];
        let xt = upload(e, &shape, &x, "x");
        let affine = upload(e, &[2, c], &[gamma.clone(), beta.clone()].concat(), "affine");
        let running = upload(e, &[2, c], &[rm0.clone(), rv0.clone()].concat(), "running");
        let saved = zeros(e, &[2, c], "saved");
        let y = zeros(e, &shape, "y");
        let pt = upload(e, &[c, slots, 4], &parts, "partials");
        e.run(&[&kernels::batchnorm_forward(e, &cfg, true, &xt, &affine, &y, &running, &saved, Some(&pt)).unwrap()]).unwrap();
        let what = format!("case #{i} {shape:?} {act:?} shift {shift}, {slots} partials per channel");
        let (want_y, mean, var) = cpu::batchnorm_train(&x, n, c, hw, &gamma, &beta, 1e-5, act);
        assert_close(&download(e, &y), &want_y, 2e-5, 1e-4, &format!("bn forward from partials, {what}"));
        let m = (n * hw) as f64;
        let want_running: Vec<f64> = (0..c).map(|k| 0.9 * rm0[k] + 0.1 * mean[k]).chain((0..c).map(|k| 0.9 * rv0[k] + 0.1 * var[k] * m / (m - 1.0))).collect();
        assert_close(&download(e, &running), &want_running, 1e-5, 1e-4, &format!("bn running stats from partials, {what}"));
        let want_saved: Vec<f64> = mean.iter().cloned().chain(var.iter().map(|v| 1.0 / (v + 1e-5).sqrt())).collect();
        assert_close(&download(e, &saved), &want_saved, 1e-5, 1e-4, &format!("bn saved stats from partials, {what}"));
    }
    // partials are batch statistics, of the right shape
    let (x, aff, run, saved, y) =
        (zeros(e, &[2, 3, 4, 4], "x"), zeros(e, &[2, 3], "a"), zeros(e, &[2, 3], "r"), zeros(e, &[2, 3], "s"), zeros(e, &[2, 3, 4, 4], "y"));
    let cfg = BnConfig { eps: 1e-5, momentum: 0.1, act: Act::Relu };
    let err = kernels::batchnorm_forward(e, &cfg, false, &x, &aff, &y, &run, &saved, Some(&zeros(e, &[3, 2, 4], "p"))).err().expect("partials in eval mode");
    assert!(err.to_string().contains("training mode only"), "unexpected error: {err}");
    let err =
        kernels::batchnorm_forward(e, &cfg, true, &x, &aff, &y, &run, &saved, Some(&zeros(e, &[4, 2, 4], "p"))).err().expect("partials of 4 channels for 3");
    assert!(err.to_string().contains("partials must be (3, slots, 4)"), "unexpected error: {err}");
}

#[test]
fn batchnorm_frozen_backward_leaves_param_grads_alone() {
    let e = engine();
    let cfg = BnConfig { eps: 1e-5, momentum: 0.1, act: Act::Relu };
    let (n, c, hw) = (4, 3, 5);
    let x = upload(e, &[n, c, hw], &rand_vec(n * c * hw, 300, -1.0, 1.0), "x");
    let affine = upload(e, &[2, c], &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "affine");
    let running = upload(e, &[2, c], &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], "running");
    let (saved, y, dx) = (zeros(e, &[2, c], "s"), zeros(e, &[n, c, hw], "y"), zeros(e, &[n, c, hw], "dx"));
    let dy = upload(e, &[n, c, hw], &rand_vec(n * c * hw, 301, -1.0, 1.0), "dy");
    let marker = vec![7.0; 2 * c];
    let daff = upload(e, &[2, c], &marker, "daffine");
    let f = kernels::batchnorm_forward(e, &cfg, true, &x, &affine, &y, &running, &saved, None).unwrap();
    let b = kernels::batchnorm_backward(e, &cfg, &x, &dy, &affine, &saved, &dx, &daff, false, false).unwrap();
    e.run(&[&f, &b]).unwrap();
    assert_close(&download(e, &daff), &marker, 0.0, 0.0, "frozen bn must not write parameter gradients");
    assert!(download(e, &dx).iter().any(|v| *v != 0.0), "frozen bn still propagates dx");
}

#[test]
fn batchnorm_reference_backward_matches_finite_differences() {
    let (n, c, hw) = (3, 2, 4);
    for act in [Act::Identity, Act::LeakyRelu(0.2), Act::Relu] {
        let x = rand_vec(n * c * hw, 310, -2.0, 2.0);
        let gamma = rand_vec(c, 311, 0.5, 1.5);
        let beta = rand_vec(c, 312, -0.3, 0.3);
        let r = rand_vec(n * c * hw, 313, -1.0, 1.0);
        let (dx, dg, db) = cpu::batchnorm_train_backward(&x, &r, n, c, hw, &gamma, &beta, 1e-5, act);
        let fx = |xv: &[f64]| dot(&cpu::batchnorm_train(xv, n, c, hw, &gamma, &beta, 1e-5, act).0, &r);
        let fg = |gv: &[f64]| dot(&cpu::batchnorm_train(&x, n, c, hw, gv, &beta, 1e-5, act).0, &r);
        let fb = |bv: &[f64]| dot(&cpu::batchnorm_train(&x, n, c, hw, &gamma, bv, 1e-5, act).0, &r);
        for j in 0..x.len() {
            assert_close(&[dx[j]], &[fd(&fx, &x, j, 1e-6)], 1e-6, 1e-4, &format!("bn dL/dx[{j}] {act:?}"));
        }
        for j in 0..c {
            assert_close(&[dg[j]], &[fd(&fg, &gamma, j, 1e-6)], 1e-6, 1e-4, &format!("bn dL/dgamma[{j}] {act:?}"));
            assert_close(&[db[j]], &[fd(&fb, &beta, j, 1e-6)], 1e-6, 1e-4, &format!("bn dL/dbeta[{j}] {act:?}"));
        }
    }
}

#[test]
fn activations_forward_and_backward_match_reference() {
    let e = engine();
    // in vec4s (1000) and value by value (1001)
    for (n, act) in ACTS.iter().flat_map(|&a| [(1000, a), (1001, a)]) {
        let x = f32_round(&rand_vec(n, 400, -6.0, 6.0));
        let dy = f32_round(&rand_vec(n, 401, -1.0, 1.0));
        let xt = upload(e, &[n], &x, "x");
        let (y, dx) = (zeros(e, &[n], "y"), zeros(e, &[n], "dx"));
        let dyt = upload(e, &[n], &dy, "dy");
        let f = kernels::activation_forward(e, act, &xt, &y).unwrap();
        let b = kernels::activation_backward(e, act, &y, &dyt, &dx).unwrap();
        e.run(&[&f, &b]).unwrap();
        let want_y: Vec<f64> = x.iter().map(|v| cpu::act(act, *v)).collect();
        let want_dx: Vec<f64> = x.iter().zip(&dy).map(|(v, d)| d * cpu::act_grad(act, *v)).collect();
        assert_close(&download(e, &y), &want_y, 1e-6, 1e-5, &format!("{act:?} forward, {n} values"));
        assert_close(&download(e, &dx), &want_dx, 1e-5, 1e-4, &format!("{act:?} backward, {n} values"));
        // reference derivative vs finite differences, away from the kink at 0
        for (j, v) in x.iter().enumerate().filter(|(_, v)| v.abs() > 1e-3).take(50) {
            let f = |u: &[f64]| cpu::act(act, u[0]);
            assert_close(&[cpu::act_grad(act, *v)], &[fd(&f, &[*v], 0, 1e-6)], 1e-7, 1e-5, &format!("{act:?} derivative at x[{j}]"));
        }
    }
}

#[test]
fn linear_forward_and_backward_match_reference() {
    let e = engine();
    for (i, &(b, din, dout)) in [(64, 100, 128), (1, 2, 1), (7, 33, 5), (150, 2, 16)].iter().enumerate() {
        let x = f32_round(&rand_vec(b * din, 500 + i as u64, -1.0, 1.0));
        let w = f32_round(&rand_vec(dout * din, 510 + i as u64, -0.5, 0.5));
        let bias = f32_round(&rand_vec(dout, 520 + i as u64, -0.5, 0.5));
        let dy = f32_round(&rand_vec(b * dout, 530 + i as u64, -1.0, 1.0));
        let (xt, wt, bt, dyt) =
            (upload(e, &[b, din], &x, "x"), upload(e, &[dout, din], &w, "w"), upload(e, &[dout], &bias, "b"), upload(e, &[b, dout], &dy, "dy"));
        let (y, dx) = (zeros(e, &[b, dout], "y"), zeros(e, &[b, din], "dx"));
        let dw0 = f32_round(&rand_vec(dout * din, 540 + i as u64, -1.0, 1.0));
        let dw = upload(e, &[dout, din], &dw0, "dw");
        let db = zeros(e, &[dout], "db");
        let d1 = kernels::linear_forward(e, &xt, &wt, Some(&bt), &y).unwrap();
        let d2 = kernels::linear_backward_input(e, &dyt, &wt, &dx).unwrap();
        let d3 = kernels::linear_backward_weight(e, &xt, &dyt, &dw, true).unwrap();
        let d4 = kernels::sum_rows(e, &dyt, &db, false).unwrap();
        e.run(&[&d1, &d2, &d3, &d4]).unwrap();
        let what = format!("linear ({b}, {din}) -> {dout}");
        let wtr = cpu::transpose(&w, dout, din);
        assert_close(&download(e, &y), &cpu::matmul(&x, &wtr, Some(&bias), b, dout, din), 1e-5, 1e-5, &format!("{what} forward"));
        assert_close(&download(e, &dx), &cpu::matmul(&dy, &w, None, b, din, dout), 1e-5, 1e-5, &format!("{what} input-grad"));
        let want_dw: Vec<f64> = cpu::matmul(&cpu::transpose(&dy, b, dout), &x, None, dout, din, b).iter().zip(&dw0).map(|(a, c)| a + c).collect();
        assert_close(&download(e, &dw), &want_dw, 1e-4, 1e-5, &format!("{what} weight-grad"));
        let want_db: Vec<f64> = (0..dout).map(|j| (0..b).map(|r| dy[r * dout + j]).sum()).collect();
        assert_close(&download(e, &db), &want_db, 1e-4, 1e-5, &format!("{what} bias-grad"));
    }
    // the reference backward formulas vs finite differences
    let (b, din, dout) = (3, 4, 2);
    let x = rand_vec(b * din, 550, -1.0, 1.0);
    let w = rand_vec(dout * din, 551, -1.0, 1.0);
    let r = rand_vec(b * dout, 552, -1.0, 1.0);
    let f = |wv: &[f64]| dot(&cpu::matmul(&x, &cpu::transpose(wv, dout, din), None, b, dout, din), &r);
    let dw = cpu::matmul(&cpu::transpose(&r, b, dout), &x, None, dout, din, b);
    for j in 0..w.len() {
        assert_close(&[dw[j]], &[fd(&f, &w, j, 1e-4)], 1e-8, 1e-6, &format!("linear dL/dW[{j}]"));
    }
}

#[test]
fn losses_match_reference_and_finite_differences() {
    let e = engine();
    for (i, &n) in [64usize, 1, 150, 1000].iter().enumerate() {
        let l = f32_round(&rand_vec(n, 600 + i as u64, -30.0, 30.0));
        let y: Vec<f64> = (0..n).map(|k| (k % 3 == 0) as u8 as f64).collect();
        let (lt, yt, g) = (upload(e, &[n], &l, "logits"), upload(e, &[n], &y, "targets"), zeros(e, &[n], "grad"));
        let stats = zeros(e, &[8], "stats");
        let d = kernels::loss(e, LossKind::BceLogits, 1.0, &lt, &yt, &g, &stats, 2).unwrap();
        let g2 = zeros(e, &[n], "grad2");
        let d2 = kernels::loss(e, LossKind::BceLogits, -1.0, &lt, &yt, &g2, &stats, 4).unwrap();
        let g3 = zeros(e, &[n], "grad3");
        let d3 = kernels::loss(e, LossKind::Linear, -1.0, &lt, &yt, &g3, &stats, 6).unwrap();
        e.run(&[&d, &d2, &d3]).unwrap();
        let (loss, grad, mean_p) = cpu::bce_logits(&l, &y);
        let s = download(e, &stats);
        let what = format!("BCE n={n}");
        assert_close(&s[2..4], &[loss, mean_p], 1e-5, 1e-5, &format!("{what} mean loss, mean sigmoid"));
        assert_close(&download(e, &g), &grad, 1e-7, 1e-5, &format!("{what} gradient"));
        assert_close(&s[4..5], &[-loss], 1e-5, 1e-5, &format!("{what} scaled loss"));
        let neg: Vec<f64> = grad.iter().map(|v| -v).collect();
        assert_close(&download(e, &g2), &neg, 1e-7, 1e-5, &format!("{what} scaled gradient"));
        let mean_l = l.iter().sum::<f64>() / n as f64;
        assert_close(&s[6..8], &[-mean_l, mean_l], 1e-4, 1e-5, "linear loss and mean output");
        assert_close(&download(e, &g3), &vec![-1.0 / n as f64; n], 1e-9, 1e-6, "linear loss gradient");
    }
    // stable form: no overflow at huge logits
    let l = rand_vec(5, 610, -1.0, 1.0);
    let y = vec![1.0, 0.0, 1.0, 0.0, 0.5];
    let f = |lv: &[f64]| cpu::bce_logits(lv, &y).0;
    let grad = cpu::bce_logits(&l, &y).1;
    for j in 0..5 {
        assert_close(&[grad[j]], &[fd(&f, &l, j, 1e-6)], 1e-9, 1e-6, &format!("BCE dL/dl[{j}] vs finite difference"));
    }
}

#[test]
fn squared_and_hinge_losses_match_reference_and_finite_differences() {
    let e = engine();
    let n = 150;
    let l = f32_round(&rand_vec(n, 620, -3.0, 3.0));
    let y01: Vec<f64> = (0..n).map(|k| (k % 2) as f64).collect();
    let ypm: Vec<f64> = (0..n).map(|k| if k % 3 == 0 { 1.0 } else { -1.0 }).collect();
    let lt = upload(e, &[n], &l, "l");
    let (y1, y2) = (upload(e, &[n], &y01, "y01"), upload(e, &[n], &ypm, "ypm"));
    let (g1, g2, stats) = (zeros(e, &[n], "g1"), zeros(e, &[n], "g2"), zeros(e, &[4], "stats"));
    let d1 = kernels::loss(e, LossKind::Squared, 1.0, &lt, &y1, &g1, &stats, 0).unwrap();
    let d2 = kernels::loss(e, LossKind::Hinge, 1.0, &lt, &y2, &g2, &stats, 2).unwrap();
    e.run(&[&d1, &d2]).unwrap();
    let s = download(e, &stats);
    let mean_l = l.iter().sum::<f64>() / n as f64;
    let (sq, sqg) = cpu::squared_loss(&l, &y01);
    let (hi, hig) = cpu::hinge_loss(&l, &ypm);
    assert_close(&s, &[sq, mean_l, hi, mean_l], 1e-5, 1e-5, "squared / hinge mean loss and mean output");
    assert_close(&download(e, &g1), &sqg, 1e-7, 1e-5, "squared loss gradient");
    assert_close(&download(e, &g2), &hig, 1e-7, 1e-5, "hinge loss gradient");
    for j in 0..10 {
        let f = |v: &[f64]| cpu::squared_loss(v, &y01).0;
        assert_close(&[sqg[j]], &[fd(&f, &l, j, 1e-6)], 1e-9, 1e-6, &format!("squared dL/dl[{j}]"));
        if (1.0 - ypm[j] * l[j]).abs() > 1e-3 {
            let f = |v: &[f64]| cpu::hinge_loss(v, &ypm).0;
            assert_close(&[hig[j]], &[fd(&f, &l, j, 1e-6)], 1e-9, 1e-6, &format!("hinge dL/dl[{j}]"));
        }
    }
}

#[test]
fn spectral_norm_power_iteration_and_backward_match_reference() {
    let e = engine();
    for (i, &(rows, cols)) in [(8usize, 48usize), (128, 1024), (1, 49)].iter().enumerate() {
        let w = f32_round(&rand_vec(rows * cols, 800 + i as u64, -1.0, 1.0));
        let u0 = rand_vec(rows, 810 + i as u64, -1.0, 1.0);
        let nu = u0.iter().map(|x| x * x).sum::<f64>().sqrt();
        let u0 = f32_round(&u0.iter().map(|x| x / nu).collect::<Vec<_>>());
        let wt = upload(e, &[rows, cols], &w, "w");
        let state = upload(e, &[rows + cols + 1], &[u0.clone(), vec![0.0; cols + 1]].concat(), "sn state");
        let w_sn = zeros(e, &[rows, cols], "w_sn");
        let p = kernels::spectral_norm_power(e, &wt, &state, &w_sn).unwrap();
        e.run(&[&p]).unwrap();
        let (u1, v1, s1) = cpu::spectral_norm_power(&w, rows, cols, &u0);
        let st = download(e, &state);
        let what = format!("spectral norm ({rows}, {cols})");
        assert_close(&st[..rows], &u1, 1e-5, 1e-4, &format!("{what}: u after one iteration"));
        assert_close(&st[rows..rows + cols], &v1, 1e-5, 1e-4, &format!("{what}: v"));
        assert_close(&st[rows + cols..], &[s1], 1e-5, 1e-4, &format!("{what}: sigma"));
        let want_sn: Vec<f64> = w.iter().map(|x| x / s1).collect();
        assert_close(&download(e, &w_sn), &want_sn, 1e-5, 1e-4, &format!("{what}: W / sigma"));
        // many iterations: sigma converges to the largest singular value (f64 power iteration)
        for _ in 0..60 {
            e.run(&[&p]).unwrap();
        }
        let mut u = u0.clone();
        let mut sig = 0.0;
        for _ in 0..2000 {
            let (a, _, s) = cpu::spectral_norm_power(&w, rows, cols, &u);
            u = a;
            sig = s;
        }
        let st = download(e, &state);
        assert_close(&st[rows + cols..], &[sig], 1e-3, 2e-2, &format!("{what}: sigma after 60 iterations vs the top singular value"));
        // backward: dW = (dW_sn - <dW_sn, W_sn> u v^T) / sigma, against finite differences of
        // L(W) = <W / (u^T W v), R> with u, v fixed
        let st = download(e, &state);
        let (u, v, sigma) = (st[..rows].to_vec(), st[rows..rows + cols].to_vec(), st[rows + cols]);
        let r = f32_round(&rand_vec(rows * cols, 820 + i as u64, -1.0, 1.0));
        let rt = upload(e, &[rows, cols], &r, "dw_sn");
        let dw = zeros(e, &[rows, cols], "dw");
        let b = kernels::spectral_norm_backward(e, &state, &w_sn, &rt, &dw).unwrap();
        e.run(&[&b]).unwrap();
        let sig_of = |wv: &[f64]| (0..rows).map(|a| (0..cols).map(|k| u[a] * wv[a * cols + k] * v[k]).sum::<f64>()).sum::<f64>();
        let f = |wv: &[f64]| {
            let sg = sig_of(wv);
            wv.iter().zip(&r).map(|(x, y)| x / sg * y).sum::<f64>()
        };
        let got = download(e, &dw);
        assert!((sig_of(&w) - sigma).abs() < 1e-3 * sigma.abs(), "sigma = u^T W v");
        for j in (0..rows * cols).step_by((rows * cols / 40).max(1)) {
            assert_close(&[got[j]], &[fd(&f, &w, j, 1e-4)], 1e-5, 1e-3, &format!("{what}: dL/dW[{j}] vs finite difference"));
        }
    }
}

fn u32_buffer(e: &gangpu::Engine, v: &[u32]) -> wgpu::Buffer {
    let b = e.gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some("u32 test data"),
        size: (v.len().max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    e.gpu.queue.write_buffer(&b, 0, bytemuck::cast_slice(v));
    b
}

#[test]
fn softmax_cross_entropy_matches_reference_and_finite_differences() {
    let e = engine();
    // ACGAN layout: rows of 1 adversarial logit + 10 class logits; huge logits test stability
    let (n, k, stride) = (70usize, 10usize, 11usize);
    let mut l = f32_round(&rand_vec(n * stride, 900, -4.0, 4.0));
    l[stride + 3] = 80.0;
    l[2 * stride + 5] = -90.0;
    let labels: Vec<usize> = (0..n).map(|i| (i * 7) % k).collect();
    let lt = upload(e, &[n, stride], &l, "logits");
    let g0 = vec![5.0; n * stride];
    let gt = upload(e, &[n, stride], &g0, "grad");
    let stats = zeros(e, &[4], "stats");
    let lb = u32_buffer(e, &labels.iter().map(|v| *v as u32).collect::<Vec<_>>());
    let d = kernels::softmax_cross_entropy(e, 1.0, &lt, stride, 1, k, &lb, &gt, &stats, 2).unwrap();
    e.run(&[&d]).unwrap();
    let class_logits: Vec<f64> = (0..n).flat_map(|i| l[i * stride + 1..(i + 1) * stride].to_vec()).collect();
    let (loss, grad, acc) = cpu::softmax_cross_entropy(&class_logits, &labels, k);
    let s = download(e, &stats);
    assert_close(&s[2..4], &[loss, acc], 1e-5, 1e-5, "cross-entropy mean loss and accuracy");
    let g = download(e, &gt);
    for i in 0..n {
        assert_close(&[g[i * stride]], &[5.0], 0.0, 0.0, &format!("row {i}: the adversarial logit's gradient is left alone"));
        assert_close(&g[i * stride + 1..(i + 1) * stride], &grad[i * k..(i + 1) * k], 1e-7, 1e-5, &format!("cross-entropy gradient row {i}"));
    }
    let small = rand_vec(3 * 4, 901, -2.0, 2.0);
    let lab = vec![2usize, 0, 3];
    let f = |v: &[f64]| cpu::softmax_cross_entropy(v, &lab, 4).0;
    let gr = cpu::softmax_cross_entropy(&small, &lab, 4).1;
    for j in 0..small.len() {
        assert_close(&[gr[j]], &[fd(&f, &small, j, 1e-6)], 1e-9, 1e-6, &format!("cross-entropy dL/dl[{j}]"));
    }
}

#[test]
fn conditioning_kernels_match_reference() {
    let e = engine();
    let (b, c, plane, k) = (5usize, 3usize, 6usize, 4usize);
    let img = rand_vec(b * c * plane, 910, -1.0, 1.0);
    let lab: Vec<u32> = vec![0, 3, 1, 3, 2];
    let (it, lb) = (upload(e, &[b, c, 2, 3], &img, "img"), u32_buffer(e, &lab));
    let cat = zeros(e, &[b, c + k, 2, 3], "cat");
    let back = zeros(e, &[b, c, 2, 3], "back");
    let d1 = kernels::concat_onehot(e, &it, &lb, k, &cat).unwrap();
    let d2 = kernels::slice_channels(e, &cat, k, &back).unwrap();
    e.run(&[&d1, &d2]).unwrap();
    let mut want = vec![0.0; b * (c + k) * plane];
    for bi in 0..b {
        for ch in 0..c + k {
            for p in 0..plane {
                want[(bi * (c + k) + ch) * plane + p] = if ch < c { img[(bi * c + ch) * plane + p] } else { (ch - c == lab[bi] as usize) as u8 as f64 };
            }
        }
    }
    assert_close(&download(e, &cat), &f32_round(&want), 0.0, 0.0, "image | one-hot planes");
    assert_close(&download(e, &back), &f32_round(&img), 0.0, 0.0, "image channels sliced back");
    // labels: real ones looked up through the picked indices, fake ones uniform over the classes
    let picked = u32_buffer(e, &[2, 0, 1, 1, 0]);
    let all = u32_buffer(e, &[7, 8, 9]);
    let (lr, lf) = (u32_buffer(e, &[0; 512]), u32_buffer(e, &[0; 512]));
    let d = kernels::draw_labels(e, 5, 10, &picked, &all, &lr, &lf, 3, 4).unwrap();
    e.run(&[&d]).unwrap();
    let read = |buf: &wgpu::Buffer| -> Vec<u32> { gangpu::tensor::read_buffer(&e.gpu, buf, 0, 20).unwrap().iter().map(|f| f.to_bits()).collect() };
    assert_eq!(read(&lr), vec![9, 7, 8, 8, 7]);
    let want_fake: Vec<u32> = (0..5).map(|i| cpu::rng_u32(3, 4, 0, i) % 10).collect();
    assert_eq!(read(&lf), want_fake);
}

#[test]
fn adam_rmsprop_and_clip_match_reference() {
    let e = engine();
    // value by value (4099) and in vec4s (4096)
    for n in [4096, 4099] {
        let p0 = f32_round(&rand_vec(n, 700, -1.0, 1.0));
        let mut p = p0.clone();
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let pt = upload(e, &[n], &p0, "p");
        let gt = zeros(e, &[n], "g");
        let (mt, vt) = (zeros(e, &[n], "m"), zeros(e, &[n], "v"));
        let d = kernels::adam(e, OptParams::adam(n, 2e-4, 0.5, 0.999, 1e-8, 1), &pt, &gt, &mt, &vt).unwrap();
        for t in 1..=5u64 {
            let g = f32_round(&rand_vec(n, 710 + t, -1.0, 1.0));
            gt.write(&e.gpu, &to_f32(&g)).unwrap();
            d.set_params(&e.gpu, &OptParams::adam(n, 2e-4, 0.5, 0.999, 1e-8, t));
            e.run(&[&d]).unwrap();
            cpu::adam_step(&mut p, &g, &mut m, &mut v, 2e-4, 0.5, 0.999, 1e-8, t);
        }
        assert_close(&download(e, &pt), &p, 1e-6, 1e-5, &format!("adam after 5 steps, {n} values"));
        assert_close(&download(e, &mt), &m, 1e-6, 1e-5, &format!("adam first moment, {n} values"));
        assert_close(&download(e, &vt), &v, 1e-9, 1e-5, &format!("adam second moment, {n} values"));
    }
    let n = 4099;
    let p0 = f32_round(&rand_vec(n, 700, -1.0, 1.0));
    let gt = zeros(e, &[n], "g");

    let mut p = p0.clone();
    let mut v = vec![0.0; n];
    let pt = upload(e, &[n], &p0, "p");
    let vt = zeros(e, &[n], "v");
    let d = kernels::rmsprop(e, OptParams::rmsprop(n, 5e-5, 0.99, 1e-8), &pt, &gt, &vt).unwrap();
    for t in 1..=3u64 {
        let g = f32_round(&rand_vec(n, 720 + t, -1.0, 1.0));
        gt.write(&e.gpu, &to_f32(&g)).unwrap();
        e.run(&[&d]).unwrap();
        cpu::rmsprop_step(&mut p, &g, &mut v, 5e-5, 0.99, 1e-8);
    }
    assert_close(&download(e, &pt), &p, 1e-6, 1e-5, "rmsprop after 3 steps");

    let c = kernels::clip(e, 0.01, &pt).unwrap();
    e.run(&[&c]).unwrap();
    let want: Vec<f64> = p.iter().map(|v| v.clamp(-0.01, 0.01)).collect();
    assert_close(&download(e, &pt), &want, 1e-9, 1e-6, "weight clipping");
}

#[test]
fn random_normals_are_reproducible_and_standard() {
    let e = engine();
    let n = 100_000;
    let out = zeros(e, &[n], "z");
    let d = kernels::normal(e, &out, 1234, 7, 3).unwrap();
    e.run(&[&d]).unwrap();
    let z = download(e, &out);
    // bit-level agreement of the hash: the GPU values equal the CPU re-implementation
    let want: Vec<f64> = (0..n as u32).map(|i| cpu::rng_normal(1234, 7, 3, i)).collect();
    assert_close(&z, &want, 2e-5, 1e-4, "GPU normals vs CPU generator");
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    // standard errors: mean 1/sqrt(n) = 0.0032, variance sqrt(2/n) = 0.0045; 5 sigma bounds
    assert!(mean.abs() < 0.016, "mean of N(0,1) draws is {mean}");
    assert!((var - 1.0).abs() < 0.023, "variance of N(0,1) draws is {var}");
    let within1 = z.iter().filter(|v| v.abs() < 1.0).count() as f64 / n as f64;
    assert!((within1 - 0.6827).abs() < 0.008, "fraction within one sigma is {within1}");
    // same (seed, stream, counter) -> same values; next counter -> different values
    e.run(&[&d]).unwrap();
    assert_eq!(download(e, &out), z, "same counter must reproduce");
    d.set_params(&e.gpu, &kernels::RngParams { len: n as u32, seed: 1234, stream: 7, counter: 4, ..Default::default() });
    e.run(&[&d]).unwrap();
    let z2 = download(e, &out);
    let same = z.iter().zip(&z2).filter(|(a, b)| a == b).count();
    assert!(same < 10, "next counter repeated {same} values");
}

fn data_buffer(e: &gangpu::Engine, bytes: &[u8]) -> wgpu::Buffer {
    let buf = e.gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("data"),
        size: bytes.len() as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    e.gpu.queue.write_buffer(&buf, 0, bytes);
    buf
}

fn picked_buffer(e: &gangpu::Engine, b: usize) -> wgpu::Buffer {
    e.gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("picked"),
        size: (b * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

#[test]
fn gather_batch_draws_every_image_once_per_epoch() {
    let e = engine();
    // 37 images of 6 channels x 1 x 1: image k has pixel bytes (k + j * 40) % 256
    let (count, values, b) = (37usize, 6usize, 16usize);
    let words = values.div_ceil(4);
    let mut bytes = vec![0u8; count * words * 4];
    for k in 0..count {
        for j in 0..values {
            bytes[k * words * 4 + j] = ((k + j * 40) % 256) as u8;
        }
    }
    let buf = data_buffer(e, &bytes);
    let picked = picked_buffer(e, b);
    let src = kernels::GatherSource { bytes: &buf, count, channels: values, side: 1, hflip: false };
    let out = zeros(e, &[b, values], "batch");
    let d = kernels::gather_batch(e, &src, &out, &picked, 5, 2, 0).unwrap();
    // batches 0..5 hold positions 0..80 of the epoch sequence: epochs 0 and 1 complete
    let mut drawn = Vec::new();
    let mut first = Vec::new();
    for counter in 0..5u32 {
        d.set_params(
            &e.gpu,
            &kernels::RngParams {
                counter,
                ..kernels::RngParams {
                    len: (b * values) as u32,
                    seed: 5,
                    stream: 2,
                    count: count as u32,
                    words: words as u32,
                    values: values as u32,
                    side: 1,
                    ..Default::default()
                }
            },
        );
        e.run(&[&d]).unwrap();
        let got = download(e, &out);
        if counter == 0 {
            first = got.clone();
        }
        for r in 0..b {
            let q = counter * b as u32 + r as u32;
            let k = cpu::epoch_image(5, 2, q / count as u32, q % count as u32, count as u32) as usize;
            for j in 0..values {
                let want = ((k + j * 40) % 256) as f64 / 127.5 - 1.0;
                assert_close(&[got[r * values + j]], &[want], 1e-6, 0.0, &format!("batch {counter} row {r} pixel {j} (image {k})"));
            }
            drawn.push(k);
        }
    }
    for (ep, chunk) in drawn.chunks(count).take(2).enumerate() {
        let mut seen = chunk.to_vec();
        seen.sort();
        assert_eq!(seen, (0..count).collect::<Vec<_>>(), "epoch {ep} must draw every image exactly once");
    }
    assert_ne!(drawn[..count], drawn[count..2 * count], "each epoch has its own order");
    // the training step draws batch and noise in one dispatch: the same values as the two kernels
    let out2 = zeros(e, &[b, values], "batch 2");
    let noise = zeros(e, &[b, 3], "noise");
    let noise_ref = zeros(e, &[b, 3], "noise reference");
    let (d2, p) = kernels::gather_and_noise(e, &src, &out2, &picked, &noise, 5, 2, 9).unwrap();
    d2.set_params(&e.gpu, &kernels::RngParams { counter: 0, ..p });
    let n = kernels::normal(e, &noise_ref, 5, 9, 0).unwrap();
    e.run(&[&d2, &n]).unwrap();
    assert_eq!(download(e, &out2), first, "gather_and_noise batch differs from gather_batch");
    assert_eq!(download(e, &noise), download(e, &noise_ref), "gather_and_noise noise differs from normal");
}

#[test]
fn epoch_permutations_are_permutations_for_any_size() {
    for count in [1u32, 2, 3, 5, 16, 17, 64, 1000, 10_000] {
        for epoch in 0..3 {
            let mut v: Vec<u32> = (0..count).map(|p| cpu::epoch_image(11, 1, epoch, p, count)).collect();
            v.sort();
            assert_eq!(v, (0..count).collect::<Vec<_>>(), "{count} images, epoch {epoch}: not a permutation");
        }
    }
}

#[test]
fn hflip_mirrors_about_half_the_images() {
    let e = engine();
    // 3 grey images of 4 x 4, pixel (y, x) = 10 k + 4 y + x: no image equals its mirror
    let (count, side, b) = (3usize, 4usize, 64usize);
    let values = side * side;
    let bytes: Vec<u8> = (0..count).flat_map(|k| (0..values).map(move |j| (10 * k + j) as u8)).collect();
    let buf = data_buffer(e, &bytes);
    let picked = picked_buffer(e, b);
    let src = kernels::GatherSource { bytes: &buf, count, channels: 1, side, hflip: true };
    let out = zeros(e, &[b, values], "batch");
    let d = kernels::gather_batch(e, &src, &out, &picked, 3, 1, 7).unwrap();
    e.run(&[&d]).unwrap();
    let got = download(e, &out);
    let mut flipped = 0;
    for r in 0..b {
        let q = 7 * b as u32 + r as u32;
        let k = cpu::epoch_image(3, 1, q / count as u32, q % count as u32, count as u32) as usize;
        let px = |y: usize, x: usize| (10 * k + 4 * y + x) as f64 / 127.5 - 1.0;
        let row = &got[r * values..(r + 1) * values];
        let plain: Vec<f64> = (0..values).map(|j| px(j / side, j % side)).collect();
        let mirror: Vec<f64> = (0..values).map(|j| px(j / side, side - 1 - j % side)).collect();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        if close(row, &mirror) {
            flipped += 1;
        } else {
            assert!(close(row, &plain), "row {r} (image {k}) is neither the image nor its mirror");
        }
    }
    assert!((16..=48).contains(&flipped), "{flipped} of {b} images mirrored; expected about half");
}

#[test]
fn dispatches_past_65535_workgroups_are_split() {
    let e = engine();
    let groups = 65_535u64 + 300;
    // one value past a multiple of 4, so the kernel walks values (not vec4s) over > 65,535 groups
    let n = (groups * e.workgroup_size as u64) as usize + 1;
    let x: Vec<f64> = (0..n).map(|i| ((i % 1000) as f64) - 500.0).collect();
    let xt = upload(e, &[n], &x, "x");
    let y = zeros(e, &[n], "y");
    let d = kernels::activation_forward(e, Act::Relu, &xt, &y).unwrap();
    assert!(d.groups[1] > 1 && d.groups[0] <= 65_535, "grid not split: {:?}", d.groups);
    e.run(&[&d]).unwrap();
    let want: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
    assert_close(&download(e, &y), &want, 0.0, 0.0, "ReLU over a split grid");
}

#[test]
fn oversized_tensors_get_a_clear_error() {
    let e = engine();
    let too_many = (e.gpu.max_binding_bytes() / 4 + 1) as usize;
    let err = gangpu::Tensor::zeros(&e.gpu, &[too_many], "huge").expect_err("must refuse");
    let msg = err.to_string();
    assert!(msg.contains("max_storage_buffer_binding_size") && msg.contains("huge"), "unclear error: {msg}");
}
