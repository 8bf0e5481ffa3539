//! Differentiable augmentation (`--augment`, shaders/augment.wgsl): forward and backward against
//! DiffAugment's own PyTorch code on given draws (scripts/make_augment_vectors.py), against the
//! f64 host reference on the kernel's own draws, the reference's backward against central finite
//! differences, the draws' ranges and probability, and ADA's update of p.

mod common;
use common::*;
use gangpu::kernels::{self, Augmentation, ADA_VALUES, AUG_VALUES};
use gangpu::reference;
use gangpu::{Engine, Tensor};
use serde_json::Value;

const ALL: [Augmentation; 3] = [Augmentation::Color, Augmentation::Translation, Augmentation::Cutout];

fn data(v: &Value) -> Vec<f64> {
    v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn shape4(v: &Value) -> [usize; 4] {
    let s: Vec<usize> = v["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("dim") as usize).collect();
    [s[0], s[1], s[2], s[3]]
}

fn cut(shape: [usize; 4]) -> (usize, usize) {
    (kernels::augment_extents(shape[2]).1 as usize, kernels::augment_extents(shape[3]).1 as usize)
}

/// One augmentation pass: (output, the draws used); `given` replays `draws`.
fn run(e: &Engine, x: &[f64], shape: [usize; 4], policy: &[Augmentation], p: f64, counter: u32, given: Option<&[f64]>) -> (Vec<f64>, Vec<f64>) {
    let xt = upload(e, &shape, x, "x");
    let out = zeros(e, &shape, "augmented");
    let draws = match given {
        Some(d) => upload(e, &[shape[0], AUG_VALUES], d, "draws"),
        None => zeros(e, &[shape[0], AUG_VALUES], "draws"),
    };
    let ada = upload(e, &[ADA_VALUES], &[p, 0.0, 0.0, 0.0], "ada");
    let (d, params) = kernels::augment(e, &xt, &out, &draws, &ada, Augmentation::policy(policy), 7, 11, given.is_some()).expect("augment");
    d.set_params(&e.gpu, &kernels::AugmentParams { counter, ..params });
    e.run(&[&d]).expect("run augment");
    (download(e, &out), download(e, &draws))
}

fn run_backward(e: &Engine, dy: &[f64], shape: [usize; 4], draws: &[f64]) -> Vec<f64> {
    let dyt = upload(e, &shape, dy, "dy");
    let dx = zeros(e, &shape, "dx");
    let dr = upload(e, &[shape[0], AUG_VALUES], draws, "draws");
    let d = kernels::augment_backward(e, &dyt, &dx, &dr).expect("augment_backward");
    e.run(&[&d]).expect("run augment_backward");
    download(e, &dx)
}

#[test]
fn augment_matches_diffaugment_pytorch() {
    let e = engine();
    let path = format!("{}/tests/vectors/augment.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read augment.json")).expect("parse augment.json");
    let cases = v.as_object().expect("cases");
    assert_eq!(cases.len(), 3, "augment.json's cases");
    for (name, c) in cases {
        let shape = shape4(&c["x"]);
        let draws = data(&c["draws"]);
        let (y, _) = run(e, &data(&c["x"]), shape, &ALL, 1.0, 0, Some(&draws));
        assert_close(&y, &data(&c["y"]), 1e-5, 1e-5, &format!("{name}: augment vs DiffAugment (PyTorch)"));
        let dx = run_backward(e, &data(&c["dy"]), shape, &draws);
        assert_close(&dx, &data(&c["dx"]), 1e-5, 1e-5, &format!("{name}: augment_backward vs PyTorch autograd"));
        // the host reference agrees with DiffAugment too (it checks the kernels below)
        assert_close(&reference::augment(&f32_round(&data(&c["x"])), shape, &draws, cut(shape)), &data(&c["y"]), 1e-6, 1e-6, &format!("{name}: reference"));
    }
}

#[test]
fn augment_matches_the_reference_on_its_own_draws() {
    let e = engine();
    let policies: [&[Augmentation]; 4] = [&[Augmentation::Color], &[Augmentation::Translation], &[Augmentation::Cutout], &ALL];
    for (k, shape) in [[5, 3, 9, 9], [6, 1, 28, 28], [4, 3, 16, 16]].into_iter().enumerate() {
        let n = shape.iter().product();
        let x = f32_round(&rand_vec(n, 40 + k as u64, -1.0, 1.0));
        let dy = f32_round(&rand_vec(n, 50 + k as u64, -1.0, 1.0));
        for policy in policies {
            for p in [1.0, 0.5] {
                let what = format!("{shape:?} {policy:?} p {p}");
                let (y, draws) = run(e, &x, shape, policy, p, 3, None);
                assert_close(&y, &reference::augment(&x, shape, &draws, cut(shape)), 1e-5, 1e-5, &format!("{what}: forward"));
                let dx = run_backward(e, &dy, shape, &draws);
                assert_close(&dx, &reference::augment_backward(&dy, shape, &draws, cut(shape)), 1e-5, 1e-5, &format!("{what}: backward"));
                // transforms outside the policy keep their identity values
                for s in 0..shape[0] {
                    let d = &draws[s * AUG_VALUES..(s + 1) * AUG_VALUES];
                    if !policy.contains(&Augmentation::Color) {
                        assert_eq!(&d[..3], &[0.0, 1.0, 1.0], "{what}: color drawn outside the policy");
                    }
                    if !policy.contains(&Augmentation::Translation) {
                        assert_eq!(&d[3..5], &[0.0, 0.0], "{what}: translation drawn outside the policy");
                    }
                    if !policy.contains(&Augmentation::Cutout) {
                        assert_eq!(&d[5..7], &[shape[2] as f64, shape[3] as f64], "{what}: cutout drawn outside the policy");
                    }
                }
            }
        }
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    let shape = [2, 3, 8, 8];
    let n: usize = shape.iter().product();
    let x = rand_vec(n, 1, -1.0, 1.0);
    let dy = rand_vec(n, 2, -1.0, 1.0);
    // draws with every transform on, a shift that moves pixels out and a cut square at the border
    let draws = [0.3, 1.7, 0.6, 1.0, -1.0, -2.0, 5.0, 0.0, -0.2, 0.4, 1.3, -1.0, 0.0, 3.0, -1.0, 0.0];
    let c = cut(shape);
    let dx = reference::augment_backward(&dy, shape, &draws, c);
    let f = |x: &[f64]| dot(&dy, &reference::augment(x, shape, &draws, c));
    let numeric: Vec<f64> = (0..n).map(|i| fd(&f, &x, i, 1e-4)).collect();
    assert_close(&dx, &numeric, 1e-7, 1e-6, "augment_backward (reference) vs central differences");
    // and the kernel on the same draws
    let gpu = run_backward(engine(), &dy, shape, &draws);
    assert_close(&gpu, &numeric, 1e-5, 1e-5, "augment_backward (GPU) vs central differences");
}

#[test]
fn zero_probability_is_the_identity() {
    let e = engine();
    let shape = [3, 3, 12, 12];
    let x = f32_round(&rand_vec(shape.iter().product(), 9, -1.0, 1.0));
    let (y, _) = run(e, &x, shape, &ALL, 0.0, 1, None);
    if let Some(i) = (0..x.len()).find(|&i| y[i].to_bits() != x[i].to_bits()) {
        panic!("p = 0 must leave the images unchanged, bit for bit: index {i} is {} instead of {}", y[i], x[i]);
    }
}

#[test]
fn draws_cover_their_ranges_with_probability_p() {
    let e = engine();
    let (n, side) = (2000, 8);
    let shape = [n, 1, side, side];
    let x = vec![0.0; n * side * side];
    let (shift, cut) = kernels::augment_extents(side);
    let (shift, cut) = (shift as i64, cut as i64);
    for p in [1.0, 0.5] {
        let (_, d) = run(e, &x, shape, &ALL, p, 5, None);
        let rows: Vec<&[f64]> = d.chunks(AUG_VALUES).collect();
        let mut shifts = std::collections::BTreeSet::new();
        let mut tops = std::collections::BTreeSet::new();
        for r in &rows {
            assert!((-0.5..=0.5).contains(&r[0]) && (0.0..=2.0).contains(&r[1]) && (0.5..=1.5).contains(&r[2]), "p {p}: color draw {r:?}");
            shifts.insert(r[3] as i64);
            shifts.insert(r[4] as i64);
            if r[5] != side as f64 {
                tops.insert(r[5] as i64);
            }
        }
        assert_eq!(shifts, (-shift..=shift).collect(), "p {p}: translations drawn");
        // DiffAugment's centre in [0, side + 1 - cut % 2), the square starting cut / 2 before it
        assert_eq!(tops, (-cut / 2..=side as i64 - cut / 2 - (cut % 2)).collect(), "p {p}: cutout rows drawn");
        // how often each transform applies: brightness, then the cut square
        for (k, off, identity) in [(0, "brightness", 0.0), (5, "cutout", side as f64)] {
            let rate = rows.iter().filter(|r| r[k] != identity).count() as f64 / n as f64;
            let sigma = (p * (1.0 - p) / n as f64).sqrt();
            assert!((rate - p).abs() <= 4.0 * sigma + 1e-3, "p {p}: {off} applied to {rate} of the samples");
        }
    }
}

#[test]
fn ada_moves_p_toward_the_target() {
    let e = engine();
    let stride = 2;
    let target = 0.6;
    let step = kernels::ada_step_size(64, 4, 100.0);
    for (p0, positive) in [(0.3, 0.9), (0.3, 0.2), (0.999, 1.0), (0.001, 0.0)] {
        let b = 50;
        let ada = upload(e, &[ADA_VALUES], &[p0, 0.0, 0.0, 0.0], "ada");
        let stats = zeros(e, &[20], "stats");
        let logits_t = zeros(e, &[b * stride], "logits");
        let (d, params) = kernels::ada_update(e, &logits_t, stride, &ada, step, target as f32, &stats, 16).expect("ada_update");
        // two batches accumulate, the second adjusts
        let mut adversarial = vec![];
        for (k, adjust) in [(0, false), (1, true)] {
            let l: Vec<f64> = (0..b * stride)
                .map(|i| {
                    let r = (i / stride) as f64 / b as f64;
                    if i % stride == 0 {
                        if r < positive {
                            1.5 + k as f64
                        } else {
                            -0.5
                        }
                    } else {
                        -9.0
                    }
                })
                .collect();
            adversarial.extend(l.iter().step_by(stride).copied());
            logits_t.write(&e.gpu, &to_f32(&l)).expect("write logits");
            d.set_params(&e.gpu, &kernels::AugmentParams { adjust: adjust as u32, ..params });
            e.run(&[&d]).expect("ada_update");
        }
        let (p, rt) = reference::ada_adjust(p0, &adversarial, target, step as f64);
        let got = download(e, &ada);
        assert_close(&got, &[p, 0.0, 0.0, rt], 1e-6, 1e-6, &format!("ada state from p {p0}, {positive} positive"));
        assert_close(&download(e, &stats)[16..18], &[p, rt], 1e-6, 1e-6, "ada stats");
        assert!(p != p0 || p == 0.0 || p == 1.0, "p {p0} did not move");
    }
}

#[test]
fn bad_shapes_are_refused() {
    let e = engine();
    let x = Tensor::zeros(&e.gpu, &[2, 1, 4, 4], "x").expect("x");
    let out = Tensor::zeros(&e.gpu, &[2, 1, 4, 4], "out").expect("out");
    let short = Tensor::zeros(&e.gpu, &[2, 4], "draws").expect("draws");
    let ada = Tensor::zeros(&e.gpu, &[ADA_VALUES], "ada").expect("ada");
    let err = kernels::augment(e, &x, &out, &short, &ada, 1, 0, 0, false).err().expect("short draws buffer accepted");
    assert!(format!("{err:#}").contains("per-sample draws"), "{err:#}");
    let flat = Tensor::zeros(&e.gpu, &[32], "flat").expect("flat");
    let err = kernels::augment(e, &flat, &flat, &short, &ada, 1, 0, 0, false).err().expect("flat images accepted");
    assert!(format!("{err:#}").contains("(N, C, H, W)"), "{err:#}");
}
