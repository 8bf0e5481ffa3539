//! A run is never lost or mixed, tried as a scheduler and a shared workstation would: SIGTERM,
//! SIGHUP and SIGINT stop a training run with a checkpoint and exit 128 + n, and the run resumes;
//! a lab run stops the same way with its figures; a folder being trained in is locked against a
//! second train, an --overwrite, a --resume and a lab, while readers work beside it; kill -9
//! leaves no lock behind.
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");

/// A long, small training run in `out`, checkpointing every step; waits until it has logged a step.
fn start_train(dir: &Path, out: &str) -> Child {
    let child = Command::new(BIN)
        .args([
            "train",
            "--steps",
            "1000000",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--batch",
            "16",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
            "--sample-every",
            "1000000",
            "--no-tensorboard",
            "--out",
            out,
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gangpu train");
    wait_for(&dir.join(out).join("checkpoint.safetensors"), "the run's first checkpoint");
    child
}

fn wait_for(path: &Path, what: &str) {
    let t = Instant::now();
    while !(path.exists() && std::fs::metadata(path).is_ok_and(|m| m.len() > 0)) {
        assert!(t.elapsed() < Duration::from_secs(180), "{what} ({}) did not appear in 180 s", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill").args(["-s", sig, &child.id().to_string()]).status().expect("run kill");
    assert!(ok.success(), "kill -s {sig} failed");
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait for gangpu");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).output().expect("run gangpu");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The step a stop message names ("... at step N: ...").
fn stopped_at(err: &str) -> u64 {
    let tail = err.split(" at step ").nth(1).unwrap_or_else(|| panic!("no step in: {err}"));
    tail.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no step in: {err}"))
}

#[test]
fn each_signal_saves_a_checkpoint_exits_128_plus_n_and_the_run_resumes() {
    let dir = tmpdir("signals");
    for (sig, code, name) in [("TERM", 143, "SIGTERM"), ("HUP", 129, "SIGHUP"), ("INT", 130, "SIGINT")] {
        let out = format!("run-{sig}");
        let child = start_train(&dir, &out);
        kill(&child, sig);
        let (status, err) = finish(child);
        assert_eq!(status, Some(code), "{sig}: {err}");
        assert!(err.contains(&format!("stopped by {name}")) && err.contains("--resume"), "{sig}: {err}");
        let step = stopped_at(&err);
        let ck = format!("{out}/checkpoint.safetensors");
        let (status, err) = run(&dir, &["train", "--resume", &ck, "--steps", &(step + 2).to_string()]);
        assert_eq!(status, Some(0), "resuming after {sig}: {err}");
        assert!(err.contains(&format!("resumed from {ck} at step {step}")), "{err}");
    }
}

#[test]
fn a_live_run_folder_is_locked_and_readers_work_beside_it() {
    let dir = tmpdir("lock");
    let child = start_train(&dir, "live");
    let pid = child.id().to_string();
    let ck = "live/checkpoint.safetensors";
    for (what, args) in [
        ("a second run", vec!["train", "--out", "live", "--steps", "3"]),
        ("--overwrite", vec!["train", "--out", "live", "--overwrite", "--steps", "3"]),
        ("--resume", vec!["train", "--resume", ck, "--steps", "1000001"]),
        ("a lab", vec!["lab", "--out", "live", "--steps", "3"]),
    ] {
        let (status, err) = run(&dir, &args);
        assert_eq!(status, Some(1), "{what} into a live run: {err}");
        assert!(err.contains("is in use by a running `gangpu train`") && err.contains(&format!("pid {pid}")) && err.contains("kill -TERM"), "{what}: {err}");
    }
    assert!(dir.join("live/metrics.jsonl").exists() && dir.join("live/config.json").exists(), "the live run's files were touched");
    // readers work on the live run: its latest complete checkpoint
    let (status, err) = run(&dir, &["sample", "--checkpoint", ck, "--n", "4", "--out", "beside.png"]);
    assert_eq!(status, Some(0), "sample beside a live run: {err}");
    assert!(dir.join("beside.png").exists());
    let (status, err) = run(&dir, &["report", "live"]);
    assert_eq!(status, Some(0), "report beside a live run: {err}");
    // kill -9 leaves no lock behind: the folder can be resumed at once
    kill(&child, "KILL");
    let (status, _) = finish(child);
    assert_eq!(status, None, "killed by SIGKILL");
    let step = gangpu::checkpoint::RawCheckpoint::read(&dir.join(ck)).and_then(|c| c.step()).expect("the checkpoint survives kill -9");
    let (status, err) = run(&dir, &["train", "--resume", ck, "--steps", &(step + 2).to_string()]);
    assert_eq!(status, Some(0), "resuming after kill -9: {err}");
}

#[test]
fn a_lab_run_stops_on_sigterm_with_its_figures() {
    let dir = tmpdir("lab-signal");
    let child = Command::new(BIN)
        .args(["lab", "--steps", "1000000", "--frame-every", "50", "--log-every", "50", "--out", "lab"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gangpu lab");
    wait_for(&dir.join("lab/metrics.jsonl"), "the lab's first metrics");
    kill(&child, "TERM");
    let (status, err) = finish(child);
    assert_eq!(status, Some(143), "{err}");
    assert!(err.contains("stopped by SIGTERM"), "{err}");
    for f in ["run.gif", "measures.png", "report.html", "metrics.jsonl"] {
        assert!(dir.join("lab").join(f).exists(), "{f} not written on SIGTERM: {err}");
    }
    // and the folder is free again
    let (status, err) = run(&dir, &["lab", "--steps", "2", "--out", "lab", "--overwrite"]);
    assert_eq!(status, Some(0), "{err}");
}
