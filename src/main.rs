//! The `gangpu` command line: parses the flags and hands each command to the library
//! (`gangpu::app`), then maps the outcome to an exit code.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use gangpu::app::{self, DeviceArgs, Exit};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "gangpu", version, about = "GAN training on any GPU (Vulkan, Metal, DX12, GL) with hand-written WGSL kernels")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters and the one that would be used.
    Devices {
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Train a DCGAN (default: dcgan28 on the built-in MNIST digits).
    Train(Box<app::train_cmd::TrainCli>),
    /// The lecture's lab: 1-D and 2-D GANs (MLPs) that show P_G moving onto P_data.
    Lab(app::lab_cmd::LabArgs),
    /// Score generated images: FID, class coverage and confidence (MNIST classifier), sliced
    /// Wasserstein distance (any data); one JSON line on stdout.
    Eval {
        #[command(flatten)]
        args: app::eval_cmd::EvalArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Measure training iterations: ms/iter, GFLOP/s, dispatches, GPU memory, a per-kernel
    /// profile (and with --dispatches every dispatch's grid)
    Bench {
        #[command(flatten)]
        args: app::bench::BenchArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Check this adapter's kernels (the chosen plan) at a model's layer shapes against the f64
    /// CPU references and embedded PyTorch vectors; a table, exit status 1 on any mismatch
    Check {
        #[command(flatten)]
        args: app::check::CheckArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Draw a training run's timeline.png, curves.png and report.html again from its files.
    Report {
        /// The run folder (holding config.json, metrics.jsonl, samples/)
        run: PathBuf,
    },
    /// Generate images from a checkpoint.
    Sample {
        #[command(flatten)]
        args: app::sample::SampleArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
}

fn main() {
    gangpu::gpu::quiet_mesa();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    // whether flag `id` was given on the command line (not a default)
    let explicit = move |id: &str| {
        sub.as_ref().is_some_and(|m| m.try_get_raw(id).ok().flatten().is_some() && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    };
    let done = |r: anyhow::Result<()>| r.map(|_| Exit::Done);
    let result = match cli.command {
        Command::Devices { device } => done(app::devices(&device)),
        Command::Train(a) => app::train_cmd::run(*a, &explicit),
        Command::Lab(a) => app::lab_cmd::run(a),
        Command::Report { run } => done(gangpu::train::redraw(&run).map(|_| {
            eprintln!("wrote {0}/timeline.png, {0}/curves.png and {0}/report.html", run.display());
        })),
        Command::Check { args, device } => done(app::check::cli(&args, &device.opts())),
        Command::Bench { args, device } => done(app::bench::cli(&args, &device.opts())),
        Command::Eval { args, device } => done(app::eval_cmd::run(&args, &device.opts())),
        Command::Sample { args, device } => done(app::sample::run(args, &device.opts())),
    };
    match result {
        Ok(Exit::Done) => {}
        Ok(Exit::Interrupted(code)) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}
