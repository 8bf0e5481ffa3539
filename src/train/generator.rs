//! G alone, for drawing samples from a trained generator (`gangpu sample`, `gangpu eval
//! --checkpoint`): no D, no optimizer state, no data set. Its dispatches come from the same
//! function as the trainer's samples (`generate_dispatches`), so both draw the same images.

use super::{TrainConfig, STREAM_EVAL, STREAM_NOISE};
use crate::checkpoint::RawCheckpoint;
use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, BnConfig, ConvWorkspace, RngParams};
use crate::models::{Cond, ModelConfig};
use crate::nn::{Activations, Net};
use crate::tensor::Tensor;
use anyhow::{bail, Result};

/// G's dispatches on noise `z` (B, nz, 1, 1) as for samples: batch statistics, running
/// statistics untouched, `labels` (class per sample) attached as one-hot for conditional models
/// through `g_in`. The images land in the last of `acts.out`.
pub(crate) fn generate_dispatches(
    e: &Engine,
    mc: &ModelConfig,
    g: &Net,
    ws: &ConvWorkspace,
    acts: &Activations,
    g_in: &Tensor,
    labels: &wgpu::Buffer,
    z: &Tensor,
) -> Result<Vec<Dispatch>> {
    if mc.cond == Cond::None {
        return g.forward(e, ws, z, acts, true, 0.0);
    }
    let mut v = vec![kernels::concat_onehot(e, z, labels, mc.classes, g_in)?];
    v.extend(g.forward(e, ws, g_in, acts, true, 0.0)?);
    Ok(v)
}

/// Class-ordered sample labels: one row of `batch / classes` per class (0 when unconditional).
pub(crate) fn class_ordered(batch: usize, classes: usize) -> Vec<u32> {
    let per_row = batch.checked_div(classes).map_or(batch, |r| r.max(1));
    (0..batch).map(|i| if classes > 0 { (i / per_row).min(classes - 1) as u32 } else { 0 }).collect()
}

/// (rows, samples per row) of a class-ordered sample grid, or None when unconditional.
pub(crate) fn class_grid(m: &ModelConfig) -> Option<(usize, usize)> {
    (m.cond != Cond::None).then(|| (m.classes.min(m.batch), (m.batch / m.classes).max(1)))
}

/// G alone, with the dispatches that draw samples from it.
pub struct Generator {
    pub model: ModelConfig,
    /// The run's seed (its evaluation noise).
    pub seed: u32,
    pub g: Net,
    _ws: ConvWorkspace,
    acts: Activations,
    g_in: Tensor,
    _z: Tensor,
    labels: wgpu::Buffer,
    /// The sample labels on the host (class per sample; class-ordered unless set).
    labels_host: Vec<u32>,
    noise: Dispatch,
    forward: Vec<Dispatch>,
    /// G on `g_in` as written from the host (z, and the label part of conditional models).
    from_input: Vec<Dispatch>,
}

impl Generator {
    /// G of `model` (initial weights: load some next), sampling at `model.batch`.
    pub fn new(e: &Engine, model: &ModelConfig, seed: u32) -> Result<Generator> {
        model.validate()?;
        let bn = BnConfig { eps: 1e-5, momentum: 0.1, act: kernels::Act::Identity };
        let g = Net::new(e, model.generator()?, bn, "G")?;
        let ws = ConvWorkspace::new(e, &g.conv_geoms())?;
        let acts = g.activations(e, "G")?;
        let b = model.batch;
        let z = Tensor::zeros(&e.gpu, &[b, model.nz, 1, 1], "noise z")?;
        let g_in = if model.cond != Cond::None { Tensor::zeros(&e.gpu, &[b, model.nz + model.classes, 1, 1], "noise and labels")? } else { z.clone() };
        let labels = e.gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("sample labels"),
            size: (b * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let labels_host = class_ordered(b, model.classes);
        e.gpu.queue.write_buffer(&labels, 0, bytemuck::cast_slice(&labels_host));
        let noise = kernels::normal(e, &z, seed, STREAM_NOISE, 0)?;
        let forward = generate_dispatches(e, model, &g, &ws, &acts, &g_in, &labels, &z)?;
        let from_input = g.forward(e, &ws, &g_in, &acts, true, 0.0)?;
        e.gpu.check("building the generator")?;
        Ok(Generator { model: model.clone(), seed, g, _ws: ws, acts, g_in, _z: z, labels, labels_host, noise, forward, from_input })
    }

    /// G of a checkpoint with its weights and batch-norm statistics, sampling at `batch` (the
    /// run's when None); the run's settings come along.
    /// `ema`: the moving average of G where the checkpoint keeps one (`--ema-kimg`), else the
    /// trained G; the last value says which it loaded ("netG_ema" or "netG").
    pub fn from_checkpoint(e: &Engine, raw: &RawCheckpoint, batch: Option<usize>, ema: bool) -> Result<(Generator, TrainConfig, &'static str)> {
        let cfg = super::checkpoint_config(raw)?;
        let mut model = cfg.model.clone();
        if let Some(b) = batch {
            model.batch = b;
        }
        let gen = Generator::new(e, &model, cfg.seed)?;
        let prefix = if ema && raw.has(crate::checkpoint::EMA_PREFIX)? { crate::checkpoint::EMA_PREFIX } else { "netG" };
        let st = raw.net_state(prefix, &gen.g, &[])?;
        gen.g.params.all().write(&e.gpu, &st.params)?;
        gen.g.bn_state.all().write(&e.gpu, &st.bn_state)?;
        Ok((gen, cfg, prefix))
    }

    /// G on noise batch `batch_index` of (`seed`, `stream`): (B, C, S, S) values in [-1, 1].
    fn sample_from(&self, e: &Engine, seed: u32, stream: u32, batch_index: u32) -> Result<Vec<f32>> {
        let m = &self.model;
        self.noise.set_params(&e.gpu, &RngParams { len: (m.batch * m.nz) as u32, seed, stream, counter: batch_index, ..Default::default() });
        let mut list: Vec<&Dispatch> = vec![&self.noise];
        list.extend(self.forward.iter());
        e.run(&list)?;
        self.acts.out[self.acts.out.len() - 1].read(&e.gpu)
    }

    /// G on noise batch `batch_index` of `seed` (`gangpu sample --seed`; `Gan::sample_seeded`
    /// draws the same noise).
    pub fn sample_seeded(&self, e: &Engine, seed: u32, batch_index: u32) -> Result<Vec<f32>> {
        self.sample_from(e, seed, STREAM_NOISE, batch_index)
    }

    /// G on batch `batch_index` of the run's evaluation noise: the samples `--eval-every` scores.
    pub fn sample_eval_noise(&self, e: &Engine, batch_index: u32) -> Result<Vec<f32>> {
        self.sample_from(e, self.seed, STREAM_EVAL, batch_index)
    }

    /// G on inputs given by the host: (B, nz + classes) values, z then the (one-hot or blended)
    /// label of each sample (truncated noise, latent walks, class morphs).
    pub fn sample_input(&self, e: &Engine, input: &[f32]) -> Result<Vec<f32>> {
        let want = self.g_in.numel();
        if input.len() != want {
            bail!("{} input values for G's input of {want} (batch {} x {})", input.len(), self.model.batch, want / self.model.batch);
        }
        self.g_in.write(&e.gpu, input)?;
        e.run(&self.from_input.iter().collect::<Vec<_>>())?;
        self.acts.out[self.acts.out.len() - 1].read(&e.gpu)
    }

    /// Labels of the sample batch (conditional models): class-ordered unless set.
    pub fn set_sample_labels(&mut self, e: &Engine, labels: &[u32]) -> Result<()> {
        let k = self.model.classes as u32;
        if let Some(bad) = labels.iter().find(|l| **l >= k) {
            bail!("label {bad} is out of range: this model has {k} classes (0..{})", k.saturating_sub(1));
        }
        if labels.len() != self.model.batch {
            bail!("{} sample labels for a batch of {}", labels.len(), self.model.batch);
        }
        e.gpu.queue.write_buffer(&self.labels, 0, bytemuck::cast_slice(labels));
        self.labels_host = labels.to_vec();
        Ok(())
    }

    /// The sample labels (class per sample of the batch).
    pub fn labels(&self) -> &[u32] {
        &self.labels_host
    }

    /// G's input for noise `z` (batch x nz) with the sample labels attached one-hot (conditional
    /// models), as `sample_input` takes it.
    pub fn input_for(&self, z: &[f32]) -> Vec<f32> {
        let (nz, k) = (self.model.nz, if self.model.cond == Cond::None { 0 } else { self.model.classes });
        let mut v = Vec::with_capacity(self.model.batch * (nz + k));
        for (b, zb) in z.chunks(nz).enumerate() {
            v.extend_from_slice(zb);
            v.extend((0..k).map(|c| if self.labels_host.get(b) == Some(&(c as u32)) { 1.0 } else { 0.0 }));
        }
        v
    }

    /// (rows, samples per row) of a class-ordered grid (one row per class), or None when unconditional.
    pub fn class_grid(&self) -> Option<(usize, usize)> {
        class_grid(&self.model)
    }

    /// The generator of a GAN being trained, as it is now (its weights and statistics copied).
    pub fn of(e: &Engine, gan: &super::Gan) -> Result<Generator> {
        let gen = Generator::new(e, &gan.cfg.model, gan.cfg.seed)?;
        let g = gan.sampling_g();
        gen.g.params.all().write(&e.gpu, &g.params.all().read(&e.gpu)?)?;
        gen.g.bn_state.all().write(&e.gpu, &g.bn_state.all().read(&e.gpu)?)?;
        Ok(gen)
    }
}
