//! Charts with plotters and an embedded free font (assets/fonts/DejaVuSans.ttf, Bitstream Vera
//! licence), so a figure looks the same on every machine: axes with ticks and labels, titles,
//! legends, a log scale when a panel's values span decades, and a second y axis when its curves
//! differ by more than 100x in scale. PNG through an RGB buffer (the image crate writes it) or SVG
//! text (inline in report.html).

pub mod lab;

use crate::imageout::{thousands, Canvas};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

pub const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const FONT: &str = "sans-serif";

pub const BLUE: RGBColor = RGBColor(52, 101, 164);
pub const ORANGE: RGBColor = RGBColor(230, 126, 34);
pub const GREEN: RGBColor = RGBColor(39, 174, 96);
pub const PURPLE: RGBColor = RGBColor(142, 68, 173);
pub const RED: RGBColor = RGBColor(192, 57, 43);
pub const GREY: RGBColor = RGBColor(130, 130, 130);
pub const TEAL: RGBColor = RGBColor(22, 160, 133);

/// Registers the embedded font with plotters (once per process).
pub fn font() -> Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded chart font (assets/fonts/DejaVuSans.ttf) could not be loaded"))
    }
}

/// One curve.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

pub fn series(name: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series { name: name.to_string(), color, points: points.into_iter().filter(|p| p.0.is_finite() && p.1.is_finite()).collect() }
}

/// One chart: a title, axis names, curves.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Draw at least this y range (e.g. probabilities: 0..1).
    pub y_span: Option<(f64, f64)>,
    /// Allow a log y axis when the values are positive and span more than 2 decades.
    pub log_ok: bool,
}

impl Panel {
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Panel {
        Panel { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), series, y_span: None, log_ok: true }
    }
    pub fn span(mut self, lo: f64, hi: f64) -> Panel {
        self.y_span = Some((lo, hi));
        self
    }
    pub fn linear(mut self) -> Panel {
        self.log_ok = false;
        self
    }
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }
}

pub(crate) fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

fn range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    vals.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((a, b)) => Some((a.min(v), b.max(v))),
    })
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 0.5 - lo.abs() * 0.1, hi + 0.5 + hi.abs() * 0.1)
    }
}

/// "1,000" for whole numbers, otherwise a short decimal or scientific form.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    // a tick stepped to zero in floating point (-1 + 5 x 0.2 = 2.2e-16) is zero
    if a < 1e-12 {
        return "0".into();
    }
    if v == v.round() && a < 1e7 {
        let s = crate::imageout::thousands(a as u64);
        if v < 0.0 {
            format!("-{s}")
        } else {
            s
        }
    } else if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        // three significant digits, no trailing zeros: 0.5, 1.25, 0.00125
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// The corner of the plot its curves cross least (the legend goes there).
fn legend_corner(live: &[&Series], (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let mut count = [0usize; 4]; // upper right, lower right, upper left, lower left
    for q in live.iter().flat_map(|s| s.points.iter()) {
        let fx = (q.0 - x0) / (x1 - x0).max(f64::MIN_POSITIVE);
        let fy = (q.1 - y0) / (y1 - y0).max(f64::MIN_POSITIVE);
        let right = fx > 0.55;
        let left = fx < 0.45;
        let up = fy > 0.6;
        let down = fy < 0.4;
        for (i, inside) in [right && !down, right && !up, left && !down, left && !up].into_iter().enumerate() {
            count[i] += inside as usize;
        }
    }
    let best = (0..4).min_by_key(|i| count[*i]).unwrap_or(0);
    [SeriesLabelPosition::UpperRight, SeriesLabelPosition::LowerRight, SeriesLabelPosition::UpperLeft, SeriesLabelPosition::LowerLeft][best].clone()
}

/// How a panel's curves are laid out: which go on the right-hand axis (those more than 100x
/// smaller than the largest), and whether the y axis is logarithmic (positive values spanning
/// more than 2 decades; a few zeros, e.g. a gradient before the first step, are left out).
pub fn axes(live: &[&Series], p: &Panel) -> (Vec<bool>, bool) {
    let scale = |s: &Series| s.points.iter().map(|q| q.1.abs()).fold(0.0, f64::max);
    let big = live.iter().map(|s| scale(s)).fold(0.0, f64::max);
    let secondary: Vec<bool> = live.iter().map(|s| big > 0.0 && scale(s) * 100.0 < big).collect();
    let vals: Vec<f64> = live.iter().zip(&secondary).filter(|(_, sec)| !**sec).flat_map(|(s, _)| s.points.iter().map(|q| q.1)).collect();
    let (p0, p1) = range(vals.iter().copied().filter(|v| *v > 0.0)).unwrap_or((1.0, 1.0));
    let nonpositive = vals.iter().filter(|v| **v <= 0.0).count();
    let log = p.log_ok && !secondary.iter().any(|s| *s) && nonpositive * 10 <= vals.len() && p1 / p0 > 100.0;
    (secondary, log)
}

/// Draws `p` into `area`.
pub fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    font()?;
    let live: Vec<&Series> = p.series.iter().filter(|s| !s.points.is_empty()).collect();
    let (x0, x1) = range(live.iter().flat_map(|s| s.points.iter().map(|q| q.0))).unwrap_or((0.0, 1.0));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let (secondary, log) = axes(&live, p);
    let prim_vals = || live.iter().zip(&secondary).filter(|(_, sec)| !**sec).flat_map(|(s, _)| s.points.iter().map(|q| q.1));
    let (mut y0, mut y1) = range(prim_vals()).unwrap_or((0.0, 1.0));
    if let Some((a, b)) = p.y_span {
        y0 = y0.min(a);
        y1 = y1.max(b);
    }
    let (p0, p1) = range(prim_vals().filter(|v| *v > 0.0)).unwrap_or((1.0, 1.0));
    let title_style = (FONT, 17).into_font();
    let label_style = (FONT, 13).into_font();
    let mut builder = ChartBuilder::on(area);
    builder.caption(&p.title, title_style).margin(10).margin_right(26).x_label_area_size(38).y_label_area_size(62);
    if secondary.iter().any(|s| *s) {
        builder.right_y_label_area_size(62);
    }
    let fx = |v: &f64| fmt_num(*v);
    // the same axes, ticks and grid on linear and log charts (their coordinate types differ)
    macro_rules! mesh {
        ($chart:expr, $y_desc:expr) => {
            $chart
                .configure_mesh()
                .x_desc(p.x_label.as_str())
                .y_desc($y_desc)
                .x_label_formatter(&fx)
                .y_label_formatter(&|v| fmt_num(*v))
                .label_style(label_style.clone())
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(draw_err)?
        };
    }
    if log {
        let mut chart = builder.build_cartesian_2d(x0..x1, (p0 * 0.8..p1 * 1.25).log_scale()).map_err(draw_err)?;
        mesh!(chart, format!("{} (log scale)", p.y_label));
        for s in &live {
            let c = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied().filter(|q| q.1 > 0.0), c.stroke_width(2)))
                .map_err(draw_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .label_font(label_style)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(legend_corner(&live, (x0, x1), (y0, y1)))
            .draw()
            .map_err(draw_err)?;
        return Ok(());
    }
    let (y0, y1) = padded(y0, y1);
    let (s0, s1) = padded_range(live.iter().zip(&secondary).filter(|(_, sec)| **sec).flat_map(|(s, _)| s.points.iter().map(|q| q.1)));
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(draw_err)?.set_secondary_coord(x0..x1, s0..s1);
    mesh!(chart, p.y_label.clone());
    let small: Vec<&str> = live.iter().zip(&secondary).filter(|(_, sec)| **sec).map(|(s, _)| s.name.as_str()).collect();
    if !small.is_empty() {
        chart
            .configure_secondary_axes()
            .y_desc(format!("{} (right axis)", small.join(", ")))
            .y_label_formatter(&|v| fmt_num(*v))
            .label_style(label_style.clone())
            .draw()
            .map_err(draw_err)?;
    }
    for (s, sec) in live.iter().zip(&secondary) {
        let c = s.color;
        // few points (evaluations): mark each one
        if s.points.len() > 1 && s.points.len() <= 30 {
            let marks = s.points.iter().map(|q| Circle::new(*q, 3, c.filled()));
            if *sec {
                chart.draw_secondary_series(marks).map_err(draw_err)?;
            } else {
                chart.draw_series(marks).map_err(draw_err)?;
            }
        }
        let pts = s.points.iter().copied();
        let anno = if *sec {
            if s.points.len() == 1 {
                chart.draw_secondary_series(pts.map(|q| Circle::new(q, 4, c.filled()))).map_err(draw_err)?
            } else {
                chart.draw_secondary_series(LineSeries::new(pts, c.stroke_width(2))).map_err(draw_err)?
            }
        } else if s.points.len() == 1 {
            chart.draw_series(pts.map(|q| Circle::new(q, 4, c.filled()))).map_err(draw_err)?
        } else {
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2))).map_err(draw_err)?
        };
        let name = if *sec { format!("{} (right)", s.name) } else { s.name.clone() };
        anno.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .label_font(label_style)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(legend_corner(&live, (x0, x1), (y0, y1)))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

fn padded_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (a, b) = range(vals).unwrap_or((0.0, 1.0));
    padded(a, b)
}

/// Panels in a grid of `cols` columns, each `w` x `h` pixels, drawn by `draw` on any backend.
pub fn draw_grid<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, panels: &[Panel], cols: usize) -> Result<()> {
    root.fill(&WHITE).map_err(draw_err)?;
    let rows = panels.len().div_ceil(cols.max(1));
    let areas = root.split_evenly((rows.max(1), cols.max(1)));
    for (p, a) in panels.iter().zip(areas.iter()) {
        draw_panel(a, p)?;
    }
    Ok(())
}

/// Panels as an RGB canvas.
pub fn canvas(panels: &[Panel], cols: usize, w: u32, h: u32) -> Result<Canvas> {
    let rows = panels.len().div_ceil(cols.max(1)) as u32;
    let (cw, ch) = (w * cols as u32, h * rows.max(1));
    let mut buf = vec![255u8; (cw * ch * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (cw, ch)).into_drawing_area();
        draw_grid(&root, panels, cols)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Canvas::from_rgb(cw as usize, ch as usize, &buf))
}

pub fn save_png(path: &Path, panels: &[Panel], cols: usize, w: u32, h: u32) -> Result<()> {
    canvas(panels, cols, w, h)?.save(path)
}

/// Panels as SVG text (for inline use in HTML).
pub fn svg(panels: &[Panel], cols: usize, w: u32, h: u32) -> Result<String> {
    let rows = panels.len().div_ceil(cols.max(1)) as u32;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w * cols as u32, h * rows.max(1))).into_drawing_area();
        draw_grid(&root, panels, cols)?;
        root.present().map_err(draw_err)?;
    }
    Ok(s)
}

/// Writes `text` onto a canvas at (x, y) in the embedded font, `size` pixels high.
pub fn text(c: &mut Canvas, text: &str, x: i32, y: i32, size: u32) -> Result<()> {
    font()?;
    let (w, h) = (c.w as u32, c.h as u32);
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut c.px);
    let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
    root.draw_text(text, &(FONT, size).into_font().color(&BLACK), (x, y)).map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// The milestone grids side by side, each labelled "step N" above and, when given, its quality
/// scores below.
pub fn save_timeline(path: &Path, frames: &[(u64, Canvas, Option<String>)]) -> Result<()> {
    anyhow::ensure!(!frames.is_empty(), "timeline with no frames");
    let label_h = 26;
    let gap = 8;
    let below = if frames.iter().any(|f| f.2.is_some()) { label_h } else { 0 };
    let w = frames.iter().map(|(_, c, _)| c.w + gap).sum::<usize>() + gap;
    let grid_h = frames.iter().map(|(_, c, _)| c.h).max().unwrap_or(0);
    let h = grid_h + label_h + below + gap;
    let mut t = Canvas::new(w, h, [255, 255, 255]);
    let mut x = gap;
    for (step, c, scores) in frames {
        text(&mut t, &format!("step {}", thousands(*step)), x as i32, 4, 18)?;
        t.blit(c, x, label_h);
        if let Some(s) = scores {
            text(&mut t, s, x as i32, (label_h + grid_h + 4) as i32, 14)?;
        }
        x += c.w + gap;
    }
    t.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(fmt_num(1000.0), "1,000");
        assert_eq!(fmt_num(-2.0), "-2");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2.25), "2.25");
        assert_eq!(fmt_num(0.00125), "0.00125");
        assert_eq!(fmt_num(123456.5), "1.2e5");
        // an axis from -1 stepped by 0.2 reaches zero as 2.2e-16
        assert_eq!(fmt_num((0..5).fold(-1.0, |v, _| v + 0.2)), "0");
    }

    #[test]
    fn curves_100x_apart_get_two_axes_and_decades_a_log_scale() {
        let steps = |f: &dyn Fn(f64) -> f64| (1..50).map(|i| (i as f64, f(i as f64))).collect::<Vec<_>>();
        let big = series("JS", BLUE, steps(&|_| 0.69));
        let small = series("critic", RED, steps(&|x| 0.001 * x / 50.0));
        let p = Panel::new("t", "step", "v", vec![big.clone(), small.clone()]);
        let (sec, log) = axes(&[&big, &small], &p);
        assert_eq!(sec, vec![false, true]);
        assert!(!log);
        let near = series("near", RED, steps(&|_| 0.2));
        assert_eq!(axes(&[&big, &near], &p).0, vec![false, false], "curves of one scale share an axis");
        let decades = series("grad", BLUE, steps(&|x| 10f64.powf(-x / 10.0)));
        let p1 = Panel::new("t", "step", "v", vec![decades.clone()]);
        assert!(axes(&[&decades], &p1).1, "values over 5 decades get a log axis");
        assert!(!axes(&[&decades], &p1.clone().linear()).1, "unless the panel asks for a linear one");
    }

    #[test]
    fn charts_draw_to_png_and_svg_with_the_embedded_font() {
        let p = Panel::new("Losses", "step", "loss", vec![series("Loss_D", BLUE, vec![(1.0, 1.0), (2.0, 0.5)])]);
        let c = canvas(std::slice::from_ref(&p), 1, 300, 200).expect("png");
        let dark = c.px.iter().filter(|q| q.iter().all(|v| *v < 100)).count();
        assert!(dark > 200, "a chart with text and axes has dark pixels: {dark}");
        let s = svg(&[p], 1, 300, 200).expect("svg");
        assert!(s.contains("<svg") && s.contains("Losses") && s.contains("Loss_D"), "{}", &s[..200.min(s.len())]);
    }
}
