//! `gangpu eval`: scores a folder of images or a checkpoint's samples against a reference set and
//! prints one JSON line; `--train-classifier` remakes the classifier by the committed recipe.

use crate::cli_values::{count_usize, seed_u32};
use crate::engine::Engine;
use crate::eval::classifier::{self, Classifier, BUILTIN};
use crate::eval::classifier_train::{self, Recipe};
use crate::eval::score::{fid_unavailable, Reference, Scores};
use crate::gpu::GpuOptions;
use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    /// A folder of generated images (searched recursively; PNG, JPEG, ...)
    #[arg(long, conflicts_with_all = ["checkpoint", "train_classifier"])]
    pub samples: Option<PathBuf>,
    /// A gangpu checkpoint: its generator makes --n samples to score
    #[arg(long, conflicts_with = "train_classifier")]
    pub checkpoint: Option<PathBuf>,
    /// Samples generated from --checkpoint (and reference images drawn for SWD)
    #[arg(long, default_value_t = 1000, conflicts_with = "samples", allow_negative_numbers = true, value_parser = count_usize)]
    pub n: usize,
    /// Noise seed of the samples generated from --checkpoint [default: the run's evaluation
    /// noise, the samples `train --eval-every` scores, so the scores match the run's]
    #[arg(long, conflicts_with = "samples", allow_negative_numbers = true, value_parser = seed_u32)]
    pub seed: Option<u32>,
    /// Score the trained G, not the moving average of its weights the checkpoint keeps (--ema-kimg)
    #[arg(long, requires = "checkpoint")]
    pub no_ema: bool,
    /// Reference set: `mnist` (the built-in digits), an IDX image file, or a folder of images
    /// [default: mnist; with --checkpoint, the data set it was trained on]
    #[arg(long)]
    pub data: Option<String>,
    /// Classifier weights for FID, coverage and confidence [default: the built-in classifier]
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
    /// Train the MNIST classifier again by the committed recipe (about 2 minutes on a software
    /// adapter) and write it to --classifier-out
    #[arg(long, conflicts_with_all = ["data", "classifier", "n", "seed"])]
    pub train_classifier: bool,
    /// Where --train-classifier writes the weights
    #[arg(long, value_name = "FILE", default_value = "mnist_classifier.safetensors", requires = "train_classifier")]
    pub classifier_out: PathBuf,
}

/// The JSON line `gangpu eval` prints.
#[derive(Serialize)]
pub struct Report {
    /// What was scored.
    pub samples: String,
    /// Their shape: "28x28x1".
    pub image: String,
    /// What they were compared with.
    pub reference: String,
    /// Reference images the SWD drew (the FID uses the whole reference set).
    pub swd_reference_n: usize,
    pub classifier: String,
    #[serde(flatten)]
    pub scores: Scores,
    /// Anything done to the samples or left out, in words.
    pub notes: Vec<String>,
}

/// Runs `gangpu eval`.
pub fn run(a: &EvalArgs, gpu: &GpuOptions) -> Result<()> {
    if a.train_classifier {
        return train_classifier(a, gpu);
    }
    if a.samples.is_none() && a.checkpoint.is_none() {
        bail!("give --samples DIR (a folder of images) or --checkpoint FILE (a gangpu run) to score, or --train-classifier");
    }
    let e = Engine::open(gpu)?;
    let mut notes = Vec::new();
    let (values, n, channels, side, what, trained_on) = match (&a.samples, &a.checkpoint) {
        (Some(dir), _) => {
            let (v, n, c, s, w) = load_samples(dir, &mut notes)?;
            (v, n, c, s, w, None)
        }
        (None, Some(ck)) => checkpoint_samples(&e, ck, a.n, a.seed, !a.no_ema)?,
        (None, None) => bail!("give --samples DIR or --checkpoint FILE"),
    };
    let data = a.data.clone().or(trained_on).unwrap_or_else(|| "mnist".into());
    if data == "mnist" && channels != 1 {
        bail!(
            "the samples are in colour ({channels} channels) but the reference set, the built-in digits, is grayscale: pass --data with the images they imitate (an image folder or IDX file)"
        );
    }
    let report = score(&e, a, &data, &values, n, channels, side, what, notes)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn score(e: &Engine, a: &EvalArgs, data: &str, values: &[f32], n: usize, channels: usize, side: usize, what: String, mut notes: Vec<String>) -> Result<Report> {
    let reference = crate::data::load(data, side, channels).with_context(|| format!("loading the reference set --data {data}"))?;
    let (clf, clf_name) = match fid_unavailable(channels, side) {
        Some(why) => {
            notes.push(format!("no FID: {why}"));
            (None, "none".to_string())
        }
        None => {
            let c = Classifier::new(e, 250)?;
            let name = match &a.classifier {
                Some(p) => {
                    let bytes = std::fs::read(p).with_context(|| format!("reading --classifier {}", p.display()))?;
                    c.load(e, &bytes, &p.display().to_string())?;
                    p.display().to_string()
                }
                None => {
                    c.load_builtin(e)?;
                    "built-in (assets/mnist_classifier.safetensors)".to_string()
                }
            };
            (Some(c), name)
        }
    };
    let r = Reference::new(e, &reference, clf.as_ref(), n)?;
    if r.swd_n < n {
        notes.push(format!("the reference set has {} images, fewer than the {n} samples: SWD compares the first {} descriptors of each", r.swd_n, r.swd_n));
    }
    let stats = match &clf {
        Some(c) => Some(classifier::stats_of_images(e, c, values)?),
        None => None,
    };
    let scores = r.score(stats.as_ref(), values, n);
    Ok(Report {
        samples: what,
        image: format!("{side}x{side}x{channels}"),
        reference: r.description.clone(),
        swd_reference_n: r.swd_n,
        classifier: clf_name,
        scores,
        notes,
    })
}

/// A folder of images at the size of its first image; other sizes resized (said in `notes`);
/// grayscale when every image is (R = G = B).
fn load_samples(dir: &Path, notes: &mut Vec<String>) -> Result<(Vec<f32>, usize, usize, usize, String)> {
    ensure!(dir.is_dir(), "--samples {}: not a folder (give a folder of images, e.g. one written by `gangpu sample --out DIR`)", dir.display());
    let files = crate::data::image_files(dir)?;
    let Some(first) = files.first() else {
        bail!("--samples {}: the folder holds no images ({}); nothing to score", dir.display(), crate::data::format_names());
    };
    let (w, h) = image::image_dimensions(first).with_context(|| format!("reading the size of {}", first.display()))?;
    let side = w.min(h) as usize;
    ensure!(side >= 8, "--samples: {} is {w}x{h}; images must be at least 8 pixels on a side", first.display());
    let other: Vec<String> = files
        .iter()
        .filter_map(|f| image::image_dimensions(f).ok().filter(|d| *d != (side as u32, side as u32)).map(|(fw, fh)| format!("{} ({fw}x{fh})", f.display())))
        .collect();
    if !other.is_empty() {
        notes.push(format!(
            "{} of {} images are not {side}x{side} (the first image's size), e.g. {}: centre-cropped and resized to {side}x{side}",
            other.len(),
            files.len(),
            other[0]
        ));
        eprintln!("note: {}", notes[notes.len() - 1]);
    }
    let rgb = crate::data::image_folder_cached(dir, side, 3, false)?;
    let gray = rgb.pixels.chunks(3 * side * side).all(|im| {
        let plane = side * side;
        (0..plane).all(|p| im[p] == im[plane + p] && im[p] == im[2 * plane + p])
    });
    let (channels, pixels) =
        if gray { (1, rgb.pixels.chunks(3 * side * side).flat_map(|im| im[..side * side].to_vec()).collect::<Vec<u8>>()) } else { (3, rgb.pixels.clone()) };
    if !rgb.skipped.is_empty() {
        notes.push(format!("{} files could not be decoded and were left out (first: {})", rgb.skipped.len(), rgb.skipped[0]));
    }
    let values = pixels.iter().map(|p| *p as f32 / 127.5 - 1.0).collect();
    Ok((values, rgb.count, channels, side, format!("{} ({} images)", dir.display(), rgb.count)))
}

/// `n` samples of a checkpoint's generator (class-ordered labels for a conditional one), and the
/// data set it was trained on.
#[allow(clippy::type_complexity)]
fn checkpoint_samples(e: &Engine, ck: &Path, n: usize, seed: Option<u32>, ema: bool) -> Result<(Vec<f32>, usize, usize, usize, String, Option<String>)> {
    let raw = crate::checkpoint::RawCheckpoint::read(ck)?;
    let (gen, cfg, weights) = crate::train::Generator::from_checkpoint(e, &raw, None, ema)?;
    let mc = cfg.model.clone();
    let trained_on = cfg.data.clone();
    let noise = seed.map_or(super::generate::Noise::Evaluation, super::generate::Noise::Seed);
    let values = super::generate::samples(e, &gen, n, noise, mc.batch)?;
    let from = seed.map_or("the run's evaluation noise".to_string(), |s| format!("seed {s}"));
    let what = format!("{} samples of {} (step {}, {from}, {weights})", n, ck.display(), raw.step()?);
    Ok((values, n, mc.channels, mc.image_size, what, Some(trained_on)))
}

fn train_classifier(a: &EvalArgs, gpu: &GpuOptions) -> Result<()> {
    let e = Engine::open(gpu)?;
    let r = Recipe::default();
    eprintln!("training the MNIST classifier on {}: {}", e.gpu.adapter, r.describe());
    let t0 = std::time::Instant::now();
    let t = classifier_train::train(&e, &r, &mut |line| eprintln!("  {line}"))?;
    let meta = [
        ("recipe", r.describe()),
        ("steps", t.steps.to_string()),
        ("held_out_accuracy", format!("{:.4}", t.test_accuracy)),
        ("adapter", e.gpu.adapter.to_string()),
    ];
    let bytes = t.clf.to_bytes(&e, &meta)?;
    std::fs::write(&a.classifier_out, &bytes).with_context(|| format!("writing {}", a.classifier_out.display()))?;
    let same = same_weights(&bytes, BUILTIN);
    eprintln!(
        "held-out accuracy {:.2}% on 1,000 digits ({:.0} s); wrote {}; weights {} the built-in classifier's",
        100.0 * t.test_accuracy,
        t0.elapsed().as_secs_f64(),
        a.classifier_out.display(),
        if same { "identical to" } else { "differ from" }
    );
    Ok(())
}

/// Whether two classifier files hold the same tensors bit for bit (metadata may differ).
pub fn same_weights(a: &[u8], b: &[u8]) -> bool {
    let (Ok(x), Ok(y)) = (safetensors::SafeTensors::deserialize(a), safetensors::SafeTensors::deserialize(b)) else { return false };
    let mut names = x.names();
    names.sort();
    let mut other = y.names();
    other.sort();
    names == other && names.iter().all(|n| matches!((x.tensor(n), y.tensor(n)), (Ok(p), Ok(q)) if p.data() == q.data() && p.shape() == q.shape()))
}
