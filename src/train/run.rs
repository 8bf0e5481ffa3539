//! The run loop: steps submitted without stalling, losses read back through a staging ring,
//! metrics.jsonl, sample grids at the milestones, the timeline, checkpoints, Ctrl-C and divergence.

use super::*;

/// Resolves the run folder layout.
pub struct RunPaths {
    pub root: PathBuf,
}

impl RunPaths {
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.safetensors")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }
    pub fn sample(&self, step: u64) -> PathBuf {
        self.samples().join(format!("step_{step:06}.png"))
    }
}

/// How a training run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Interrupted,
}

/// One quality evaluation as a metrics.jsonl row (`"kind": "eval"`, beside the loss rows).
#[derive(Serialize, Deserialize)]
pub struct EvalRow {
    pub kind: String,
    pub step: u64,
    #[serde(flatten)]
    pub scores: crate::eval::score::Scores,
}

/// Trains to `gan.cfg.steps`, writing the run folder. Stops cleanly (with a checkpoint) when
/// `stop` is raised; stops with an error (keeping the last good checkpoint) on non-finite losses.
pub fn train(e: &Engine, gan: &mut Gan, progress: &mut dyn Progress, stop: &AtomicBool) -> Result<Outcome> {
    let cfg = gan.cfg.clone();
    let paths = RunPaths { root: cfg.out.clone() };
    std::fs::create_dir_all(paths.samples()).with_context(|| format!("creating the run folder {}", paths.root.display()))?;
    let metrics_path = paths.root.join("metrics.jsonl");
    let mc = &cfg.model;
    let mut last_sample = None;
    let save_samples = |gan: &Gan, step: u64| -> Result<()> {
        let v = gan.sample_fixed(e)?;
        match gan.class_grid() {
            Some((rows, per_row)) => imageout::save_grid_cols(&paths.sample(step), &v, rows * per_row, mc.channels, mc.image_size, per_row),
            None => imageout::save_grid(&paths.sample(step), &v, mc.batch.min(64), mc.channels, mc.image_size),
        }
    };
    if gan.step == 0 {
        let real = gan.real_batch(e)?;
        imageout::save_grid(&paths.root.join("real_samples.png"), &real, mc.batch.min(64), mc.channels, mc.image_size)?;
    }
    let mut evaluator = match cfg.eval_every {
        0 => None,
        every => {
            progress.note(&format!("preparing quality evaluations every {every} steps and at the milestones ({} samples each)", cfg.eval_n));
            let ev = eval_glue::TrainEval::new(e, gan, every, cfg.eval_n)?;
            progress.note(&format!("quality evaluations compare {} samples with {}", ev.n, ev.reference));
            Some(ev)
        }
    };
    // a finished evaluation: a metrics.jsonl row, a line in the display, a label in the timeline
    let figures = std::cell::RefCell::new(super::figures::Figures::new(&cfg, &paths.root)?);
    let record_eval = |step: u64, scores: crate::eval::score::Scores, last_sample: Option<u64>, progress: &mut dyn Progress| -> Result<()> {
        crate::run_folder::append_json_line(&metrics_path, &EvalRow { kind: "eval".into(), step, scores: scores.clone() })?;
        progress.quality(step, &scores.short());
        let mut f = figures.borrow_mut();
        f.eval(step, &scores)?;
        match last_sample {
            Some(ls) => f.timeline(ls),
            None => Ok(()),
        }
    };
    progress.start(gan.step, cfg.steps);
    // losses come back through a ring of staging buffers, without stalling the step loop
    let mut ring: crate::readback::ReadbackRing<Pending> = crate::readback::ReadbackRing::new(&e.gpu, 4, (STATS_LEN * 4) as u64, "stats");
    let mut in_flight: std::collections::VecDeque<wgpu::SubmissionIndex> = Default::default();
    let mut window = (Instant::now(), gan.step);
    let first_step = gan.step;
    // The first steps include pipeline warm-up: time from the end of the second one.
    let mut timing: Option<(Instant, u64)> = None;
    let mut estimated = false;
    let last_good_ckpt: std::cell::Cell<Option<u64>> = std::cell::Cell::new(None);
    let run_start = Instant::now();
    // a write into the run folder failed: stop, saying so and where the last good state is
    let folder_error = |err: anyhow::Error| -> anyhow::Error {
        let ck = match last_good_ckpt.get() {
            Some(s) => format!("the last good checkpoint, step {s}, is {}", paths.checkpoint().display()),
            None => "no checkpoint had been written yet".into(),
        };
        err.context(format!("writing into the run folder {} failed, so training stopped ({ck})", paths.root.display()))
    };

    // one logged row: checked, appended to metrics.jsonl, shown
    let record = |p: Pending, vals: Vec<f32>, progress: &mut dyn Progress| -> Result<()> {
        let m = Metrics::from_stats(p.step, &vals, p.steps_per_s, p.epoch, &cfg, p.r1_ran);
        if !m.finite() {
            bail!(
                "training diverged: the losses at step {} are not finite (Loss_D {}, Loss_G {}). The last good checkpoint is \
                 {}. Try a lower --lr (e.g. half), a different --seed, or --g-loss nonsaturating.",
                m.step,
                m.loss_d,
                m.loss_g,
                match last_good_ckpt.get() {
                    Some(s) => format!("{} (step {s})", paths.checkpoint().display()),
                    None => "not written yet (no checkpoint was saved before the failure)".into(),
                }
            );
        }
        crate::run_folder::append_json_line(&metrics_path, &m)?;
        figures.borrow_mut().row(&m)?;
        progress.log(&m);
        Ok(())
    };
    let drain = |ring: &mut crate::readback::ReadbackRing<Pending>, block: bool, progress: &mut dyn Progress| -> Result<()> {
        ring.drain(&e.gpu, block, &mut |p, vals| record(p, vals, progress))
    };

    while gan.step < cfg.steps {
        if stop.load(Ordering::Relaxed) {
            drain(&mut ring, true, progress)?;
            gan.save_checkpoint(e, &paths.checkpoint())?;
            progress.note(&format!("interrupted at step {}: checkpoint saved to {}", gan.step, paths.checkpoint().display()));
            progress.finish();
            return Ok(Outcome::Interrupted);
        }
        let next = gan.step + 1;
        // step 1 is always logged, so a run shows its first losses at once (a resumed run logs as
        // the uninterrupted run would, keeping metrics.jsonl identical)
        let log_now = next.is_multiple_of(cfg.log_every) || next == cfg.steps || next == 1;
        let staging = if log_now { Some(ring.take(&e.gpu, &mut |p, vals| record(p, vals, progress))?) } else { None };
        let idx = gan.submit_iteration(e, staging.as_ref());
        if let Some(buf) = staging {
            let now = Instant::now();
            let sps = (gan.step - window.1) as f64 / now.duration_since(window.0).as_secs_f64().max(1e-9);
            window = (now, gan.step);
            ring.submitted(buf, Pending { step: gan.step, steps_per_s: sps, epoch: gan.epochs_done(), r1_ran: gan.r1_in_last_iteration });
        }
        // Keep at most two iterations in flight: bounded memory, never a full stall.
        in_flight.push_back(idx);
        if in_flight.len() > 2 {
            if let Some(old) = in_flight.pop_front() {
                e.gpu.device.poll(wgpu::PollType::Wait { submission_index: Some(old), timeout: None }).map_err(|err| anyhow!("waiting for the GPU: {err}"))?;
            }
        } else {
            let _ = e.gpu.device.poll(wgpu::PollType::Poll);
        }
        e.gpu.check("training")?;
        drain(&mut ring, false, progress)?;
        progress.tick(gan.step);

        let s = gan.step;
        match timing {
            None if s == first_step + 2 => timing = Some((Instant::now(), s)),
            Some((t0, s0)) if !estimated && (s >= s0 + 5 || (s > s0 && t0.elapsed().as_secs() >= 20)) => {
                estimated = true;
                let per = t0.elapsed().as_secs_f64() / (s - s0) as f64;
                if cfg.steps > s {
                    progress.note(&progress::estimate_line(&e.gpu.adapter.to_string(), e.gpu.is_cpu, per, cfg.steps - s, mc.ngf, mc.ndf));
                }
            }
            _ => {}
        }
        if MILESTONES.contains(&s) || s.is_multiple_of(cfg.sample_every) || s == cfg.steps {
            drain(&mut ring, true, progress).map_err(folder_error)?;
            save_samples(gan, s).map_err(folder_error)?;
            last_sample = Some(s);
            let mut f = figures.borrow_mut();
            f.timeline(s).map_err(folder_error)?;
            f.samples(s, &paths.sample(s)).map_err(folder_error)?;
            f.refresh(true, &format!("step {} of {} on {}", imageout::thousands(s), imageout::thousands(cfg.steps), e.gpu.adapter)).map_err(folder_error)?;
        }
        if let Some(ev) = &mut evaluator {
            if ev.due(s, cfg.steps) {
                ev.submit(e, s)?;
            }
            for (step, scores) in ev.poll(e, false)? {
                record_eval(step, scores, last_sample, progress)?;
            }
        }
        if s.is_multiple_of(cfg.checkpoint_every) || s == cfg.steps {
            drain(&mut ring, true, progress)?;
            gan.save_checkpoint(e, &paths.checkpoint()).map_err(folder_error)?;
            last_good_ckpt.set(Some(s));
        }
    }
    drain(&mut ring, true, progress)?;
    if let Some(ev) = &mut evaluator {
        for (step, scores) in ev.finish(e)? {
            record_eval(step, scores, last_sample, progress)?;
        }
    }
    let mut f = figures.borrow_mut();
    f.refresh(false, &format!("finished: {} steps on {}", imageout::thousands(gan.step), e.gpu.adapter)).map_err(folder_error)?;
    progress.finish();
    let total = run_start.elapsed().as_secs_f64();
    progress.note(&format!(
        "figures (curves.png, report.html, TensorBoard events): {:.2} s of the run's {:.0} s ({:.2}%)",
        f.spent.as_secs_f64(),
        total,
        100.0 * f.spent.as_secs_f64() / total.max(1e-9)
    ));
    Ok(Outcome::Finished)
}

/// `gangpu report RUN`: draws a run folder's timeline.png, curves.png and report.html again from
/// its files (config.json, metrics.jsonl, samples/), e.g. for a run made by an older version.
pub fn redraw(root: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(root.join("config.json")).with_context(|| format!("{} is not a gangpu training run (no config.json)", root.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: unreadable config.json", root.display()))?;
    let mut cfg: TrainConfig =
        serde_json::from_value(v["config"].clone()).with_context(|| format!("{}: config.json holds no training config", root.display()))?;
    cfg.tensorboard = false; // the event files stay as the run wrote them
    let last = crate::report::grids_in(&RunPaths { root: root.to_path_buf() }.samples()).last().map(|(s, _)| *s);
    let mut f = super::figures::Figures::new(&cfg, root)?;
    if let Some(l) = last {
        f.timeline(l)?;
    }
    f.refresh(
        false,
        &format!(
            "redrawn by `gangpu report` from the run's files{}",
            last.map_or(String::new(), |l| format!(" (last samples: step {})", imageout::thousands(l)))
        ),
    )
}

/// Parses a checkpoint's config and checks it matches `model` (for --resume).
pub fn checkpoint_config(raw: &RawCheckpoint) -> Result<TrainConfig> {
    serde_json::from_str(raw.config_json()?).with_context(|| format!("{}: unreadable config in checkpoint", raw.path))
}
