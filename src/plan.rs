//! The kernel plan: which variant of each kernel family an adapter runs, as a pure function of
//! what the adapter is (`AdapterFacts`) and one override (`--kernels`, `GANGPU_KERNELS`).
//!
//! Why per adapter: on a GPU, shared-memory tiles and coalesced loads win and barriers are cheap;
//! on a CPU adapter (llvmpipe, SwiftShader) an invocation is one lane of a SIMD vector, every
//! storage load is a per-lane loop and a barrier is a coroutine switch, so barrier-free register
//! blocks win, sharing loaded rows through subgroup shuffles where subgroups exist.
//!
//! Subgroups are only used where the API's promises plus one probe make them safe: the subgroup
//! kernels need at least 8 lanes per subgroup (lanes 0-7 load the rows the others read), every
//! subgroup inside one workgroup and full, and lanes numbered in invocation order (the batch-norm
//! partials of conv.wgsl group 8 neighbouring strips through shuffles). Neither Vulkan nor WGSL
//! promises the last two, so `Engine::open` runs a probe dispatch (`SubgroupProbe`) on the device
//! and the plan falls back to per-lane loads when the probe disagrees.

use anyhow::{bail, Result};

/// The graphics API an adapter is driven through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
    /// The browser's WebGPU (wasm32).
    BrowserWebGpu,
    Other,
}

/// What kind of device an adapter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    /// A software rasteriser: lavapipe / llvmpipe, SwiftShader, WARP.
    Cpu,
    Other,
}

/// PCI vendor ids (and the Khronos ids of software drivers) the plan and its tests name.
pub mod vendor {
    pub const NVIDIA: u32 = 0x10de;
    pub const AMD: u32 = 0x1002;
    pub const INTEL: u32 = 0x8086;
    pub const APPLE: u32 = 0x106b;
    /// VK_VENDOR_ID_MESA (lavapipe)
    pub const MESA: u32 = 0x10005;
    /// Google (SwiftShader)
    pub const GOOGLE: u32 = 0x1ae0;
}

/// Everything the plan depends on, read off the adapter (and one probe of the opened device).
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterFacts {
    pub name: String,
    pub backend: Backend,
    pub kind: DeviceKind,
    pub vendor: u32,
    /// (smallest, largest) subgroup size, where the adapter offers subgroup operations.
    pub subgroups: Option<(u32, u32)>,
    /// What the subgroup probe found on the opened device (`SubgroupProbe`): Some(true) when every
    /// subgroup of a workgroup of `CPU_WORKGROUP` invocations is full and its lanes follow the
    /// local invocation index; None when not probed (no subgroups, or a plan that needs none).
    pub subgroup_probe: Option<bool>,
    pub max_invocations_per_workgroup: u32,
    pub max_workgroup_storage_bytes: u32,
}

impl AdapterFacts {
    /// Software adapters: a CPU device type, or a known software driver by name (some report
    /// themselves as "Other").
    pub fn is_software(&self) -> bool {
        let n = self.name.to_lowercase();
        self.kind == DeviceKind::Cpu || ["llvmpipe", "lavapipe", "swiftshader", "warp"].iter().any(|s| n.contains(s))
    }

    /// Subgroups the subgroup kernels may rely on: at least 8 lanes, a workgroup of
    /// `workgroup_size` holding whole subgroups, and the probe's word that lanes are in order.
    pub fn subgroups_usable(&self, workgroup_size: u32) -> bool {
        match self.subgroups {
            Some((min, max)) => min >= 8 && max <= workgroup_size && self.subgroup_probe == Some(true),
            None => false,
        }
    }

    /// Whether the device should be opened with subgroup operations at all (so they can be probed).
    pub fn subgroups_worth_probing(&self) -> bool {
        matches!(self.subgroups, Some((min, _)) if min >= 8)
    }
}

/// The convolution kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernels {
    /// Implicit GEMM in shared-memory tiles with double buffering (conv_tiled.wgsl): GPUs.
    Tiled,
    /// Barrier-free implicit GEMM in register blocks (conv.wgsl, conv_backward.wgsl): CPU adapters.
    Implicit,
    /// Layout kernels (im2col, col2im) + one GEMM: CPU adapters without subgroups on GL.
    Layout,
}

/// The GEMM kernels (dense layers, the layout path's products).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernels {
    /// Shared-memory tiles: GPUs.
    Tiled,
    /// Barrier-free register blocks: CPU adapters.
    Register,
}

/// What `--kernels` / `GANGPU_KERNELS` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanChoice {
    /// By adapter (the default).
    Auto,
    /// Shared-memory tiles everywhere (what a GPU gets).
    Gpu,
    /// Barrier-free register blocks, sharing loads through subgroups where they are usable.
    Cpu,
    /// Barrier-free register blocks, every lane loading its own rows (no subgroups).
    CpuPlain,
    /// Layout kernels + GEMM for convolutions, register-blocked GEMM, no subgroups.
    Layout,
}

impl PlanChoice {
    pub const ALL: [(PlanChoice, &'static str); 5] =
        [(PlanChoice::Auto, "auto"), (PlanChoice::Gpu, "gpu"), (PlanChoice::Cpu, "cpu"), (PlanChoice::CpuPlain, "cpu-plain"), (PlanChoice::Layout, "layout")];

    pub fn name(self) -> &'static str {
        PlanChoice::ALL.iter().find(|(c, _)| *c == self).map_or("auto", |(_, n)| n)
    }

    pub fn parse(s: &str) -> Result<PlanChoice> {
        let s = s.trim().to_lowercase();
        match PlanChoice::ALL.iter().find(|(_, n)| *n == s) {
            Some((c, _)) => Ok(*c),
            None => bail!("unknown kernel plan '{s}': use {}", PlanChoice::ALL.map(|(_, n)| n).join(", ")),
        }
    }

    /// `explicit` (a flag's value) or else GANGPU_KERNELS, or Auto; an unknown value is an error.
    pub fn resolve(explicit: Option<&str>) -> Result<PlanChoice> {
        match explicit {
            Some(s) => PlanChoice::parse(s),
            None => match std::env::var("GANGPU_KERNELS") {
                Ok(s) if !s.is_empty() => PlanChoice::parse(&s).map_err(|e| e.context("GANGPU_KERNELS")),
                _ => Ok(PlanChoice::Auto),
            },
        }
    }
}

/// Invocations per workgroup of the register-blocked and elementwise kernels: 64 on CPU adapters
/// (lanes full, no long serial loops), 128 on GPUs (4 warps / 2 waves).
pub const CPU_WORKGROUP: u32 = 64;
pub const GPU_WORKGROUP: u32 = 128;

/// The tiled convolutions' largest workgroup (64 x 64 tiles: 256 invocations) and its
/// workgroup memory (two buffers of a 64 x 16 tile of A and of B).
pub const TILED_INVOCATIONS: u32 = 256;
pub const TILED_STORAGE_BYTES: u32 = 2 * 2 * 16 * 64 * 4;

/// The kernels an engine runs.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelPlan {
    /// The plan's name (never "auto": what auto chose).
    pub name: &'static str,
    pub conv: ConvKernels,
    pub gemm: GemmKernels,
    /// Subgroup variants (conv_sg, gemm_sg) of the barrier-free kernels.
    pub subgroups: bool,
    pub workgroup_size: u32,
    /// Why this plan, in a sentence (for `gangpu devices` and logs).
    pub why: String,
}

impl KernelPlan {
    /// One line: the plan's name and what it runs.
    pub fn describe(&self) -> String {
        let conv = match self.conv {
            ConvKernels::Tiled => "implicit GEMM (shared-memory tiles)",
            ConvKernels::Implicit if self.subgroups => "implicit GEMM (subgroup-shared loads)",
            ConvKernels::Implicit => "implicit GEMM (per-lane loads)",
            ConvKernels::Layout => "layout kernels + GEMM",
        };
        let gemm = match (self.gemm, self.subgroups) {
            (GemmKernels::Tiled, _) => "shared-memory tiles",
            (GemmKernels::Register, true) => "register blocks, subgroup-shared A",
            (GemmKernels::Register, false) => "register blocks",
        };
        format!("plan {}: convolutions: {conv}; GEMM: {gemm}; workgroups of {}", self.name, self.workgroup_size)
    }
}

fn tiles_fit(f: &AdapterFacts) -> bool {
    f.max_invocations_per_workgroup >= TILED_INVOCATIONS && f.max_workgroup_storage_bytes >= TILED_STORAGE_BYTES
}

/// The plan for an adapter: a pure function of its facts and the choice. A forced plan that the
/// adapter cannot run (tiles larger than its workgroup limits) is an error naming the limit.
pub fn plan(f: &AdapterFacts, choice: PlanChoice) -> Result<KernelPlan> {
    let wg = if f.is_software() { CPU_WORKGROUP } else { GPU_WORKGROUP };
    let sg = f.subgroups_usable(wg);
    let sg_note = || match (f.subgroups, f.subgroup_probe) {
        (None, _) => "no subgroup operations".to_string(),
        (Some((min, max)), _) if min < 8 => format!("subgroups of {min}-{max} lanes, fewer than the 8 the subgroup kernels share rows among"),
        (Some((_, max)), _) if max > wg => format!("subgroups of up to {max} lanes, more than a workgroup of {wg}"),
        (Some(_), Some(false)) => "subgroup lanes not in invocation order (probe)".to_string(),
        (Some(_), None) => "subgroups not probed".to_string(),
        (Some((min, max)), Some(true)) => format!("subgroups of {min}-{max} lanes, in invocation order (probe)"),
    };
    let make = |name, conv, gemm, subgroups, why: String| KernelPlan { name, conv, gemm, subgroups, workgroup_size: wg, why };
    let gpu = |why: String| -> Result<KernelPlan> {
        if !tiles_fit(f) {
            bail!(
                "the gpu kernel plan needs workgroups of {TILED_INVOCATIONS} invocations and {TILED_STORAGE_BYTES} bytes of workgroup memory; \
                 adapter '{}' offers {} and {} bytes: use --kernels cpu-plain",
                f.name,
                f.max_invocations_per_workgroup,
                f.max_workgroup_storage_bytes
            );
        }
        Ok(make("gpu", ConvKernels::Tiled, GemmKernels::Tiled, false, why))
    };
    match choice {
        PlanChoice::Gpu => gpu("forced (--kernels gpu)".into()),
        PlanChoice::Cpu => Ok(make("cpu", ConvKernels::Implicit, GemmKernels::Register, sg, format!("forced (--kernels cpu); {}", sg_note()))),
        PlanChoice::CpuPlain => Ok(make("cpu-plain", ConvKernels::Implicit, GemmKernels::Register, false, "forced (--kernels cpu-plain)".into())),
        PlanChoice::Layout => Ok(make("layout", ConvKernels::Layout, GemmKernels::Register, false, "forced (--kernels layout)".into())),
        PlanChoice::Auto if !f.is_software() && tiles_fit(f) => gpu("a GPU: shared-memory tiles".into()),
        PlanChoice::Auto if !f.is_software() => Ok(make(
            "cpu-plain",
            ConvKernels::Implicit,
            GemmKernels::Register,
            false,
            format!(
                "a GPU whose workgroup limits ({} invocations, {} bytes) are below the tiles'",
                f.max_invocations_per_workgroup, f.max_workgroup_storage_bytes
            ),
        )),
        PlanChoice::Auto if sg => Ok(make("cpu", ConvKernels::Implicit, GemmKernels::Register, true, format!("a software adapter with {}", sg_note()))),
        // without shared loads the layout path measured faster on llvmpipe (README, Performance)
        PlanChoice::Auto => Ok(make("layout", ConvKernels::Layout, GemmKernels::Register, false, format!("a software adapter with {}", sg_note()))),
    }
}

/// The subgroup probe: one dispatch of two workgroups of `CPU_WORKGROUP` invocations that
/// writes each invocation's subgroup lane and size, and the check of what it wrote.
pub struct SubgroupProbe;

impl SubgroupProbe {
    // (no `enable subgroups;`: naga 30 rejects it and enables subgroups by device feature)
    pub const WGSL: &'static str = "
@group(0) @binding(0) var<storage, read_write> out: array<u32>; // out: [2 workgroups x WG, 2]
override WG: u32 = 64u;
@compute @workgroup_size(WG)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32) {
    out[2u * gid.x] = lane;
    out[2u * gid.x + 1u] = size;
}
";

    /// Whether the (lane, size) pairs the probe wrote, per invocation in order, show full
    /// subgroups of one size of at least 8 that divides the workgroup, lanes in invocation order.
    pub fn lanes_in_order(words: &[u32], workgroup: u32) -> bool {
        let Some(&size) = words.get(1) else { return false };
        size >= 8
            && workgroup.is_multiple_of(size)
            && words.chunks(2).enumerate().all(|(i, p)| p.len() == 2 && p[1] == size && p[0] == (i as u32 % workgroup) % size)
    }
}
