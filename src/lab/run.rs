//! A lab run (frames, GIF, measures, metrics.jsonl) and `--compare`: BCE against WGAN from the
//! same start, the lecture's argument as one command.

use super::*;
use crate::charts::{self, Panel};
use crate::imageout;
use anyhow::Context;

/// report.html of a lab run: its GIF and last frame, the measures as SVG, the latest row.
fn write_report(e: &Engine, cfg: &LabConfig, metrics: &[LabMetrics], panels: &[Panel], running: bool) -> Result<()> {
    let latest = match metrics.last().map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(o))) => o.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        _ => vec![],
    };
    let status = format!("{} steps on {}", imageout::thousands(cfg.steps), e.gpu.adapter);
    let r = crate::report::Report {
        title: format!("gangpu lab: {}", cfg.out.display()),
        config_json: serde_json::to_string_pretty(cfg)?,
        highlights: vec![("training, frame by frame".into(), cfg.out.join("run.gif"))],
        grids: crate::report::grids_in(&cfg.out.join("frames")),
        curves_svg: Some(charts::svg(panels, 2, 520, 300)?),
        latest,
        running,
        status: &status,
    };
    crate::report::write(&cfg.out.join("report.html"), &r)
}

/// What a lab run leaves behind.
pub struct LabRun {
    pub metrics: Vec<LabMetrics>,
    pub last_frame: Canvas,
    /// The first frame (right after D's warm-up, when there is one).
    pub first_frame: Canvas,
    /// The step it reached: `cfg.steps`, or fewer when a signal stopped it.
    pub steps_done: u64,
}

/// Trains a lab to `cfg.steps`, writing frames/, run.gif, metrics.jsonl and measures.png into
/// `cfg.out`.
pub fn run(e: &Engine, cfg: LabConfig, quiet: bool) -> Result<LabRun> {
    let out = cfg.out.clone();
    std::fs::create_dir_all(out.join("frames")).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&serde_json::json!({"config": &cfg, "adapter": &e.gpu.adapter}))?)
        .context("writing config.json")?;
    let mut lab = Lab::new(e, cfg.clone())?;
    lab.warm_up(e)?;
    let mut metrics = Vec::new();
    let mut frames = Vec::new();
    let metrics_path = out.join("metrics.jsonl");
    let _ = std::fs::remove_file(&metrics_path);
    let mut last_frame = Canvas::new(1, 1, [255, 255, 255]);
    let name = cfg.loss.objective().display;
    while lab.step <= cfg.steps {
        let s = lab.step;
        let log_now = s % cfg.log_every == 0 || s == cfg.steps;
        let frame_now = s % cfg.frame_every == 0 || s == cfg.steps;
        if log_now || frame_now {
            let (fake, real, grid) = lab.evaluate(e)?;
            if (s > 0 || cfg.d_warmup > 0) && log_now {
                let m = lab.metrics(e, &fake, &real)?;
                if !(m.loss_d.is_finite() && m.loss_g.is_finite()) {
                    bail!("the lab diverged at step {s} (non-finite loss); try a lower --lr");
                }
                crate::run_folder::append_json_line(&metrics_path, &m)?;
                if !quiet {
                    eprintln!("{}", describe(&m));
                }
                metrics.push(m);
            }
            if frame_now {
                let title = if s == 0 && cfg.d_warmup > 0 {
                    format!("{name}, step 0: D trained {} steps, G frozen", cfg.d_warmup)
                } else {
                    format!("{name}, step {}", imageout::thousands(s))
                };
                let f = lab.frame(&fake, &real, &grid, &title)?;
                f.save(&out.join("frames").join(format!("step_{s:06}.png")))?;
                // the page follows the run (and reloads itself) until the final write below
                if s < cfg.steps {
                    write_report(e, &cfg, &metrics, &measures_panels(&metrics, cfg.dist.dim(), cfg.loss), true)?;
                }
                last_frame = f;
                frames.push(last_frame_clone(&last_frame));
            }
        }
        if s == cfg.steps {
            break;
        }
        // a signal (SIGTERM, SIGHUP, Ctrl-C) ends the run after the step in flight, figures written
        if crate::signals::requested() {
            if !quiet {
                eprintln!("stopping at step {s}: writing the lab's figures so far");
            }
            break;
        }
        lab.iterate(e)?;
    }
    let steps_done = lab.step;
    imageout::save_gif(&out.join("run.gif"), &frames, 150)?;
    let panels = measures_panels(&metrics, cfg.dist.dim(), cfg.loss);
    charts::save_png(&out.join("measures.png"), &panels, 2, 520, 300)?;
    write_report(e, &cfg, &metrics, &panels, false)?;
    let first_frame = frames.first().map(last_frame_clone).unwrap_or_else(|| last_frame_clone(&last_frame));
    Ok(LabRun { metrics, last_frame, first_frame, steps_done })
}

fn last_frame_clone(c: &Canvas) -> Canvas {
    Canvas { w: c.w, h: c.h, px: c.px.clone() }
}

pub fn describe(m: &LabMetrics) -> String {
    let mut s = format!("[{}] loss_D {:.4} loss_G {:.4} D(real) {:.3} D(fake) {:.3}", m.step, m.loss_d, m.loss_g, m.d_real, m.d_fake);
    if let Some(w) = m.w1 {
        s += &format!(" W1 {w:.4}");
    }
    if let Some(w) = m.sliced_w {
        s += &format!(" SW {w:.4}");
    }
    if let (Some(c), Some(t)) = (m.modes_covered, m.modes_total) {
        s += &format!(" modes {c}/{t}");
    }
    if let Some(c) = m.critic_estimate {
        s += &format!(" critic {c:.4}");
    }
    if let (Some(p), Some(g)) = (m.penalty_gp, m.grad_norm_gp) {
        s += &format!(" GP {p:.4} |grad D(x^)| {g:.3}");
    }
    s + &format!(" JS {:.4} |grad G| {:.3e}", m.js, m.g_grad_norm)
}

fn series(ms: &[LabMetrics], f: impl Fn(&LabMetrics) -> Option<f64>) -> Vec<(f64, f64)> {
    ms.iter().filter_map(|m| f(m).map(|v| (m.step as f64, v))).collect()
}

/// The measures over training: distance, JS, G's gradient norm, losses.
pub fn measures_panels(ms: &[LabMetrics], dim: usize, loss: GanLoss) -> Vec<Panel> {
    let dist_name = if dim == 1 { "W1 (exact, 1-D)" } else { "sliced W (64 directions)" };
    let mut dist = vec![charts::series(dist_name, charts::BLUE, series(ms, |m| m.w1.or(m.sliced_w)))];
    if loss.objective().logs_critic_estimate {
        dist.push(charts::series("critic's estimate", charts::RED, series(ms, |m| m.critic_estimate.map(|v| v as f64))));
    }
    vec![
        Panel::new("Distance from P_G to P_data", "step", "distance", dist).linear(),
        Panel::new(
            "JS divergence of the histograms",
            "step",
            "JS (nats)",
            vec![
                charts::series("JS", charts::PURPLE, series(ms, |m| Some(m.js))),
                charts::series("ln 2 (no overlap)", charts::GREY, series(ms, |_| Some(std::f64::consts::LN_2))),
            ],
        )
        .span(0.0, 0.75)
        .linear(),
        Panel::new("Norm of G's gradient", "step", "|grad G|", vec![charts::series("|grad G|", charts::ORANGE, series(ms, |m| Some(m.g_grad_norm)))]),
        Panel::new(
            "Losses",
            "step",
            "loss",
            vec![
                charts::series("loss D", charts::BLUE, series(ms, |m| Some(m.loss_d as f64))),
                charts::series("loss G", charts::ORANGE, series(ms, |m| Some(m.loss_g as f64))),
            ],
        )
        .linear(),
    ]
}

/// Summary of `--compare`.
#[derive(Clone, Debug, Serialize)]
pub struct CompareSummary {
    pub steps: u64,
    /// Right after D's warm-up: how saturated the BCE discriminator is.
    pub bce_start_d_real: f32,
    pub bce_start_d_fake: f32,
    pub bce_start_js: f64,
    /// Mean norm of G's gradient over the first quarter of training (D saturated for BCE).
    pub bce_early_g_grad_norm: f64,
    pub wgan_early_g_grad_norm: f64,
    /// W1 after a quarter of the steps, and at the end.
    pub bce_quarter_w1: f64,
    pub wgan_quarter_w1: f64,
    pub bce_final_w1: f64,
    pub wgan_final_w1: f64,
    /// First logged step with W1 < 0.5 (None: never within the run).
    pub bce_steps_to_w1_below_half: Option<u64>,
    pub wgan_steps_to_w1_below_half: Option<u64>,
    /// Correlation over training between the critic's estimate and the true W1.
    pub wgan_critic_w1_correlation: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-300)
}

/// The lecture's argument as one run: BCE and WGAN on disjoint supports from the same start.
pub fn compare(e: &Engine, base: LabConfig, quiet: bool) -> Result<CompareSummary> {
    let out = base.out.clone();
    let (bce, wgan) = LabConfig::compare_pair(&base);
    if !quiet {
        eprintln!("== BCE ({:?} G loss)", bce.g_loss);
    }
    let rb = run(e, bce, quiet)?;
    if crate::signals::requested() {
        bail!("stopped after the BCE run of the comparison (step {}); its figures are in {}", rb.steps_done, out.join("bce").display());
    }
    if !quiet {
        eprintln!("== WGAN");
    }
    let rw = run(e, wgan, quiet)?;
    let first = |r: &LabRun| r.metrics.first().cloned().context("no metrics logged");
    let last = |r: &LabRun| r.metrics.last().cloned().context("no metrics logged");
    let quarter = base.steps / 4;
    let early = |r: &LabRun| mean(&r.metrics.iter().filter(|m| m.step > 0 && m.step <= quarter.max(1)).map(|m| m.g_grad_norm).collect::<Vec<_>>());
    let w1_at = |r: &LabRun, s: u64| r.metrics.iter().rfind(|m| m.step <= s).and_then(|m| m.w1).unwrap_or(f64::NAN);
    let below = |r: &LabRun| r.metrics.iter().find(|m| m.w1.is_some_and(|w| w < 0.5)).map(|m| m.step);
    let (fb, lb, lw) = (first(&rb)?, last(&rb)?, last(&rw)?);
    let crit: Vec<f64> = rw.metrics.iter().filter_map(|m| m.critic_estimate.map(|c| c as f64)).collect();
    let w1s: Vec<f64> = rw.metrics.iter().filter_map(|m| m.critic_estimate.and(m.w1)).collect();
    let summary = CompareSummary {
        steps: base.steps,
        bce_start_d_real: fb.d_real,
        bce_start_d_fake: fb.d_fake,
        bce_start_js: fb.js,
        bce_early_g_grad_norm: early(&rb),
        wgan_early_g_grad_norm: early(&rw),
        bce_quarter_w1: w1_at(&rb, quarter),
        wgan_quarter_w1: w1_at(&rw, quarter),
        bce_final_w1: lb.w1.unwrap_or(f64::NAN),
        wgan_final_w1: lw.w1.unwrap_or(f64::NAN),
        bce_steps_to_w1_below_half: below(&rb),
        wgan_steps_to_w1_below_half: below(&rw),
        wgan_critic_w1_correlation: correlation(&crit, &w1s),
    };
    let w1 = |r: &LabRun| series(&r.metrics, |m| m.w1.or(m.sliced_w));
    let panels = vec![
        Panel::new(
            "Distance from P_G to P_data",
            "step",
            "W1",
            vec![charts::series("BCE", charts::BLUE, w1(&rb)), charts::series("WGAN", charts::RED, w1(&rw))],
        )
        .linear(),
        Panel::new(
            "Norm of G's gradient: BCE's vanishes while D is saturated",
            "step",
            "|grad G|",
            vec![
                charts::series("BCE", charts::BLUE, series(&rb.metrics, |m| Some(m.g_grad_norm))),
                charts::series("WGAN", charts::RED, series(&rw.metrics, |m| Some(m.g_grad_norm))),
            ],
        ),
        Panel::new(
            "BCE: JS divergence, flat at ln 2 without overlap",
            "step",
            "JS (nats)",
            vec![
                charts::series("JS of the histograms", charts::BLUE, series(&rb.metrics, |m| Some(m.js))),
                charts::series("ln 2", charts::GREY, series(&rb.metrics, |_| Some(std::f64::consts::LN_2))),
            ],
        )
        .span(0.0, 0.75)
        .linear(),
        Panel::new(
            "WGAN: the critic's estimate and the true W1",
            "step",
            "value",
            vec![
                charts::series("critic's estimate", charts::RED, series(&rw.metrics, |m| m.critic_estimate.map(|c| c as f64))),
                charts::series("true W1", charts::GREY, w1(&rw)),
            ],
        )
        .linear(),
    ];
    // the lecture's picture: the saturated discriminator next to the critic, from the same start
    let top = imageout::hstack(&[&rb.first_frame, &rw.first_frame]);
    let bottom = charts::canvas(&panels, 2, (top.w / 2).max(420) as u32, 300)?;
    imageout::vstack(&[&top, &bottom]).save(&out.join("compare.png"))?;
    std::fs::write(out.join("compare.json"), serde_json::to_string_pretty(&summary)?).context("writing compare.json")?;
    Ok(summary)
}
