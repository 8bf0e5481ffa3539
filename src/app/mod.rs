//! The commands above the engine: each takes its parsed flags and runs on an `Engine` (main.rs
//! only parses the command line and maps errors to exit codes). The top of the import order:
//! they use `train`, `lab` and `eval`; nothing below uses them.

pub mod bench;
pub mod check;
pub mod eval_cmd;
pub mod generate;
pub mod lab_cmd;
pub mod latent;
pub mod resume;
pub mod sample;
pub mod train_cmd;

use crate::cli_values::DEVICE;
use crate::{Engine, GpuOptions};
use anyhow::{bail, Context, Result};

/// Which adapter and kernel plan a command runs on (every device command has these flags).
#[derive(clap::Args, Clone, Debug)]
pub struct DeviceArgs {
    /// wgpu backend: vulkan, metal, dx12 or gl (default: all; also WGPU_BACKEND)
    #[arg(long, help_heading = DEVICE)]
    pub backend: Option<String>,
    /// Adapter name substring (also WGPU_ADAPTER_NAME)
    #[arg(long, help_heading = DEVICE)]
    pub adapter: Option<String>,
    /// Kernel plan: auto (by adapter), gpu (shared-memory tiles), cpu (barrier-free register
    /// blocks, subgroup-shared loads where usable), cpu-plain (the same without subgroups),
    /// layout (layout kernels + GEMM) [default: GANGPU_KERNELS, else auto]
    #[arg(long, value_parser = kernel_plan, help_heading = DEVICE)]
    pub kernels: Option<String>,
}

fn kernel_plan(s: &str) -> Result<String, String> {
    crate::plan::PlanChoice::parse(s).map(|c| c.name().to_string()).map_err(|e| e.to_string())
}

impl DeviceArgs {
    pub fn opts(&self) -> GpuOptions {
        GpuOptions { backend: self.backend.clone(), adapter: self.adapter.clone(), kernels: self.kernels.clone() }
    }
}

/// How a command ended, for the exit code: 128 + the signal's number after a stop by a signal
/// (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as shells and schedulers expect.
pub enum Exit {
    Done,
    Interrupted(i32),
}

/// The exit after a stop by a signal (Ctrl-C when none was recorded).
pub fn stopped() -> Exit {
    Exit::Interrupted(crate::signals::exit_code(crate::signals::received().unwrap_or(crate::signals::SIGINT)))
}

/// `gangpu devices`: the adapters, the one that would be used, and its kernel plan.
pub fn devices(args: &DeviceArgs) -> Result<()> {
    let (list, chosen) = crate::gpu::list_adapters(&args.opts())?;
    if list.is_empty() {
        bail!(
            "no GPU adapter found. On Linux without a GPU: `apt-get install mesa-vulkan-drivers` (Vulkan lavapipe), \
             or WGPU_BACKEND=gl for Mesa's llvmpipe over EGL."
        );
    }
    for (i, a) in list.iter().enumerate() {
        let mark = if Some(i) == chosen { "*" } else { " " };
        println!("{mark} {}  backend={}  type={}  driver={}", a.name, a.backend, a.device_type, a.driver);
    }
    match chosen {
        Some(i) => println!("\nwould use: {}", list[i]),
        None => {
            println!("\nno adapter matches the --adapter / WGPU_ADAPTER_NAME filter");
            return Ok(());
        }
    }
    let e = Engine::open(&args.opts()).context("opening the adapter to plan its kernels")?;
    let f = &e.gpu.facts;
    let sg = match f.subgroups {
        Some((min, max)) => format!(
            "subgroups {min}-{max} lanes{}",
            match f.subgroup_probe {
                Some(true) => ", in invocation order (probed)",
                Some(false) => ", NOT in invocation order (probed)",
                None => "",
            }
        ),
        None => "no subgroups".into(),
    };
    println!("vendor 0x{:04x}, {sg}, workgroups up to {} invocations and {} bytes", f.vendor, f.max_invocations_per_workgroup, f.max_workgroup_storage_bytes);
    println!("kernels: {} ({})", e.plan.describe(), e.plan.why);
    Ok(())
}
