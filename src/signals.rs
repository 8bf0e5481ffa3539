//! Stopping a run cleanly on a signal, as schedulers expect: SIGINT (Ctrl-C), SIGTERM (what Slurm,
//! Kubernetes, systemd and `docker stop` send before they kill a job) and SIGHUP (a closing
//! terminal) all ask the run to finish the step in flight, save, and exit with 128 + the signal's
//! number (130, 143, 129). A second signal exits at once with that status.
//!
//! The state is process-wide, as signals are: `install` once at the start of a command that
//! trains; loops poll `requested()` (or read `flag()`) between steps.

use anyhow::Result;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct State {
    flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static STATE: OnceLock<State> = OnceLock::new();

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

/// Installs the handlers (once; later calls do nothing).
pub fn install() -> Result<()> {
    if STATE.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    #[cfg(unix)]
    {
        use anyhow::Context;
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // in registration order: a signal that finds the flag already raised (a second one)
            // exits at once; otherwise it records which signal came and raises the flag
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone()).context("installing signal handlers")?;
            signal_hook::flag::register_usize(sig, which.clone(), sig as usize).context("installing signal handlers")?;
            signal_hook::flag::register(sig, flag.clone()).context("installing signal handlers")?;
        }
    }
    #[cfg(not(unix))]
    {
        let (f, w) = (flag.clone(), which.clone());
        ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(128 + SIGINT);
            }
            w.store(SIGINT as usize, Ordering::SeqCst);
        })
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))?;
    }
    let _ = STATE.set(State { flag, which });
    Ok(())
}

/// The flag a signal raises (a flag never raised when `install` was not called).
pub fn flag() -> Arc<AtomicBool> {
    STATE.get().map(|s| s.flag.clone()).unwrap_or_default()
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STATE.get().is_some_and(|s| s.flag.load(Ordering::SeqCst))
}

/// The signal that asked for the stop, if one did.
pub fn received() -> Option<i32> {
    STATE.get().map(|s| s.which.load(Ordering::SeqCst) as i32).filter(|&s| s != 0)
}

/// The exit status after a stop by `sig`: 128 + its number.
pub fn exit_code(sig: i32) -> i32 {
    128 + sig
}

/// A signal's name, as a user would know it.
pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT (Ctrl-C)",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
