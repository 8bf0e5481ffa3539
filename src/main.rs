//! The `gangpu` command line: devices, train, lab, eval, sample (eval and sample live in the library:
//! `eval::cli`, `sample_cmd`).

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use gangpu::checkpoint::RawCheckpoint;
use gangpu::models::{Cond, ModelConfig};
use gangpu::progress::{BarProgress, PlainProgress, Progress};
use gangpu::cli_values::*;
use gangpu::run_folder;
use gangpu::torch_import::{Role, TorchWeights};
use gangpu::train::{self, GLoss, Gan, GanLoss, Optimizer, Outcome, TrainConfig};
use gangpu::{Engine, GpuOptions};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "gangpu", version, about = "GAN training on any GPU (Vulkan, Metal, DX12, GL) with hand-written WGSL kernels")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DeviceArgs {
    /// wgpu backend: vulkan, metal, dx12 or gl (default: all; also WGPU_BACKEND)
    #[arg(long)]
    backend: Option<String>,
    /// Adapter name substring (also WGPU_ADAPTER_NAME)
    #[arg(long)]
    adapter: Option<String>,
    /// Kernel plan: auto (by adapter), gpu (shared-memory tiles), cpu (barrier-free register
    /// blocks, subgroup-shared loads where usable), cpu-plain (the same without subgroups),
    /// layout (layout kernels + GEMM) [default: GANGPU_KERNELS, else auto]
    #[arg(long, value_parser = kernel_plan)]
    kernels: Option<String>,
}

fn kernel_plan(s: &str) -> Result<String, String> {
    gangpu::plan::PlanChoice::parse(s).map(|c| c.name().to_string()).map_err(|e| e.to_string())
}

impl DeviceArgs {
    fn opts(&self) -> GpuOptions {
        GpuOptions { backend: self.backend.clone(), adapter: self.adapter.clone(), kernels: self.kernels.clone() }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters and the one that would be used.
    Devices {
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Train a DCGAN (default: dcgan28 on the built-in MNIST digits).
    Train(TrainArgs),
    /// The lecture's lab: 1-D and 2-D GANs (MLPs) that show P_G moving onto P_data.
    Lab(LabArgs),
    /// Score generated images: FID, class coverage and confidence (MNIST classifier), sliced
    /// Wasserstein distance (any data); one JSON line on stdout.
    Eval {
        #[command(flatten)]
        args: gangpu::eval::cli::EvalArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Measure training iterations: ms/iter, GFLOP/s, dispatches, GPU memory, a per-kernel
    /// profile (and with --dispatches every dispatch's grid)
    Bench {
        #[command(flatten)]
        args: gangpu::bench::BenchArgs,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Check this adapter's kernels (the chosen plan) at a model's layer shapes against the f64
    /// CPU references and embedded PyTorch vectors; a table, exit status 1 on any mismatch
    Check {
        #[command(flatten)]
        args: gangpu::check::CheckArgs,
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
        /// Checkpoint file (checkpoint.safetensors in a run folder)
        #[arg(long, required_unless_present = "net_g", conflicts_with = "net_g")]
        checkpoint: Option<PathBuf>,
        /// Or a PyTorch generator: safetensors with the DCGAN example's names (main.0.weight ...)
        #[arg(long = "netG", value_name = "FILE")]
        net_g: Option<PathBuf>,
        /// Number of images
        #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
        n: usize,
        /// Noise seed
        #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = seed_u32)]
        seed: u32,
        /// An image file (.png, .jpg or .jpeg: one grid in that format) or a folder (one PNG per sample)
        #[arg(long, default_value = "samples.png")]
        out: PathBuf,
        /// Batch size G runs at (batch norm uses batch statistics, as in training) [default: the checkpoint's; 64 with --netG]
        #[arg(long, allow_negative_numbers = true, value_parser = count_usize)]
        batch: Option<usize>,
        /// Class to generate (conditional checkpoints); without it a conditional grid has one row per class
        #[arg(long, allow_negative_numbers = true, value_parser = label_u32)]
        label: Option<u32>,
        #[command(flatten)]
        device: DeviceArgs,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// `mnist` (built in), an IDX image file (raw or .gz), or a folder of images (searched recursively)
    #[arg(long, default_value = "mnist")]
    data: String,
    /// Image size: 28 (dcgan28) or 16, 32, 64, 128
    #[arg(long, default_value_t = 28, allow_negative_numbers = true, value_parser = count_usize)]
    image_size: usize,
    /// Image channels: 1 or 3
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count_usize)]
    channels: usize,
    /// Noise dimension
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = count_usize)]
    nz: usize,
    /// Generator width
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    ngf: usize,
    /// Discriminator width
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    ndf: usize,
    /// Batch size
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    batch: usize,
    /// Training iterations (one D step + one G step each)
    #[arg(long, default_value_t = 2000, allow_negative_numbers = true, value_parser = count_u64)]
    steps: u64,
    /// Train for this many passes over the data set instead of --steps (each epoch draws every
    /// image once, in its own seeded order; fractions allowed)
    #[arg(long, conflicts_with = "steps", allow_negative_numbers = true, value_parser = positive_f64)]
    epochs: Option<f64>,
    /// Mirror real images left-right with probability 1/2 as batches are drawn (on the GPU)
    #[arg(long)]
    hflip: bool,
    /// GPU memory the data set may take, in MiB; a larger data set stays on the host and streams
    /// to the GPU batch by batch (same batches, bit for bit) [default: what one storage binding holds]
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64)]
    gpu_data_mb: Option<u64>,
    /// Objective. Published defaults apply unless overridden: bce, lsgan, hinge, bgan: Adam lr 2e-4,
    /// betas (0.5, 0.999), 1 D step; wgan: RMSProp lr 5e-5, clip 0.01, 5 critic steps (100 for the
    /// first 25 G steps and every 500th), critic with batch norm as in the original WGAN code
    #[arg(long, value_enum, default_value_t = GanLoss::Bce)]
    loss: GanLoss,
    /// Learning rate [default: per --loss]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f64)]
    lr: Option<f64>,
    /// Adam beta1 [default: 0.5]
    #[arg(long, allow_negative_numbers = true, value_parser = beta)]
    beta1: Option<f64>,
    /// Adam beta2 [default: 0.999]
    #[arg(long, allow_negative_numbers = true, value_parser = beta)]
    beta2: Option<f64>,
    /// Optimizer for both networks [default: per --loss]
    #[arg(long, value_enum)]
    optimizer: Option<Optimizer>,
    /// D (critic) steps per G step [default: per --loss; a fixed count turns off WGAN's 100-step schedule]
    #[arg(long, allow_negative_numbers = true, value_parser = count_usize)]
    critic_steps: Option<usize>,
    /// Clip D's weights to [-C, C] before each D step [default: 0.01 for wgan, none otherwise]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f32)]
    clip: Option<f32>,
    /// Class conditioning on labelled data: cgan (one-hot label with z and as D input planes) or
    /// acgan (label with z; D predicts the class with a second head)
    #[arg(long, value_enum, default_value_t = Cond::None)]
    cond: Cond,
    /// Spectral normalisation of D's weights (power iteration on the GPU); the usual partner of --loss hinge
    #[arg(long)]
    spectral_norm: bool,
    /// Generator loss with --loss bce: nonsaturating (-log D(G(z))) or minimax (log(1 - D(G(z))), the lecture's form)
    #[arg(long, value_enum, default_value_t = GLoss::Nonsaturating)]
    g_loss: GLoss,
    /// Seed for initialisation, noise and batch draws
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = seed_u32)]
    seed: u32,
    /// Run folder
    #[arg(long, default_value = "runs/dcgan")]
    out: PathBuf,
    /// Sample grid every N steps (besides the milestones 100, 1000, 5000, 50000)
    #[arg(long, default_value_t = 500, allow_negative_numbers = true, value_parser = count_u64)]
    sample_every: u64,
    /// Checkpoint every N steps (and at the end, and on Ctrl-C, SIGTERM or SIGHUP)
    #[arg(long, default_value_t = 500, allow_negative_numbers = true, value_parser = count_u64)]
    checkpoint_every: u64,
    /// Read the losses back every N steps
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = count_u64)]
    log_every: u64,
    /// Quality scores every N steps and at the milestones (FID, coverage, confidence on 28x28
    /// grayscale; SWD on any data), on the GPU without stalling training; 0: off
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = whole_u64)]
    eval_every: u64,
    /// Samples each quality evaluation scores (rounded up to whole batches)
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = count_usize)]
    eval_n: usize,
    /// Do not write TensorBoard event files (by default scalars and sample grids go to
    /// OUT/tensorboard/, for `tensorboard --logdir OUT`)
    #[arg(long)]
    no_tensorboard: bool,
    /// Continue from a checkpoint: its model and objective settings are kept (a flag asking for
    /// another value is an error); --steps, --lr, --beta1/2 and the --*-every intervals may change.
    /// The run continues in the checkpoint's folder, or in a copy of it at --out when given
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start afresh in an --out that holds an earlier run (its run files are deleted first)
    #[arg(long)]
    overwrite: bool,
    /// Start G from PyTorch weights: a safetensors file with the DCGAN example's state_dict names
    /// (main.0.weight ..., with or without a netG. prefix); the architecture is read from the shapes
    #[arg(long = "netG", value_name = "FILE")]
    net_g: Option<PathBuf>,
    /// Start D from PyTorch weights (as --netG, names main.0.weight ... with or without netD.)
    #[arg(long = "netD", value_name = "FILE")]
    net_d: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(clap::Args)]
struct LabArgs {
    /// Target distribution (1-D: gaussian, mixture, disjoint; 2-D: 8gaussians, 25gaussians, ring, swiss-roll)
    #[arg(long, value_enum, default_value_t = gangpu::lab::Dist::Mixture)]
    dist: gangpu::lab::Dist,
    /// Objective, as in `gangpu train`: bce, lsgan, hinge, bgan (Adam) or wgan (critic without
    /// sigmoid, weight clipping, RMSProp, 5 critic steps)
    #[arg(long, value_enum, default_value_t = gangpu::train::GanLoss::Bce)]
    loss: GanLoss,
    /// Generator loss with --loss bce [default: nonsaturating; minimax with --compare]
    #[arg(long, value_enum)]
    g_loss: Option<GLoss>,
    /// Noise dimension
    #[arg(long, default_value_t = 2, allow_negative_numbers = true, value_parser = count_usize)]
    nz: usize,
    /// Hidden units per layer (G and D)
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    hidden: usize,
    /// Hidden layers (G and D)
    #[arg(long, default_value_t = 2, allow_negative_numbers = true, value_parser = count_usize)]
    depth: usize,
    /// Batch size
    #[arg(long, default_value_t = 256, allow_negative_numbers = true, value_parser = count_usize)]
    batch: usize,
    /// Iterations [default: 2000 for bce, 1000 for wgan]
    #[arg(long, allow_negative_numbers = true, value_parser = count_u64)]
    steps: Option<u64>,
    /// D (critic) steps per iteration [default: 1 for bce, 5 for wgan]
    #[arg(long, allow_negative_numbers = true, value_parser = count_usize)]
    d_steps: Option<usize>,
    /// G steps per iteration
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count_usize)]
    g_steps: usize,
    /// D (critic) steps with G frozen before training [default: 0; 500 with --compare]
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64)]
    d_warmup: Option<u64>,
    /// Optimizer [default: adam for bce, rmsprop for wgan, sgd for both with --compare]
    #[arg(long, value_enum)]
    optimizer: Option<gangpu::lab::LabOpt>,
    /// Learning rate [default: 1e-3 Adam for bce, 5e-4 RMSProp for wgan, 0.05 SGD with --compare]
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f64)]
    lr: Option<f64>,
    /// WGAN weight clipping bound
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true, value_parser = positive_f32)]
    clip: f32,
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = seed_u32)]
    seed: u32,
    /// Log measures every N iterations
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = count_u64)]
    log_every: u64,
    /// Picture every N iterations (frames/ and run.gif)
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = count_u64)]
    frame_every: u64,
    /// Run folder
    #[arg(long, default_value = "runs/lab")]
    out: PathBuf,
    /// Start afresh in an --out that holds an earlier lab run (its files are deleted first)
    #[arg(long)]
    overwrite: bool,
    /// Train BCE and WGAN from the same start on --dist (default: disjoint) and write compare.png
    #[arg(long)]
    compare: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

fn lab_cmd(a: LabArgs) -> Result<Exit> {
    use gangpu::lab::{self, Dist, LabConfig};
    let dist = if a.compare && a.dist == Dist::Mixture && !std::env::args().any(|x| x.starts_with("--dist")) { Dist::Disjoint } else { a.dist };
    let d = LabConfig::defaults(dist, if a.compare { GanLoss::Wgan } else { a.loss });
    let optimizer = a.optimizer.unwrap_or(if a.compare { gangpu::lab::LabOpt::Sgd } else { d.optimizer });
    let default_lr = match optimizer {
        gangpu::lab::LabOpt::Adam => 1e-3,
        gangpu::lab::LabOpt::Rmsprop => 5e-4,
        gangpu::lab::LabOpt::Sgd => 0.05,
    };
    let cfg = LabConfig {
        dist,
        loss: a.loss,
        g_loss: a.g_loss.unwrap_or(if a.compare { GLoss::Minimax } else { GLoss::Nonsaturating }),
        nz: a.nz,
        hidden: a.hidden,
        depth: a.depth,
        batch: a.batch,
        steps: a.steps.unwrap_or(d.steps),
        d_steps: a.d_steps.unwrap_or(d.d_steps),
        g_steps: a.g_steps,
        d_warmup: a.d_warmup.unwrap_or(if a.compare { 500 } else { 0 }),
        optimizer,
        lr: a.lr.unwrap_or(default_lr),
        clip: a.clip,
        seed: a.seed,
        log_every: a.log_every,
        frame_every: a.frame_every,
        eval_samples: d.eval_samples,
        out: a.out.clone(),
    };
    cfg.validate()?;
    let _lock = run_folder::RunLock::acquire(&a.out, "lab")?;
    run_folder::claim_new(&a.out, run_folder::LAB_FILES, a.overwrite, "lab")?;
    gangpu::signals::install()?;
    let e = Engine::open(&a.device.opts())?;
    eprintln!("adapter: {}", e.gpu.adapter);
    let result = if a.compare {
        lab::compare(&e, cfg, false).map(|s| {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            eprintln!("wrote {}", a.out.join("compare.png").display());
        })
    } else {
        lab::run(&e, cfg, false).map(|r| eprintln!("wrote {} (frames/, run.gif, measures.png, metrics.jsonl) up to step {}", a.out.display(), r.steps_done))
    };
    if let Some(sig) = gangpu::signals::received() {
        // the lab has no checkpoint: what it wrote up to the stop stays in its folder
        eprintln!("stopped by {}: the lab's figures and metrics up to the stop are in {}; a lab run starts afresh (--overwrite)", gangpu::signals::name(sig), a.out.display());
        return Ok(stopped());
    }
    result.map(|_| Exit::Done)
}

fn devices(args: &DeviceArgs) -> Result<()> {
    let (list, chosen) = gangpu::gpu::list_adapters(&args.opts())?;
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
        Some((min, max)) => format!("subgroups {min}-{max} lanes{}", match f.subgroup_probe {
            Some(true) => ", in invocation order (probed)",
            Some(false) => ", NOT in invocation order (probed)",
            None => "",
        }),
        None => "no subgroups".into(),
    };
    println!("vendor 0x{:04x}, {sg}, workgroups up to {} invocations and {} bytes", f.vendor, f.max_invocations_per_workgroup, f.max_workgroup_storage_bytes);
    println!("kernels: {} ({})", e.plan.describe(), e.plan.why);
    Ok(())
}

/// How a command ended, for the exit code: 128 + the signal's number after a stop by a signal
/// (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as shells and schedulers expect.
enum Exit {
    Done,
    Interrupted(i32),
}

/// The exit after a stop by a signal (Ctrl-C when none was recorded).
fn stopped() -> Exit {
    Exit::Interrupted(gangpu::signals::exit_code(gangpu::signals::received().unwrap_or(gangpu::signals::SIGINT)))
}

fn train_cmd(a: TrainArgs, explicit: &dyn Fn(&str) -> bool) -> Result<Exit> {
    let defaults = a.loss.defaults();
    let mut cfg = TrainConfig {
        model: ModelConfig { image_size: a.image_size, channels: a.channels, nz: a.nz, ngf: a.ngf, ndf: a.ndf, batch: a.batch, cond: a.cond, classes: 0 },
        data: a.data.clone(),
        steps: a.steps,
        epochs: a.epochs,
        lr: a.lr.unwrap_or(defaults.lr),
        beta1: a.beta1.unwrap_or(defaults.beta1),
        beta2: a.beta2.unwrap_or(defaults.beta2),
        eps: 1e-8,
        g_loss: a.g_loss,
        loss: a.loss,
        optimizer: a.optimizer.unwrap_or(defaults.optimizer),
        critic_steps: a.critic_steps.unwrap_or(defaults.critic_steps),
        clip: a.clip.or(defaults.clip),
        wgan_schedule: defaults.wgan_schedule && a.critic_steps.is_none(),
        spectral_norm: a.spectral_norm,
        hflip: a.hflip,
        gpu_data_mb: a.gpu_data_mb,
        seed: a.seed,
        sample_every: a.sample_every,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
        eval_every: a.eval_every,
        eval_n: a.eval_n,
        tensorboard: !a.no_tensorboard,
        out: a.out.clone(),
    };
    let torch: Vec<TorchWeights> = [(&a.net_g, Role::Generator), (&a.net_d, Role::Discriminator)]
        .into_iter()
        .filter_map(|(p, role)| p.as_ref().map(|p| TorchWeights::read(p, role)))
        .collect::<Result<_>>()?;
    let mut changes = Vec::new();
    let raw = match &a.resume {
        Some(p) => {
            if !torch.is_empty() {
                bail!("--netG / --netD start a new run from PyTorch weights; they do not combine with --resume");
            }
            let raw = RawCheckpoint::read(p)?;
            let saved = train::checkpoint_config(&raw)?;
            let (merged, ch) = gangpu::resume::merge(&saved, &cfg, explicit)?;
            let from = run_folder::folder_of(p);
            let out = if explicit("out") && !run_folder::same_folder(&a.out, &from) {
                // continue in a copy at the new place; the original run stays as it was
                let _copy_lock = run_folder::RunLock::acquire(&a.out, "train")?;
                run_folder::copy_run(&from, &a.out, a.overwrite)?;
                eprintln!("copied the run in {} to {}; continuing there", from.display(), a.out.display());
                a.out.clone()
            } else {
                if a.overwrite {
                    bail!("--overwrite starts a new run; it does not combine with --resume (which continues one)");
                }
                from
            };
            cfg = TrainConfig { out, ..merged };
            changes = ch;
            Some(raw)
        }
        None => None,
    };
    for w in &torch {
        gangpu::torch_import::adopt_shapes(&mut cfg.model, w, explicit)?;
    }
    let data = gangpu::data::load(&cfg.data, cfg.model.image_size, cfg.model.channels)?;
    if cfg.model.cond != Cond::None && raw.is_none() {
        if data.labels.is_none() {
            bail!(
                "--cond {:?} needs labelled data: the built-in MNIST, an IDX image file with its labels file beside it \
                 (...-labels-idx1-ubyte[.gz]), or a folder with one sub-folder per class; {} has no labels",
                cfg.model.cond,
                data.source
            );
        }
        if !torch.is_empty() {
            bail!("--netG / --netD load the unconditional DCGAN of the PyTorch example; they do not combine with --cond");
        }
        cfg.model.classes = data.classes();
    }
    if let Some(epochs) = cfg.epochs {
        cfg.steps = cfg.steps_for_epochs(epochs, data.count);
        eprintln!("--epochs {epochs}: {} steps over {} images at batch {}", cfg.steps, data.count, cfg.model.batch);
    }
    cfg.validate()?;
    // the run folder is this process's until it exits (an OS lock: gone with the process)
    let _lock = run_folder::RunLock::acquire(&cfg.out, "train")?;
    if raw.is_none() {
        run_folder::claim_new(&cfg.out, run_folder::TRAIN_FILES, a.overwrite, "train")?;
    }
    if !data.skipped.is_empty() {
        eprintln!("warning: {} file(s) could not be decoded and were skipped", data.skipped.len());
    }
    let e = Engine::open(&a.device.opts())?;
    eprintln!("adapter: {}{}", e.gpu.adapter, if e.gpu.is_cpu { " (software adapter: no GPU in use)" } else { "" });
    eprintln!("model: {} ({} images from {})", cfg.model.name(), data.count, data.source);
    let mut gan = Gan::new(&e, cfg.clone(), Some(&data))?;
    if let (true, bytes) = gan.data_feed() {
        eprintln!(
            "data: {} images stream from the host ({} KiB of chunk buffers on the GPU): larger than --gpu-data-mb or one GPU buffer binding",
            data.count,
            bytes >> 10
        );
    }
    for w in &torch {
        let net = if w.role == Role::Generator { &gan.g } else { &gan.d };
        w.load_into(&e, net)?;
        eprintln!("{} starts from PyTorch weights {}", if w.role == Role::Generator { "G" } else { "D" }, w.path);
    }
    let mut resumes: Vec<serde_json::Value> = Vec::new();
    if let Some(raw) = &raw {
        gan.load_checkpoint(&e, raw)?;
        eprintln!("resumed from {} at step {}", raw.path, gan.step);
        if gan.step >= cfg.steps {
            bail!("the checkpoint is already at step {} and --steps is {}: pass a larger --steps to continue", gan.step, cfg.steps);
        }
        for c in &changes {
            eprintln!("changed on resume: {c}");
        }
        // keep the history of earlier resumes from the run's config.json
        if let Ok(old) = std::fs::read_to_string(cfg.out.join("config.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&old) {
                resumes = v.get("resumes").and_then(|r| r.as_array()).cloned().unwrap_or_default();
            }
        }
        resumes.push(serde_json::json!({ "at_step": gan.step, "changed": &changes }));
    }
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let config_json = serde_json::json!({
        "config": &cfg,
        "model": cfg.model.name(),
        "adapter": &e.gpu.adapter,
        "data_source": data.source,
        "data_count": data.count,
        "skipped_files": data.skipped,
        "torch_weights": torch.iter().map(|w| w.path.clone()).collect::<Vec<_>>(),
        "resumes": resumes,
        "gangpu_version": env!("CARGO_PKG_VERSION"),
    });
    std::fs::write(cfg.out.join("config.json"), serde_json::to_string_pretty(&config_json)?).context("writing config.json")?;

    gangpu::signals::install()?;
    let stop = gangpu::signals::flag();
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() { Box::new(BarProgress::new()) } else { Box::new(PlainProgress) };
    let t0 = std::time::Instant::now();
    let outcome = train::train(&e, &mut gan, progress.as_mut(), &stop)?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(match outcome {
        Outcome::Finished => {
            eprintln!(
                "done: {} steps in {:.1} s; run folder {} (report.html, curves.png, timeline.png, samples/, {}checkpoint.safetensors)",
                gan.step,
                secs,
                cfg.out.display(),
                if cfg.tensorboard { "tensorboard/, " } else { "" }
            );
            Exit::Done
        }
        Outcome::Interrupted => {
            let by = gangpu::signals::received().map_or("a stop request", gangpu::signals::name);
            let ck = cfg.out.join("checkpoint.safetensors");
            eprintln!("stopped by {by} at step {}: checkpoint written to {}; continue with `gangpu train --resume {}`", gan.step, ck.display(), ck.display());
            stopped()
        }
    })
}

fn main() {
    gangpu::gpu::quiet_mesa();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    let explicit = move |id: &str| {
        sub.as_ref()
            .is_some_and(|m| m.try_get_raw(id).ok().flatten().is_some() && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    };
    let result = match cli.command {
        Command::Devices { device } => devices(&device).map(|_| Exit::Done),
        Command::Train(a) => train_cmd(a, &explicit),
        Command::Lab(a) => lab_cmd(a),
        Command::Report { run } => train::redraw(&run).map(|_| {
            eprintln!("wrote {0}/timeline.png, {0}/curves.png and {0}/report.html", run.display());
            Exit::Done
        }),
        Command::Check { args, device } => gangpu::check::cli(&args, &device.opts()).map(|_| Exit::Done),
        Command::Bench { args, device } => gangpu::bench::cli(&args, &device.opts()).map(|_| Exit::Done),
        Command::Eval { args, device } => gangpu::eval::cli::run(&args, &device.opts()).map(|_| Exit::Done),
        Command::Sample { checkpoint, net_g, n, seed, out, batch, label, device } => {
            gangpu::sample_cmd::run(gangpu::sample_cmd::SampleArgs { checkpoint, net_g, n, seed, out, batch, label }, &device.opts()).map(|_| Exit::Done)
        }
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

