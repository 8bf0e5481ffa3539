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
pub const LAB_FILES: &[&str] =
    &["config.json", "metrics.jsonl", "frames", "run.gif", "measures.png", "report.html", "report.html.tmp", "compare.png", "compare.json", "bce", "wgan"];

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

/// The lock file inside a run folder: an OS file lock on it marks the folder as in use by one
/// `train` or `lab` process; its text names that process (pid, host, since when, command).
pub const LOCK_FILE: &str = ".gangpu.lock";

/// A run folder held for the life of one process. The lock is the operating system's (flock on
/// Unix), so it goes away with the process however the process ends, `kill -9` included: no stale
/// lock is ever left behind. Readers (`sample`, `eval --checkpoint`, `report`) never take it.
pub struct RunLock {
    _file: std::fs::File,
    pub dir: PathBuf,
}

/// Who holds a run folder, as its lock file says.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub since: String,
    pub command: String,
}

impl RunLock {
    /// Takes `dir` (created if missing) for `command` (train, lab), or refuses: the error names the
    /// process that holds it and what to do.
    pub fn acquire(dir: &Path, command: &str) -> Result<RunLock> {
        use std::io::{Read, Seek, Write};
        if dir.exists() && !dir.is_dir() {
            bail!("--out {} is a file, not a folder", dir.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating the run folder {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the run folder's lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let who = match serde_json::from_str::<LockHolder>(text.trim()) {
                    Ok(h) => format!("a running `gangpu {}` (pid {} on {}, since {})", h.command, h.pid, h.host, h.since),
                    Err(_) => "another gangpu process".to_string(),
                };
                let stop = serde_json::from_str::<LockHolder>(text.trim())
                    .map(|h| format!("stop it with `kill -TERM {}` (it saves a checkpoint first), ", h.pid))
                    .unwrap_or_default();
                bail!(
                    "{} is in use by {who}: a run folder belongs to one running process. Wait for it to finish, {stop}or pick another --out \
                     (sample, eval --checkpoint and report read a live run's folder without waiting)",
                    dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking the run folder {}", dir.display())),
        }
        let holder = LockHolder { pid: std::process::id(), host: host_name(), since: utc_now(), command: command.into() };
        let text = serde_json::to_string(&holder).context("writing the lock file")?;
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|_| file.flush())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: file, dir: dir.to_path_buf() })
    }
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

/// The time now as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}
