//! GPU context: one headless wgpu device, chosen from any backend, with wgpu errors turned into
//! `anyhow` errors instead of panics.

use crate::plan::{AdapterFacts, Backend, DeviceKind};
use anyhow::{anyhow, bail, Context, Result};
use std::sync::{Arc, Mutex};

/// How to pick an adapter. Empty fields fall back to `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// "vulkan", "metal", "dx12", "gl" (comma separated), or None for all.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name.
    pub adapter: Option<String>,
    /// The kernel plan (plan.rs: auto, gpu, cpu, cpu-plain, layout), or None for GANGPU_KERNELS / auto.
    pub kernels: Option<String>,
}

/// What the user sees of an adapter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

impl AdapterSummary {
    fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        }
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

/// The device all kernels run on.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    /// True for CPU (software) adapters such as lavapipe or llvmpipe: kernels pick barrier-free variants.
    pub is_cpu: bool,
    /// Whether the device was opened with subgroup operations (adapters whose subgroups hold at
    /// least 8 invocations); the kernel plan decides whether kernels use them.
    pub subgroups_enabled: bool,
    /// Whether the device was opened with timestamp queries (per-dispatch GPU times in `bench`).
    pub timestamps: bool,
    /// What the kernel plan is chosen from (plan.rs).
    pub facts: AdapterFacts,
    errors: Arc<Mutex<Vec<String>>>,
    allocated: std::sync::atomic::AtomicU64,
}

fn parse_backends(s: &str) -> Result<wgpu::Backends> {
    let mut b = wgpu::Backends::empty();
    for part in s.split(',').map(|p| p.trim().to_lowercase()) {
        b |= match part.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "all" | "" => wgpu::Backends::all(),
            other => bail!("unknown backend '{other}': use vulkan, metal, dx12 or gl"),
        };
    }
    Ok(b)
}

fn resolve_backends(opts: &GpuOptions) -> Result<wgpu::Backends> {
    match opts.backend.clone().or_else(|| std::env::var("WGPU_BACKEND").ok()) {
        Some(s) => parse_backends(&s).context("choosing the wgpu backend (--backend or WGPU_BACKEND)"),
        None => Ok(wgpu::Backends::all()),
    }
}

fn make_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn no_adapter_help(backends: wgpu::Backends) -> String {
    format!(
        "no GPU adapter found (backends tried: {backends:?}). On Linux without a GPU install the Vulkan \
         software adapter: `apt-get install mesa-vulkan-drivers` (lavapipe), then run with \
         WGPU_BACKEND=vulkan; or use the GL software adapter with WGPU_BACKEND=gl (Mesa llvmpipe over EGL)."
    )
}

/// The facts the kernel plan reads, from wgpu's adapter info and limits.
pub fn facts_of(info: &wgpu::AdapterInfo, limits: &wgpu::Limits, has_subgroups: bool) -> AdapterFacts {
    AdapterFacts {
        name: info.name.clone(),
        backend: match info.backend {
            wgpu::Backend::Vulkan => Backend::Vulkan,
            wgpu::Backend::Metal => Backend::Metal,
            wgpu::Backend::Dx12 => Backend::Dx12,
            wgpu::Backend::Gl => Backend::Gl,
            wgpu::Backend::BrowserWebGpu => Backend::BrowserWebGpu,
            _ => Backend::Other,
        },
        kind: match info.device_type {
            wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu,
            wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu,
            wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu,
            wgpu::DeviceType::Cpu => DeviceKind::Cpu,
            wgpu::DeviceType::Other => DeviceKind::Other,
        },
        vendor: info.vendor,
        subgroups: has_subgroups.then_some((info.subgroup_min_size, info.subgroup_max_size)),
        subgroup_probe: None,
        max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_workgroup_storage_bytes: limits.max_compute_workgroup_storage_size,
    }
}

/// Ranks adapters: discrete GPU first, then integrated, virtual, CPU.
fn rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Lists every adapter the chosen backends see, and the index of the one `Gpu::new` would use.
pub fn list_adapters(opts: &GpuOptions) -> Result<(Vec<AdapterSummary>, Option<usize>)> {
    let backends = resolve_backends(opts)?;
    let instance = make_instance(backends);
    let adapters = crate::wait::block_on(instance.enumerate_adapters(backends));
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    let chosen = choose(&infos, opts);
    Ok((infos.iter().map(AdapterSummary::from_info).collect(), chosen))
}

fn choose(infos: &[wgpu::AdapterInfo], opts: &GpuOptions) -> Option<usize> {
    let want = opts.adapter.clone().or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
    let want = want.map(|s| s.to_lowercase());
    infos
        .iter()
        .enumerate()
        .filter(|(_, i)| want.as_ref().is_none_or(|w| i.name.to_lowercase().contains(w)))
        .min_by_key(|(_, i)| rank(i.device_type))
        .map(|(k, _)| k)
}

impl Gpu {
    /// Opens the best adapter allowed by `opts` and the environment.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        crate::wait::block_on(Gpu::open_async(opts))
    }

    /// `Gpu::new` as a future: what the browser awaits (its adapter and device are promises).
    pub async fn open_async(opts: &GpuOptions) -> Result<Gpu> {
        let backends = resolve_backends(opts)?;
        let instance = make_instance(backends);
        let adapters = instance.enumerate_adapters(backends).await;
        if adapters.is_empty() {
            bail!(no_adapter_help(backends));
        }
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        let Some(k) = choose(&infos, opts) else {
            let names: Vec<String> = infos.iter().map(|i| format!("'{}'", i.name)).collect();
            bail!(
                "no adapter name matches '{}' (--adapter or WGPU_ADAPTER_NAME); available: {}",
                opts.adapter.clone().or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok()).unwrap_or_default(),
                names.join(", ")
            );
        };
        let adapter = &adapters[k];
        let info = &infos[k];
        let limits = adapter.limits();
        let facts = facts_of(info, &limits, adapter.features().contains(wgpu::Features::SUBGROUP));
        // subgroup operations are enabled where the kernel plan might use them (at least 8 lanes);
        // whether it does is the plan's call, after a probe of the opened device (plan.rs)
        // In the browser they stay off: Tint wants `enable subgroups;`, which naga (the native
        // compiler of the same sources) rejects, and the lab's small GEMMs do not need them.
        let subgroups_enabled = facts.subgroups_worth_probing() && cfg!(not(target_arch = "wasm32"));
        // timestamp queries, where offered, let `gangpu bench` time each dispatch on the GPU itself
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = if subgroups_enabled { wgpu::Features::SUBGROUP } else { wgpu::Features::empty() };
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gangpu"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .with_context(|| format!("opening a device on adapter '{}'", info.name))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let is_cpu = facts.is_software();
        Ok(Gpu {
            device,
            queue,
            adapter: AdapterSummary::from_info(info),
            limits,
            is_cpu,
            subgroups_enabled,
            timestamps,
            facts,
            errors,
            allocated: Default::default(),
        })
    }

    /// Where wgpu's errors are collected until `check` reports them (the browser's error scopes
    /// resolve later and report here: wait::scope_error).
    pub fn error_sink(&self) -> Arc<Mutex<Vec<String>>> {
        self.errors.clone()
    }

    /// Returns the first wgpu validation error raised since the last check, as an error.
    pub fn check(&self, what: &str) -> Result<()> {
        let mut v = self.errors.lock().map_err(|_| anyhow!("wgpu error sink poisoned"))?;
        if v.is_empty() {
            return Ok(());
        }
        let all = v.join("\n");
        v.clear();
        Err(anyhow!("wgpu error while {what}: {all}"))
    }

    /// Blocks until all submitted work is done, then reports any wgpu error.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow!("waiting for the GPU: {e}"))?;
        self.check("running GPU work")
    }

    /// Creates a buffer, counting its bytes toward `allocated_bytes`.
    pub fn create_buffer(&self, desc: &wgpu::BufferDescriptor<'_>) -> wgpu::Buffer {
        self.allocated.fetch_add(desc.size, std::sync::atomic::Ordering::Relaxed);
        self.device.create_buffer(desc)
    }

    /// Bytes of every buffer created through `create_buffer` so far.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The largest storage buffer a single kernel may bind, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }
}

/// Mesa prints "XDG_RUNTIME_DIR is invalid or not set" on headless machines: give it a private
/// folder when the variable is unset. Call at program start, before any thread or adapter exists
/// (it sets an environment variable).
pub fn quiet_mesa() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    // one folder per user, reused by every run (Mesa only checks that it exists and is private)
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("gangpu-runtime-{user}"));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}
