//! A lab run (frames, GIF, measures, metrics.jsonl) and `--compare`: BCE against WGAN from the
//! same start, the lecture's argument as one command.

use super::*;

/// What a lab run leaves behind.
pub struct LabRun {
    pub metrics: Vec<LabMetrics>,
    pub last_frame: Canvas,
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
    let mut last_frame = Canvas::new(1, 1, plot::WHITE);
    let name = match cfg.loss {
        GanLoss::Bce => "BCE",
        GanLoss::Wgan => "WGAN",
        GanLoss::Lsgan => "LSGAN",
        GanLoss::Hinge => "hinge",
        GanLoss::Bgan => "BGAN",
    };
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
                append_jsonl(&metrics_path, &m)?;
                if !quiet {
                    eprintln!("{}", describe(&m));
                }
                metrics.push(m);
            }
            if frame_now {
                let f = lab.frame(&fake, &real, &grid, &format!("{name} step {s}"));
                f.save(&out.join("frames").join(format!("step_{s:06}.png")))?;
                last_frame = f;
                frames.push(last_frame_clone(&last_frame));
            }
        }
        if s == cfg.steps {
            break;
        }
        lab.iterate(e)?;
    }
    plot::save_gif(&out.join("run.gif"), &frames, 150)?;
    measures_plot(&metrics, cfg.dist.dim(), cfg.loss).save(&out.join("measures.png"))?;
    Ok(LabRun { metrics, last_frame })
}

fn last_frame_clone(c: &Canvas) -> Canvas {
    Canvas { w: c.w, h: c.h, px: c.px.clone() }
}

fn append_jsonl(path: &Path, m: &LabMetrics) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(m)?).with_context(|| format!("writing {}", path.display()))
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
    s + &format!(" JS {:.4} |grad G| {:.3e}", m.js, m.g_grad_norm)
}

fn series(ms: &[LabMetrics], f: impl Fn(&LabMetrics) -> Option<f64>) -> Vec<(f64, f64)> {
    ms.iter().filter_map(|m| f(m).map(|v| (m.step as f64, v))).collect()
}

/// The measures over training: distance, JS, G's gradient norm, losses.
pub fn measures_plot(ms: &[LabMetrics], dim: usize, loss: GanLoss) -> Canvas {
    let (w, h) = (380, 220);
    let dist_name = if dim == 1 { "W1" } else { "SLICED W" };
    let mut dist = vec![(dist_name, plot::BLUE, series(ms, |m| m.w1.or(m.sliced_w)))];
    if loss == GanLoss::Wgan {
        dist.push(("CRITIC ESTIMATE", plot::RED, series(ms, |m| m.critic_estimate.map(|v| v as f64))));
    }
    let a = plot::line_chart("DISTANCE TO P_DATA", &dist, w, h);
    let b = plot::line_chart("JS (HISTOGRAMS)", &[("JS", plot::PURPLE, series(ms, |m| Some(m.js))), ("LN 2", plot::GREY, series(ms, |_| Some(std::f64::consts::LN_2)))], w, h);
    let c = plot::line_chart("|GRAD G|", &[("NORM", plot::ORANGE, series(ms, |m| Some(m.g_grad_norm)))], w, h);
    let d = plot::line_chart("LOSSES", &[("D", plot::BLUE, series(ms, |m| Some(m.loss_d as f64))), ("G", plot::ORANGE, series(ms, |m| Some(m.loss_g as f64)))], w, h);
    plot::vstack(&[&plot::hstack(&[&a, &b]), &plot::hstack(&[&c, &d])])
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
    // Same start, same optimizer, same steps: only the loss differs.
    let bce = LabConfig { loss: GanLoss::Bce, out: out.join("bce"), ..base.clone() };
    // G's loss choice is BCE's; the critic's G loss is -mean f(fake) whatever it says
    let wgan = LabConfig { loss: GanLoss::Wgan, g_loss: GLoss::Nonsaturating, out: out.join("wgan"), ..base.clone() };
    if !quiet {
        eprintln!("== BCE ({:?} G loss)", bce.g_loss);
    }
    let rb = run(e, bce, quiet)?;
    if !quiet {
        eprintln!("== WGAN");
    }
    let rw = run(e, wgan, quiet)?;
    let first = |r: &LabRun| r.metrics.first().cloned().context("no metrics logged");
    let last = |r: &LabRun| r.metrics.last().cloned().context("no metrics logged");
    let quarter = base.steps / 4;
    let early = |r: &LabRun| mean(&r.metrics.iter().filter(|m| m.step > 0 && m.step <= quarter.max(1)).map(|m| m.g_grad_norm).collect::<Vec<_>>());
    let w1_at = |r: &LabRun, s: u64| r.metrics.iter().filter(|m| m.step <= s).last().and_then(|m| m.w1).unwrap_or(f64::NAN);
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
    let (w, h) = (420, 220);
    let w1 = plot::line_chart(
        "W1(P_G, P_DATA)",
        &[("BCE", plot::BLUE, series(&rb.metrics, |m| m.w1)), ("WGAN", plot::RED, series(&rw.metrics, |m| m.w1))],
        w,
        h,
    );
    let gn = plot::line_chart(
        "|GRAD G|",
        &[("BCE", plot::BLUE, series(&rb.metrics, |m| Some(m.g_grad_norm))), ("WGAN", plot::RED, series(&rw.metrics, |m| Some(m.g_grad_norm)))],
        w,
        h,
    );
    let sig = plot::line_chart(
        "WHAT D SEES",
        &[
            ("BCE JS", plot::BLUE, series(&rb.metrics, |m| Some(m.js))),
            ("LN 2", plot::GREY, series(&rb.metrics, |_| Some(std::f64::consts::LN_2))),
            ("WGAN CRITIC", plot::RED, series(&rw.metrics, |m| m.critic_estimate.map(|c| c as f64))),
        ],
        w,
        h,
    );
    let top = plot::hstack(&[&rb.last_frame, &rw.last_frame]);
    let bottom = plot::hstack(&[&w1, &gn, &sig]);
    plot::vstack(&[&top, &bottom]).save(&out.join("compare.png"))?;
    std::fs::write(out.join("compare.json"), serde_json::to_string_pretty(&summary)?).context("writing compare.json")?;
    Ok(summary)
}
