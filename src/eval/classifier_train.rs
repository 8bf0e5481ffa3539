//! The recipe that makes assets/mnist_classifier.safetensors: the built-in digits split into
//! 9,000 for training and the last 1,000 held out, Adam, softmax cross-entropy, every kernel
//! gangpu's own. Deterministic: the same adapter makes the same weights bit for bit.

use super::classifier::{predict, Classifier, CLASSES, SIDE};
use crate::data::Dataset;
use crate::engine::Engine;
use crate::kernels::{self, CondParams, GatherSource, RngParams};
use crate::nn::{NetOptimizer, OptRule};
use crate::tensor::Tensor;
use anyhow::{ensure, Context, Result};

/// The recipe (recorded in the weights file's metadata).
#[derive(Clone, Debug)]
pub struct Recipe {
    pub seed: u32,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    /// From this epoch on (0-based) the learning rate is a tenth of `lr`.
    pub decay_at: usize,
    /// Images held out (the last ones of the built-in set).
    pub held_out: usize,
}

impl Default for Recipe {
    fn default() -> Recipe {
        Recipe { seed: 0, batch: 64, epochs: 8, lr: 1e-3, decay_at: 5, held_out: 1000 }
    }
}

impl Recipe {
    pub fn describe(&self) -> String {
        format!(
            "built-in MNIST digits, last {} held out; Adam lr {} (a tenth from epoch {}) betas (0.9, 0.999), batch {}, {} epochs, seed {}",
            self.held_out,
            self.lr,
            self.decay_at + 1,
            self.batch,
            self.epochs,
            self.seed
        )
    }
}

/// What training reports.
pub struct Trained {
    pub clf: Classifier,
    pub steps: u64,
    pub test_accuracy: f64,
}

/// The first `count` images of `ds`.
fn head(ds: &Dataset, count: usize) -> Dataset {
    let per = ds.values_per_image();
    Dataset { count, pixels: ds.pixels[..count * per].to_vec(), labels: ds.labels.as_ref().map(|l| l[..count].to_vec()), skipped: vec![], ..ds.clone() }
}

/// Images `from..` of `ds` as classifier input values in [-1, 1], and their labels.
pub fn tail_values(ds: &Dataset, from: usize) -> (Vec<f32>, Vec<usize>) {
    let per = ds.values_per_image();
    let vals = ds.pixels[from * per..].iter().map(|p| *p as f32 / 127.5 - 1.0).collect();
    let labels = ds.labels.as_ref().map(|l| l[from..].iter().map(|x| *x as usize).collect()).unwrap_or_default();
    (vals, labels)
}

/// Trains the classifier by `r`, calling `log` once per epoch.
pub fn train(e: &Engine, r: &Recipe, log: &mut dyn FnMut(&str)) -> Result<Trained> {
    let ds = crate::data::builtin_mnist(SIDE, 1)?;
    ensure!(r.held_out < ds.count && r.batch >= 2, "classifier recipe: hold out fewer than {} images, batch at least 2", ds.count);
    let train_set = head(&ds, ds.count - r.held_out);
    let clf = Classifier::new(e, r.batch)?;
    clf.init(e, r.seed)?;
    let mut opt = NetOptimizer::new(e, &clf.net, OptRule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, r.lr, "classifier")?;

    let storage = |bytes: &[u8], label: &str| {
        let b = e.gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len().max(4).div_ceil(4) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        e.gpu.queue.write_buffer(&b, 0, bytes);
        b
    };
    let packed = train_set.packed_words();
    let data = storage(&packed, "classifier training images");
    let labels: Vec<u32> = train_set.labels.as_ref().context("the built-in digits have no labels")?.iter().map(|l| *l as u32).collect();
    let labels_buf = storage(bytemuck::cast_slice(&labels), "classifier training labels");
    let picked = storage(&vec![0u8; r.batch * 4], "classifier picked indices");
    let lab = storage(&vec![0u8; r.batch * 4], "classifier batch labels");
    let lab_unused = storage(&vec![0u8; r.batch * 4], "classifier unused labels");
    let x = Tensor::zeros(&e.gpu, &[r.batch, 1, SIDE, SIDE], "classifier batch")?;
    let stats = Tensor::zeros(&e.gpu, &[4], "classifier loss")?;
    let src = GatherSource { bytes: &data, count: train_set.count, channels: 1, side: SIDE, hflip: false };
    let gather = kernels::gather_batch(e, &src, &x, &picked, r.seed, 1, 0)?;
    let draw_labels = kernels::draw_labels(e, r.batch, CLASSES, &picked, &labels_buf, &lab, &lab_unused, r.seed, 2)?;
    let logits = clf.logits()?.reshape(&[r.batch * CLASSES])?;
    let dlogits = clf.acts().d_out[clf.acts().d_out.len() - 1].reshape(&[r.batch * CLASSES])?;
    let mut step_list = clf.forward(e, &x)?;
    step_list.push(kernels::softmax_cross_entropy(e, 1.0, &logits, CLASSES, 0, CLASSES, &lab, &dlogits, &stats, 0)?);
    step_list.extend(clf.net.backward(e, clf.ws(), &x, clf.acts(), None, true, false)?);

    let steps_per_epoch = train_set.count.div_ceil(r.batch) as u64;
    let base = src.params(&x, &picked, r.seed, 1, 0)?;
    let gather_params = |counter: u32| RngParams { counter, ..base };
    let mut step = 0u64;
    let mut in_flight = std::collections::VecDeque::new();
    for epoch in 0..r.epochs {
        opt.lr = if epoch >= r.decay_at { r.lr / 10.0 } else { r.lr };
        for _ in 0..steps_per_epoch {
            gather.set_params(&e.gpu, &gather_params(step as u32));
            draw_labels.set_params(
                &e.gpu,
                &CondParams { batch: r.batch as u32, classes: CLASSES as u32, seed: r.seed, stream: 2, counter: step as u32, ..Default::default() },
            );
            let opt_dispatch = opt.step(&e.gpu);
            let mut list = vec![&gather, &draw_labels];
            list.extend(step_list.iter());
            list.push(opt_dispatch);
            let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("classifier step") });
            e.record(&mut enc, &list);
            in_flight.push_back(e.gpu.queue.submit(Some(enc.finish())));
            // as the trainer: at most two steps in flight, no read-back until the epoch ends
            if in_flight.len() > 2 {
                if let Some(old) = in_flight.pop_front() {
                    e.gpu
                        .device
                        .poll(wgpu::PollType::Wait { submission_index: Some(old), timeout: None })
                        .map_err(|err| anyhow::anyhow!("waiting for the GPU: {err}"))?;
                }
            }
            step += 1;
        }
        let s = stats.read(&e.gpu)?;
        log(&format!("epoch {}/{}: last batch loss {:.4}, accuracy {:.2}%", epoch + 1, r.epochs, s[0], 100.0 * s[1]));
    }
    e.gpu.check("training the classifier")?;
    let (test, test_labels) = tail_values(&ds, ds.count - r.held_out);
    let eval = clf.with_batch(e, 250)?;
    let pred = predict(e, &eval, &test)?;
    let right = pred.iter().zip(&test_labels).filter(|(p, l)| p == l).count();
    Ok(Trained { clf, steps: step, test_accuracy: right as f64 / test_labels.len() as f64 })
}
