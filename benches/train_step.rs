//! Milliseconds per DCGAN training iteration: the same code as `gangpu bench` (src/bench.rs).
//! Run: `cargo bench --bench train_step`. GANGPU_BENCH_MODELS=dcgan28 (or dcgan64) picks one
//! model, GANGPU_BENCH_BATCHES=64,256 the batch sizes, GANGPU_BENCH_QUICK=1 one iteration and no
//! profile (CI's smoke run); GANGPU_KERNELS picks the kernel plan.

use anyhow::Result;
use gangpu::app::bench::{self, BenchOptions};
use gangpu::Engine;

fn main() -> Result<()> {
    let e = Engine::open_default()?;
    let quick = std::env::var("GANGPU_BENCH_QUICK").is_ok();
    let mut opts = BenchOptions::default();
    if let Ok(m) = std::env::var("GANGPU_BENCH_MODELS") {
        opts.models = m.split(',').map(|s| s.trim().to_string()).collect();
    }
    if let Ok(b) = std::env::var("GANGPU_BENCH_BATCHES") {
        opts.batches = b.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
    }
    if quick {
        opts.iters = Some(1);
        opts.profile = false;
    } else {
        opts.models.truncate(if opts.models.len() > 1 { 2 } else { 1 });
    }
    println!("adapter: {}\nkernels: {}\n{}", e.gpu.adapter, e.describe(), bench::header());
    let results = bench::run(&e, &opts, &mut std::io::stdout())?;
    for r in results {
        println!("{}", bench::json_line(&r)?);
    }
    Ok(())
}
