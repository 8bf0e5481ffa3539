//! gangpu: a GAN training engine on wgpu with every compute kernel hand-written in WGSL.
//!
//! Imports flow one way, down this list (docs/architecture in README: "Map of the code"):
//! - device: `gpu` (adapter, device, facts), `plan` (which kernel variants), `tensor` (GPU
//!   buffers), `readback`, `engine` (pipeline cache, recorded dispatches), `rng`, `signals`;
//! - `kernels` (the family table, launchers with shape checks) and `reference` (plain CPU
//!   references for every kernel);
//! - `nn` (layers as forward/backward pairs, optimizers), `models` (DCGAN shapes), `checkpoint`,
//!   `torch_import`;
//! - `gan` (the objectives, one GAN step, stats slots);
//! - `train`, `lab`, `eval`;
//! - `app` (the commands; main.rs parses the command line).
//!
//! Beside them, leaf modules that import nothing of gangpu's layers: `data`, `imageout`,
//! `charts`, `report`, `tensorboard`, `run_folder`, `cli_values`.

pub mod engine;
pub mod gpu;
pub mod plan;
pub mod readback;
pub mod rng;
pub mod signals;
pub mod tensor;

pub mod kernels;
pub mod reference;

pub mod checkpoint;
pub mod models;
pub mod nn;
pub mod torch_import;

pub mod gan;

pub mod eval;
pub mod lab;
pub mod train;

pub mod app;

pub mod charts;
pub mod cli_values;
pub mod data;
pub mod imageout;
pub mod report;
pub mod run_folder;
pub mod tensorboard;

pub use engine::{Dispatch, Engine};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::Tensor;
