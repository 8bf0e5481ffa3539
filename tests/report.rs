//! What a run shows: report.html rendered by headless Chromium (no console errors, every image
//! decoded, a screenshot that is not blank), curves.png, TensorBoard events read back by
//! TensorBoard's own reader and compared with metrics.jsonl, the lab's report, and a run folder
//! that stops being writable mid-run (a clear error, the last checkpoint kept).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");
const TINY: &[&str] = &["--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "16"];

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("this test renders report.html in a headless browser and found none: install Debian's `chromium` (apt-get install -y chromium), as .ci/run does");
}

/// Loads `page` headless: (DOM after load, console messages), and a screenshot into `shot`.
fn render(page: &Path, shot: &Path) -> (String, Vec<String>) {
    let url = format!("file://{}", page.canonicalize().expect("page path").display());
    let base = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=3000"];
    let dom = Command::new(chromium()).args(base).args(["--enable-logging=stderr", "--v=0", "--dump-dom", &url]).output().expect("run chromium");
    let console = String::from_utf8_lossy(&dom.stderr).lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).map(String::from).collect();
    let out = Command::new(chromium())
        .args(base)
        .args(["--window-size=1280,1600", &format!("--screenshot={}", shot.display()), &url])
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&dom.stdout).into_owned(), console)
}

/// The screenshot holds a page: many colours, not one flat fill.
fn assert_not_blank(shot: &Path) {
    let img = image::open(shot).expect("screenshot").to_rgb8();
    let mut colours = std::collections::HashSet::new();
    let mut dark = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        if p.0.iter().all(|v| *v < 96) {
            dark += 1;
        }
    }
    assert!(colours.len() > 50 && dark > 2000, "the screenshot looks blank: {} colours, {dark} dark pixels", colours.len());
}

fn images_ok(dom: &str) -> usize {
    let key = "data-images=\"";
    let at = dom.find(key).unwrap_or_else(|| panic!("the page's load script did not run (no data-images mark)"));
    let v = &dom[at + key.len()..];
    let v = &v[..v.find('"').expect("closing quote")];
    let n = v.strip_prefix("ok:").unwrap_or_else(|| panic!("images did not decode: {v}"));
    n.parse().expect("image count")
}

#[test]
fn a_training_run_reports_in_html_png_and_tensorboard() {
    let dir = tmpdir("report-train");
    let mut args = vec!["train", "--steps", "20", "--sample-every", "10", "--log-every", "5", "--eval-every", "10", "--eval-n", "32", "--out", "run"];
    args.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("figures (curves.png, report.html, TensorBoard events)"), "{err}");
    let run = dir.join("run");
    let curves = image::open(run.join("curves.png")).expect("curves.png").to_rgb8();
    assert!(curves.width() >= 1000 && curves.height() >= 600, "curves.png is {}x{}", curves.width(), curves.height());
    let html = std::fs::read_to_string(run.join("report.html")).expect("report.html");
    assert!(!html.contains("http-equiv=\"refresh\""), "a finished run's page must stop reloading");
    for fetch in ["src=\"http", "href=\"http", "url(http", "<script src", "<link"] {
        assert!(!html.contains(fetch), "the page must not fetch anything, found {fetch}");
    }
    assert!(html.contains("<svg") && html.contains("Losses") && html.contains("FID"), "curves missing from the page");
    let (dom, console) = render(&run.join("report.html"), &dir.join("shot.png"));
    assert!(console.is_empty(), "console messages: {console:?}");
    // timeline, real samples, and the grids of steps 10 and 20
    assert!(images_ok(&dom) >= 4, "{}", &dom[..dom.len().min(500)]);
    assert_not_blank(&dir.join("shot.png"));

    // TensorBoard's reader sees what metrics.jsonl holds
    let py = Command::new("python3").args(["-c", "import tensorboard, PIL"]).output();
    assert!(
        py.is_ok_and(|o| o.status.success()),
        "this test reads the event files with TensorBoard's reader and decodes their images: `pip install tensorboard pillow` (as .ci/run does)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_tensorboard.py");
    let out = Command::new("python3").arg(&script).arg(&run).output().expect("run check_tensorboard.py");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // "ok: N scalars and M images match ...": both compared, none skipped
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let counts: Vec<usize> = said.trim().strip_prefix("ok: ").unwrap_or_else(|| panic!("{said}")).split(' ').filter_map(|w| w.parse().ok()).collect();
    // 4 scalars (losses, D outputs) at 5 log rows, the eval scores at 2 steps; grids at steps 10 and 20
    assert!(counts.len() == 2 && counts[0] >= 20 && counts[1] == 2, "{said}");

    // `gangpu report` draws the figures again from the run's files
    for f in ["curves.png", "report.html", "timeline.png"] {
        std::fs::remove_file(run.join(f)).expect("remove a figure");
    }
    let (code, err) = gangpu_cli(BIN, &["report", "run"], &dir);
    assert_eq!(code, 0, "{err}");
    for f in ["curves.png", "report.html", "timeline.png"] {
        assert!(run.join(f).exists(), "gangpu report did not write {f}");
    }
    let (code, err) = gangpu_cli(BIN, &["report", "nowhere"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("not a gangpu training run"), "{err}");

    // --no-tensorboard writes none
    let mut args = vec!["train", "--steps", "2", "--no-tensorboard", "--out", "quiet"];
    args.extend_from_slice(TINY);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("quiet/tensorboard").exists());
}

#[test]
fn a_lab_run_reports_too() {
    let dir = tmpdir("report-lab");
    let (code, err) = gangpu_cli(BIN, &["lab", "--steps", "100", "--frame-every", "50", "--log-every", "50", "--out", "lab"], &dir);
    assert_eq!(code, 0, "{err}");
    let (dom, console) = render(&dir.join("lab/report.html"), &dir.join("shot.png"));
    assert!(console.is_empty(), "console messages: {console:?}");
    // the GIF and the frames of steps 0, 50, 100
    assert_eq!(images_ok(&dom), 4);
    assert_not_blank(&dir.join("shot.png"));
}

#[test]
fn a_run_folder_that_stops_being_writable_stops_the_run_and_keeps_the_checkpoint() {
    let dir = tmpdir("report-unwritable");
    let mut args = vec!["train", "--steps", "3000", "--sample-every", "3000", "--checkpoint-every", "5", "--out", "run"];
    args.extend_from_slice(TINY);
    let child = Command::new(BIN).args(&args).current_dir(&dir).stderr(std::process::Stdio::piped()).spawn().expect("start gangpu");
    let ck = dir.join("run/checkpoint.safetensors");
    let t0 = std::time::Instant::now();
    while !ck.exists() {
        assert!(t0.elapsed().as_secs() < 120, "no checkpoint after 2 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // samples/ becomes a file: the grid at step 100 (a milestone) cannot be written
    let samples = dir.join("run/samples");
    std::fs::remove_dir_all(&samples).expect("remove samples/");
    std::fs::write(&samples, b"not a folder").expect("block samples/");
    let out = child.wait_with_output().expect("wait for gangpu");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing into the run folder") && err.contains("training stopped") && err.contains("last good checkpoint, step"), "{err}");
    let raw = gangpu::checkpoint::RawCheckpoint::read(&ck).expect("the last checkpoint still loads");
    let step = raw.step().expect("step");
    assert!((5..100).contains(&step) && step.is_multiple_of(5), "checkpoint at step {step}");
}
