//! Layers as forward/backward pairs over GPU tensors. All parameters of a network live in one
//! flat buffer (and its gradients in another), so one optimizer dispatch updates a whole
//! network. Every dispatch a network needs is built once, here, and replayed by the trainer.

use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, Act, BnConfig, ConvGeom, ConvWorkspace};
use crate::tensor::{alloc_buffer, Tensor, ALIGN_ELEMS};
use anyhow::{ensure, Result};
use std::sync::Arc;

mod layer;
mod optimizer;
mod penalty;
pub use layer::{Fused, Layer, LayerKind, LinearGeom, Params, Pass};
pub use optimizer::{NetOptimizer, OptRule};
pub use penalty::PenaltyBuffers;

/// One named parameter (or buffer) inside a flat buffer.
#[derive(Clone, Debug)]
pub struct ParamSlot {
    /// PyTorch state_dict name, e.g. `main.0.weight`.
    pub name: String,
    pub offset: usize,
    pub shape: Vec<usize>,
}

impl ParamSlot {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Lays out parameters in one flat buffer, each aligned for binding.
#[derive(Default, Clone, Debug)]
pub struct FlatLayout {
    pub slots: Vec<ParamSlot>,
    pub len: usize,
}

impl FlatLayout {
    pub fn add(&mut self, name: &str, shape: &[usize]) -> usize {
        let offset = self.len;
        let n: usize = shape.iter().product();
        self.slots.push(ParamSlot { name: name.to_string(), offset, shape: shape.to_vec() });
        self.len = (offset + n).div_ceil(ALIGN_ELEMS) * ALIGN_ELEMS;
        self.slots.len() - 1
    }
    pub fn view(&self, buffer: &Arc<wgpu::Buffer>, slot: usize) -> Tensor {
        let s = &self.slots[slot];
        Tensor { buffer: buffer.clone(), offset: s.offset, shape: s.shape.clone() }
    }
}

/// A flat buffer with its layout.
#[derive(Clone)]
pub struct Flat {
    pub layout: FlatLayout,
    pub buffer: Arc<wgpu::Buffer>,
}

impl Flat {
    pub fn new(e: &Engine, layout: FlatLayout, label: &str) -> Result<Flat> {
        kernels_check_len(e, layout.len, label)?;
        let buffer = alloc_buffer(&e.gpu, layout.len, label)?;
        Ok(Flat { layout, buffer })
    }
    pub fn view(&self, slot: usize) -> Tensor {
        self.layout.view(&self.buffer, slot)
    }
    pub fn all(&self) -> Tensor {
        Tensor { buffer: self.buffer.clone(), offset: 0, shape: vec![self.layout.len] }
    }
}

fn kernels_check_len(e: &Engine, len: usize, label: &str) -> Result<()> {
    crate::tensor::check_binding(&e.gpu, len, label)
}

/// layer -> optional batch norm -> activation: conv (no bias) blocks as in DCGAN, or linear
/// (with bias) blocks for MLPs.
#[derive(Clone, Debug)]
pub struct BlockSpec {
    pub layer: LayerKind,
    pub batch_norm: bool,
    pub act: Act,
}

/// Parameter slots of one block in the flat layout.
#[derive(Clone, Debug)]
struct BlockSlots {
    weight: usize,
    bias: Option<usize>,
    affine: Option<usize>,
}

/// Where a network keeps its per-block state on the GPU.
#[derive(Clone)]
pub struct Net {
    pub specs: Vec<BlockSpec>,
    pub params: Flat,
    pub grads: Flat,
    /// Batch-norm running statistics ((2, C) per BN block: mean then var), separate from the
    /// parameters so no dispatch reads and writes one buffer.
    pub bn_state: Flat,
    slots: Vec<BlockSlots>,
    bn_slots: Vec<Option<usize>>,
    /// PyTorch module index of each block's conv and BN inside `main`.
    pub torch_index: Vec<(usize, Option<usize>)>,
    pub bn: BnConfig,
    /// Spectral normalisation of every weight, when enabled.
    pub sn: Option<SpectralNorm>,
}

/// Spectral-norm state of a network: the normalised weights the layers use, their gradients,
/// and per weight the persistent power-iteration vectors [u | v | sigma].
#[derive(Clone)]
pub struct SpectralNorm {
    pub w_sn: Flat,
    pub g_sn: Flat,
    pub state: Flat,
}

/// Activations of one pass through a network (allocated once per distinct use).
pub struct Activations {
    /// Conv outputs (pre-normalisation) per block.
    pub pre: Vec<Tensor>,
    /// Block outputs (after BN and activation); equals `pre` for a bare conv.
    pub out: Vec<Tensor>,
    /// Gradients with respect to `pre` and `out`.
    pub d_pre: Vec<Tensor>,
    pub d_out: Vec<Tensor>,
    /// Batch statistics saved by the forward pass for the backward pass.
    pub saved: Vec<Option<Tensor>>,
    /// Partial batch statistics (channels, slots, 4) a block's layer writes beside its output in
    /// training mode, where its kernel can (`Layer::bn_partial_slots`): batch norm then merges
    /// them instead of reading the output once more.
    pub bn_partials: Vec<Option<Tensor>>,
}

impl Net {
    /// Lays out a network's parameters with PyTorch `nn.Sequential` names (module `main`, with
    /// activations counted as modules).
    pub fn new(e: &Engine, specs: Vec<BlockSpec>, bn: BnConfig, label: &str) -> Result<Net> {
        let mut layout = FlatLayout::default();
        let mut bn_layout = FlatLayout::default();
        let mut slots = Vec::new();
        let mut bn_slots = Vec::new();
        let mut torch_index = Vec::new();
        let mut idx = 0;
        for s in &specs {
            let conv_i = idx;
            let weight = layout.add(&format!("main.{conv_i}.weight"), &s.layer.w_shape());
            let bias = s.layer.layer().has_bias().then(|| layout.add(&format!("main.{conv_i}.bias"), &[s.layer.out_features()]));
            idx += 1;
            let (affine, bn_i) = if s.batch_norm {
                let c = s.layer.out_features();
                let a = layout.add(&format!("main.{idx}.affine"), &[2, c]);
                bn_slots.push(Some(bn_layout.add(&format!("main.{idx}.running"), &[2, c])));
                idx += 1;
                (Some(a), Some(idx - 1))
            } else {
                bn_slots.push(None);
                (None, None)
            };
            if s.act != Act::Identity {
                idx += 1;
            }
            slots.push(BlockSlots { weight, bias, affine });
            torch_index.push((conv_i, bn_i));
        }
        for w in specs.windows(2) {
            ensure!(
                w[0].layer.out_shape() == w[1].layer.in_shape(),
                "{label}: block output {:?} does not feed the next block's input {:?}",
                w[0].layer.out_shape(),
                w[1].layer.in_shape()
            );
        }
        let params = Flat::new(e, layout.clone(), &format!("{label} parameters"))?;
        let grads = Flat::new(e, layout, &format!("{label} gradients"))?;
        let bn_state = Flat::new(e, bn_layout, &format!("{label} batch-norm statistics"))?;
        Ok(Net { specs, params, grads, bn_state, slots, bn_slots, torch_index, bn, sn: None })
    }

    pub fn in_shape(&self) -> Vec<usize> {
        self.specs[0].layer.in_shape()
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.specs[self.specs.len() - 1].layer.out_shape()
    }
    pub fn conv_geoms(&self) -> Vec<ConvGeom> {
        self.specs.iter().filter_map(|s| s.layer.conv_geom()).collect()
    }
    /// Multiply-adds of one forward pass.
    pub fn macs(&self) -> u64 {
        self.specs.iter().map(|s| s.layer.macs()).sum()
    }

    /// The same network (sharing parameters, gradients and statistics) at another batch size,
    /// e.g. to evaluate it on a grid of inputs.
    pub fn with_batch(&self, n: usize) -> Net {
        let mut net = self.clone();
        for s in &mut net.specs {
            s.layer = s.layer.with_batch(n);
        }
        net
    }

    /// Turns on spectral normalisation of every weight (u starts as a normalised N(0, 1) draw).
    pub fn enable_spectral_norm(&mut self, e: &Engine, seed: u32, stream: u32) -> Result<()> {
        let mut layout = FlatLayout::default();
        for (i, s) in self.slots.iter().enumerate() {
            let w = &self.params.layout.slots[s.weight];
            let rows = w.shape[0];
            let cols = w.numel() / rows;
            layout.add(&format!("block {i} spectral norm"), &[rows + cols + 1]);
        }
        let state = Flat::new(e, layout, "spectral norm state")?;
        let mut init = vec![0f32; state.layout.len];
        for (i, slot) in state.layout.slots.iter().enumerate() {
            let rows = self.params.layout.slots[self.slots[i].weight].shape[0];
            let u: Vec<f64> = (0..rows).map(|r| crate::rng::rng_normal(seed, stream, i as u32, r as u32)).collect();
            let n = u.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            for (r, x) in u.iter().enumerate() {
                init[slot.offset + r] = (x / n) as f32;
            }
        }
        state.all().write(&e.gpu, &init)?;
        let w_sn = Flat::new(e, self.params.layout.clone(), "spectrally normalised weights")?;
        let g_sn = Flat::new(e, self.params.layout.clone(), "gradients of normalised weights")?;
        self.sn = Some(SpectralNorm { w_sn, g_sn, state });
        Ok(())
    }

    /// One power iteration per weight and the normalised weights: run before each use of the
    /// network in a step (the weights change between steps).
    pub fn sn_power(&self, e: &Engine) -> Result<Vec<Dispatch>> {
        let Some(sn) = &self.sn else { return Ok(vec![]) };
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| kernels::spectral_norm_power(e, &self.params.view(s.weight), &sn.state.view(i), &sn.w_sn.view(s.weight)))
            .collect()
    }

    /// Gradients of the raw weights from those of the normalised ones: run once after all the
    /// backward passes of a step, before the optimizer.
    pub fn sn_backward(&self, e: &Engine) -> Result<Vec<Dispatch>> {
        let Some(sn) = &self.sn else { return Ok(vec![]) };
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| kernels::spectral_norm_backward(e, &sn.state.view(i), &sn.w_sn.view(s.weight), &sn.g_sn.view(s.weight), &self.grads.view(s.weight)))
            .collect()
    }

    /// The weight a layer computes with: normalised under spectral norm.
    fn weight(&self, i: usize) -> Tensor {
        match &self.sn {
            Some(sn) => sn.w_sn.view(self.slots[i].weight),
            None => self.params.view(self.slots[i].weight),
        }
    }

    /// Where a layer's weight gradient goes: the normalised weight's under spectral norm.
    fn weight_grad(&self, i: usize) -> Tensor {
        match &self.sn {
            Some(sn) => sn.g_sn.view(self.slots[i].weight),
            None => self.grads.view(self.slots[i].weight),
        }
    }

    /// Host-side initial parameters (DCGAN: conv weights ~ N(0, 0.02), BN gamma ~ N(1, 0.02),
    /// beta 0) and running statistics (mean 0, var 1), drawn from the counter-based generator.
    pub fn init_values(&self, seed: u32, stream: u32) -> (Vec<f32>, Vec<f32>) {
        let mut p = vec![0f32; self.params.layout.len];
        // each tensor draws from its own counter of (seed, stream)
        let mut counter = 0u32;
        let mut next = || {
            counter += 1;
            counter - 1
        };
        let normal = |c: u32, mean: f64, std: f64, out: &mut [f32]| {
            for (i, v) in out.iter_mut().enumerate() {
                *v = (mean + std * crate::rng::rng_normal(seed, stream, c, i as u32)) as f32;
            }
        };
        let draw = |c: u32, i: u32| crate::rng::rng_normal(seed, stream, c, i);
        let unit = |c: u32, i: u32| crate::rng::rng_unit(seed, stream, c, i);
        for (spec, s) in self.specs.iter().zip(&self.slots) {
            // each layer initialises its own weight (and bias): DCGAN's N(0, 0.02) for
            // convolutions, PyTorch's uniform default for linear layers
            let ws = &self.params.layout.slots[s.weight];
            let (w_off, n) = (ws.offset, ws.numel());
            match s.bias.map(|b| &self.params.layout.slots[b]) {
                Some(bs) => {
                    let (head, tail) = p.split_at_mut(bs.offset);
                    spec.layer.layer().init(&mut head[w_off..w_off + n], Some(&mut tail[..bs.numel()]), &draw, &unit, &mut next);
                }
                None => spec.layer.layer().init(&mut p[w_off..w_off + n], None, &draw, &unit, &mut next),
            }
            if let Some(a) = s.affine {
                let a = &self.params.layout.slots[a];
                let c = a.shape[1];
                normal(next(), 1.0, 0.02, &mut p[a.offset..a.offset + c]);
            }
        }
        let mut r = vec![0f32; self.bn_state.layout.len];
        for s in &self.bn_state.layout.slots {
            let c = s.shape[1];
            r[s.offset + c..s.offset + 2 * c].fill(1.0);
        }
        (p, r)
    }

    pub fn upload_init(&self, e: &Engine, seed: u32, stream: u32) -> Result<()> {
        let (p, r) = self.init_values(seed, stream);
        self.params.all().write(&e.gpu, &p)?;
        self.bn_state.all().write(&e.gpu, &r)?;
        Ok(())
    }

    /// Allocates activations and gradients for one use of the network with input `x`.
    pub fn activations(&self, e: &Engine, label: &str) -> Result<Activations> {
        let mut a = Activations { pre: vec![], out: vec![], d_pre: vec![], d_out: vec![], saved: vec![], bn_partials: vec![] };
        for (i, s) in self.specs.iter().enumerate() {
            let shape = s.layer.out_shape();
            let pre = Tensor::zeros(&e.gpu, &shape, &format!("{label} block {i} conv output"))?;
            let d_pre = Tensor::zeros(&e.gpu, &shape, &format!("{label} block {i} conv output grad"))?;
            let separate = s.batch_norm || s.act != Act::Identity;
            let (out, d_out) = if separate {
                (
                    Tensor::zeros(&e.gpu, &shape, &format!("{label} block {i} output"))?,
                    Tensor::zeros(&e.gpu, &shape, &format!("{label} block {i} output grad"))?,
                )
            } else {
                (pre.clone(), d_pre.clone())
            };
            a.saved.push(if s.batch_norm { Some(Tensor::zeros(&e.gpu, &[2, shape[1]], &format!("{label} block {i} batch stats"))?) } else { None });
            let slots = if s.batch_norm { s.layer.layer().bn_partial_slots(e) } else { None };
            a.bn_partials.push(match slots {
                Some(slots) => Some(Tensor::zeros(&e.gpu, &[shape[1], slots, 4], &format!("{label} block {i} partial batch stats"))?),
                None => None,
            });
            a.pre.push(pre);
            a.out.push(out);
            a.d_pre.push(d_pre);
            a.d_out.push(d_out);
        }
        Ok(a)
    }

    /// Dispatches of a forward pass from `x` through `acts`. `momentum` 0 leaves the running
    /// statistics untouched (sampling); `train` false uses them instead of batch statistics.
    pub fn forward(&self, e: &Engine, ws: &ConvWorkspace, x: &Tensor, acts: &Activations, train: bool, momentum: f32) -> Result<Vec<Dispatch>> {
        x.expect_shape(&self.in_shape(), "network input")?;
        let mut out = Vec::new();
        for (i, s) in self.specs.iter().enumerate() {
            let input = if i == 0 { x } else { &acts.out[i - 1] };
            let w = self.weight(i);
            let b = self.slots[i].bias.map(|b| self.params.view(b));
            // an activation right after the layer (no batch norm between) is fused when it can be
            let layer = s.layer.layer();
            let pass = Pass { e, ws };
            let params = Params { w: &w, b: b.as_ref() };
            let fused = self.slots[i].affine.is_none() && s.act != Act::Identity && layer.fuses_activation(e, s.act);
            if fused {
                out.extend(layer.forward(&pass, input, params, &acts.out[i], Fused { act: s.act, bn_partials: None })?);
                continue;
            }
            // batch statistics summarised by the layer's kernel as it writes its output
            let partials = if train { acts.bn_partials[i].as_ref() } else { None };
            out.extend(layer.forward(&pass, input, params, &acts.pre[i], Fused { act: Act::Identity, bn_partials: partials })?);
            if let (Some(a), Some(st)) = (self.slots[i].affine, self.bn_slots[i]) {
                let cfg = BnConfig { momentum, act: s.act, ..self.bn };
                let saved = acts.saved[i].as_ref().ok_or_else(|| anyhow::anyhow!("missing batch stats"))?;
                out.push(kernels::batchnorm_forward(
                    e,
                    &cfg,
                    train,
                    &acts.pre[i],
                    &self.params.view(a),
                    &acts.out[i],
                    &self.bn_state.view(st),
                    saved,
                    partials,
                )?);
            } else if s.act != Act::Identity {
                out.push(kernels::activation_forward(e, s.act, &acts.pre[i], &acts.out[i])?);
            }
        }
        Ok(out)
    }

    /// Dispatches of a backward pass, starting from `acts.d_out[last]`. With `param_grads` the
    /// parameter gradients are written (or accumulated with `accumulate`); without, the network is
    /// frozen and only input gradients flow. `dx` receives the gradient of the input, if wanted.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        e: &Engine,
        ws: &ConvWorkspace,
        x: &Tensor,
        acts: &Activations,
        dx: Option<&Tensor>,
        param_grads: bool,
        accumulate: bool,
    ) -> Result<Vec<Dispatch>> {
        let mut out = Vec::new();
        for i in (0..self.specs.len()).rev() {
            let s = &self.specs[i];
            if let (Some(a), Some(_)) = (self.slots[i].affine, self.bn_slots[i]) {
                let cfg = BnConfig { act: s.act, ..self.bn };
                let saved = acts.saved[i].as_ref().ok_or_else(|| anyhow::anyhow!("missing batch stats"))?;
                out.push(kernels::batchnorm_backward(
                    e,
                    &cfg,
                    &acts.pre[i],
                    &acts.d_out[i],
                    &self.params.view(a),
                    saved,
                    &acts.d_pre[i],
                    &self.grads.view(a),
                    accumulate,
                    param_grads,
                )?);
            } else if s.act != Act::Identity {
                out.push(kernels::activation_backward(e, s.act, &acts.out[i], &acts.d_out[i], &acts.d_pre[i])?);
            }
            let input = if i == 0 { x } else { &acts.out[i - 1] };
            let w = self.weight(i);
            let pass = Pass { e, ws };
            if param_grads {
                let (dw, db) = (self.weight_grad(i), self.slots[i].bias.map(|b| self.grads.view(b)));
                out.extend(s.layer.layer().backward_params(&pass, input, &acts.d_pre[i], Params { w: &dw, b: db.as_ref() }, accumulate)?);
            }
            let target = if i == 0 { dx } else { Some(&acts.d_out[i - 1]) };
            if let Some(t) = target {
                out.extend(s.layer.layer().backward_input(&pass, &acts.d_pre[i], Params { w: &w, b: None }, t)?);
            }
        }
        Ok(out)
    }

    /// Names, offsets and shapes of every exported tensor: parameters as PyTorch names them
    /// (BN affine split into weight and bias), then running statistics.
    pub fn export_names(&self) -> Vec<(String, Which, usize, Vec<usize>)> {
        let mut v = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            let (ci, bi) = self.torch_index[i];
            let w = &self.params.layout.slots[s.weight];
            if let Some(sn) = &self.sn {
                // torch.nn.utils.spectral_norm's names: weight_orig, weight_u, weight_v
                v.push((format!("main.{ci}.weight_orig"), Which::Params, w.offset, w.shape.clone()));
                let st = &sn.state.layout.slots[i];
                let rows = w.shape[0];
                v.push((format!("main.{ci}.weight_u"), Which::SnState, st.offset, vec![rows]));
                v.push((format!("main.{ci}.weight_v"), Which::SnState, st.offset + rows, vec![w.numel() / rows]));
            } else {
                v.push((format!("main.{ci}.weight"), Which::Params, w.offset, w.shape.clone()));
            }
            if let Some(b) = s.bias {
                let b = &self.params.layout.slots[b];
                v.push((format!("main.{ci}.bias"), Which::Params, b.offset, b.shape.clone()));
            }
            if let (Some(a), Some(bi), Some(st)) = (s.affine, bi, self.bn_slots[i]) {
                let a = &self.params.layout.slots[a];
                let c = a.shape[1];
                v.push((format!("main.{bi}.weight"), Which::Params, a.offset, vec![c]));
                v.push((format!("main.{bi}.bias"), Which::Params, a.offset + c, vec![c]));
                let r = &self.bn_state.layout.slots[st];
                v.push((format!("main.{bi}.running_mean"), Which::BnState, r.offset, vec![c]));
                v.push((format!("main.{bi}.running_var"), Which::BnState, r.offset + c, vec![c]));
            }
        }
        v
    }

    fn named(&self, name: &str) -> Result<Tensor> {
        let (_, which, offset, shape) =
            self.export_names().into_iter().find(|(n, ..)| n == name).ok_or_else(|| anyhow::anyhow!("this network has no tensor named {name}"))?;
        let buffer = match which {
            Which::Params => self.params.buffer.clone(),
            Which::BnState => self.bn_state.buffer.clone(),
            Which::SnState => self.sn.as_ref().map(|s| s.state.buffer.clone()).ok_or_else(|| anyhow::anyhow!("no spectral norm"))?,
        };
        Ok(Tensor { buffer, offset, shape })
    }

    /// Writes one tensor by its PyTorch name (e.g. `main.1.running_var`).
    pub fn write_named(&self, e: &Engine, name: &str, values: &[f32]) -> Result<()> {
        self.named(name)?.write(&e.gpu, values)
    }

    /// Reads one tensor by its PyTorch name.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_named(&self, e: &Engine, name: &str) -> Result<Vec<f32>> {
        self.named(name)?.read(&e.gpu)
    }

    /// PyTorch module indices of the batch-norm layers (for num_batches_tracked).
    pub fn bn_module_indices(&self) -> Vec<usize> {
        self.torch_index.iter().filter_map(|(_, b)| *b).collect()
    }
}

/// Which flat buffer an exported tensor lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Params,
    BnState,
    SnState,
}
