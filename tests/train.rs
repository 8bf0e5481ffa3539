//! The trainer end to end on the software adapter: outputs, checkpoints, exact resume,
//! determinism, and bad inputs.

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::data;
use gangpu::models::ModelConfig;
use gangpu::train::Generator;
use gangpu::train::{self, Gan, Metrics, Outcome, TrainConfig};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

fn small_cfg(out: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        seed: 7,
        sample_every: 5,
        checkpoint_every: 5,
        log_every: 2,
        ..TrainConfig::new(
            ModelConfig { image_size: 28, channels: 1, nz: 16, ngf: 8, ndf: 8, batch: 16, cond: Default::default(), classes: 0 },
            "mnist",
            steps,
            out.to_path_buf(),
        )
    }
}

struct Quiet;
impl train::Progress for Quiet {
    fn log(&mut self, _m: &Metrics) {}
    fn note(&mut self, _msg: &str) {}
}

fn run(cfg: &TrainConfig, resume: Option<&Path>) -> Gan {
    let e = engine();
    let ds = data::load(&cfg.data, cfg.model.image_size, cfg.model.channels).unwrap();
    let mut gan = Gan::new(e, cfg.clone(), Some(&ds)).unwrap();
    if let Some(p) = resume {
        gan.load_checkpoint(e, &RawCheckpoint::read(p).unwrap()).unwrap();
    }
    let out = train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    assert_eq!(out, Outcome::Finished);
    gan
}

fn metrics(dir: &Path) -> Vec<Metrics> {
    std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn short_run_writes_every_output_file() {
    let dir = tmpdir("e2e");
    let cfg = small_cfg(&dir, 10);
    run(&cfg, None);
    for f in ["metrics.jsonl", "real_samples.png", "timeline.png", "checkpoint.safetensors", "samples/step_000005.png", "samples/step_000010.png"] {
        assert!(dir.join(f).is_file(), "missing {f} in the run folder");
    }
    let m = metrics(&dir);
    // the first row at step 1 (users see the run start at once), then every --log-every steps
    assert_eq!(m.iter().map(|r| r.step).collect::<Vec<_>>(), vec![1, 2, 4, 6, 8, 10], "log rows");
    for r in &m {
        assert!(r.finite(), "non-finite metrics {r:?}");
        // D(x), D(G(z)) are batch means of sigmoids and Loss_D the mean BCE: by Jensen
        // (-log is convex) Loss_D >= -log D(x) - log(1 - D(G(z))), equal only if D is constant
        assert!(r.d_x > 0.0 && r.d_x < 1.0 && r.d_g_z1 > 0.0 && r.d_g_z1 < 1.0, "D outputs are probabilities: {r:?}");
        let bound = -(r.d_x as f64).ln() - (1.0 - r.d_g_z1 as f64).ln();
        assert!(r.loss_d as f64 >= bound - 1e-4, "Loss_D {} below its Jensen bound {bound}: losses and D outputs disagree", r.loss_d);
        // the same for G's non-saturating loss: Loss_G = mean -log D(G(z)) >= -log mean D(G(z))
        assert!(r.loss_g as f64 >= -(r.d_g_z2 as f64).ln() - 1e-4, "Loss_G {} below its Jensen bound: {r:?}", r.loss_g);
    }
    let img = image::open(dir.join("samples/step_000010.png")).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 30 + 2, 4 * 30 + 2), "a 4x4 grid of 28-pixel samples with 2-pixel gaps");
}

#[test]
fn checkpoint_round_trip_gives_identical_samples() {
    let e = engine();
    let dir = tmpdir("roundtrip");
    let cfg = small_cfg(&dir, 5);
    let gan = run(&cfg, None);
    let before = Generator::of(e, &gan).unwrap().sample_seeded(e, 3, 0).unwrap();
    let mut fresh = Gan::new(e, cfg.clone(), None).unwrap();
    let untrained = Generator::of(e, &fresh).unwrap().sample_seeded(e, 3, 0).unwrap();
    assert_ne!(before, untrained, "training must change the generator");
    fresh.load_checkpoint(e, &RawCheckpoint::read(&dir.join("checkpoint.safetensors")).unwrap()).unwrap();
    assert_eq!(fresh.step, 5);
    assert_eq!(Generator::of(e, &fresh).unwrap().sample_seeded(e, 3, 0).unwrap(), before, "samples after save + load must be identical");
    // the checkpoint carries PyTorch names and layouts
    let bytes = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("netG.main.0.weight").unwrap();
    assert_eq!(w.shape(), &[16, 32, 7, 7], "ConvTranspose2d weight is (in, out, kh, kw)");
    assert!(st.tensor("netG.main.1.running_var").is_ok() && st.tensor("netD.main.3.weight").is_ok());
}

#[test]
fn resume_continues_exactly_and_seeds_reproduce() {
    let a = tmpdir("resume-a");
    let b = tmpdir("resume-b");
    run(&small_cfg(&a, 10), None);
    // first half, then resume for the second half in the same folder
    run(&small_cfg(&b, 5), None);
    run(&small_cfg(&b, 10), Some(&b.join("checkpoint.safetensors")));
    let (ma, mb) = (metrics(&a), metrics(&b));
    let tail_a: Vec<&Metrics> = ma.iter().filter(|m| m.step > 5).collect();
    let tail_b: Vec<&Metrics> = mb.iter().filter(|m| m.step > 5).collect();
    assert_eq!(tail_a.len(), 3);
    for (x, y) in tail_a.iter().zip(&tail_b) {
        assert_eq!((x.step, x.loss_d, x.loss_g, x.d_x, x.d_g_z1, x.d_g_z2), (y.step, y.loss_d, y.loss_g, y.d_x, y.d_g_z1, y.d_g_z2), "resumed run differs");
    }
    // same seed, same adapter: same losses from the start
    let c = tmpdir("resume-c");
    run(&small_cfg(&c, 10), None);
    let mc = metrics(&c);
    for (x, y) in ma.iter().zip(&mc) {
        assert_eq!((x.loss_d, x.loss_g), (y.loss_d, y.loss_g), "same seed gave different losses at step {}", x.step);
    }
    let ca = std::fs::read(a.join("checkpoint.safetensors")).unwrap();
    let cb = std::fs::read(b.join("checkpoint.safetensors")).unwrap();
    let (sa, sb) = (safetensors::SafeTensors::deserialize(&ca).unwrap(), safetensors::SafeTensors::deserialize(&cb).unwrap());
    for name in sa.names() {
        assert_eq!(sa.tensor(name).unwrap().data(), sb.tensor(name).unwrap().data(), "{name} differs after resume");
    }
}

#[test]
fn diverged_training_stops_and_keeps_the_last_good_checkpoint() {
    let e = engine();
    let dir = tmpdir("nan");
    let cfg = small_cfg(&dir, 5);
    run(&cfg, None);
    let good = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let cfg2 = small_cfg(&dir, 10);
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut gan = Gan::new(e, cfg2, Some(&ds)).unwrap();
    gan.load_checkpoint(e, &RawCheckpoint::read(&dir.join("checkpoint.safetensors")).unwrap()).unwrap();
    // poison D's weights: the next losses are NaN
    let n = gan.d.params.layout.len;
    gan.d.params.all().write(&e.gpu, &vec![f32::NAN; n]).unwrap();
    let err = train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).expect_err("NaN losses must stop training");
    let msg = format!("{err:#}");
    assert!(msg.contains("not finite") && msg.contains("--lr"), "unhelpful message: {msg}");
    assert_eq!(std::fs::read(dir.join("checkpoint.safetensors")).unwrap(), good, "the last good checkpoint must survive");
}

fn gangpu(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gangpu")).args(args).output().expect("run gangpu");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tmpdir("bad");
    let out = dir.join("run");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--data".into(), dir.join("nope").display().to_string()], "no such file or folder"),
        (vec!["--image-size".into(), "30".into()], "cannot be made by a DCGAN"),
        (vec!["--channels".into(), "3".into()], "use --channels 1"),
        (vec!["--batch".into(), "1".into()], "--batch must be at least 2"),
        (vec!["--lr".into(), "0".into()], "'--lr <LR>': must be a positive number, got 0"),
    ];
    for (args, want) in cases {
        let mut full = vec!["train", "--out", o, "--steps", "1"];
        full.extend(args.iter().map(String::as_str));
        let (ok, err) = gangpu(&full);
        assert!(!ok && err.contains(want), "gangpu {full:?}: expected an error containing '{want}', got: {err}");
    }
    // empty folder
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, err) = gangpu(&["train", "--out", o, "--data", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("contains no image files"), "empty folder: {err}");
    // truncated IDX
    let idx = dir.join("cut-images-idx3-ubyte");
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28];
    bytes.extend(vec![0u8; 28 * 28 * 3]);
    std::fs::write(&idx, &bytes).unwrap();
    let (ok, err) = gangpu(&["train", "--out", o, "--data", idx.to_str().unwrap()]);
    assert!(!ok && err.contains("truncated IDX file"), "truncated IDX: {err}");
    // corrupt checkpoint
    let ck = dir.join("broken.safetensors");
    std::fs::write(&ck, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1").unwrap();
    let (ok, err) = gangpu(&["sample", "--checkpoint", ck.to_str().unwrap(), "--out", dir.join("s.png").to_str().unwrap()]);
    assert!(!ok && (err.contains("corrupt") || err.contains("not a valid safetensors")), "corrupt checkpoint: {err}");
    let (ok, err) = gangpu(&["sample", "--checkpoint", dir.join("missing.safetensors").to_str().unwrap()]);
    assert!(!ok && err.contains("reading checkpoint"), "missing checkpoint: {err}");
}

#[test]
fn corrupt_images_are_skipped_with_a_warning() {
    let dir = tmpdir("folder");
    let imgs = dir.join("imgs/sub");
    std::fs::create_dir_all(&imgs).unwrap();
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 128])).save(imgs.join("a.png")).unwrap();
    image::GrayImage::from_fn(16, 16, |x, _| image::Luma([(x * 16) as u8])).save(dir.join("imgs/b.png")).unwrap();
    std::fs::write(dir.join("imgs/broken.png"), b"not a png at all").unwrap();
    let ds = data::image_folder(&dir.join("imgs"), 16, 3).unwrap();
    assert_eq!(ds.count, 2, "two good images, searched recursively");
    assert_eq!(ds.skipped.len(), 1);
    assert!(ds.skipped[0].ends_with("broken.png"));
    assert_eq!(ds.pixels.len(), 2 * 3 * 16 * 16);
    // the 40x30 image is centre-cropped to 30x30, then resized: still a horizontal ramp
    let img0 = ds.image(1);
    assert!(img0[15] > img0[0], "red channel ramps left to right after crop and resize");
}

#[test]
fn checkpoint_from_another_architecture_is_refused() {
    let e = engine();
    let dir = tmpdir("arch");
    run(&small_cfg(&dir, 2), None);
    let mut other = small_cfg(&dir, 2);
    other.model.ngf = 12;
    let mut gan = Gan::new(e, other, None).unwrap();
    let err = gan.load_checkpoint(e, &RawCheckpoint::read(&dir.join("checkpoint.safetensors")).unwrap()).expect_err("must refuse");
    assert!(format!("{err:#}").contains("different architecture"), "unclear: {err:#}");
}

#[test]
fn sample_command_writes_a_grid_and_a_folder() {
    let dir = tmpdir("sample");
    run(&small_cfg(&dir, 2), None);
    let ck = dir.join("checkpoint.safetensors");
    let grid = dir.join("g.png");
    let (ok, err) = gangpu(&["sample", "--checkpoint", ck.to_str().unwrap(), "--n", "20", "--out", grid.to_str().unwrap()]);
    assert!(ok, "sample failed: {err}");
    let img = image::open(&grid).unwrap();
    assert_eq!(img.width(), 5 * 30 + 2, "20 samples in a 5-wide grid");
    let folder = dir.join("each");
    let (ok, err) = gangpu(&["sample", "--checkpoint", ck.to_str().unwrap(), "--n", "3", "--out", folder.to_str().unwrap()]);
    assert!(ok, "sample failed: {err}");
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 3);
}

#[test]
fn models_have_the_documented_shapes() {
    let m = ModelConfig { image_size: 64, channels: 3, nz: 100, ngf: 64, ndf: 64, batch: 64, cond: Default::default(), classes: 0 };
    let g = m.generator().unwrap();
    let outs: Vec<Vec<usize>> = g.iter().map(|b| b.layer.out_shape()).collect();
    assert_eq!(outs, vec![vec![64, 512, 4, 4], vec![64, 256, 8, 8], vec![64, 128, 16, 16], vec![64, 64, 32, 32], vec![64, 3, 64, 64]]);
    let d = m.discriminator().unwrap();
    let outs: Vec<Vec<usize>> = d.iter().map(|b| b.layer.out_shape()).collect();
    assert_eq!(outs, vec![vec![64, 64, 32, 32], vec![64, 128, 16, 16], vec![64, 256, 8, 8], vec![64, 512, 4, 4], vec![64, 1, 1, 1]]);
    let m28 = ModelConfig { image_size: 28, channels: 1, nz: 100, ngf: 64, ndf: 64, batch: 64, cond: Default::default(), classes: 0 };
    let outs: Vec<Vec<usize>> = m28.generator().unwrap().iter().map(|b| b.layer.out_shape()).collect();
    assert_eq!(outs, vec![vec![64, 256, 7, 7], vec![64, 128, 14, 14], vec![64, 1, 28, 28]]);
    for s in [16, 32, 128] {
        let m = ModelConfig { image_size: s, ..m.clone() };
        assert_eq!(m.generator().unwrap().last().unwrap().layer.out_shape(), vec![64, 3, s, s]);
        assert_eq!(m.discriminator().unwrap().last().unwrap().layer.out_shape(), vec![64, 1, 1, 1]);
    }
    let bad = ModelConfig { image_size: 48, ..m };
    assert!(bad.generator().unwrap_err().to_string().contains("cannot be made"));
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = tmpdir("sigint");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gangpu"))
        .args(["train", "--steps", "100000", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "16", "--log-every", "1", "--out"])
        .arg(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start gangpu");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // wait until training is under way
    for line in lines.by_ref() {
        if line.unwrap().starts_with("[3]") {
            break;
        }
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130), "gangpu must exit with 130 (interrupted) on Ctrl-C: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted at step")), "no interruption message in {rest:?}");
    let raw = RawCheckpoint::read(&dir.join("checkpoint.safetensors")).expect("a checkpoint must be written on Ctrl-C");
    assert!(raw.step().unwrap() >= 3);
}

#[test]
fn streamed_and_resident_data_give_the_same_run() {
    // the built-in digits (7.8 MB) under a 1 MiB GPU budget stream from the host batch by batch;
    // the batches, and so every loss, must equal the resident run's bit for bit
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut runs = Vec::new();
    for (name, budget, cond) in [("resident", None, false), ("streamed", Some(1), false), ("resident-acgan", None, true), ("streamed-acgan", Some(1), true)] {
        let dir = tmpdir(&format!("feed-{name}"));
        let mut cfg = small_cfg(&dir, 6);
        cfg.log_every = 1;
        cfg.hflip = true;
        cfg.gpu_data_mb = budget;
        if cond {
            // labels follow the streamed images: the class losses must agree too
            cfg.model.cond = gangpu::models::Cond::Acgan;
            cfg.model.classes = 10;
        }
        let mut gan = Gan::new(e, cfg.clone(), Some(&ds)).unwrap();
        assert_eq!(gan.data_feed().0, budget.is_some(), "{name}: wrong feed");
        let first = gan.real_batch(e).unwrap();
        train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
        let m: Vec<(u64, f32, f32, f32, Option<f32>)> = metrics(&dir).iter().map(|r| (r.step, r.loss_d, r.loss_g, r.d_x, r.class_loss_d)).collect();
        runs.push((first, m));
    }
    for pair in [0, 2] {
        assert_eq!(runs[pair].0, runs[pair + 1].0, "the preview batch differs between resident and streamed data");
        assert_eq!(runs[pair].1, runs[pair + 1].1, "the losses differ between resident and streamed data");
        assert_eq!(runs[pair].1.len(), 6);
    }
    assert!(runs[2].1[0].4.is_some(), "the ACGAN runs log their class loss");
    // a streamed run stopped at step 3 and resumed gives the uninterrupted streamed run's losses
    let dir = tmpdir("feed-resumed");
    let mut cfg = small_cfg(&dir, 3);
    cfg.log_every = 1;
    cfg.hflip = true;
    cfg.gpu_data_mb = Some(1);
    run(&cfg, None);
    cfg.steps = 6;
    run(&cfg, Some(&dir.join("checkpoint.safetensors")));
    let resumed: Vec<(u64, f32, f32, f32, Option<f32>)> = metrics(&dir).iter().map(|r| (r.step, r.loss_d, r.loss_g, r.d_x, r.class_loss_d)).collect();
    assert_eq!(resumed, runs[1].1, "a resumed streamed run differs from the uninterrupted one");
}
