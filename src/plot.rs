//! Small raster plots for the lab: histograms with a curve, heat maps with scatter points, line
//! charts, a 3x5 bitmap font, and animated GIFs. No plotting dependency: a few hundred lines of
//! pixels are easier to keep correct than a toolkit.

use crate::imageout::Canvas;
use anyhow::{Context, Result};
use std::path::Path;

pub const BLUE: [u8; 3] = [52, 101, 164];
pub const ORANGE: [u8; 3] = [230, 126, 34];
pub const GREEN: [u8; 3] = [39, 174, 96];
pub const PURPLE: [u8; 3] = [142, 68, 173];
pub const RED: [u8; 3] = [192, 57, 43];
pub const GREY: [u8; 3] = [150, 150, 150];
pub const BLACK: [u8; 3] = [0, 0, 0];
pub const WHITE: [u8; 3] = [255, 255, 255];

/// 3x5 glyphs (upper case for letters), one row per entry, bit 2 = left column.
pub fn glyph(ch: char) -> [u8; 5] {
    match ch.to_ascii_uppercase() {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ',' => [0b000, 0b000, 0b000, 0b010, 0b100],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '(' => [0b010, 0b100, 0b100, 0b100, 0b010],
        ')' => [0b010, 0b001, 0b001, 0b001, 0b010],
        '[' => [0b110, 0b100, 0b100, 0b100, 0b110],
        ']' => [0b011, 0b001, 0b001, 0b001, 0b011],
        '=' => [0b000, 0b111, 0b000, 0b111, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        '<' => [0b001, 0b010, 0b100, 0b010, 0b001],
        '>' => [0b100, 0b010, 0b001, 0b010, 0b100],
        '|' => [0b010, 0b010, 0b010, 0b010, 0b010],
        '*' => [0b000, 0b101, 0b010, 0b101, 0b000],
        _ => [0; 5],
    }
}

/// Width in pixels of `text` at scale `s`.
pub fn text_width(text: &str, s: usize) -> usize {
    text.chars().count() * 4 * s
}

pub fn text(c: &mut Canvas, t: &str, x: usize, y: usize, s: usize, color: [u8; 3]) {
    for (i, ch) in t.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    fill_rect(c, x + (i * 4 + col) * s, y + row * s, s, s, color);
                }
            }
        }
    }
}

pub fn fill_rect(c: &mut Canvas, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
    for yy in y..(y + h).min(c.h) {
        for xx in x..(x + w).min(c.w) {
            c.px[yy * c.w + xx] = color;
        }
    }
}

pub fn blend(c: &mut Canvas, x: usize, y: usize, color: [u8; 3], alpha: f32) {
    if x < c.w && y < c.h {
        let p = &mut c.px[y * c.w + x];
        for k in 0..3 {
            p[k] = (p[k] as f32 * (1.0 - alpha) + color[k] as f32 * alpha).round() as u8;
        }
    }
}

pub fn line(c: &mut Canvas, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3]) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    loop {
        if x >= 0 && y >= 0 {
            c.set(x as usize, y as usize, color);
        }
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Maps data coordinates to a pixel rectangle.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Frame {
    pub fn px(&self, x: f64) -> i64 {
        self.x as i64 + ((x - self.x0) / (self.x1 - self.x0) * (self.w as f64 - 1.0)).round() as i64
    }
    pub fn py(&self, y: f64) -> i64 {
        (self.y + self.h) as i64 - 1 - ((y - self.y0) / (self.y1 - self.y0) * (self.h as f64 - 1.0)).round() as i64
    }
    pub fn border(&self, c: &mut Canvas) {
        let (x0, y0, x1, y1) = (self.x as i64 - 1, self.y as i64 - 1, (self.x + self.w) as i64, (self.y + self.h) as i64);
        line(c, x0, y0, x1, y0, BLACK);
        line(c, x0, y1, x1, y1, BLACK);
        line(c, x0, y0, x0, y1, BLACK);
        line(c, x1, y0, x1, y1, BLACK);
    }
    /// Min/max labels under the x axis and left of the y axis.
    pub fn axis_labels(&self, c: &mut Canvas, y_labels: bool) {
        let l0 = fmt_num(self.x0);
        let l1 = fmt_num(self.x1);
        text(c, &l0, self.x, self.y + self.h + 4, 1, BLACK);
        text(c, &l1, (self.x + self.w).saturating_sub(text_width(&l1, 1)), self.y + self.h + 4, 1, BLACK);
        if y_labels {
            let t = fmt_num(self.y1);
            let b = fmt_num(self.y0);
            text(c, &t, self.x.saturating_sub(text_width(&t, 1) + 3), self.y, 1, BLACK);
            text(c, &b, self.x.saturating_sub(text_width(&b, 1) + 3), self.y + self.h - 5, 1, BLACK);
        }
    }
}

pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Normalised histogram (densities) of `v` over [lo, hi) in `bins` bins.
pub fn histogram(v: &[f32], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    let width = (hi - lo) / bins as f64;
    for &x in v {
        let b = ((x as f64 - lo) / width).floor();
        if b >= 0.0 && (b as usize) < bins {
            h[b as usize] += 1.0;
        }
    }
    let n = v.len().max(1) as f64;
    h.iter().map(|c| c / (n * width)).collect()
}

/// 1-D picture: histograms of P_data and P_G on the same axes, D's output (or the critic,
/// rescaled) as a curve over x.
#[allow(clippy::too_many_arguments)]
pub fn histogram_plot(title: &str, real: &[f32], fake: &[f32], curve_x: &[f32], curve: &[f32], curve_is_prob: bool, lo: f64, hi: f64) -> Canvas {
    let (w, h) = (420, 260);
    let mut c = Canvas::new(w, h, WHITE);
    let bins = 60;
    let hr = histogram(real, lo, hi, bins);
    let hf = histogram(fake, lo, hi, bins);
    let ymax = hr.iter().chain(&hf).cloned().fold(0.0, f64::max).max(1e-6) * 1.1;
    let f = Frame { x: 40, y: 22, w: w - 60, h: h - 50, x0: lo, x1: hi, y0: 0.0, y1: ymax };
    text(&mut c, title, 40, 6, 2, BLACK);
    let bw = f.w as f64 / bins as f64;
    for (hist, color) in [(&hr, BLUE), (&hf, ORANGE)] {
        for (b, v) in hist.iter().enumerate() {
            let x0 = f.x as f64 + b as f64 * bw;
            let top = f.py(*v);
            for xx in x0.round() as usize..(x0 + bw).round() as usize {
                for yy in top.max(f.y as i64) as usize..f.y + f.h {
                    blend(&mut c, xx, yy, color, 0.55);
                }
            }
        }
    }
    // the curve: probability on [0, 1], or the critic rescaled to the plot's height
    if !curve.is_empty() {
        let (cmin, cmax) = if curve_is_prob {
            (0.0, 1.0)
        } else {
            let mn = curve.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
            let mx = curve.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            (mn, if mx > mn { mx } else { mn + 1.0 })
        };
        let cf = Frame { y0: cmin, y1: cmax, ..f };
        for k in 1..curve.len() {
            let (xa, xb) = (curve_x[k - 1] as f64, curve_x[k] as f64);
            line(&mut c, cf.px(xa), cf.py(curve[k - 1] as f64), cf.px(xb), cf.py(curve[k] as f64), GREEN);
            line(&mut c, cf.px(xa), cf.py(curve[k - 1] as f64) + 1, cf.px(xb), cf.py(curve[k] as f64) + 1, GREEN);
        }
    }
    f.border(&mut c);
    f.axis_labels(&mut c, false);
    let legend = if curve_is_prob { "D(X)" } else { "CRITIC" };
    let ly = f.y + 4;
    fill_rect(&mut c, f.x + 6, ly, 8, 5, BLUE);
    text(&mut c, "P_DATA", f.x + 17, ly, 1, BLACK);
    fill_rect(&mut c, f.x + 50, ly, 8, 5, ORANGE);
    text(&mut c, "P_G", f.x + 61, ly, 1, BLACK);
    fill_rect(&mut c, f.x + 80, ly + 2, 8, 2, GREEN);
    text(&mut c, legend, f.x + 91, ly, 1, BLACK);
    c
}

/// 2-D picture: D's output on a grid as a heat map (blue = fake, white = 0.5, green = real), real
/// samples and generated samples as points.
#[allow(clippy::too_many_arguments)]
pub fn scatter_heatmap(title: &str, real: &[f32], fake: &[f32], grid: &[f32], gn: usize, curve_is_prob: bool, lo: f64, hi: f64) -> Canvas {
    let side = 300;
    let mut c = Canvas::new(side + 20, side + 50, WHITE);
    text(&mut c, title, 10, 6, 2, BLACK);
    let f = Frame { x: 10, y: 26, w: side, h: side, x0: lo, x1: hi, y0: lo, y1: hi };
    let (gmin, gmax) = if curve_is_prob {
        (0.0f32, 1.0f32)
    } else {
        let mn = grid.iter().cloned().fold(f32::INFINITY, f32::min);
        let mx = grid.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        (mn, if mx > mn { mx } else { mn + 1.0 })
    };
    for py in 0..side {
        for px in 0..side {
            let gx = (px * gn / side).min(gn - 1);
            let gy = ((side - 1 - py) * gn / side).min(gn - 1);
            let v = ((grid[gy * gn + gx] - gmin) / (gmax - gmin)).clamp(0.0, 1.0);
            // 0 -> light purple (fake side), 1 -> light green (real side)
            let a = [226.0, 214.0, 238.0];
            let b = [208.0, 240.0, 214.0];
            let col = [0, 1, 2].map(|k| (a[k] * (1.0 - v) + b[k] * v) as u8);
            c.set(f.x + px, f.y + py, col);
        }
    }
    for (pts, color) in [(real, GREEN), (fake, PURPLE)] {
        for p in pts.chunks_exact(2) {
            let (x, y) = (f.px(p[0] as f64), f.py(p[1] as f64));
            if x > f.x as i64 && y > f.y as i64 && x < (f.x + f.w) as i64 && y < (f.y + f.h) as i64 {
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    c.set((x + dx) as usize, (y + dy) as usize, color);
                }
            }
        }
    }
    f.border(&mut c);
    f.axis_labels(&mut c, false);
    c
}

/// A line chart of several series over steps, one colour each, with a legend.
pub fn line_chart(title: &str, series: &[(&str, [u8; 3], Vec<(f64, f64)>)], w: usize, h: usize) -> Canvas {
    let mut c = Canvas::new(w, h, WHITE);
    text(&mut c, title, 44, 6, 2, BLACK);
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.2.iter().cloned()).filter(|p| p.1.is_finite()).collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if pts.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    y0 = y0.min(0.0);
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let f = Frame { x: 44, y: 24, w: w - 56, h: h - 58, x0, x1, y0, y1: y1 * 1.05 };
    for (_, color, s) in series {
        for k in 1..s.len() {
            if s[k - 1].1.is_finite() && s[k].1.is_finite() {
                line(&mut c, f.px(s[k - 1].0), f.py(s[k - 1].1), f.px(s[k].0), f.py(s[k].1), *color);
                line(&mut c, f.px(s[k - 1].0), f.py(s[k - 1].1) + 1, f.px(s[k].0), f.py(s[k].1) + 1, *color);
            }
        }
    }
    f.border(&mut c);
    f.axis_labels(&mut c, true);
    let mut lx = f.x;
    for (name, color, _) in series {
        fill_rect(&mut c, lx, h - 14, 8, 5, *color);
        text(&mut c, name, lx + 11, h - 14, 1, BLACK);
        lx += text_width(name, 1) + 24;
    }
    c
}

/// Places canvases side by side (top-aligned) on white.
pub fn hstack(parts: &[&Canvas]) -> Canvas {
    let w = parts.iter().map(|p| p.w).sum::<usize>();
    let h = parts.iter().map(|p| p.h).max().unwrap_or(1);
    let mut c = Canvas::new(w.max(1), h, WHITE);
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
    let mut c = Canvas::new(w, h.max(1), WHITE);
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
