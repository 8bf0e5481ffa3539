//! The input-gradient penalties in the trainer: WGAN-GP and R1 (with hinge and spectral norm,
//! lazily) train on MNIST at small widths, log their penalties, resume bit-exactly from a
//! checkpoint, and are refused, naming why, where D's double backward is not written.
//! (The penalty's gradient itself is checked in tests/penalty.rs.)

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::data;
use gangpu::gan::DNorm;
use gangpu::models::{Cond, ModelConfig};
use gangpu::train::{self, Gan, GanLoss, Metrics, TrainConfig};
use std::sync::atomic::AtomicBool;

struct Quiet;
impl train::Progress for Quiet {
    fn log(&mut self, _m: &Metrics) {}
    fn note(&mut self, _msg: &str) {}
}

fn cfg(loss: GanLoss, name: &str, steps: u64) -> TrainConfig {
    let out = std::env::temp_dir().join(format!("gangpu-penalty-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let model = ModelConfig { nz: 16, ngf: 8, ndf: 8, batch: 16, ..ModelConfig::default() };
    let mut c = TrainConfig { loss, seed: 5, log_every: 1, sample_every: 1000, checkpoint_every: 1000, ..TrainConfig::new(model, "mnist", steps, out) };
    c.apply_loss_defaults(&|_| false);
    c
}

fn metrics(c: &TrainConfig) -> Vec<Metrics> {
    std::fs::read_to_string(c.out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Trains `c` for its steps, then the same run to `c.steps / 2` with a checkpoint there, resumed
/// to the end: the rows after the checkpoint must be equal.
fn resumes_exactly(c: &TrainConfig, what: &str) -> Vec<Metrics> {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap_or_else(|err| panic!("{what}: {err:#}"));
    let half = c.steps / 2;
    let mut b = c.clone();
    b.out = c.out.with_extension("resumed");
    let _ = std::fs::remove_dir_all(&b.out);
    b.steps = half;
    let mut g1 = Gan::new(e, b.clone(), Some(&ds)).unwrap();
    train::train(e, &mut g1, &mut Quiet, &AtomicBool::new(false)).unwrap();
    b.steps = c.steps;
    let mut g2 = Gan::new(e, b.clone(), Some(&ds)).unwrap();
    g2.load_checkpoint(e, &RawCheckpoint::read(&b.out.join("checkpoint.safetensors")).unwrap()).unwrap();
    train::train(e, &mut g2, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let (ma, mb) = (metrics(c), metrics(&b));
    let pick = |m: &[Metrics]| m.iter().filter(|r| r.step > half).map(|r| (r.step, r.loss_d, r.loss_g, r.penalty_gp, r.penalty_r1)).collect::<Vec<_>>();
    assert_eq!(pick(&ma), pick(&mb), "{what}: the resumed run must continue exactly");
    assert!(!pick(&ma).is_empty());
    ma
}

#[test]
fn wgan_gp_trains_logs_its_penalty_and_resumes_exactly() {
    let c = cfg(GanLoss::WganGp, "gp", 12);
    assert_eq!((c.gp_weight, c.d_norm, c.clip, c.critic_steps), (Some(10.0), Some(DNorm::None), None, 5), "WGAN-GP's published defaults");
    let m = resumes_exactly(&c, "WGAN-GP");
    for r in &m {
        let (p, g) = (r.penalty_gp.expect("WGAN-GP logs its penalty"), r.grad_norm_gp.expect("and |grad D(x^)|"));
        assert!(r.finite() && p.is_finite() && p >= 0.0 && g.is_finite() && g > 0.0, "step {}: penalty {p}, |grad| {g}", r.step);
        assert!(r.penalty_r1.is_none(), "no R1 unless asked");
    }
    // the critic starts with a gradient far from norm 1 (DCGAN's N(0, 0.02) weights); the
    // penalty pulls it towards 1 over the first steps
    let (first, last) = (m[0].grad_norm_gp.unwrap(), m.last().unwrap().grad_norm_gp.unwrap());
    assert!((last - 1.0).abs() < (first - 1.0).abs(), "|grad D(x^)| from {first} to {last}: not pulled towards 1");
}

#[test]
fn r1_with_hinge_and_spectral_norm_is_lazy_and_resumes_exactly() {
    let mut c = cfg(GanLoss::Hinge, "r1", 12);
    c.spectral_norm = true;
    c.d_norm = Some(DNorm::None);
    c.r1_gamma = Some(1.0);
    c.r1_every = 4;
    let m = resumes_exactly(&c, "hinge + spectral norm + R1");
    // one D step per iteration: R1 runs at D steps 0, 4, 8, i.e. in the iterations of steps 1, 5
    // and 9, whose rows log it; the values change from one R1 step to the next
    let ran: Vec<u64> = m.iter().filter(|r| r.penalty_r1.is_some()).map(|r| r.step).collect();
    assert_eq!(ran, vec![1, 5, 9], "rows with R1 (every 4th D step)");
    let vals: Vec<f32> = m.iter().filter_map(|r| r.penalty_r1).collect();
    assert!(vals.iter().all(|v| v.is_finite() && *v > 0.0) && vals[0] != vals[1] && vals[1] != vals[2], "R1 penalties {vals:?}");
    assert!(m.iter().all(|r| r.penalty_r1.is_some() == r.grad_norm_r1.is_some()));
}

#[test]
fn acgan_takes_the_gradient_penalty_on_its_adversarial_output() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let mut c = cfg(GanLoss::WganGp, "acgan", 4);
    c.model.cond = Cond::Acgan;
    c.model.classes = 10;
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    assert!(metrics(&c).iter().all(|r| r.finite() && r.penalty_gp.is_some_and(f32::is_finite)));
}

#[test]
fn penalties_are_refused_where_they_cannot_be_honoured() {
    let refuse = |c: TrainConfig, want: &str| {
        let err = c.validate().expect_err("must be refused").to_string();
        assert!(err.contains(want), "expected '{want}' in: {err}");
    };
    let mut r1_bn = cfg(GanLoss::Hinge, "r1-bn", 1);
    r1_bn.r1_gamma = Some(1.0);
    refuse(r1_bn, "--d-norm none");
    let mut gp_bce = cfg(GanLoss::Bce, "gp-bce", 1);
    gp_bce.gp_weight = Some(10.0);
    refuse(gp_bce, "--gp-weight is the gradient penalty of --loss wgan-gp");
    let mut gp_clip = cfg(GanLoss::WganGp, "gp-clip", 1);
    gp_clip.clip = Some(0.01);
    refuse(gp_clip, "drop --clip");
    let mut gp_bn = cfg(GanLoss::WganGp, "gp-bn", 1);
    gp_bn.d_norm = Some(DNorm::Batch);
    refuse(gp_bn, "--d-norm none");
    let mut gp_cgan = cfg(GanLoss::WganGp, "gp-cgan", 1);
    gp_cgan.model.cond = Cond::Cgan;
    gp_cgan.model.classes = 10;
    refuse(gp_cgan, "--cond cgan");
    let mut every0 = cfg(GanLoss::Hinge, "every0", 1);
    every0.r1_every = 0;
    refuse(every0, "--r1-every");
}
