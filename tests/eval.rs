//! Quality scores: the class-statistics kernel against its CPU reference, the GPU feature
//! statistics against sums over read-back features, the shipped classifier's held-out accuracy,
//! reproducible retraining, scores that rank real digits above noise, `gangpu eval` on folders
//! and checkpoints (with its bad-input messages), and `train --eval-every`, which must not change
//! what training computes.

mod common;
use common::*;
use gangpu::eval::classifier::{self, Classifier, CLASSES, FEATURES, SIDE};
use gangpu::eval::classifier_train::{self, Recipe};
use gangpu::eval::score::Reference;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");

/// The last `n` built-in digits (held out from the classifier's training) as values in [-1, 1].
fn held_out(n: usize) -> (Vec<f32>, Vec<usize>) {
    let ds = gangpu::data::builtin_mnist(28, 1).expect("built-in digits");
    classifier_train::tail_values(&ds, ds.count - n)
}

#[test]
fn class_statistics_match_the_reference_and_accumulate() {
    let e = engine();
    let (n, k) = (37, CLASSES);
    let logits = rand_vec(n * k, 5, -4.0, 4.0);
    let l = upload(e, &[n, k], &logits, "logits");
    let out = zeros(e, &[3 * k], "class stats");
    let d = gangpu::kernels::class_stats_accumulate(e, &l, k, &out).expect("dispatch");
    e.run(&[&d, &d]).expect("run");
    let want: Vec<f64> = gangpu::reference::class_stats(&f32_round(&logits), k).iter().map(|v| 2.0 * v).collect();
    assert_close(&download(e, &out), &want, 1e-4, 1e-5, "class statistics, accumulated twice");
}

#[test]
fn feature_statistics_on_the_gpu_equal_sums_over_the_features() {
    let e = engine();
    let (images, _) = held_out(20);
    // batches of 8: two full batches and a rest of 4 exercise both paths
    let clf = Classifier::new(e, 8).expect("classifier");
    clf.load_builtin(e).expect("built-in weights");
    let stats = classifier::stats_of_images(e, &clf, &images).expect("statistics");
    assert_eq!(stats.n, 20);
    let one = clf.with_batch(e, 20).expect("batch of 20");
    let x = gangpu::Tensor::from_slice(&e.gpu, &[20, 1, SIDE, SIDE], &images, "images").expect("upload");
    e.run(&one.forward(e, &x).expect("forward").iter().collect::<Vec<_>>()).expect("run");
    let f = download(e, &one.features().expect("features"));
    let logits = download(e, &one.logits().expect("logits"));
    let mut sum = vec![0.0; FEATURES];
    let mut cross = vec![0.0; FEATURES * FEATURES];
    for row in f.chunks(FEATURES) {
        for i in 0..FEATURES {
            sum[i] += row[i];
            for j in 0..FEATURES {
                cross[i * FEATURES + j] += row[i] * row[j];
            }
        }
    }
    assert_close(&stats.sum, &sum, 1e-3, 1e-4, "feature sums");
    assert_close(&stats.cross, &cross, 1e-2, 1e-4, "feature cross-products");
    assert_close(&stats.class, &gangpu::reference::class_stats(&logits, CLASSES), 1e-4, 1e-4, "class statistics");
    assert!(sum.iter().any(|v| *v > 1.0), "the features are all near zero: the classifier did not load");
}

#[test]
fn the_shipped_classifier_recognises_held_out_digits() {
    let e = engine();
    let (images, labels) = held_out(1000);
    let clf = Classifier::new(e, 250).expect("classifier");
    clf.load_builtin(e).expect("built-in weights");
    let pred = classifier::predict(e, &clf, &images).expect("predict");
    let acc = pred.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    // README states 98.0% for the shipped weights; every digit class must be recognised too
    assert!(acc >= 0.975, "held-out accuracy {acc}");
    for c in 0..CLASSES {
        let (right, all) = pred.iter().zip(&labels).filter(|(_, l)| **l == c).fold((0, 0), |(r, a), (p, _)| (r + (*p == c) as usize, a + 1));
        assert!(right as f64 >= 0.9 * all as f64, "class {c}: {right} of {all} recognised");
    }
    // the shipped file round-trips through the loader bit for bit
    let bytes = clf.to_bytes(e, &[]).expect("serialise");
    assert!(gangpu::app::eval_cmd::same_weights(&bytes, classifier::BUILTIN), "loading and saving changed the weights");
}

#[test]
fn retraining_the_classifier_is_reproducible() {
    let e = engine();
    // a short recipe (256 training images, 1 epoch = 4 steps), twice with one seed, once with another
    let r = Recipe { epochs: 1, held_out: 10_000 - 256, ..Recipe::default() };
    let run = |r: &Recipe| classifier_train::train(e, r, &mut |_| {}).expect("train").clf.to_bytes(e, &[]).expect("bytes");
    let (a, b) = (run(&r), run(&r));
    assert!(gangpu::app::eval_cmd::same_weights(&a, &b), "the same recipe made different weights");
    let c = run(&Recipe { seed: 7, ..r.clone() });
    assert!(!gangpu::app::eval_cmd::same_weights(&a, &c), "another seed made the same weights");
}

#[test]
fn real_digits_score_best_and_noise_worst() {
    let e = engine();
    let n = 500;
    let clf = Classifier::new(e, 250).expect("classifier");
    clf.load_builtin(e).expect("built-in weights");
    let ds = gangpu::data::builtin_mnist(28, 1).expect("digits");
    let r = Reference::new(e, &ds, Some(&clf), n).expect("reference");
    let (real, _) = held_out(n);
    let noise: Vec<f32> = rand_vec(n * 784, 3, -1.0, 1.0).iter().map(|v| *v as f32).collect();
    // one digit (the first held-out one) repeated: sharp, but no variety
    let one: Vec<f32> = real[..784].iter().cycle().take(n * 784).copied().collect();
    let score = |v: &[f32]| r.score(Some(&classifier::stats_of_images(e, &clf, v).expect("stats")), v, n);
    let (s_real, s_noise, s_one) = (score(&real), score(&noise), score(&one));
    let fid = |s: &gangpu::eval::score::Scores| s.fid.expect("fid");
    assert!(fid(&s_real) < 10.0, "real digits: FID {}", fid(&s_real));
    assert!(fid(&s_real) * 20.0 < fid(&s_noise) && fid(&s_real) * 20.0 < fid(&s_one), "FID real {} one {} noise {}", fid(&s_real), fid(&s_one), fid(&s_noise));
    assert_eq!(s_real.coverage, Some(10), "real digits cover every class");
    assert_eq!(s_one.coverage, Some(1), "one digit repeated covers one class");
    assert!(s_real.class_entropy_bits.expect("entropy") > 3.2, "{s_real:?}");
    assert!(s_real.confidence.expect("confidence") > s_noise.confidence.expect("confidence"));
    assert!(s_real.swd * 5.0 < s_noise.swd, "SWD real {} noise {}", s_real.swd, s_noise.swd);
}

fn eval_cli(args: &[&str], cwd: &std::path::Path) -> (i32, serde_json::Value, String) {
    let out = std::process::Command::new(BIN).arg("eval").args(args).current_dir(cwd).output().expect("run gangpu eval");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write_pngs(dir: &std::path::Path, count: usize, side: u32, rgb: bool, seed: u64) {
    std::fs::create_dir_all(dir).expect("folder");
    for i in 0..count {
        let v = rand_vec((side * side * 3) as usize, seed + i as u64, 0.0, 255.0);
        let px: Vec<u8> = v.iter().map(|x| *x as u8).collect();
        let path = dir.join(format!("{i:03}.png"));
        if rgb {
            image::RgbImage::from_raw(side, side, px).expect("image").save(path).expect("save");
        } else {
            image::GrayImage::from_raw(side, side, px[..(side * side) as usize].to_vec()).expect("image").save(path).expect("save");
        }
    }
}

#[test]
fn eval_scores_folders_and_says_what_it_did_with_odd_ones() {
    let dir = tmpdir("eval-folders");
    std::fs::create_dir_all(dir.join("empty")).expect("folder");
    let (code, _, err) = eval_cli(&["--samples", "empty"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("holds no images"), "{err}");
    // 28x28 grayscale with two 32x32 strays: resized, and said so
    write_pngs(&dir.join("mixed"), 30, 28, false, 1);
    write_pngs(&dir.join("mixed/more"), 2, 32, false, 50);
    let (code, j, err) = eval_cli(&["--samples", "mixed"], &dir);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["image"], "28x28x1");
    assert_eq!(j["n"], 32);
    assert!(j["fid"].as_f64().is_some_and(|f| f > 0.0), "{j}");
    assert!(j["notes"][0].as_str().is_some_and(|s| s.contains("2 of 32") && s.contains("resized to 28x28")), "{j}");
    // grayscale 16x16: SWD against the digits at that size, no FID, and why
    write_pngs(&dir.join("small"), 24, 16, false, 100);
    let (code, j, err) = eval_cli(&["--samples", "small"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(j["fid"].is_null() && j["swd"].as_f64().is_some_and(|s| s > 0.0), "{j}");
    assert!(j["fid_skipped"].as_str().is_some_and(|s| s.contains("28x28 grayscale") && s.contains("16x16 with 1 channel")), "{j}");
    // RGB against the grayscale digits is refused, naming --data; against an RGB set it scores
    write_pngs(&dir.join("rgb"), 24, 16, true, 200);
    write_pngs(&dir.join("rgb_ref"), 24, 16, true, 300);
    let (code, _, err) = eval_cli(&["--samples", "rgb"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("grayscale") && err.contains("--data"), "{err}");
    let (code, j, err) = eval_cli(&["--samples", "rgb", "--data", "rgb_ref"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(j["image"] == "16x16x3" && j["fid"].is_null() && j["swd"].as_f64().is_some_and(|s| s > 0.0), "{j}");
    let (code, _, err) = eval_cli(&[], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("--samples") && err.contains("--checkpoint"), "{err}");
    // a flag that would do nothing with a folder is refused, not ignored
    let (code, _, err) = eval_cli(&["--samples", "mixed", "--n", "10"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("--n") && err.contains("cannot be used with"), "{err}");
}

const TINY: &[&str] = &["--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "16"];

#[test]
fn a_checkpoint_that_is_not_28x28_grayscale_gets_swd_and_says_why_not_fid() {
    let dir = tmpdir("eval-small");
    let mut args = vec!["train", "--steps", "2", "--image-size", "16", "--out", "small"];
    args.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    let (code, j, err) = eval_cli(&["--checkpoint", "small/checkpoint.safetensors", "--n", "32"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(j["fid"].is_null() && j["coverage"].is_null(), "{j}");
    assert!(j["fid_skipped"].as_str().is_some_and(|s| s.contains("28x28 grayscale") && s.contains("16x16")), "{j}");
    assert!(j["swd"].as_f64().is_some_and(|s| s > 0.0) && j["image"] == "16x16x1", "{j}");
    assert!(j["reference"].as_str().is_some_and(|s| s.contains("MNIST")), "the checkpoint's own data is the reference: {j}");
}

fn losses(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| v.get("kind").is_none())
        .map(|mut v| {
            v.as_object_mut().map(|o| o.remove("steps_per_s"));
            v
        })
        .collect()
}

#[test]
fn eval_every_scores_during_training_without_changing_it() {
    let dir = tmpdir("eval-train");
    let mut with = vec!["train", "--steps", "4", "--log-every", "1", "--eval-every", "2", "--eval-n", "40", "--out", "with"];
    with.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &with, &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2] quality: FID") && err.contains("[4] quality: FID"), "{err}");
    let text = std::fs::read_to_string(dir.join("with/metrics.jsonl")).expect("metrics");
    let evals: Vec<serde_json::Value> =
        text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|v| v["kind"] == "eval").collect();
    assert_eq!(evals.iter().map(|v| v["step"].as_u64().expect("step")).collect::<Vec<_>>(), vec![2, 4]);
    for v in &evals {
        assert_eq!(v["n"], 48, "40 samples round up to 3 batches of 16");
        assert!(v["fid"].as_f64().is_some_and(|f| f.is_finite() && f > 0.0) && v["swd"].as_f64().is_some_and(|s| s > 0.0), "{v}");
    }
    // the same run without evaluations computes the same losses, bit for bit
    let mut without = vec!["train", "--steps", "4", "--log-every", "1", "--out", "without"];
    without.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &without, &dir);
    assert_eq!(code, 0, "{err}");
    assert_eq!(losses(&dir.join("with/metrics.jsonl")), losses(&dir.join("without/metrics.jsonl")));
    // `gangpu eval --checkpoint` of the final G scores the run's evaluation noise by default: the
    // same 48 samples, scored offline by another path (its own classifier batch, reference and
    // statistics), give the row the run logged at step 4
    let (code, j, err) = eval_cli(&["--checkpoint", "with/checkpoint.safetensors", "--n", "48"], &dir);
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["n"], 48);
    assert!(j["samples"].as_str().is_some_and(|s| s.contains("step 4") && s.contains("evaluation noise")), "{j}");
    let last = &evals[1];
    assert_eq!(j["coverage"], last["coverage"], "coverage offline {j} vs in the run {last}");
    for key in ["fid", "swd", "confidence"] {
        let (a, b) = (j[key].as_f64().expect("offline score"), last[key].as_f64().expect("logged score"));
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{key}: offline {a} vs logged {b}");
    }
    // another seed draws other samples
    let (code, k, err) = eval_cli(&["--checkpoint", "with/checkpoint.safetensors", "--n", "48", "--seed", "7"], &dir);
    assert_eq!(code, 0, "{err}");
    assert_ne!(k["fid"], j["fid"], "--seed 7 scored the same samples");
}
