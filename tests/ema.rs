//! The moving average of G (`--ema-kimg`): the update kernel against the host recursion, the
//! half-life schedule, and a run whose checkpoint carries both generators, resumes bit-exactly,
//! and samples the average unless asked not to.

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::data;
use gangpu::kernels::{self, OptParams};
use gangpu::models::ModelConfig;
use gangpu::train::{self, ema_beta, Gan, Generator, Metrics, TrainConfig, EMA_RAMPUP};
use std::sync::atomic::AtomicBool;

struct Quiet;
impl train::Progress for Quiet {
    fn log(&mut self, _m: &Metrics) {}
    fn note(&mut self, _msg: &str) {}
}

#[test]
fn ema_kernel_follows_the_host_recursion() {
    let e = engine();
    let n = 1003;
    let (kimg, batch) = (0.2, 16);
    let mut live = rand_vec(n, 1, -1.0, 1.0);
    let mut avg = rand_vec(n, 2, -1.0, 1.0);
    let (lt, at) = (upload(e, &[n], &live, "live"), upload(e, &[n], &avg, "avg"));
    let d = kernels::ema_update(e, &lt, &at).expect("ema");
    for step in 1..=6u64 {
        let beta = ema_beta(kimg, batch, step);
        d.set_params(&e.gpu, &OptParams::ema(n, beta));
        e.run(&[&d]).expect("run");
        // the host: avg = live + beta (avg - live) with beta as f32, as the kernel reads it
        let b = beta as f32 as f64;
        avg = avg.iter().zip(&live).map(|(a, l)| l + b * (a - l)).collect();
        live = rand_vec(n, 10 + step, -1.0, 1.0);
        lt.write(&e.gpu, &to_f32(&live)).expect("next live weights");
    }
    assert_close(&download(e, &at), &avg, 1e-6, 1e-5, "EMA after 6 steps vs the host recursion");
}

#[test]
fn ema_beta_has_the_half_life_it_is_given() {
    let (kimg, batch) = (10.0, 64usize);
    // late in training the half-life is kimg thousand images: beta^(10000 / 64) = 1/2
    let late = ema_beta(kimg, batch, 100_000);
    assert!((late.powf(kimg * 1000.0 / batch as f64) - 0.5).abs() < 1e-9, "beta {late}");
    // early on it is EMA_RAMPUP of the images seen: after 50 steps of 64, 160 images
    let early = ema_beta(kimg, batch, 50);
    let half_life = 50.0 * batch as f64 * EMA_RAMPUP;
    assert!((early.powf(half_life / batch as f64) - 0.5).abs() < 1e-9, "beta {early}");
    assert!(early < late, "the average follows G closely at first");
}

fn cfg(name: &str, steps: u64) -> TrainConfig {
    let out = std::env::temp_dir().join(format!("gangpu-ema-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let model = ModelConfig { nz: 16, ngf: 8, ndf: 8, batch: 16, ..ModelConfig::default() };
    TrainConfig { ema_kimg: 0.05, seed: 4, log_every: 1, sample_every: 1000, checkpoint_every: 1000, ..TrainConfig::new(model, "mnist", steps, out) }
}

fn tensors(path: &std::path::Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("checkpoint");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut v: Vec<(String, Vec<u8>)> = st.tensors().into_iter().filter(|(n, _)| n.starts_with(prefix)).map(|(n, t)| (n, t.data().to_vec())).collect();
    v.sort();
    v
}

#[test]
fn a_run_with_ema_checkpoints_both_resumes_exactly_and_samples_the_average() {
    let e = engine();
    let ds = data::load("mnist", 28, 1).unwrap();
    let c = cfg("full", 10);
    let mut gan = Gan::new(e, c.clone(), Some(&ds)).unwrap();
    train::train(e, &mut gan, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let ck = c.out.join("checkpoint.safetensors");
    let (g, g_ema) = (tensors(&ck, "netG."), tensors(&ck, "netG_ema."));
    assert!(!g_ema.is_empty(), "the checkpoint carries netG_ema.*");
    let names = |v: &[(String, Vec<u8>)], p: &str| v.iter().map(|(n, _)| n.trim_start_matches(p).to_string()).collect::<Vec<_>>();
    assert_eq!(names(&g, "netG."), names(&g_ema, "netG_ema."), "the average has G's PyTorch names");
    assert_ne!(g, g_ema.iter().map(|(n, b)| (n.replace("netG_ema.", "netG."), b.clone())).collect::<Vec<_>>(), "the average differs from G");

    // the same run to step 5, resumed to 10: both generators equal, bit for bit
    let mut b = c.clone();
    b.out = c.out.with_extension("resumed");
    let _ = std::fs::remove_dir_all(&b.out);
    b.steps = 5;
    let mut g1 = Gan::new(e, b.clone(), Some(&ds)).unwrap();
    train::train(e, &mut g1, &mut Quiet, &AtomicBool::new(false)).unwrap();
    b.steps = 10;
    let mut g2 = Gan::new(e, b.clone(), Some(&ds)).unwrap();
    g2.load_checkpoint(e, &RawCheckpoint::read(&b.out.join("checkpoint.safetensors")).unwrap()).unwrap();
    train::train(e, &mut g2, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let ck2 = b.out.join("checkpoint.safetensors");
    assert_eq!(tensors(&ck2, "netG_ema."), g_ema, "the resumed run's average");
    assert_eq!(tensors(&ck2, "netG."), g, "the resumed run's G");

    // sampling: the average by default, the trained G with --no-ema (Generator::from_checkpoint)
    let raw = RawCheckpoint::read(&ck).unwrap();
    let (avg, _, which) = Generator::from_checkpoint(e, &raw, None, true).unwrap();
    assert_eq!(which, "netG_ema");
    let (trained, _, which) = Generator::from_checkpoint(e, &raw, None, false).unwrap();
    assert_eq!(which, "netG");
    let (sa, st) = (avg.sample_seeded(e, 3, 0).unwrap(), trained.sample_seeded(e, 3, 0).unwrap());
    assert_ne!(sa, st, "the average and the trained G draw different images");
    // the training run's own sampler is the average: the same images from the same noise
    assert_eq!(Generator::of(e, &gan).unwrap().sample_seeded(e, 3, 0).unwrap(), sa, "samples of the run use the average");
}
