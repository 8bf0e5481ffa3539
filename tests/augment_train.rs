//! `--augment` and `--augment-p auto` in the trainer: what D sees is the reference augmentation of
//! the real batch and of G's batch with the draws the kernels made, G's output gradient is the
//! augmentation's backward pass of D's input gradient, p = 0 trains exactly as no augmentation,
//! ADA raises p when D overfits a small set, the run resumes bit for bit, and bad settings are
//! refused naming the flag.

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::data;
use gangpu::gan::augment::AugmentP;
use gangpu::gan::GanLoss;
use gangpu::kernels::{self, Augmentation};
use gangpu::models::{Cond, ModelConfig};
use gangpu::reference;
use gangpu::train::{self, Gan, Metrics, TrainConfig};
use std::sync::atomic::AtomicBool;

const ALL: [Augmentation; 3] = [Augmentation::Color, Augmentation::Translation, Augmentation::Cutout];

struct Quiet;
impl train::Progress for Quiet {
    fn log(&mut self, _m: &Metrics) {}
    fn note(&mut self, _msg: &str) {}
}

fn cfg(name: &str, steps: u64) -> TrainConfig {
    let out = std::env::temp_dir().join(format!("gangpu-augment-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let model = ModelConfig { nz: 16, ngf: 8, ndf: 8, batch: 16, ..ModelConfig::default() };
    TrainConfig { augment: ALL.to_vec(), seed: 3, log_every: 1, sample_every: 1000, checkpoint_every: 1000, ..TrainConfig::new(model, "mnist", steps, out) }
}

fn rows(c: &TrainConfig) -> Vec<Metrics> {
    let text = std::fs::read_to_string(c.out.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines().filter(|l| !l.contains("\"kind\"")).map(|l| serde_json::from_str(l).expect("metrics row")).collect()
}

#[test]
fn d_sees_the_augmented_batches_and_g_gets_the_gradient_through_them() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).expect("mnist");
    let c = cfg("wiring", 1);
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).expect("gan");
    gan.submit_iteration(e, None);
    e.gpu.wait().expect("wait");
    let a = gan.augmenter.as_ref().expect("an augmenter with --augment");
    let shape = [16, 1, 28, 28];
    let (cut, _) = (kernels::augment_extents(28).1 as usize, 0);
    let real = download(e, &gan.real);
    let draws_real = download(e, &a.draws_real);
    assert_close(&download(e, &a.real), &reference::augment(&real, shape, &draws_real, (cut, cut)), 1e-5, 1e-5, "D's real batch vs the reference");
    let fake = download(e, gan.generated());
    let draws_fake = download(e, &a.draws_fake);
    assert_close(&download(e, &a.fake), &reference::augment(&fake, shape, &draws_fake, (cut, cut)), 1e-5, 1e-5, "D's view of G's batch vs the reference");
    let d_in_grad = download(e, &a.fake_grad);
    assert!(d_in_grad.iter().any(|v| *v != 0.0), "D's input gradient is zero");
    let want = reference::augment_backward(&d_in_grad, shape, &draws_fake, (cut, cut));
    assert_close(&download(e, &a.g_out_grad), &want, 1e-6, 1e-4, "G's output gradient vs the augmentation's backward of D's input gradient");
    // both batches were drawn fresh (p = 1: every sample has a shift or a cut square or a colour change)
    assert_ne!(draws_real, draws_fake, "the real and the generated batch share draws");
}

#[test]
fn probability_zero_trains_exactly_as_no_augmentation() {
    // p = 0 makes every transform the identity, bit for bit, so each way the augmented batches are
    // wired (label planes attached after augmentation and sliced off before its backward pass,
    // ACGAN's class loss, WGAN-GP's interpolates) must give the unaugmented run's weights
    let e = engine();
    let ds = data::load("mnist", 28, 1).expect("mnist");
    let variants: [(&str, Cond, Option<GanLoss>); 4] =
        [("bce", Cond::None, None), ("cgan", Cond::Cgan, None), ("acgan", Cond::Acgan, None), ("wgan-gp", Cond::None, Some(GanLoss::WganGp))];
    for (name, cond, loss) in variants {
        let mut params = vec![];
        for augment in [true, false] {
            let mut c = cfg(&format!("p0-{name}-{augment}"), 3);
            c.model.cond = cond;
            c.model.classes = if cond == Cond::None { 0 } else { 10 };
            if let Some(l) = loss {
                c.loss = l;
                c.apply_loss_defaults(&|_| false);
            }
            if augment {
                c.augment_p = Some(AugmentP::Fixed(0.0));
            } else {
                c.augment = vec![];
            }
            let mut gan = Gan::new(e, c, Some(&ds)).expect("gan");
            for _ in 0..3 {
                gan.submit_iteration(e, None);
            }
            params.push((gan.g.params.all().read(&e.gpu).expect("G"), gan.d.params.all().read(&e.gpu).expect("D")));
        }
        assert!(params[0].0 == params[1].0, "{name}: G after 3 iterations with --augment-p 0 differs from no augmentation");
        assert!(params[0].1 == params[1].1, "{name}: D after 3 iterations with --augment-p 0 differs from no augmentation");
    }
}

#[test]
fn ada_raises_p_on_a_small_set_and_resumes_exactly() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).expect("mnist");
    let mut c = cfg("ada", 40);
    c.data_limit = Some(32);
    c.augment_p = Some(AugmentP::Auto);
    c.ada_kimg = Some(1.0);
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).expect("gan");
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).expect("train");
    let r = rows(&c);
    let step = kernels::ada_step_size(16, 4, 1.0) as f64;
    for m in &r {
        let (p, rt) = (m.augment_p.expect("p logged") as f64, m.ada_rt.expect("r_t logged") as f64);
        assert!((0.0..=1.0).contains(&p) && (-1.0..=1.0).contains(&rt), "step {}: p {p}, r_t {rt}", m.step);
        // p moves by whole steps from 0
        assert!(((p / step).round() * step - p).abs() < 1e-4 || p == 1.0, "step {}: p {p} is not a multiple of {step}", m.step);
    }
    let top = r.iter().map(|m| m.augment_p.unwrap_or(0.0)).fold(0.0, f32::max);
    assert!(top >= 0.25, "D on 32 images should push p up: at most {top} in 40 iterations");

    // the same run in two halves
    let mut b = c.clone();
    b.out = c.out.with_extension("halves");
    let _ = std::fs::remove_dir_all(&b.out);
    b.steps = 20;
    let mut g1 = Gan::new(e, b.clone(), Some(&ds)).expect("gan");
    train::train(e, &mut g1, &mut Quiet, &AtomicBool::new(false)).expect("first half");
    b.steps = 40;
    let mut g2 = Gan::new(e, b.clone(), Some(&ds)).expect("gan");
    g2.load_checkpoint(e, &RawCheckpoint::read(&b.out.join("checkpoint.safetensors")).expect("read")).expect("resume");
    train::train(e, &mut g2, &mut Quiet, &AtomicBool::new(false)).expect("second half");
    let a1 = gan.augmenter.as_ref().map(|a| a.ada.read(&e.gpu).expect("ada"));
    let a2 = g2.augmenter.as_ref().map(|a| a.ada.read(&e.gpu).expect("ada"));
    assert_eq!(a1, a2, "ADA's state after 40 iterations, straight vs resumed at 20");
    assert!(gan.g.params.all().read(&e.gpu).expect("G") == g2.g.params.all().read(&e.gpu).expect("G"), "G, straight vs resumed");
}

#[test]
fn bad_augmentation_settings_are_refused() {
    let refuse = |c: TrainConfig, want: &str| {
        let err = c.validate().err().unwrap_or_else(|| panic!("accepted; expected an error naming {want}"));
        assert!(format!("{err:#}").contains(want), "{err:#} does not name {want}");
    };
    let mut c = cfg("bad", 1);
    c.augment = vec![];
    c.augment_p = Some(AugmentP::Fixed(0.5));
    refuse(c, "--augment-p sets how often the --augment transforms apply");
    let mut c = cfg("bad", 1);
    c.ada_kimg = Some(10.0);
    refuse(c, "need --augment-p auto");
    let mut c = cfg("bad", 1);
    c.augment_p = Some(AugmentP::Auto);
    c.ada_target = Some(1.0);
    refuse(c, "--ada-target must be in (-1, 1)");
    assert!("1.5".parse::<AugmentP>().is_err() && "often".parse::<AugmentP>().is_err());
    assert_eq!("auto".parse::<AugmentP>(), Ok(AugmentP::Auto));
    assert_eq!("0.25".parse::<AugmentP>(), Ok(AugmentP::Fixed(0.25)));
    let e = engine();
    let ds = data::load("mnist", 28, 1).expect("mnist");
    let mut c = cfg("limit", 1);
    c.data_limit = Some(20_000);
    let err = Gan::new(e, c, Some(&ds)).err().expect("a limit above the set's size accepted");
    assert!(format!("{err:#}").contains("holds only 10000 images"), "{err:#}");
}
