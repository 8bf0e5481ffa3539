//! What the user sees while a run trains: a progress bar on a terminal (ticking every step, with
//! an ETA and the latest losses), plain log lines in the PyTorch DCGAN example's format on a pipe,
//! and, once the first steps are timed, the expected total time.

use super::Metrics;
use std::time::Duration;

/// What the caller hears about while training runs.
pub trait Progress {
    fn start(&mut self, _from: u64, _to: u64) {}
    /// Called after every step is submitted.
    fn tick(&mut self, _step: u64) {}
    fn log(&mut self, m: &Metrics);
    fn note(&mut self, msg: &str);
    /// A quality evaluation finished (`scores`: "FID 12.3, SWD 45.6").
    fn quality(&mut self, step: u64, scores: &str) {
        self.note(&format!("[{step}] quality: {scores}"));
    }
    fn finish(&mut self) {}
}

/// Plain log lines (not a terminal).
pub struct PlainProgress;

impl Progress for PlainProgress {
    fn log(&mut self, m: &Metrics) {
        eprintln!(
            "[{}] Loss_D: {:.4} Loss_G: {:.4} D(x): {:.4} D(G(z)): {:.4} / {:.4} ({:.2} steps/s, epoch {:.2})",
            m.step, m.loss_d, m.loss_g, m.d_x, m.d_g_z1, m.d_g_z2, m.steps_per_s, m.epoch
        );
        if let (Some(p), Some(rt)) = (m.augment_p, m.ada_rt) {
            eprintln!("[{}] ADA: augment p {p:.4}, r_t {rt:.3}", m.step);
        }
    }
    fn note(&mut self, msg: &str) {
        eprintln!("{msg}");
    }
}

/// A progress bar with the current losses and speed (terminal).
#[derive(Default)]
pub struct BarProgress {
    bar: Option<indicatif::ProgressBar>,
    /// The latest quality scores, shown after the losses.
    quality: String,
}

impl BarProgress {
    pub fn new() -> BarProgress {
        BarProgress { bar: None, quality: String::new() }
    }
}

impl Progress for BarProgress {
    fn start(&mut self, from: u64, to: u64) {
        let bar = indicatif::ProgressBar::new(to);
        bar.set_position(from);
        bar.reset_eta();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(500));
        self.bar = Some(bar);
    }
    fn tick(&mut self, step: u64) {
        if let Some(b) = &self.bar {
            b.set_position(step);
        }
    }
    fn log(&mut self, m: &Metrics) {
        if let Some(b) = &self.bar {
            b.set_message(format!(
                "epoch {:.2} Loss_D {:.3} Loss_G {:.3} D(x) {:.3} D(G(z)) {:.3}/{:.3}{} {:.2} it/s{}",
                m.epoch,
                m.loss_d,
                m.loss_g,
                m.d_x,
                m.d_g_z1,
                m.d_g_z2,
                m.augment_p.map(|p| format!(" p {p:.3}")).unwrap_or_default(),
                m.steps_per_s,
                self.quality
            ));
        }
    }
    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }
    fn quality(&mut self, step: u64, scores: &str) {
        self.quality = format!(" | {scores} @{step}");
        self.note(&format!("[{step}] quality: {scores}"));
    }
    fn finish(&mut self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

/// Human duration: "45 s", "12 min", "3 h 20 min".
pub fn human_duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// The line printed once the first steps are timed: time per step and the expected total; on a
/// software adapter, with the settings that make a run quicker.
pub fn estimate_line(adapter: &str, is_cpu: bool, secs_per_step: f64, steps_left: u64, ngf: usize, ndf: usize) -> String {
    let total = secs_per_step * steps_left as f64;
    let mut s = format!(
        "measured {:.3} s per step on {adapter}: about {} for the {} remaining steps",
        secs_per_step,
        human_duration(total),
        crate::imageout::thousands(steps_left)
    );
    if is_cpu && total > 600.0 {
        let hint_widths =
            if ngf > 16 || ndf > 16 { format!("--ngf {} --ndf {} (about 4x faster), ", (ngf / 2).max(8), (ndf / 2).max(8)) } else { String::new() };
        let quick_steps = ((600.0 / secs_per_step) as u64).max(1);
        s.push_str(&format!(".\nThis is a software adapter (no GPU); for a quicker run try {hint_widths}or --steps {quick_steps} (about 10 min)"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_names_the_total_and_on_a_software_adapter_a_quicker_setting() {
        let cpu = estimate_line("llvmpipe (Vulkan, Cpu)", true, 2.0, 2000, 64, 64);
        assert!(cpu.contains("2.000 s per step") && cpu.contains("about 67 min") && cpu.contains("2,000 remaining"), "{cpu}");
        assert!(cpu.contains("software adapter") && cpu.contains("--ngf 32 --ndf 32") && cpu.contains("--steps 300"), "{cpu}");
        let gpu = estimate_line("H200 (Vulkan, DiscreteGpu)", false, 0.01, 2000, 64, 64);
        assert!(gpu.contains("about 20 s") && !gpu.contains("software"), "{gpu}");
        // a short run on a software adapter needs no hint
        assert!(!estimate_line("llvmpipe", true, 0.5, 100, 64, 64).contains("quicker"));
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(45.0), "45 s");
        assert_eq!(human_duration(4000.0), "67 min");
        assert_eq!(human_duration(12000.0), "3 h 20 min");
    }
}
