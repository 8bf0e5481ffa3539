//! The whole training state handed to PyTorch DDP and back (scripts/torch_trainer.py, docs/torch.md):
//! gangpu trains 50 steps, `torchrun --standalone --nproc_per_node 2` (DDP, gloo on the CPU)
//! continues to step 100, gangpu resumes to step 150. Each hand-over keeps the optimizer's
//! moments: the first iteration after an import, on inputs both sides are given, equals the
//! iteration the exporting side makes from the same checkpoint. Needs Python with torch,
//! safetensors and numpy (`pip install torch safetensors numpy`; scripts/test.sh installs them).

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::train::{self, Gan};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");

fn script() -> String {
    format!("{}/scripts/torch_trainer.py", env!("CARGO_MANIFEST_DIR"))
}

fn python(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("python3").args(args).current_dir(cwd).output().expect("run python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python3 {args:?} failed:\n{text}");
    text
}

/// One iteration of gangpu from `ck` on `real` and `z` (D step then G step), and PyTorch's from
/// the same checkpoint and inputs: every weight, running statistic and both losses agree.
fn first_update_agrees(e: &gangpu::Engine, ck: &Path, dir: &Path, what: &str) {
    let raw = RawCheckpoint::read(ck).expect("checkpoint");
    let cfg = train::checkpoint_config(&raw).expect("config");
    let mc = cfg.model.clone();
    let real: Vec<f32> = rand_vec(mc.batch * mc.channels * mc.image_size * mc.image_size, 7, -1.0, 1.0).iter().map(|v| *v as f32).collect();
    // noise: sums of uniforms, about N(0, 1)
    let u = rand_vec(mc.batch * mc.nz * 4, 8, -0.866, 0.866);
    let z: Vec<f32> = u.chunks(4).map(|c| c.iter().sum::<f64>() as f32).collect();
    let inputs = dir.join(format!("inputs-{what}.safetensors"));
    let views = [
        (
            "real".to_string(),
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![mc.batch, mc.channels, mc.image_size, mc.image_size],
                bytemuck::cast_slice(&real),
            )
            .unwrap(),
        ),
        ("z".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![mc.batch, mc.nz, 1, 1], bytemuck::cast_slice(&z)).unwrap()),
    ];
    std::fs::write(&inputs, safetensors::serialize(views, &None).unwrap()).unwrap();
    let theirs = dir.join(format!("torch-after-{what}.safetensors"));
    let said = python(&[&script(), "--from", ck.to_str().unwrap(), "--check-update", inputs.to_str().unwrap(), theirs.to_str().unwrap()], dir);
    eprintln!("{what}: {}", said.trim());

    let mut gan = Gan::new(e, cfg, None).expect("gan");
    gan.load_checkpoint(e, &raw).expect("load");
    gan.draw_inputs = false;
    gan.real.write(&e.gpu, &real).unwrap();
    gan.z.write(&e.gpu, &z).unwrap();
    gan.submit_iteration(e, None);
    e.gpu.wait().unwrap();
    let m = gan.read_metrics(e).unwrap();
    let bytes = std::fs::read(&theirs).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap_or_default();
    let num = |k: &str| meta.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| panic!("{k} missing from {meta:?}"));
    assert_close(&[m.loss_d as f64, m.loss_g as f64], &[num("loss_d"), num("loss_g")], 1e-5, 1e-4, &format!("{what}: Loss_D, Loss_G of the first iteration"));
    let mut compared = 0;
    for (net, prefix) in [(&gan.g, "netG"), (&gan.d, "netD")] {
        for (name, ..) in net.export_names() {
            let t = st.tensor(&format!("{prefix}.{name}")).unwrap_or_else(|_| panic!("{prefix}.{name} missing from PyTorch's weights"));
            let want: Vec<f64> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
            let got: Vec<f64> = net.read_named(e, &name).unwrap().iter().map(|v| *v as f64).collect();
            // each Adam step moves a weight by about lr = 2e-4: compare well inside one step
            assert_close(&got, &want, 2e-6, 1e-4, &format!("{what}: {prefix}.{name} after the first iteration"));
            compared += 1;
        }
    }
    assert!(compared >= 12, "{compared} tensors compared");
}

fn rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("kind").is_none())
        .collect()
}

/// Losses on both sides of step `at`: the mean over the logged steps in (at - 25, at] and in
/// (at, at + 25]. Continuous when the means differ by less than 3 standard deviations of the
/// logged values before the hand-over, or 0.25 (the noise of one small batch).
fn continuous(rows: &[serde_json::Value], at: u64, key: &str) {
    let vals =
        |lo: u64, hi: u64| -> Vec<f64> { rows.iter().filter(|r| (lo..=hi).contains(&r["step"].as_u64().unwrap())).map(|r| r[key].as_f64().unwrap()).collect() };
    let (before, after) = (vals(at - 24, at), vals(at + 1, at + 25));
    assert!(before.len() >= 4 && after.len() >= 4, "{key} around step {at}: {before:?} / {after:?}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = (before.iter().map(|x| (x - mean(&before)).powi(2)).sum::<f64>() / before.len() as f64).sqrt();
    let jump = (mean(&after) - mean(&before)).abs();
    eprintln!("{key} at the hand-over after step {at}: mean {:.4} before, {:.4} after (jump {jump:.4}, sd before {sd:.4})", mean(&before), mean(&after));
    assert!(jump < (3.0 * sd).max(0.25), "{key} jumps by {jump:.4} at the hand-over after step {at}: {before:?} then {after:?}");
}

#[test]
fn a_run_goes_to_pytorch_ddp_and_back_with_its_optimizer_state() {
    let have = Command::new("python3").args(["-c", "import torch, safetensors, numpy"]).output();
    assert!(have.is_ok_and(|o| o.status.success()), "this test hands a run to PyTorch: `pip install torch safetensors numpy` (scripts/test.sh installs them)");
    let e = engine();
    let dir = tmpdir("torch-handover");
    // 1. gangpu: 50 steps
    let small = ["--ngf", "8", "--ndf", "8", "--batch", "16", "--log-every", "5", "--sample-every", "50", "--no-tensorboard"];
    let mut args = vec!["train", "--steps", "50", "--out", "run"];
    args.extend_from_slice(&small);
    let (code, err) = gangpu_cli(BIN, &args, &dir);
    assert_eq!(code, 0, "{err}");
    let ck50 = dir.join("run/checkpoint.safetensors");
    // 2. exported: PyTorch's first iteration from gangpu's state is gangpu's
    first_update_agrees(e, &ck50, &dir, "gangpu -> PyTorch at step 50");
    // 3. PyTorch DDP, two processes: to step 100
    let said = python(
        &[
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            &script(),
            "--from",
            "run/checkpoint.safetensors",
            "--steps",
            "100",
            "--out",
            "ddp",
        ],
        &dir,
    );
    assert!(said.contains("step 100: wrote") && said.contains("2 processes, gloo"), "{said}");
    let ck100 = dir.join("ddp/checkpoint.safetensors");
    let raw = RawCheckpoint::read(&ck100).expect("PyTorch's checkpoint reads");
    assert_eq!(raw.step().unwrap(), 100);
    assert_eq!(raw.meta["netG.opt_steps"], "100", "G's Adam step count carried on");
    assert_eq!(raw.meta["netD.opt_steps"], "100");
    // 4. imported back: gangpu's first iteration from PyTorch's state is PyTorch's
    first_update_agrees(e, &ck100, &dir, "PyTorch -> gangpu at step 100");
    // 5. gangpu continues PyTorch's run to step 150
    let (code, err) = gangpu_cli(BIN, &["train", "--resume", "ddp/checkpoint.safetensors", "--steps", "150"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resumed from") && err.contains("at step 100"), "{err}");
    // one metrics.jsonl for the whole run: gangpu 1-50, PyTorch 51-100, gangpu 101-150
    let all = rows(&dir.join("ddp/metrics.jsonl"));
    let steps: Vec<u64> = all.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!((steps[0], *steps.last().unwrap()), (1, 150), "{steps:?}");
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "steps in order: {steps:?}");
    for at in [50, 100] {
        continuous(&all, at, "loss_d");
        continuous(&all, at, "loss_g");
    }
}
