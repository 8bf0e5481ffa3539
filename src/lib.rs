//! gangpu: a GAN training engine on wgpu with every compute kernel hand-written in WGSL.
//!
//! Imports flow one way, down this list (docs/architecture in README: "Map of the code"):
//! - device: `gpu` (adapter, device, facts), `plan` (which kernel variants), `tensor` (GPU
//!   buffers), `readback`, `wait` (blocking natively, futures in the browser), `engine` (pipeline cache, recorded dispatches), `rng`, `signals`;
//! - `kernels` (the family table, launchers with shape checks) and `reference` (plain CPU
//!   references for every kernel);
//! - `nn` (layers as forward/backward pairs, optimizers), `models` (DCGAN shapes), `checkpoint`,
//!   `torch_import`;
//! - `gan` (the objectives, one GAN step, stats slots);
//! - `train`, `lab`, `eval`;
//! - `app` (the commands; main.rs parses the command line).
//!
//! The browser build (wasm32, web/) compiles the device layer, the kernels, `nn`, `gan` and
//! `lab` without its files and figures; the modules marked `cfg(not(target_arch = "wasm32"))`
//! are the native program's (files, threads, signals, images).
//!
//! Beside them, leaf modules that import nothing of gangpu's layers: `data`, `imageout`,
//! `charts`, `report`, `tensorboard`, `run_folder`, `cli_values`.

pub mod engine;
pub mod gpu;
pub mod plan;
#[cfg(not(target_arch = "wasm32"))]
pub mod readback;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod signals;
pub mod tensor;
pub mod wait;

pub mod kernels;
pub mod reference;

#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod models;
pub mod nn;
#[cfg(not(target_arch = "wasm32"))]
pub mod torch_import;

pub mod gan;

#[cfg(not(target_arch = "wasm32"))]
pub mod eval;
pub mod lab;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

#[cfg(not(target_arch = "wasm32"))]
pub mod app;

#[cfg(not(target_arch = "wasm32"))]
pub mod charts;
pub mod cli_values;
#[cfg(not(target_arch = "wasm32"))]
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod imageout;
#[cfg(not(target_arch = "wasm32"))]
pub mod report;
#[cfg(not(target_arch = "wasm32"))]
pub mod run_folder;
#[cfg(not(target_arch = "wasm32"))]
pub mod tensorboard;

pub use engine::{Dispatch, Engine};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::Tensor;
