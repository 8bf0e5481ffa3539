//! The loaders never panic: IDX files (raw and gzip), image folders, gangpu checkpoints and PyTorch
//! weight files, each mutated thousands of ways from a valid file (bit flips, overwritten bytes,
//! big header values, truncation, insertion, deletion). Every mutated input must load or be
//! refused with an error. CI runs GANGPU_FUZZ_CASES cases per loader (default 300); the long run
//! in README used 20,000.

mod common;
use common::*;
use gangpu::checkpoint::RawCheckpoint;
use gangpu::models::ModelConfig;
use gangpu::torch_import::{Role, TorchWeights};
use gangpu::train::{self, Gan, TrainConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::io::Write;
use std::path::Path;

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// Four bytes of 0xff (or 0x00): a header field made huge (or zero).
    SetWord(usize, bool),
    Truncate(usize),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::SetByte(p, v)),
        (any::<usize>(), any::<bool>()).prop_map(|(p, v)| Mutation::SetWord(p, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::Insert(p, v)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

/// Positions are taken modulo the length; most mutations land in the first 64 bytes, where the
/// headers are, the rest anywhere.
fn mutate(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        let at = |p: usize, len: usize| if p.is_multiple_of(3) { p % len } else { p % len.min(64) };
        match *m {
            Mutation::FlipBit(p, bit) => {
                let i = at(p, b.len());
                b[i] ^= 1 << bit;
            }
            Mutation::SetByte(p, v) => {
                let i = at(p, b.len());
                b[i] = v;
            }
            Mutation::SetWord(p, high) => {
                let i = at(p, b.len());
                for j in i..(i + 4).min(b.len()) {
                    b[j] = if high { 0xff } else { 0 };
                }
            }
            Mutation::Truncate(p) => b.truncate(p % b.len()),
            Mutation::Insert(p, v) => {
                let i = at(p, b.len());
                b.insert(i, v)
            }
            Mutation::Delete(p) => {
                let i = at(p, b.len());
                b.remove(i);
            }
        }
    }
    b
}

fn cases() -> u32 {
    std::env::var("GANGPU_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// Runs `check` on `cases()` mutations of `seed`; a panic inside fails the test with the
/// (shrunk) mutation list.
fn fuzz(name: &str, seed: &[u8], check: impl Fn(&[u8])) {
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(mutation(), 1..6), |muts| {
        check(&mutate(seed, &muts));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name} loader panicked on a mutated input: {e}");
    }
    eprintln!("{name}: {} mutated inputs, no panic", cases());
}

fn idx_images(n: u32, side: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [n, side, side] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * side * side).map(|i| (i * 7 % 256) as u8));
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn idx_parser_never_panics() {
    let dir = tmpdir("fuzz-idx");
    let path = dir.join("data-images-idx3-ubyte");
    let raw = idx_images(3, 28);
    let labels = {
        let mut b = vec![0, 0, 8, 1, 0, 0, 0, 3];
        b.extend([1, 2, 3]);
        b
    };
    for (name, seed) in [("IDX (raw)", raw.clone()), ("IDX (gzip)", gzip(&raw))] {
        fuzz(name, &seed, |bytes| {
            std::fs::write(&path, bytes).unwrap();
            let _ = gangpu::data::load(path.to_str().unwrap(), 28, 1);
            let _ = gangpu::data::parse_idx_images(bytes, "fuzz");
        });
    }
    fuzz("IDX labels", &labels, |bytes| {
        let _ = gangpu::data::parse_idx_labels(bytes, "fuzz");
    });
}

#[test]
fn image_folder_decoding_never_panics() {
    let dir = tmpdir("fuzz-folder");
    let mut png = Vec::new();
    let img = image::RgbImage::from_fn(12, 10, |x, y| image::Rgb([(x * 20) as u8, (y * 25) as u8, 128]));
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    std::fs::write(dir.join("good.png"), &png).unwrap();
    fuzz("image folder (PNG)", &png, |bytes| {
        std::fs::write(dir.join("mutated.png"), bytes).unwrap();
        // one good image is always there: the folder must load, skipping or reading the other
        let ds = gangpu::data::load(dir.to_str().unwrap(), 16, 3).expect("a folder with one good image loads");
        assert!(ds.count >= 1);
    });
}

fn small_model() -> ModelConfig {
    ModelConfig { image_size: 28, channels: 1, nz: 16, ngf: 8, ndf: 8, batch: 4, cond: Default::default(), classes: 0 }
}

#[test]
fn checkpoint_loader_never_panics() {
    let e = engine();
    let dir = tmpdir("fuzz-ck");
    let cfg = TrainConfig::new(small_model(), "mnist", 1, dir.clone());
    let gan = Gan::new(e, cfg, None).unwrap();
    let good = dir.join("good.safetensors");
    gan.save_checkpoint(e, &good).unwrap();
    let seed = std::fs::read(&good).unwrap();
    let path = dir.join("mutated.safetensors");
    let (g_names, d_names) = (vec!["exp_avg".to_string(), "exp_avg_sq".to_string()], vec!["exp_avg".to_string(), "exp_avg_sq".to_string()]);
    fuzz("checkpoint", &seed, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        if let Ok(raw) = RawCheckpoint::read(&path) {
            let _ = train::checkpoint_config(&raw);
            let _ = raw.step();
            let _ = raw.net_state("netG", &gan.g, &g_names);
            let _ = raw.net_state("netD", &gan.d, &d_names);
        }
    });
}

#[test]
fn pytorch_weight_loader_never_panics() {
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/torch_netD.safetensors")).unwrap();
    let dir = tmpdir("fuzz-torch");
    let path = dir.join("mutated.safetensors");
    fuzz("PyTorch weights", &seed, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        for role in [Role::Generator, Role::Discriminator] {
            if let Ok(w) = TorchWeights::read(&path, role) {
                let mut m = small_model();
                let _ = w.infer();
                let _ = gangpu::torch_import::adopt_shapes(&mut m, &w, &|_| false);
            }
        }
    });
}
