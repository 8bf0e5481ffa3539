//! The lab's pictures: P_data and P_G as histograms with D's output over x (1-D), or as points
//! over a heat map of D's output (2-D). Drawn with plotters into RGB canvases, so the frames of
//! the GIF and compare.png share the charts' axes, ticks, legends and font.

use super::{draw_err, fmt_num, font, BLUE, FONT, GREEN, ORANGE, PURPLE};
use crate::imageout::Canvas;
use anyhow::Result;
use plotters::prelude::*;

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

/// What D's curve means: a probability (sigmoid objectives) or a raw critic value.
fn curve_name(prob: bool) -> &'static str {
    if prob {
        "D(x) = P(real)"
    } else {
        "critic f(x)"
    }
}

fn curve_range(curve: &[f32], prob: bool) -> (f64, f64) {
    if prob {
        return (0.0, 1.0);
    }
    let mn = curve.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
    let mx = curve.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    if mx > mn {
        (mn - 0.05 * (mx - mn), mx + 0.05 * (mx - mn))
    } else {
        (mn - 1.0, mn + 1.0)
    }
}

/// 1-D: densities of P_data and P_G over [lo, hi], D's output on the right-hand axis.
#[allow(clippy::too_many_arguments)]
pub fn histogram_frame(title: &str, real: &[f32], fake: &[f32], curve_x: &[f32], curve: &[f32], prob: bool, lo: f64, hi: f64) -> Result<Canvas> {
    font()?;
    let (w, h) = (520u32, 320u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let bins = 60;
        let (hr, hf) = (histogram(real, lo, hi, bins), histogram(fake, lo, hi, bins));
        let ymax = hr.iter().chain(&hf).cloned().fold(0.0, f64::max).max(1e-6) * 1.15;
        let (c0, c1) = curve_range(curve, prob);
        let label = (FONT, 13).into_font();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 17))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .right_y_label_area_size(52)
            .build_cartesian_2d(lo..hi, 0.0..ymax)
            .map_err(draw_err)?
            .set_secondary_coord(lo..hi, c0..c1);
        chart
            .configure_mesh()
            .x_desc("x")
            .y_desc("density")
            .label_style(label.clone())
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(draw_err)?;
        chart.configure_secondary_axes().y_desc(curve_name(prob)).label_style(label.clone()).y_label_formatter(&|v| fmt_num(*v)).draw().map_err(draw_err)?;
        let bw = (hi - lo) / bins as f64;
        for (hist, color, name) in [(&hr, BLUE, "P_data"), (&hf, ORANGE, "P_G")] {
            chart
                .draw_series(hist.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(b, v)| {
                    let x0 = lo + b as f64 * bw;
                    Rectangle::new([(x0, 0.0), (x0 + bw, *v)], color.mix(0.5).filled())
                }))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(0.5).filled()));
        }
        if !curve.is_empty() {
            chart
                .draw_secondary_series(LineSeries::new(curve_x.iter().zip(curve).map(|(x, v)| (*x as f64, *v as f64)), GREEN.stroke_width(2)))
                .map_err(draw_err)?
                .label(format!("{} (right)", curve_name(prob)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GREEN.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .label_font(label)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Canvas::from_rgb(w as usize, h as usize, &buf))
}

/// 2-D: D's output on a `gn` x `gn` grid over [lo, hi]^2 as a heat map (purple: fake side,
/// green: real side), real samples (green) and generated ones (purple) as points.
#[allow(clippy::too_many_arguments)]
pub fn scatter_frame(title: &str, real: &[f32], fake: &[f32], grid: &[f32], gn: usize, prob: bool, lo: f64, hi: f64) -> Result<Canvas> {
    font()?;
    let (w, h) = (420u32, 440u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (g0, g1) = curve_range(grid, prob);
        let label = (FONT, 13).into_font();
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{title} (background: {})", if prob { "D(x)" } else { "critic" }), (FONT, 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("x1")
            .y_desc("x2")
            .label_style(label.clone())
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .disable_mesh()
            .draw()
            .map_err(draw_err)?;
        let cell = (hi - lo) / gn as f64;
        chart
            .draw_series((0..gn * gn).map(|i| {
                let (gx, gy) = (i % gn, i / gn);
                let v = ((grid[i] as f64 - g0) / (g1 - g0)).clamp(0.0, 1.0);
                let (a, b) = ([226.0, 214.0, 238.0], [208.0, 240.0, 214.0]);
                let c = [0, 1, 2].map(|k| (a[k] * (1.0 - v) + b[k] * v) as u8);
                let (x0, y0) = (lo + gx as f64 * cell, lo + gy as f64 * cell);
                Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], RGBColor(c[0], c[1], c[2]).filled())
            }))
            .map_err(draw_err)?;
        for (pts, color, name) in [(real, GREEN, "P_data"), (fake, PURPLE, "P_G")] {
            chart
                .draw_series(pts.chunks_exact(2).map(|p| Circle::new((p[0] as f64, p[1] as f64), 2, color.filled())))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .label_font(label)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Canvas::from_rgb(w as usize, h as usize, &buf))
}
