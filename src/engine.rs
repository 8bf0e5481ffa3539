//! Pipeline cache and recorded dispatches. Pipelines are compiled once per (typed family, entry point,
//! override constants); a `Dispatch` (pipeline + bind group + grid + its own params buffer) is built once when a layer
//! is built and replayed every step, so the training loop creates no buffers or bind groups.

use crate::gpu::{Gpu, GpuOptions};
use crate::plan::{self, ConvKernels, GemmKernels, KernelPlan, PlanChoice};
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// What the engine needs of a kernel family (the families are `kernels::Family`, one table row
/// each): its name, its WGSL source, whether naga's runtime checks are off, and the storage
/// bindings its entry points share.
pub trait KernelFamily: Copy + std::fmt::Display {
    fn name(self) -> &'static str;
    /// The whole source as compiled, with shaders/ files from `dir` where it holds them.
    fn source(self, dir: Option<&std::path::Path>) -> Result<String>;
    /// Compiled without naga's runtime checks (the host proves what they would guard).
    fn trusted(self) -> bool;
    /// The storage bindings (binding, read-only) of one explicit layout shared by every entry
    /// point; None: each pipeline's layout comes from its shader.
    fn storage_bindings(self) -> Option<&'static [(u32, bool)]>;
}

/// Cache key of a pipeline: family name, entry point, and its override constants (values as bits).
type PipelineKey = (&'static str, &'static str, Vec<(&'static str, u64)>);

/// A recorded kernel launch, replayable any number of times. A clone shares the pipeline, bind
/// group and params buffer (wgpu handles): whoever sets a step's counter keeps a clone of a
/// dispatch that a step list owns.
#[derive(Clone)]
pub struct Dispatch {
    pub label: String,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// The work this launch covers, in words (e.g. a tiled convolution's C and K), for the
    /// dispatch listing of `gangpu bench --dispatches`; empty where the grid says it all.
    pub work: String,
    /// The uniform params buffer of a kernel that takes one (specialised kernels have none).
    params: Option<wgpu::Buffer>,
}

impl Dispatch {
    /// The same dispatch with `work` describing what it covers (for the dispatch listing).
    pub fn with_work(mut self, work: String) -> Dispatch {
        self.work = work;
        self
    }

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
    /// Which kernel variants run (plan.rs): chosen from the adapter's facts and `--kernels`.
    pub plan: KernelPlan,
    /// Invocations per workgroup for the register-blocked and elementwise kernels (the plan's).
    pub workgroup_size: u32,
    /// The tiled kernels' tile edge (32 or 64); None picks per pass (conv_tiled.rs). Set by tests
    /// and `gangpu check` to run both sizes.
    pub conv_tile: Option<usize>,
    /// Where WGSL sources are read from instead of the built-in ones (`GANGPU_SHADERS=DIR`: files
    /// named shaders/<stem>.wgsl; stems the folder lacks stay built in).
    pub shader_dir: Option<std::path::PathBuf>,
    /// What the convolutions' binding 6 (batch-norm partial statistics) holds when a pass writes
    /// none: 16 bytes never written, as every binding of a shared layout needs a buffer.
    pub(crate) no_bn_partials: wgpu::Buffer,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

impl Engine {
    /// Opens the adapter `opts` picks and plans its kernels (`opts.kernels`, else GANGPU_KERNELS,
    /// else by adapter).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(opts: &GpuOptions) -> Result<Engine> {
        for old in ["GANGPU_CONV", "GANGPU_GEMM", "GANGPU_SUBGROUPS"] {
            if let Some(v) = std::env::var_os(old) {
                bail!(
                    "{old}={v:?} is no longer read: the kernels are chosen as one plan, --kernels auto|gpu|cpu|cpu-plain|layout \
                     (or GANGPU_KERNELS); unset {old}"
                );
            }
        }
        let choice = PlanChoice::resolve(opts.kernels.as_deref()).context("choosing the kernel plan (--kernels or GANGPU_KERNELS)")?;
        Engine::with_plan(Gpu::new(opts)?, choice)
    }

    /// `Engine::open` in the browser: the adapter's WebGPU device, kernels planned by adapter.
    pub async fn open_async(opts: &GpuOptions) -> Result<Engine> {
        let choice = PlanChoice::resolve(opts.kernels.as_deref()).context("choosing the kernel plan")?;
        Engine::with_plan(Gpu::open_async(opts).await?, choice)
    }

    /// Opens the default adapter (honouring WGPU_BACKEND / WGPU_ADAPTER_NAME / GANGPU_KERNELS).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_default() -> Result<Engine> {
        Engine::open(&GpuOptions::default())
    }

    /// Opens the default adapter with kernel plan `choice` (tests run every plan on one adapter).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_with(choice: PlanChoice) -> Result<Engine> {
        Engine::with_plan(Gpu::new(&GpuOptions::default())?, choice)
    }

    /// An engine on `gpu` running plan `choice`; probes the device's subgroups first where the
    /// plan might use them.
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
    pub fn with_plan(mut gpu: Gpu, choice: PlanChoice) -> Result<Engine> {
        // (never in the browser: Gpu::open_async leaves subgroups off there)
        #[cfg(not(target_arch = "wasm32"))]
        if gpu.subgroups_enabled && matches!(choice, PlanChoice::Auto | PlanChoice::Cpu) {
            let wg = if gpu.facts.is_software() { plan::CPU_WORKGROUP } else { plan::GPU_WORKGROUP };
            gpu.facts.subgroup_probe = Some(probe_subgroups(&gpu, wg).context("probing subgroup lanes")?);
        }
        let plan = plan::plan(&gpu.facts, choice)?;
        let no_bn_partials = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("no batch-norm partials"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let shader_dir = std::env::var_os("GANGPU_SHADERS").filter(|d| !d.is_empty()).map(std::path::PathBuf::from);
        if let Some(d) = &shader_dir {
            ensure!(d.is_dir(), "GANGPU_SHADERS={} is not a folder: point it at a folder of <family>.wgsl files (a copy of shaders/)", d.display());
            eprintln!("note: WGSL sources from {} where it holds them (GANGPU_SHADERS), built-in otherwise", d.display());
        }
        Ok(Engine {
            gpu,
            workgroup_size: plan.workgroup_size,
            plan,
            conv_tile: None,
            shader_dir,
            no_bn_partials,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    /// Convolutions in shared-memory tiles (conv_tiled.wgsl).
    pub fn conv_tiled(&self) -> bool {
        self.plan.conv == ConvKernels::Tiled
    }
    /// Convolutions as one implicit-GEMM dispatch per pass (tiled or barrier-free), not layout
    /// kernels + GEMM.
    pub fn conv_implicit(&self) -> bool {
        self.plan.conv != ConvKernels::Layout
    }
    /// The barrier-free convolutions' subgroup variant (lanes share loaded rows).
    pub fn conv_subgroups(&self) -> bool {
        self.plan.subgroups
    }
    /// GEMM in shared-memory tiles.
    pub fn gemm_tiled(&self) -> bool {
        self.plan.gemm == GemmKernels::Tiled
    }
    /// The register-blocked GEMM with subgroup broadcasts of A.
    pub fn gemm_subgroups(&self) -> bool {
        self.plan.subgroups && self.plan.gemm == GemmKernels::Register
    }

    /// The kernel variants this engine runs, for logs and benchmarks.
    pub fn describe(&self) -> String {
        self.plan.describe()
    }

    fn module<F: KernelFamily>(&self, family: F) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().map_err(|_| anyhow!("shader cache poisoned"))?;
        if let Some(m) = modules.get(family.name()) {
            return Ok(m.clone());
        }
        let src = family.source(self.shader_dir.as_deref())?;
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor { label: Some(family.name()), source: wgpu::ShaderSource::Wgsl(src.into()) };
        let unchecked = family.trusted() && std::env::var("GANGPU_RUNTIME_CHECKS").as_deref() != Ok("on");
        let module = match unchecked.then(wgpu::ShaderRuntimeChecks::unchecked) {
            // SAFETY: see kernels::family (the trusted families): every index these kernels form is clamped in the
            // shader or bounded by shapes the launchers check, every loop is a counted loop with
            // a finite bound, and every divisor is a non-zero constant or a checked shape.
            Some(checks) => unsafe { self.gpu.device.create_shader_module_trusted(desc, checks) },
            None => self.gpu.device.create_shader_module(desc),
        };
        if let Some(err) = crate::wait::scope_error(&self.gpu, scope) {
            bail!("compiling shader family '{family}': {err}");
        }
        modules.insert(family.name(), module.clone());
        Ok(module)
    }

    /// The cached pipeline for `family::entry`, compiled on first use.
    pub fn pipeline<F: KernelFamily>(&self, family: F, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        self.pipeline_with(family, entry, &[])
    }

    /// The cached pipeline for `family::entry` specialised by `constants` (WGSL overrides, e.g.
    /// a layer's shape), compiled on first use. The workgroup size `WG` is always set.
    pub fn pipeline_with<F: KernelFamily>(&self, family: F, entry: &'static str, constants: &[(&'static str, f64)]) -> Result<wgpu::ComputePipeline> {
        let key: PipelineKey = (family.name(), entry, constants.iter().map(|(n, v)| (*n, v.to_bits())).collect());
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
            compilation_options: wgpu::PipelineCompilationOptions { constants: &all, zero_initialize_workgroup_memory: false },
            cache: None,
        });
        if let Some(err) = crate::wait::scope_error(&self.gpu, scope) {
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
    pub fn dispatch<P: bytemuck::Pod, F: KernelFamily>(
        &self,
        family: F,
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
    pub fn dispatch_specialised<F: KernelFamily>(
        &self,
        family: F,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let pipeline = self.pipeline_with(family, entry, constants)?;
        self.bind(family, entry, pipeline, bindings, groups)
    }

    fn bind<F: KernelFamily>(
        &self,
        family: F,
        entry: &'static str,
        pipeline: wgpu::ComputePipeline,
        bindings: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let entries: Vec<_> = bindings.iter().map(|(b, r)| wgpu::BindGroupEntry { binding: *b, resource: r.clone() }).collect();
        let scope = self.gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group =
            self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(entry), layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        if let Some(err) = crate::wait::scope_error(&self.gpu, scope) {
            bail!("binding buffers for {family}::{entry}: {err}");
        }
        Ok(Dispatch { label: format!("{family}::{entry}"), pipeline, bind_group, groups, work: String::new(), params: None })
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

    /// Seconds each of `dispatches` takes alone, and how they were measured: GPU timestamps
    /// around each dispatch (its own compute pass) where the device has timestamp queries,
    /// otherwise wall time of one submit-and-wait each (which includes the submit's overhead).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_dispatches(&self, dispatches: &[&Dispatch]) -> Result<(Vec<f64>, &'static str)> {
        if !self.gpu.timestamps {
            let mut t = Vec::with_capacity(dispatches.len());
            for d in dispatches {
                let start = std::time::Instant::now();
                self.run(&[d])?;
                t.push(start.elapsed().as_secs_f64());
            }
            return Ok((t, "wall time of one submit each"));
        }
        let mut times = Vec::with_capacity(dispatches.len());
        for chunk in dispatches.chunks(1024) {
            let n = 2 * chunk.len() as u32;
            let set = self.gpu.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("dispatch times"), ty: wgpu::QueryType::Timestamp, count: n });
            let bytes = n as u64 * 8;
            let resolve = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timed dispatches") });
            for (i, d) in chunk.iter().enumerate() {
                let writes = wgpu::ComputePassTimestampWrites {
                    query_set: &set,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                };
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: Some(writes) });
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
            enc.resolve_query_set(&set, 0..n, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
            self.gpu.queue.submit(Some(enc.finish()));
            let words: Vec<u32> = crate::tensor::map_blocking(&self.gpu, &staging)?.iter().map(|v| v.to_bits()).collect();
            let period_ns = self.gpu.queue.get_timestamp_period() as f64;
            for p in words.chunks(4) {
                let (a, b) = (p[0] as u64 | (p[1] as u64) << 32, p[2] as u64 | (p[3] as u64) << 32);
                times.push(b.saturating_sub(a) as f64 * period_ns * 1e-9);
            }
        }
        Ok((times, "GPU timestamps around each dispatch"))
    }

    /// Records, submits and waits: for tests and one-off work, not for the training loop.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        self.record(&mut enc, dispatches);
        self.gpu.queue.submit(Some(enc.finish()));
        self.gpu.wait().context("running kernels")
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Runs plan.rs's subgroup probe on `gpu` with workgroups of `wg`: whether subgroups are full,
/// of at least 8 lanes, and numbered in invocation order.
fn probe_subgroups(gpu: &Gpu, wg: u32) -> Result<bool> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("subgroup probe"),
        source: wgpu::ShaderSource::Wgsl(plan::SubgroupProbe::WGSL.into()),
    });
    let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("subgroup probe"),
        layout: None,
        module: &module,
        entry_point: Some("probe"),
        compilation_options: wgpu::PipelineCompilationOptions { constants: &[("WG", wg as f64)], zero_initialize_workgroup_memory: false },
        cache: None,
    });
    let words = 2 * 2 * wg as u64;
    let out = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("probe out"),
        size: words * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("probe staging"),
        size: words * 4,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("subgroup probe"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: out.as_entire_binding() }],
    });
    if let Some(err) = crate::wait::scope_error(gpu, scope) {
        bail!("building the subgroup probe: {err}");
    }
    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("subgroup probe") });
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(2, 1, 1);
    }
    enc.copy_buffer_to_buffer(&out, 0, &staging, 0, words * 4);
    gpu.queue.submit(Some(enc.finish()));
    let data: Vec<u32> = crate::tensor::map_blocking(gpu, &staging)?.iter().map(|v| v.to_bits()).collect();
    Ok(plan::SubgroupProbe::lanes_in_order(&data, wg))
}
