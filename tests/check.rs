//! `gangpu check` as a user runs it: it passes on this adapter's plan, and a kernel corrupted
//! through GANGPU_SHADERS (no rebuild) makes it fail, naming the family, with exit status 1.

mod common;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");

fn check(dir: &std::path::Path, shaders: Option<&std::path::Path>) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["check", "--batch", "2"]).current_dir(dir);
    if let Some(s) = shaders {
        cmd.env("GANGPU_SHADERS", s);
    }
    let out = cmd.output().expect("run gangpu check");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_passes_and_a_corrupted_kernel_fails_it() {
    let dir = tmpdir("check");
    let (code, table, err) = check(&dir, None);
    assert_eq!(code, Some(0), "{table}\n{err}");
    assert!(
        err.contains(", 0 failed,") && table.contains("DCGAN iterations (PyTorch)") && table.contains("conv_transpose") && !table.contains("FAIL"),
        "{table}\n{err}"
    );
    let rows = table.lines().filter(|l| l.ends_with("pass")).count();
    assert!(rows >= 40, "{rows} comparisons:\n{table}");
    // Adam's first moment fed 1.5 x the gradient: the PyTorch Adam rows and the whole iteration fail
    let shaders = dir.join("shaders");
    std::fs::create_dir_all(&shaders).unwrap();
    let optim = gangpu::kernels::family::builtin_text("optim");
    let bad = optim.replace("P.one_minus_beta1 * (g - m", "P.one_minus_beta1 * (1.5 * g - m");
    assert_ne!(bad, optim, "the mutation no longer applies to optim.wgsl");
    std::fs::write(shaders.join("optim.wgsl"), bad).unwrap();
    let (code, table, err) = check(&dir, Some(&shaders));
    assert_eq!(code, Some(1), "{table}\n{err}");
    assert!(err.contains("GANGPU_SHADERS") && err.contains("kernel checks failed"), "{err}");
    let failed: Vec<&str> = table.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(failed.iter().any(|l| l.starts_with("optim (PyTorch)")) && failed.iter().any(|l| l.starts_with("DCGAN iteration")), "{table}");
    assert!(!failed.iter().any(|l| l.starts_with("conv")), "only Adam was corrupted:\n{table}");
    // a folder that is not one is refused
    let (code, _, err) = check(&dir, Some(&dir.join("missing")));
    assert!(code == Some(1) && err.contains("GANGPU_SHADERS") && err.contains("is not a folder"), "{err}");
}
