//! An exponential moving average of G's weights (`--ema-kimg`), as StyleGAN2 keeps G_ema: after
//! each G step, avg = live + beta (avg - live) over the flat parameter buffer (one dispatch), with
//! beta = 0.5^(batch / half-life in images); the half-life ramps up with training (StyleGAN2's
//! ema_rampup 0.05: at most 5% of the images seen so far). Batch-norm running statistics are
//! copied, not averaged (StyleGAN2 copies buffers). Samples, `--eval-every`, `gangpu sample` and
//! `gangpu eval --checkpoint` use the average when a run keeps one.

use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, OptParams};
use crate::nn::{Flat, Net};
use anyhow::Result;

/// StyleGAN2's ramp-up: the half-life is at most this fraction of the images seen so far.
pub const EMA_RAMPUP: f64 = 0.05;

/// The weight of the old average after G step `step` (1-based) at `batch` images per step, for a
/// half-life of `kimg` thousand images.
pub fn ema_beta(kimg: f64, batch: usize, step: u64) -> f64 {
    let seen = (step * batch as u64) as f64;
    let half_life = (kimg * 1000.0).min(seen * EMA_RAMPUP);
    0.5f64.powf(batch as f64 / half_life.max(1e-8))
}

/// The average G: the trained G's architecture over its own parameters and statistics.
pub struct Ema {
    pub net: Net,
    update: Dispatch,
    kimg: f64,
    batch: usize,
}

impl Ema {
    /// Starts the average at G's current weights.
    pub fn new(e: &Engine, g: &Net, kimg: f64, batch: usize) -> Result<Ema> {
        let mut net = g.clone();
        net.params = Flat::new(e, g.params.layout.clone(), "G EMA parameters")?;
        net.bn_state = Flat::new(e, g.bn_state.layout.clone(), "G EMA batch-norm statistics")?;
        let update = kernels::ema_update(e, &g.params.all(), &net.params.all())?;
        let ema = Ema { net, update, kimg, batch };
        ema.restart(e, g)?;
        Ok(ema)
    }

    /// Sets the average to G's current weights and statistics (at the start, or when a run
    /// without an average is resumed with one).
    pub fn restart(&self, e: &Engine, g: &Net) -> Result<()> {
        let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("EMA start") });
        self.copy_all(&mut enc, g, true);
        e.gpu.queue.submit(Some(enc.finish()));
        e.gpu.wait()
    }

    fn copy_all(&self, enc: &mut wgpu::CommandEncoder, g: &Net, params: bool) {
        if params {
            enc.copy_buffer_to_buffer(&g.params.buffer, 0, &self.net.params.buffer, 0, (g.params.layout.len * 4) as u64);
        }
        if g.bn_state.layout.len > 0 {
            enc.copy_buffer_to_buffer(&g.bn_state.buffer, 0, &self.net.bn_state.buffer, 0, (g.bn_state.layout.len * 4) as u64);
        }
    }

    /// The update after G step `step` (1-based): its dispatch, with beta set for this step.
    pub fn update(&self, e: &Engine, step: u64) -> &Dispatch {
        self.update.set_params(&e.gpu, &OptParams::ema(self.net.params.layout.len, ema_beta(self.kimg, self.batch, step)));
        &self.update
    }

    /// Copies G's batch-norm running statistics into the average's (after the G step's pass).
    pub fn copy_statistics(&self, enc: &mut wgpu::CommandEncoder, g: &Net) {
        self.copy_all(enc, g, false);
    }
}
