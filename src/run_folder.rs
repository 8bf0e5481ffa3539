//! A run folder belongs to one run. Starting a run where another one left its files is refused
//! (the user picks `--resume`, `--overwrite` or another `--out`), `--overwrite` removes only the
//! files a run writes (never anything else the folder holds), and `--resume` with another `--out`
//! continues in a copy of the run, leaving the original untouched.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What `gangpu train` writes into its folder.
pub const TRAIN_FILES: &[&str] = &[
    "config.json",
    "metrics.jsonl",
    "real_samples.png",
    "timeline.png",
    "curves.png",
    "report.html",
    "report.html.tmp",
    "tensorboard",
    "checkpoint.safetensors",
    "checkpoint.safetensors.tmp",
    "samples",
];

/// What `gangpu lab` writes into its folder (`--compare` runs its two trainings in bce/ and wgan/).
pub const LAB_FILES: &[&str] = &["config.json", "metrics.jsonl", "frames", "run.gif", "measures.png", "report.html", "report.html.tmp", "compare.png", "compare.json", "bce", "wgan"];

/// The run files of `files` present in `dir`.
pub fn existing_run_files(dir: &Path, files: &[&str]) -> Vec<String> {
    files.iter().filter(|f| dir.join(f).exists()).map(|f| f.to_string()).collect()
}

/// Makes `dir` ready for a new run: refused when it holds another run's files, unless
/// `overwrite`, which first removes exactly those files.
pub fn claim_new(dir: &Path, files: &[&str], overwrite: bool, command: &str) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} is a file, not a folder", dir.display());
    }
    let found = existing_run_files(dir, files);
    if !found.is_empty() {
        if !overwrite {
            let resume = if command == "train" && dir.join("checkpoint.safetensors").exists() {
                format!("`--resume {}` to continue it, ", dir.join("checkpoint.safetensors").display())
            } else {
                String::new()
            };
            bail!(
                "{} already holds a run ({}). A run folder belongs to one run: pass {resume}`--overwrite` to delete that run's \
                 files and start afresh, or another --out",
                dir.display(),
                found.join(", ")
            );
        }
        for f in &found {
            let p = dir.join(f);
            let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            removed.with_context(|| format!("--overwrite: removing {}", p.display()))?;
        }
        eprintln!("--overwrite: removed the previous run's files from {} ({})", dir.display(), found.join(", "));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating the run folder {}", dir.display()))
}

/// The folder a checkpoint's run lives in.
pub fn folder_of(checkpoint: &Path) -> PathBuf {
    match checkpoint.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True when two paths name the same folder (after resolving what exists of them).
pub fn same_folder(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

/// Copies a run's files from `from` to the empty-of-runs folder `to` (for `--resume` with a new
/// `--out`), so the copy continues while the original stays as it was.
pub fn copy_run(from: &Path, to: &Path, overwrite: bool) -> Result<()> {
    claim_new(to, TRAIN_FILES, overwrite, "train")?;
    for f in TRAIN_FILES {
        let src = from.join(f);
        if src.exists() {
            copy_recursive(&src, &to.join(f)).with_context(|| format!("copying {} to {}", src.display(), to.display()))?;
        }
    }
    Ok(())
}

fn copy_recursive(src: &Path, dst: &Path) -> std::io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

/// Appends one JSON line (a metrics.jsonl row) to `path`.
pub fn append_json_line<T: serde::Serialize>(path: &Path, row: &T) -> Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(row).context("serialising a metrics row")?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("appending to {}", path.display()))
}
