//! Launchers: small functions that check shapes on the host, size the grid and build a
//! `Dispatch`, one module per kernel family beside its `shaders/<family>.wgsl`. Each `#[repr(C)]`
//! params struct mirrors the WGSL struct of its family; specialised kernels take override
//! constants instead.

use crate::engine::{Dispatch, Engine};
use crate::tensor::Tensor;
use anyhow::{anyhow, bail, ensure, Context, Result};
use bytemuck::{Pod, Zeroable};

mod activation;
mod augment;
mod batchnorm;
mod cond;
mod conv;
mod conv_layout;
mod conv_tiled;
mod eval;
pub mod family;
mod gemm;
mod lab;
mod loss;
mod matmul;
mod optim;
mod penalty;
mod random;
mod specnorm;

pub use activation::*;
pub use augment::*;
pub use batchnorm::*;
pub use cond::*;
pub use conv::*;
pub use conv_layout::*;
use conv_tiled::{conv_tiled_pass, tiled_bn_partial_slots};
pub use eval::*;
pub use family::Family;
pub use gemm::*;
pub use lab::*;
pub use loss::*;
pub use matmul::*;
pub use optim::*;
pub use penalty::*;
pub use random::*;
pub use specnorm::*;

/// The codes every shader switches on, generated from the Rust enums that define them (one side
/// only): activations, loss kinds, penalty kinds, augmentations, the lab's distributions.
pub fn wgsl_codes() -> String {
    let mut s = Act::wgsl_constants();
    for (k, name) in LossKind::ALL {
        s.push_str(&format!("const {name}: u32 = {}u;\n", k.code()));
    }
    for (k, name) in PenaltyKind::ALL {
        s.push_str(&format!("const {name}: u32 = {}u;\n", k.code()));
    }
    for (a, name) in Augmentation::ALL {
        s.push_str(&format!("const {name}: u32 = {}u;\n", a.bit()));
    }
    for (d, name) in Dist::ALL {
        s.push_str(&format!("const {name}: u32 = {}u;\n", d.code()));
    }
    s
}
