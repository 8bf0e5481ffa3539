//! `gangpu bench`: milliseconds per DCGAN training iteration (D step + G step, as the trainer runs
//! them, losses read back every 50 iterations as at the default `--log-every`), with GFLOP/s, GPU
//! memory, dispatches per iteration, a per-kernel profile and a listing of every dispatch's grid.
//! `benches/train_step.rs` calls the same code, so `cargo bench` and the binary measure alike.

use crate::models::ModelConfig;
use crate::train::{Gan, TrainConfig};
use crate::Engine;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

/// The benchmarked models: name, image size, channels.
pub const MODELS: [(&str, usize, usize); 2] = [("dcgan28", 28, 1), ("dcgan64", 64, 3)];

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Model names from `MODELS`.
    pub models: Vec<String>,
    pub batches: Vec<usize>,
    /// Timed iterations (None: 50 on a GPU, 6 / 2 for dcgan28 / dcgan64 on a CPU adapter).
    pub iters: Option<usize>,
    /// Per-kernel profile of one iteration.
    pub profile: bool,
    /// List every dispatch of one iteration with its workgroup count.
    pub dispatches: bool,
    /// Multiprocessors of the GPU the listing judges grids against (2 workgroups each).
    pub sms: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { models: MODELS.iter().map(|m| m.0.to_string()).collect(), batches: vec![64], iters: None, profile: true, dispatches: false, sms: 132 }
    }
}

/// One model at one batch size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch: usize,
    pub adapter: String,
    pub kernels: String,
    pub iters: usize,
    pub ms_per_iter: f64,
    pub iter_per_s: f64,
    pub gflop_per_iter: f64,
    pub gflop_per_s: f64,
    pub dispatches: usize,
    pub gpu_mib: f64,
    /// Per kernel (label): dispatches in one iteration and milliseconds, largest first.
    pub profile: Vec<(String, usize, f64)>,
    /// How the profile was timed (GPU timestamps or wall time per submit).
    pub profile_timing: String,
}

fn config(size: usize, channels: usize, batch: usize) -> TrainConfig {
    TrainConfig {
        sample_every: 1_000_000,
        checkpoint_every: 1_000_000,
        ..TrainConfig::new(ModelConfig { image_size: size, channels, batch, ..Default::default() }, "synthetic", 1_000_000, std::env::temp_dir())
    }
}

fn read_losses(e: &Engine, gan: &Gan, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
    let mut enc = e.gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(gan.stats_buffer(), 0, staging, 0, 32);
    e.gpu.queue.submit(Some(enc.finish()));
    crate::tensor::map_blocking(&e.gpu, staging)
}

/// Measures every model x batch of `opts`, writing the human-readable table (and listings) to
/// `out` as it goes; returns the results (for `--json` and scripts).
pub fn run(e: &Engine, opts: &BenchOptions, out: &mut dyn Write) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    for name in &opts.models {
        let Some(&(model, size, channels)) = MODELS.iter().find(|m| m.0 == name) else {
            bail!("unknown model '{name}': use {}", MODELS.map(|m| m.0).join(", "));
        };
        for &batch in &opts.batches {
            let r = bench_one(e, opts, model, size, channels, batch, out).with_context(|| format!("benchmarking {model} at batch {batch}"))?;
            results.push(r);
        }
    }
    Ok(results)
}

fn bench_one(e: &Engine, opts: &BenchOptions, model: &str, size: usize, channels: usize, batch: usize, out: &mut dyn Write) -> Result<BenchResult> {
    let before = e.gpu.allocated_bytes();
    let mut gan = Gan::new(e, config(size, channels, batch), None)?;
    let staging = e.gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench staging"),
        size: 32,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bytes = e.gpu.allocated_bytes() - before;
    let iters = opts.iters.unwrap_or(match (e.gpu.is_cpu, size) {
        (true, 28) => 6,
        (true, _) => 2,
        (false, _) => 50,
    });
    // warm-up: pipelines, first touch of every buffer
    gan.submit_iteration(e, None);
    read_losses(e, &gan, &staging)?;
    let t = Instant::now();
    for i in 0..iters {
        gan.submit_iteration(e, None);
        if (i + 1) % 50 == 0 || i + 1 == iters {
            read_losses(e, &gan, &staging)?;
        }
    }
    let secs = t.elapsed().as_secs_f64() / iters.max(1) as f64;
    let gflop = 2.0 * gan.iteration_macs() as f64 / 1e9;
    let list = gan.iteration_dispatches();
    let mut r = BenchResult {
        model: model.into(),
        batch,
        adapter: e.gpu.adapter.to_string(),
        kernels: e.plan.name.into(),
        iters,
        ms_per_iter: secs * 1e3,
        iter_per_s: 1.0 / secs,
        gflop_per_iter: gflop,
        gflop_per_s: gflop / secs,
        dispatches: list.len(),
        gpu_mib: bytes as f64 / (1 << 20) as f64,
        profile: Vec::new(),
        profile_timing: String::new(),
    };
    writeln!(
        out,
        "{:<10} {:>6} {:>6} {:>10.2} {:>9.2} {:>10.2} {:>9.1} {:>10} {:>9.1}",
        r.model, batch, iters, r.ms_per_iter, r.iter_per_s, gflop, r.gflop_per_s, r.dispatches, r.gpu_mib
    )?;
    if opts.profile {
        let (times, how) = e.time_dispatches(&list)?;
        let mut by_kernel: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for (d, t) in list.iter().zip(&times) {
            let k = by_kernel.entry(d.label.clone()).or_default();
            k.0 += 1;
            k.1 += t * 1e3;
        }
        let mut rows: Vec<(String, usize, f64)> = by_kernel.into_iter().map(|(k, (n, ms))| (k, n, ms)).collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        let total: f64 = rows.iter().map(|r| r.2).sum();
        writeln!(out, "  profile of one {model} iteration at batch {batch}, each dispatch alone ({how}): {total:.2} ms")?;
        for (k, n, ms) in &rows {
            writeln!(out, "    {k:<32} {n:>4} dispatches {ms:>10.3} ms {:>6.1}%", 100.0 * ms / total.max(1e-12))?;
        }
        r.profile = rows;
        r.profile_timing = how.into();
    }
    if opts.dispatches {
        write_listing(e, &list, model, batch, opts.sms, out)?;
    }
    Ok(r)
}

/// Every dispatch of one iteration: its grid and workgroups, judged against 2 workgroups per
/// multiprocessor of a GPU with `sms` of them; a short grid says why.
fn write_listing(e: &Engine, list: &[&crate::Dispatch], model: &str, batch: usize, sms: usize, out: &mut dyn Write) -> Result<()> {
    let want = 2 * sms as u64;
    writeln!(out, "  dispatches of one {model} iteration at batch {batch} ({}; {want} workgroups fill a GPU of {sms} multiprocessors):", e.plan.name)?;
    let mut short = 0;
    for (i, d) in list.iter().enumerate() {
        let n = d.groups.iter().map(|&g| g as u64).product::<u64>();
        let why = if n >= want {
            if d.work.is_empty() {
                String::new()
            } else {
                format!("     ({})", d.work)
            }
        } else {
            short += 1;
            if d.work.is_empty() {
                format!("  <- {n} < {want}: the pass's whole output at {} invocations per workgroup", e.workgroup_size)
            } else {
                format!("  <- {n} < {want}: {}", d.work)
            }
        };
        writeln!(out, "    {i:>3} {:<30} {:>5} x {:>4} x {:>3} = {n:>7}{why}", d.label, d.groups[0], d.groups[1], d.groups[2])?;
    }
    writeln!(out, "  {short} of {} dispatches launch fewer than {want} workgroups", list.len())?;
    Ok(())
}

/// The table's header line.
pub fn header() -> String {
    format!(
        "{:<10} {:>6} {:>6} {:>10} {:>9} {:>10} {:>9} {:>10} {:>9}",
        "model", "batch", "iters", "ms/iter", "iter/s", "GFLOP/iter", "GFLOP/s", "dispatches", "GPU MiB"
    )
}

/// One JSON line of a result (the profile as [kernel, dispatches, ms] triples).
pub fn json_line(r: &BenchResult) -> Result<String> {
    serde_json::to_string(r).context("writing a bench result as JSON")
}

/// `gangpu bench`'s flags.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Models to measure, comma separated
    #[arg(long, value_delimiter = ',', default_value = "dcgan28,dcgan64", value_parser = ["dcgan28", "dcgan64"])]
    pub model: Vec<String>,
    /// Batch sizes, comma separated
    #[arg(long, value_delimiter = ',', default_value = "64", allow_negative_numbers = true, value_parser = crate::cli_values::count_usize)]
    pub batch: Vec<usize>,
    /// Timed iterations per model and batch [default: 50 on a GPU; 6 (dcgan28) or 2 (dcgan64) on a CPU adapter]
    #[arg(long, allow_negative_numbers = true, value_parser = crate::cli_values::count_usize)]
    pub iters: Option<usize>,
    /// One JSON line per model and batch on stdout (the table goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Skip the per-kernel profile
    #[arg(long)]
    pub no_profile: bool,
    /// List every dispatch of one iteration with its workgroup count
    #[arg(long)]
    pub dispatches: bool,
    /// Multiprocessors of the GPU the dispatch listing judges grids against (H100: 132)
    #[arg(long, default_value_t = 132, allow_negative_numbers = true, value_parser = crate::cli_values::count_usize)]
    pub sms: usize,
}

/// Runs `gangpu bench` on the adapter and plan of `gpu`.
pub fn cli(a: &BenchArgs, gpu: &crate::GpuOptions) -> Result<()> {
    let e = Engine::open(gpu)?;
    let opts = BenchOptions { models: a.model.clone(), batches: a.batch.clone(), iters: a.iters, profile: !a.no_profile, dispatches: a.dispatches, sms: a.sms };
    let mut table: Box<dyn Write> = if a.json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    writeln!(table, "adapter: {}\nkernels: {}\n{}", e.gpu.adapter, e.describe(), header())?;
    let results = run(&e, &opts, &mut table)?;
    if a.json {
        for r in &results {
            println!("{}", json_line(r)?);
        }
    }
    Ok(())
}
