//! The lab's learning results on the software adapter, each seeded, with thresholds chosen far
//! from both the untrained and the typical trained value; and its measures on known samples.

mod common;
use common::*;
use gangpu::lab::{self, Dist, GLoss, GanLoss, LabConfig, LabOpt};

/// The GPU tests here each train for tens of seconds; run them one at a time so each gets the
/// adapter to itself (a CPU adapter shares the machine's cores between concurrent tests).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gangpu-lab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn measures_are_right_on_known_samples() {
    let a: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
    let b: Vec<f32> = a.iter().map(|v| v + 2.0).collect();
    assert!((lab::wasserstein_1d(&a, &b) - 2.0).abs() < 1e-6, "W1 of a shift is the shift");
    assert!(lab::wasserstein_1d(&a, &a).abs() < 1e-12);
    // 2-D: a shift by (3, 4) has sliced W1 = 5 * mean |cos| over directions = 5 * 2/pi
    let p: Vec<f32> = (0..2000).flat_map(|i| [(i % 37) as f32 * 0.01, (i % 41) as f32 * 0.01]).collect();
    let q: Vec<f32> = p.chunks_exact(2).flat_map(|c| [c[0] + 3.0, c[1] + 4.0]).collect();
    let sw = lab::sliced_wasserstein(&p, &q, 64);
    assert!((sw - 5.0 * 2.0 / std::f64::consts::PI).abs() < 0.02, "sliced W of a (3, 4) shift: {sw}");
    // JS: identical histograms 0, disjoint ones ln 2
    assert!(lab::js_histograms(&a, &a, 1, -5.0, 5.0).abs() < 1e-12);
    assert!((lab::js_histograms(&a, &b, 1, -5.0, 5.0) - std::f64::consts::LN_2).abs() < 1e-12);
    // modes: points on 3 of 8 modes
    let (modes, std) = Dist::EightGaussians.modes().unwrap();
    let pts: Vec<f32> = (0..300)
        .flat_map(|i| {
            let m = modes[i % 3];
            [m[0] as f32, m[1] as f32]
        })
        .collect();
    assert_eq!(lab::modes_covered(&pts, &modes, std), 3);
}

/// A 1-D two-component mixture (modes at -2 and 2). G starts near 0, where W1 is about 2; a G
/// that found only one mode moves half the mass 4 units too far (W1 about 2). Typical trained
/// W1 is 0.2; the bound 0.4 needs both modes found with about the right widths.
#[test]
fn bce_gan_learns_a_1d_gaussian_mixture() {
    let _one = serial();
    let e = engine();
    let out = tmp("mixture");
    let cfg = LabConfig { steps: 800, log_every: 800, frame_every: 400, out: out.clone(), ..LabConfig::defaults(Dist::Mixture, GanLoss::Bce) };
    let run = lab::run(e, cfg, true).unwrap();
    let w1 = run.metrics.last().unwrap().w1.unwrap();
    assert!(w1 < 0.4, "W1 after 800 steps is {w1}, expected < 0.4");
    for f in ["metrics.jsonl", "run.gif", "measures.png", "frames/step_000000.png", "frames/step_000800.png", "config.json"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
}

/// WGAN (clipped critic, RMSProp, 5 critic steps) on 8 Gaussians of std 0.1 on a circle of
/// radius 2: a mode counts when a quarter of its fair share of 2048 samples lies within 0.3 of it.
/// This seed covers 0 modes before step 600, 6 at 700, 7 at 800 and 8 at 900 (7 or 8 after that);
/// the test asks for at least 7 of 8 at step 900 (about 45 s on lavapipe).
#[test]
fn wgan_covers_the_8_gaussians() {
    let _one = serial();
    let e = engine();
    let cfg = LabConfig { steps: 900, log_every: 900, frame_every: 900, out: tmp("8g"), ..LabConfig::defaults(Dist::EightGaussians, GanLoss::Wgan) };
    let run = lab::run(e, cfg, true).unwrap();
    let m = run.metrics.last().unwrap();
    assert!(m.modes_covered.unwrap() >= 7, "modes covered: {:?} of 8", m.modes_covered);
    assert!(m.sliced_w.unwrap() < 0.25, "sliced W {:?}", m.sliced_w);
}

/// WGAN-GP (gradient penalty, lambda 0.1 as the paper's toy code, Adam 1e-3 betas (0, 0.9), 5
/// critic steps) on the same 8 Gaussians: this seed covers 5 of 8 at step 200 and all 8 from step
/// 400 on (sliced W 0.11 at 400, 0.077 at 1000); the test asks for all 8 at step 500, and that the
/// penalty kept the critic's gradient norm near 1 at the interpolates (all 8 modes are covered
/// without the penalty's gradient too, but |grad D(x^)| grows to 59).
#[test]
fn wgan_gp_covers_the_8_gaussians() {
    let _one = serial();
    let e = engine();
    let cfg = LabConfig { steps: 500, log_every: 500, frame_every: 500, out: tmp("8g-gp"), ..LabConfig::defaults(Dist::EightGaussians, GanLoss::WganGp) };
    assert_eq!(cfg.gp_weight, gangpu::lab::LAB_GP_WEIGHT);
    let run = lab::run(e, cfg, true).unwrap();
    let m = run.metrics.last().unwrap();
    assert_eq!(m.modes_covered, Some(8), "modes covered of 8");
    assert!(m.sliced_w.unwrap() < 0.2, "sliced W {:?}", m.sliced_w);
    // the penalty holds the critic's gradient at the interpolates near 1 (measured 2.16 at step
    // 500); without the penalty's gradient the same run reaches 59
    let norm = m.grad_norm_gp.expect("WGAN-GP logs |grad D(x^)|");
    assert!(norm < 4.0, "|grad D(x^)| = {norm}: the gradient penalty does not hold the critic");
    assert!(m.penalty_gp.is_some_and(|p| p > 0.0 && p < 1.0), "penalty {:?}", m.penalty_gp);
}

/// The lecture's argument: on disjoint supports, after D is trained (300 warm-up steps), the BCE
/// discriminator is saturated (D(x) near 1, D(G(z)) near 0, JS = ln 2) and G's gradient under the
/// minimax loss is tens of times smaller than under the WGAN critic; with plain gradient descent
/// on both, G barely moves under BCE in 200 steps (W1 stays above 2.5, from 3.5) while under WGAN
/// it reaches W1 < 0.5 within 100 steps, and the critic's estimate tracks the true W1.
#[test]
fn compare_shows_bce_saturating_and_wgan_moving() {
    let _one = serial();
    let e = engine();
    let base = LabConfig {
        g_loss: GLoss::Minimax,
        optimizer: LabOpt::Sgd,
        lr: 0.05,
        d_steps: 5,
        d_warmup: 300,
        steps: 200,
        log_every: 25,
        frame_every: 200,
        out: tmp("compare"),
        ..LabConfig::defaults(Dist::Disjoint, GanLoss::Wgan)
    };
    let s = lab::compare(e, base.clone(), true).unwrap();
    eprintln!("{s:?}");
    assert!(s.bce_start_d_real > 0.99 && s.bce_start_d_fake < 0.01, "BCE's D should start saturated: {} / {}", s.bce_start_d_real, s.bce_start_d_fake);
    assert!((s.bce_start_js - std::f64::consts::LN_2).abs() < 1e-6, "JS should be flat at ln 2: {}", s.bce_start_js);
    assert!(s.bce_early_g_grad_norm < 0.1 * s.wgan_early_g_grad_norm, "G's gradient: BCE {} vs WGAN {}", s.bce_early_g_grad_norm, s.wgan_early_g_grad_norm);
    assert!(s.bce_final_w1 > 2.5 && s.bce_steps_to_w1_below_half.is_none(), "BCE's G should stay stuck, W1 = {}", s.bce_final_w1);
    assert!(s.wgan_steps_to_w1_below_half.is_some_and(|t| t <= 100), "WGAN's G should reach P_data fast: {:?}", s.wgan_steps_to_w1_below_half);
    assert!(s.wgan_final_w1 < 0.6, "WGAN's W1 = {}", s.wgan_final_w1);
    assert!(s.wgan_critic_w1_correlation > 0.9, "critic estimate vs W1 correlation {}", s.wgan_critic_w1_correlation);
    assert!(base.out.join("compare.png").is_file() && base.out.join("bce/run.gif").is_file() && base.out.join("wgan/run.gif").is_file());
}

/// The lab offers every objective the trainer has (one table, `GanLoss::terms`): LSGAN, hinge and
/// BGAN each move G from near 0 onto N(2, 0.5^2) (W1 about 2 at the start) to within W1 < 0.5 in
/// 1,000 steps. (BGAN's G seeks D's decision boundary and overshoots on the way: this seed has W1
/// 3.7 at step 400, 0.33 at 1,000.)
#[test]
fn every_trainer_objective_trains_in_the_lab() {
    let _one = serial();
    let e = engine();
    for loss in [GanLoss::Lsgan, GanLoss::Hinge, GanLoss::Bgan] {
        let cfg = LabConfig { steps: 1000, log_every: 100, frame_every: 1000, out: tmp(&format!("{loss:?}")), ..LabConfig::defaults(Dist::Gaussian, loss) };
        let run = lab::run(e, cfg, true).unwrap_or_else(|err| panic!("{loss:?}: {err:#}"));
        assert!(run.metrics.iter().all(|m| m.loss_d.is_finite() && m.loss_g.is_finite()), "{loss:?}: non-finite losses");
        let w1 = run.metrics.last().unwrap().w1.unwrap();
        eprintln!("{loss:?}: W1 after 1,000 steps {w1}");
        assert!(w1 < 0.5, "{loss:?}: W1 after 1,000 steps is {w1}; G did not move onto P_data");
    }
}
