//! report.html: one self-contained page per run folder (train and lab) with the config, the
//! timeline, every saved sample grid, the curves as inline SVG and the latest metrics. Images are
//! embedded as data: URLs, nothing is fetched from the network. While the run goes on the page
//! reloads itself every 15 s; the final write drops the reload.

use anyhow::{Context, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// What a report shows.
pub struct Report<'a> {
    pub title: String,
    /// Pretty JSON of the run's settings.
    pub config_json: String,
    /// Images shown large first (the timeline; the lab's last frame and GIF), with captions.
    pub highlights: Vec<(String, PathBuf)>,
    /// Every saved sample grid (or frame), captioned by step.
    pub grids: Vec<(u64, PathBuf)>,
    /// The curves, as SVG text.
    pub curves_svg: Option<String>,
    /// The latest metrics, as (name, value) rows.
    pub latest: Vec<(String, String)>,
    pub running: bool,
    /// One line under the title (adapter, progress).
    pub status: &'a str,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn data_url(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {} for report.html", path.display()))?;
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("gif") => "image/gif",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "image/png",
    };
    Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// The page as HTML text.
pub fn html(r: &Report) -> Result<String> {
    let mut h = String::with_capacity(1 << 16);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if r.running {
        h.push_str("<meta http-equiv=\"refresh\" content=\"15\">\n");
    }
    h.push_str(&format!("<title>{}</title>\n", esc(&r.title)));
    h.push_str(
        "<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1300px}h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
         .state{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff}.running{background:#e67e22}.done{background:#27ae60}\
         figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:13px;text-align:center}\
         img{image-rendering:pixelated;border:1px solid #ccc}table{border-collapse:collapse}td{padding:2px 10px;border-bottom:1px solid #eee}\
         pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}svg{max-width:100%;height:auto}</style>\n</head><body>\n",
    );
    let state =
        if r.running { "<span class=\"state running\">running: this page reloads every 15 s</span>" } else { "<span class=\"state done\">finished</span>" };
    h.push_str(&format!("<h1>{}</h1>\n<p>{state} {}</p>\n", esc(&r.title), esc(r.status)));
    for (caption, path) in &r.highlights {
        if path.exists() {
            h.push_str(&format!("<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n", data_url(path)?, esc(caption), esc(caption)));
        }
    }
    if !r.latest.is_empty() {
        h.push_str("<h2>Latest metrics</h2>\n<table>\n");
        for (k, v) in &r.latest {
            h.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>\n", esc(k), esc(v)));
        }
        h.push_str("</table>\n");
    }
    if let Some(svg) = &r.curves_svg {
        h.push_str("<h2>Curves</h2>\n<div class=\"curves\">");
        // the SVG goes inline; an XML declaration is not allowed inside HTML
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        h.push_str(body);
        h.push_str("</div>\n");
    }
    if !r.grids.is_empty() {
        h.push_str("<h2>Samples by step</h2>\n");
        for (step, path) in &r.grids {
            if path.exists() {
                let cap = format!("step {}", crate::imageout::thousands(*step));
                h.push_str(&format!("<figure><img src=\"{}\" alt=\"{cap}\"><figcaption>{cap}</figcaption></figure>\n", data_url(path)?));
            }
        }
    }
    h.push_str(&format!("<h2>Settings</h2>\n<pre>{}</pre>\n", esc(&r.config_json)));
    // marks the page for tests and scripts: every image decoded, or how many did not
    h.push_str(
        "<script>window.addEventListener('load',function(){var im=Array.prototype.slice.call(document.images);\
         var bad=im.filter(function(i){return !(i.complete&&i.naturalWidth>0);});\
         document.body.setAttribute('data-images',bad.length?('broken:'+bad.length):('ok:'+im.length));});</script>\n</body></html>\n",
    );
    Ok(h)
}

/// Writes the page atomically (a reader never sees half a page).
pub fn write(path: &Path, r: &Report) -> Result<()> {
    let text = html(r)?;
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))
}

/// The sample grids saved in a folder (step_000100.png ...), by step.
pub fn grids_in(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| {
                    let stem = p.file_stem()?.to_str()?.strip_prefix("step_")?.parse::<u64>().ok()?;
                    (p.extension()?.to_str()? == "png").then_some((stem, p))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
