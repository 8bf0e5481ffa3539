//! `--resume`: which settings a continued run may change. Settings that define the model or the
//! objective (and the data and seed that make resuming exact) are the checkpoint's; a flag that
//! asks for another value is an error naming both. Schedule and optimizer-rate settings may
//! change; the changes are applied and reported.

use crate::train::TrainConfig;
use anyhow::{bail, Result};

/// A setting's command-line flag and how to read it from a config, as text for messages.
struct Setting {
    flag: &'static str,
    /// clap's argument id (the TrainArgs field name).
    id: &'static str,
    get: fn(&TrainConfig) -> String,
}

macro_rules! setting {
    ($flag:literal, $id:literal, |$c:ident| $e:expr) => {
        Setting { flag: $flag, id: $id, get: |$c: &TrainConfig| $e }
    };
}

/// Fixed for the life of a run: changing them would train another model or objective.
const FIXED: &[Setting] = &[
    setting!("--data", "data", |c| c.data.clone()),
    setting!("--image-size", "image_size", |c| c.model.image_size.to_string()),
    setting!("--channels", "channels", |c| c.model.channels.to_string()),
    setting!("--nz", "nz", |c| c.model.nz.to_string()),
    setting!("--ngf", "ngf", |c| c.model.ngf.to_string()),
    setting!("--ndf", "ndf", |c| c.model.ndf.to_string()),
    setting!("--batch", "batch", |c| c.model.batch.to_string()),
    setting!("--cond", "cond", |c| format!("{:?}", c.model.cond).to_lowercase()),
    setting!("--loss", "loss", |c| format!("{:?}", c.loss).to_lowercase()),
    setting!("--g-loss", "g_loss", |c| format!("{:?}", c.g_loss).to_lowercase()),
    setting!("--spectral-norm", "spectral_norm", |c| c.spectral_norm.to_string()),
    setting!("--optimizer", "optimizer", |c| format!("{:?}", c.optimizer).to_lowercase()),
    setting!("--critic-steps", "critic_steps", |c| c.critic_steps.to_string()),
    setting!("--clip", "clip", |c| c.clip.map_or("none".into(), |v| v.to_string())),
    setting!("--seed", "seed", |c| c.seed.to_string()),
    setting!("--hflip", "hflip", |c| c.hflip.to_string()),
];

/// May change when a run continues.
const CHANGEABLE: &[Setting] = &[
    setting!("--steps", "steps", |c| c.steps.to_string()),
    setting!("--epochs", "epochs", |c| c.epochs.map_or("none".into(), |v| v.to_string())),
    setting!("--lr", "lr", |c| c.lr.to_string()),
    setting!("--beta1", "beta1", |c| c.beta1.to_string()),
    setting!("--beta2", "beta2", |c| c.beta2.to_string()),
    setting!("--sample-every", "sample_every", |c| c.sample_every.to_string()),
    setting!("--checkpoint-every", "checkpoint_every", |c| c.checkpoint_every.to_string()),
    setting!("--log-every", "log_every", |c| c.log_every.to_string()),
    setting!("--eval-every", "eval_every", |c| c.eval_every.to_string()),
    setting!("--eval-n", "eval_n", |c| c.eval_n.to_string()),
    setting!("--no-tensorboard", "no_tensorboard", |c| (!c.tensorboard).to_string()),
    setting!("--gpu-data-mb", "gpu_data_mb", |c| c.gpu_data_mb.map_or("none".into(), |v| v.to_string())),
];

/// The settings of the continued run: the checkpoint's, with the changeable ones the user passed
/// (`explicit(id)`: was that flag on the command line). Returns the config and the changes made
/// (e.g. "--lr 0.0002 -> 0.0001").
pub fn merge(saved: &TrainConfig, requested: &TrainConfig, explicit: &dyn Fn(&str) -> bool) -> Result<(TrainConfig, Vec<String>)> {
    for s in FIXED {
        let (was, asked) = ((s.get)(saved), (s.get)(requested));
        if explicit(s.id) && was != asked {
            bail!(
                "{} {asked} conflicts with the checkpoint, which was trained with {} {was}: a resumed run keeps the settings \
                 that define its model and objective. Drop {} to continue the run, or start a new run in another --out",
                s.flag,
                s.flag,
                s.flag
            );
        }
    }
    let mut cfg = saved.clone();
    let mut changes = Vec::new();
    for s in CHANGEABLE {
        let (was, asked) = ((s.get)(saved), (s.get)(requested));
        if explicit(s.id) && was != asked {
            changes.push(format!("{} {was} -> {asked}", s.flag));
            match s.id {
                "steps" => {
                    cfg.steps = requested.steps;
                    cfg.epochs = None;
                }
                "epochs" => cfg.epochs = requested.epochs,
                "lr" => cfg.lr = requested.lr,
                "beta1" => cfg.beta1 = requested.beta1,
                "beta2" => cfg.beta2 = requested.beta2,
                "sample_every" => cfg.sample_every = requested.sample_every,
                "checkpoint_every" => cfg.checkpoint_every = requested.checkpoint_every,
                "log_every" => cfg.log_every = requested.log_every,
                "eval_every" => cfg.eval_every = requested.eval_every,
                "eval_n" => cfg.eval_n = requested.eval_n,
                "no_tensorboard" => cfg.tensorboard = requested.tensorboard,
                "gpu_data_mb" => cfg.gpu_data_mb = requested.gpu_data_mb,
                other => bail!("internal: no rule to apply --resume setting {other}"),
            }
        }
    }
    Ok((cfg, changes))
}
