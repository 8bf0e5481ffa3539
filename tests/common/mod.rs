//! Shared test helpers: the adapter (failing loudly when there is none), deterministic data,
//! and the tolerance check that reports the first failing index.
#![allow(dead_code)]

use gangpu::plan::{ConvKernels, GemmKernels, PlanChoice};
use gangpu::{Engine, Tensor};
use std::sync::OnceLock;

/// The engine for GPU tests. With no adapter the test fails, saying how to get one.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match Engine::open_default() {
        Ok(e) => {
            eprintln!("adapter: {}", e.gpu.adapter);
            e
        }
        Err(err) => panic!(
            "this test needs a wgpu adapter and none could be opened: {err:#}\n\
             To get a software one: `apt-get install mesa-vulkan-drivers` and run with WGPU_BACKEND=vulkan, \
             or use Mesa's GL (llvmpipe over EGL) with WGPU_BACKEND=gl."
        ),
    })
}

/// An engine running kernel plan `choice` on the default adapter (one per plan, shared by the
/// tests of a binary).
pub fn engine_plan(choice: PlanChoice) -> &'static Engine {
    static ENGINES: OnceLock<std::sync::Mutex<Vec<(PlanChoice, &'static Engine)>>> = OnceLock::new();
    let mut list = ENGINES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, e)) = list.iter().find(|(c, _)| *c == choice) {
        return e;
    }
    let e: &'static Engine = Box::leak(Box::new(
        Engine::open_with(choice).unwrap_or_else(|err| panic!("opening plan {} on the default adapter: {err:#}; see engine()", choice.name())),
    ));
    list.push((choice, e));
    e
}

/// A second engine using the other kernel variants than the default plan's (convolutions:
/// implicit GEMM vs layout kernels + GEMM; GEMM: shared-memory tiles vs register blocks;
/// subgroup-shared loads vs per-lane loads where subgroups are usable), so both are verified on
/// whatever adapter and plan run the tests.
pub fn engine_other_gemm() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // the cpu plan has subgroups exactly where they are usable (probed)
        let mut e = Engine::open_with(PlanChoice::Cpu).unwrap_or_else(|err| panic!("no adapter: {err:#}; see engine()"));
        let d = engine().plan.clone();
        let usable = e.plan.subgroups;
        e.plan.gemm = if d.gemm == GemmKernels::Tiled { GemmKernels::Register } else { GemmKernels::Tiled };
        e.plan.subgroups = usable && !d.subgroups;
        e.plan.conv = if d.conv == ConvKernels::Layout { ConvKernels::Implicit } else { ConvKernels::Layout };
        e.plan.name = "other";
        e
    })
}

/// An engine whose convolutions run the shared-memory tiled kernels (conv_tiled.wgsl, the GPU
/// plan), so they are verified on a CPU adapter too; tiles sized per pass.
pub fn engine_tiled_conv() -> &'static Engine {
    engine_plan(PlanChoice::Gpu)
}

/// The same with every pass in 64 x 64 tiles (small passes would take 32 x 32 ones).
pub fn engine_tiled_conv_64() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut e = Engine::open_with(PlanChoice::Gpu).unwrap_or_else(|err| panic!("no adapter: {err:#}; see engine()"));
        e.conv_tile = Some(64);
        e
    })
}

/// Deterministic uniform values in [lo, hi) (the library's generator, shared with `gangpu check`).
pub fn rand_vec(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    gangpu::reference::uniform(n, seed, lo, hi)
}

/// A code path this adapter cannot run, said on stderr. Where CI expects the adapter to run it
/// (`GANGPU_TEST_EXPECT=subgroups,...`, set per adapter in .ci/run) the test fails instead: a
/// test never passes silently without the path it claims to cover.
pub fn skipped(path: &str, why: &str) {
    let expected = std::env::var("GANGPU_TEST_EXPECT").unwrap_or_default();
    if expected.split(',').any(|p| p.trim() == path) {
        panic!("GANGPU_TEST_EXPECT names {path}, but this adapter did not run it: {why}");
    }
    eprintln!("SKIPPED {path}: {why}");
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

/// Rounds through f32, so references see exactly the GPU's inputs.
pub fn f32_round(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| *x as f32 as f64).collect()
}

pub fn upload(e: &Engine, shape: &[usize], v: &[f64], label: &str) -> Tensor {
    Tensor::from_slice(&e.gpu, shape, &to_f32(v), label).expect("upload")
}

pub fn zeros(e: &Engine, shape: &[usize], label: &str) -> Tensor {
    Tensor::zeros(&e.gpu, shape, label).expect("alloc")
}

pub fn download(e: &Engine, t: &Tensor) -> Vec<f64> {
    to_f64(&t.read(&e.gpu).expect("read back"))
}

/// Checks |got - want| <= atol + rtol * |want| everywhere; panics naming the first failing index.
pub fn assert_close(got: &[f64], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs reference {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs();
        assert!(
            ok && g.is_finite(),
            "{what}: first mismatch at index {i}: got {g}, reference {w} (|diff| {} > atol {atol} + rtol {rtol} * |ref|); {} values",
            (g - w).abs(),
            got.len()
        );
    }
}

/// Central finite difference of a scalar function f at x along coordinate i (f64).
pub fn fd(f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize, h: f64) -> f64 {
    let mut a = x.to_vec();
    let mut b = x.to_vec();
    a[i] += h;
    b[i] -= h;
    (f(&a) - f(&b)) / (2.0 * h)
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A fresh, empty folder for one test (named by process and test, so parallel tests never share).
pub fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gangpu-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a test folder");
    d
}

/// Runs the gangpu binary (from an integration test) with `args`: (exit code, stderr).
pub fn gangpu_cli(bin: &str, args: &[&str], cwd: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(bin).args(args).current_dir(cwd).output().expect("run gangpu");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}
