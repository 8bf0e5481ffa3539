//! The input pipeline: images per second decoded from a folder (cold, then from the decode
//! cache), the cost of streaming batches from the host relative to a training step (dcgan28 and
//! dcgan64, batch 64, resident vs streamed data), and host memory for a streamed data set.
//! Run: `cargo bench --bench data` (GANGPU_BENCH_QUICK=1: one round).

use anyhow::Result;
use gangpu::data::{self, Dataset};
use gangpu::models::ModelConfig;
use gangpu::train::{Gan, TrainConfig};
use gangpu::Engine;
use std::time::Instant;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn step_ms(e: &Engine, ds: &Dataset, size: usize, budget: Option<u64>, iters: usize) -> Result<(f64, bool)> {
    let model = ModelConfig { image_size: size, channels: ds.channels, nz: 100, ngf: 64, ndf: 64, batch: 64, cond: Default::default(), classes: 0 };
    let cfg = TrainConfig { gpu_data_mb: budget, ..TrainConfig::new(model, "bench", 1_000_000, std::env::temp_dir()) };
    let mut gan = Gan::new(e, cfg, Some(ds))?;
    gan.submit_iteration(e, None);
    e.gpu.wait()?;
    let t = Instant::now();
    for _ in 0..iters {
        gan.submit_iteration(e, None);
    }
    e.gpu.wait()?;
    Ok((t.elapsed().as_secs_f64() * 1e3 / iters as f64, gan.data_feed().0))
}

fn main() -> Result<()> {
    let quick = std::env::var("GANGPU_BENCH_QUICK").is_ok();
    let e = Engine::open_default()?;
    println!("adapter: {}", e.gpu.adapter);

    // decoding: a folder of 64x64 RGB PNGs, cold and from the cache
    let n = if quick { 64 } else { 2000 };
    let dir = std::env::temp_dir().join(format!("gangpu-bench-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("imgs"))?;
    for k in 0..n {
        let img = image::RgbImage::from_fn(96, 80, |x, y| image::Rgb([(x + k) as u8, (y * 3) as u8, (x ^ y) as u8]));
        img.save(dir.join("imgs").join(format!("{k:05}.png")))?;
    }
    std::env::set_var("GANGPU_CACHE_DIR", dir.join("cache"));
    let t = Instant::now();
    let cold = data::load(dir.join("imgs").to_str().unwrap_or_default(), 64, 3)?;
    let cold_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let warm = data::load(dir.join("imgs").to_str().unwrap_or_default(), 64, 3)?;
    let warm_s = t.elapsed().as_secs_f64();
    assert_eq!(cold.pixels, warm.pixels);
    println!(
        "\ndecode {n} PNGs (96x80 -> 64x64 RGB) on {} threads: {:.0} images/s cold, {:.0} images/s from the cache",
        rayon::current_num_threads(),
        n as f64 / cold_s,
        n as f64 / warm_s
    );
    let _ = std::fs::remove_dir_all(&dir);

    // streaming: the same model on resident and on streamed data (budget 1 MiB)
    println!("\n{:<10} {:>14} {:>14} {:>10}", "model", "resident ms", "streamed ms", "cost");
    let mnist = data::load("mnist", 28, 1)?;
    let iters = if quick { 1 } else { 4 };
    // alternate the two, 3 rounds, and keep each one's fastest: this machine's speed drifts
    let (mut r, mut s) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..if quick { 1 } else { 3 } {
        r = r.min(step_ms(&e, &mnist, 28, None, iters)?.0);
        let (t, streamed) = step_ms(&e, &mnist, 28, Some(1), iters)?;
        assert!(streamed, "a 1 MiB budget must stream the digits");
        s = s.min(t);
    }
    println!("{:<10} {:>14.1} {:>14.1} {:>9.1}%", "dcgan28", r, s, 100.0 * (s - r) / r);
    if !quick {
        let big = Dataset {
            count: 4096,
            channels: 3,
            size: 64,
            pixels: (0..4096 * 3 * 64 * 64).map(|i| (i % 251) as u8).collect(),
            labels: None,
            source: "synthetic".into(),
            skipped: vec![],
            class_names: vec![],
        };
        let (r, _) = step_ms(&e, &big, 64, None, 1)?;
        let (s, _) = step_ms(&e, &big, 64, Some(4), 1)?;
        println!("{:<10} {:>14.1} {:>14.1} {:>9.1}%", "dcgan64", r, s, 100.0 * (s - r) / r);
    }

    // host memory of a streamed data set: 20,000 RGB 64x64 images (246 MB packed)
    if !quick {
        let before = rss_mib();
        let count = 20_000;
        let ds = Dataset {
            count,
            channels: 3,
            size: 64,
            pixels: vec![7u8; count * 3 * 64 * 64],
            labels: None,
            source: "synthetic".into(),
            skipped: vec![],
            class_names: vec![],
        };
        let packed = (count * 3 * 64 * 64) as f64 / (1 << 20) as f64;
        let model = ModelConfig { image_size: 64, channels: 3, nz: 100, ngf: 8, ndf: 8, batch: 64, cond: Default::default(), classes: 0 };
        let cfg = TrainConfig { gpu_data_mb: Some(16), ..TrainConfig::new(model, "bench", 10, std::env::temp_dir()) };
        let gan = Gan::new(&e, cfg, Some(&ds))?;
        let after = rss_mib();
        println!(
            "\nstreamed data set of {count} RGB 64x64 images: packed {packed:.0} MiB, host memory grew {:.0} MiB ({:.2}x the packed set), {} MiB on the GPU",
            after - before,
            (after - before) / packed,
            gan.data_feed().1 >> 20
        );
    }
    Ok(())
}
