//! Layers behind one interface: a layer type is one implementation of `Layer` (its shapes, its
//! parameters and their initialisation, its forward pass, its two backward passes, and the plain
//! CPU reference its forward pass is tested against, tests/layers.rs) and one `LayerKind` variant
//! naming it. Networks (`Net`) only ever talk to `dyn Layer`.

use crate::engine::{Dispatch, Engine};
use crate::kernels::{self, Act, ConvGeom, ConvTGeom, ConvWorkspace};
use crate::tensor::Tensor;
use anyhow::Result;

/// A fully connected layer on (N, in) -> (N, out), weight (out, in) as in PyTorch, with bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearGeom {
    pub n: usize,
    pub din: usize,
    pub dout: usize,
}

/// What every pass of every layer runs with: the engine, and the convolutions' shared scratch.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    pub e: &'a Engine,
    pub ws: &'a ConvWorkspace,
}

/// A layer's parameters, or their gradients: views into the network's flat buffers.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    pub w: &'a Tensor,
    /// The bias, for layers that have one (`Layer::has_bias`).
    pub b: Option<&'a Tensor>,
}

/// What a forward pass writes beside y = layer(x) when the layer offered it: `act` applied to y
/// (`Layer::fuses_activation`; Identity otherwise) and batch norm's partial statistics of y,
/// (out channels, `Layer::bn_partial_slots`, 4).
#[derive(Clone, Copy)]
pub struct Fused<'a> {
    pub act: Act,
    pub bn_partials: Option<&'a Tensor>,
}

/// What every layer type provides.
pub trait Layer: std::fmt::Debug {
    fn in_shape(&self) -> Vec<usize>;
    fn out_shape(&self) -> Vec<usize>;
    fn w_shape(&self) -> Vec<usize>;
    /// Whether the layer has a bias vector (of `out_features` values) after its weight.
    fn has_bias(&self) -> bool {
        false
    }
    /// Multiply-adds of one forward pass.
    fn macs(&self) -> u64;
    /// The same layer at another batch size.
    fn with_batch(&self, n: usize) -> LayerKind;
    /// The geometry its convolution kernels run in (for the workspace), if it is a convolution.
    fn conv_geom(&self) -> Option<ConvGeom> {
        None
    }
    /// Initial weight (and bias) values from `draw(counter, index)` ~ N(0, 1) and `unit(counter,
    /// index)` ~ U[0, 1): each tensor takes the next counter from `next`.
    fn init(&self, weight: &mut [f32], bias: Option<&mut [f32]>, draw: &dyn Fn(u32, u32) -> f64, unit: &dyn Fn(u32, u32) -> f64, next: &mut dyn FnMut() -> u32);
    /// Whether the forward pass can apply `act` itself (saving a pass over memory).
    fn fuses_activation(&self, _e: &Engine, _act: Act) -> bool {
        false
    }
    /// How many batch-norm partial statistics per output channel the forward pass can write
    /// beside its output (kernels::bn_partial_slots), so batch norm after it need not read the
    /// output once more for its statistics; None: it cannot.
    fn bn_partial_slots(&self, _e: &Engine) -> Option<usize> {
        None
    }
    /// y = layer(x), and what `fused` asks for beside it (only what `fuses_activation` and
    /// `bn_partial_slots` offered).
    fn forward(&self, pass: &Pass, x: &Tensor, params: Params, y: &Tensor, fused: Fused) -> Result<Vec<Dispatch>>;
    /// dx = d layer / dx applied to dy.
    fn backward_input(&self, pass: &Pass, dy: &Tensor, params: Params, dx: &Tensor) -> Result<Vec<Dispatch>>;
    /// The parameters' gradients from x and dy into `grads`, written or (with `acc`) added.
    fn backward_params(&self, pass: &Pass, x: &Tensor, dy: &Tensor, grads: Params, acc: bool) -> Result<Vec<Dispatch>>;
    /// The forward pass in plain f64 on the CPU (the reference the GPU pass is checked against).
    fn reference_forward(&self, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64>;
}

/// DCGAN's convolution init: N(0, 0.02).
fn dcgan_init(weight: &mut [f32], draw: &dyn Fn(u32, u32) -> f64, next: &mut dyn FnMut() -> u32) {
    let c = next();
    for (i, v) in weight.iter_mut().enumerate() {
        *v = (0.02 * draw(c, i as u32)) as f32;
    }
}

impl Layer for ConvGeom {
    fn in_shape(&self) -> Vec<usize> {
        self.x_shape().to_vec()
    }
    fn out_shape(&self) -> Vec<usize> {
        self.y_shape().to_vec()
    }
    fn w_shape(&self) -> Vec<usize> {
        ConvGeom::w_shape(self).to_vec()
    }
    fn macs(&self) -> u64 {
        ConvGeom::macs(self)
    }
    fn with_batch(&self, n: usize) -> LayerKind {
        LayerKind::Conv(ConvGeom { n, ..*self })
    }
    fn conv_geom(&self) -> Option<ConvGeom> {
        Some(*self)
    }
    fn init(
        &self,
        weight: &mut [f32],
        _bias: Option<&mut [f32]>,
        draw: &dyn Fn(u32, u32) -> f64,
        _unit: &dyn Fn(u32, u32) -> f64,
        next: &mut dyn FnMut() -> u32,
    ) {
        dcgan_init(weight, draw, next)
    }
    fn fuses_activation(&self, e: &Engine, _act: Act) -> bool {
        kernels::fuses_activation(e, self, false)
    }
    fn bn_partial_slots(&self, e: &Engine) -> Option<usize> {
        kernels::bn_partial_slots(e, kernels::ConvPass::Forward, self)
    }
    fn forward(&self, pass: &Pass, x: &Tensor, params: Params, y: &Tensor, fused: Fused) -> Result<Vec<Dispatch>> {
        kernels::conv2d_forward_act(pass.e, pass.ws, self, x, params.w, y, fused.act, fused.bn_partials)
    }
    fn backward_input(&self, pass: &Pass, dy: &Tensor, params: Params, dx: &Tensor) -> Result<Vec<Dispatch>> {
        kernels::conv2d_backward_input(pass.e, pass.ws, self, dy, params.w, dx)
    }
    fn backward_params(&self, pass: &Pass, x: &Tensor, dy: &Tensor, grads: Params, acc: bool) -> Result<Vec<Dispatch>> {
        kernels::conv2d_backward_weight(pass.e, pass.ws, self, x, dy, grads.w, acc)
    }
    fn reference_forward(&self, x: &[f64], w: &[f64], _b: Option<&[f64]>) -> Vec<f64> {
        crate::reference::conv2d(self, x, w)
    }
}

impl Layer for ConvTGeom {
    fn in_shape(&self) -> Vec<usize> {
        self.x_shape().to_vec()
    }
    fn out_shape(&self) -> Vec<usize> {
        self.y_shape().to_vec()
    }
    fn w_shape(&self) -> Vec<usize> {
        ConvTGeom::w_shape(self).to_vec()
    }
    fn macs(&self) -> u64 {
        ConvTGeom::macs(self)
    }
    fn with_batch(&self, n: usize) -> LayerKind {
        LayerKind::ConvT(ConvTGeom { n, ..*self })
    }
    fn conv_geom(&self) -> Option<ConvGeom> {
        Some(self.as_conv())
    }
    fn init(
        &self,
        weight: &mut [f32],
        _bias: Option<&mut [f32]>,
        draw: &dyn Fn(u32, u32) -> f64,
        _unit: &dyn Fn(u32, u32) -> f64,
        next: &mut dyn FnMut() -> u32,
    ) {
        dcgan_init(weight, draw, next)
    }
    fn fuses_activation(&self, e: &Engine, _act: Act) -> bool {
        kernels::fuses_activation(e, &self.as_conv(), true)
    }
    fn bn_partial_slots(&self, e: &Engine) -> Option<usize> {
        kernels::bn_partial_slots(e, kernels::ConvPass::InputGrad, &self.as_conv())
    }
    fn forward(&self, pass: &Pass, x: &Tensor, params: Params, y: &Tensor, fused: Fused) -> Result<Vec<Dispatch>> {
        kernels::conv_transpose2d_forward_act(pass.e, pass.ws, self, x, params.w, y, fused.act, fused.bn_partials)
    }
    fn backward_input(&self, pass: &Pass, dy: &Tensor, params: Params, dx: &Tensor) -> Result<Vec<Dispatch>> {
        kernels::conv_transpose2d_backward_input(pass.e, pass.ws, self, dy, params.w, dx)
    }
    fn backward_params(&self, pass: &Pass, x: &Tensor, dy: &Tensor, grads: Params, acc: bool) -> Result<Vec<Dispatch>> {
        kernels::conv_transpose2d_backward_weight(pass.e, pass.ws, self, x, dy, grads.w, acc)
    }
    fn reference_forward(&self, x: &[f64], w: &[f64], _b: Option<&[f64]>) -> Vec<f64> {
        crate::reference::conv_transpose2d(self, x, w)
    }
}

impl Layer for LinearGeom {
    fn in_shape(&self) -> Vec<usize> {
        vec![self.n, self.din]
    }
    fn out_shape(&self) -> Vec<usize> {
        vec![self.n, self.dout]
    }
    fn w_shape(&self) -> Vec<usize> {
        vec![self.dout, self.din]
    }
    fn has_bias(&self) -> bool {
        true
    }
    fn macs(&self) -> u64 {
        (self.n * self.din * self.dout) as u64
    }
    fn with_batch(&self, n: usize) -> LayerKind {
        LayerKind::Linear(LinearGeom { n, ..*self })
    }
    /// PyTorch's default for nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    fn init(
        &self,
        weight: &mut [f32],
        bias: Option<&mut [f32]>,
        _draw: &dyn Fn(u32, u32) -> f64,
        unit: &dyn Fn(u32, u32) -> f64,
        next: &mut dyn FnMut() -> u32,
    ) {
        let bound = 1.0 / (self.din as f64).sqrt();
        for t in std::iter::once(weight).chain(bias) {
            let c = next();
            for (i, v) in t.iter_mut().enumerate() {
                *v = ((2.0 * unit(c, i as u32) - 1.0) * bound) as f32;
            }
        }
    }
    fn forward(&self, pass: &Pass, x: &Tensor, params: Params, y: &Tensor, fused: Fused) -> Result<Vec<Dispatch>> {
        anyhow::ensure!(fused.act == Act::Identity && fused.bn_partials.is_none(), "linear layers fuse no activation or batch-norm statistics");
        Ok(vec![kernels::linear_forward(pass.e, x, params.w, params.b, y)?])
    }
    fn backward_input(&self, pass: &Pass, dy: &Tensor, params: Params, dx: &Tensor) -> Result<Vec<Dispatch>> {
        Ok(vec![kernels::linear_backward_input(pass.e, dy, params.w, dx)?])
    }
    fn backward_params(&self, pass: &Pass, x: &Tensor, dy: &Tensor, grads: Params, acc: bool) -> Result<Vec<Dispatch>> {
        let mut v = vec![kernels::linear_backward_weight(pass.e, x, dy, grads.w, acc)?];
        if let Some(db) = grads.b {
            v.push(kernels::sum_rows(pass.e, dy, db, acc)?);
        }
        Ok(v)
    }
    fn reference_forward(&self, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64> {
        crate::reference::matmul(x, &crate::reference::transpose(w, self.dout, self.din), b, self.n, self.dout, self.din)
    }
}

/// The layer types a network can hold, by name; each is a `Layer`.
#[derive(Clone, Copy, Debug)]
pub enum LayerKind {
    Conv(ConvGeom),
    ConvT(ConvTGeom),
    Linear(LinearGeom),
}

impl LayerKind {
    /// The layer behind the name: the one place that lists the types.
    pub fn layer(&self) -> &dyn Layer {
        match self {
            LayerKind::Conv(g) => g,
            LayerKind::ConvT(g) => g,
            LayerKind::Linear(g) => g,
        }
    }
    pub fn in_shape(&self) -> Vec<usize> {
        self.layer().in_shape()
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.layer().out_shape()
    }
    pub fn w_shape(&self) -> Vec<usize> {
        self.layer().w_shape()
    }
    /// Output features (channels for convolutions).
    pub fn out_features(&self) -> usize {
        self.out_shape()[1]
    }
    pub fn conv_geom(&self) -> Option<ConvGeom> {
        self.layer().conv_geom()
    }
    pub fn macs(&self) -> u64 {
        self.layer().macs()
    }
    pub fn with_batch(&self, n: usize) -> LayerKind {
        self.layer().with_batch(n)
    }
}
