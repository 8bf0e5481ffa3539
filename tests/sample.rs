//! `gangpu sample --truncation` and `--interpolate`: truncated noise stays inside its bound and is
//! the trainer's noise where it does not need redrawing; latent walks and class morphs as GIFs.

mod common;
use common::*;
use gangpu::app::latent;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");
const TINY: &[&str] = &["--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "16", "--no-tensorboard"];

#[test]
fn truncated_noise_stays_inside_its_bound() {
    for t in [0.25, 1.0, 2.0] {
        let z = latent::truncated_noise(3, 0, 64, 100, t);
        assert!(z.iter().all(|v| v.abs() as f64 <= t), "T = {t}: a value beyond the bound");
        // redrawn values are fresh draws inside the bound, not clamped to it
        let at_bound = z.iter().filter(|v| (v.abs() as f64 - t).abs() < 1e-6).count();
        assert_eq!(at_bound, 0, "T = {t}: {at_bound} values sit on the bound");
        let mean_abs = z.iter().map(|v| v.abs() as f64).sum::<f64>() / z.len() as f64;
        // a normal truncated at T: E|z| = 0.5 T for small T (nearly uniform), 0.46 at 1, 0.74 at 2
        assert!(mean_abs > 0.3 * t.min(2.0) && mean_abs < 0.6 * t, "T = {t}: mean |z| {mean_abs}");
    }
    // where no value needs redrawing, the noise is the trainer's (the same counter-based draws)
    let wide = latent::truncated_noise(3, 1, 8, 16, 100.0);
    let plain: Vec<f32> = (0..8 * 16).map(|i| gangpu::reference::rng_normal(3, 2, 1, i) as f32).collect();
    assert_eq!(wide, plain);
}

#[test]
fn slerp_keeps_the_ends_and_the_norm() {
    let a = vec![1.0f32, 0.0, 0.0];
    let b = vec![0.0f32, 1.0, 0.0];
    assert_eq!(latent::slerp(&a, &b, 0.0), a);
    let end = latent::slerp(&a, &b, 1.0);
    assert!(end.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{end:?}");
    let mid = latent::slerp(&a, &b, 0.5);
    let norm = mid.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-6 && (mid[0] - mid[1]).abs() < 1e-6, "{mid:?}: on the arc, halfway");
    // a label part moves linearly
    assert_eq!(latent::lerp(&[1.0, 0.0], &[0.0, 1.0], 0.25), vec![0.75, 0.25]);
}

fn gif_frames(path: &std::path::Path) -> usize {
    use image::AnimationDecoder;
    let f = std::io::BufReader::new(std::fs::File::open(path).expect("walk.gif"));
    image::codecs::gif::GifDecoder::new(f).expect("a GIF").into_frames().count()
}

#[test]
fn sample_truncates_and_walks() {
    let dir = tmpdir("sample-walk");
    let mut args = vec!["train", "--steps", "3", "--out", "run"];
    args.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    let ck = "run/checkpoint.safetensors";
    // a bound no value reaches draws the plain samples (host and GPU Box-Muller agree to ~1e-6)
    for (flags, out) in [(vec!["--truncation", "100"], "wide.png"), (vec![], "plain.png"), (vec!["--truncation", "0.5"], "narrow.png")] {
        let mut a = vec!["sample", "--checkpoint", ck, "--n", "16", "--seed", "4", "--out", out];
        a.extend(flags);
        let (code, err) = gangpu_cli(BIN, &a, &dir);
        assert_eq!(code, 0, "{err}");
    }
    let img = |f: &str| image::open(dir.join(f)).expect("grid").to_luma8().into_raw();
    let (wide, plain, narrow) = (img("wide.png"), img("plain.png"), img("narrow.png"));
    let worst = wide.iter().zip(&plain).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
    assert!(worst <= 2, "--truncation 100 differs from the plain samples by {worst} grey levels");
    assert_ne!(narrow, plain, "--truncation 0.5 drew the same noise");
    // a walk through 3 latents, 4 frames each: 12 frames
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--interpolate", "3", "--frames", "4", "--out", "walk.gif"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("12 frames") && err.contains("walks through 3 latents"), "{err}");
    assert_eq!(gif_frames(&dir.join("walk.gif")), 12);
    // what a walk cannot be is refused, naming the fix
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--interpolate", "3", "--out", "walk.png"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("give --out a .gif file"), "{err}");
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--interpolate", "1", "--out", "w.gif"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("at least 2"), "{err}");
}

#[test]
fn a_conditional_checkpoint_morphs_through_its_classes() {
    let dir = tmpdir("sample-morph");
    let mut args = vec!["train", "--steps", "3", "--cond", "cgan", "--out", "run"];
    args.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    let (code, err) = gangpu_cli(
        BIN,
        &["sample", "--checkpoint", "run/checkpoint.safetensors", "--interpolate", "4", "--frames", "3", "--truncation", "1.5", "--out", "morph.gif"],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("morphing through classes 0..3") && err.contains("truncated at 1.5"), "{err}");
    assert_eq!(gif_frames(&dir.join("morph.gif")), 12);
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", "run/checkpoint.safetensors", "--interpolate", "11", "--out", "m.gif"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("has 10 classes"), "{err}");
}
