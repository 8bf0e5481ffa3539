//! What a training run shows besides its checkpoints: curves.png and report.html (refreshed at
//! every sample step and at the end) and TensorBoard event files (every logged row, every
//! evaluation, every sample grid). Time spent here is measured, so the run can say what its
//! figures cost.

use super::*;
use crate::eval::score::Scores;
use crate::tensorboard::EventWriter;
use std::time::Duration;

pub struct Figures {
    root: PathBuf,
    cfg: TrainConfig,
    rows: Vec<Metrics>,
    evals: Vec<(u64, Scores)>,
    tb: Option<EventWriter>,
    pub spent: Duration,
}

impl Figures {
    /// Starts a run's figures; a resumed run picks up the rows and evaluations it logged before.
    pub fn new(cfg: &TrainConfig, root: &Path) -> Result<Figures> {
        let text = std::fs::read_to_string(root.join("metrics.jsonl")).unwrap_or_default();
        // loss rows have no "kind"; evaluations are `"kind": "eval"` rows
        let (evals, rows): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.contains("\"kind\":\"eval\""));
        let rows = rows.into_iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let evals = evals.into_iter().filter_map(|l| serde_json::from_str::<run::EvalRow>(l).ok()).map(|r| (r.step, r.scores)).collect();
        let tb = if cfg.tensorboard {
            let dir = root.join("tensorboard");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(EventWriter::create(&dir)?)
        } else {
            None
        };
        Ok(Figures { root: root.to_path_buf(), cfg: cfg.clone(), rows, evals, tb, spent: Duration::ZERO })
    }

    fn timed<T>(&mut self, f: impl FnOnce(&mut Figures) -> Result<T>) -> Result<T> {
        let t0 = Instant::now();
        let r = f(self);
        self.spent += t0.elapsed();
        r
    }

    /// A logged row of losses.
    pub fn row(&mut self, m: &Metrics) -> Result<()> {
        self.timed(|f| {
            f.rows.push(m.clone());
            if let Some(tb) = &mut f.tb {
                let mut v: Vec<(&str, f64)> = vec![
                    ("loss/D", m.loss_d as f64),
                    ("loss/G", m.loss_g as f64),
                    ("D/real", m.d_x as f64),
                    ("D/fake_before_D_step", m.d_g_z1 as f64),
                    ("D/fake_after_D_step", m.d_g_z2 as f64),
                    ("speed/steps_per_s", m.steps_per_s),
                    ("data/epoch", m.epoch),
                ];
                for (tag, x) in [
                    ("wgan/critic_estimate", m.critic_estimate),
                    ("acgan/acc_real", m.acc_real),
                    ("acgan/acc_fake", m.acc_fake),
                    ("penalty/gp", m.penalty_gp),
                    ("penalty/r1", m.penalty_r1),
                    ("augment/p", m.augment_p),
                    ("augment/ada_rt", m.ada_rt),
                ] {
                    if let Some(x) = x {
                        v.push((tag, x as f64));
                    }
                }
                tb.scalars(m.step, &v)?;
            }
            Ok(())
        })
    }

    /// A finished quality evaluation.
    pub fn eval(&mut self, step: u64, s: &Scores) -> Result<()> {
        self.timed(|f| {
            f.evals.push((step, s.clone()));
            f.evals.sort_by_key(|e| e.0);
            if let Some(tb) = &mut f.tb {
                let mut v = vec![("quality/swd", s.swd)];
                for (tag, x) in [
                    ("quality/fid", s.fid),
                    ("quality/coverage", s.coverage.map(|c| c as f64)),
                    ("quality/confidence", s.confidence),
                    ("quality/class_entropy_bits", s.class_entropy_bits),
                ] {
                    if let Some(x) = x {
                        v.push((tag, x));
                    }
                }
                tb.scalars(step, &v)?;
            }
            Ok(())
        })
    }

    /// A saved sample grid.
    pub fn samples(&mut self, step: u64, grid: &Path) -> Result<()> {
        self.timed(|f| match &mut f.tb {
            Some(tb) => tb.image_file(step, "samples", grid),
            None => Ok(()),
        })
    }

    /// Redraws timeline.png: the milestone grids up to `last` (and `last`'s), each labelled
    /// with the quality scores of its step when there are any.
    pub fn timeline(&mut self, last: u64) -> Result<()> {
        self.timed(|f| f.draw_timeline(last))
    }

    fn draw_timeline(&self, last: u64) -> Result<()> {
        let paths = RunPaths { root: self.root.clone() };
        let mut steps: Vec<u64> = MILESTONES.iter().copied().filter(|s| *s <= last).collect();
        if !steps.contains(&last) {
            steps.push(last);
        }
        let mut frames = Vec::new();
        for s in steps {
            let p = paths.sample(s);
            if let Ok(img) = image::open(&p) {
                let rgb = img.to_rgb8();
                let (w, h) = (rgb.width() as usize, rgb.height() as usize);
                let px = rgb.pixels().map(|p| p.0).collect();
                frames.push((s, imageout::Canvas { w, h, px }, self.evals.iter().find(|(e, _)| *e == s).map(|(_, sc)| sc.short())));
            }
        }
        if frames.is_empty() {
            return Ok(());
        }
        crate::charts::save_timeline(&paths.root.join("timeline.png"), &frames)
    }

    /// Rewrites curves.png and report.html.
    pub fn refresh(&mut self, running: bool, status: &str) -> Result<()> {
        self.timed(|f| {
            let panels = super::curves::panels(&f.rows, &f.evals, &f.cfg);
            crate::charts::save_png(&f.root.join("curves.png"), &panels, 2, 620, 330)?;
            let mut latest = Vec::new();
            if let Some(m) = f.rows.last() {
                latest.push(("step".into(), crate::imageout::thousands(m.step)));
                if let Ok(serde_json::Value::Object(o)) = serde_json::to_value(m) {
                    latest.extend(o.into_iter().filter(|(k, _)| k != "step").map(|(k, v)| (k, v.as_f64().map_or(v.to_string(), |x| format!("{x:.4}")))));
                }
            }
            if let Some((s, sc)) = f.evals.last() {
                latest.push((format!("quality at step {}", crate::imageout::thousands(*s)), sc.short()));
            }
            let report = crate::report::Report {
                title: format!("gangpu train: {}", f.root.display()),
                config_json: serde_json::to_string_pretty(&f.cfg)?,
                highlights: vec![("timeline".into(), f.root.join("timeline.png")), ("real samples".into(), f.root.join("real_samples.png"))],
                grids: crate::report::grids_in(&f.root.join("samples")),
                curves_svg: Some(crate::charts::svg(&panels, 2, 620, 330)?),
                latest,
                running,
                status,
            };
            crate::report::write(&f.root.join("report.html"), &report)
        })
    }
}
