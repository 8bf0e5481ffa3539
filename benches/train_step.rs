//! Milliseconds per DCGAN training iteration (D step + G step, as the trainer runs them, losses
//! read back through a staging buffer) for dcgan28 and dcgan64 at batch 64, with GFLOP/s, GPU
//! memory, dispatches per iteration and a per-kernel profile. Run: `cargo bench --bench train_step`.
//! GANGPU_BENCH_MODELS=28|64 picks one model, GANGPU_BENCH_BATCHES=64,256 the batch sizes; each
//! measurement also prints a `result <model> <batch> <ms>` line for scripts/bench_gpu.sh;
//! GANGPU_BENCH_PROFILE=0 skips the per-kernel profile (made for dcgan28; =all for every model).

use anyhow::Result;
use gangpu::models::ModelConfig;
use gangpu::train::{Gan, TrainConfig};
use gangpu::Engine;
use std::collections::BTreeMap;
use std::time::Instant;

fn config(size: usize, channels: usize, batch: usize) -> TrainConfig {
    TrainConfig {
        sample_every: 1_000_000,
        checkpoint_every: 1_000_000,
        ..TrainConfig::new(
            ModelConfig { image_size: size, channels, batch, ..Default::default() },
            "synthetic",
            1_000_000,
            std::env::temp_dir(),
        )
    }
}

fn read_losses(e: &Engine, gan: &Gan, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
    let mut enc = e.gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(gan.stats_buffer(), 0, staging, 0, 32);
    e.gpu.queue.submit(Some(enc.finish()));
    gangpu::tensor::map_blocking(&e.gpu, staging)
}

fn main() -> Result<()> {
    let e = Engine::open_default()?;
    let quick = std::env::var("GANGPU_BENCH_QUICK").is_ok();
    println!("adapter: {}\nkernels: {}", e.gpu.adapter, e.describe());
    println!("{:<10} {:>6} {:>6} {:>12} {:>10} {:>12} {:>12} {:>14}", "model", "batch", "iters", "ms/iter", "iter/s", "GFLOP/iter", "GFLOP/s", "GPU MiB");
    let mut profiles = Vec::new();
    // GANGPU_BENCH_MODELS=28 (or 64) measures one model only
    let only: Option<usize> = std::env::var("GANGPU_BENCH_MODELS").ok().and_then(|v| v.parse().ok());
    let batches: Vec<usize> = std::env::var("GANGPU_BENCH_BATCHES")
        .ok()
        .map(|v| v.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64]);
    let models = [(28usize, 1usize), (64, 3)].into_iter().filter(|(s, _)| only.is_none_or(|o| o == *s));
    for ((size, channels), batch) in models.flat_map(|m| batches.iter().map(move |b| (m, *b))) {
        let before = e.gpu.allocated_bytes();
        let mut gan = Gan::new(&e, config(size, channels, batch), None)?;
        let staging = e.gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench staging"),
            size: 32,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bytes = e.gpu.allocated_bytes() - before;
        println!("{} dispatches per iteration: {}", gan.cfg.model.name(), gan.iteration_dispatches().len());
        let iters = match (quick, e.gpu.is_cpu, size) {
            (true, _, _) => 1,
            (false, true, 28) => 6,
            (false, true, _) => 2,
            (false, false, _) => 50,
        };
        // warm-up: pipelines, first-touch of every buffer
        gan.submit_iteration(&e, None);
        read_losses(&e, &gan, &staging)?;
        let t = Instant::now();
        for i in 0..iters {
            gan.submit_iteration(&e, None);
            if (i + 1) % 50 == 0 || i + 1 == iters {
                read_losses(&e, &gan, &staging)?; // the trainer reads losses every --log-every steps
            }
        }
        let secs = t.elapsed().as_secs_f64() / iters as f64;
        let gflop = 2.0 * gan.iteration_macs() as f64 / 1e9;
        println!(
            "{:<10} {:>6} {:>6} {:>12.1} {:>10.2} {:>12.2} {:>12.2} {:>14.1}",
            gan.cfg.model.name(),
            batch,
            iters,
            secs * 1e3,
            1.0 / secs,
            gflop,
            gflop / secs,
            bytes as f64 / (1 << 20) as f64
        );
        println!("result {} {batch} {:.3}", gan.cfg.model.name(), secs * 1e3);
        let profile = std::env::var("GANGPU_BENCH_PROFILE").unwrap_or_default();
        if !quick && profile != "0" && (size == 28 || profile == "all") && batch == batches[0] {
            // profile: each dispatch of one iteration alone, grouped by kernel
            let mut by_kernel: BTreeMap<String, (f64, usize)> = BTreeMap::new();
            for d in gan.iteration_dispatches() {
                let t = Instant::now();
                e.run(&[d])?;
                let entry = by_kernel.entry(d.label.clone()).or_insert((0.0, 0));
                entry.0 += t.elapsed().as_secs_f64();
                entry.1 += 1;
            }
            profiles.push((gan.cfg.model.name(), by_kernel));
        }
    }
    for (name, prof) in profiles {
        let total: f64 = prof.values().map(|v| v.0).sum();
        println!("\nprofile of one {name} iteration, each dispatch run alone (includes ~per-submit overhead): {:.1} ms", total * 1e3);
        let mut rows: Vec<_> = prof.into_iter().collect();
        rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
        for (k, (t, n)) in rows {
            println!("  {:<28} {:>4} dispatches {:>10.1} ms {:>6.1}%", k, n, t * 1e3, 100.0 * t / total);
        }
    }
    Ok(())
}
