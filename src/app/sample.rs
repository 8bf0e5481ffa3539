//! `gangpu sample`: images from a gangpu checkpoint or a PyTorch generator, as one grid (PNG or
//! JPEG) or one PNG per sample.

use crate::checkpoint::RawCheckpoint;
use crate::cli_values::{count_usize, label_u32, positive_f64, seed_u32};
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
    /// Sample the trained G, not the moving average of its weights the checkpoint keeps (--ema-kimg)
    #[arg(long, requires = "checkpoint")]
    pub no_ema: bool,
    /// Class to generate (conditional checkpoints); without it a conditional grid has one row per class
    #[arg(long, allow_negative_numbers = true, value_parser = label_u32)]
    pub label: Option<u32>,
    /// Draw z from a normal truncated at +-T (values beyond are drawn again): BigGAN's truncation
    /// trick, typical samples for less variety (smaller T: more typical)
    #[arg(long, allow_negative_numbers = true, value_parser = positive_f64)]
    pub truncation: Option<f64>,
    /// A latent walk as an animated GIF (--out walk.gif): each of up to 16 tiles moves through K
    /// random latents by spherical interpolation and back to the first; a conditional checkpoint
    /// keeps z fixed and morphs through K classes
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = count_usize, conflicts_with = "label")]
    pub interpolate: Option<usize>,
    /// Frames from one latent (or class) of --interpolate to the next
    #[arg(long, default_value_t = 12, allow_negative_numbers = true, value_parser = count_usize, requires = "interpolate")]
    pub frames: usize,
}

/// Runs `gangpu sample`.
pub fn run(a: SampleArgs, gpu: &GpuOptions) -> Result<()> {
    if let Some(k) = a.interpolate {
        if k < 2 {
            bail!("--interpolate {k}: a walk needs at least 2 latents (or classes) to move between");
        }
        if a.out.extension().and_then(|x| x.to_str()).map(|x| x.to_ascii_lowercase()).as_deref() != Some("gif") {
            bail!("--interpolate writes an animated GIF: give --out a .gif file (e.g. --out walk.gif), not {}", a.out.display());
        }
    }
    let target = if a.interpolate.is_some() { imageout::SampleOut::Grid } else { imageout::sample_target(&a.out)? };
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
    let mut gen = match &raw {
        Some(raw) => {
            let (gen, _, weights) = Generator::from_checkpoint(&e, raw, Some(mc.batch), !a.no_ema)?;
            if weights == crate::checkpoint::EMA_PREFIX {
                eprintln!("generator: the moving average of G's weights (netG_ema; --no-ema samples the trained G)");
            } else if a.no_ema && raw.has(crate::checkpoint::EMA_PREFIX)? {
                eprintln!("generator: the trained G (netG), as --no-ema asks");
            }
            gen
        }
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
    if let Some(k) = a.interpolate {
        return walk_gif(&e, &gen, k, a.frames, seed, a.truncation, out);
    }
    let noise = match a.truncation {
        Some(t) => super::generate::Noise::Truncated(seed, t),
        None => super::generate::Noise::Seed(seed),
    };
    let values = super::generate::samples(&e, &gen, n, noise, keep)?;
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

/// `--interpolate K`: the walk's frames as one animated GIF of up to 16 tiles.
fn walk_gif(e: &Engine, gen: &Generator, k: usize, frames_per: usize, seed: u32, truncation: Option<f64>, out: &std::path::Path) -> Result<()> {
    use super::latent;
    let mc = &gen.model;
    let (b, nz) = (mc.batch, mc.nz);
    let classes = if mc.cond == Cond::None { 0 } else { mc.classes };
    let tiles = b.min(16);
    // latents: K batches of noise (truncated when asked); lane l of batch j is stop j of walk l
    let t = truncation.unwrap_or(f64::INFINITY);
    let draws: Vec<Vec<f32>> = (0..k.max(1) as u32).map(|j| latent::truncated_noise(seed, j, b, nz, t)).collect();
    let z = |j: usize, lane: usize| draws[j][lane * nz..(lane + 1) * nz].to_vec();
    let label = |lane: usize| latent::one_hot(gen.labels()[lane] as usize, classes);
    let (stops, what): (Vec<Vec<Vec<f32>>>, String) = if classes > 0 {
        // a fixed z per tile morphing through classes 0, 1, ..., K-1 and back
        if k > classes {
            bail!("--interpolate {k}: this checkpoint has {classes} classes to morph through");
        }
        let stops = (0..tiles).map(|l| (0..k).map(|c| [z(0, l), latent::one_hot(c, classes)].concat()).collect()).collect();
        (stops, format!("{tiles} latents morphing through classes 0..{}", k - 1))
    } else {
        let stops = (0..tiles).map(|l| (0..k).map(|j| z(j, l)).collect()).collect();
        (stops, format!("{tiles} walks through {k} latents"))
    };
    // the rest of each batch: fixed inputs of the first draw, so batch norm sees a training-like batch
    let fill: Vec<Vec<f32>> = (tiles..b).map(|l| [z(0, l), if classes > 0 { label(l) } else { vec![] }].concat()).collect();
    let inputs = latent::walk(&stops, &fill, frames_per, nz);
    let mut frames = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let v = gen.sample_input(e, input)?;
        let cols = (tiles as f64).sqrt().ceil() as usize;
        frames.push(imageout::grid_canvas(&v, tiles, mc.channels, mc.image_size, cols));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    imageout::save_gif(out, &frames, 80)?;
    eprintln!("wrote {} ({} frames: {what}{})", out.display(), frames.len(), truncation.map_or(String::new(), |t| format!(", z truncated at {t}")));
    Ok(())
}
