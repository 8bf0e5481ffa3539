//! Pipeline cache and recorded dispatches. Pipelines are compiled once per (family, entry point);
//! a `Dispatch` (pipeline + bind group + grid + its own params buffer) is built once when a layer
//! is built and replayed every step, so the training loop creates no buffers or bind groups.

use crate::gpu::Gpu;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Prepended to every family: workgroup size override, flat indexing, the counter-based hash.
pub const COMMON_WGSL: &str = include_str!("../shaders/common.wgsl");

/// One WGSL source per kernel family.
pub const SHADERS: &[(&str, &str)] = &[
    ("gemm", include_str!("../shaders/gemm.wgsl")),
    ("layout", include_str!("../shaders/layout.wgsl")),
    ("batchnorm", include_str!("../shaders/batchnorm.wgsl")),
    ("activation", include_str!("../shaders/activation.wgsl")),
    ("matmul", include_str!("../shaders/matmul.wgsl")),
    ("loss", include_str!("../shaders/loss.wgsl")),
    ("optim", include_str!("../shaders/optim.wgsl")),
    ("random", include_str!("../shaders/random.wgsl")),
    ("lab", include_str!("../shaders/lab.wgsl")),
    ("specnorm", include_str!("../shaders/specnorm.wgsl")),
    ("cond", include_str!("../shaders/cond.wgsl")),
];

/// The full source of a family as compiled (common prelude + family file).
pub fn shader_source(family: &str) -> Result<String> {
    let (_, src) = SHADERS
        .iter()
        .find(|(n, _)| *n == family)
        .ok_or_else(|| anyhow!("no shader family '{family}'"))?;
    Ok(format!("{COMMON_WGSL}\n{src}"))
}

/// A recorded kernel launch, replayable any number of times.
pub struct Dispatch {
    pub label: String,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    params: wgpu::Buffer,
}

impl Dispatch {
    /// Rewrites this dispatch's parameters (e.g. the Adam step or an RNG counter); takes effect
    /// at the next submit.
    pub fn set_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        gpu.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(params));
    }
}

pub struct Engine {
    pub gpu: Gpu,
    /// Invocations per workgroup for the register-blocked and elementwise kernels.
    pub workgroup_size: u32,
    /// GEMM variant: shared-memory tiles (GPUs, where barriers are cheap) or barrier-free
    /// register blocks (CPU adapters, where a barrier costs more than the reuse it buys).
    /// GANGPU_GEMM=tiled|register overrides the choice by adapter type.
    pub gemm_tiled: bool,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<(&'static str, &'static str), wgpu::ComputePipeline>>,
}

impl Engine {
    pub fn new(gpu: Gpu) -> Engine {
        // CPU adapters run a workgroup as SIMD lanes of one thread: 64 keeps lanes full without
        // long serial loops; GPUs get 128 (4 warps / 2 waves) for the elementwise kernels.
        let workgroup_size = if gpu.is_cpu { 64 } else { 128 };
        let gemm_tiled = match std::env::var("GANGPU_GEMM").as_deref() {
            Ok("tiled") => true,
            Ok("register") => false,
            _ => !gpu.is_cpu,
        };
        Engine { gpu, workgroup_size, gemm_tiled, modules: Mutex::new(HashMap::new()), pipelines: Mutex::new(HashMap::new()) }
    }

    /// Opens the default adapter (honouring WGPU_BACKEND / WGPU_ADAPTER_NAME).
    pub fn open_default() -> Result<Engine> {
        Ok(Engine::new(Gpu::new(&Default::default())?))
    }

    fn module(&self, family: &'static str) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().map_err(|_| anyhow!("shader cache poisoned"))?;
        if let Some(m) = modules.get(family) {
            return Ok(m.clone());
        }
        let src = shader_source(family)?;
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(family),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("compiling shader family '{family}': {err}");
        }
        modules.insert(family, module.clone());
        Ok(module)
    }

    /// The cached pipeline for `family::entry`, compiled on first use.
    pub fn pipeline(&self, family: &'static str, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        if let Some(p) = self.pipelines.lock().map_err(|_| anyhow!("pipeline cache poisoned"))?.get(&(family, entry)) {
            return Ok(p.clone());
        }
        let module = self.module(family)?;
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let constants = [("WG", self.workgroup_size as f64)];
        let pipeline = self.gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("creating pipeline {family}::{entry}: {err}");
        }
        self.pipelines
            .lock()
            .map_err(|_| anyhow!("pipeline cache poisoned"))?
            .insert((family, entry), pipeline.clone());
        Ok(pipeline)
    }

    /// Splits a 1-D workgroup count over x and y so no dimension exceeds the device limit.
    pub fn grid(&self, groups: u64) -> Result<[u32; 3]> {
        let max = self.gpu.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let groups = groups.max(1);
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            bail!("dispatch of {groups} workgroups exceeds the device limit of {max} x {max}");
        }
        Ok([x as u32, y as u32, 1])
    }

    /// Workgroups needed for `invocations` threads of `workgroup_size`.
    pub fn grid_for(&self, invocations: u64) -> Result<[u32; 3]> {
        self.grid(invocations.div_ceil(self.workgroup_size as u64))
    }

    /// Builds a dispatch: its own uniform params buffer (binding 0) and a bind group with
    /// `bindings` (binding index, resource). Done once, outside the training loop.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        family: &'static str,
        entry: &'static str,
        params: &P,
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let pipeline = self.pipeline(family, entry)?;
        let params_buf = self.gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some(entry),
            size: std::mem::size_of::<P>().max(16) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.gpu.queue.write_buffer(&params_buf, 0, bytemuck::bytes_of(params));
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params_buf.as_entire_binding() }];
        for (b, r) in bindings {
            entries.push(wgpu::BindGroupEntry { binding: *b, resource: r.clone() });
        }
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("binding buffers for {family}::{entry}: {err}");
        }
        Ok(Dispatch { label: format!("{family}::{entry}"), pipeline, bind_group, groups, params: params_buf })
    }

    /// Records dispatches, in order, into one compute pass (wgpu orders them: each dispatch sees
    /// the writes of the previous ones).
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, dispatches: &[&Dispatch]) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        for d in dispatches {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
    }

    /// Flattens groups of dispatches (a layer's passes) into one ordered list.
    pub fn flat<'a>(groups: &[&'a [Dispatch]]) -> Vec<&'a Dispatch> {
        groups.iter().flat_map(|g| g.iter()).collect()
    }

    /// Records, submits and waits: for tests and one-off work, not for the training loop.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        self.record(&mut enc, dispatches);
        self.gpu.queue.submit(Some(enc.finish()));
        self.gpu.wait().context("running kernels")
    }
}
