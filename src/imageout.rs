//! PNG output: sample grids, one-image-per-sample folders, and the labelled timeline of
//! milestone grids.

use anyhow::{ensure, Context, Result};
use std::path::Path;

/// An RGB canvas.
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[u8; 3]>,
}

impl Canvas {
    pub fn new(w: usize, h: usize, bg: [u8; 3]) -> Canvas {
        Canvas { w, h, px: vec![bg; w * h] }
    }
    /// From packed RGB bytes.
    pub fn from_rgb(w: usize, h: usize, rgb: &[u8]) -> Canvas {
        Canvas { w, h, px: rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect() }
    }
    pub fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            self.px[y * self.w + x] = c;
        }
    }
    pub fn blit(&mut self, other: &Canvas, x0: usize, y0: usize) {
        for y in 0..other.h {
            for x in 0..other.w {
                self.set(x0 + x, y0 + y, other.px[y * other.w + x]);
            }
        }
    }
    pub fn save(&self, path: &Path) -> Result<()> {
        let raw: Vec<u8> = self.px.iter().flat_map(|p| p.iter().copied()).collect();
        let img = image::RgbImage::from_raw(self.w as u32, self.h as u32, raw).context("building the PNG")?;
        img.save(path).with_context(|| format!("writing {}", path.display()))
    }
}

fn to_byte(v: f32) -> u8 {
    (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8
}

/// One image from (C, S, S) values in [-1, 1].
pub fn image_canvas(values: &[f32], channels: usize, size: usize) -> Canvas {
    let mut c = Canvas::new(size, size, [0, 0, 0]);
    let plane = size * size;
    for p in 0..plane {
        let px = if channels == 1 {
            let g = to_byte(values[p]);
            [g, g, g]
        } else {
            [to_byte(values[p]), to_byte(values[plane + p]), to_byte(values[2 * plane + p])]
        };
        c.px[p] = px;
    }
    c
}

/// A grid of `count` images from (count, C, S, S) values, `cols` per row, 2-pixel gaps.
pub fn grid_canvas(values: &[f32], count: usize, channels: usize, size: usize, cols: usize) -> Canvas {
    let cols = cols.max(1).min(count.max(1));
    let rows = count.div_ceil(cols);
    let gap = 2;
    let mut g = Canvas::new(cols * (size + gap) + gap, rows * (size + gap) + gap, [40, 40, 40]);
    let v = channels * size * size;
    for i in 0..count {
        let img = image_canvas(&values[i * v..(i + 1) * v], channels, size);
        g.blit(&img, gap + (i % cols) * (size + gap), gap + (i / cols) * (size + gap));
    }
    g
}

pub fn save_grid(path: &Path, values: &[f32], count: usize, channels: usize, size: usize) -> Result<()> {
    ensure!(values.len() >= count * channels * size * size, "grid: not enough values for {count} images");
    let cols = (count as f64).sqrt().ceil() as usize;
    grid_canvas(values, count, channels, size, cols).save(path)
}

/// A grid with `cols` images per row (class-ordered grids: one row per class).
pub fn save_grid_cols(path: &Path, values: &[f32], count: usize, channels: usize, size: usize, cols: usize) -> Result<()> {
    ensure!(values.len() >= count * channels * size * size, "grid: not enough values for {count} images");
    grid_canvas(values, count, channels, size, cols).save(path)
}

/// One PNG per sample into `dir` (sample_0000.png, ...).
pub fn save_each(dir: &Path, values: &[f32], count: usize, channels: usize, size: usize) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let v = channels * size * size;
    for i in 0..count {
        image_canvas(&values[i * v..(i + 1) * v], channels, size).save(&dir.join(format!("sample_{i:04}.png")))?;
    }
    Ok(())
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Where `gangpu sample --out` writes: one grid image, or a folder of one PNG per sample.
pub enum SampleOut {
    Grid,
    Folder,
}

pub fn sample_target(out: &Path) -> Result<SampleOut> {
    if out.is_dir() {
        return Ok(SampleOut::Folder);
    }
    match out.extension().and_then(|x| x.to_str()).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(SampleOut::Folder),
        Some("png" | "jpg" | "jpeg") => Ok(SampleOut::Grid),
        Some(other) => anyhow::bail!(
            "--out {}: .{other} is not an image format gangpu writes; name a .png, .jpg or .jpeg file for one grid, or a folder (no extension) for one PNG per sample",
            out.display()
        ),
    }
}

/// Places canvases side by side (top-aligned) on white.
pub fn hstack(parts: &[&Canvas]) -> Canvas {
    let w = parts.iter().map(|p| p.w).sum::<usize>();
    let h = parts.iter().map(|p| p.h).max().unwrap_or(1);
    let mut c = Canvas::new(w.max(1), h, [255, 255, 255]);
    let mut x = 0;
    for p in parts {
        c.blit(p, x, 0);
        x += p.w;
    }
    c
}

/// Stacks canvases vertically (left-aligned) on white.
pub fn vstack(parts: &[&Canvas]) -> Canvas {
    let w = parts.iter().map(|p| p.w).max().unwrap_or(1);
    let h = parts.iter().map(|p| p.h).sum::<usize>();
    let mut c = Canvas::new(w, h.max(1), [255, 255, 255]);
    let mut y = 0;
    for p in parts {
        c.blit(p, 0, y);
        y += p.h;
    }
    c
}

/// Writes an animated GIF (frames must share a size) at `delay_ms` per frame, looping.
pub fn save_gif(path: &Path, frames: &[Canvas], delay_ms: u32) -> Result<()> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 20);
    enc.set_repeat(Repeat::Infinite).context("GIF repeat")?;
    for f in frames {
        let rgba: Vec<u8> = f.px.iter().flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let img = image::RgbaImage::from_raw(f.w as u32, f.h as u32, rgba).context("GIF frame")?;
        let frame = image::Frame::from_parts(img, 0, 0, image::Delay::from_numer_denom_ms(delay_ms, 1));
        enc.encode_frame(frame).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
