//! `train --eval-every`: quality scores during training without stalling the step loop.
//!
//! Everything is built once, before the first step: the fixed evaluation noise (one tensor per
//! batch), per batch the dispatches of G on it, of the classifier on G's output and of the
//! statistics accumulation. An evaluation records all of them into one submission that also copies
//! the samples (for SWD, which sorts on the host) and the statistics (66 KiB) into one staging
//! buffer of the GPU layer's read-back ring; the step loop goes on while the GPU works. When the copies are mapped, a worker
//! thread finishes the scores (FID's eigen-decomposition, SWD) and hands them back.

use super::Gan;
use crate::engine::{Dispatch, Engine};
use crate::eval::classifier::{Classifier, StatsAccumulator};
use crate::eval::score::{fid_unavailable, Reference, Scores};
use crate::readback::ReadbackRing;
use crate::tensor::Tensor;
use anyhow::{anyhow, Context, Result};
use std::sync::mpsc;
use std::sync::Arc;

/// A finished evaluation's work for the worker thread.
struct Job {
    step: u64,
    stats: Option<crate::eval::FeatureStats>,
    samples: Vec<f32>,
}

pub struct TrainEval {
    pub every: u64,
    /// Samples per evaluation (whole batches).
    pub n: usize,
    chunks: Vec<Vec<Dispatch>>,
    generated: Tensor,
    acc: Option<StatsAccumulator>,
    /// One staging buffer: the samples, then the statistics; tagged with the evaluated step.
    ring: ReadbackRing<u64>,
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<Result<(u64, Scores)>>,
    worker: Option<std::thread::JoinHandle<()>>,
    outstanding: usize,
    /// What the scores compare with, in words.
    pub reference: String,
    // keep the classifier and noise alive as long as the dispatches that use them
    _clf: Option<Classifier>,
    _noise: Vec<Tensor>,
}

impl TrainEval {
    /// Prepares evaluations of `gan` every `every` steps with `n` samples (rounded up to whole
    /// batches) against the run's training data, which `Gan::new` kept for it (blocking: computes
    /// the reference statistics).
    pub fn new(e: &Engine, gan: &Gan, every: u64, n: usize) -> Result<TrainEval> {
        let mc = &gan.cfg.model;
        let b = mc.batch;
        let batches = n.div_ceil(b).max(1);
        let n = batches * b;
        let data = gan.eval_reference.as_ref().ok_or_else(|| anyhow!("--eval-every needs the training data set: build the Gan with it"))?;
        let clf = match fid_unavailable(mc.channels, mc.image_size) {
            None => {
                let c = Classifier::new(e, b)?;
                c.load_builtin(e)?;
                Some(c)
            }
            Some(_) => None,
        };
        let reference = Reference::new(e, data, clf.as_ref(), n)?;
        let description = reference.description.clone();
        let acc = match clf {
            Some(_) => Some(StatsAccumulator::new(e)?),
            None => None,
        };
        let mut noise = Vec::with_capacity(batches);
        let mut fill = Vec::with_capacity(batches);
        let mut chunks = Vec::with_capacity(batches);
        for i in 0..batches {
            let z = Tensor::zeros(&e.gpu, &[b, mc.nz, 1, 1], &format!("evaluation noise {i}"))?;
            fill.push(crate::kernels::normal(e, &z, gan.cfg.seed, super::STREAM_EVAL, i as u32)?);
            let mut list = gan.generate_dispatches(e, &z)?;
            if let (Some(c), Some(a)) = (&clf, &acc) {
                list.extend(c.forward(e, gan.generated())?);
                list.extend(a.accumulate(e, c)?);
            }
            chunks.push(list);
            noise.push(z);
        }
        e.run(&fill.iter().collect::<Vec<_>>())?;
        let generated = gan.generated().clone();
        let bytes = generated.byte_size() * batches as u64 + acc.as_ref().map_or(0, |a| a.bytes());
        let ring = ReadbackRing::new(&e.gpu, 1, bytes, "evaluation");

        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (res_tx, results) = mpsc::channel();
        let reference = Arc::new(reference);
        let worker = std::thread::Builder::new()
            .name("gangpu-eval".into())
            .spawn(move || {
                for job in job_rx {
                    let scores = reference.score(job.stats.as_ref(), &job.samples, n);
                    if res_tx.send(Ok((job.step, scores))).is_err() {
                        break;
                    }
                }
            })
            .context("starting the evaluation thread")?;
        e.gpu.check("preparing the quality evaluation")?;
        Ok(TrainEval {
            every,
            n,
            chunks,
            generated,
            acc,
            ring,
            jobs: Some(job_tx),
            results,
            worker: Some(worker),
            outstanding: 0,
            reference: description,
            _clf: clf,
            _noise: noise,
        })
    }

    /// Whether step `s` of a run of `last` steps is evaluated: every `every` steps, at the
    /// milestones and at the end.
    pub fn due(&self, s: u64, last: u64) -> bool {
        self.every > 0 && (s.is_multiple_of(self.every) || super::MILESTONES.contains(&s) || s == last)
    }

    /// Submits an evaluation of the current G (after the iteration of step `step`). Waits only
    /// if the previous evaluation's copies are still being read.
    pub fn submit(&mut self, e: &Engine, step: u64) -> Result<()> {
        let TrainEval { ring, acc, jobs, generated, n, outstanding, .. } = self;
        let staging = ring.take(&e.gpu, &mut |s, vals| hand_over(s, vals, acc.as_ref(), generated, *n, jobs.as_ref(), outstanding))?;
        let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("quality evaluation") });
        if let Some(a) = &self.acc {
            a.clear(&mut enc);
        }
        let bytes = self.generated.byte_size();
        for (i, list) in self.chunks.iter().enumerate() {
            e.record(&mut enc, &list.iter().collect::<Vec<_>>());
            enc.copy_buffer_to_buffer(&self.generated.buffer, self.generated.byte_offset(), &staging, i as u64 * bytes, bytes);
        }
        if let Some(a) = &self.acc {
            enc.copy_buffer_to_buffer(&a.flat.buffer, 0, &staging, bytes * self.chunks.len() as u64, a.bytes());
        }
        e.gpu.queue.submit(Some(enc.finish()));
        self.ring.submitted(staging, step);
        Ok(())
    }

    /// Hands mapped copies to the worker and returns the scores finished so far. With `block`,
    /// waits for the copies in flight (not for the worker).
    pub fn poll(&mut self, e: &Engine, block: bool) -> Result<Vec<(u64, Scores)>> {
        let TrainEval { ring, acc, jobs, generated, n, outstanding, .. } = self;
        ring.drain(&e.gpu, block, &mut |s, vals| hand_over(s, vals, acc.as_ref(), generated, *n, jobs.as_ref(), outstanding))?;
        let mut out = Vec::new();
        while let Ok(r) = self.results.try_recv() {
            self.outstanding -= 1;
            out.push(r?);
        }
        Ok(out)
    }

    /// Waits for every evaluation submitted so far and returns their scores.
    pub fn finish(&mut self, e: &Engine) -> Result<Vec<(u64, Scores)>> {
        let mut out = self.poll(e, true)?;
        while self.outstanding > 0 {
            let r = self.results.recv().map_err(|_| anyhow!("the evaluation thread stopped before finishing"))?;
            self.outstanding -= 1;
            out.push(r?);
        }
        Ok(out)
    }
}

impl Drop for TrainEval {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// One evaluation's read-back (the samples of every batch, then the statistics) to the worker.
fn hand_over(
    step: u64,
    vals: Vec<f32>,
    acc: Option<&StatsAccumulator>,
    generated: &Tensor,
    n: usize,
    jobs: Option<&mpsc::Sender<Job>>,
    outstanding: &mut usize,
) -> Result<()> {
    let mut samples = vals;
    let stats = match acc {
        Some(a) => {
            let s = a.parse(&samples[n / generated.shape[0] * generated.numel()..], n)?;
            samples.truncate(n / generated.shape[0] * generated.numel());
            Some(s)
        }
        None => None,
    };
    let tx = jobs.ok_or_else(|| anyhow!("the evaluation thread has stopped"))?;
    tx.send(Job { step, stats, samples }).map_err(|_| anyhow!("the evaluation thread has stopped"))?;
    *outstanding += 1;
    Ok(())
}
