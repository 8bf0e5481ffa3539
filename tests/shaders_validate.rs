//! Every shader family parses and validates with naga: no adapter needed.

use gangpu::kernels::family::{FAMILIES, FILES};
use gangpu::kernels::Family;
use gangpu::kernels::*;
use std::mem::{offset_of, size_of};

#[test]
fn every_shader_parses_and_validates() {
    for family in Family::all() {
        let src = family.source();
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("shader family '{family}' does not parse:\n{}", e.emit_to_string(&src)));
        // only the subgroup families may use subgroup operations (the others run on adapters without them)
        let caps = if family.uses_subgroups() {
            naga::valid::Capabilities::all()
        } else {
            naga::valid::Capabilities::all() - naga::valid::Capabilities::SUBGROUP - naga::valid::Capabilities::SUBGROUP_BARRIER
        };
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        validator.validate(&module).unwrap_or_else(|e| panic!("shader family '{family}' does not validate:\n{}", e.emit_to_string(&src)));
        assert!(!module.entry_points.is_empty(), "shader family '{family}' has no entry point");
    }
}

#[test]
fn every_shader_file_belongs_to_a_family() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).expect("shaders dir") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        if stem == "common" {
            continue;
        }
        assert!(FILES.iter().any(|(n, _)| *n == stem), "shaders/{stem}.wgsl is not in family::FILES");
        assert!(Family::all().any(|f| f.files().contains(&stem.as_str())), "shaders/{stem}.wgsl is in no family");
    }
    // and every family names its own file: Family::name() is its shaders/ stem or a variant of one
    for f in Family::all() {
        assert!(!f.files().is_empty() && f.files().iter().all(|s| FILES.iter().any(|(n, _)| n == s)), "{f}: unknown files {:?}", f.files());
    }
}

#[test]
fn codes_are_defined_once_and_reach_every_shader() {
    // every code the shaders switch on comes from the Rust enum that defines it, distinct per enum
    let codes = gangpu::kernels::wgsl_codes();
    for (kind, name) in gangpu::kernels::LossKind::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", kind.code())), "{name} missing");
    }
    for (dist, name) in gangpu::lab::Dist::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", dist.code())), "{name} missing");
    }
    for (act, name) in gangpu::kernels::Act::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", act.code())), "{name} missing");
    }
    let distinct = |v: Vec<u32>| {
        let mut w = v.clone();
        w.sort();
        w.dedup();
        w.len() == v.len()
    };
    assert!(distinct(gangpu::kernels::LossKind::ALL.iter().map(|(k, _)| k.code()).collect()));
    assert!(distinct(gangpu::lab::Dist::ALL.iter().map(|(d, _)| d.code()).collect()));
    assert!(distinct(gangpu::kernels::Act::ALL.iter().map(|(a, _)| a.code()).collect()));
    assert!(distinct(gangpu::kernels::PenaltyKind::ALL.iter().map(|(k, _)| k.code()).collect()));
    // and the WGSL uses the names, not numbers
    assert!(gangpu::kernels::family::COMMON_WGSL.contains("case ACT_RELU"), "common.wgsl does not switch on the ACT_* codes");
    for (file, prefix) in [("loss", "LOSS_"), ("lab", "DIST_"), ("penalty", "PENALTY_")] {
        let (_, text) = gangpu::kernels::family::FILES.iter().find(|(n, _)| *n == file).unwrap();
        assert!(text.contains(prefix), "shaders/{file}.wgsl does not switch on the {prefix}* codes");
    }
}

/// Every `Family` key, listed by an exhaustive match: a new key fails to compile here until it
/// is listed, and then fails `every_family_has_one_row` until it has its row.
fn every_key() -> Vec<Family> {
    use Family::*;
    let keys = vec![
        Activation,
        Augment,
        Batchnorm,
        Cond,
        Conv,
        ConvSubgroups,
        ConvTiled,
        Eval,
        Gemm,
        GemmSubgroups,
        Lab,
        Layout,
        Loss,
        Matmul,
        Optim,
        Penalty,
        Random,
        Specnorm,
    ];
    for k in &keys {
        match k {
            Activation | Augment | Batchnorm | Cond | Conv | ConvSubgroups | ConvTiled | Eval | Gemm | GemmSubgroups | Lab | Layout | Loss | Matmul | Optim
            | Penalty | Random | Specnorm => {}
        }
    }
    keys
}

#[test]
fn every_family_has_one_row() {
    for k in every_key() {
        assert_eq!(FAMILIES.iter().filter(|r| r.family == k).count(), 1, "{k:?}: one row in FAMILIES");
        assert_eq!(k.row().family, k);
    }
    assert_eq!(FAMILIES.len(), every_key().len());
    let mut names: Vec<&str> = FAMILIES.iter().map(|r| r.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), FAMILIES.len(), "family names are distinct (they key the pipeline cache)");
}

/// A Rust params struct: (name, size, [(field, offset)]).
type RustLayout = (&'static str, usize, Vec<(&'static str, usize)>);

macro_rules! layout {
    ($t:ident, [$($f:ident),* $(,)?]) => {
        (stringify!($t), size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
    };
}

/// Every `#[repr(C)]` params struct a launcher writes into a uniform buffer.
fn rust_params() -> Vec<RustLayout> {
    vec![
        layout!(ActParams, [len, op, slope, _p]),
        layout!(BnParams, [n, c, hw, train, eps, momentum, act, slope, accumulate, param_grad, parts, _p]),
        layout!(CondParams, [batch, classes, width, plane, seed, stream, counter, _p]),
        layout!(EvalParams, [n, classes, _p]),
        layout!(LabParams, [len, dim, dist, seed, stream, counter, _p]),
        layout!(LossParams, [n, kind, scale, slot, stride, offset, classes, _p]),
        layout!(MatmulParams, [m, n, k, has_bias, sa_m, sa_k, sb_k, sb_n, accumulate, _p]),
        layout!(PenaltyParams, [n, dim, kind, weight, slot, seed, stream, counter]),
        layout!(AugmentParams, [n, c, h, w, policy, seed, stream, counter, shift_h, shift_w, cut_h, cut_w, given, stride, adjust, step, rt_target, slot, _pad]),
        layout!(OptParams, [len, one_minus_beta1, one_minus_beta2, _p0, lr, beta1, beta2, eps, step_size, sqrt_bc2, clip, _p3]),
        layout!(RngParams, [len, seed, stream, counter, count, words, values, noise_len, noise_stream, side, hflip, streamed]),
        layout!(SnParams, [rows, cols, eps, _p]),
    ]
}

/// Each family's uniform params struct, as naga lays it out, has the Rust struct's fields at the
/// same offsets (by name) and fits in it; every uniform struct of every family has a Rust twin.
#[test]
fn params_structs_match_their_wgsl_layout() {
    let rust = rust_params();
    let mut seen = Vec::new();
    for family in Family::all() {
        let src = family.source();
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{family}: {}", e.emit_to_string(&src)));
        for (_, var) in module.global_variables.iter() {
            if var.space != naga::AddressSpace::Uniform {
                continue;
            }
            let ty = &module.types[var.ty];
            let name = ty.name.clone().unwrap_or_default();
            let naga::TypeInner::Struct { members, span } = &ty.inner else { panic!("{family}: uniform {name} is not a struct") };
            let (_, size, fields) =
                rust.iter().find(|(n, ..)| *n == name).unwrap_or_else(|| panic!("{family}: uniform struct {name} has no Rust twin in rust_params()"));
            assert!(*span as usize <= *size, "{family}: WGSL {name} is {span} bytes, the Rust struct {size}");
            // padding members (`_p...`) may be named differently on each side
            for m in members.iter().filter(|m| !m.name.as_deref().unwrap_or("_").starts_with('_')) {
                let mname = m.name.clone().unwrap_or_default();
                let rust_off = fields.iter().find(|(f, _)| *f == mname).map(|(_, o)| *o);
                assert_eq!(rust_off, Some(m.offset as usize), "{family}: {name}.{mname} at WGSL offset {}, Rust {rust_off:?}", m.offset);
            }
            for (f, o) in fields.iter().filter(|(f, _)| !f.starts_with('_')) {
                assert!(
                    members.iter().any(|m| m.name.as_deref() == Some(*f) && m.offset as usize == *o),
                    "{family}: Rust {name}.{f} (offset {o}) is not in the WGSL struct"
                );
            }
            seen.push(name);
        }
    }
    for (name, ..) in &rust {
        assert!(seen.iter().any(|s| s == name), "{name} is bound by no family");
    }
}
