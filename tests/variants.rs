//! The GAN objectives of `--loss`: a short training run of each on MNIST at small widths, the
//! published defaults, and checkpoints that remember the objective.

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::data;
use gangpu::models::{Cond, ModelConfig};
use gangpu::train::{self, GLoss, Gan, GanLoss, Metrics, Optimizer, TrainConfig};
use std::sync::atomic::AtomicBool;

struct Quiet;
impl train::Progress for Quiet {
    fn log(&mut self, _m: &Metrics) {}
    fn note(&mut self, _msg: &str) {}
}

fn cfg(loss: GanLoss, name: &str, steps: u64) -> TrainConfig {
    let d = loss.defaults();
    let out = std::env::temp_dir().join(format!("gangpu-variant-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    TrainConfig {
        lr: d.lr,
        beta1: d.beta1,
        beta2: d.beta2,
        loss,
        optimizer: d.optimizer,
        critic_steps: d.critic_steps,
        clip: d.clip,
        gp_weight: loss.objective().gradient_penalty,
        d_norm: Some(loss.objective().critic_norm),
        // the 100-critic-step warm-up schedule is tested on its own below; keep the smoke run short
        wgan_schedule: false,
        seed: 3,
        sample_every: 1000,
        checkpoint_every: 1000,
        log_every: 5,
        ..TrainConfig::new(
            ModelConfig { image_size: 28, channels: 1, nz: 16, ngf: 8, ndf: 8, batch: 16, cond: Default::default(), classes: 0 },
            "mnist",
            steps,
            out,
        )
    }
}

fn metrics(c: &TrainConfig) -> Vec<Metrics> {
    std::fs::read_to_string(c.out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_loss_trains_on_mnist_without_nan_or_collapse() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    for loss in GanLoss::all() {
        let c = cfg(loss, &format!("{loss:?}"), 40);
        let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
        train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap_or_else(|err| panic!("{loss:?}: {err:#}"));
        let m = metrics(&c);
        assert_eq!(m.len(), 9, "{loss:?}: expected 9 log rows (step 1, then every 5)");
        assert_eq!(m[0].step, 1, "{loss:?}: the first row is step 1");
        for r in &m {
            assert!(r.finite(), "{loss:?}: non-finite metrics {r:?}");
        }
        let last = m.last().unwrap();
        match loss {
            // D has not won outright: its loss stays well above 0
            GanLoss::Bce | GanLoss::Bgan => assert!(last.loss_d > 0.1, "{loss:?}: D collapsed to loss {}", last.loss_d),
            GanLoss::Lsgan => assert!(last.loss_d > 0.01, "{loss:?}: D collapsed to loss {}", last.loss_d),
            GanLoss::Hinge => assert!(last.loss_d > 0.1, "{loss:?}: D collapsed to loss {}", last.loss_d),
            GanLoss::Wgan | GanLoss::WganGp => {
                // two roads to the same number: the estimate is mean f(real) - mean f(fake) from
                // D's mean outputs; Loss_D is the loss kernel's sum of the objective's terms
                // (-mean f(real) + mean f(fake)); a wrong term scale or slot breaks the equality
                let em = last.critic_estimate.expect("WGAN logs the critic's estimate");
                assert!((em - (last.d_x - last.d_g_z1)).abs() < 1e-6, "the estimate is mean f(real) - mean f(fake)");
                assert!(
                    (em + last.loss_d).abs() < 1e-5 * (1.0 + em.abs()),
                    "estimate {em} vs critic loss {}: the loss terms disagree with D's outputs",
                    last.loss_d
                );
                assert!(em.is_finite() && em > 0.0, "the critic separates real from fake: EM estimate {em}");
            }
        }
        // the critic's weights are clipped before each critic step (as in the WGAN code), so they
        // leave the box by at most one RMSProp step: lr / sqrt(1 - alpha) = 5e-5 / 0.1
        if loss == GanLoss::Wgan {
            let w = gan.d.params.all().read(&e.gpu).unwrap();
            let max = w.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!(max <= 0.01 + 5e-4 + 1e-6, "critic weight {max} outside [-0.01, 0.01] by more than one step");
            assert!(max > 0.009, "the clipping box is used: max |w| = {max}");
            assert_eq!(gan.d_count, 40 * 5, "5 critic steps per G step");
        }
    }
}

#[test]
fn spectral_norm_trains_and_checkpoints_under_torch_names() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut c = cfg(GanLoss::Hinge, "sn", 20);
    c.spectral_norm = true;
    c.checkpoint_every = 10;
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    assert!(metrics(&c).iter().all(|m| m.finite()), "hinge + spectral norm must train without NaN");
    // every normalised weight W / sigma has spectral norm about 1 once the power iteration (one
    // step per use, 3 uses per training step) has converged: its largest singular value,
    // computed here in f64 by 500 power iterations, is within 2% of 1
    let sn = gan.d.sn.as_ref().unwrap();
    let w_sn = sn.w_sn.all().read(&e.gpu).unwrap();
    let mut checked = 0;
    for slot in sn.w_sn.layout.slots.iter().filter(|s| s.shape.len() == 4) {
        let (rows, cols) = (slot.shape[0], slot.numel() / slot.shape[0]);
        let w: Vec<f64> = w_sn[slot.offset..slot.offset + slot.numel()].iter().map(|v| *v as f64).collect();
        let mut v = vec![1.0 / (cols as f64).sqrt(); cols];
        let mut sigma = 0.0;
        for _ in 0..500 {
            let u: Vec<f64> = (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] * v[c]).sum()).collect();
            let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            let wt_u: Vec<f64> = (0..cols).map(|c| (0..rows).map(|r| w[r * cols + c] * u[r] / nu).sum()).collect();
            sigma = wt_u.iter().map(|x| x * x).sum::<f64>().sqrt();
            v = wt_u.iter().map(|x| x / sigma).collect();
        }
        assert!((sigma - 1.0).abs() < 0.02, "{}: largest singular value of W / sigma is {sigma}, not about 1", slot.name);
        checked += 1;
    }
    assert_eq!(checked, 3, "dcgan28's D has 3 normalised weights");
    let bytes = std::fs::read(c.out.join("checkpoint.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for name in ["netD.main.0.weight_orig", "netD.main.0.weight_u", "netD.main.0.weight_v", "netD.main.5.weight_orig"] {
        assert!(st.tensor(name).is_ok(), "missing {name}");
    }
    assert_eq!(st.tensor("netD.main.0.weight_v").unwrap().shape(), &[16], "v has one entry per input tap (1 x 4 x 4)");
    // resume from step 10 reproduces steps 11..20 exactly (u and v are restored)
    let mut c2 = c.clone();
    c2.out = c.out.with_extension("resumed");
    let _ = std::fs::remove_dir_all(&c2.out);
    std::fs::create_dir_all(&c2.out).unwrap();
    let mut half = c.clone();
    half.steps = 10;
    half.out = c2.out.clone();
    let mut g1 = Gan::new(e, half, Some(&ds)).unwrap();
    train::train(e, &mut g1, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let mut g2 = Gan::new(e, c2.clone(), Some(&ds)).unwrap();
    g2.load_checkpoint(e, &RawCheckpoint::read(&c2.out.join("checkpoint.safetensors")).unwrap()).unwrap();
    train::train(e, &mut g2, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let pick = |m: Vec<Metrics>| m.into_iter().filter(|r| r.step > 10).map(|r| (r.step, r.loss_d, r.loss_g)).collect::<Vec<_>>();
    assert_eq!(pick(metrics(&c)), pick(metrics(&c2)), "spectral-norm run resumed exactly");
}

#[test]
fn published_defaults_and_the_wgan_schedule() {
    let w = GanLoss::Wgan.defaults();
    assert_eq!((w.optimizer, w.lr, w.critic_steps, w.clip, w.wgan_schedule), (Optimizer::Rmsprop, 5e-5, 5, Some(0.01), true));
    for l in [GanLoss::Bce, GanLoss::Lsgan, GanLoss::Hinge, GanLoss::Bgan] {
        let d = l.defaults();
        assert_eq!((d.optimizer, d.lr, d.beta1, d.beta2, d.critic_steps, d.clip), (Optimizer::Adam, 2e-4, 0.5, 0.999, 1, None), "{l:?}");
    }
    let mut c = cfg(GanLoss::Wgan, "schedule", 1);
    c.wgan_schedule = true;
    let steps: Vec<usize> = [0u64, 24, 25, 26, 499, 500, 501, 1000].iter().map(|s| c.critic_steps_at(*s)).collect();
    assert_eq!(steps, vec![100, 100, 5, 5, 5, 100, 5, 100]);
    let mut bad = cfg(GanLoss::Hinge, "bad", 1);
    bad.g_loss = GLoss::Minimax;
    assert!(bad.validate().unwrap_err().to_string().contains("does not combine"));
}

#[test]
fn checkpoints_remember_the_objective_and_resume_exactly() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let run = |c: &TrainConfig, resume: bool| {
        let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
        if resume {
            let raw = RawCheckpoint::read(&c.out.join("checkpoint.safetensors")).unwrap();
            let saved = train::checkpoint_config(&raw).unwrap();
            assert_eq!((saved.loss, saved.optimizer, saved.clip), (GanLoss::Wgan, Optimizer::Rmsprop, Some(0.01)), "the checkpoint records the objective");
            gan.load_checkpoint(e, &raw).unwrap();
        }
        train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    };
    let mut a = cfg(GanLoss::Wgan, "ck-a", 10);
    a.checkpoint_every = 5;
    run(&a, false);
    let mut b = cfg(GanLoss::Wgan, "ck-b", 5);
    b.checkpoint_every = 5;
    run(&b, false);
    b.steps = 10;
    run(&b, true);
    let (ma, mb) = (metrics(&a), metrics(&b));
    let pick = |m: &[Metrics]| m.iter().filter(|r| r.step > 5).map(|r| (r.step, r.loss_d, r.loss_g, r.critic_estimate)).collect::<Vec<_>>();
    assert_eq!(pick(&ma), pick(&mb), "WGAN resumed with RMSProp state must continue exactly");
}

fn cond_cfg(cond: Cond, loss: GanLoss, name: &str, steps: u64) -> TrainConfig {
    let mut c = cfg(loss, name, steps);
    c.model.cond = cond;
    c.model.classes = 10;
    c
}

#[test]
fn every_conditioning_mode_trains_with_each_loss() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    for cond in [Cond::Cgan, Cond::Acgan] {
        for loss in [GanLoss::Bce, GanLoss::Wgan, GanLoss::Hinge] {
            let c = cond_cfg(cond, loss, &format!("{cond:?}-{loss:?}"), 10);
            let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
            train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap_or_else(|err| panic!("{cond:?} {loss:?}: {err:#}"));
            let m = metrics(&c);
            assert!(m.iter().all(|r| r.finite()), "{cond:?} {loss:?}: non-finite metrics");
            if cond == Cond::Acgan {
                let last = m.last().unwrap();
                let (ar, af) = (last.acc_real.expect("ACGAN logs accuracy"), last.acc_fake.expect("ACGAN logs accuracy"));
                // an accuracy is a count of right answers over the batch: a multiple of 1 / batch
                let b = c.model.batch as f32;
                for (what, a) in [("real", ar), ("fake", af)] {
                    assert!((0.0..=1.0).contains(&a) && ((a * b) - (a * b).round()).abs() < 1e-3, "{cond:?} {loss:?}: accuracy on {what} {a} is not k / {b}");
                }
                // the class cross-entropy is logged apart from, and included in, both losses
                let (cd, cg) = (last.class_loss_d.expect("ACGAN logs D's class loss"), last.class_loss_g.expect("ACGAN logs G's class loss"));
                assert!(cd > 0.0 && cg > 0.0 && cd.is_finite() && cg.is_finite(), "class losses {cd} {cg}");
                // BCE and hinge D terms, and BCE's G term, are non-negative: the totals hold their class parts
                if loss != GanLoss::Wgan {
                    assert!(last.loss_d >= cd - 1e-5, "loss_d {} below its class part {cd}", last.loss_d);
                }
                if loss == GanLoss::Bce {
                    assert!(last.loss_g >= cg - 1e-5, "loss_g {} below its class part {cg}", last.loss_g);
                }
            }
            // class-ordered sample grid: one row per class (10 rows of 16 / 10 = 1 sample)
            let img = image::open(c.out.join("samples/step_000010.png")).unwrap();
            assert_eq!(img.height(), 10 * 30 + 2, "{cond:?}: one row per class");
        }
    }
}

/// After a short CGAN run, samples of a chosen label differ by label: the per-class mean images
/// (two halves of 48 samples each) lie further apart between classes than the two halves of one
/// class's samples lie from each other: at least twice as far.
#[test]
fn conditional_samples_differ_by_label() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut c = cond_cfg(Cond::Cgan, GanLoss::Bce, "bylabel", 100);
    c.model.batch = 48;
    c.model.ngf = 16;
    c.model.ndf = 16;
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let px = 28 * 28;
    let mut gen = gangpu::train::Generator::of(e, &gan).unwrap();
    let mut halves = Vec::new();
    for label in 0..10u32 {
        // as `gangpu sample --label`: the chosen label fills half of each batch, the other half
        // mixes the classes (batch norm sees a training-like batch); 4 batches, 96 samples
        let labels: Vec<u32> = (0..48).map(|i| if i < 24 { label } else { (i % 10) as u32 }).collect();
        gen.set_sample_labels(e, &labels).unwrap();
        let mut v = Vec::new();
        for batch in 0..4 {
            v.extend_from_slice(&gen.sample_seeded(e, 11, batch).unwrap()[..24 * px]);
        }
        let mean = |r: std::ops::Range<usize>| -> Vec<f64> {
            let n = r.len() as f64;
            (0..px).map(|p| r.clone().map(|i| v[i * px + p] as f64).sum::<f64>() / n).collect()
        };
        halves.push((mean(0..48), mean(48..96)));
    }
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let within: f64 = halves.iter().map(|(a, b)| dist(a, b)).sum::<f64>() / 10.0;
    let mut between = 0.0;
    for i in 0..10 {
        for j in 0..10 {
            if i != j {
                between += dist(&halves[i].0, &halves[j].1);
            }
        }
    }
    between /= 90.0;
    eprintln!("between {between:.3} within {within:.3}");
    assert!(between > 2.0 * within, "class means differ by {between:.3} between labels but {within:.3} within one label");
    assert!(gen.set_sample_labels(e, &[10; 48]).is_err(), "label out of range must be refused");
}

#[test]
fn conditioning_on_unlabelled_data_is_refused() {
    let e = engine();
    let dir = std::env::temp_dir().join(format!("gangpu-unlabelled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    image::GrayImage::from_fn(28, 28, |x, _| image::Luma([(x * 9) as u8])).save(dir.join("a.png")).unwrap();
    image::GrayImage::from_fn(28, 28, |_, y| image::Luma([(y * 9) as u8])).save(dir.join("b.png")).unwrap();
    let ds = data::load(dir.to_str().unwrap(), 28, 1).unwrap();
    assert!(ds.labels.is_none(), "files directly in the folder carry no class");
    let c = cond_cfg(Cond::Acgan, GanLoss::Bce, "unlabelled", 1);
    let err = Gan::new(e, c, Some(&ds)).err().expect("acgan on unlabelled data must be refused");
    assert!(format!("{err:#}").contains("needs labelled data"), "unclear: {err:#}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gangpu"))
        .args(["train", "--cond", "cgan", "--steps", "1", "--data", dir.to_str().unwrap(), "--out"])
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("needs labelled data"));
    // sub-folders are classes
    std::fs::create_dir_all(dir.join("cls/cat")).unwrap();
    std::fs::create_dir_all(dir.join("cls/dog")).unwrap();
    std::fs::copy(dir.join("a.png"), dir.join("cls/cat/a.png")).unwrap();
    std::fs::copy(dir.join("b.png"), dir.join("cls/dog/b.png")).unwrap();
    let ds = data::load(dir.join("cls").to_str().unwrap(), 28, 1).unwrap();
    assert_eq!(ds.labels, Some(vec![0, 1]));
    assert_eq!(ds.class_names, vec!["cat".to_string(), "dog".to_string()]);
}

#[test]
fn sample_label_errors_are_clear() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let c = cfg(GanLoss::Bce, "unc-sample", 2);
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_gangpu")).args(args).output().unwrap();
    let ck = c.out.join("checkpoint.safetensors");
    let out = run(&["sample", "--checkpoint", ck.to_str().unwrap(), "--label", "3", "--out", c.out.join("s.png").to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unconditional checkpoint"));
    let cc = cond_cfg(Cond::Acgan, GanLoss::Bce, "cond-sample", 2);
    let mut gan = Gan::new(e, cc.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let ck = cc.out.join("checkpoint.safetensors");
    let out = run(&["sample", "--checkpoint", ck.to_str().unwrap(), "--label", "10", "--out", cc.out.join("s.png").to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("out of range"));
    let out = run(&["sample", "--checkpoint", ck.to_str().unwrap(), "--label", "7", "--n", "5", "--out", cc.out.join("sevens").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(cc.out.join("sevens")).unwrap().count(), 5);
}
