//! Activations (shaders/activation.wgsl; the functions live in common.wgsl): their codes are
//! defined here and prepended to every shader.

use super::*;

/// Activation codes shared by the activation and batch-norm kernels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Act {
    Identity,
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Act {
    /// Every activation with its WGSL name: the codes are defined here only, and the host
    /// prepends them to every shader as constants (`Act::wgsl_constants`).
    pub const ALL: [(Act, &'static str); 5] = [
        (Act::Identity, "ACT_IDENTITY"),
        (Act::Relu, "ACT_RELU"),
        (Act::LeakyRelu(0.0), "ACT_LEAKY_RELU"),
        (Act::Tanh, "ACT_TANH"),
        (Act::Sigmoid, "ACT_SIGMOID"),
    ];

    /// `const ACT_RELU: u32 = 1u;` ... for the WGSL prelude.
    pub fn wgsl_constants() -> String {
        Act::ALL.iter().map(|(a, name)| format!("const {name}: u32 = {}u;\n", a.code())).collect()
    }

    pub fn code(&self) -> u32 {
        match self {
            Act::Identity => 0,
            Act::Relu => 1,
            Act::LeakyRelu(_) => 2,
            Act::Tanh => 3,
            Act::Sigmoid => 4,
        }
    }
    pub fn slope(&self) -> f32 {
        match self {
            Act::LeakyRelu(s) => *s,
            _ => 0.0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ActParams {
    pub len: u32,
    pub op: u32,
    pub slope: f32,
    pub _p: u32,
}

fn act_params(act: Act, len: usize) -> ActParams {
    ActParams { len: len as u32, op: act.code(), slope: act.slope(), _p: 0 }
}

/// Whether these tensors can be walked in whole vec4s (the `*4` entry points).
fn in_vec4s(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| t.numel() % 4 == 0 && t.offset % 4 == 0)
}

/// y = act(x).
pub fn activation_forward(e: &Engine, act: Act, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    y.expect_shape(&x.shape, "activation output")?;
    let p = act_params(act, x.numel());
    if in_vec4s(&[x, y]) {
        return e.dispatch(Family::Activation, "act_fwd4", &p, &[(4, x.binding()), (5, y.binding())], e.grid_for(x.numel() as u64 / 4)?);
    }
    e.dispatch(Family::Activation, "act_fwd", &p, &[(1, x.binding()), (2, y.binding())], e.grid_for(x.numel() as u64)?)
}

/// dx = dy * act'(from the forward output y).
pub fn activation_backward(e: &Engine, act: Act, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    dy.expect_shape(&y.shape, "activation output-gradient")?;
    dx.expect_shape(&y.shape, "activation input-gradient")?;
    if in_vec4s(&[y, dy, dx]) {
        let p = act_params(act, y.numel());
        return e.dispatch(Family::Activation, "act_bwd4", &p, &[(4, y.binding()), (5, dx.binding()), (6, dy.binding())], e.grid_for(y.numel() as u64 / 4)?);
    }
    e.dispatch(
        Family::Activation,
        "act_bwd",
        &act_params(act, y.numel()),
        &[(1, y.binding()), (2, dx.binding()), (3, dy.binding())],
        e.grid_for(y.numel() as u64)?,
    )
}
