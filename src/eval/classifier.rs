//! The MNIST classifier behind FID, coverage and confidence: a LeNet-sized convolutional network
//! run by gangpu's own kernels, its weights shipped in assets/ (trained by `classifier_train`,
//! reproducibly), and the GPU accumulation of feature statistics over a set of images.
//!
//! 1x28x28 -> conv 4x4/2 (32) -> conv 4x4/2 (64) -> conv 3x3/2 (64, 4x4) -> conv 4x4 (128
//! features, 1x1) -> conv 1x1 (10 logits), ReLU after every layer but the last. The 128 ReLU
//! features before the last layer are what FID compares.

use super::FeatureStats;
use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, Act, BnConfig, ConvGeom, ConvWorkspace};
use crate::nn::{Activations, BlockSpec, Flat, FlatLayout, LayerKind, Net};
use crate::tensor::Tensor;
use anyhow::{anyhow, bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;

pub const SIDE: usize = 28;
pub const FEATURES: usize = 128;
pub const CLASSES: usize = 10;
/// The block whose output is the feature vector.
const FEATURE_BLOCK: usize = 3;
/// Marks the weights file (safetensors metadata), with the recipe that made it.
pub const FORMAT: &str = "gangpu-mnist-classifier-1";

/// The weights shipped with gangpu (`gangpu eval --train-classifier` makes them again).
pub const BUILTIN: &[u8] = include_bytes!("../../assets/mnist_classifier.safetensors");

/// The network at batch `n`.
pub fn specs(n: usize) -> Vec<BlockSpec> {
    let conv = |cin, h, cout, k, stride, pad, act| BlockSpec {
        layer: LayerKind::Conv(ConvGeom { n, cin, h, w: h, cout, kh: k, kw: k, stride, pad }),
        batch_norm: false,
        act,
    };
    vec![
        conv(1, 28, 32, 4, 2, 1, Act::Relu),
        conv(32, 14, 64, 4, 2, 1, Act::Relu),
        conv(64, 7, 64, 3, 2, 1, Act::Relu),
        conv(64, 4, FEATURES, 4, 1, 0, Act::Relu),
        conv(FEATURES, 1, CLASSES, 1, 1, 0, Act::Identity),
    ]
}

/// The classifier at one batch size, with its activations.
pub struct Classifier {
    pub net: Net,
    ws: ConvWorkspace,
    acts: Activations,
    pub batch: usize,
}

impl Classifier {
    /// A classifier at batch `n` (parameters uninitialised: `init` or `load`).
    pub fn new(e: &Engine, n: usize) -> Result<Classifier> {
        let bn = BnConfig { eps: 1e-5, momentum: 0.0, act: Act::Identity };
        let net = Net::new(e, specs(n), bn, "classifier")?;
        Classifier::around(e, net)
    }

    fn around(e: &Engine, net: Net) -> Result<Classifier> {
        let ws = ConvWorkspace::new(e, &net.conv_geoms())?;
        let acts = net.activations(e, "classifier")?;
        let batch = net.in_shape()[0];
        Ok(Classifier { net, ws, acts, batch })
    }

    /// The same classifier (sharing parameters) at another batch size.
    pub fn with_batch(&self, e: &Engine, n: usize) -> Result<Classifier> {
        Classifier::around(e, self.net.with_batch(n))
    }

    pub fn ws(&self) -> &ConvWorkspace {
        &self.ws
    }
    pub fn acts(&self) -> &Activations {
        &self.acts
    }
    /// (B, 128) ReLU features.
    pub fn features(&self) -> Result<Tensor> {
        self.acts.out[FEATURE_BLOCK].reshape(&[self.batch, FEATURES])
    }
    /// (B, 10) logits.
    pub fn logits(&self) -> Result<Tensor> {
        self.acts.out[self.acts.out.len() - 1].reshape(&[self.batch, CLASSES])
    }

    /// Dispatches of the forward pass on `x` (B, 1, 28, 28) in [-1, 1].
    pub fn forward(&self, e: &Engine, x: &Tensor) -> Result<Vec<Dispatch>> {
        self.net.forward(e, &self.ws, x, &self.acts, true, 0.0)
    }

    /// He-normal weights (std sqrt(2 / fan_in); the last layer 1 / sqrt(fan_in)), drawn from the
    /// counter-based generator: the same seed gives the same network on every adapter.
    pub fn init(&self, e: &Engine, seed: u32) -> Result<()> {
        let layout = &self.net.params.layout;
        let mut p = vec![0f32; layout.len];
        let last = layout.slots.len() - 1;
        for (t, s) in layout.slots.iter().enumerate() {
            let fan_in: usize = s.shape[1..].iter().product();
            let std = if t == last { 1.0 / (fan_in as f64).sqrt() } else { (2.0 / fan_in as f64).sqrt() };
            for i in 0..s.numel() {
                p[s.offset + i] = (std * crate::rng::rng_normal(seed, 11, t as u32, i as u32)) as f32;
            }
        }
        self.net.params.all().write(&e.gpu, &p)
    }

    /// Loads weights from a safetensors file's bytes (`what` names it in errors).
    pub fn load(&self, e: &Engine, bytes: &[u8], what: &str) -> Result<()> {
        if bytes.is_empty() {
            bail!("{what} is empty: make the classifier with `gangpu eval --train-classifier`");
        }
        let (_, md) = safetensors::SafeTensors::read_metadata(bytes).map_err(|err| anyhow!("{what} is not a safetensors file ({err})"))?;
        if md.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str) != Some(FORMAT) {
            bail!("{what} is not a gangpu MNIST classifier (no '{FORMAT}' format tag); make one with `gangpu eval --train-classifier`");
        }
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|err| anyhow!("{what} is corrupt: {err}"))?;
        for (name, _, _, shape) in self.net.export_names() {
            let t = st.tensor(&name).map_err(|_| anyhow!("{what}: tensor {name} is missing"))?;
            ensure!(t.shape() == shape.as_slice() && t.dtype() == Dtype::F32, "{what}: tensor {name} has shape {:?}, expected {shape:?} (f32)", t.shape());
            let vals: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            ensure!(vals.iter().all(|v| v.is_finite()), "{what}: tensor {name} holds non-finite values");
            self.net.write_named(e, &name, &vals)?;
        }
        Ok(())
    }

    pub fn load_builtin(&self, e: &Engine) -> Result<()> {
        self.load(e, BUILTIN, "the built-in classifier (assets/mnist_classifier.safetensors)")
    }

    /// The weights as a safetensors file (PyTorch nn.Sequential names), with `meta` added.
    pub fn to_bytes(&self, e: &Engine, meta: &[(&str, String)]) -> Result<Vec<u8>> {
        let p = self.net.params.all().read(&e.gpu)?;
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .net
            .export_names()
            .into_iter()
            .map(|(name, _, off, shape)| {
                let n: usize = shape.iter().product();
                (name, shape, bytemuck::cast_slice(&p[off..off + n]).to_vec())
            })
            .collect();
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, shape, b)| TensorView::new(Dtype::F32, shape.clone(), b).map(|v| (n.clone(), v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|err| anyhow!("building classifier tensors: {err}"))?;
        let mut md: std::collections::HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        md.insert("format".into(), FORMAT.into());
        safetensors::serialize(views, &Some(md)).map_err(|err| anyhow!("serialising the classifier: {err}"))
    }

    pub fn save(&self, e: &Engine, path: &Path, meta: &[(&str, String)]) -> Result<()> {
        let bytes = self.to_bytes(e, meta)?;
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
    }
}

/// Feature statistics summed on the GPU over every batch a classifier sees: one buffer holding
/// the feature sum (128), the sum of outer products (128 x 128) and the class statistics (3 x 10).
pub struct StatsAccumulator {
    pub flat: Flat,
}

impl StatsAccumulator {
    pub fn new(e: &Engine) -> Result<StatsAccumulator> {
        let mut layout = FlatLayout::default();
        layout.add("feature sum", &[FEATURES]);
        layout.add("feature cross-products", &[FEATURES, FEATURES]);
        layout.add("class statistics", &[3 * CLASSES]);
        Ok(StatsAccumulator { flat: Flat::new(e, layout, "feature statistics")? })
    }

    /// Dispatches that add one batch's statistics (after `clf.forward`).
    pub fn accumulate(&self, e: &Engine, clf: &Classifier) -> Result<Vec<Dispatch>> {
        let f = clf.features()?;
        Ok(vec![
            kernels::sum_rows(e, &f, &self.flat.view(0), true)?,
            kernels::linear_backward_weight(e, &f, &f, &self.flat.view(1), true)?,
            kernels::class_stats_accumulate(e, &clf.logits()?, CLASSES, &self.flat.view(2))?,
        ])
    }

    /// Zeroes the sums (recorded before the first batch of a set).
    pub fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.flat.buffer, 0, None);
    }

    /// The statistics from the buffer's contents (`vals`: the whole flat buffer) over `n` images.
    pub fn parse(&self, vals: &[f32], n: usize) -> Result<FeatureStats> {
        ensure!(vals.len() >= self.flat.layout.len, "feature statistics: {} values read back, expected {}", vals.len(), self.flat.layout.len);
        let slot = |i: usize| {
            let s = &self.flat.layout.slots[i];
            vals[s.offset..s.offset + s.numel()].iter().map(|v| *v as f64).collect::<Vec<f64>>()
        };
        Ok(FeatureStats { n, sum: slot(0), cross: slot(1), class: slot(2) })
    }

    pub fn bytes(&self) -> u64 {
        (self.flat.layout.len * 4) as u64
    }
}

/// Statistics of `images` ((n, 1, 28, 28) values in [-1, 1]) through `clf`'s weights, in batches
/// of `clf.batch` (and one smaller batch for the rest). Blocking: for `gangpu eval` and set-up.
pub fn stats_of_images(e: &Engine, clf: &Classifier, images: &[f32]) -> Result<FeatureStats> {
    let per = SIDE * SIDE;
    ensure!(!images.is_empty() && images.len().is_multiple_of(per), "classifier input: {} values are not whole 28x28 images", images.len());
    let n = images.len() / per;
    let acc = StatsAccumulator::new(e)?;
    let mut enc = e.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("clear statistics") });
    acc.clear(&mut enc);
    e.gpu.queue.submit(Some(enc.finish()));
    let full = n / clf.batch;
    let rest = n % clf.batch;
    let input = Tensor::zeros(&e.gpu, &[clf.batch, 1, SIDE, SIDE], "classifier input")?;
    let mut list = clf.forward(e, &input)?;
    list.extend(acc.accumulate(e, clf)?);
    for i in 0..full {
        input.write(&e.gpu, &images[i * clf.batch * per..(i + 1) * clf.batch * per])?;
        e.run(&list.iter().collect::<Vec<_>>())?;
    }
    if rest > 0 {
        let small = clf.with_batch(e, rest)?;
        let input = Tensor::zeros(&e.gpu, &[rest, 1, SIDE, SIDE], "classifier input (rest)")?;
        let mut list = small.forward(e, &input)?;
        list.extend(acc.accumulate(e, &small)?);
        input.write(&e.gpu, &images[full * clf.batch * per..])?;
        e.run(&list.iter().collect::<Vec<_>>())?;
    }
    let vals = acc.flat.all().read(&e.gpu)?;
    e.gpu.check("computing feature statistics")?;
    acc.parse(&vals, n)
}

/// The classifier's predicted class of each image (blocking; for accuracy).
pub fn predict(e: &Engine, clf: &Classifier, images: &[f32]) -> Result<Vec<usize>> {
    let per = SIDE * SIDE;
    let n = images.len() / per;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let b = clf.batch.min(n - start);
        let c = if b == clf.batch { None } else { Some(clf.with_batch(e, b)?) };
        let c = c.as_ref().unwrap_or(clf);
        let input = Tensor::from_slice(&e.gpu, &[b, 1, SIDE, SIDE], &images[start * per..(start + b) * per], "classifier input")?;
        e.run(&c.forward(e, &input)?.iter().collect::<Vec<_>>())?;
        let logits = c.logits()?.read(&e.gpu)?;
        out.extend(logits.chunks(CLASSES).map(|r| r.iter().enumerate().fold(0, |best, (j, v)| if *v > r[best] { j } else { best })));
        start += b;
    }
    Ok(out)
}
