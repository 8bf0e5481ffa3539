//! Training data: the built-in MNIST digits (embedded in the binary), IDX files (raw or gzip),
//! or a folder of images. Everything becomes u8 pixels (count, C, S, S), uploaded to the GPU
//! once; batches are drawn there.

use anyhow::{bail, ensure, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod cache;
mod dataset;
pub use dataset::Dataset;

const MNIST_IMAGES: &[u8] = include_bytes!("../../assets/mnist-10k-images-idx3-ubyte.gz");
const MNIST_LABELS: &[u8] = include_bytes!("../../assets/mnist-10k-labels-idx1-ubyte.gz");

fn gunzip_if_needed(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).with_context(|| format!("{what}: corrupt or truncated gzip data"))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an IDX image file (magic 0x00000803): returns (count, rows, cols, pixels).
pub fn parse_idx_images(raw: &[u8], what: &str) -> Result<(usize, usize, usize, Vec<u8>)> {
    let b = gunzip_if_needed(raw, what)?;
    ensure!(b.len() >= 16, "{what}: too short for an IDX image header ({} bytes)", b.len());
    let magic = be32(&b, 0);
    ensure!(magic == 0x0803, "{what}: not an IDX image file (magic {magic:#010x}, expected 0x00000803 for u8 images)");
    let (n, r, c) = (be32(&b, 4) as usize, be32(&b, 8) as usize, be32(&b, 12) as usize);
    ensure!(n > 0 && r > 0 && c > 0, "{what}: IDX header declares an empty set ({n} x {r} x {c})");
    let need = n.checked_mul(r).and_then(|v| v.checked_mul(c)).and_then(|v| v.checked_add(16));
    let Some(need) = need else { bail!("{what}: IDX header declares {n} images of {r}x{c}, more than can be addressed: the file is corrupt") };
    ensure!(b.len() >= need, "{what}: truncated IDX file: header declares {n} images of {r}x{c} ({need} bytes) but the file has {} bytes", b.len());
    Ok((n, r, c, b[16..need].to_vec()))
}

/// Parses an IDX label file (magic 0x00000801).
pub fn parse_idx_labels(raw: &[u8], what: &str) -> Result<Vec<u8>> {
    let b = gunzip_if_needed(raw, what)?;
    ensure!(b.len() >= 8, "{what}: too short for an IDX label header");
    let magic = be32(&b, 0);
    ensure!(magic == 0x0801, "{what}: not an IDX label file (magic {magic:#010x}, expected 0x00000801)");
    let n = be32(&b, 4) as usize;
    ensure!(b.len() - 8 >= n, "{what}: truncated IDX label file: {n} labels declared, {} bytes present", b.len() - 8);
    Ok(b[8..8 + n].to_vec())
}

/// Resizes one grayscale/RGB image (centre-cropped to a square) to `size`, with `channels`.
fn fit_image(img: image::DynamicImage, size: usize, channels: usize) -> Vec<u8> {
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let img = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let img = if side as usize == size { img } else { img.resize_exact(size as u32, size as u32, image::imageops::FilterType::Triangle) };
    if channels == 1 {
        img.to_luma8().into_raw()
    } else {
        // HWC -> CHW
        let rgb = img.to_rgb8().into_raw();
        let plane = size * size;
        let mut out = vec![0u8; 3 * plane];
        for p in 0..plane {
            for c in 0..3 {
                out[c * plane + p] = rgb[p * 3 + c];
            }
        }
        out
    }
}

fn from_gray(count: usize, rows: usize, cols: usize, pixels: &[u8], size: usize, channels: usize, labels: Option<Vec<u8>>, source: String) -> Result<Dataset> {
    if channels != 1 {
        bail!("{source} holds grayscale images: use --channels 1 (got --channels {channels})");
    }
    let mut out = Vec::with_capacity(count * size * size);
    for i in 0..count {
        let px = &pixels[i * rows * cols..(i + 1) * rows * cols];
        if rows == size && cols == size {
            out.extend_from_slice(px);
        } else {
            let img = image::GrayImage::from_raw(cols as u32, rows as u32, px.to_vec()).context("building an image from IDX pixels")?;
            out.extend(fit_image(image::DynamicImage::ImageLuma8(img), size, 1));
        }
    }
    let class_names = match &labels {
        Some(l) => (0..=l.iter().copied().max().unwrap_or(0)).map(|c| c.to_string()).collect(),
        None => vec![],
    };
    Ok(Dataset { count, channels: 1, size, pixels: out, labels, source, skipped: vec![], class_names })
}

/// The built-in 10,000 MNIST digits, at `size` pixels.
pub fn builtin_mnist(size: usize, channels: usize) -> Result<Dataset> {
    let (n, r, c, px) = parse_idx_images(MNIST_IMAGES, "built-in MNIST images")?;
    let labels = parse_idx_labels(MNIST_LABELS, "built-in MNIST labels")?;
    ensure!(labels.len() == n, "built-in MNIST: {} labels for {n} images", labels.len());
    from_gray(n, r, c, &px, size, channels, Some(labels), "built-in MNIST (10,000 digits)".into())
}

/// The image formats an image folder may hold: a name, and the file extensions that mean it. Each
/// decodes (the `image` crate features in Cargo.toml; tests/data_formats.rs decodes one of each).
pub const IMAGE_FORMATS: &[(&str, &[&str])] = &[
    ("PNG", &["png"]),
    ("JPEG", &["jpg", "jpeg"]),
    ("GIF", &["gif"]),
    ("BMP", &["bmp"]),
    ("WebP", &["webp"]),
    ("TIFF", &["tif", "tiff"]),
    ("PNM", &["pnm", "pbm", "pgm", "ppm"]),
    ("TGA", &["tga"]),
];

fn is_image_file(p: &Path) -> bool {
    let ext = p.extension().and_then(|e| e.to_str()).map(|e| e.to_lowercase()).unwrap_or_default();
    IMAGE_FORMATS.iter().any(|(_, exts)| exts.contains(&ext.as_str()))
}

/// "PNG, JPEG, ..." for messages.
pub fn format_names() -> String {
    IMAGE_FORMATS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Every image file under `dir`, recursively, in sorted order.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Every image under `dir` (recursively), centre-cropped and resized. Files that fail to
/// decode are skipped with a warning naming them; a folder with no usable image is an error.
/// When every image lies under a sub-folder of `dir`, the sub-folder names are the classes.
pub fn image_folder(dir: &Path, size: usize, channels: usize) -> Result<Dataset> {
    image_folder_cached(dir, size, channels, true)
}

/// `image_folder`, using the decode cache only when `use_cache` (sample folders being scored are
/// read once: caching them would only fill the cache).
pub fn image_folder_cached(dir: &Path, size: usize, channels: usize, use_cache: bool) -> Result<Dataset> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let class_of = |f: &Path| -> Option<String> {
        let rel = f.strip_prefix(dir).ok()?;
        let mut comps = rel.components();
        let first = comps.next()?;
        comps.next()?; // the file itself must be below the class folder
        Some(first.as_os_str().to_string_lossy().into_owned())
    };
    if files.is_empty() {
        bail!("{} contains no image files ({}), searched recursively", dir.display(), format_names());
    }
    let cache = cache::cache_dir().filter(|_| use_cache && std::env::var("GANGPU_DATA_CACHE").as_deref() != Ok("0"));
    let key = cache::key(dir, &files, size, channels)?;
    if let Some(cd) = &cache {
        match cache::load(cd, &key, size, channels) {
            Ok(Some(ds)) => {
                for f in &ds.skipped {
                    eprintln!("warning: skipping {f}: cannot decode (found when the folder was cached)");
                }
                eprintln!("data: {} images of {} from the decode cache ({})", ds.count, dir.display(), cd.join(format!("{key}.bin")).display());
                return Ok(ds);
            }
            Ok(None) => {}
            Err(e) => eprintln!("warning: the cached decode of {} is unreadable ({e:#}); decoding the folder again", dir.display()),
        }
    }
    let mut class_names: Vec<String> = files.iter().filter_map(|f| class_of(f)).collect();
    class_names.sort();
    class_names.dedup();
    let labelled = files.iter().all(|f| class_of(f).is_some());
    // decode on every core; the order of the files (and so of the images) stays as walked
    let t0 = std::time::Instant::now();
    let bar = (files.len() >= 500 && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("decoding {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {per_sec}") {
            b.set_style(style);
        }
        b
    });
    let decoded: Vec<std::result::Result<Vec<u8>, String>> = {
        use rayon::prelude::*;
        files
            .par_iter()
            .map(|f| {
                let r = image::open(f).map(|img| fit_image(img, size, channels)).map_err(|e| e.to_string());
                if let Some(b) = &bar {
                    b.inc(1);
                }
                r
            })
            .collect()
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut pixels = Vec::with_capacity(files.len() * channels * size * size);
    let mut skipped = Vec::new();
    let mut labels = Vec::new();
    let mut count = 0;
    for (f, d) in files.iter().zip(decoded) {
        match d {
            Ok(px) => {
                pixels.extend_from_slice(&px);
                if labelled {
                    let c = class_of(f).unwrap_or_default();
                    labels.push(class_names.iter().position(|n| *n == c).unwrap_or(0) as u8);
                }
                count += 1;
            }
            Err(e) => {
                eprintln!("warning: skipping {}: cannot decode ({e})", f.display());
                skipped.push(f.display().to_string());
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "data: decoded {} images of {} in {secs:.1} s ({:.0} images/s on {} threads)",
        files.len(),
        dir.display(),
        files.len() as f64 / secs.max(1e-9),
        rayon::current_num_threads()
    );
    if count == 0 {
        bail!("none of the {} image files under {} could be decoded (first: {})", files.len(), dir.display(), skipped[0]);
    }
    if labelled && class_names.len() > 256 {
        bail!("{} has {} class folders; at most 256 are supported", dir.display(), class_names.len());
    }
    let (labels, class_names) = if labelled && class_names.len() >= 2 { (Some(labels), class_names) } else { (None, vec![]) };
    let ds = Dataset { count, channels, size, pixels, labels, source: format!("image folder {}", dir.display()), skipped, class_names };
    if let Some(cd) = &cache {
        if let Err(e) = cache::store(cd, &key, &ds) {
            eprintln!("warning: could not cache the decoded images in {}: {e:#}", cd.display());
        }
    }
    Ok(ds)
}

/// Resolves `--data`: "mnist" (built in), an IDX image file, or a folder of images.
pub fn load(spec: &str, size: usize, channels: usize) -> Result<Dataset> {
    if spec == "mnist" {
        return builtin_mnist(size, channels);
    }
    let path = Path::new(spec);
    if !path.exists() {
        bail!("--data {spec}: no such file or folder (use `mnist` for the built-in digits, an IDX file, or a folder of images)");
    }
    if path.is_dir() {
        return image_folder(path, size, channels);
    }
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = path.display().to_string();
    let (n, r, c, px) = parse_idx_images(&raw, &what)?;
    // labels beside it, if named like MNIST's (…-images-idx3-ubyte -> …-labels-idx1-ubyte)
    let labels = labels_beside(path)
        .and_then(|lp| std::fs::read(&lp).ok().map(|b| (lp, b)))
        .and_then(|(lp, b)| parse_idx_labels(&b, &lp.display().to_string()).ok().filter(|l| l.len() == n));
    from_gray(n, r, c, &px, size, channels, labels, format!("IDX file {what}"))
}

fn labels_beside(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    if !name.contains("images-idx3") {
        return None;
    }
    Some(images.with_file_name(name.replace("images-idx3", "labels-idx1")))
}
