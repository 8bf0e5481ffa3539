//! Pipeline cache and recorded dispatches. Pipelines are compiled once per (typed family, entry point,
//! override constants); a `Dispatch` (pipeline + bind group + grid + its own params buffer) is built once when a layer
//! is built and replayed every step, so the training loop creates no buffers or bind groups.

use crate::gpu::Gpu;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::family::{Family, COMMON_WGSL};

/// Cache key of a pipeline: family, entry point, and its override constants (values as bits).
type PipelineKey = (Family, &'static str, Vec<(&'static str, u64)>);

/// A recorded kernel launch, replayable any number of times.
pub struct Dispatch {
    pub label: String,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// The uniform params buffer of a kernel that takes one (specialised kernels have none).
    params: Option<wgpu::Buffer>,
}

impl Dispatch {
    /// Rewrites this dispatch's parameters (e.g. the Adam step or an RNG counter); takes effect
    /// at the next submit.
    pub fn set_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        if let Some(buf) = &self.params {
            gpu.queue.write_buffer(buf, 0, bytemuck::bytes_of(params));
        }
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
    /// Register-blocked GEMM with subgroup broadcasts of the shared operand (CPU adapters with
    /// subgroups of >= 8 lanes); GANGPU_SUBGROUPS=0 at device creation turns it off.
    pub gemm_subgroups: bool,
    /// Convolution kernels in their subgroup variant (lanes share loaded weights); needs a device
    /// opened with subgroups.
    pub conv_subgroups: bool,
    /// Convolutions as implicit GEMMs (conv.wgsl: one dispatch per pass, no scratch buffers) or
    /// as layout kernels + one GEMM. Implicit on GPUs and on CPU adapters with subgroups (their
    /// lanes share the weight loads); layout kernels + GEMM on CPU adapters without subgroups,
    /// where they measured faster (llvmpipe over GL: README, Performance).
    /// GANGPU_CONV=tiled|implicit|explicit overrides (tiled: conv_tiled below).
    pub conv_implicit: bool,
    /// Implicit convolutions in shared-memory tiles with double buffering (conv_tiled.wgsl), the
    /// choice on GPUs, where barriers are cheap and staged tiles cut global loads; on CPU adapters
    /// the barrier-free kernels of conv.wgsl (a barrier is a coroutine switch there).
    pub conv_tiled: bool,
    /// The tiled kernels' tile edge (32 or 64); None picks per pass (conv_tiled.rs). Set by tests
    /// to run both sizes on every shape.
    pub conv_tile: Option<usize>,
    /// What the convolutions' binding 6 (batch-norm partial statistics) holds when a pass writes
    /// none: 16 bytes never written, as every binding of a shared layout needs a buffer.
    pub(crate) no_bn_partials: wgpu::Buffer,
    modules: Mutex<HashMap<Family, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

/// A kernel-variant override from the environment: one of `allowed`, or None when unset. Any
/// other value is reported on stderr (naming the variable and the accepted values) and the
/// adapter's default is used, rather than silently ignored.
fn kernel_choice(var: &str, allowed: &[&str]) -> Option<String> {
    let v = std::env::var(var).ok()?;
    if allowed.contains(&v.as_str()) {
        return Some(v);
    }
    eprintln!("warning: {var}={v:?} is not one of {}; using the adapter's default kernels", allowed.join(", "));
    None
}

impl Engine {
    pub fn new(gpu: Gpu) -> Engine {
        // CPU adapters run a workgroup as SIMD lanes of one thread: 64 keeps lanes full without
        // long serial loops; GPUs get 128 (4 warps / 2 waves) for the elementwise kernels.
        let workgroup_size = if gpu.is_cpu { 64 } else { 128 };
        let gemm_tiled = match kernel_choice("GANGPU_GEMM", &["tiled", "register"]).as_deref() {
            Some("tiled") => true,
            Some("register") => false,
            _ => !gpu.is_cpu,
        };
        let gemm_subgroups = gpu.subgroup_size.is_some() && !gemm_tiled;
        let conv_subgroups = gpu.subgroup_size.is_some();
        let (conv_implicit, conv_tiled) = match kernel_choice("GANGPU_CONV", &["tiled", "implicit", "explicit"]).as_deref() {
            Some("tiled") => (true, true),
            Some("implicit") => (true, false),
            Some("explicit") => (false, false),
            _ => (!gpu.is_cpu || gpu.subgroup_size.is_some(), !gpu.is_cpu),
        };
        let no_bn_partials = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("no batch-norm partials"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Engine { gpu, workgroup_size, gemm_tiled, gemm_subgroups, conv_subgroups, conv_implicit, conv_tiled, conv_tile: None, no_bn_partials, modules: Mutex::new(HashMap::new()), pipelines: Mutex::new(HashMap::new()) }
    }

    /// The kernel variants this engine runs, for logs and benchmarks.
    pub fn describe(&self) -> String {
        let conv = if self.conv_implicit && self.conv_tiled {
            "implicit GEMM (shared-memory tiles)".to_string()
        } else if self.conv_implicit {
            format!("implicit GEMM ({})", if self.conv_subgroups { "subgroup-shared loads" } else { "per-lane loads" })
        } else {
            "layout kernels + GEMM".to_string()
        };
        let gemm = if self.gemm_tiled {
            "shared-memory tiles"
        } else if self.gemm_subgroups {
            "register blocks, subgroup-shared A"
        } else {
            "register blocks"
        };
        format!("convolutions: {conv}; GEMM: {gemm}")
    }

    /// Opens the default adapter (honouring WGPU_BACKEND / WGPU_ADAPTER_NAME).
    pub fn open_default() -> Result<Engine> {
        Ok(Engine::new(Gpu::new(&Default::default())?))
    }

    fn module(&self, family: Family) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().map_err(|_| anyhow!("shader cache poisoned"))?;
        if let Some(m) = modules.get(&family) {
            return Ok(m.clone());
        }
        let src = family.source();
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor { label: Some(family.name()), source: wgpu::ShaderSource::Wgsl(src.into()) };
        let module = match family.runtime_checks() {
            // SAFETY: see Family::trusted: every index these kernels form is clamped in the
            // shader or bounded by shapes the launchers check, every loop is a counted loop with
            // a finite bound, and every divisor is a non-zero constant or a checked shape.
            Some(checks) => unsafe { self.gpu.device.create_shader_module_trusted(desc, checks) },
            None => self.gpu.device.create_shader_module(desc),
        };
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("compiling shader family '{family}': {err}");
        }
        modules.insert(family, module.clone());
        Ok(module)
    }

    /// The cached pipeline for `family::entry`, compiled on first use.
    pub fn pipeline(&self, family: Family, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        self.pipeline_with(family, entry, &[])
    }

    /// The cached pipeline for `family::entry` specialised by `constants` (WGSL overrides, e.g.
    /// a layer's shape), compiled on first use. The workgroup size `WG` is always set.
    pub fn pipeline_with(&self, family: Family, entry: &'static str, constants: &[(&'static str, f64)]) -> Result<wgpu::ComputePipeline> {
        let key: PipelineKey = (family, entry, constants.iter().map(|(n, v)| (*n, v.to_bits())).collect());
        if let Some(p) = self.pipelines.lock().map_err(|_| anyhow!("pipeline cache poisoned"))?.get(&key) {
            return Ok(p.clone());
        }
        let module = self.module(family)?;
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut all: Vec<(&str, f64)> = vec![("WG", self.workgroup_size as f64)];
        all.extend(constants.iter().map(|(n, v)| (*n, *v)));
        let layout = family.storage_bindings().map(|b| self.storage_layout(entry, b));
        let pipeline = self.gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: layout.as_ref(),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &all,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("creating pipeline {family}::{entry} with {constants:?}: {err}");
        }
        self.pipelines.lock().map_err(|_| anyhow!("pipeline cache poisoned"))?.insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// A pipeline layout of storage buffers at `bindings` (binding, read-only), for families whose
    /// entry points share one layout whatever their specialised code reads (the layout derived
    /// from a shader holds only the bindings that survive its override constants).
    fn storage_layout(&self, entry: &str, bindings: &[(u32, bool)]) -> wgpu::PipelineLayout {
        let entries: Vec<_> = bindings
            .iter()
            .map(|&(binding, read_only)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            })
            .collect();
        let bgl = self.gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(entry), entries: &entries });
        self.gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some(entry), bind_group_layouts: &[Some(&bgl)], immediate_size: 0 })
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
        family: Family,
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
        let mut dispatch = {
            let mut entries = vec![(0, params_buf.as_entire_binding())];
            entries.extend(bindings.iter().cloned());
            self.bind(family, entry, pipeline, &entries, groups)?
        };
        dispatch.params = Some(params_buf);
        Ok(dispatch)
    }

    /// Builds a dispatch of a kernel specialised by override `constants`: its shape lives in the
    /// constants rather than in a params buffer.
    pub fn dispatch_specialised(
        &self,
        family: Family,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let pipeline = self.pipeline_with(family, entry, constants)?;
        self.bind(family, entry, pipeline, bindings, groups)
    }

    fn bind(
        &self,
        family: Family,
        entry: &'static str,
        pipeline: wgpu::ComputePipeline,
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let entries: Vec<_> = bindings.iter().map(|(b, r)| wgpu::BindGroupEntry { binding: *b, resource: r.clone() }).collect();
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("binding buffers for {family}::{entry}: {err}");
        }
        Ok(Dispatch { label: format!("{family}::{entry}"), pipeline, bind_group, groups, params: None })
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
