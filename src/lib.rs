//! gangpu: a GAN training engine on wgpu with every compute kernel hand-written in WGSL.
//!
//! Layers: `gpu` (device), `tensor` (GPU buffers), `engine` (pipeline cache, dispatches),
//! `kernels` (launchers with shape checks), `reference` (plain CPU references for every kernel).

pub mod engine;
pub mod family;
pub mod gpu;
pub mod kernels;
pub mod plan;
pub mod readback;
pub mod reference;
pub mod rng;
pub mod signals;
pub mod tensor;

pub use engine::{Dispatch, Engine};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::Tensor;
pub mod bench;
pub mod charts;
pub mod check;
pub mod checkpoint;
pub mod cli_values;
pub mod data;
pub mod data_cache;
pub mod eval;
pub mod imageout;
pub mod models;
pub mod nn;
pub mod train;
pub mod progress;
pub mod report;
pub mod tensorboard;
pub mod resume;
pub mod run_folder;
pub mod sample_cmd;
pub mod torch_import;
pub mod lab;
