//! `gangpu train`: the flags (the run's settings, declared once in `TrainConfig`, plus how to
//! start and on which adapter), a new run, a resumed one or one started from PyTorch weights.

use super::{stopped, DeviceArgs, Exit};
use crate::checkpoint::RawCheckpoint;
use crate::cli_values::START;
use crate::models::Cond;
use crate::run_folder;
use crate::torch_import::{Role, TorchWeights};
use crate::train::{self, BarProgress, Gan, Outcome, PlainProgress, Progress, TrainConfig};
use crate::Engine;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `gangpu train`'s flags: every setting of the run, then how this process starts.
#[derive(clap::Args)]
pub struct TrainCli {
    #[command(flatten)]
    pub cfg: TrainConfig,
    #[command(flatten)]
    pub start: StartArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// How a `gangpu train` process starts: afresh, from a checkpoint, or from PyTorch weights.
#[derive(clap::Args)]
pub struct StartArgs {
    /// Continue from a checkpoint: its model and objective settings are kept (a flag asking for
    /// another value is an error); --steps, --lr, --beta1/2 and the --*-every intervals may change.
    /// The run continues in the checkpoint's folder, or in a copy of it at --out when given
    #[arg(long, help_heading = START)]
    pub resume: Option<PathBuf>,
    /// Start afresh in an --out that holds an earlier run (its run files are deleted first)
    #[arg(long, help_heading = START)]
    pub overwrite: bool,
    /// Start G from PyTorch weights: a safetensors file with the DCGAN example's state_dict names
    /// (main.0.weight ..., with or without a netG. prefix); the architecture is read from the shapes
    #[arg(long = "netG", value_name = "FILE", help_heading = START)]
    pub net_g: Option<PathBuf>,
    /// Start D from PyTorch weights (as --netG, names main.0.weight ... with or without netD.)
    #[arg(long = "netD", value_name = "FILE", help_heading = START)]
    pub net_d: Option<PathBuf>,
}

/// Runs `gangpu train` (`explicit(id)`: whether flag `id` was on the command line).
pub fn run(a: TrainCli, explicit: &dyn Fn(&str) -> bool) -> Result<Exit> {
    let mut cfg = a.cfg.clone();
    cfg.apply_loss_defaults(explicit);
    let torch: Vec<TorchWeights> = [(&a.start.net_g, Role::Generator), (&a.start.net_d, Role::Discriminator)]
        .into_iter()
        .filter_map(|(p, role)| p.as_ref().map(|p| TorchWeights::read(p, role)))
        .collect::<Result<_>>()?;
    let mut changes = Vec::new();
    let raw = match &a.start.resume {
        Some(p) => {
            if !torch.is_empty() {
                bail!("--netG / --netD start a new run from PyTorch weights; they do not combine with --resume");
            }
            let raw = RawCheckpoint::read(p)?;
            let saved = train::checkpoint_config(&raw)?;
            let (merged, ch) = super::resume::merge(&saved, &cfg, &TrainCli::augment_args(clap::Command::new("train")), explicit)?;
            let from = run_folder::folder_of(p);
            let out = if explicit("out") && !run_folder::same_folder(&a.cfg.out, &from) {
                // continue in a copy at the new place; the original run stays as it was
                let _copy_lock = run_folder::RunLock::acquire(&a.cfg.out, "train")?;
                run_folder::copy_run(&from, &a.cfg.out, a.start.overwrite)?;
                eprintln!("copied the run in {} to {}; continuing there", from.display(), a.cfg.out.display());
                a.cfg.out.clone()
            } else {
                if a.start.overwrite {
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
        crate::torch_import::adopt_shapes(&mut cfg.model, w, explicit)?;
    }
    let data = crate::data::load(&cfg.data, cfg.model.image_size, cfg.model.channels)?;
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
        run_folder::claim_new(&cfg.out, run_folder::TRAIN_FILES, a.start.overwrite, "train")?;
    }
    if !data.skipped.is_empty() {
        eprintln!("warning: {} file(s) could not be decoded and were skipped", data.skipped.len());
    }
    let e = Engine::open(&a.device.opts())?;
    eprintln!("adapter: {}{}", e.gpu.adapter, if e.gpu.is_cpu { " (software adapter: no GPU in use)" } else { "" });
    match cfg.data_limit {
        Some(n) => eprintln!("model: {} (the first {n} of {} images from {})", cfg.model.name(), data.count, data.source),
        None => eprintln!("model: {} ({} images from {})", cfg.model.name(), data.count, data.source),
    }
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
    if let (Some(ema), true) = (&gan.ema, torch.iter().any(|w| w.role == Role::Generator)) {
        // the moving average starts at the imported G
        ema.restart(&e, &gan.g)?;
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

    crate::signals::install()?;
    let stop = crate::signals::flag();
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
            let by = crate::signals::received().map_or("a stop request", crate::signals::name);
            let ck = cfg.out.join("checkpoint.safetensors");
            eprintln!("stopped by {by} at step {}: checkpoint written to {}; continue with `gangpu train --resume {}`", gan.step, ck.display(), ck.display());
            stopped()
        }
    })
}
