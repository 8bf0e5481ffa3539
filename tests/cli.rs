//! The command line as a user meets it: run folders that never mix, --resume that refuses to
//! change the model and records what it changes, sample output formats, range errors for
//! negative numbers, the first log line at step 1, and no Mesa noise on a headless machine.

mod common;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_gangpu");
const TINY: &[&str] = &["--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "8"];

fn train(dir: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["train"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    gangpu_cli(BIN, &args, dir)
}

fn metrics_steps(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["step"].as_u64().expect("step"))
        .collect()
}

#[test]
fn a_run_folder_belongs_to_one_run() {
    let dir = tmpdir("cli-owner");
    let (code, err) = train(&dir, &["--steps", "3", "--out", "run"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.lines().any(|l| l.starts_with("[1] Loss_D")), "the first log line must come at step 1: {err}");
    // headless, without XDG_RUNTIME_DIR: Mesa must not complain
    let out = std::process::Command::new(BIN).args(["devices"]).env_remove("XDG_RUNTIME_DIR").output().expect("run gangpu devices");
    let noise = String::from_utf8_lossy(&out.stderr);
    assert!(!noise.contains("XDG_RUNTIME_DIR"), "Mesa's XDG_RUNTIME_DIR noise leaked: {noise}");
    let ck = std::fs::read(dir.join("run/checkpoint.safetensors")).unwrap();
    // a second run into the same folder is refused, and nothing of the first run changes
    let (code, err) = train(&dir, &["--steps", "2", "--seed", "9", "--out", "run"]);
    assert_ne!(code, 0);
    assert!(err.contains("already holds a run") && err.contains("--resume") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(dir.join("run/checkpoint.safetensors")).unwrap(), ck, "the refused run touched the checkpoint");
    assert_eq!(metrics_steps(&dir.join("run/metrics.jsonl")), vec![1, 3]);
    // --overwrite starts afresh: the old metrics are gone, other files in the folder stay
    std::fs::write(dir.join("run/notes.txt"), "mine").unwrap();
    let (code, err) = train(&dir, &["--steps", "2", "--seed", "9", "--out", "run", "--overwrite"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(metrics_steps(&dir.join("run/metrics.jsonl")), vec![1, 2], "runs mixed in metrics.jsonl");
    assert_eq!(std::fs::read_to_string(dir.join("run/notes.txt")).unwrap(), "mine", "--overwrite deleted a file that is not the run's");
}

#[test]
fn the_time_per_step_and_the_total_are_announced() {
    let dir = tmpdir("cli-eta");
    let (code, err) = train(&dir, &["--steps", "12", "--out", "run"]);
    assert_eq!(code, 0, "{err}");
    let line = err.lines().find(|l| l.starts_with("measured")).unwrap_or_else(|| panic!("no time estimate in: {err}"));
    assert!(line.contains("s per step on") && line.contains("remaining steps"), "{line}");
}

#[test]
fn epochs_set_the_run_length_and_are_logged() {
    let dir = tmpdir("cli-epochs");
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    for k in 0..20u32 {
        image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x + y + k) * 4) as u8])).save(imgs.join(format!("{k}.png"))).unwrap();
    }
    let data = imgs.to_str().unwrap();
    // 2 epochs of 20 images at batch 8: 40 / 8 = 5 D batches = 5 steps
    let (code, err) = train(&dir, &["--data", data, "--epochs", "2", "--hflip", "--log-every", "1", "--out", "run"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--epochs 2: 5 steps over 20 images at batch 8"), "{err}");
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    let last = rows.last().unwrap()["epoch"].as_f64().unwrap();
    assert!((last - 2.0).abs() < 1e-9, "after 5 batches of 8 from 20 images the epoch is 2, logged {last}");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap()).unwrap();
    assert_eq!((cfg["config"]["epochs"].as_f64(), cfg["config"]["hflip"].as_bool()), (Some(2.0), Some(true)));
    let (code, err) = gangpu_cli(BIN, &["train", "--steps", "3", "--epochs", "1"], &dir);
    assert_ne!(code, 0, "--steps and --epochs together must be refused: {err}");
}

#[test]
fn resume_keeps_the_model_and_applies_allowed_changes() {
    let dir = tmpdir("cli-resume");
    let (code, err) = train(&dir, &["--steps", "2", "--out", "run"]);
    assert_eq!(code, 0, "{err}");
    let ck = "run/checkpoint.safetensors";
    for (flag, value, saved) in [("--ngf", "16", "8"), ("--loss", "wgan", "bce"), ("--image-size", "32", "28"), ("--seed", "5", "1")] {
        let (code, err) = gangpu_cli(BIN, &["train", "--resume", ck, "--steps", "4", flag, value], &dir);
        assert_ne!(code, 0, "{flag} {value} must be refused on resume");
        assert!(err.contains(&format!("{flag} {value}")) && err.contains(&format!("{flag} {saved}")), "error must name {flag} and both values: {err}");
    }
    let (code, err) = gangpu_cli(BIN, &["train", "--resume", ck, "--steps", "4", "--lr", "0.0001", "--log-every", "1"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--lr 0.0002 -> 0.0001"), "the change must be printed: {err}");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["config"]["lr"], 0.0001);
    assert_eq!(cfg["config"]["steps"], 4);
    let changed = cfg["resumes"][0]["changed"].as_array().expect("resumes recorded in config.json");
    assert!(changed.iter().any(|c| c.as_str().unwrap().starts_with("--lr")), "{changed:?}");
    assert_eq!(metrics_steps(&dir.join("run/metrics.jsonl")), vec![1, 2, 3, 4], "a resumed run logs as the uninterrupted one would");
    // --out with --resume continues in a copy; the original stays as it was
    let before = std::fs::read(dir.join(ck)).unwrap();
    let (code, err) = gangpu_cli(BIN, &["train", "--resume", ck, "--steps", "5", "--out", "copy"], &dir);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(dir.join(ck)).unwrap(), before, "the original run changed");
    assert_eq!(metrics_steps(&dir.join("copy/metrics.jsonl")), vec![1, 2, 3, 4, 5]);
    let raw = gangpu::checkpoint::RawCheckpoint::read(&dir.join("copy/checkpoint.safetensors")).unwrap();
    assert_eq!(raw.step().unwrap(), 5);
}

#[test]
fn sample_out_names_the_format() {
    let dir = tmpdir("cli-sample");
    let (code, err) = train(&dir, &["--steps", "1", "--out", "run"]);
    assert_eq!(code, 0, "{err}");
    let ck = "run/checkpoint.safetensors";
    for name in ["grid.png", "grid.jpg", "grid.JPEG"] {
        let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--n", "4", "--out", name], &dir);
        assert_eq!(code, 0, "{err}");
        let p = dir.join(name);
        assert!(p.is_file(), "{name} must be a file");
        let fmt = image::ImageReader::open(&p).unwrap().with_guessed_format().unwrap().format();
        let want = if name.ends_with("png") { image::ImageFormat::Png } else { image::ImageFormat::Jpeg };
        assert_eq!(fmt, Some(want), "{name} written in the wrong format");
    }
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--n", "3", "--out", "each"], &dir);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_dir(dir.join("each")).unwrap().count(), 3);
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--out", "grid.txt"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains(".txt") && err.contains(".png"), "{err}");
    // a kernel plan that names no plan is refused, naming the variable and the plans
    let run = |k: &str, v: &str| {
        let out = std::process::Command::new(BIN)
            .args(["sample", "--checkpoint", ck, "--n", "2", "--out", "two.png"])
            .current_dir(&dir)
            .env(k, v)
            .output()
            .expect("run gangpu sample");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run("GANGPU_KERNELS", "tiles");
    assert!(code == Some(1) && err.contains("GANGPU_KERNELS") && err.contains("'tiles'") && err.contains("auto, gpu, cpu, cpu-plain, layout"), "{err}");
    // the variables the plan replaced are refused, not silently ignored
    let (code, err) = run("GANGPU_CONV", "tiled");
    assert!(code == Some(1) && err.contains("GANGPU_CONV") && err.contains("--kernels"), "{err}");
    let (code, err) = run("GANGPU_KERNELS", "gpu");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = gangpu_cli(BIN, &["sample", "--checkpoint", ck, "--n", "2", "--out", "two.png", "--kernels", "gpus"], &dir);
    assert!(code == 2 && err.contains("--kernels") && err.contains("'gpus'"), "{err}");
}

#[test]
fn negative_numbers_get_range_errors_naming_the_flag() {
    let dir = tmpdir("cli-numbers");
    for (args, want) in [
        (vec!["train", "--lr", "-1"], "'--lr <LR>': must be a positive number, got -1"),
        (vec!["train", "--steps", "-3"], "'--steps <STEPS>': must be at least 1, got -3"),
        (vec!["train", "--ngf", "-8"], "'--ngf <NGF>': must be at least 1, got -8"),
        (vec!["train", "--beta1", "-0.5"], "'--beta1 <BETA1>': must be in [0, 1), got -0.5"),
        (vec!["train", "--clip", "-0.01"], "'--clip <CLIP>': must be a positive number"),
        (vec!["train", "--seed", "-1"], "'--seed <SEED>': must be in 0..="),
        (vec!["sample", "--checkpoint", "x", "--n", "-2"], "'--n <N>': must be at least 1, got -2"),
        (vec!["lab", "--steps", "-10"], "'--steps <STEPS>': must be at least 1, got -10"),
        (vec!["lab", "--lr", "-0.1"], "'--lr <LR>': must be a positive number"),
    ] {
        let (code, err) = gangpu_cli(BIN, &args, &dir);
        assert_ne!(code, 0, "{args:?} must fail");
        assert!(err.contains(want), "{args:?}: expected '{want}' in: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
}

#[test]
fn flags_the_lab_cannot_honour_are_not_offered() {
    let dir = tmpdir("cli-lab");
    for flag in ["--cond", "--spectral-norm"] {
        let (code, err) = gangpu_cli(BIN, &["lab", flag], &dir);
        assert_eq!(code, 2, "gangpu lab {flag} must be a usage error");
        assert!(err.contains(flag), "{err}");
    }
}

/// Every flag of `gangpu train` is in one `--resume` group (its help heading), and exactly the
/// saved ones are settings in the run's config, where `--resume` keeps or changes them by their
/// group; every flag of `gangpu lab` sets the `LabConfig` field of its name or is one of the
/// lab's invocation flags. A new flag in neither fails here instead of being ignored on resume.
#[test]
fn every_train_and_lab_flag_is_classified() {
    use clap::Args;
    use gangpu::train::{Resume, TrainConfig};
    let train = gangpu::app::train_cmd::TrainCli::augment_args(clap::Command::new("train"));
    let saved = serde_json::to_value(TrainConfig::defaults()).expect("config as JSON");
    let mut groups = std::collections::BTreeMap::new();
    for arg in train.get_arguments() {
        let id = arg.get_id().as_str();
        let policy = gangpu::app::resume::policy(arg).unwrap_or_else(|e| panic!("{e}"));
        let in_config = saved.get(id).is_some() || saved["model"].get(id).is_some();
        assert_eq!(in_config, policy != Resume::NotSaved, "--{id}: {policy:?}, but {} the run's config", if in_config { "in" } else { "not in" });
        *groups.entry(format!("{policy:?}")).or_insert(0) += 1;
    }
    eprintln!("train flags by --resume policy: {groups:?}");
    assert!(groups.values().sum::<usize>() >= 36 && groups.len() == 3, "{groups:?}");
    // the defaults are the command line's: parsing nothing gives TrainConfig::defaults()
    let parsed = <TrainConfig as clap::FromArgMatches>::from_arg_matches(
        &TrainConfig::augment_args(clap::Command::new("t").no_binary_name(true)).get_matches_from(Vec::<String>::new()),
    )
    .expect("defaults parse");
    assert_eq!(serde_json::to_value(&parsed).expect("json")["steps"], saved["steps"]);

    let lab = gangpu::app::lab_cmd::LabArgs::augment_args(clap::Command::new("lab"));
    let cfg = serde_json::to_value(gangpu::lab::LabConfig::defaults(gangpu::lab::Dist::Mixture, gangpu::gan::GanLoss::Bce)).expect("lab config as JSON");
    let mut n = 0;
    for arg in lab.get_arguments() {
        let id = arg.get_id().as_str();
        let setting = cfg.get(id).is_some();
        let invocation = gangpu::app::lab_cmd::INVOCATION.contains(&id);
        assert!(
            setting != invocation,
            "lab --{id}: {}",
            if setting { "a LabConfig setting listed as an invocation flag" } else { "neither a LabConfig setting nor an invocation flag" }
        );
        n += 1;
    }
    assert!(n >= 20, "{n} lab flags");
}

/// A changeable setting given on --resume is applied by its group's policy, a fixed one refused,
/// without a list of settings: checked on settings of every group.
#[test]
fn resume_merge_follows_each_flags_group() {
    use clap::Args;
    use gangpu::train::TrainConfig;
    let cmd = gangpu::app::train_cmd::TrainCli::augment_args(clap::Command::new("train"));
    let saved = TrainConfig::defaults();
    for (id, change, ok) in [
        ("eval_n", (|c: &mut TrainConfig| c.eval_n = 64) as fn(&mut TrainConfig), true),
        ("gpu_data_mb", |c| c.gpu_data_mb = Some(8), true),
        ("tensorboard", |c| c.tensorboard = false, true),
        ("beta2", |c| c.beta2 = 0.99, true),
        ("hflip", |c| c.hflip = true, false),
        ("spectral_norm", |c| c.spectral_norm = true, false),
        ("batch", |c| c.model.batch = 32, false),
        ("cond", |c| c.model.cond = gangpu::models::Cond::Cgan, false),
    ] {
        let mut asked = saved.clone();
        change(&mut asked);
        let r = gangpu::app::resume::merge(&saved, &asked, &cmd, &|x| x == id);
        match (ok, r) {
            (true, Ok((merged, changes))) => {
                assert_eq!(serde_json::to_value(&merged).unwrap(), serde_json::to_value(&asked).unwrap(), "{id}");
                assert_eq!(changes.len(), 1, "{id}: {changes:?}");
            }
            (false, Err(e)) => assert!(e.to_string().contains("conflicts with the checkpoint"), "{id}: {e}"),
            (ok, r) => panic!("{id}: expected {}, got {:?}", if ok { "a change" } else { "a refusal" }, r.map(|x| x.1)),
        }
    }
}
