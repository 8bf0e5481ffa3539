//! `gangpu sample`: images from a gangpu checkpoint or a PyTorch generator, as one grid (PNG or
//! JPEG) or one PNG per sample.

use crate::checkpoint::RawCheckpoint;
use crate::cli_values::{count_usize, label_u32, seed_u32};
use crate::models::{Cond, ModelConfig};
use crate::torch_import::{Role, TorchWeights};
use crate::train::{self, Generator};
use crate::{imageout, Engine, GpuOptions};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// `gangpu sample`'s flags.
#[derive(clap::Args, Clone, Debug)]
pub struct SampleArgs {
    /// Checkpoint file (checkpoint.safetensors in a run folder)
    #[arg(long, required_unless_present = "net_g", conflicts_with = "net_g")]
    pub checkpoint: Option<PathBuf>,
    /// Or a PyTorch generator: safetensors with the DCGAN example's names (main.0.weight ...)
    #[arg(long = "netG", value_name = "FILE")]
    pub net_g: Option<PathBuf>,
    /// Number of images
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = count_usize)]
    pub n: usize,
    /// Noise seed
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = seed_u32)]
    pub seed: u32,
    /// An image file (.png, .jpg or .jpeg: one grid in that format) or a folder (one PNG per sample)
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Batch size G runs at (batch norm uses batch statistics, as in training) [default: the checkpoint's; 64 with --netG]
    #[arg(long, allow_negative_numbers = true, value_parser = count_usize)]
    pub batch: Option<usize>,
    /// Class to generate (conditional checkpoints); without it a conditional grid has one row per class
    #[arg(long, allow_negative_numbers = true, value_parser = label_u32)]
    pub label: Option<u32>,
}

/// Runs `gangpu sample`.
pub fn run(a: SampleArgs, gpu: &GpuOptions) -> Result<()> {
    let target = imageout::sample_target(&a.out)?;
    let (n, seed, out, label) = (a.n, a.seed, a.out.as_path(), a.label);
    // the model: the checkpoint's, or read from the PyTorch generator's shapes
    let (mut mc, seed_of_run, raw, torch) = match (&a.checkpoint, &a.net_g) {
        (Some(ck), _) => {
            let raw = RawCheckpoint::read(ck)?;
            let cfg = train::checkpoint_config(&raw)?;
            (cfg.model, cfg.seed, Some(raw), None)
        }
        (None, Some(p)) => {
            let w = TorchWeights::read(p, Role::Generator)?;
            let mut model = ModelConfig::default();
            crate::torch_import::adopt_shapes(&mut model, &w, &|_| false)?;
            (model, 0, None, Some(w))
        }
        (None, None) => bail!("give --checkpoint FILE (a gangpu run) or --netG FILE (PyTorch generator weights)"),
    };
    if let Some(b) = a.batch {
        mc.batch = b;
    }
    if let Some(l) = label {
        if mc.cond == Cond::None {
            let what = a.checkpoint.as_ref().map_or("--netG".to_string(), |c| c.display().to_string());
            bail!("{what} is an unconditional checkpoint: --label needs one trained with --cond cgan or --cond acgan");
        }
        if l as usize >= mc.classes {
            bail!("--label {l} is out of range: this checkpoint has {} classes (0..{})", mc.classes, mc.classes - 1);
        }
    }
    let e = Engine::open(gpu)?;
    // G alone: sampling needs no D
    let gen = match &raw {
        Some(raw) => Generator::from_checkpoint(&e, raw, Some(mc.batch))?.0,
        None => Generator::new(&e, &mc, seed_of_run)?,
    };
    if let Some(w) = &torch {
        w.load_into(&e, &gen.g)?;
    }
    // Batch norm in G normalises with batch statistics, as in training, where a batch mixes all
    // classes: a batch of one class only would have the label's shift normalised away. So a
    // chosen label fills the first half of each batch and the rest mixes the classes, as in training.
    let keep = match label {
        Some(l) => {
            let half = (mc.batch / 2).max(1);
            let labels: Vec<u32> = (0..mc.batch).map(|i| if i < half { l } else { (i % mc.classes) as u32 }).collect();
            gen.set_sample_labels(&e, &labels)?;
            half
        }
        None => mc.batch,
    };
    let values = super::generate::samples(&e, &gen, n, super::generate::Noise::Seed(seed), keep)?;
    if let imageout::SampleOut::Grid = target {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match (gen.class_grid(), label) {
            // class-ordered: each batch holds per_row samples of each class; one row per class
            (Some((rows, per_row)), None) => {
                let per = mc.channels * mc.image_size * mc.image_size;
                let take = n.min(rows * per_row);
                imageout::save_grid_cols(out, &values[..take * per], take, mc.channels, mc.image_size, per_row)?;
            }
            _ => imageout::save_grid(out, &values, n, mc.channels, mc.image_size)?,
        }
        eprintln!("wrote a grid of {n} samples to {}", out.display());
    } else {
        imageout::save_each(out, &values, n, mc.channels, mc.image_size)?;
        eprintln!("wrote {n} samples to {}/", out.display());
    }
    Ok(())
}
