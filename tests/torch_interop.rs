//! PyTorch weights in: files made by scripts/make_torch_interop.py (a small DCGAN trained for 5
//! steps in PyTorch, saved as safetensors state_dicts with the pytorch/examples names) load into
//! gangpu, G's forward pass matches PyTorch's, and files that do not fit are refused naming the
//! first tensor that does not.

mod common;
use common::*;
use gangpu::models::ModelConfig;
use gangpu::torch_import::{Role, TorchWeights};
use gangpu::train::{Gan, TrainConfig};
use std::path::{Path, PathBuf};

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name)
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(vectors("torch_interop.json")).expect("tests/vectors/torch_interop.json (scripts/make_torch_interop.py)");
    serde_json::from_str(&text).expect("valid JSON")
}

fn model_for(g: &TorchWeights, d: Option<&TorchWeights>, batch: usize) -> ModelConfig {
    let mut m = ModelConfig { image_size: 0, channels: 0, nz: 0, ngf: 0, ndf: 1, batch, cond: Default::default(), classes: 0 };
    gangpu::torch_import::adopt_shapes(&mut m, g, &|_| false).expect("G shapes");
    if let Some(d) = d {
        gangpu::torch_import::adopt_shapes(&mut m, d, &|_| false).expect("D shapes");
    }
    m
}

#[test]
fn pytorch_generator_forward_matches_pytorch() {
    let e = engine();
    let r = reference();
    let g = TorchWeights::read(&vectors("torch_netG.safetensors"), Role::Generator).unwrap();
    let d = TorchWeights::read(&vectors("torch_netD.safetensors"), Role::Discriminator).unwrap();
    let inf = g.infer().unwrap();
    assert_eq!((inf.image_size, inf.channels, inf.nz, inf.width), (28, 1, r["nz"].as_u64().unwrap() as usize, r["ngf"].as_u64().unwrap() as usize));
    assert_eq!(d.infer().unwrap().width, r["ndf"].as_u64().unwrap() as usize);
    let batch = r["batch"].as_u64().unwrap() as usize;
    let cfg = TrainConfig::new(model_for(&g, Some(&d), batch), "none", 1, std::env::temp_dir());
    let gan = Gan::new(e, cfg, None).unwrap();
    g.load_into(e, &gan.g).unwrap();
    d.load_into(e, &gan.d).unwrap();
    let got = to_f64(&gangpu::train::Generator::of(e, &gan).unwrap().sample_seeded(e, r["seed"].as_u64().unwrap() as u32, 0).unwrap());
    let want: Vec<f64> = r["g_out"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_close(&got, &want, 1e-4, 1e-4, "gangpu G on PyTorch weights vs PyTorch G");
    // the running statistics came in too
    let rv = gan.g.read_named(e, "main.1.running_var").unwrap();
    assert!(rv.iter().any(|v| (v - 1.0).abs() > 1e-4), "running_var still at its initial 1.0: not loaded");
}

#[test]
fn files_that_do_not_fit_are_refused_naming_a_tensor() {
    let e = engine();
    let g = TorchWeights::read(&vectors("torch_netG.safetensors"), Role::Generator).unwrap();
    // a D file given as G: the shapes describe no generator of that width
    let d_as_g = TorchWeights::read(&vectors("torch_netD.safetensors"), Role::Generator).unwrap();
    let err = d_as_g.infer().err().map(|e| e.to_string()).or_else(|| {
        let cfg = TrainConfig::new(model_for(&d_as_g, None, 8), "none", 1, std::env::temp_dir());
        let gan = Gan::new(e, cfg, None).ok()?;
        d_as_g.load_into(e, &gan.g).err().map(|e| e.to_string())
    });
    let err = err.expect("a discriminator must not load as a generator");
    assert!(err.contains("main."), "the message names no tensor: {err}");
    // a G file given as D
    let err = TorchWeights::read(&vectors("torch_netG.safetensors"), Role::Discriminator).unwrap().infer().unwrap_err().to_string();
    assert!(err.contains("main.6.weight") && err.contains("generator"), "{err}");
    // another width: G of ngf 16 cannot take these weights
    let mut m = model_for(&g, None, 8);
    m.ngf = 16;
    let gan = Gan::new(e, TrainConfig::new(m, "none", 1, std::env::temp_dir()), None).unwrap();
    let err = g.load_into(e, &gan.g).unwrap_err().to_string();
    assert!(err.contains("main.0.weight") && err.contains("[16, 32, 7, 7]"), "{err}");
    // an explicit flag that disagrees with the file is named
    let mut m = model_for(&g, None, 8);
    m.ngf = 16;
    let err = gangpu::torch_import::adopt_shapes(&mut m, &g, &|id| id == "ngf").unwrap_err().to_string();
    assert!(err.contains("--ngf 16") && err.contains("--ngf 8"), "{err}");
    // not safetensors at all
    let junk = tmpdir("torch-junk").join("junk.safetensors");
    std::fs::write(&junk, b"not a tensor file").unwrap();
    let err = TorchWeights::read(&junk, Role::Generator).err().expect("junk must be refused").to_string();
    assert!(err.contains("not a valid safetensors"), "{err}");
}

#[test]
fn cli_trains_and_samples_from_pytorch_weights() {
    let bin = env!("CARGO_BIN_EXE_gangpu");
    let dir = tmpdir("torch-cli");
    let (g, d) = (vectors("torch_netG.safetensors"), vectors("torch_netD.safetensors"));
    let (code, err) = gangpu_cli(bin, &["sample", "--netG", g.to_str().unwrap(), "--n", "8", "--batch", "8", "--out", "grid.png"], &dir);
    assert_eq!(code, 0, "{err}");
    let img = image::open(dir.join("grid.png")).expect("a PNG grid");
    assert!(img.width() >= 28 * 2, "grid too small: {}x{}", img.width(), img.height());
    let (code, err) =
        gangpu_cli(bin, &["train", "--netG", g.to_str().unwrap(), "--netD", d.to_str().unwrap(), "--steps", "2", "--batch", "8", "--out", "run"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("G starts from PyTorch weights") && err.contains("D starts from PyTorch weights"), "{err}");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["config"]["model"]["ngf"], 8);
    assert_eq!(cfg["config"]["model"]["nz"], 16);
    let (code, err) = gangpu_cli(bin, &["train", "--netG", g.to_str().unwrap(), "--ngf", "32", "--steps", "2", "--out", "run2"], &dir);
    assert_ne!(code, 0);
    assert!(err.contains("--ngf 32") && err.contains("--ngf 8"), "{err}");
}
