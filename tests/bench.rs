//! `gangpu bench` as a user runs it: one JSON line per model and batch with the documented fields,
//! and a dispatch listing in which every grid short of 2 workgroups per multiprocessor of an H100
//! says why (under the GPU's plan, whose weight gradients split K where C has few tiles).

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");

#[test]
fn bench_reports_json_and_lists_every_dispatch_under_the_gpu_plan() {
    let out = std::process::Command::new(BIN)
        .args(["bench", "--model", "dcgan28", "--batch", "64", "--iters", "1", "--json", "--dispatches", "--kernels", "gpu"])
        .output()
        .expect("run gangpu bench");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    let r = &rows[0];
    assert_eq!((r["model"].as_str(), r["batch"].as_u64(), r["kernels"].as_str()), (Some("dcgan28"), Some(64), Some("gpu")), "{r}");
    assert!(r["ms_per_iter"].as_f64().is_some_and(|v| v > 0.0) && r["dispatches"].as_u64().is_some_and(|d| d > 10), "{r}");
    assert!(r["adapter"].as_str().is_some_and(|a| !a.is_empty()) && r["profile"].as_array().is_some_and(|p| !p.is_empty()), "{r}");
    // the listing: one line per dispatch; a short grid gives its reason
    let listed: Vec<&str> = stderr.lines().filter(|l| l.contains(" x ") && l.contains(" = ")).collect();
    assert_eq!(listed.len() as u64, r["dispatches"].as_u64().unwrap(), "{stderr}");
    for l in &listed {
        let n: u64 = l.split(" = ").nth(1).and_then(|t| t.split_whitespace().next()).and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{l}"));
        assert!(n >= 264 || l.contains(&format!("<- {n} < 264: ")), "a short grid without a reason: {l}");
    }
    // every tiled weight gradient reaches 264 workgroups (split along K where needed)
    let wgrads: Vec<&&str> = listed.iter().filter(|l| l.contains("WeightGrad")).collect();
    assert!(wgrads.iter().any(|l| l.contains("chunks of")), "no weight gradient was split:\n{stderr}");
}
